"""UDPTL (T.38 §9.1): the wire form of packets, the sender's redundancy, the receiver's ordering and recovery, garbage
dropped; IFP reading (T.38 §7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.protocols.media.t38_ifp import IfpError, is_final, parse_ifp
from emulator.protocols.media.udptl import UdptlError, UdptlPacket, UdptlReceiver, UdptlSender, decode, encode

# A V.21 HDLC frame end with FCS OK (t30-data, V.21, one field hdlc-fcs-OK-sig-end without data), and the CNG
# indicator, as libspandsp's T.38 core writes them.
FCS_OK_SIG_END = bytes((0xC0, 0x01, 0x40))
CNG = bytes((0x02,))


def test_the_wire_form_of_a_packet_with_two_secondaries() -> None:
    data = encode(UdptlPacket(0x0102, b"\xaa\xbb", (b"\x01", b"\x02\x03")))
    assert data == bytes((0x01, 0x02, 0x02, 0xAA, 0xBB, 0x00, 0x02, 0x01, 0x01, 0x02, 0x02, 0x03))
    assert decode(data) == UdptlPacket(0x0102, b"\xaa\xbb", (b"\x01", b"\x02\x03"))


def test_a_long_ifp_takes_a_two_octet_length() -> None:
    ifp = bytes(range(256)) * 2
    data = encode(UdptlPacket(7, ifp))
    assert data[2:4] == bytes((0x82, 0x00))
    assert decode(data).primary == ifp


def test_an_fec_packet_gives_its_primary() -> None:
    data = bytes((0x00, 0x05, 0x01, 0x02, 0x80, 0x01, 0x03, 0x01, 0x02, 0xAA, 0xBB))
    packet = decode(data)
    assert packet.fec and packet.primary == CNG and packet.secondary == ()


@pytest.mark.parametrize("garbage", [
    b"", b"\x00", b"\x00\x01", b"\x00\x01\x05\x01", b"\x00\x01\x01\x02",  # cut short
    b"\x00\x01\x00\x00\x00",  # an empty primary
    bytes((0x00, 0x01, 0x01, 0x02, 0x00, 0x01, 0x05, 0x01)),  # a secondary longer than what is left
    bytes((0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0xFF)),  # octets after the packet
    bytes((0x00, 0x01, 0xC1, 0x02)),  # a fragmented length
    bytes((0x00, 0x01, 0x01, 0x02, 0x00, 0x40)) + b"\x01\x00" * 64,  # 64 secondaries
])
def test_garbage_raises_a_udptl_error(garbage: bytes) -> None:
    with pytest.raises(UdptlError):
        decode(garbage)


@given(st.binary(max_size=64))
def test_any_datagram_parses_or_raises_udptl_error(data: bytes) -> None:
    try:
        packet = decode(data)
    except UdptlError:
        return
    assert packet.primary
    if not packet.fec:
        assert decode(encode(packet)) == packet


def test_the_sender_carries_the_last_ifps_newest_first() -> None:
    s = UdptlSender(redundancy=2)
    first = [decode(d) for ifp in (b"a", b"b", b"c", b"d") for d in s.send(ifp)]
    assert [p.seq for p in first] == [0, 1, 2, 3]
    assert [p.secondary for p in first] == [(), (b"a",), (b"b", b"a"), (b"c", b"b")]


def test_final_frames_are_repeated_per_final_frames_redundancy() -> None:
    s = UdptlSender(redundancy=1, final_redundancy=2)
    assert len(s.send(CNG)) == 1
    assert len(s.send(CNG, repeat=3)) == 3  # the terminal's own repeats of an indicator
    copies = s.send(FCS_OK_SIG_END, final=True)
    assert len(copies) == 3 and len({decode(c).seq for c in copies}) == 1


def test_the_receiver_recovers_a_gap_from_the_next_packet_and_drops_duplicates() -> None:
    s = UdptlSender(redundancy=2)
    wire = [s.send(bytes((i,)))[0] for i in range(6)]
    r = UdptlReceiver()
    got: list[tuple[int, bytes]] = []
    for i in (0, 1, 4, 4, 5, 2):  # 2 and 3 lost (2 comes late), 4 duplicated
        got += r.receive(wire[i])
    assert got == [(n, bytes((n,))) for n in range(6)]
    assert (r.recovered, r.lost, r.duplicates) == (2, 0, 2)


def test_a_gap_wider_than_the_redundancy_is_lost_and_the_fax_goes_on() -> None:
    s = UdptlSender(redundancy=1)
    wire = [s.send(bytes((i,)))[0] for i in range(5)]
    r = UdptlReceiver()
    got = r.receive(wire[0]) + r.receive(b"\x00garbage") + r.receive(wire[4])
    assert got == [(0, b"\x00"), (3, b"\x03"), (4, b"\x04")]
    assert (r.lost, r.recovered, r.malformed) == (2, 1, 1)


def test_sequence_numbers_wrap() -> None:
    s = UdptlSender(redundancy=1, seq=0xFFFF)
    wire = [s.send(bytes((i,)))[0] for i in range(3)]
    r = UdptlReceiver()
    got = r.receive(wire[0]) + r.receive(wire[2])
    assert got == [(0xFFFF, b"\x00"), (0, b"\x01"), (1, b"\x02")]


def test_ifps_are_read() -> None:
    assert parse_ifp(CNG).name == "cng" and not is_final(CNG)
    assert parse_ifp(FCS_OK_SIG_END).fields == (4,) and is_final(FCS_OK_SIG_END)
    hdlc = bytes((0xC0, 0x01, 0x80, 0x00, 0x02, 0xFF, 0x03, 0x13))  # hdlc-data with 3 octets
    assert parse_ifp(hdlc).fields == (0,) and not is_final(hdlc)
    for bad in (b"", bytes((0xC0,)), bytes((0xC0, 0x02, 0x80)), bytes((0xC0, 0x01, 0x80, 0x00, 0x09, 0x01))):
        with pytest.raises(IfpError):
            parse_ifp(bad)
        assert not is_final(bad)

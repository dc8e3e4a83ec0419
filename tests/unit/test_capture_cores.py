"""The pure cores of the packet capture and the SIP mirror: pcapng blocks (draft-ietf-opsawg-pcapng), the
Ethernet/IPv4/UDP frames the capture reads and writes, and HEP v3 — against byte vectors written out by hand."""

from __future__ import annotations

import struct

import pytest

from emulator.protocols import hep, netframe, pcapng


def test_section_header_block_bytes() -> None:
    shb = pcapng.section_header()
    assert shb == bytes.fromhex("0a0d0d0a" "1c000000" "4d3c2b1a" "0100" "0000" "ffffffffffffffff" "1c000000")
    with_app = pcapng.section_header(application="dgw")
    # option 4 (shb_userappl), length 3, "dgw" + 1 pad byte, then opt_endofopt
    assert with_app[24:36] == bytes.fromhex("0400" "0300") + b"dgw\0" + bytes.fromhex("00000000")
    assert len(with_app) % 4 == 0 and struct.unpack_from("<I", with_app, 4)[0] == len(with_app)


def test_interface_description_block_bytes() -> None:
    idb = pcapng.interface_description(pcapng.LINKTYPE_ETHERNET, snaplen=65535)
    assert idb == bytes.fromhex("01000000" "20000000" "0100" "0000" "ffff0000"
                                "0900" "0100" "09000000" "00000000" "20000000")


def test_enhanced_packet_block_bytes_and_round_trip() -> None:
    ts = 0x0000000112345678
    epb = pcapng.enhanced_packet(0, ts, b"\x01\x02\x03\x04\x05")
    assert epb == bytes.fromhex("06000000" "28000000" "00000000" "01000000" "78563412" "05000000" "05000000"
                                "0102030405000000" "28000000")
    blocks = list(pcapng.read_blocks(pcapng.section_header() + pcapng.interface_description() + epb))
    assert [b.type for b in blocks] == [0x0A0D0D0A, 1, 6]
    assert blocks[2].packet == (0, ts, b"\x01\x02\x03\x04\x05")


def test_enhanced_packets_batch_is_the_blocks_one_by_one() -> None:
    now = 1_796_306_889_722_388_000  # ns since the epoch
    frames = [(now + i, bytes(k % 256 for k in range(n))) for i, n in enumerate((0, 1, 2, 3, 5, 60, 1514))]
    offset = -5_000_000_000  # the unit's clock 5 s behind the host's
    batch = pcapng.enhanced_packets(1, frames, offset)
    assert batch == b"".join(pcapng.enhanced_packet(1, ts + offset, data) for ts, data in frames)
    read = [b.packet for b in pcapng.read_blocks(pcapng.section_header() + pcapng.interface_description() + batch)
            if b.type == 6]
    assert read == [(1, ts + offset, data) for ts, data in frames]
    assert pcapng.enhanced_packets(0, []) == b""


def test_decryption_secrets_block() -> None:
    secrets = b"CLIENT_RANDOM 00 11\n"
    dsb = pcapng.decryption_secrets(secrets)
    assert dsb[:16] == bytes.fromhex("0a000000" "28000000" "4b534c54" "14000000")
    (block,) = pcapng.read_blocks(dsb)
    assert block.secrets == (pcapng.SECRETS_TLS_KEY_LOG, secrets)


def test_truncated_file_is_refused() -> None:
    data = pcapng.section_header() + pcapng.enhanced_packet(0, 1, b"abc")
    with pytest.raises(pcapng.PcapngError):
        list(pcapng.read_blocks(data[:-3]))


def test_udp_frame_vector_and_parse() -> None:
    frame = netframe.udp_frame(("127.0.0.2", 5004), ("127.0.0.3", 6000), b"hi", ident=1)
    ip = frame[14:34]
    assert frame[:14] == bytes(12) + b"\x08\x00"
    assert ip == bytes.fromhex("4500" "001e" "0001" "4000" "4011" "3cc9" "7f000002" "7f000003")
    assert netframe.ipv4_checksum(ip) == 0  # a correct header sums to zero
    assert frame[34:] == bytes.fromhex("138c" "1770" "000a" "0000") + b"hi"
    assert netframe.udp_of(frame) == netframe.UdpDatagram(("127.0.0.2", 5004), ("127.0.0.3", 6000), b"hi")


def test_udp_of_ignores_other_frames() -> None:
    tcp = bytearray(netframe.udp_frame(("127.0.0.2", 1), ("127.0.0.3", 2), b"x"))
    tcp[23] = 6
    assert netframe.udp_of(bytes(tcp)) is None
    assert netframe.udp_of(b"\0" * 12 + b"\x08\x06" + b"\0" * 28) is None  # ARP
    assert netframe.udp_of(b"short") is None


def test_hep3_vector() -> None:
    msg = hep.HepMessage(src=("127.0.0.2", 5060), dst=("127.0.0.1", 5061), transport="TLS", time=1700000000.25,
                         payload=b"OPTIONS sip:a SIP/2.0\r\n\r\n", capture_id=2001, correlation_id="c1")
    data = hep.encode(msg)
    expected = b"".join([
        bytes.fromhex("0000" "0001" "0007" "02"),        # family IPv4
        bytes.fromhex("0000" "0002" "0007" "06"),        # protocol TCP (TLS)
        bytes.fromhex("0000" "0003" "000a" "7f000002"),  # source
        bytes.fromhex("0000" "0004" "000a" "7f000001"),  # destination
        bytes.fromhex("0000" "0007" "0008" "13c4"),      # 5060
        bytes.fromhex("0000" "0008" "0008" "13c5"),      # 5061
        bytes.fromhex("0000" "0009" "000a" "6553f100"),  # 1700000000 s
        bytes.fromhex("0000" "000a" "000a" "0003d090"),  # 250000 us
        bytes.fromhex("0000" "000b" "0007" "01"),        # SIP
        bytes.fromhex("0000" "000c" "000a" "000007d1"),  # capture id 2001
        bytes.fromhex("0000" "0011" "0008") + b"c1",     # correlation id
        bytes.fromhex("0000" "000f" "001f") + b"OPTIONS sip:a SIP/2.0\r\n\r\n",
    ])
    assert data == b"HEP3" + struct.pack("!H", 6 + len(expected)) + expected


def test_hep3_refuses_mixed_families() -> None:
    with pytest.raises(ValueError):
        hep.encode(hep.HepMessage(("127.0.0.1", 1), ("::1", 2), "UDP", 0.0, b""))

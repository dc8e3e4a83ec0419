"""RTP header pack/parse, sender generators, RFC 3550 Appendix A reception statistics, RTCP SR/RR/SDES/BYE."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.protocols.media import rtp
from emulator.protocols.media.rtp import (
    Bye,
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    RtcpError,
    RtcpUnknown,
    RtpError,
    RtpExtension,
    RtpPacket,
    RtpSender,
    SenderReport,
    SourceDescription,
)
from tests.helpers.fuzz import accepted_or_refused


def test_minimal_header_layout() -> None:
    pkt = RtpPacket(payload_type=8, sequence_number=0x1234, timestamp=0xDEADBEEF, ssrc=0x01020304, payload=b"ab")
    data = pkt.serialize()
    assert data == bytes.fromhex("80081234DEADBEEF01020304") + b"ab"
    assert RtpPacket.parse(data) == pkt


def test_csrc_extension_padding_marker_round_trip() -> None:
    pkt = RtpPacket(
        payload_type=0,
        sequence_number=65535,
        timestamp=1,
        ssrc=2,
        payload=b"\xff" * 160,
        marker=True,
        csrc=(10, 20, 30),
        extension=RtpExtension(0xBEDE, b"\x22\x01\x02\x03"),
        padding=4,
    )
    data = pkt.serialize()
    assert data[0] == 0x80 | 0x20 | 0x10 | 3 and data[1] == 0x80
    assert rtp.rtp_header_length(data) == 12 + 12 + 4 + 4
    assert data[-1] == 4 and len(data) == 12 + 12 + 8 + 160 + 4
    assert RtpPacket.parse(data) == pkt


MALFORMED_RTP = [
    b"",
    b"\x80\x00\x00",
    bytes.fromhex("40001234DEADBEEF01020304"),  # version 1
    bytes.fromhex("83001234DEADBEEF01020304") + b"\x00" * 8,  # 3 CSRC announced, 2 present
    bytes.fromhex("90001234DEADBEEF01020304") + b"\xbe\xde",  # extension header truncated
    bytes.fromhex("90001234DEADBEEF01020304") + b"\xbe\xde\x00\x02" + b"\x00" * 4,  # extension body short
    bytes.fromhex("A0001234DEADBEEF01020304") + b"\x00",  # padding count 0
    bytes.fromhex("A0001234DEADBEEF01020304") + b"\x00\x09",  # padding longer than payload
]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_rtp_parser_fuzz(data: bytes) -> None:
    pkt = accepted_or_refused(RtpError, RtpPacket.parse, data)
    if pkt is None:
        with pytest.raises(RtpError):
            rtp.rtp_fields(data)
        return
    assert RtpPacket.parse(pkt.serialize()) == pkt
    pt, marker, seq, ts, ssrc, payload = rtp.rtp_fields(data)
    assert (pt, marker, seq, ts, ssrc, payload) == (
        pkt.payload_type,
        pkt.marker,
        pkt.sequence_number,
        pkt.timestamp,
        pkt.ssrc,
        pkt.payload,
    )


def test_sender_sequence_timestamp_and_wrap() -> None:
    s = RtpSender.create(0, ssrc=7, initial_sequence=65534, initial_timestamp=0xFFFFFF00)
    packets = [RtpPacket.parse(s.next_packet(b"x" * 160, marker=i == 0)) for i in range(4)]
    assert [p.sequence_number for p in packets] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in packets] == [0xFFFFFF00, 0xFFFFFFA0, 0x40, 0xE0]
    assert packets[0].marker and not packets[1].marker
    assert s.wraps == 1 and s.extended_sequence == (1 << 16) | 2
    assert s.packets_sent == 4 and s.octets_sent == 640
    s.reset(random.Random(5), initial_sequence=100)
    assert s.sequence == 100 and s.wraps == 0


def test_sender_random_initial_values() -> None:
    a = RtpSender.create(0, rng=random.Random(1))
    b = RtpSender.create(0, rng=random.Random(2))
    assert (a.ssrc, a.sequence, a.timestamp) != (b.ssrc, b.sequence, b.timestamp)
    assert a.sequence < 32768  # leaves room before the first wrap (RFC 3550 §5.1 random start)


# ------------------------------------------------------------------------------- reception


def _feed(stats: ReceptionStats, seqs: list[int], jitter_ms: list[float] | None = None) -> None:
    for i, seq in enumerate(seqs):
        arrival = i * 0.020 + ((jitter_ms[i] if jitter_ms else 0.0) / 1000.0)
        stats.update(seq & 0xFFFF, (i * 160) & 0xFFFFFFFF, arrival)


def test_probation_then_valid() -> None:
    st_ = ReceptionStats()
    assert st_.update(10, 0, 0.0) is False  # probation: MIN_SEQUENTIAL = 2
    assert st_.update(11, 160, 0.02) is True
    assert st_.received == 1 and st_.base_seq == 11


def test_extended_highest_counts_wraps() -> None:
    st_ = ReceptionStats(probation=0)
    _feed(st_, list(range(65000, 65000 + 3 * 65536, 1)))  # three wraps, every packet
    assert st_.cycles == 3 << 16
    assert st_.extended_highest == 65000 + 3 * 65536 - 1
    assert st_.lost == 0 and st_.expected == 3 * 65536


def test_loss_and_fraction_lost() -> None:
    st_ = ReceptionStats(probation=0, ssrc=0x42)
    seqs = [s for s in range(1000, 1100) if s % 10 != 3]  # 10 % loss
    _feed(st_, seqs)
    block = st_.report_block(now=2.0)
    assert block.ssrc == 0x42
    assert block.cumulative_lost == 10
    assert block.fraction_lost == (10 << 8) // 100  # 25 (fixed point /256)
    assert block.extended_highest == 1099
    _feed(st_, [])  # no new packets: next interval has nothing expected
    assert st_.report_block(now=3.0).fraction_lost == 0


def test_duplicates_and_reordering() -> None:
    st_ = ReceptionStats(probation=0)
    _feed(st_, [1, 2, 4, 3, 5, 5, 6])
    assert st_.extended_highest == 6
    assert st_.duplicates_or_reordered == 1  # 3 after 4; a repeat of the highest is not told apart by A.1
    assert st_.lost == -1  # duplicates make cumulative loss negative (RFC 3550 A.3)


def test_restart_after_big_jump() -> None:
    st_ = ReceptionStats(probation=0)
    _feed(st_, [100, 101, 102])
    assert st_.update(40000, 0, 1.0) is False  # a jump beyond MAX_DROPOUT is doubted
    assert st_.update(40001, 160, 1.02) is True  # the next in sequence confirms: source restarted
    assert st_.restarts == 1 and st_.base_seq == 40001


def test_jitter_zero_for_constant_delay_and_grows_with_variation() -> None:
    steady = ReceptionStats(probation=0)
    _feed(steady, list(range(200)))
    assert steady.jitter == pytest.approx(0.0, abs=1e-6)
    noisy = ReceptionStats(probation=0)
    _feed(noisy, list(range(2000)), [0.0 if i % 2 else 10.0 for i in range(2000)])
    # alternating 10 ms delay: |D| = 80 timestamp units every packet -> J converges to 80 (A.8)
    assert noisy.jitter == pytest.approx(80.0, rel=0.01)


def test_lsr_dlsr_from_sender_report() -> None:
    st_ = ReceptionStats(probation=0)
    st_.update(1, 0, 0.0)
    ntp = rtp.ntp_from_unix(1_700_000_000.5)
    st_.on_sender_report(ntp, arrival=10.0)
    block = st_.report_block(now=10.25)
    assert block.last_sr == (ntp >> 16) & 0xFFFFFFFF
    assert block.delay_since_last_sr == int(0.25 * 65536)


# ------------------------------------------------------------------------------------ RTCP


def test_ntp_conversion() -> None:
    ntp = rtp.ntp_from_unix(0.5)
    assert ntp >> 32 == rtp.NTP_UNIX_OFFSET and ntp & 0xFFFFFFFF == 1 << 31
    assert rtp.unix_from_ntp(rtp.ntp_from_unix(1_700_000_000.25)) == pytest.approx(1_700_000_000.25)


def test_sr_sdes_bye_compound_round_trip() -> None:
    block = ReportBlock(
        ssrc=0x0B,
        fraction_lost=25,
        cumulative_lost=-3,
        extended_highest=70000,
        jitter=12,
        last_sr=5,
        delay_since_last_sr=6,
    )
    sender = RtpSender.create(0, ssrc=0x0A, initial_sequence=1)
    for _ in range(3):
        sender.next_packet(b"\x00" * 160)
    sr = sender.sender_report(rtp.ntp_from_unix(1_700_000_000.0), 123456, [block])
    assert sr.packet_count == 3 and sr.octet_count == 480
    sdes = SourceDescription.cname(0x0A, "fxs1@10.0.0.5")
    bye = Bye((0x0A,), b"hangup")
    data = rtp.build_compound([sr, sdes, bye])
    assert len(data) % 4 == 0
    assert data[1] == rtp.RTCP_SR and struct.unpack_from("!H", data, 2)[0] == (28 + 24) // 4 - 1
    parsed = rtp.parse_rtcp(data)
    assert parsed == [sr, sdes, bye]
    assert parsed[1].get(0x0A) == b"fxs1@10.0.0.5"


def test_rr_and_unknown_packets() -> None:
    rr = ReceiverReport(0x99, (ReportBlock(0x1), ReportBlock(0x2, cumulative_lost=0x7FFFFF)))
    app = RtcpUnknown(204, 1, b"name" + b"data")
    parsed = rtp.parse_rtcp(rtp.build_compound([rr, app]))
    assert parsed == [rr, app]


def test_compound_must_start_with_report() -> None:
    with pytest.raises(RtcpError):
        rtp.build_compound([SourceDescription.cname(1, "x")])


MALFORMED_RTCP = [
    b"\x80\xc9",  # too short
    b"\x40\xc9\x00\x01\x00\x00\x00\x01",  # version 1
    b"\x81\xc9\x00\x01\x00\x00\x00\x01",  # RR announces a block it lacks
    b"\x80\xc9\x00\x05\x00\x00\x00\x01",  # length overruns
    b"\x81\xca\x00\x02\x00\x00\x00\x01\x01\x09abc",  # SDES item truncated
    b"\x81\xcb\x00\x00",  # BYE lacks its source
    b"\xa0\xc9\x00\x01\x00\x00\x00\x00",  # padding count 0
]


@pytest.mark.parametrize(
    ("parse", "error", "data"),
    [pytest.param(RtpPacket.parse, RtpError, d, id=f"rtp{i}") for i, d in enumerate(MALFORMED_RTP)]
    + [pytest.param(rtp.parse_rtcp, RtcpError, d, id=f"rtcp{i}") for i, d in enumerate(MALFORMED_RTCP)],
)
def test_malformed_packets_refused(parse: Callable[[bytes], object], error: type[Exception], data: bytes) -> None:
    with pytest.raises(error):
        parse(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_rtcp_parser_fuzz(data: bytes) -> None:
    accepted_or_refused(RtcpError, rtp.parse_rtcp, data)


def test_sr_serialize_bytes() -> None:
    sr = SenderReport(ssrc=1, ntp_timestamp=(2 << 32) | 3, rtp_timestamp=4, packet_count=5, octet_count=6)
    assert sr.serialize() == bytes.fromhex("80c80006000000010000000200000003000000040000000500000006")

"""RTCP XR VoIP metrics (RFC 3611 §4.7) and the vq-rtcpxr report body (RFC 6035 §4): vectors and round trips."""

from __future__ import annotations

import datetime as dt
import struct

import pytest

from emulator.protocols.media.rtcp_xr import (
    VoipMetrics,
    VqReport,
    XrError,
    build_xr,
    estimate_quality,
    parse_vq_report,
    parse_xr,
)

# RFC 6035 §4.3.1's example (a SIP PUBLISH body), the metric lines as given there
RFC6035_BODY = """VQSessionReport: CallTerm\r
CallID: 6dwbzgrlbm7@192.0.2.51\r
LocalID: <sip:alice@example.org>\r
RemoteID: <sip:bob@example.net>\r
OrigID: <sip:alice@example.org>\r
LocalGroup: example-phone-55671\r
RemoteGroup: example-gateway-09871\r
LocalAddr: IP=192.0.2.51 PORT=5004 SSRC=0x2468ACE0\r
LocalMAC: 00:1f:5b:cc:21:0f\r
RemoteAddr: IP=192.0.2.135 PORT=6000 SSRC=0x1357BDF0\r
RemoteMAC: 00:26:08:8e:95:02\r
LocalMetrics:\r
Timestamps: START=2004-10-10T18:23:43Z STOP=2004-10-10T18:26:02Z\r
SessionDesc: PT=18 PD=G729 SR=8000 FD=20 FO=20 FPP=2 PPS=50 FMTP="annexb=no" PLC=3 SSUP=on\r
JitterBuffer: JBA=3 JBR=2 JBN=40 JBM=80 JBX=120\r
PacketLoss: NLR=5.0 JDR=2.0\r
BurstGapLoss: BLD=0 BD=0 GLD=2.0 GD=500 GMIN=16\r
Delay: RTD=200 ESD=140 SOWD=200 IAJ=2 MAJ=10\r
Signal: SL=-21 NL=-50 RERL=55\r
QualityEst: RLQ=88 RCQ=85 EXTRI=90 MOSLQ=4.1 MOSCQ=4.0 QoEEstAlg=P.564\r
DialogID: 1890463548@alice.example.org;to-tag=8472761;from-tag=9123dh311\r
"""


def test_parse_the_rfc_6035_example() -> None:
    r = parse_vq_report(RFC6035_BODY)
    assert r.kind == "CallTerm" and r.call_id == "6dwbzgrlbm7@192.0.2.51"
    assert r.local_addr == ("192.0.2.51", 5004, 0x2468ACE0) and r.remote_addr[2] == 0x1357BDF0
    assert (r.payload_type, r.codec, r.ptime) == (18, "G729", 20)
    m = r.metrics
    assert (m.loss_rate, m.discard_rate, m.gap_density, m.gap_duration) == (0.05, 0.02, 0.02, 500)
    assert (m.round_trip_delay, m.end_system_delay, m.jb_nominal, m.jb_maximum, m.jb_abs_max) == (200, 140, 40, 80, 120)
    assert (m.r_factor, m.mos_lq, m.mos_cq) == (85, 4.1, 4.0)
    assert r.stop - r.start == dt.timedelta(minutes=2, seconds=19)


def test_report_round_trip_and_bad_bodies() -> None:
    m = estimate_quality(VoipMetrics(0x1234, loss_rate=0.05, round_trip_delay=40, end_system_delay=70,
                                     jb_nominal=30, jb_maximum=120, jb_abs_max=125), "PCMU")
    start = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    r = VqReport("c1@127.0.0.2", "sip:alice@lab", "sip:bob@lab", "sip:alice@lab", ("127.0.0.2", 5004, 0xABC),
                 ("127.0.0.3", 5006, 0x1234), start, start + dt.timedelta(seconds=30), 0, "PCMU", 20, m)
    back = parse_vq_report(r.serialize())
    assert back.metrics.loss_rate == pytest.approx(0.05) and back.metrics.r_factor == m.r_factor
    assert (back.start, back.stop, back.local_addr) == (r.start, r.stop, r.local_addr)
    for bad in ("VQSessionReport: CallTerm\r\n", RFC6035_BODY.replace("LocalAddr: IP=192.0.2.51", "LocalAddr: X"),
                "no colon here"):
        with pytest.raises(XrError):
            parse_vq_report(bad)


def test_voip_metrics_block_wire_format() -> None:
    m = VoipMetrics(0x11223344, loss_rate=0.05, discard_rate=0.02, round_trip_delay=200, end_system_delay=140,
                    signal_level=-21, noise_level=-50, rerl=55, r_factor=85, ext_r_factor=90, mos_lq=4.1, mos_cq=4.0,
                    jb_nominal=40, jb_maximum=80, jb_abs_max=120)
    pkt = build_xr(0xCAFEBABE, [m])
    assert pkt[:4] == bytes((0x80, 207)) + struct.pack("!H", (8 + 36) // 4 - 1)
    block = pkt[8:]
    assert block[:4] == bytes((7, 0, 0, 8)) and block[4:8] == bytes.fromhex("11223344")
    assert block[8] == 13 and block[9] == 5  # 5 % and 2 % in 1/256
    assert struct.unpack_from("!HH", block, 16) == (200, 140)
    assert struct.unpack_from("!bbb", block, 20) == (-21, -50, 55)
    assert (block[24], block[25], block[26], block[27]) == (85, 90, 41, 40)  # R, ext R, MOS-LQ, MOS-CQ ×10
    assert struct.unpack_from("!HHH", block, 30) == (40, 80, 120)
    ssrc, (back,) = parse_xr(pkt)
    assert ssrc == 0xCAFEBABE and back.mos_lq == 4.1 and back.jb_abs_max == 120
    with pytest.raises(XrError):
        parse_xr(pkt[:20])


def test_e_model_estimate() -> None:
    clean = estimate_quality(VoipMetrics(1, end_system_delay=40), "PCMU")
    lossy = estimate_quality(VoipMetrics(1, loss_rate=0.05, end_system_delay=40), "PCMU")
    g729 = estimate_quality(VoipMetrics(1, end_system_delay=40), "G729")
    assert clean.r_factor > 90 and clean.mos_cq > 4.3
    assert lossy.r_factor < clean.r_factor and g729.r_factor < clean.r_factor and g729.mos_lq > 3.8

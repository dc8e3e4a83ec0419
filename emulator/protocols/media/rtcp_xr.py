"""Call quality reports: the RTCP XR VoIP Metrics Report Block (RFC 3611 §4.7) and the SIP vq-rtcpxr report body
(RFC 6035 §4) that carries the same metrics to a collector in a PUBLISH. Pure: build and parse both.

:class:`VoipMetrics` holds one direction's metrics as RFC 3611 defines them (rates as fractions, delays in ms,
levels in dBm0, R factors, MOS ×10 on the wire). :func:`estimate_quality` fills R and MOS with a simplified
ITU-T G.107 E-model (codec impairment Ie and loss robustness Bpl per codec, delay impairment Id, a random-loss
Ie_eff; no echo, no noise terms) — an estimate, as RFC 3611 allows ("R factor ... 127 if unavailable").
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from dataclasses import dataclass, field

__all__ = [
    "RTCP_XR",
    "VOIP_METRICS_BT",
    "StreamReport",
    "VoipMetrics",
    "VqReport",
    "XrError",
    "build_xr",
    "estimate_quality",
    "parse_vq_report",
    "parse_xr",
]

RTCP_XR = 207
VOIP_METRICS_BT = 7
UNAVAILABLE = 127
_BLOCK = struct.Struct("!BBHIBBBBHHHHbbbBBBBBBBHHH")  # RFC 3611 §4.7, 36 octets

# codec impairment factor Ie and packet-loss robustness Bpl (ITU-T G.113 Appendix I, with PLC where it has one)
_E_MODEL: dict[str, tuple[float, float]] = {
    "PCMU": (0.0, 25.1), "PCMA": (0.0, 25.1), "G722": (0.0, 25.1), "G729": (11.0, 19.0),
    "G726-16": (50.0, 10.0), "G726-24": (25.0, 10.0), "G726-32": (7.0, 10.0), "G726-40": (2.0, 10.0),
}


class XrError(ValueError):
    """A malformed XR packet or report body."""


@dataclass(slots=True)
class VoipMetrics:
    """RFC 3611 §4.7 VoIP metrics of the stream received from `ssrc`."""

    ssrc: int
    loss_rate: float = 0.0  # fraction of packets lost
    discard_rate: float = 0.0  # fraction discarded (late, early, duplicate) by the jitter buffer
    burst_density: float = 0.0
    gap_density: float = 0.0
    burst_duration: int = 0  # ms
    gap_duration: int = 0  # ms
    round_trip_delay: int = 0  # ms
    end_system_delay: int = 0  # ms (jitter buffer + packetization)
    signal_level: int = UNAVAILABLE  # dBm0
    noise_level: int = UNAVAILABLE
    rerl: int = UNAVAILABLE
    gmin: int = 16
    r_factor: int = UNAVAILABLE
    ext_r_factor: int = UNAVAILABLE
    mos_lq: float = 0.0  # 1.0..5.0, 0: unavailable
    mos_cq: float = 0.0
    rx_config: int = 0x80 | 0x20  # PLC enhanced (our repetition), jitter buffer adaptive
    jb_nominal: int = 0  # ms
    jb_maximum: int = 0
    jb_abs_max: int = 0

    def serialize(self) -> bytes:
        def frac(x: float) -> int:
            return max(0, min(255, round(x * 256)))

        def mos(x: float) -> int:
            return UNAVAILABLE if x <= 0 else max(10, min(50, round(x * 10)))

        return _BLOCK.pack(
            VOIP_METRICS_BT, 0, 8, self.ssrc & 0xFFFFFFFF, frac(self.loss_rate), frac(self.discard_rate),
            frac(self.burst_density), frac(self.gap_density), self.burst_duration & 0xFFFF,
            self.gap_duration & 0xFFFF, self.round_trip_delay & 0xFFFF, self.end_system_delay & 0xFFFF,
            self.signal_level, self.noise_level, self.rerl, self.gmin, self.r_factor, self.ext_r_factor,
            mos(self.mos_lq), mos(self.mos_cq), self.rx_config, 0, self.jb_nominal & 0xFFFF,
            self.jb_maximum & 0xFFFF, self.jb_abs_max & 0xFFFF,
        )

    @classmethod
    def parse(cls, block: bytes) -> VoipMetrics:
        if len(block) < _BLOCK.size:
            raise XrError("VoIP metrics block shorter than 36 octets")
        f = _BLOCK.unpack_from(block)
        if f[0] != VOIP_METRICS_BT or f[2] != 8:
            raise XrError(f"not a VoIP metrics block (BT {f[0]}, length {f[2]})")
        def mos(v: int) -> float:
            return 0.0 if v == UNAVAILABLE else v / 10.0
        return cls(f[3], f[4] / 256, f[5] / 256, f[6] / 256, f[7] / 256, f[8], f[9], f[10], f[11], f[12], f[13],
                   f[14], f[15], f[16], f[17], mos(f[18]), mos(f[19]), f[20], f[22], f[23], f[24])


def build_xr(sender_ssrc: int, blocks: list[VoipMetrics]) -> bytes:
    """An RTCP XR packet (RFC 3611 §2) with VoIP metrics blocks."""
    body = struct.pack("!I", sender_ssrc) + b"".join(b.serialize() for b in blocks)
    return struct.pack("!BBH", 0x80, RTCP_XR, (len(body) + 4) // 4 - 1) + body


def parse_xr(data: bytes) -> tuple[int, list[VoipMetrics]]:
    """(sender SSRC, VoIP metrics blocks) of one XR packet; other block types are skipped."""
    if len(data) < 8 or data[0] >> 6 != 2 or data[1] != RTCP_XR:
        raise XrError("not an RTCP XR packet")
    length = (struct.unpack_from("!H", data, 2)[0] + 1) * 4
    if length > len(data):
        raise XrError("XR length overruns the datagram")
    ssrc = struct.unpack_from("!I", data, 4)[0]
    out, off = [], 8
    while off + 4 <= length:
        bt, _, words = struct.unpack_from("!BBH", data, off)
        end = off + 4 + 4 * words
        if end > length:
            raise XrError("XR block overruns the packet")
        if bt == VOIP_METRICS_BT:
            out.append(VoipMetrics.parse(data[off:end]))
        off = end
    return ssrc, out


def estimate_quality(m: VoipMetrics, codec: str) -> VoipMetrics:
    """R factor and MOS-LQ/CQ of `m` by the simplified E-model (see the module docstring); `m` updated."""
    ie, bpl = _E_MODEL.get(codec.upper(), (10.0, 10.0))
    ppl = 100.0 * min(1.0, m.loss_rate + m.discard_rate)
    ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl)
    d = m.round_trip_delay / 2 + m.end_system_delay
    idd = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    r = max(0.0, min(100.0, 93.2 - idd - ie_eff))
    mos = 1.0 if r <= 0 else 4.5 if r >= 100 else 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)
    r_lq = max(0.0, min(100.0, 93.2 - ie_eff))
    mos_lq = 1.0 if r_lq <= 0 else 1 + 0.035 * r_lq + 7e-6 * r_lq * (r_lq - 60) * (100 - r_lq)
    m.r_factor = round(r)
    m.mos_cq = round(mos, 1)
    m.mos_lq = round(mos_lq, 1)
    return m


# ------------------------------------------------------------------------------------ RFC 6035 report


@dataclass(frozen=True, slots=True)
class StreamReport:
    """What the media layer knows of a call's stream for a report: the signalling adds the SIP identities."""

    local_addr: tuple[str, int, int]  # IP, RTP port, our SSRC
    remote_addr: tuple[str, int, int]  # the peer's, with the SSRC we received
    payload_type: int
    codec: str
    ptime: int
    start: float  # unit clock (Unix seconds)
    stop: float
    metrics: VoipMetrics


@dataclass(slots=True)
class VqReport:
    """One vq-rtcpxr report (RFC 6035 §4.2): a session report at call end (``CallTerm``) or during the call."""

    call_id: str
    local_id: str
    remote_id: str
    orig_id: str
    local_addr: tuple[str, int, int]  # IP, port, SSRC
    remote_addr: tuple[str, int, int]
    start: dt.datetime
    stop: dt.datetime
    payload_type: int
    codec: str
    ptime: int
    metrics: VoipMetrics
    kind: str = "CallTerm"  # or "IntervalReport"
    user_agent: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # parsed lines we do not model

    def serialize(self) -> bytes:
        m = self.metrics

        def stamp(t: dt.datetime) -> str:
            return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

        def addr(a: tuple[str, int, int]) -> str:
            return f"IP={a[0]} PORT={a[1]} SSRC=0x{a[2] & 0xFFFFFFFF:08X}"

        lines = [
            f"VQSessionReport: {self.kind}",
            f"CallID: {self.call_id}",
            f"LocalID: {self.local_id}",
            f"RemoteID: {self.remote_id}",
            f"OrigID: {self.orig_id}",
            f"LocalAddr: {addr(self.local_addr)}",
            f"RemoteAddr: {addr(self.remote_addr)}",
        ]
        if self.user_agent:
            lines.append(f"x-UserAgent: {self.user_agent}")
        lines += [
            "LocalMetrics:",
            f"Timestamps: START={stamp(self.start)} STOP={stamp(self.stop)}",
            f"SessionDesc: PT={self.payload_type} PD={self.codec} SR=8000 FD={self.ptime} PPS={1000 // self.ptime}"
            " PLC=3",
            f"JitterBuffer: JBA=3 JBR=2 JBN={m.jb_nominal} JBM={m.jb_maximum} JBX={m.jb_abs_max}",
            f"PacketLoss: NLR={100 * m.loss_rate:.1f} JDR={100 * m.discard_rate:.1f}",
            f"BurstGapLoss: BLD={100 * m.burst_density:.1f} BD={m.burst_duration} GLD={100 * m.gap_density:.1f}"
            f" GD={m.gap_duration} GMIN={m.gmin}",
            f"Delay: RTD={m.round_trip_delay} ESD={m.end_system_delay}",
            f"QualityEst: RCQ={m.r_factor} MOSLQ={m.mos_lq:.1f} MOSCQ={m.mos_cq:.1f}",
        ]
        return ("\r\n".join(lines) + "\r\n").encode()


_KV = re.compile(r"([A-Za-z]+)=(\S+)")


def _params(value: str) -> dict[str, str]:
    return dict(_KV.findall(value))


def parse_vq_report(body: bytes | str) -> VqReport:
    """A vq-rtcpxr body (RFC 6035 §4.2) back into a :class:`VqReport`; raises :class:`XrError`."""
    text = body.decode() if isinstance(body, bytes | bytearray) else body
    heads: dict[str, str] = {}
    for raw in text.replace("\r\n", "\n").split("\n"):
        if not raw.strip():
            continue
        name, sep, value = raw.partition(":")
        if not sep:
            raise XrError(f"not a 'Name: value' line: {raw!r}")
        heads.setdefault(name.strip(), value.strip())
    for need in ("VQSessionReport", "CallID", "LocalID", "RemoteID", "OrigID", "LocalAddr", "RemoteAddr",
                 "LocalMetrics", "Timestamps", "SessionDesc", "JitterBuffer", "PacketLoss", "Delay"):
        if need not in heads:
            raise XrError(f"vq-rtcpxr report without {need}")

    def addr(v: str) -> tuple[str, int, int]:
        p = _params(v)
        try:
            return p["IP"], int(p["PORT"]), int(p.get("SSRC", "0"), 16)
        except (KeyError, ValueError):
            raise XrError(f"bad address {v!r}") from None

    def stamp(v: str) -> dt.datetime:
        return dt.datetime.fromisoformat(v.replace("Z", "+00:00"))

    try:
        ts, sd, jb = _params(heads["Timestamps"]), _params(heads["SessionDesc"]), _params(heads["JitterBuffer"])
        pl, delay = _params(heads["PacketLoss"]), _params(heads["Delay"])
        bg, q = _params(heads.get("BurstGapLoss", "")), _params(heads.get("QualityEst", ""))
        lr = addr(heads["LocalAddr"])
        metrics = VoipMetrics(
            ssrc=lr[2], loss_rate=float(pl.get("NLR", 0)) / 100, discard_rate=float(pl.get("JDR", 0)) / 100,
            burst_density=float(bg.get("BLD", 0)) / 100, gap_density=float(bg.get("GLD", 0)) / 100,
            burst_duration=int(bg.get("BD", 0)), gap_duration=int(bg.get("GD", 0)),
            round_trip_delay=int(delay.get("RTD", 0)), end_system_delay=int(delay.get("ESD", 0)),
            r_factor=int(q.get("RCQ", UNAVAILABLE)), mos_lq=float(q.get("MOSLQ", 0)), mos_cq=float(q.get("MOSCQ", 0)),
            jb_nominal=int(jb.get("JBN", 0)), jb_maximum=int(jb.get("JBM", 0)), jb_abs_max=int(jb.get("JBX", 0)),
        )
        return VqReport(
            heads["CallID"], heads["LocalID"], heads["RemoteID"], heads["OrigID"], lr, addr(heads["RemoteAddr"]),
            stamp(ts["START"]), stamp(ts["STOP"]), int(sd["PT"]), sd["PD"], int(sd.get("FD", 20)), metrics,
            kind=heads["VQSessionReport"], user_agent=heads.get("x-UserAgent", ""),
        )
    except (KeyError, ValueError) as exc:
        raise XrError(f"malformed vq-rtcpxr report: {exc}") from None

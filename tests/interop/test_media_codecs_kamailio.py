"""Two units (4102 and C740) through a real Kamailio over TLS negotiate G.729 from their Media/Codecs settings and carry
it: each side's tone is measured at the other, and the payloads the C740 received are decoded again here by
libbcg729's own decoder (ctypes straight on the library, not the emulator's binding) — the 1 kHz tone is there.
When the call ends, the caller's RFC 6035 PUBLISH (vq-rtcpxr) reaches a collector (a UDP UAS here, messages parsed
by the ``sipmessage`` package) and its body parses per RFC 6035 with the call's figures.
With VAD (Annex B) on both sides, a silent side sends a SID frame and then nothing (a steady tone is also
taken for background noise by G.729B's VAD: speech-like audio is what it transmits)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import math
from pathlib import Path
from typing import Any

import pytest
import sipmessage

from emulator.protocols.media.rtcp_xr import parse_vq_report
from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from tests.interop.siplab import Pkis, kamailio, lab_unit, reg_state, sipep, stream, wait_for

pytestmark = pytest.mark.peer

G729_FIRST = {"Mipt.DefaultCodecG729VoicePriority": 10, "Mipt.DefaultCodecG729MinPTime": 20}


def bcg729_decode(payloads: list[bytes]) -> list[int]:
    """16-bit samples of G.729 payloads (10-octet frames), decoded by libbcg729 itself."""
    lib = ctypes.CDLL(ctypes.util.find_library("bcg729") or "libbcg729.so.0")
    lib.initBcg729DecoderChannel.restype = ctypes.c_void_p
    lib.bcg729Decoder.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint8,
                                  ctypes.c_uint8, ctypes.c_void_p]
    lib.closeBcg729DecoderChannel.argtypes = [ctypes.c_void_p]
    ctx = lib.initBcg729DecoderChannel()
    out = (ctypes.c_int16 * 80)()
    samples: list[int] = []
    for p in payloads:
        for i in range(0, len(p) - len(p) % 10, 10):
            lib.bcg729Decoder(ctx, p[i : i + 10], 10, 0, 0, 0, out)
            samples.extend(out)
    lib.closeBcg729DecoderChannel(ctx)
    return samples


def dominant(samples: list[int], candidates: tuple[float, ...]) -> float:
    """The candidate frequency with the most energy (a plain DFT bin each)."""
    def power(f: float) -> float:
        re = sum(x * math.cos(2 * math.pi * f * i / 8000) for i, x in enumerate(samples))
        im = sum(x * math.sin(2 * math.pi * f * i / 8000) for i, x in enumerate(samples))
        return re * re + im * im
    return max(candidates, key=power)


async def _pair(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis,
                settings: dict[str, Any], *, tls: bool = True) -> tuple[Unit, Unit]:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=tls)
    proxy = k.tls_address if tls else k.udp_address
    a = await lab_unit(units, tmp_path, pkis, user="alice", registrar=proxy, key_management="Sdes",
                       settings=settings, tls=tls)
    b = await lab_unit(units, tmp_path, pkis, user="bob", registrar=proxy, key_management="Sdes",
                       profile="C740", settings=settings, tls=tls)
    a.config.set("Mipt.DefaultSecurityRtpMode", "Unsecure")
    b.config.set("Mipt.DefaultSecurityRtpMode", "Unsecure")
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    return a, b


async def _call(a: Unit, b: Unit) -> tuple[Any, Any]:
    """A calls B (the C740 answers as soon as it rings): both legs once connected."""
    answering = sipep(b).calls
    call = await sipep(a).calls.dial("Phone-Fax1", "bob")
    await wait_for(lambda: getattr(answering.current("Bri1"), "state", "") == "ringing", what="B ringing")
    await answering.answer("Bri1")
    incoming = answering.current("Bri1")
    await wait_for(lambda: call.state == "connected" and incoming is not None and incoming.acked.is_set(),
                   what="connected")
    return call, incoming


async def test_two_units_negotiate_and_carry_g729(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                  pkis: Pkis) -> None:
    a, b = await _pair(units, kamailios, tmp_path, pkis,
                       {**G729_FIRST, "Mipt.DefaultCodecG729VoiceActivityDetection": "Disable"})
    call, incoming = await _call(a, b)
    assert b"a=rtpmap:18 G729/8000" in call.local_sdp and b"a=fmtp:18 annexb=no" in call.local_sdp
    assert call.remote_sdp.decode().split("m=audio ", 1)[1].split()[2] == "18"  # G.729 answered first
    sa, sb = stream(call), stream(incoming)
    assert sa.codec == sb.codec == "G729" and sa.ptime == sb.ptime == 20
    sa.play_tone(1000.0)
    sb.play_tone(440.0)

    def heard(s: Any, f: float) -> bool:
        m = s.measure()
        return m.frequency is not None and abs(m.frequency - f) < 15 and m.level_dbm0 > -25

    await wait_for(lambda: heard(sb, 1000.0) and heard(sa, 440.0), timeout=6, what="each side hears the other")
    payloads = [p for p in list(sb.playout._frames) if p]  # what B played out, as received (encoded)
    assert payloads and all(len(p) == 20 for p in payloads), [len(p) for p in payloads]
    samples = bcg729_decode(payloads)[-800:]
    assert dominant(samples, (440.0, 1000.0, 1400.0)) == 1000.0
    rms = math.sqrt(sum(x * x for x in samples) / len(samples))
    # A sent -10 dBm0; a fresh G.729 decoder is still rising over these 280 ms (it settles within a second)
    assert -20.0 < 20 * math.log10(rms / 23170) + 3.17 < -8.0
    await sipep(a).calls.hangup("Phone-Fax1")
    await wait_for(lambda: incoming.state == "ended", what="BYE")


async def test_g729_annex_b_silence_is_sid_then_nothing(units: list[Unit], kamailios: list[Kamailio],
                                                       tmp_path: Path, pkis: Pkis) -> None:
    a, b = await _pair(units, kamailios, tmp_path, pkis, G729_FIRST)  # VAD Enable (factory)
    call, incoming = await _call(a, b)
    assert b"annexb=yes" in call.local_sdp
    sa, sb = stream(call), stream(incoming)
    assert sa.vad and sb.vad
    await asyncio.sleep(1.0)  # both silent: a SID frame each (it marks the start of the silence), then nothing
    assert 1 <= sa.packets_sent <= 3 and 1 <= sb.packets_sent <= 3, (sa.packets_sent, sb.packets_sent)
    assert sb.packets_received == sa.packets_sent and sb.dropped == 0
    await sipep(a).calls.hangup("Phone-Fax1")


class Collector(asyncio.DatagramProtocol):
    """A UDP UAS that answers 200 OK to every request and keeps them (parsed by sipmessage)."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head, _, _ = data.partition(b"\r\n\r\n")
        req = sipmessage.Message.parse(data)
        self.requests.append(req)
        keep = [line for line in head.split(b"\r\n")[1:]
                if line.split(b":", 1)[0].strip().lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
        answer = b"\r\n".join([b"SIP/2.0 200 OK", *keep, b"Content-Length: 0", b"", b""])
        assert self.transport is not None
        self.transport.sendto(answer, addr)


async def test_rtcp_xr_publish_reaches_the_collector(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                     pkis: Pkis) -> None:
    loop = asyncio.get_running_loop()
    transport, collector = await loop.create_datagram_endpoint(Collector, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        a, b = await _pair(units, kamailios, tmp_path, pkis, {  # SIP over UDP: the collector's transport
            "SipEp.DefaultStaticRtcpXrCollectorUri": f"sip:collector@127.0.0.1:{port}"}, tls=False)
        call, incoming = await _call(a, b)
        stream(incoming).play_tone(440.0)
        await wait_for(lambda: stream(call).packets_received > 100, what="2 s of audio")
        await sipep(a).calls.hangup("Phone-Fax1")
        await wait_for(lambda: len(collector.requests) >= 2, what="a PUBLISH from each unit")
        for req in collector.requests:
            assert req.method == "PUBLISH" and req.headers.get("Event") == "vq-rtcpxr"
            assert req.headers.get("Content-Type") == "application/vq-rtcpxr"
            assert req.headers.get("Call-ID") != call.call_id  # a request of its own, outside the call's dialog
        reports = {parse_vq_report(r.body).local_addr[0]: parse_vq_report(r.body) for r in collector.requests}
        ours = reports[a.host]
        assert ours.kind == "CallTerm" and ours.call_id == call.call_id and ours.orig_id == call.local_uri
        assert ours.codec == "PCMU" and ours.metrics.loss_rate == 0.0 and ours.metrics.r_factor > 80
        assert ours.remote_addr[1] == stream(incoming).port and ours.stop > ours.start
        await wait_for(lambda: bool(sipep(a).vq.sent), what="the collector's answer")
        assert sipep(a).vq.sent[-1] == (call.call_id, 200)
    finally:
        transport.close()

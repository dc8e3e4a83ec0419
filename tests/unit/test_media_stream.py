"""MediaEngine / MediaStream on 127.0.0.1: SRTP audio both ways, the keep/regenerate desynchronisation with
Mipt 110, the sequence wrap, garbage on the port, WAV source/sink, RTCP. Real sockets, real time (~1 s each)."""

from __future__ import annotations

import array
import asyncio
import math
import os
import socket
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.mipt.engine import MediaEngine
from emulator.engines.mipt.sources import Silence
from emulator.engines.mipt.stream import REKEY_GRACE, MediaStream
from emulator.protocols.media import g711
from emulator.protocols.media.session_setup import (
    Answer,
    KeyManagement,
    LocalMedia,
    MediaPlan,
    RtpSecurityMode,
    SecuritySettings,
    accept_answer,
    answer_offer,
    build_offer,
)
from emulator.protocols.media.srtp import ContextBehaviour, SrtpKeying, SrtpSuite
from emulator.protocols.media.tones import ToneGenerator, measure

HOST = "127.0.0.1"
SDES = SecuritySettings(mode=RtpSecurityMode.SECURE, key_management=KeyManagement.SDES)


class Notes:
    """Collects notifications as Unit.notify would receive them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, dict[str, Any]]] = []

    def __call__(self, service: str, msg_id: int, /, **fields: Any) -> None:
        self.events.append((service, msg_id, fields))


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Exceptions that escaped into the event loop (there must be none)."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    yield errors


@contextmanager
def engines(
    notes_a: Notes | None = None, notes_b: Notes | None = None, **kw: Any
) -> Iterator[tuple[MediaEngine, MediaEngine]]:
    """Two media engines on 127.0.0.1 (A notifying `notes_a`, B `notes_b`), both closed at the end of the block."""
    base = 20000 + (os.getpid() % 2000) * 16
    a = MediaEngine(HOST, rtp_base_port=base, notify=notes_a, **kw)
    b = MediaEngine(HOST, rtp_base_port=base + 8, notify=notes_b, **kw)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def keyed_call(
    a: MediaEngine, b: MediaEngine, settings: SecuritySettings = SDES, *, call: int = 7
) -> tuple[MediaStream, MediaStream, MediaPlan, MediaPlan]:
    """Open a stream on each engine, key them with an offer/answer (SDES by default); return the plans unapplied."""
    sa = a.open_stream(secure=settings.secure, call=call, endpoint="Phone-Fax1")
    sb = b.open_stream(secure=settings.secure, call=call + 1, endpoint="Phone-Fax2")
    offer = build_offer(settings, LocalMedia(HOST, sa.port, 1), now=0.0)
    ans = answer_offer(settings, offer.sdp.serialize(), LocalMedia(HOST, sb.port, 2), now=0.0)
    assert isinstance(ans, Answer), ans
    return sa, sb, accept_answer(settings, offer, ans.sdp.serialize()), ans.plan


def started_call(
    a: MediaEngine,
    b: MediaEngine,
    settings: SecuritySettings = SDES,
    *,
    seq_a: int | None = None,
    seq_b: int | None = None,
    tone_a: float | None = 1000.0,
    tone_b: float | None = 440.0,
) -> tuple[MediaStream, MediaStream, MediaPlan, MediaPlan]:
    """A keyed call with both plans applied (A's first sequence number `seq_a`, B's `seq_b`), A playing
    `tone_a` and B `tone_b` (None: silence)."""
    sa, sb, pa, pb = keyed_call(a, b, settings)
    sa.apply(pa, initial_sequence=seq_a)
    sb.apply(pb, initial_sequence=seq_b)
    for stream, tone in ((sa, tone_a), (sb, tone_b)):
        if tone is not None:
            stream.play_tone(tone)
    return sa, sb, pa, pb


async def test_srtp_tone_both_ways_measured_decrypted(loop_errors: list[dict[str, Any]]) -> None:
    with engines() as (a, b):
        sa, sb, pa, pb = keyed_call(a, b)
        assert sa.port % 2 == 0 and sa.rtcp_port == sa.port + 1
        sa.apply(pa)
        sb.apply(pb)
        sa.play_tone(1000.0, level_dbm0=-10.0)
        sb.play_tone(1000.0, level_dbm0=-20.0)
        await asyncio.sleep(0.6)
        at_b, at_a = sb.measure(), sa.measure()
        assert at_b.frequency == pytest.approx(1000.0, abs=3.0) and at_b.level_dbm0 == pytest.approx(-10.0, abs=1.0)
        assert at_a.frequency == pytest.approx(1000.0, abs=3.0) and at_a.level_dbm0 == pytest.approx(-20.0, abs=1.0)
        for s in (sa, sb):
            st = s.stats()
            assert st["srtp"] is True and st["key_management"] == "SDES"
            assert st["packets_received"] >= 20 and st["undecryptable"] == 0 and st["dropped"] == 0
            assert st["frequency"] == pytest.approx(1000.0, abs=3.0)
    assert not loop_errors


async def test_packets_on_the_wire_are_encrypted() -> None:
    """A raw socket in place of the peer sees SRTP: 10-octet tag, payload not the plain G.711 tone."""
    with engines() as (a, _b), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.bind((HOST, 0))
        raw.settimeout(2.0)
        s = a.open_stream(secure=True)
        key = SrtpKeying(SrtpSuite.AES_CM_128_HMAC_SHA1_80, os.urandom(30))
        port = raw.getsockname()[1]
        s.apply(MediaPlan(HOST, port, port + 1, 0, "PCMU", secure=True, key_management="SDES", local=key, remote=key))
        s.play_tone(1000.0)
        data = await asyncio.get_running_loop().run_in_executor(None, raw.recv, 2048)
        assert len(data) == 12 + 160 + 10
        plain = ToneGenerator((1000.0,)).read_encoded("PCMU")
        assert data[12:172] != plain


async def test_keep_vs_regenerate_after_resume_gives_undecryptable_and_mipt110_once() -> None:
    notes_a, notes_b = Notes(), Notes()
    with engines(notes_a, notes_b) as (a, b):
        sa, sb, pa, pb = started_call(a, b, seq_a=65530)  # A wraps after 6 packets: its sending ROC becomes 1
        await asyncio.sleep(0.4)
        assert sa.srtp is not None and sa.srtp.tx.roc == 1
        assert sb.undecryptable == 0 and sb.measure().frequency == pytest.approx(1000.0, abs=3.0)
        # resume from hold with the same keys: A keeps its context, B regenerates its own (ROC 0)
        sa.apply(pa, behaviour=ContextBehaviour.KEEP)
        sb.apply(pb, behaviour=ContextBehaviour.REGENERATE)
        await asyncio.sleep(REKEY_GRACE + 0.5)  # B's previous context decrypts during the grace, then nothing
        assert sb.undecryptable >= 10
        assert notes_b.events == [("Mipt", 110, {"call": 8, "endpoint": "Phone-Fax2"})]  # once, not per packet
        assert sb.measure().frequency is None  # nothing decodes: B hears nothing
        assert sb.stats()["undecryptable"] == sb.undecryptable


async def test_sequence_wrap_with_both_sides_keeping_context() -> None:
    notes_a, notes_b = Notes(), Notes()
    with engines(notes_a, notes_b) as (a, b):
        sa, sb, pa, pb = started_call(a, b, seq_a=65520, seq_b=65525)
        await asyncio.sleep(0.5)  # both wrapped
        sa.apply(pa, behaviour=ContextBehaviour.KEEP)  # resume: both keep
        sb.apply(pb, behaviour=ContextBehaviour.KEEP)
        await asyncio.sleep(0.4)
        assert sa.srtp is not None and sb.srtp is not None
        assert sa.srtp.tx.roc == 1 and sb.srtp.rx.roc == 1
        assert sb.srtp.tx.roc == 1 and sa.srtp.rx.roc == 1
        assert sa.undecryptable == sb.undecryptable == 0
        assert not notes_a.events and not notes_b.events
        assert sb.measure().frequency == pytest.approx(1000.0, abs=3.0)
        assert sa.measure().frequency == pytest.approx(440.0, abs=3.0)
        assert sb.reception.cycles == 1 << 16


async def test_garbage_and_truncated_packets_are_dropped_and_the_call_goes_on(
    loop_errors: list[dict[str, Any]],
) -> None:
    notes_b = Notes()
    with engines(None, notes_b) as (a, b):
        sa, sb, _pa, _pb = started_call(a, b, tone_b=None)
        await asyncio.sleep(0.2)
        for junk in (b"", b"\x00", b"\x00\x01\x00\x00" + bytes(16), b"\xff" * 40, b"\x80\x00\x00", b"\x80" + bytes(20)):
            sa.send_raw(junk)  # empty, STUN-like, version 3, truncated header, too short for a tag
        await asyncio.sleep(0.3)
        assert sb.dropped >= 5
        assert sb.undecryptable == 0 and not notes_b.events
        assert sb.measure().frequency == pytest.approx(1000.0, abs=3.0)
        # a real packet cut in half passes the shape checks but fails authentication: a crypto error
        sa.send_raw(b"\x80\x00\x12\x34" + os.urandom(80))
        await asyncio.sleep(0.2)
        assert sb.undecryptable == 1 and len(notes_b.events) == 1
        before = sb.packets_received
        await asyncio.sleep(0.2)
        assert sb.packets_received > before  # still receiving
    assert not loop_errors


async def test_a_burst_on_one_socket_drains_while_ticks_are_sparse() -> None:
    """With one call the clock ticks every 20 ms (empty slots slept through): a burst of 100 datagrams on the
    receiver's socket is drained within a few ticks, and the call's own packets keep being counted."""
    with engines() as (a, b):
        sa, sb, _pa, _pb = started_call(a, b, tone_b=None)
        await asyncio.sleep(0.2)
        for _ in range(100):
            sa.send_raw(b"\x80" + bytes(20))  # too short for a tag: dropped
        await asyncio.sleep(0.3)
        assert sb.dropped == 100
        got = sb.packets_received
        await asyncio.sleep(0.4)
        assert sb.packets_received >= got + 15
        assert sb.measure().frequency == pytest.approx(1000.0, abs=3.0)


async def test_plain_rtp_garbage_dropped() -> None:
    plain = SecuritySettings()
    with engines() as (a, b):
        sa, sb, pa, pb = keyed_call(a, b, plain)
        assert not pa.secure
        sa.apply(pa)
        sb.apply(pb)
        sa.play_tone(440.0)
        sa.send_raw(b"\x90" + bytes(11))  # extension bit set, extension header missing
        sa.send_raw(b"\xa0" + bytes(11))  # padding bit, padding count 0
        await asyncio.sleep(0.4)
        assert sb.dropped == 2
        st = sb.stats()
        assert st["srtp"] is False and st["key_management"] is None
        assert st["frequency"] == pytest.approx(440.0, abs=3.0)


def write_tone_wav(path: Path, freq: float, seconds: float = 0.5) -> None:
    n = int(8000 * seconds)
    samples = array.array("h", (int(8000 * math.sin(2 * math.pi * freq * i / 8000)) for i in range(n)))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())


async def test_wav_source_and_recording(tmp_path: Path) -> None:
    src, rec = tmp_path / "in.wav", tmp_path / "out.wav"
    write_tone_wav(src, 700.0)
    with engines() as (a, b):
        sa, sb, pa, pb = keyed_call(
            a, b, SecuritySettings(mode=RtpSecurityMode.SECURE, key_management=KeyManagement.SDES)
        )
        sa.apply(pa)
        sb.apply(pb)
        sa.play_wav(src)
        sb.record(rec)
        await asyncio.sleep(0.6)
        sb.record(None)
        assert sb.measure().frequency == pytest.approx(700.0, abs=3.0)
    with wave.open(str(rec), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        pcm = w.readframes(w.getnframes())
    assert len(pcm) >= 2 * 8000 * 0.3
    assert measure(pcm[-3200:]).frequency == pytest.approx(700.0, abs=3.0)
    with pytest.raises(ValueError):
        bad = tmp_path / "stereo.wav"
        with wave.open(str(bad), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(bytes(3200))
        a.open_stream().play_wav(bad)


async def test_srtcp_reports_flow_both_ways() -> None:
    with engines(rtcp_interval=0.1) as (a, b):
        sa, sb, _pa, _pb = started_call(a, b, tone_a=None, tone_b=None)
        await asyncio.sleep(0.6)
        assert sa.rtcp.sent >= 1 and sb.rtcp.received >= 1 and sb.rtcp.dropped == 0
        assert sa.rtcp.last_peer_report is not None and sb.rtcp.last_peer_report is not None
        assert sa.rtcp.last_peer_report.ssrc == sa.sender.ssrc
        sa.close()
        await asyncio.sleep(0.1)
        assert sb.rtcp.peer_bye  # RTCP BYE on close


async def test_engine_ports_follow_the_unit_configuration(tmp_path: Path) -> None:
    from emulator.runtime.unit import Unit
    from firmware_model.profiles import get_profile

    unit = Unit("u1", get_profile("4102"), tmp_path, fsync=False)
    base = 30000 + (os.getpid() % 1000) * 8
    unit.config.set("Mipt.IpTransportRtpBasePort", base)
    unit.config.set("Mipt.IpTransportSrtpBasePort", base + 4000)
    engine = MediaEngine.for_unit(unit)
    try:
        plain, secure = engine.open_stream(), engine.open_stream(secure=True)
        assert plain.port >= base and plain.port < base + 4000 and plain.port % 2 == 0
        assert secure.port >= base + 4000 and secure.port % 2 == 0
        assert plain._sock.getsockname()[0] == unit.host
        taken = plain.port
        plain.close()
        again = engine.open_stream()
        assert again.port != taken or again.port >= base  # released ports come back in the rotation
    finally:
        engine.close()


def test_g711_silence_source_codes() -> None:
    assert Silence.read_encoded("PCMU") == bytes([g711.ULAW_SILENCE]) * 160
    assert Silence.read_encoded("PCMA") == bytes([g711.ALAW_SILENCE]) * 160


async def test_a_failing_stream_does_not_stop_the_engine() -> None:
    with engines() as (a, b):
        sa1, sb1, pa1, pb1 = keyed_call(a, b, call=1)
        sa2, sb2, pa2, pb2 = keyed_call(a, b, call=3)
        for s, p in ((sa1, pa1), (sb1, pb1), (sa2, pa2), (sb2, pb2)):
            s.apply(p)
        sb2.play_tone(440.0)
        sb1._frames = []  # a broken stream: its sends raise IndexError at every tick
        await asyncio.sleep(0.4)
        assert b.errors >= 10
        assert sa2.measure().frequency == pytest.approx(440.0, abs=3.0)  # the other call goes on
        assert sb1.packets_received >= 10  # and the broken one still receives


async def test_engines_on_one_loop_share_one_media_clock() -> None:
    """One ticker and one epoll for every engine (unit) on the loop; released when the last one closes."""
    with engines() as (a, b):
        sa, sb, _pa, _pb = started_call(a, b, tone_a=None, tone_b=None)
        clock = a._clock
        assert clock is not None and clock is b._clock and clock.timer is not None and len(clock.engines) == 2
        await asyncio.sleep(0.3)
        assert sa.packets_received >= 5 and sb.packets_received >= 5
        sa.close()
        assert clock.engines == [b] and clock.timer is not None
    assert clock.closed and clock.epoll is None and clock.timer is None


async def test_mikey_keyed_call_carries_audio_both_ways() -> None:
    mikey = SecuritySettings(mode=RtpSecurityMode.SECURE, key_management=KeyManagement.MIKEY, mikey_psk=b"lab")
    with engines() as (a, b):
        sa, sb, pa, pb = started_call(a, b, mikey)
        assert pa.key_management == pb.key_management == "MIKEY"
        await asyncio.sleep(0.5)
        assert sb.measure().frequency == pytest.approx(1000.0, abs=3.0)
        assert sa.measure().frequency == pytest.approx(440.0, abs=3.0)
        assert sa.stats(measure=False)["key_management"] == "MIKEY" and sa.undecryptable == sb.undecryptable == 0


class FakeCall:
    """The attributes of emulator.engines.sipep.calls.Call that the hook uses."""

    def __init__(self, call_id: int, endpoint: str) -> None:
        self.id = call_id
        self.endpoint = endpoint
        self.media: Any = None
        self.media_port = 0


async def test_call_media_hook_secure_call_hold_resume_and_415() -> None:
    from emulator.engines.mipt.call_media import CallMedia
    from emulator.engines.sipep.calls import MediaRefused

    notes_a, notes_b = Notes(), Notes()
    sdes = SecuritySettings(mode=RtpSecurityMode.SECURE, key_management=KeyManagement.SDES)
    ca, cb = FakeCall(1, "Phone-Fax1"), FakeCall(9, "Bri1")
    with engines(notes_a, notes_b) as (a, b):
        hook_a = CallMedia(a, lambda ep: sdes)
        hook_b = CallMedia(b, lambda ep: sdes)
        offer = hook_a.offer(ca, hold=False)
        assert b"RTP/SAVP" in offer and b"a=crypto:" in offer and ca.media_port == ca.media.stream.port
        hook_a.answered(ca, hook_b.answer(cb, offer, hold=False))
        ca.media.stream.play_tone(1000.0)
        cb.media.stream.play_tone(440.0)
        await asyncio.sleep(0.4)
        assert cb.media.stream.measure().frequency == pytest.approx(1000.0, abs=3.0)
        assert ca.media.stream.measure().frequency == pytest.approx(440.0, abs=3.0)
        # A holds as a factory unit does (SipEp.InteropOnHoldSdpStreamDirection Inactive, OnHoldSdpConnectionAddress
        # HoldAddress): an inactive offer at 0.0.0.0; B answers inactive and stops sending
        hold = hook_a.offer(ca, hold=True)
        assert b"a=inactive" in hold and b"c=IN IP4 0.0.0.0" in hold
        hook_a.answered(ca, hook_b.answer(cb, hold, hold=False))
        assert not cb.media.stream.direction.sends and not ca.media.stream.direction.sends
        await asyncio.sleep(0.1)
        held = ca.media.stream.packets_received
        await asyncio.sleep(0.1)
        assert ca.media.stream.packets_received == held  # B sends nothing while A holds
        # resume
        hook_a.answered(ca, hook_b.answer(cb, hook_a.offer(ca, hold=False), hold=False))
        await asyncio.sleep(0.3)
        assert ca.media.stream.measure().frequency == pytest.approx(440.0, abs=3.0)
        assert ca.media.stream.undecryptable == cb.media.stream.undecryptable == 0
        # a MIKEY endpoint refuses an SDES offer: 415 and the SdpTools notification
        hook_m = CallMedia(b, lambda ep: SecuritySettings(mode=RtpSecurityMode.SECURE))
        cm = FakeCall(10, "Bri2")
        with pytest.raises(MediaRefused) as exc:
            hook_m.answer(cm, hook_a.offer(FakeCall(2, "Phone-Fax2"), hold=False), hold=False)
        assert exc.value.status == 415
        assert ("Mipt", 9001, {}) in notes_b.events
        for call, hook in ((ca, hook_a), (cb, hook_b), (cm, hook_m)):
            hook.ended(call)
        assert ca.media.stream.closed and cb.media.stream.closed

"""The DGW's secure-media failure modes, reproduced between two units through a real Kamailio over TLS, with
the notifications checked where a trainee sees them: in a real rsyslog.

* Crypto Context Behavior: a stream started near sequence 65535 (the lab knob ``initial_sequence``) wraps;
  then the caller holds and resumes. When one side keeps its SRTP context (ROC 1) and the other regenerates
  it (ROC 0), the regenerating side cannot decrypt any more and raises Mipt 110; with the same behaviour
  on both sides the audio survives.
* SDES offer to a MIKEY endpoint: 415 and the SdpTools line, in rsyslog.
* SecureWithFallback calling a plain-RTP endpoint: the secure offer is refused (488), the unit offers plain
  RTP again and the call carries audio; a Secure caller stays refused.
* Bad input inside a call: malformed a=crypto / a=key-mgmt, unknown suites, wrong key lengths get the SIP
  answer RFC 4568 / 3830 call for; garbage and truncated SRTP packets are dropped and the call goes on.
* EpAdm: a locked endpoint refuses calls (480), a graceful lock waits for the call to end, ForceLock ends it.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.epadm import EpAdmEngine
from emulator.engines.mipt.endpoint_audio import EndpointAudio
from emulator.protocols.sip.message import Request
from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from testkit.rsyslog import Rsyslog
from tests.interop.siplab import Pkis, pair, reg_state, secure_unit, sipep, stream, wait_for

MIPT_110 = ("detected an SRTP cryptographic error. The secured RTP stream is not properly decoded.")
SDPTOOLS = "SdpTools [D3A2] Received the wrong key management protocol. Secure stream disabled."


def to_syslog(rsyslog: Rsyslog, *us: Unit) -> None:
    rsyslog.mark()
    for u in us:
        u.config.set("Nlm.SyslogRemoteHost", rsyslog.address("a"))


def heard(s: Any, f: float) -> bool:
    m = s.measure()
    return m.frequency is not None and abs(m.frequency - f) < 15 and m.level_dbm0 > -30


async def cli(shell: Any, line: str) -> Any:
    """A CLI line, waited for when its answer is pending (commands that wait on SIP)."""
    reply = shell.execute(line)
    return await reply.pending() if reply.pending is not None else reply


async def connected_call(a: Unit, b: Unit, ep_a: str = "Phone-Fax1", ep_b: str = "Bri1",
                         number: str = "bob") -> tuple[Any, Any]:
    ca, cb = sipep(a).calls, sipep(b).calls
    call = await ca.dial(ep_a, number)
    await wait_for(lambda: (c := cb.current(ep_b)) is not None and c.state == "ringing",
                   what=f"ringing (caller {call.row()}, callee {cb.rows()})")
    incoming = cb.current(ep_b)
    assert incoming is not None
    await cb.answer(ep_b)
    await wait_for(lambda: call.state == "connected" and incoming.acked.is_set(), what="connected")
    return call, incoming


# ------------------------------------------------------------------------------------ rollover + hold


@pytest.mark.parametrize(("caller", "callee", "keys", "desync"), [
    # same keys in the re-offers, so only the contexts differ: the callee restarts at ROC 0, the caller at 1
    ("Keep", "Regenerate", "Keep", True),
    ("Keep", "Keep", "Keep", False),
    # both regenerate, with new keys (the factory SessionUpdateCryptoMode): fresh contexts on both sides
    ("Regenerate", "Regenerate", "Regenerate", False),
])
async def test_rollover_then_hold_desynchronises_differing_context_behaviours(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, rsyslog: Rsyslog,
        caller: str, callee: str, keys: str, desync: bool) -> None:
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    for u, behaviour in ((a, caller), (b, callee)):
        u.config.set("Mipt.SessionUpdateCryptoMode", keys)
        u.config.set("Mipt.SrtpCryptoContextBehavior", behaviour)
    to_syslog(rsyslog, a, b)
    # The lab knob: the caller's streams start 100 packets (2 s) before the sequence number wraps.
    sipep(a).calls.media.set_audio("Phone-Fax1", EndpointAudio(tones=(1000.0,), initial_sequence=65436))
    sipep(b).calls.media.set_audio("Bri1", EndpointAudio(tones=(440.0,)))
    call, incoming = await connected_call(a, b)
    sa, sb = stream(call), stream(incoming)
    # Across the wrap the audio is intact on both sides (ROC 1 on the caller's stream, both agree).
    await wait_for(lambda: sb.stats(measure=False)["rx_roc"] >= 1 and sb.stats(measure=False)["packets_received"] > 150,
                   timeout=8, what="the caller's stream wrapped at the callee")
    assert sb.stats(measure=False)["undecryptable"] == 0 and heard(sb, 1000.0)
    await sipep(a).calls.hold("Phone-Fax1")
    await wait_for(lambda: call.local_hold and incoming.remote_hold, what="on hold")
    await sipep(a).calls.resume("Phone-Fax1")
    await wait_for(lambda: not call.local_hold and not incoming.remote_hold, what="resumed")
    before = sb.stats(measure=False)["packets_received"]
    await asyncio.sleep(1.0)
    st = sb.stats(measure=False)
    fresh: list[Any] = []

    def logged() -> bool:
        fresh.extend(rsyslog.new_lines("a"))
        return any(MIPT_110 in r.msg for r in fresh)

    if desync:
        assert st["undecryptable"] > 20, st
        await wait_for(logged, timeout=5, what="Mipt 110 in rsyslog")
        [line] = [r for r in fresh if MIPT_110 in r.msg]
        assert f"110-The call {incoming.id} on endpoint Bri1 {MIPT_110}" in line.msg, line
        assert line.msg.startswith(" Mipt: 1600-Media IP Transport:") or "1600-Media IP Transport" in line.raw
        assert not heard(sb, 1000.0)  # nothing decodes: silence at the callee
    else:
        assert st["undecryptable"] == 0, st
        assert st["packets_received"] > before + 30, f"{st} {sa.stats(measure=False)}"
        await wait_for(lambda: heard(sb, 1000.0) and heard(sa, 440.0), timeout=4, what="audio after resume")
        await asyncio.sleep(0.3)
        assert not logged(), fresh
    await sipep(a).calls.hangup("Phone-Fax1")


# --------------------------------------------------------------------------- key management mismatch


async def test_sdes_to_mikey_415_and_sdptools_line_in_rsyslog(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, rsyslog: Rsyslog) -> None:
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Mikey")
    to_syslog(rsyslog, b)
    call = await sipep(a).calls.dial("Phone-Fax1", "bob")
    await wait_for(lambda: call.state == "ended", what="refused")
    assert call.status == 415
    assert sipep(b).calls.current("Bri1") is None  # refused before ringing
    # rsyslog lives for the module: only what arrived since to_syslog() is this test's (the other event loop's
    # run of the same test wrote its own line before).
    fresh: list[Any] = []
    await wait_for(lambda: any(SDPTOOLS in r.msg for r in fresh.extend(rsyslog.new_lines("a")) or fresh),
                   timeout=5, what="SdpTools line")
    await asyncio.sleep(0.3)  # a second line, if the unit sent one, has arrived by now
    fresh.extend(rsyslog.new_lines("a"))
    [line] = [r for r in fresh if SDPTOOLS in r.msg]
    assert line.tag == "Mipt:" and line.pri == 8 * 16 + 4, line  # local0, Warning


# ------------------------------------------------------------------------------- SecureWithFallback


@pytest.mark.parametrize("mode", ["SecureWithFallback", "Secure"])
async def test_fallback_caller_against_a_plain_callee(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, mode: str) -> None:
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    a.config.set("Mipt.DefaultSecurityRtpMode", mode)
    b.config.set("Mipt.DefaultSecurityRtpMode", "Unsecure")  # the plain-RTP callee refuses RTP/SAVP (488)
    seen: list[bytes] = []
    sipep(b).request_handlers["INVITE"] = _spy(sipep(b).request_handlers["INVITE"], seen)
    call = await sipep(a).calls.dial("Phone-Fax1", "bob")
    if mode == "Secure":
        await wait_for(lambda: call.state == "ended", what="refused")
        assert call.status == 488 and len(seen) == 1
        return
    await wait_for(lambda: (c := sipep(b).calls.current("Bri1")) is not None and c.state == "ringing",
                   what="the plain re-offer rings")
    assert [b"RTP/SAVP" in s for s in seen] == [True, False], seen
    assert b"a=crypto" not in seen[1]
    incoming = sipep(b).calls.current("Bri1")
    assert incoming is not None
    await sipep(b).calls.answer("Bri1")
    await wait_for(lambda: call.state == "connected", what="connected")
    stream(incoming).play_tone(697.0)
    await wait_for(lambda: heard(stream(call), 697.0), timeout=6, what="the caller hears plain audio")
    assert not stream(call).stats(measure=False)["srtp"]
    await sipep(a).calls.hangup("Phone-Fax1")


def _spy(handler: Any, seen: list[bytes]) -> Any:
    def spy(request: Request, txn: Any, source: Any) -> None:
        if request.to.tag is None:
            seen.append(request.body)
        handler(request, txn, source)

    return spy


# ------------------------------------------------------------------------------------------ bad input


def _sdes_line(tag: int, suite: str, key: bytes, extra: str = "") -> str:
    return f"a=crypto:{tag} {suite} inline:{base64.b64encode(key).decode()}{extra}"


def _offer(host: str, port: int, profile: str, lines: list[str], session: list[str] | None = None) -> bytes:
    text = ["v=0", f"o=lab 1 1 IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0", *(session or []),
            f"m=audio {port} {profile} 0", "a=rtpmap:0 PCMU/8000", *lines, "a=sendrecv"]
    return ("\r\n".join(text) + "\r\n").encode()


BAD_OFFERS = {
    # a=crypto with a key of the wrong length: no usable line -> 488
    "short-key": (["RTP/SAVP"], [_sdes_line(1, "AES_CM_128_HMAC_SHA1_80", bytes(20))], None, 488),
    # an unknown suite only
    "unknown-suite": (["RTP/SAVP"], [_sdes_line(1, "F8_128_HMAC_SHA1_80", bytes(30))], None, 488),
    # syntax: no inline key at all
    "malformed-crypto": (["RTP/SAVP"], ["a=crypto:1 AES_CM_128_HMAC_SHA1_80"], None, 488),
    # an unsupported session parameter (RFC 4568 §6.3: refuse the line)
    "session-param": (["RTP/SAVP"], [_sdes_line(1, "AES_CM_128_HMAC_SHA1_80", bytes(30), " FEC_ORDER=SRTP_FEC")],
                      None, 488),
    # to the MIKEY endpoint: garbage base64, and a valid base64 that is not MIKEY
    "key-mgmt-garbage": (["RTP/SAVP"], [], ["a=key-mgmt:mikey %%%not-base64%%%"], 488),
    "key-mgmt-not-mikey": (["RTP/SAVP"], [], ["a=key-mgmt:mikey " + base64.b64encode(b"\x01\x00" * 20).decode()],
                           488),
}


@pytest.mark.parametrize("case", sorted(BAD_OFFERS))
async def test_bad_key_management_lines_get_the_right_answer(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, case: str) -> None:
    """An offer that carries bad keys is refused with the status the unit's own offer/answer logic names
    (488 Not Acceptable Here), the callee never rings, and it then takes a good call."""
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes" if "mgmt" not in case else "Mikey")
    (profile,), media_lines, session_lines, status = BAD_OFFERS[case]
    media = sipep(a).calls.media
    real_offer = media.offer

    def forged(call: Any, hold: bool) -> bytes:
        real_offer(call, hold)  # opens the stream; its port is used
        return _offer(a.host, call.media.stream.port, profile, media_lines, session_lines)

    media.offer = forged  # type: ignore[method-assign]
    call = await sipep(a).calls.dial("Phone-Fax1", "bob")
    await wait_for(lambda: call.state == "ended", what="refused")
    assert call.status == status, (case, call.end_reason)
    assert all(c.state == "ended" for c in sipep(b).calls.calls)
    media.offer = real_offer  # type: ignore[method-assign]
    a.config.set("Mipt.DefaultSecurityKeyManagement", b.config.get("Mipt.DefaultSecurityKeyManagement"))
    good, _incoming = await connected_call(a, b)
    assert good.state == "connected"
    await sipep(a).calls.hangup("Phone-Fax1")


async def test_garbage_and_truncated_srtp_are_dropped_and_the_call_goes_on(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    sipep(a).calls.media.set_audio("Phone-Fax1", EndpointAudio(tones=(1000.0,)))
    call, incoming = await connected_call(a, b)
    sa, sb = stream(call), stream(incoming)
    await wait_for(lambda: heard(sb, 1000.0), timeout=6, what="tone before the garbage")
    junk = [b"", b"\x80", b"\x80\x00" + bytes(8), bytes(12), b"\x80\x00\x00\x01" + bytes(8) + b"short",
            b"\x80\x00\xff\xff" + b"\x00\x00\x00\x00" + sb.sender.ssrc.to_bytes(4, "big") + bytes(200),
            bytes(range(256)) * 4, b"\x90" + bytes(30)]
    for _ in range(5):
        for data in junk:
            sa.send_raw(data)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    st = sb.stats(measure=False)
    assert st["undecryptable"] + st["dropped"] >= 5, st
    got = st["packets_received"]
    await asyncio.sleep(0.5)
    assert sb.stats(measure=False)["packets_received"] > got + 15  # the call goes on
    assert heard(sb, 1000.0) and call.state == "connected" and incoming.state == "connected"
    await sipep(a).calls.hangup("Phone-Fax1")
    await wait_for(lambda: incoming.state == "ended", what="BYE")


# ---------------------------------------------------------------------------------------------- EpAdm


def epadm(u: Unit) -> EpAdmEngine:
    engine = u.services["EpAdm"].engine
    assert isinstance(engine, EpAdmEngine)
    return engine


async def test_locked_endpoint_refuses_and_lock_waits_for_the_call(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    cb = b.config
    assert cb.get("EpAdm.Endpoint[Bri1].AdminState") == "Unlocked"
    assert cb.get("EpAdm.Endpoint[Bri1].UsageState") == "Idle"
    cb.set("EpAdm.Endpoint[Bri1].Lock", "Lock")
    assert cb.get("EpAdm.Endpoint[Bri1].AdminState") == "Locked"
    assert cb.get("EpAdm.Endpoint[Bri1].UsageState") == "IdleUnusable"
    call = await sipep(a).calls.dial("Phone-Fax1", "bob")
    await wait_for(lambda: call.state == "ended", what="refused")
    assert call.status == 480, call.row()
    from emulator.engines.sipep.calls import CallError

    with pytest.raises(CallError, match="locked"):
        await sipep(b).calls.dial("Bri1", "alice")
    cb.set("EpAdm.Endpoint[Bri1].Unlock", "Unlock")
    assert cb.get("EpAdm.Endpoint[Bri1].AdminState") == "Unlocked", b.config.rows("EpAdm.Endpoint")
    call, incoming = await connected_call(a, b)
    assert cb.get("EpAdm.Endpoint[Bri1].UsageState") == "Busy"
    cb.set("EpAdm.Endpoint[Bri1].Lock", "Lock")  # graceful: the call goes on
    assert cb.get("EpAdm.Endpoint[Bri1].AdminState") == "ShuttingDown"
    assert incoming.state == "connected"
    await sipep(a).calls.hangup("Phone-Fax1")
    await wait_for(lambda: cb.get("EpAdm.Endpoint[Bri1].AdminState") == "Locked", what="locked after the call")
    cb.set("EpAdm.Endpoint[Bri1].Unlock", "Unlock")
    call, incoming = await connected_call(a, b)
    cb.set("EpAdm.Endpoint[Bri1].ForceLock", "ForceLock")
    await wait_for(lambda: call.state == "ended" and incoming.state == "ended", what="force lock ends the call")
    assert cb.get("EpAdm.Endpoint[Bri1].AdminState") == "Locked"


# ------------------------------------------------------------------------------------ the phone's audio


async def test_wav_source_and_recording_of_an_endpoint(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    """B's phone plays a WAV file (a 1,400 Hz tone written here), A's phone records what it receives: the
    recording, read back from A's audio directory, holds B's tone — decrypted SRTP end to end."""
    import math
    import struct
    import wave

    from emulator.engines.mipt.endpoint_audio import parse_media_request
    from emulator.protocols.media.tones import ToneMeter

    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    media_a, media_b = sipep(a).calls.media, sipep(b).calls.media
    assert media_b.audio_dir is not None and media_a.audio_dir is not None
    media_b.audio_dir.mkdir(parents=True, exist_ok=True)
    with wave.open(str(media_b.audio_dir / "prompt.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 1400 * n / 8000)))
                               for n in range(8000)))
    media_b.set_audio("Bri1", parse_media_request({"source": {"wav": "prompt.wav"}}, media_b.audio_of("Bri1"),
                                                  media_b.audio_dir))
    media_a.set_audio("Phone-Fax1", parse_media_request({"record": "heard.wav"}, media_a.audio_of("Phone-Fax1"),
                                                        media_a.audio_dir))
    call, _incoming = await connected_call(a, b)
    await wait_for(lambda: stream(call).stats(measure=False)["packets_received"] > 60, what="1.2 s of audio")
    await sipep(a).calls.hangup("Phone-Fax1")
    await wait_for(lambda: call.state == "ended", what="ended")
    with wave.open(str(media_a.audio_dir / "heard.wav"), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        pcm = w.readframes(w.getnframes())
    assert len(pcm) >= 2 * 8000  # a second or more was written
    meter = ToneMeter()
    meter.feed(pcm[-2 * 1600:])
    m = meter.measure()
    assert m.frequency is not None and abs(m.frequency - 1400) < 15, m


async def test_cli_play_record_listen(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                      pkis: Pkis) -> None:
    """The CLI's audio commands (emulator additions) set the same phone as the API: A plays 1,633 Hz,
    B listens to it; bad arguments are refused with the usage and change nothing."""
    from emulator.engines.aaa import AuthResult
    from emulator.faces.cli.shell import CliShell

    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    sa, sb = CliShell(a, AuthResult(True, "public", "Admin")), CliShell(b, AuthResult(True, "public", "Admin"))
    out = sa.execute("play Phone-Fax1 tone 1633 level -12")
    assert out.ok and "1633" in out.output, out.output
    for bad, why in (("play Phone-Fax1 tone 9000", "outside 20..3990 Hz"), ("play Phone-Fax1", "usage"),
                     ("record Phone-Fax1 ../x.wav", "no directory"), ("play Nope tone 400", "unknown endpoint")):
        r = sa.execute(bad)
        assert not r.ok and why in r.output, (bad, r.output)
    assert sipep(a).calls.media.audio_of("Phone-Fax1").tones == (1633.0,)
    assert "no call" in sb.execute("listen Bri1").output
    assert not CliShell(a, AuthResult(True, "obs", "Observer")).execute("play Phone-Fax1 silence").ok
    _call, incoming = await connected_call(a, b)
    await wait_for(lambda: heard(stream(incoming), 1633.0), timeout=6, what="B hears A's tone")
    heard_line = sb.execute("listen Bri1").output
    assert "receives 163" in heard_line and "srtp on" in heard_line, heard_line
    assert sb.execute("record Bri1 b.wav").ok
    await asyncio.sleep(0.3)
    assert sb.execute("record Bri1 off").ok
    assert (sipep(b).calls.media.audio_dir / "b.wav").stat().st_size > 44 + 2 * 800  # type: ignore[operator]
    await sipep(a).calls.hangup("Phone-Fax1")


async def test_dtmf_as_rfc_4733_events_both_ways(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                 pkis: Pkis) -> None:
    """DTMF digits cross the SRTP call as telephone events (the payload type both SDPs agreed) and are read
    back once each at the far end; the tone goes on around them. The API's dtmf action does the same."""
    from emulator.engines.aaa import AuthResult
    from emulator.faces.cli.shell import CliShell

    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    for u in (a, b):  # Media/Codecs: DTMF out of band in RTP (the factory sends it in band)
        u.config.set("Mipt.DefaultDtmfTransportMethod", "OutOfBandUsingRtp")
    sipep(a).calls.media.set_audio("Phone-Fax1", EndpointAudio(tones=(1000.0,)))
    call, incoming = await connected_call(a, b)
    # Mipt.DefaultDtmfTransportPayloadType (96) in the offer, and the answer takes the offer's number
    assert b"a=rtpmap:96 telephone-event/8000" in call.local_sdp
    assert b"a=rtpmap:96 telephone-event/8000" in incoming.local_sdp
    sa = CliShell(a, AuthResult(True, "public", "Admin"))
    out = await cli(sa, "dtmf Phone-Fax1 1234#")
    assert out.ok and "RFC 4733" in out.output, out.output
    stream(incoming).send_dtmf("*0", duration_ms=60, gap_ms=40)
    await wait_for(lambda: stream(incoming).dtmf_received == "1234#" and stream(call).dtmf_received == "*0",
                   timeout=6, what="the digits at the far ends")
    bad = await cli(sa, "dtmf Phone-Fax1 12x")
    assert not bad.ok and "not DTMF digits" in bad.output, bad.output
    await asyncio.sleep(0.3)
    assert heard(stream(incoming), 1000.0)  # audio after the digits
    assert stream(incoming).stats(measure=False)["undecryptable"] == 0
    assert "DTMF *0" in sa.execute("listen Phone-Fax1").output
    # the automation contract: POST /api/v1/endpoints/{EpId}/dtmf
    import aiohttp

    from emulator.engines.aaa import Aaa
    from emulator.faces.api.server import ApiServer

    api = ApiServer(b, Aaa(b))
    await api.start(0)
    try:
        headers = {"Authorization": "Basic " + base64.b64encode(b"public:").decode()}
        async with aiohttp.ClientSession(headers=headers) as http:
            url = b.listening["api"] + "/api/v1/endpoints/Bri1/dtmf"
            async with http.post(url, json={"digits": "9a", "duration_ms": 80}) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["digits"] == "9A" and (await r.json())["method"] == "rfc4733"
            async with http.post(url, json={"digits": "9", "duration_ms": 5}) as r:
                assert r.status == 400 and "duration_ms" in (await r.json())["error"]
            async with http.post(b.listening["api"] + "/api/v1/endpoints/Bri2/dtmf", json={"digits": "1"}) as r:
                assert r.status == 409  # no call on Bri2
        await wait_for(lambda: stream(call).dtmf_received == "*09A", timeout=5, what="API digits")
    finally:
        await api.stop()
    await sipep(a).calls.hangup("Phone-Fax1")


async def test_inband_dtmf_by_default(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                      pkis: Pkis) -> None:
    """Factory Media/Codecs: DTMF in band — no telephone-event in the SDP, the digit's two tones (Q.23) go in
    the audio, and the far phone's recording holds them: 5 = 770 Hz + 1,336 Hz."""
    import wave

    from emulator.engines.mipt.endpoint_audio import parse_media_request
    from emulator.protocols.media.tones import ToneMeter

    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    media_b = sipep(b).calls.media
    assert media_b.audio_dir is not None
    media_b.set_audio("Bri1", parse_media_request({"record": "digits.wav"}, media_b.audio_of("Bri1"),
                                                  media_b.audio_dir))
    call, _incoming = await connected_call(a, b)
    assert b"telephone-event" not in call.local_sdp
    await asyncio.sleep(0.3)
    assert stream(call).send_dtmf("5", duration_ms=400, gap_ms=60) == "inband"
    await asyncio.sleep(0.8)
    await sipep(a).calls.hangup("Phone-Fax1")
    await wait_for(lambda: call.state == "ended", what="ended")
    with wave.open(str(media_b.audio_dir / "digits.wav"), "rb") as w:
        pcm = w.readframes(w.getnframes())

    def strongest(chunk: bytes, candidates: tuple[float, ...]) -> float | None:
        meter = ToneMeter()
        meter.feed(chunk)
        return meter.measure(candidates).frequency

    # somewhere in the recording, 200 ms where the row tone is 770 Hz and the column tone 1,336 Hz
    rows, cols = (697.0, 770.0, 852.0, 941.0), (1209.0, 1336.0, 1477.0, 1633.0)
    found = False
    for start in range(0, len(pcm) - 3200, 800):
        chunk = pcm[start:start + 3200]
        if strongest(chunk, rows) == 770.0 and strongest(chunk, cols) == 1336.0:
            found = True
            break
    assert found, "the digit's tones were not in the far end's recording"


@pytest.mark.parametrize("relay", ["InfoDtmfRelay", "DraftChoudhuriSipInfoDigit00"])
async def test_dtmf_by_sip_info(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis,
                                relay: str) -> None:
    """Mipt.DefaultDtmfTransportMethod OutOfBandUsingSignalingProtocol: one INFO per digit through Kamailio,
    with the body SipEp.InteropDtmfTransportMethod names; the far unit reads the digits and answers 200."""
    from emulator.engines.aaa import AuthResult
    from emulator.faces.cli.shell import CliShell

    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    a.config.set("Mipt.DefaultDtmfTransportMethod", "OutOfBandUsingSignalingProtocol")
    a.config.set("SipEp.InteropDtmfTransportMethod", relay)
    seen: list[tuple[str, bytes]] = []
    handler = sipep(b).request_handlers["INFO"]

    def spy(request: Request, txn: Any, source: Any) -> None:
        seen.append((request.headers.get("Content-Type") or "", request.body))
        handler(request, txn, source)

    sipep(b).request_handlers["INFO"] = spy
    _call, incoming = await connected_call(a, b)
    out = await cli(CliShell(a, AuthResult(True, "public", "Admin")), "dtmf Phone-Fax1 7*")
    assert out.ok and "SIP INFO" in out.output, out.output
    await wait_for(lambda: stream(incoming).dtmf_received == "7*", timeout=5, what=f"digits by INFO (seen: {seen})")
    ctype = "application/dtmf-relay" if relay == "InfoDtmfRelay" else "application/dtmf"
    assert [c for c, _ in seen] == [ctype, ctype]
    assert seen[0][1] == (b"Signal=7\r\nDuration=100\r\n" if relay == "InfoDtmfRelay" else b"7")
    await sipep(a).calls.hangup("Phone-Fax1")


# ------------------------------------------------------------------------------------------- transfer


async def test_blind_transfer_through_kamailio(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                               pkis: Pkis) -> None:
    """Alice calls Bob; Bob transfers Alice to Carol (REFER); Alice calls Carol, reports by NOTIFY, Bob's call
    is released on the 200 sipfrag, and Alice and Carol talk over SRTP."""
    from emulator.engines.aaa import AuthResult
    from emulator.faces.cli.shell import CliShell
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    registrar = a.config.get("SipEp.DefaultStaticRegistrarServerHost")
    c = await secure_unit(units, tmp_path, pkis, profile="4102", user="carol", registrar=str(registrar),
                          key_management="Sdes")
    await wait_for(lambda: reg_state(c) == "Registered", what="carol registered")
    call_ab, at_bob = await connected_call(a, b)
    out = await cli(CliShell(b, AuthResult(True, "public", "Admin")), "transfer Bri1 carol")
    assert out.ok, out.output
    await wait_for(lambda: (x := sipep(c).calls.current("Phone-Fax1")) is not None and x.state == "ringing",
                   what="carol rings")
    await sipep(c).calls.answer("Phone-Fax1")
    await wait_for(lambda: at_bob.state == "ended" and call_ab.state == "ended",
                   what="bob's call released")
    assert at_bob.transfer == "done" and at_bob.end_reason == "transferred"
    to_carol = sipep(a).calls.current("Phone-Fax1")
    assert to_carol is not None and to_carol.state == "connected" and "carol" in to_carol.remote_uri
    stream(to_carol).play_tone(852.0)
    at_carol = sipep(c).calls.current("Phone-Fax1")
    assert at_carol is not None
    await wait_for(lambda: heard(stream(at_carol), 852.0), timeout=6, what="carol hears alice")
    await sipep(a).calls.hangup("Phone-Fax1")

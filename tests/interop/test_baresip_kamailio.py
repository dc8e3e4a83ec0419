"""Interop with a real softphone: baresip (Debian's ``baresip-core``) registered to a real Kamailio over
TLS with mandatory SRTP (``mediaenc=srtp-mand``, SDES keys) and PCMU only, against one unit (4102,
Media/Security Mode Secure, key management SDES) registered to the same proxy over TLS.

* The unit calls baresip (auto-answer); baresip calls the unit (answered through the endpoint action of the
  automation API).
* The INVITE's offer and the answer are ``RTP/SAVP`` with ``a=crypto``.
* The tone each side sends is measured at the other side, decrypted: baresip's ``aufile`` source (a 697 Hz
  WAV) by the unit's own meter on its SRTP stream; the unit's 1000 Hz by analysing baresip's ``sndfile``
  dump of what it decoded.
* Whoever hangs up, the other side's call ends (BYE through the proxy).
* The same both ways with baresip's G.722 and G.726-32 (its Debian modules) as the only codec it offers or
  accepts, the unit on its factory codecs (G.726-32 enabled): the codec on the wire is that one, tones measured.
* baresip's RTCP reports about the unit's stream carry the LSR of the unit's SRs within 6 s of the call's start,
  and a newer one at the RFC 3550 interval after (baresip hears the unit's RTCP during the call).
* Digits baresip sends in its audio (in band) are detected and counted by the unit.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.aaa import AuthResult
from emulator.engines.sipep.calls import Call
from emulator.ops import actions
from emulator.protocols.media.tones import ToneMeasurement
from emulator.runtime.unit import Unit
from testkit.baresip import read_wav_pcm, tone_blocks
from testkit.kamailio import Kamailio
from tests.interop.baresip_lab import (
    BARESIP_TONE,
    BARESIP_USER,
    DIGITS,
    TONE_LEVEL,
    Lab,
    Phone,
    baresip_pkis,
    start_lab,
)
from tests.interop.siplab import Pkis, stream, wait_for

pytestmark = pytest.mark.peer

EP = "Phone-Fax1"
UNIT_TONE = 1000.0  # Hz, what the unit plays
TOLERANCE_HZ, TOLERANCE_DB = 15.0, 3.0


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> Pkis:
    return baresip_pkis(tmp_path_factory)


@pytest.fixture
async def lab(request: pytest.FixtureRequest, tmp_path: Path, pkis: Pkis, kamailios: list[Kamailio],
              units: list[Unit], phones: list[Phone]) -> Lab:
    """Kamailio on PROXY_HOST, baresip and the unit both registered to it over TLS (tests.interop.baresip_lab).
    Indirect parameter: baresip's only codec (default PCMU), or "dtmf" (PCMU, baresip's audio source is in-band
    digits)."""
    param = getattr(request, "param", "PCMU")
    return await start_lab(tmp_path, pkis, kamailios, units, phones, codec="PCMU" if param == "dtmf" else param,
                           source="dtmf" if param == "dtmf" else "tone")


def is_tone(m: ToneMeasurement, frequency: float) -> bool:
    """A clean `frequency` at the level it was sent at (G.711 and SRTP in between change neither)."""
    return (
        m.frequency is not None
        and abs(m.frequency - frequency) < TOLERANCE_HZ
        and abs(m.level_dbm0 - TONE_LEVEL) < TOLERANCE_DB
        and m.tone_ratio > 0.8
    )


def heard(s: Any, f: float) -> bool:
    return is_tone(s.measure(), f)


def assert_secure_sdp(sdp: bytes, who: str, log: str) -> None:
    text = sdp.decode(errors="replace")
    assert "m=audio " in text and " RTP/SAVP " in text, f"{who} is not RTP/SAVP:\n{text}{log}"
    assert "a=crypto:" in text, f"{who} has no SDES a=crypto:\n{text}{log}"


async def unit_hears_baresip(lab: Lab, call: Call, codec: str = "PCMU") -> None:
    s = stream(call)
    try:
        await wait_for(lambda: heard(s, BARESIP_TONE), timeout=6, what=f"the unit hearing {BARESIP_TONE} Hz")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: last measure {s.measure()}, stats {s.stats(measure=False)}{lab.log()}") from None
    st = s.stats(measure=False)
    assert st["srtp"] and str(st["key_management"]).lower() == "sdes" and st["undecryptable"] == 0, st
    assert st["codec"] == codec, st


async def exchange_tones(lab: Lab, call: Call, codec: str = "PCMU") -> None:
    """Once the call is up: the unit plays its tone and hears baresip's, then gives baresip a second of its own."""
    stream(call).play_tone(UNIT_TONE, level_dbm0=TONE_LEVEL)
    await unit_hears_baresip(lab, call, codec)
    await asyncio.sleep(1.0)


async def baresip_heard(lab: Lab, frequency: float, *, timeout: float = 5.0) -> None:
    """baresip's decoded dump (written as it decodes, complete once the call is closed) holds at least
    half a second of `frequency` at a sane level."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    found = ""
    while True:
        dumps = lab.phone.proc.dumps("dec")
        if dumps:
            rate, channels, bits, pcm = read_wav_pcm(dumps[-1])
            assert rate in (8000, 16000) and (channels, bits) == (1, 16), f"{dumps[-1].name}: {rate} Hz {channels} ch"
            blocks = tone_blocks(pcm, rate=rate)  # G.722 decodes to 16 kHz
            good = [m for m in blocks if is_tone(m, frequency)]
            if len(good) >= 5:
                return
            seen = [(None if m.frequency is None else round(m.frequency), round(m.level_dbm0, 1)) for m in blocks]
            found = f"{dumps[-1].name}: {len(pcm) // 2} samples; (Hz, dBm0) per 100 ms: {seen}"
        else:
            found = f"no dump-*-dec.wav in {lab.phone.proc.rec_dir} ({sorted(lab.phone.proc.rec_dir.iterdir())})"
        if loop.time() > end:
            raise AssertionError(f"baresip did not decode {frequency} Hz from the unit's SRTP: {found}{lab.log()}")
        await asyncio.sleep(0.2)


async def act(unit: Unit, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The endpoint action as the API runs it (the ops action table), for an Admin."""
    action = actions.find(name)
    assert action is not None
    answer = actions.invoke(unit, AuthResult(True, "admin", "Admin"), action, EP, body)
    result = await answer if inspect.isawaitable(answer) else answer
    return dict(result)


async def baresip_calls_the_unit(lab: Lab, since: int) -> Call:
    """baresip dials alice through Kamailio, the unit answers once it rings: the unit's call, once baresip reports
    it established (an event after ``since``)."""
    ctrl = lab.phone.ctrl
    assert (await ctrl.command("dial", f"sip:alice@{lab.kamailio.host}")).get("ok")
    await wait_for(lambda: (c := lab.calls.current(EP)) is not None and c.state == "ringing", what="ringing")
    incoming = lab.calls.current(EP)
    assert incoming is not None
    await act(lab.unit, "answer")
    await ctrl.wait_event("CALL_ESTABLISHED", since=since, timeout=5)
    return incoming


# ---------------------------------------------------------------------------------------------------------------
async def test_unit_calls_baresip_srtp_tones_both_ways(lab: Lab) -> None:
    ctrl = lab.phone.ctrl
    since = len(ctrl.events)
    row = await act(lab.unit, "dial", {"number": BARESIP_USER})
    call = lab.calls.current(EP)
    assert call is not None and row["call"]["id"] == call.id, row
    assert_secure_sdp(call.local_sdp, "the unit's INVITE offer", "")
    try:
        established = await ctrl.wait_event("CALL_ESTABLISHED", since=since, timeout=8)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; unit's call: {call.row()}{lab.log()}") from None
    assert "alice" in str(established.get("peeruri")), established
    await wait_for(lambda: call.state == "connected", what="the unit's call connected")
    assert_secure_sdp(call.remote_sdp, "baresip's 200 OK answer", lab.log())
    assert " 0" in call.remote_sdp.decode().split("m=audio ", 1)[1].split("\r\n", 1)[0]  # PCMU

    await exchange_tones(lab, call)
    await act(lab.unit, "hangup")
    assert call.state == "ended", call.row()
    await ctrl.wait_event("CALL_CLOSED", since=since, timeout=5)
    await baresip_heard(lab, UNIT_TONE)


async def test_baresip_calls_unit_srtp_tones_both_ways(lab: Lab) -> None:
    ctrl = lab.phone.ctrl
    since = len(ctrl.events)
    reply = await ctrl.command("dial", f"sip:alice@{lab.kamailio.host}")
    assert reply.get("ok"), f"{reply}{lab.log()}"
    try:
        await wait_for(
            lambda: (c := lab.calls.current(EP)) is not None and c.state == "ringing",
            timeout=8,
            what="the unit ringing",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; events {ctrl.events[since:]}{lab.log()}") from None
    incoming = lab.calls.current(EP)
    assert incoming is not None and incoming.direction == "incoming"
    assert_secure_sdp(incoming.remote_sdp, "baresip's INVITE offer", lab.log())

    row = await act(lab.unit, "answer")
    assert row["call"]["state"] == "connected", row
    assert_secure_sdp(incoming.local_sdp, "the unit's 200 OK answer", lab.log())
    await ctrl.wait_event("CALL_ESTABLISHED", since=since, timeout=5)
    await wait_for(lambda: incoming.acked.is_set(), what="ACK from baresip")

    await exchange_tones(lab, incoming)
    hung = await ctrl.command("hangup")
    assert hung.get("ok"), hung
    await wait_for(lambda: incoming.state == "ended", what="the unit's call ended by baresip's BYE")
    assert incoming.end_reason == "remote hangup", incoming.row()
    await ctrl.wait_event("CALL_CLOSED", since=since, timeout=5)
    await baresip_heard(lab, UNIT_TONE)


@pytest.mark.parametrize("lab", ["G722", "G726-32"], indirect=True)
async def test_wideband_and_adpcm_codecs_with_baresip_both_ways(lab: Lab) -> None:
    codec = lab.phone.proc.directory.joinpath("accounts").read_text().split("audio_codecs=")[1].split(";")[0]
    ctrl = lab.phone.ctrl
    since = len(ctrl.events)
    await act(lab.unit, "dial", {"number": BARESIP_USER})
    call = lab.calls.current(EP)
    assert call is not None
    await ctrl.wait_event("CALL_ESTABLISHED", since=since, timeout=8)
    await wait_for(lambda: call.state == "connected", what="the unit's call connected")
    assert_secure_sdp(call.remote_sdp, "baresip's answer", lab.log())
    assert f" {codec}/8000" in call.remote_sdp.decode(), call.remote_sdp.decode()
    await exchange_tones(lab, call, codec)
    await act(lab.unit, "hangup")
    await ctrl.wait_event("CALL_CLOSED", since=since, timeout=5)
    await baresip_heard(lab, UNIT_TONE)
    # and baresip calls the unit
    for dump in lab.phone.proc.dumps("dec"):
        dump.unlink()
    since = len(ctrl.events)
    incoming = await baresip_calls_the_unit(lab, since)
    await exchange_tones(lab, incoming, codec)
    assert (await ctrl.command("hangup")).get("ok")
    await ctrl.wait_event("CALL_CLOSED", since=since, timeout=5)
    await baresip_heard(lab, UNIT_TONE)


async def test_baresip_hears_the_units_rtcp_at_the_rfc_3550_interval(lab: Lab) -> None:
    """baresip's report blocks about the unit's stream echo the unit's last SR (LSR): it received them."""
    loop = asyncio.get_running_loop()
    await act(lab.unit, "dial", {"number": BARESIP_USER})
    call = lab.calls.current(EP)
    assert call is not None
    start = loop.time()
    await wait_for(lambda: call.state == "connected", what="connected")
    rtcp = stream(call).rtcp

    def lsr() -> int:
        report = rtcp.last_peer_report
        return 0 if report is None else report.last_sr

    await wait_for(lambda: lsr() != 0, timeout=6.0 - (loop.time() - start), what="baresip echoing an SR of ours")
    first = lsr()
    await wait_for(lambda: lsr() not in (0, first), timeout=12.0, what="a later SR of ours echoed")
    assert rtcp.sent >= 2 and rtcp.rtt is not None and rtcp.rtt < 0.5, (rtcp.sent, rtcp.rtt)
    await act(lab.unit, "hangup")


@pytest.mark.parametrize("lab", ["dtmf"], indirect=True)
async def test_inband_digits_from_baresip_are_detected(lab: Lab) -> None:
    ctrl = lab.phone.ctrl
    since = len(ctrl.events)
    incoming = await baresip_calls_the_unit(lab, since)
    assert b"telephone-event" not in incoming.local_sdp  # factory DTMF in band: no RFC 4733 in our answer
    s = stream(incoming)
    await wait_for(lambda: DIGITS in s.stats(measure=False)["dtmf_received"], timeout=8,
                   what=f"the unit detecting {DIGITS} in baresip's audio")
    assert (await ctrl.command("hangup")).get("ok")

"""Secure calls end to end: two units (4102 and C740) register to a real Kamailio over TLS and call each
other with SRTP keyed by SDES, then by MIKEY; the tone each side sends is measured, decrypted, at the
other side. An SDES/MIKEY mismatch gives 415 and the Mipt notification."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from tests.interop.siplab import Pkis, pair, sipep, stream, tones_heard_both_ways, wait_for


@pytest.mark.parametrize("km", ["Sdes", "Mikey"])
async def test_two_units_secure_call_tone_measured_both_ways(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, km: str) -> None:
    a, b = await pair(units, kamailios, tmp_path, pkis, km, km)
    ca, cb = sipep(a).calls, sipep(b).calls
    call = await ca.dial("Phone-Fax1", "bob")
    await wait_for(lambda: (c := cb.current("Bri1")) is not None and c.state == "ringing", what="B ringing")
    incoming = cb.current("Bri1")
    assert incoming is not None
    await cb.answer("Bri1")
    await wait_for(lambda: call.state == "connected" and incoming.acked.is_set(), what="connected")
    # What the INVITE carried: secure profile and the chosen key management.
    assert b"RTP/SAVP" in call.local_sdp
    assert (b"a=crypto:" in call.local_sdp) == (km == "Sdes")
    assert (b"a=key-mgmt:mikey" in call.local_sdp) == (km == "Mikey")
    await tones_heard_both_ways(call, incoming, "each side hears the other's tone")
    await wait_for(lambda: min(stream(c).stats(measure=False)["packets_received"] for c in (call, incoming)) > 25,
                   what="half a second of audio each way")
    for s in (stream(call), stream(incoming)):
        st = s.stats(measure=False)
        assert st["srtp"] and st["undecryptable"] == 0, st
        assert st["key_management"].lower() == km.lower()
    await ca.hangup("Phone-Fax1")
    await wait_for(lambda: incoming.state == "ended", what="BYE")


async def test_sdes_offer_to_a_mikey_endpoint_gets_415(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Mikey")
    call = await sipep(a).calls.dial("Phone-Fax1", "bob")
    await wait_for(lambda: call.state == "ended", what="refused")
    assert call.status == 415
    notes = [e.message for e in b.notifications if e.service == "Mipt"]
    assert "SdpTools [D3A2] Received the wrong key management protocol. Secure stream disabled." in notes, notes


async def test_phone_actions_from_the_cli(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                          pkis: Pkis) -> None:
    """The CLI's phone commands (emulator additions) drive the same calls as the API."""
    from emulator.engines.aaa import AuthResult
    from emulator.faces.cli.shell import CliShell

    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    sa, sb = CliShell(a, AuthResult(True, "public", "Admin")), CliShell(b, AuthResult(True, "public", "Admin"))

    async def run(shell: CliShell, line: str) -> str:
        reply = shell.execute(line)
        if reply.pending is not None:
            reply = await reply.pending()
        assert reply.ok, reply.output
        return reply.output

    assert "call 1 dialing" in await run(sa, "dial Phone-Fax1 bob")
    await wait_for(lambda: (c := sipep(b).calls.current("Bri1")) is not None and c.state == "ringing", what="ringing")
    assert "ringing" in await run(sb, "calls")
    assert "connected" in await run(sb, "answer Bri1")
    call = sipep(a).calls.current("Phone-Fax1")
    await wait_for(lambda: call is not None and call.state == "connected", what="connected")
    observer = CliShell(a, AuthResult(True, "obs", "Observer")).execute("hangup Phone-Fax1")
    assert not observer.ok and "user obs (Observer rights) may not use the endpoint's phone" in observer.output
    assert "ended" in await run(sa, "hangup Phone-Fax1")
    bad = sa.execute("dial Phone-Fax1")
    assert not bad.ok and "usage" in bad.output


@pytest.mark.parametrize("mode", ["SecureWithFallback", "Secure"])
async def test_plain_rtp_caller_against_fallback_and_secure(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, mode: str) -> None:
    """A plain-RTP peer calls the unit: SecureWithFallback answers with plain RTP and audio flows;
    Secure refuses the offer (488)."""
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    a.config.set("Mipt.DefaultSecurityRtpMode", mode)
    b.config.set("Mipt.DefaultSecurityRtpMode", "Unsecure")  # the plain peer
    call = await sipep(b).calls.dial("Bri1", "alice")
    if mode == "Secure":
        await wait_for(lambda: call.state == "ended", what="refused")
        assert call.status == 488
        return
    await wait_for(lambda: (c := sipep(a).calls.current("Phone-Fax1")) is not None and c.state == "ringing",
                   what="ringing")
    incoming = sipep(a).calls.current("Phone-Fax1")
    assert incoming is not None
    await sipep(a).calls.answer("Phone-Fax1")
    await wait_for(lambda: call.state == "connected", what="connected")
    assert b"RTP/AVP" in call.local_sdp and b"RTP/AVP" in incoming.local_sdp and b"a=crypto" not in incoming.local_sdp
    stream(call).play_tone(1000.0)
    await wait_for(lambda: (m := stream(incoming).measure()).frequency is not None and abs(m.frequency - 1000) < 15,
                   timeout=6, what="the unit hears the plain peer")
    assert not stream(incoming).stats(measure=False)["srtp"]

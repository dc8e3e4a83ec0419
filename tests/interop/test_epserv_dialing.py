"""Dialling from an off-hook line (EpServ) with real peers: two units registering over TLS to a Kamailio on
127.0.0.1, SRTP keyed by SDES, the EpServ engine attached as ``emulator.lab`` attaches it.

* The caller's line goes off-hook and hears its country's dial tone; keys matched by an allowed DTMF map with a
  transformation place the call, and the other unit's line rings with the transformed number; when the far end
  hangs up the line, still off-hook, hears the busy tone; both lines' CallStatistics count the call.
* A number a refused map matches gives the reorder tone, and so does an allowed one the proxy cannot route (404);
  hotline calls its target at off-hook.
* A service code writes the line's forwarding row, and the line hears the confirmation (stutter) tone.
* A called line that rings with 180 without SDP: the caller's line hears its own country's ringback (local),
  then the far end's audio in the same recording once answered.
* A hook-flash holding the line's call gives dial tone for a second call, dialled the same way.
* A map's TargetHost sends the INVITE straight to that host (Kamailio never sees it); a direct IP call
  (``192*168*0*10#``) goes to the address dialled.
* Per country: the dial tone (the caller's own line), the ringback (the called unit's early media) and the busy
  tone (the called line answered 486 while the caller stays off-hook) measured in what the caller's line
  received — frequencies and cadence.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.epserv.engine import EpServEngine
from emulator.engines.mipt.endpoint_audio import EndpointAudio
from emulator.ops import actions
from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio, start_kamailio
from tests.helpers.tones import assert_tone_heard
from tests.interop.siplab import USERS, Pkis, endpoint_action, lab_unit, reg_state, sipep, wait_for

pytestmark = pytest.mark.peer

EP = "Phone-Fax1"
LINES = {"5551001": "linepw", "5551002": "linepw"}

# country -> tone -> (frequencies (Hz), on/off cadence (ms); empty: continuous), per firmware_model.country_tones
TONES: dict[str, dict[str, tuple[tuple[float, ...], list[int]]]] = {
    "NorthAmerica1": {"Dial": ((350.0, 440.0), []), "Ringback": ((440.0, 480.0), [2000, 4000]),
                      "Busy": ((480.0, 620.0), [500, 500])},
    "France1": {"Dial": ((440.0,), []), "Ringback": ((440.0,), [1500, 3500]), "Busy": ((440.0,), [500, 500])},
    "Germany1": {"Dial": ((425.0,), []), "Ringback": ((425.0,), [1000, 4000]), "Busy": ((425.0,), [480, 480])},
}


def epserv(u: Unit) -> EpServEngine:
    engine = u.services["EpServ"].engine
    assert isinstance(engine, EpServEngine)
    return engine


async def dialling_pair(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis,
                        caller: dict[str, Any] | None = None, called: dict[str, Any] | None = None
                        ) -> tuple[Unit, Unit]:
    """A caller 4102 (alice) and a called 4102 whose Phone-Fax1 registers as 5551001, both with EpServ."""
    k = start_kamailio(tmp_path / "kamailio", *pkis.server, {**USERS, **LINES}, tls_only=True)
    kamailios.append(k)
    a = await lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address, key_management="Sdes",
                       settings=caller)
    b = await lab_unit(units, tmp_path, pkis, user="5551001", registrar=k.tls_address, key_management="Sdes",
                       settings={"SipEp.Authentication[1].Username": "", "SipEp.Authentication[1].Password": "linepw",
                                 **(called or {})})
    for u in (a, b):
        u.attach(EpServEngine(u))  # as emulator.lab attaches it
        await u.stop_service("EpServ")  # the unit started it engineless: start it again with the engine
        await u.start_service("EpServ")
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    return a, b


async def dial_and_ring(a: Unit, b: Unit, keys: str) -> Any:
    """A's line goes off-hook and presses ``keys``; B's line rings: A's call."""
    await endpoint_action(a, "offhook")
    await endpoint_action(a, "press", digits=keys)
    cb = sipep(b).calls
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="the called line ringing")
    call = sipep(a).calls.current(EP)
    assert call is not None
    return call


def record(u: Unit, name: str) -> Path:
    sipep(u).calls.media.set_audio(EP, EndpointAudio(record=name))  # type: ignore[attr-defined]
    return Path(u.state_dir) / "audio" / name


async def test_dial_tone_then_a_transformed_number_rings_the_other_unit(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    a, b = await dialling_pair(units, kamailios, tmp_path, pkis, caller={
        "EpServ.CallDtmfMapAllowed[1].DtmfMap": "1xxx",
        "EpServ.CallDtmfMapAllowed[1].DtmfTransformation": "555x",
    })
    wav = record(a, "dial.wav")
    out = await endpoint_action(a, "offhook")
    assert out["call"] is None
    line = epserv(a).line(EP)
    assert line is not None and line.earpiece.tone == "Dial"
    await asyncio.sleep(1.0)
    m = line.earpiece.measure()
    assert m.frequency is not None and min(abs(m.frequency - f) for f in (350.0, 440.0)) < 12, m
    assert EP in sipep(a).calls.off_hook  # an incoming call would be refused busy
    media = endpoint_action(a, "get-media")  # what the API's GET .../media and the CLI's listen show
    assert media["stream"] is None and media["local_tone"]["tone"] == "Dial"
    assert min(abs(media["local_tone"]["frequency"] - f) for f in (350.0, 440.0)) < 12, media
    listen = actions.find("get-media")
    assert listen is not None and listen.cli[0].show is not None
    assert "off-hook, hears the Dial tone" in listen.cli[0].show(media)
    record(a, "call.wav")  # the call's stream records there; the dial tone goes on into dial.wav until a key
    out = await endpoint_action(a, "press", digits="1001")
    assert [(o["kind"], o["number"], o["dialled"]) for o in out["outcomes"]] == [("call", "5551001", "1001")]
    cb = sipep(b).calls
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="the called line ringing")
    incoming = cb.current(EP)
    assert incoming is not None and incoming.local_uri.startswith("sip:5551001@")
    assert_tone_heard(wav, (350.0, 440.0), [])  # the dial tone, until the first key
    await cb.answer(EP)
    call = sipep(a).calls.current(EP)
    assert call is not None
    await wait_for(lambda: call.state == "connected", what="the caller connected")
    assert line.earpiece.tone is None  # the call's own audio
    await cb.hangup(EP)  # the far end hangs up; the caller's user still holds the handset: busy tone
    await wait_for(lambda: call.state == "ended", what="the caller's call ended by the BYE")
    await wait_for(lambda: line.earpiece.tone == "Busy", what="the busy tone")
    assert EP in sipep(a).calls.off_hook
    await endpoint_action(a, "hangup")
    assert epserv(a).line(EP) is None and line.earpiece.tone is None and EP not in sipep(a).calls.off_hook
    stats = {r["EpId"]: r for r in a.config.rows("EpServ.CallStatistics")}[EP]
    assert stats["OutgoingCallsAttempted"] == 1 and stats["OutgoingCallsConnected"] == 1 and stats["CallsDropped"] == 0
    called = {r["EpId"]: r for r in b.config.rows("EpServ.CallStatistics")}[EP]
    assert called["IncomingCallsReceived"] == 1 and called["IncomingCallsAnswered"] == 1


async def test_refused_number_reorder_hotline_and_activation_code(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    a, b = await dialling_pair(units, kamailios, tmp_path, pkis, caller={
        "EpServ.CallDtmfMapRefuse[1].Enable": "Enable",
        "EpServ.CallDtmfMapRefuse[1].DtmfMap": "9xx",
        "EpServ.DefaultForwardUnconditionalDtmfMapActivation": "*72x.T",
        "EpServ.DefaultCallWaitingDeactivationDtmfMap": "*70",
        "EpServ.DefaultCallWaitingActivationDtmfMap": "*71",
        "EpServ.DefaultCallWaitingCancelDtmfMap": "*69",
        "EpServ.DtmfMapTimeoutInterDtmf": 500,
    })
    # refused: 9xx matches a refused map (though x.T allows it): the reorder tone, no call
    wav = record(a, "reorder.wav")
    await endpoint_action(a, "offhook")
    out = await endpoint_action(a, "press", digits="912")
    assert [o["kind"] for o in out["outcomes"]] == ["refused"] and out["tone"] == "Reorder"
    await asyncio.sleep(2.0)
    assert sipep(a).calls.current(EP) is None
    await endpoint_action(a, "hangup")
    assert_tone_heard(wav, (480.0, 620.0), [250, 250])  # NorthAmerica1's reorder

    # allowed, but nobody there: the proxy answers 404 and the line, still off-hook, hears the reorder tone
    await endpoint_action(a, "offhook")
    out = await endpoint_action(a, "press", digits="5559999")
    line = epserv(a).line(EP)
    assert line is not None
    await wait_for(lambda: line.call_id is not None, what="the call placed on the inter-digit timeout")
    await wait_for(lambda: line.earpiece.tone == "Reorder", what="the reorder tone after the 404")
    ended = [c for c in sipep(a).calls.calls if c.id == line.call_id]
    assert ended and ended[0].status == 404, ended
    await endpoint_action(a, "hangup")

    # a service code: forward unconditional to 5551001, written through the configuration; the stutter tone
    await endpoint_action(a, "offhook")
    out = await endpoint_action(a, "press", digits="*725551001")
    await wait_for(lambda: a.config.get(f"EpServ.ForwardUnconditionalConfig[{EP}].Activation") == "Active",
                   what="the forwarding activated")
    assert a.config.get(f"EpServ.ForwardUnconditionalConfig[{EP}].ForwardingAddress") == "5551001"
    line = epserv(a).line(EP)
    assert line is not None and line.earpiece.tone == "Stutter"
    await endpoint_action(a, "hangup")

    # call waiting off by its code: the unit's own row, as every face shows it
    assert a.config.get(f"EpServ.CallWaitingUserConfig[{EP}].State") == "Active"
    await endpoint_action(a, "offhook")
    out = await endpoint_action(a, "press", digits="*70")
    assert [(o["kind"], o["service"], o["action"]) for o in out["outcomes"]] == \
        [("service", "CallWaiting", "Deactivation")] and out["tone"] == "Stutter"
    assert a.config.get(f"EpServ.CallWaitingUserConfig[{EP}].State") == "Inactive"
    await endpoint_action(a, "hangup")
    await endpoint_action(a, "offhook")
    await endpoint_action(a, "press", digits="*71")
    assert a.config.get(f"EpServ.CallWaitingUserConfig[{EP}].State") == "Active"
    await endpoint_action(a, "hangup")
    # the cancel code: call waiting off for the call dialled next, back on at on-hook
    await endpoint_action(a, "offhook")
    out = await endpoint_action(a, "press", digits="*69")
    assert out["tone"] == "Stutter" and a.config.get(f"EpServ.CallWaitingUserConfig[{EP}].State") == "Inactive"
    line = epserv(a).line(EP)
    assert line is not None and line.collector is not None and line.collector.done is None  # dial the call now
    await endpoint_action(a, "hangup")
    assert a.config.get(f"EpServ.CallWaitingUserConfig[{EP}].State") == "Active"

    # the dial action keeps its contract: the off-hook line's dialling gives way to it
    cb = sipep(b).calls
    await endpoint_action(a, "offhook")
    out = await endpoint_action(a, "dial", number="5551001")
    assert out["call"] is not None and epserv(a).line(EP) is None
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="dialled: ringing")
    await endpoint_action(a, "hangup")
    await wait_for(lambda: cb.current(EP) is None, what="the dialled call cancelled")

    # hotline: off-hook calls the target at once
    a.config.set("EpServ.DefaultAutoCallEnable", "Enable")
    a.config.set("EpServ.DefaultAutoCallTargetAddress", "5551001")
    await endpoint_action(a, "offhook")
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="the hotline target rings")
    await endpoint_action(a, "hangup")
    await wait_for(lambda: cb.current(EP) is None, what="the hotline call cancelled")


@pytest.mark.parametrize("country", sorted(TONES))
async def test_country_dial_ringback_and_busy_tones_heard_by_the_line(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, country: str) -> None:
    a, b = await dialling_pair(units, kamailios, tmp_path, pkis,
                               caller={"TelIf.CountrySelection": country, "SipEp.UacPrackSupport": "Supported",
                                       "EpServ.CallDtmfMapAllowed[1].DtmfMap": "5551001"},
                               called={"TelIf.CountrySelection": country, "SipEp.UasPrackSupport": "Supported"})
    tones = TONES[country]
    dial = record(a, "dial.wav")
    await endpoint_action(a, "offhook")
    await asyncio.sleep(1.5)
    await endpoint_action(a, "hangup")
    assert_tone_heard(dial, *tones["Dial"])

    ring = record(a, "ringback.wav")
    call = await dial_and_ring(a, b, "5551001")
    cb = sipep(b).calls
    await wait_for(lambda: call.state == "alerting" and bool(call.remote_sdp), what="early media")
    await asyncio.sleep((2 * sum(tones["Ringback"][1]) + 600) / 1000)
    busy = record(a, "busy.wav")  # the ringback recording ends here
    assert_tone_heard(ring, *tones["Ringback"])
    await cb.hangup(EP)  # the called line refuses: 486 Busy Here
    await wait_for(lambda: call.state == "ended", what="the caller's call ended")
    assert call.status == 486
    line = epserv(a).line(EP)
    assert line is not None and line.earpiece.tone == "Busy"
    await asyncio.sleep((2 * sum(tones["Busy"][1]) + 600) / 1000)
    await endpoint_action(a, "hangup")
    assert_tone_heard(busy, *tones["Busy"])


async def test_local_ringback_then_the_call_audio(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                 pkis: Pkis) -> None:
    a, b = await dialling_pair(units, kamailios, tmp_path, pkis,
                               caller={"TelIf.CountrySelection": "Uk1",
                                       "EpServ.CallDtmfMapAllowed[1].DtmfMap": "5551001"})
    sipep(b).calls.media.set_audio(EP, EndpointAudio(tones=(1000.0,), level_dbm0=-10))  # type: ignore[attr-defined]
    wav = record(a, "ringing.wav")
    call = await dial_and_ring(a, b, "5551001")
    cb = sipep(b).calls
    await wait_for(lambda: call.state == "alerting", what="180 Ringing")
    assert not call.remote_sdp  # no early media: the unit plays the ringback itself
    line = epserv(a).line(EP)
    assert line is not None
    await wait_for(lambda: line.earpiece.tone == "Ringback", what="the local ringback")
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.sleep(2 * 3.0 + 0.6)  # two cycles of Uk1's ringback (400 on, 200 off, 400 on, 2000 off)
    rang = loop.time() - began
    await cb.answer(EP)
    await wait_for(lambda: call.state == "connected", what="answered")
    assert line.earpiece.tone is None
    await asyncio.sleep(1.5)
    await endpoint_action(a, "hangup")
    assert_tone_heard(wav, (400.0, 450.0), [400, 200, 400, 2000], first_s=rang - 0.2)
    assert_tone_heard(wav, (1000.0,), [], skip_s=rang + 0.8)  # the far end's tone, in the same recording


async def test_second_call_dialled_after_a_flash(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                pkis: Pkis) -> None:
    a, b = await dialling_pair(units, kamailios, tmp_path, pkis, caller={
        "EpServ.CallDtmfMapAllowed[1].DtmfMap": "555100x"},
        called={"SipEp.UserAgent[Phone-Fax2].Username": "5551002", "SipEp.UserAgent[Phone-Fax2].Register": "Enable"})
    await wait_for(lambda: reg_state(b, 2) == "Registered", what="B's second line registered")
    ca, cb = sipep(a).calls, sipep(b).calls
    first = await dial_and_ring(a, b, "5551001")
    await cb.answer(EP)
    await wait_for(lambda: first.state == "connected", what="the first call connected")
    await endpoint_action(a, "flash")  # holds the call: dial tone for a second one
    line = epserv(a).line(EP)
    assert line is not None and line.second and line.earpiece.tone == "Dial"
    assert first.local_hold
    await asyncio.sleep(0.5)
    m = line.earpiece.measure()
    assert m.frequency is not None and min(abs(m.frequency - f) for f in (350.0, 440.0)) < 12, m
    out = await endpoint_action(a, "press", digits="5551002")
    assert [(o["kind"], o["number"]) for o in out["outcomes"]] == [("call", "5551002")]
    await wait_for(lambda: (c := cb.current("Phone-Fax2")) is not None and c.state == "ringing",
                   what="B's second line ringing")
    mine = [c for c in ca.calls if c.endpoint == EP and c.active]
    assert len(mine) == 2 and first in mine and first.state == "connected"
    await endpoint_action(a, "hangup")


async def test_target_host_and_direct_ip_bypass_the_proxy(units: list[Unit], kamailios: list[Kamailio],
                                                         tmp_path: Path, pkis: Pkis) -> None:
    k = start_kamailio(tmp_path / "kamailio", *pkis.server, {**USERS, **LINES})
    kamailios.append(k)
    b = await lab_unit(units, tmp_path, pkis, user="5551001", registrar=k.udp_address, tls=False,
                       settings={"SipEp.Authentication[1].Username": "", "SipEp.Authentication[1].Password": "linepw"})
    b_sip = b.listening["sip"]
    a = await lab_unit(units, tmp_path, pkis, user="alice", registrar=k.udp_address, tls=False, settings={
        "EpServ.CallDtmfMapAllowed[1].DtmfMap": "1001", "EpServ.CallDtmfMapAllowed[1].DtmfTransformation": "555x",
        "EpServ.CallDtmfMapAllowed[1].TargetHost": b_sip, "EpServ.DefaultCallAllowDirectIp": "Enable"})
    a.attach(EpServEngine(a))
    await a.stop_service("EpServ")
    await a.start_service("EpServ")
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    call = await dial_and_ring(a, b, "1001")
    incoming = sipep(b).calls.current(EP)
    assert incoming is not None and incoming.invite is not None
    assert incoming.local_uri.startswith(f"sip:5551001@{b_sip}")
    assert len(incoming.invite.headers.get_all("Via")) == 1  # straight from A: no proxy's Via
    assert call.target is not None and f"{call.target.host}:{call.target.port}" == b_sip
    await endpoint_action(a, "hangup")
    await wait_for(lambda: incoming.state == "ended", what="the direct call cancelled")

    # direct IP: the INVITE goes to the address dialled (B's port is the factory 5060 only if it is: the call's
    # target says where it went); B has no line for a Request-URI without a user and refuses it: reorder
    host, port = b_sip.split(":")
    await endpoint_action(a, "offhook")
    out = await endpoint_action(a, "press", digits=host.replace(".", "*") + "#")
    assert [(o["kind"], o["target_host"]) for o in out["outcomes"]] == [("direct_ip", host)]
    line = epserv(a).line(EP)
    assert line is not None
    await wait_for(lambda: line.call_id is not None, what="the direct IP call placed")
    direct = next(c for c in sipep(a).calls.calls if c.id == line.call_id)
    assert direct.target is not None and direct.target.host == host
    if port == "5060":
        await wait_for(lambda: line.earpiece.tone == "Reorder", what="refused by B: reorder")
    await endpoint_action(a, "hangup")

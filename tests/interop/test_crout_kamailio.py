"""The call router (CRout) with real peers: units registering over TLS to a Kamailio on 127.0.0.1.

* A call to a number reaches the FXS line of a 4102 that the CRout transformations and routes pick.
* A hunt rings Phone-Fax1, then Phone-Fax2 when Phone-Fax1 does not answer within the hunt's timeout.
* A call from one line of the unit to the other never leaves the unit: Kamailio sees no INVITE.
* A call no route matches is refused with cause 3, "No route to destination": 404 (RFC 3398) with
  ``Reason: Q.850;cause=3``; an ApplyConfig with a loop or a dangling hunt is refused with the reason and the
  routing in use still routes as before.

The called unit's lines register as numbers (5551001, 5551002), so that the Request-URI reaching it carries the
number the caller dialled.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.trace import SipTrace
from emulator.runtime.unit import Unit
from firmware_model.config import ConfigError
from testkit.kamailio import Kamailio, start_kamailio
from tests.interop.siplab import USERS, Pkis, lab_unit, reg_state, sipep, tones_heard_both_ways, wait_for

pytestmark = pytest.mark.peer

LINES = {"5551001": "linepw", "5551002": "linepw"}


async def routed_pair(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                      pkis: Pkis) -> tuple[Kamailio, Unit, Unit]:
    """Kamailio (TLS only), a caller 4102 (alice) and the 4102 under test, its lines registered as numbers; both
    route their calls through CRout."""
    k = start_kamailio(tmp_path / "kamailio", *pkis.server, {**USERS, **LINES}, tls_only=True)
    kamailios.append(k)
    caller = await lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address, routing=True)
    unit = await lab_unit(units, tmp_path, pkis, user="5551001", registrar=k.tls_address, routing=True, settings={
        "SipEp.Authentication[1].Username": "",  # each line authenticates as itself
        "SipEp.Authentication[1].Password": "linepw",
        "SipEp.UserAgent[Phone-Fax2].Username": "5551002",
        "SipEp.UserAgent[Phone-Fax2].Register": "Enable",
    })
    await wait_for(lambda: reg_state(caller) == "Registered" and reg_state(unit, 1) == "Registered"
                   and reg_state(unit, 2) == "Registered", what="the caller and both lines registered")
    return k, caller, unit


def configure(unit: Unit, routes: list[tuple[str, str, str, str, str]], **tables: list[dict[str, object]]) -> None:
    """User routes (sources, property, rule, destination, transformations) and other CRout rows, auto-routing off,
    then ``CRout.ApplyConfig``."""
    c = unit.config
    c.set("CRout.AutoRoutingEnable", "Disable")
    for table, rows in tables.items():
        for row in rows:
            c.add_row(f"CRout.{table}", row)
    for sources, prop, rule, destination, mappings in routes:
        c.add_row("CRout.Route", {"SourceCriteria": sources, "PropertiesCriteria": prop, "ExpressionCriteria": rule,
                                  "Destination": destination, "Mappings": mappings})
    assert unit.config.get("CRout.ConfigModifiedStatus") == "Yes"
    unit.commands["CRout.ApplyConfig"]()
    assert unit.config.get("CRout.ConfigModifiedStatus") == "No"


def configure_outgoing_hunt(unit: Unit, first: str, rewrite: str, **hunt: object) -> None:
    """Phone-Fax1's calls go to ``hunt-out``, a hunt of two route labels sending to sip-default:
    ``route-<first>`` with the called number rewritten into ``rewrite``, then ``route-good`` with it as dialled;
    ``hunt``: the Hunt row's other columns (Causes, Timeout)."""
    configure(unit, [("fxs-Phone-Fax1", "None", "", "hunt-out", ""),
                     (f"route-{first}", "None", "", "sip-default", first),
                     ("route-good", "None", "", "sip-default", "")],
              MappingType=[{"Name": first, "Criteria": "CalledE164", "Transformation": "CalledE164"}],
              MappingExpression=[{"Name": first, "Criteria": "<default>", "Transformation": rewrite}],
              Hunt=[{"Name": "out", "Destinations": f"route-{first}, route-good", **hunt}])


# The called number's last digit, through a transformation, picks the line: 5551001 -> 1 -> ... (crossed on
# purpose, so that the line is the router's choice and not the registration's).
CROSSED = dict(
    routes=[("sip-default", "CalledE164", "^555100[0-9]$", "route-extension", "extension"),
            ("route-extension", "CalledE164", "^1$", "fxs-Phone-Fax2", ""),
            ("route-extension", "CalledE164", "^2$", "fxs-Phone-Fax1", "")],
    MappingType=[{"Name": "extension", "Criteria": "CalledE164", "Transformation": "CalledE164"}],
    MappingExpression=[{"Name": "extension", "Criteria": "^555100([0-9])$", "Transformation": "\\1"}],
)


async def test_a_number_reaches_the_line_the_mappings_pick(units: list[Unit], kamailios: list[Kamailio],
                                                           tmp_path: Path, pkis: Pkis) -> None:
    _k, caller, unit = await routed_pair(units, kamailios, tmp_path, pkis)
    configure(unit, CROSSED["routes"], MappingType=CROSSED["MappingType"],
              MappingExpression=CROSSED["MappingExpression"])
    ca, cu = sipep(caller).calls, sipep(unit).calls
    for number, line in (("5551001", "Phone-Fax2"), ("5551002", "Phone-Fax1")):
        call = await ca.dial("Phone-Fax1", number)
        await wait_for(lambda line=line: (c := cu.current(line)) is not None and c.state == "ringing",
                       what=f"{line} ringing for {number}")
        other = "Phone-Fax1" if line == "Phone-Fax2" else "Phone-Fax2"
        assert cu.current(other) is None
        incoming = cu.current(line)
        assert incoming is not None and incoming.local_uri.startswith(f"sip:{number}@")
        await cu.answer(line)
        await wait_for(lambda call=call: call.state == "connected", what="the caller connected")
        await ca.hangup("Phone-Fax1")
        await wait_for(lambda incoming=incoming: incoming.state == "ended", what="the line hung up by the BYE")
    routes = [(r["Type"], r["Destination"]) for r in unit.config.rows("CRout.RouteStatus")]
    assert routes == [("User", "route-extension"), ("User", "fxs-Phone-Fax2"), ("User", "fxs-Phone-Fax1")]


async def test_hunt_rings_phone_fax1_then_phone_fax2(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                      pkis: Pkis) -> None:
    _k, caller, unit = await routed_pair(units, kamailios, tmp_path, pkis)
    configure(unit, [("sip-default", "CalledE164", "^5551001$", "hunt-lines", "")], Hunt=[
        {"Name": "lines", "Destinations": "fxs-Phone-Fax1, fxs-Phone-Fax2", "SelectionAlgorithm": "Sequential",
         "Timeout": 1}])
    ca, cu = sipep(caller).calls, sipep(unit).calls
    loop = asyncio.get_running_loop()
    call = await ca.dial("Phone-Fax1", "5551001")
    await wait_for(lambda: (c := cu.current("Phone-Fax1")) is not None and c.state == "ringing",
                   what="Phone-Fax1 ringing first")
    first = cu.current("Phone-Fax1")
    assert first is not None and cu.current("Phone-Fax2") is None
    rang_at = loop.time()
    await wait_for(lambda: (c := cu.current("Phone-Fax2")) is not None and c.state == "ringing",
                   what="Phone-Fax2 ringing once Phone-Fax1 rang out", timeout=4)
    assert loop.time() - rang_at >= 0.9  # the hunt's timeout: 1 s
    assert first.state is CallState.ENDED and first.end_reason == "hunt: no answer"
    assert call.state == "alerting"  # the caller still hears ringback, one call
    second = cu.current("Phone-Fax2")
    assert second is not None
    await cu.answer("Phone-Fax2")
    await wait_for(lambda: call.state == "connected", what="the caller connected to Phone-Fax2")
    assert call.dialog is not None and call.dialog.remote_tag == second.dialog.local_tag  # type: ignore[union-attr]
    await ca.hangup("Phone-Fax1")
    await wait_for(lambda: second.state == "ended", what="Phone-Fax2 hung up")


async def test_local_call_never_leaves_the_unit(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                pkis: Pkis) -> None:
    k, _caller, unit = await routed_pair(units, kamailios, tmp_path, pkis)
    configure(unit, [("fxs-Phone-Fax1", "CalledE164", "^2$", "fxs-Phone-Fax2", ""),
                     ("fxs-Phone-Fax1, fxs-Phone-Fax2", "None", "", "sip-default", ""),
                     ("sip-default", "CalledE164", "^5551002$", "fxs-Phone-Fax2", "")])
    assert "REQ REGISTER sip:127.0.0.1" in k.log()  # Kamailio logs each request it receives
    sent: list[SipTrace] = []
    transport = sipep(unit).transport
    assert transport is not None
    transport.taps.append(sent.append)
    cu = sipep(unit).calls
    call = await cu.dial("Phone-Fax1", "2")
    await wait_for(lambda: (c := cu.current("Phone-Fax2")) is not None and c.state == "ringing",
                   what="Phone-Fax2 ringing")
    await cu.answer("Phone-Fax2")
    assert call.state == "connected" and b"m=audio" in call.remote_sdp
    await cu.hangup("Phone-Fax1")
    assert cu.current("Phone-Fax2") is None
    assert not [t for t in sent if t.data.startswith(b"INVITE")]  # nothing left the unit for the call
    assert "REQ INVITE" not in k.log()
    remote = await cu.dial("Phone-Fax1", "5551002")  # any other number: through SIP, back to the unit
    await wait_for(lambda: (c := cu.current("Phone-Fax2")) is not None and c.state == "ringing",
                   what="Phone-Fax2 ringing through Kamailio")
    await cu.hangup("Phone-Fax1")
    await wait_for(lambda: remote.state == "ended", what="cancelled")
    assert "REQ INVITE sip:5551002@127.0.0.1" in k.log()


async def test_no_route_refused_with_cause_3_and_bad_configurations_refused(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    _k, caller, unit = await routed_pair(units, kamailios, tmp_path, pkis)
    configure(unit, [("sip-default", "CalledE164", "^5551001$", "fxs-Phone-Fax1", "")])
    received: list[SipTrace] = []
    transport = sipep(caller).transport
    assert transport is not None
    transport.taps.append(lambda t: received.append(t) if t.direction == "received" else None)
    ca, cu = sipep(caller).calls, sipep(unit).calls
    call = await ca.dial("Phone-Fax1", "5551002")  # registered, but no route takes it
    await wait_for(lambda: call.state == "ended", what="the refusal")
    assert call.status == 404 and cu.current("Phone-Fax2") is None
    refusal = next(t.data for t in received if t.data.startswith(b"SIP/2.0 404"))
    assert b'Reason: Q.850;cause=3;text="No route to destination"' in refusal

    c = unit.config
    before = c.rows("CRout.RouteStatus")
    c.add_row("CRout.Hunt", {"Name": "lines", "Destinations": "fxs-Phone-Fax2, hunt-lines"})
    c.set("CRout.Route[1].Destination", "hunt-lines")
    with pytest.raises(ConfigError, match=r"CRout.Hunt\[1\]: loop: hunt-lines -> hunt-lines"):
        unit.commands["CRout.ApplyConfig"]()
    c.set("CRout.Hunt[1].Destinations", "fxs-Phone-Fax2, hunt-spare")
    with pytest.raises(ConfigError, match=r"the routing in use is unchanged: .*no hunt is named spare"):
        unit.commands["CRout.ApplyConfig"]()
    assert c.rows("CRout.RouteStatus") == before and c.get("CRout.ConfigModifiedStatus") == "Yes"
    call = await ca.dial("Phone-Fax1", "5551001")  # still routed by the configuration in use
    await wait_for(lambda: (i := cu.current("Phone-Fax1")) is not None and i.state == "ringing",
                   what="Phone-Fax1 ringing as before")
    await ca.hangup("Phone-Fax1")
    await wait_for(lambda: call.state == "ended", what="cancelled")


async def test_local_call_carries_each_lines_audio(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                   pkis: Pkis) -> None:
    """A local call on a unit with its media engine (SRTP keyed by SDES): each line hears the other's tone."""
    k = start_kamailio(tmp_path / "kamailio", *pkis.server, USERS, tls_only=True)
    kamailios.append(k)
    unit = await lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address, key_management="Sdes",
                          routing=True)
    configure(unit, [("fxs-Phone-Fax1", "CalledE164", "^2$", "fxs-Phone-Fax2", "")])
    cu = sipep(unit).calls
    call = await cu.dial("Phone-Fax1", "2")
    incoming = cu.current("Phone-Fax2")
    assert incoming is not None and incoming.state == "ringing"
    await cu.answer("Phone-Fax2")
    assert call.state == "connected" and b"a=crypto:" in call.local_sdp
    await tones_heard_both_ways(call, incoming, "each line hears the other's tone")
    await cu.hangup("Phone-Fax2")
    assert call.state == "ended" and call.end_reason == "remote hangup"
    assert "REQ INVITE" not in k.log()


async def test_sip_redirect_and_simultaneous_hunt(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                  pkis: Pkis) -> None:
    _k, caller, unit = await routed_pair(units, kamailios, tmp_path, pkis)
    configure(unit, [("sip-default", "CalledE164", "^5551002$", "SipRedirect-office", ""),
                     ("sip-default", "CalledE164", "^5551001$", "hunt-all", "")],
              SipRedirect=[{"Name": "office", "DestinationHost": "192.0.2.9:5060"}],
              Hunt=[{"Name": "all", "Destinations": "fxs-Phone-Fax1, fxs-Phone-Fax2",
                     "SelectionAlgorithm": "Simultaneous"}])
    received: list[SipTrace] = []
    transport = sipep(caller).transport
    assert transport is not None
    transport.taps.append(lambda t: received.append(t) if t.direction == "received" else None)
    ca, cu = sipep(caller).calls, sipep(unit).calls
    moved = await ca.dial("Phone-Fax1", "5551002")
    await wait_for(lambda: moved.state == "ended", what="the redirect")
    assert moved.status == 302 and cu.current("Phone-Fax2") is None
    redirect = next(t.data for t in received if t.data.startswith(b"SIP/2.0 302"))
    assert b"Contact: <sip:5551002@192.0.2.9:5060>" in redirect

    call = await ca.dial("Phone-Fax1", "5551001")
    await wait_for(lambda: all((c := cu.current(ep)) is not None and c.state == "ringing"
                               for ep in ("Phone-Fax1", "Phone-Fax2")), what="both lines ringing at once")
    first = cu.current("Phone-Fax1")
    assert first is not None
    await cu.answer("Phone-Fax2")
    await wait_for(lambda: call.state == "connected", what="the caller connected to Phone-Fax2")
    await wait_for(lambda: first.state == "ended", what="Phone-Fax1 stops ringing")
    assert first.end_reason == "answered elsewhere" and cu.current("Phone-Fax1") is None
    await ca.hangup("Phone-Fax1")
    await wait_for(lambda: cu.current("Phone-Fax2") is None, what="Phone-Fax2 hung up")


async def test_outgoing_hunt_moves_on_a_cause_of_its_list(units: list[Unit], kamailios: list[Kamailio],
                                                          tmp_path: Path, pkis: Pkis) -> None:
    """A line calls a hunt of two route labels: the first rewrites the number into one Kamailio does not know
    (404, cause 1, one of the hunt's causes), the second sends it as dialled; the called unit's line rings."""
    k, caller, unit = await routed_pair(units, kamailios, tmp_path, pkis)
    configure_outgoing_hunt(caller, "bad", "9999", Causes="1")
    ca, cu = sipep(caller).calls, sipep(unit).calls
    first = await ca.dial("Phone-Fax1", "5551001")
    await wait_for(lambda: (c := cu.current("Phone-Fax1")) is not None and c.state == "ringing",
                   what="the called line ringing through the hunt's second destination")
    assert first.state == "ended" and first.status == 404 and first.end_reason == "hunt: 404 Not Found (cause 1)"
    second = ca.current("Phone-Fax1")
    assert second is not None and second is not first and second.remote_uri.startswith("sip:5551001@")
    log = k.log()
    assert log.index("REQ INVITE sip:9999@") < log.index("REQ INVITE sip:5551001@")
    await cu.answer("Phone-Fax1")
    await wait_for(lambda: second.state == "connected", what="connected")
    await ca.hangup("Phone-Fax1")
    await wait_for(lambda: cu.current("Phone-Fax1") is None, what="hung up")


async def test_outgoing_hunt_moves_on_after_its_timeout(units: list[Unit], kamailios: list[Kamailio],
                                                        tmp_path: Path, pkis: Pkis) -> None:
    """The hunt's first destination rings the called unit's Phone-Fax2, which does not answer: after the hunt's
    timeout (1 s) the call is cancelled there and goes on to Phone-Fax1."""
    _k, caller, unit = await routed_pair(units, kamailios, tmp_path, pkis)
    configure_outgoing_hunt(caller, "slow", "5551002", Timeout=1)
    ca, cu = sipep(caller).calls, sipep(unit).calls
    first = await ca.dial("Phone-Fax1", "5551001")
    await wait_for(lambda: (c := cu.current("Phone-Fax2")) is not None and c.state == "ringing",
                   what="the first destination ringing")
    slow = cu.current("Phone-Fax2")
    assert slow is not None
    await wait_for(lambda: (c := cu.current("Phone-Fax1")) is not None and c.state == "ringing", timeout=6,
                   what="the second destination ringing after the timeout")
    assert first.end_reason == "hunt: no answer" and slow.end_reason == "cancelled by the caller"
    await ca.hangup("Phone-Fax1")
    await wait_for(lambda: cu.current("Phone-Fax1") is None, what="cancelled")


async def test_cyclic_hunt_starts_one_further_at_each_call(units: list[Unit], kamailios: list[Kamailio],
                                                           tmp_path: Path, pkis: Pkis) -> None:
    _k, caller, unit = await routed_pair(units, kamailios, tmp_path, pkis)
    configure(unit, [("sip-default", "CalledE164", "^5551001$", "hunt-lines", "")], Hunt=[
        {"Name": "lines", "Destinations": "fxs-Phone-Fax1, fxs-Phone-Fax2", "SelectionAlgorithm": "Cyclic"}])
    ca, cu = sipep(caller).calls, sipep(unit).calls
    rang = []
    for _ in range(3):
        call = await ca.dial("Phone-Fax1", "5551001")
        await wait_for(lambda: any((c := cu.current(ep)) is not None and c.state == "ringing"
                                   for ep in ("Phone-Fax1", "Phone-Fax2")), what="a line ringing")
        line = next(ep for ep in ("Phone-Fax1", "Phone-Fax2") if cu.current(ep) is not None)
        rang.append(line)
        await ca.hangup("Phone-Fax1")
        await wait_for(lambda call=call, line=line: call.state == "ended" and cu.current(line) is None,
                       what="cancelled")
    assert rang == ["Phone-Fax1", "Phone-Fax2", "Phone-Fax1"]


async def test_each_call_keeps_the_signaling_properties_of_its_route(units: list[Unit], kamailios: list[Kamailio],
                                                                     tmp_path: Path, pkis: Pkis) -> None:
    """The caller's route sends the INVITE straight to its signaling properties' DestinationHost (Kamailio
    here); the called unit's route names signaling properties too; each call carries its route's."""
    k, caller, unit = await routed_pair(units, kamailios, tmp_path, pkis)
    for u, name, values in ((caller, "direct", {"DestinationHost": k.tls_address}),
                            (unit, "early", {"EarlyConnect": "Enable", "Allow183NoSdp": "Disable"})):
        u.config.add_row("CRout.SignalingProperties", {"Name": name, **values})
    caller.config.add_row("CRout.Route", {"SourceCriteria": "fxs-Phone-Fax1", "Destination": "sip-default",
                                          "SignalingProperties": "direct"})
    unit.config.add_row("CRout.Route", {"SourceCriteria": "sip-default", "PropertiesCriteria": "CalledE164",
                                        "ExpressionCriteria": "^5551001$", "Destination": "fxs-Phone-Fax1",
                                        "SignalingProperties": "early"})
    for u in (caller, unit):
        u.config.set("CRout.AutoRoutingEnable", "Disable")
        u.commands["CRout.ApplyConfig"]()
    ca, cu = sipep(caller).calls, sipep(unit).calls
    call = await ca.dial("Phone-Fax1", "5551001")
    await wait_for(lambda: (c := cu.current("Phone-Fax1")) is not None and c.state == "ringing", what="ringing")
    incoming = cu.current("Phone-Fax1")
    assert incoming is not None and ca.routing is not None and cu.routing is not None
    assert call.invite is not None and str(call.invite.uri) == f"sip:5551001@{k.tls_address}"
    out, into = ca.routing.signaling(call), cu.routing.signaling(incoming)
    assert out is not None and out.destination_host == k.tls_address
    assert into is not None and into.early_connect and not into.allow_183_no_sdp and into.allow_180_sdp
    await ca.hangup("Phone-Fax1")
    await wait_for(lambda: incoming.state == "ended", what="cancelled")
    assert cu.routing.signaling(incoming) is None  # forgotten with the call

"""The CRout engine on a unit (engines/crout/engine.py): staged configuration and ApplyConfig, status tables,
row commands, the factory's auto-routing, and local calls between two lines (no network: plain audio)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulator.engines.aaa import AuthResult
from emulator.engines.crout.engine import CRoutEngine
from emulator.engines.nlm import NlmEngine
from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.engine import SipEpEngine
from emulator.engines.sipep.offer_answer import CallError
from emulator.engines.sipep.routing import incoming_properties
from emulator.faces.cli.shell import CliShell
from emulator.lab import build_unit
from emulator.protocols.crout import CallProperties, Leg, Refusal
from emulator.protocols.sip.message import Request, parse_message
from emulator.runtime.spec import UnitSpec
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.config import ConfigError
from firmware_model.profiles import get_profile
from firmware_model.script import run_script


async def crout_unit(tmp_path: Path, profile: str = "4102") -> tuple[Unit, CRoutEngine, SipEpEngine]:
    u = Unit(name="r", profile=get_profile(profile), state_dir=tmp_path / profile, host="127.0.0.2",
             ports=PortPolicy(mode="auto"), fsync=False)
    nlm = NlmEngine(u)
    u.attach(nlm)
    u.nlm = nlm
    sipep = SipEpEngine(u)  # not started: its call layer is all the local calls need
    crout = CRoutEngine(u, sipep.calls)
    u.attach(crout)
    u.config.set("CRout.MinSeverity", "Info")
    await crout.start()
    return u, crout, sipep


def user_route(u: Unit, sources: str, destination: str, prop: str = "None", rule: str = "") -> int:
    return int(u.config.add_row("CRout.Route", {"SourceCriteria": sources, "PropertiesCriteria": prop,
                                                "ExpressionCriteria": rule, "Destination": destination})[0])


async def test_factory_unit_auto_routes_by_user_name(tmp_path: Path) -> None:
    u, crout, _ = await crout_unit(tmp_path)
    c = u.config
    c.set("SipEp.UserAgent[Phone-Fax2].Username", "bob")  # followed without ApplyConfig: not CRout configuration
    await asyncio.sleep(0)  # the status columns follow once the loop turns (routing follows at once: see below)
    assert c.get("CRout.AutoRoutingEnable") == "Enable" and c.get("CRout.ConfigModifiedStatus") == "No"
    assert c.get("CRout.AutoRouting[Phone-Fax2].SipUsername") == "bob"
    assert [r["Name"] for r in c.rows("CRout.InterfaceStatus")] == ["sip-default", "fxs-Phone-Fax1",
                                                                    "fxs-Phone-Fax2"]
    routes = [(r["Type"], r["SourceCriteria"], r["ExpressionCriteria"], r["Destination"])
              for r in c.rows("CRout.RouteStatus")]
    assert ("Auto", "sip-default", "^bob$", "fxs-Phone-Fax2") in routes
    assert ("Auto", "fxs-Phone-Fax2", "", "sip-default") in routes
    leg = crout.route("sip-default", CallProperties({"CalledSipUsername": "bob"}))
    assert isinstance(leg, Leg) and leg.interface == "fxs-Phone-Fax2"
    by_id = crout.route("sip-default", CallProperties({"CalledSipUsername": "Phone-Fax1"}))  # no Username: its EpId
    assert isinstance(by_id, Leg) and by_id.interface == "fxs-Phone-Fax1"
    assert isinstance(crout.route("sip-default", CallProperties({"CalledSipUsername": "Phone-Fax2"})), Refusal)
    c740, crout740, _ = await crout_unit(tmp_path, "C740")  # the ports of a C740 are auto-routable at the factory
    assert crout740.line_interface("Bri1") == "isdn-Bri1"
    assert ("Auto", "isdn-Bri1", "", "sip-default") in [
        (r["Type"], r["SourceCriteria"], r["ExpressionCriteria"], r["Destination"])
        for r in c740.config.rows("CRout.RouteStatus")]


async def test_edits_wait_for_apply_config(tmp_path: Path) -> None:
    u, crout, _ = await crout_unit(tmp_path)
    c = u.config
    c.set("CRout.AutoRoutingEnable", "Disable")
    index = user_route(u, "sip-default", "fxs-Phone-Fax1", "CalledE164", "^1001$")
    assert c.get("CRout.ConfigModifiedStatus") == "Yes"
    assert all(r["Type"] == "Auto" for r in c.rows("CRout.RouteStatus"))  # still the routing in use
    await asyncio.sleep(0)  # each row's ConfigStatus follows once the loop turns
    assert c.get(f"CRout.Route[{index}].ConfigStatus") == "Valid"
    assert "3 routes" not in u.commands["CRout.ApplyConfig"]()
    assert c.get("CRout.ConfigModifiedStatus") == "No"
    assert [(r["Type"], r["Destination"]) for r in c.rows("CRout.RouteStatus")] == [("User", "fxs-Phone-Fax1")]
    assert isinstance(crout.route("sip-default", CallProperties({"CalledE164": "1001"})), Leg)
    assert isinstance(crout.route("sip-default", CallProperties({"CalledE164": "1002"})), Refusal)
    assert any(e.service == "CRout" and e.msg_id == 9001 for e in u.notifications)


@pytest.mark.parametrize(("rows", "words"), [
    ({"CRout.Hunt": {"Name": "lines", "Destinations": "fxs-Phone-Fax1, hunt-lines"}},
     "CRout.Hunt[1]: loop: hunt-lines -> hunt-lines"),
    ({"CRout.Hunt": {"Name": "lines", "Destinations": "fxs-Phone-Fax1, hunt-spare"}},
     "CRout.Hunt[1]: destination hunt-spare: no hunt is named spare"),
])
async def test_apply_config_refuses_loops_and_dangling_hunts(tmp_path: Path, rows: dict[str, dict[str, str]],
                                                            words: str) -> None:
    u, _, _ = await crout_unit(tmp_path)
    c = u.config
    before = c.rows("CRout.RouteStatus")
    for table, values in rows.items():
        c.add_row(table, values)
    user_route(u, "sip-default", "hunt-lines")
    await asyncio.sleep(0)
    assert str(c.get("CRout.Hunt[1].ConfigStatus")) == words.split(": ", 1)[1]  # the row says what is wrong
    with pytest.raises(ConfigError) as err:
        u.commands["CRout.ApplyConfig"]()
    assert "the routing in use is unchanged" in err.value.message and words in err.value.message
    assert c.rows("CRout.RouteStatus") == before and c.get("CRout.ConfigModifiedStatus") == "Yes"
    assert any(e.service == "CRout" and e.msg_id == 9002 and words in e.message for e in u.notifications)


async def test_row_commands_move_and_insert_routes(tmp_path: Path) -> None:
    u, _, _ = await crout_unit(tmp_path)
    c = u.config
    for dest in ("fxs-Phone-Fax1", "fxs-Phone-Fax2", "sip-default"):
        user_route(u, "fxs-Phone-Fax1", dest)

    def order() -> list[str]:
        return [str(r["Destination"]) for r in c.rows("CRout.Route")]

    c.set("CRout.Route.Down[Index=1]", "Down")
    assert order() == ["fxs-Phone-Fax2", "fxs-Phone-Fax1", "sip-default"]
    c.set("CRout.Route.Up[Index=3]", "Up")
    assert order() == ["fxs-Phone-Fax2", "sip-default", "fxs-Phone-Fax1"]
    c.set("CRout.Route.Up[Index=1]", "Up")  # the first row stays first
    assert order() == ["fxs-Phone-Fax2", "sip-default", "fxs-Phone-Fax1"]
    c.set("CRout.Route.Insert[Index=2]", "Insert")
    assert order() == ["fxs-Phone-Fax2", "", "sip-default", "fxs-Phone-Fax1"]
    await asyncio.sleep(0)
    assert c.get("CRout.Route[2].ConfigStatus") == "the route has no source; no destination"


async def test_local_call_between_two_lines(tmp_path: Path) -> None:
    u, _, sipep = await crout_unit(tmp_path)
    c = u.config
    c.set("CRout.AutoRoutingEnable", "Disable")
    user_route(u, "fxs-Phone-Fax1", "fxs-Phone-Fax2", "CalledE164", "^2$")
    u.commands["CRout.ApplyConfig"]()
    calls = sipep.calls
    caller = await calls.dial("Phone-Fax1", "2")
    callee = calls.current("Phone-Fax2")
    assert callee is not None and callee.state is CallState.RINGING and caller.state is CallState.ALERTING
    await calls.answer("Phone-Fax2")
    assert caller.state is CallState.CONNECTED and callee.state is CallState.CONNECTED
    assert b"m=audio" in caller.remote_sdp and caller.remote_sdp == callee.local_sdp
    await calls.hangup("Phone-Fax2")
    assert not caller.active and caller.end_reason == "remote hangup" and callee.end_reason == "local hangup"
    refused = await calls.dial("Phone-Fax1", "3")  # only 2 has a route
    assert not refused.active and refused.status == 404 and "cause 3" in refused.end_reason
    c.set("CRout.AutoRoutingEnable", "Enable")
    u.commands["CRout.ApplyConfig"]()
    with pytest.raises(CallError, match="gateway default is not running"):
        await calls.dial("Phone-Fax1", "3")  # now the auto route to SIP, and SipEp is not running here
    await calls.offhook("Phone-Fax2")
    busy = await calls.dial("Phone-Fax1", "2")  # Phone-Fax2 is off-hook
    assert busy.status == 486 and not busy.active and calls.current("Phone-Fax2") is None


async def test_cli_and_scripts_reach_the_tables_and_apply_config(tmp_path: Path) -> None:
    u, crout, _ = await crout_unit(tmp_path)
    sh = CliShell(u, AuthResult(True, "public", "Admin"))
    reply = sh.execute('CRout.Hunt.Name[Index=1] = "lines"')
    assert reply.ok, reply.output
    assert sh.execute('CRout.Hunt.Destinations[Index=1] = "fxs-Phone-Fax1, hunt-lines"').ok
    assert not sh.execute('CRout.Route.ExpressionCriteria[Index=1] = "(?i)bob"').ok  # refused at set time
    refused = sh.execute("crout.applyconfig")
    assert not refused.ok and "CRout.Hunt[1]: loop: hunt-lines -> hunt-lines" in refused.output
    assert "CRout.ApplyConfig" in sh.execute("help CRout.ApplyConfig").output
    script = 'CRout.Hunt.Destinations[Index=1] = "fxs-Phone-Fax1, fxs-Phone-Fax2"\nCRout.ApplyConfig\n'
    result = run_script(u.config, script, commands=u.commands)
    assert result.ok, [(ln.text, ln.error) for ln in result.errors]
    assert [r["Destinations"] for r in u.config.rows("CRout.HuntStatus")] == ["fxs-Phone-Fax1, fxs-Phone-Fax2"]
    assert u.config.get("CRout.ConfigModifiedStatus") == "No" and crout.router.table.hunts["lines"].timeout == 0


async def test_start_puts_the_stored_configuration_in_use_when_valid(tmp_path: Path) -> None:
    u, crout, _ = await crout_unit(tmp_path)
    c = u.config
    c.set("CRout.AutoRoutingEnable", "Disable")
    user_route(u, "sip-default", "fxs-Phone-Fax1")
    assert c.get("CRout.ConfigModifiedStatus") == "Yes"
    await crout.stop()
    assert isinstance(crout.route("sip-default", CallProperties()), Refusal)  # a stopped service routes nothing
    await crout.start()  # a restart of the service (or of the unit) applies what is stored
    assert c.get("CRout.ConfigModifiedStatus") == "No"
    assert isinstance(leg := crout.route("sip-default", CallProperties()), Leg) and leg.interface == "fxs-Phone-Fax1"
    c.set("CRout.Route[1].Destination", "hunt-gone")
    await crout.stop()
    await crout.start()  # not valid: no route in use until a valid configuration is applied
    assert c.rows("CRout.RouteStatus") == [] and c.get("CRout.ConfigModifiedStatus") == "Yes"
    assert isinstance(crout.route("sip-default", CallProperties()), Refusal)
    assert any(e.service == "CRout" and e.msg_id == 9002 and "no hunt is named gone" in e.message
               for e in u.notifications)


def test_incoming_properties_from_the_request() -> None:
    invite = parse_message(
        b"INVITE sip:+15145551001@gw.example:5070;user=phone;phone-context=example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: \"Alice A\" <sip:alice@192.0.2.1>;tag=1\r\n"
        b"To: <sip:+15145551001@gw.example>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nPrivacy: id\r\n"
        b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(invite, Request)
    props = incoming_properties(invite).as_dict()
    assert props == {
        "CalledSipUsername": "+15145551001", "CalledE164": "+15145551001", "CalledHost": "gw.example:5070",
        "CalledUri": "sip:+15145551001@gw.example:5070;user=phone;phone-context=example.com",
        "CalledPhoneContext": "example.com", "CallingSipUsername": "alice", "CallingHost": "192.0.2.1",
        "CallingUri": "sip:alice@192.0.2.1", "CallingName": "Alice A", "CallingSipPrivacy": "id"}


async def test_a_lab_units_first_boot_script_configures_and_applies_routing(tmp_path: Path) -> None:
    script = ('CRout.AutoRoutingEnable = Disable\nCRout.Route.SourceCriteria[Index=1] = "sip-default"\n'
              'CRout.Route.Destination[Index=1] = "fxs-Phone-Fax2"\nCRout.ApplyConfig\n')
    running = build_unit(UnitSpec(name="lab", state_dir=tmp_path / "lab", port_mode="auto", fsync=False,
                                  api_port=0, script=script))
    await running.start()
    try:
        c = running.unit.config
        assert [(r["Type"], r["Destination"]) for r in c.rows("CRout.RouteStatus")] == [("User", "fxs-Phone-Fax2")]
        assert c.get("CRout.ConfigModifiedStatus") == "No"
        sipep = running.unit.services["SipEp"].engine
        assert isinstance(sipep, SipEpEngine) and sipep.calls.routing is not None  # the lab wires the router in
    finally:
        await running.stop()

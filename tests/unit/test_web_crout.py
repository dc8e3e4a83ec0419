"""The Call Router, Telephony and POTS pages (issue 16, item 5), through the aiohttp client against a started unit
with its call router (the CRout engine): tables listed with the vendor's labels; rows added, edited, moved and
deleted; a field that names rows of another table is a list of the rows that exist; "Apply Config" runs
``CRout.ApplyConfig`` (``Configuration Modified Status`` Yes, then No; a refused configuration shows the engine's
reason and the routing in use stays); values go through the model's validation (a refused one shows its
message and changes nothing); values the emulator stores without acting on are marked; an Observer changes
nothing, with the words every face uses."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from markupsafe import escape

from emulator.engines.aaa import Aaa
from emulator.engines.crout.engine import CRoutEngine
from emulator.ops.policy import Forbidden, check_right
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.behaviour import load_behaviour
from firmware_model.profiles import get_profile
from firmware_model.schema import load_catalog
from tests.unit.web_env import Env, web_env
from web_ui.app import WebEngine
from web_ui.pages import MENU, PAGES, page_by_path
from web_ui.pages_telephony import CALL_ROUTER_PAGES, POTS_PAGES, TELEPHONY_PAGES
from web_ui.references import REFERENCES

ROUTES = "/Call_Router/Route_Config"
MAPPINGS = "/Call_Router/Mappings"
HUNT = "/Call_Router/Hunt"
SIGNALING = "/Call_Router/Signaling_Properties"
STATUS = "/Call_Router/Status"
AUTO = "/Call_Router/Auto-routing"


def crout(unit: Unit) -> None:
    unit.attach(CRoutEngine(unit))


ACCOUNTS = {"bob": ("bobpass1", "User"), "olga": ("olgapass", "Observer")}  # beside the factory Admin "public"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for e in web_env(tmp_path, attach=crout):
        for name, (password, rights) in ACCOUNTS.items():
            e.unit.config.add_row("Aaa.Users", {"UserName": name, "Password": password, "AccessRights": rights})
        yield e


async def post(env: Env, path: str, action: str, fields: dict[str, str] | list[tuple[str, str]] | None = None
               ) -> tuple[int, str]:
    token = await env.csrf(path)
    items = list(fields.items()) if isinstance(fields, dict) else list(fields or [])
    status, html, _ = await env.post(path, [("csrf", token), ("action", action), *items])
    return status, html


def select(html: str, name: str) -> tuple[list[str], list[str], bool]:
    """(options, selected, multiple) of the list named ``name``."""
    m = re.search(rf'<select name="{re.escape(str(escape(name)))}"( multiple)?[^>]*>(.*?)</select>', html, re.S)
    assert m is not None, name
    opts = re.findall(r"<option( selected)?>([^<]*)</option>", m.group(2))
    return ([htmllib.unescape(o) for _, o in opts], [htmllib.unescape(o) for s, o in opts if s], bool(m.group(1)))


def modified(html: str) -> str:
    m = re.search(r'<th>Configuration Modified Status</th><td><span class="field[^"]*">\s*<span class="ro">([^<]*)<',
                  html)
    assert m is not None
    return m.group(1)


def marks(html: str) -> dict[str, str]:
    """Every input of the page -> its behaviour mark ("" when none)."""
    out = {}
    for chunk in html.split('<span class="field')[1:]:
        name = re.search(r' name="([^"]+)"', chunk)
        if name is not None:
            mark = re.search(r'<abbr class="mark mark-(\w+)"', chunk.split('<span class="field')[0])
            out[htmllib.unescape(name.group(1))] = mark.group(1) if mark else ""
    return out


def flashes(html: str) -> list[str]:
    return [htmllib.unescape(t) for t in re.findall(r'<div class="flash[^"]*"[^>]*>([^<]*)</div>', html)]


def test_menu_and_pages() -> None:
    menus = dict(MENU)
    assert [p.name for p in menus["Call Router"]] == ["Status", "Route Config", "Mappings", "Hunt",
                                                      "Signaling Properties", "Auto-routing"]
    assert [p.name for p in menus["Telephony"]] == ["Services", "Call Forward", "DTMF Maps", "Tones", "Misc"]
    assert [p.name for p in menus["POTS"]] == ["Config"]
    assert set(CALL_ROUTER_PAGES + TELEPHONY_PAGES + POTS_PAGES) <= set(PAGES)
    assert page_by_path(AUTO) is not None and page_by_path("/Telephony/DTMF_Maps") is not None


def test_the_pots_menu_on_units_with_fxs_lines_only(tmp_path: Path) -> None:
    for key, pots in (("4102", True), ("C740", False), ("3621", False)):
        unit = Unit(name=key, profile=get_profile(key), state_dir=tmp_path / key, ports=PortPolicy(mode="auto"),
                    fsync=False)
        menus = [m for m, _ in WebEngine(unit, Aaa(unit)).menu]
        assert ("POTS" in menus) == pots and {"Telephony", "Call Router"} <= set(menus), key


async def test_a_page_the_model_has_not_is_not_found(tmp_path: Path) -> None:
    async for e in web_env(tmp_path, attach=crout):
        e.unit.profile = get_profile("C740")  # as if the unit were a C740: its web face has no POTS page
        await e.login()
        assert (await e.get("/POTS/Config"))[0] == 404
        assert (await e.get("/Telephony/Services"))[0] == 200


def test_references_name_real_parameters_and_text_values() -> None:
    cat = load_catalog()
    for name in REFERENCES:
        p = cat.param(name)
        assert p is not None and p.writable and p.type.kind == "string", name


async def test_every_page_renders_for_each_right(env: Env) -> None:
    for user, password in (("public", ""), ("bob", "bobpass1"), ("olga", "olgapass")):
        await env.login(user, password)
        for page in CALL_ROUTER_PAGES + TELEPHONY_PAGES + POTS_PAGES:
            status, html = await env.get(page.path)
            assert status == 200, (user, page.path)
            assert f"<h1>{page.title}</h1>" in html
            for sec in page.sections:
                assert f"<h2>{sec.title}</h2>" in html
            assert ('value="crout:apply"' in html) == (page.menu == "Call Router" and user != "olga")


async def test_route_config_lists_the_rows_that_exist(env: Env) -> None:
    await env.login()
    _, html = await env.get(ROUTES)
    for label in ("Index", "Sources", "Criteria Property", "Criteria Rule", "Destination", "Transformations",
                  "Signaling Properties", "Config Status"):
        assert f"<th>{label}</th>" in html, label
    sources, chosen, multiple = select(html, "add.SourceCriteria")
    assert multiple and chosen == [] and sources == ["sip-default", "fxs-Phone-Fax1", "fxs-Phone-Fax2"]
    destinations, _, multiple = select(html, "add.Destination")
    assert not multiple and destinations == ["", "sip-default", "fxs-Phone-Fax1", "fxs-Phone-Fax2"]
    assert select(html, "add.Mappings")[0] == [] and select(html, "add.SignalingProperties")[0] == [""]
    # rows of the other tables appear in the lists once they exist
    c = env.unit.config
    c.add_row("CRout.MappingType", {"Name": "ext", "Criteria": "CalledE164", "Transformation": "CalledE164"})
    c.add_row("CRout.Hunt", {"Name": "lines", "Destinations": "fxs-Phone-Fax1,fxs-Phone-Fax2"})
    c.add_row("CRout.SipRedirect", {"Name": "away", "DestinationHost": "192.0.2.9"})
    c.add_row("CRout.SignalingProperties", {"Name": "sp1"})
    c.add_row("CRout.Route", {"SourceCriteria": "sip-default", "Destination": "route-inside"})
    _, html = await env.get(ROUTES)
    assert select(html, "add.Destination")[0] == ["", "sip-default", "fxs-Phone-Fax1", "fxs-Phone-Fax2",
                                                  "hunt-lines", "SipRedirect-away", "route-inside"]
    assert select(html, "add.SourceCriteria")[0][-1] == "route-inside"
    assert select(html, "add.Mappings")[0] == ["ext"] and select(html, "add.SignalingProperties")[0] == ["", "sp1"]
    # an existing row: its values selected
    assert select(html, "CRout.Route[1].SourceCriteria")[1] == ["sip-default"]
    assert select(html, "CRout.Route[1].Destination")[1] == ["route-inside"]
    _, html = await env.get(MAPPINGS)
    assert select(html, "add.Name")[0] == ["", "ext"] and select(html, "add.SubMappings")[0] == ["ext"]
    _, html = await env.get(HUNT)
    assert select(html, "CRout.Hunt[1].Destinations")[1] == ["fxs-Phone-Fax1", "fxs-Phone-Fax2"]
    # other pages: the SIP gateway of a user agent, a gateway's network interface
    _, html = await env.get("/SIP/Registrations")
    assert select(html, "SipEp.UserAgent[\"Phone-Fax1\"].GatewayName")[0] == ["", "all", "default"]
    _, html = await env.get("/SIP/Gateways")
    assert select(html, "add.NetworkInterface")[0] == ["", "Uplink", "Lan1"]
    _, html = await env.get(AUTO)
    assert select(html, "CRout.AutoRouting[\"Phone-Fax1\"].AutoRoutingGateway")[0] == ["default"]
    assert select(html, "CRout.AutoRoutingIncomingMappings")[0] == ["ext"]


async def test_add_edit_move_delete_and_apply(env: Env) -> None:
    await env.login()
    c = env.unit.config
    _, html = await env.get(ROUTES)
    assert modified(html) == "No"
    status, html = await post(env, AUTO, "apply", {"CRout.AutoRoutingEnable": "Disable"})  # staged too
    assert status == 200 and modified(html) == "Yes" and c.get("CRout.AutoRoutingEnable") == "Disable"
    status, html = await post(env, MAPPINGS, "add:1", {
        "add.Name": "ext", "add.Criteria": "CalledE164", "add.Transformation": "CalledE164"})
    assert status == 200 and "The row was added." in html
    status, html = await post(env, MAPPINGS, "add:2", {
        "add.Name": "ext", "add.Criteria": "^555(1[0-9])$", "add.Transformation": "\\1"})
    assert status == 200 and "The row was added." in html
    # two sources chosen from the list, one transformation
    status, html = await post(env, ROUTES, "add:1", [
        ("add.SourceCriteria", ""), ("add.SourceCriteria", "fxs-Phone-Fax1"), ("add.SourceCriteria", "sip-default"),
        ("add.PropertiesCriteria", "CalledE164"), ("add.ExpressionCriteria", "^55510$"),
        ("add.Destination", "fxs-Phone-Fax2"), ("add.Mappings", ""), ("add.Mappings", "ext"),
        ("add.SignalingProperties", "")])
    assert status == 200 and "The row was added." in html
    assert c.rows("CRout.Route") and c.get("CRout.Route[1].SourceCriteria") == "fxs-Phone-Fax1,sip-default"
    assert c.get("CRout.Route[1].Mappings") == "ext" and modified(html) == "Yes"
    status, html = await post(env, ROUTES, "add:1", [
        ("add.SourceCriteria", ""), ("add.SourceCriteria", "fxs-Phone-Fax2"), ("add.Destination", "sip-default")])
    assert status == 200
    # the staged routing is not in use before Apply Config
    assert env.unit.config.rows("CRout.RouteStatus")[0]["Type"] == "Auto"
    status, html = await post(env, ROUTES, "crout:apply")
    assert status == 200 and "Call routing configuration applied: 2 routes in use" in flashes(html)[0]
    assert modified(html) == "No"
    assert [r["Destination"] for r in c.rows("CRout.RouteStatus")] == ["fxs-Phone-Fax2", "sip-default"]
    _, html = await env.get(STATUS)
    assert "<h2>Routes</h2>" in html and "<td>fxs-Phone-Fax2</td>" in html and "<td>^55510$</td>" in html
    # edit: nothing selected in a list clears it (the hidden empty value is always sent)
    status, html = await post(env, ROUTES, "apply", [("CRout.Route[1].Mappings", "")])
    assert status == 200 and c.get("CRout.Route[1].Mappings") == "" and modified(html) == "Yes"
    # move: Down swaps the first row with the second (the table's own row command)
    status, html = await post(env, ROUTES, "row:1:Down:[1]")
    assert status == 200
    assert [c.get(f"CRout.Route[{i}].Destination") for i in (1, 2)] == ["sip-default", "fxs-Phone-Fax2"]
    assert 'value="row:1:Up:[2]"' in html and 'value="row:1:Down:[1]"' in html
    # insert: a new row with the defaults before row 2, the rows after it one down
    status, html = await post(env, ROUTES, "row:1:Insert:[2]")
    assert status == 200 and [c.get(f"CRout.Route[{i}].Destination") for i in (1, 2, 3)] == [
        "sip-default", "", "fxs-Phone-Fax2"]
    status, html = await post(env, ROUTES, "delete:1:[2]")
    assert status == 200 and "The row was deleted." in html
    # delete (indexes are not renumbered: rows 1 and 3 are left)
    status, html = await post(env, ROUTES, "delete:1:[3]")
    assert status == 200 and "The row was deleted." in html and len(c.rows("CRout.Route")) == 1
    status, html = await post(env, ROUTES, "crout:apply")
    assert "Call routing configuration applied: 1 routes in use" in flashes(html)[0]


async def test_refused_configuration_keeps_the_routing_in_use(env: Env) -> None:
    await env.login()
    c = env.unit.config
    await post(env, ROUTES, "add:1", [("add.SourceCriteria", "fxs-Phone-Fax1"), ("add.Destination", "fxs-Phone-Fax2")])
    _, html = await post(env, ROUTES, "crout:apply")
    assert modified(html) == "No"
    # a route to a hunt that is not there (added outside the page: the list offers only existing hunts)
    c.add_row("CRout.Route", {"SourceCriteria": "sip-default", "Destination": "hunt-nobody"})
    status, html = await post(env, ROUTES, "crout:apply")
    assert status == 200
    bad = flashes(html)[0]
    assert bad.startswith("CRout.ApplyConfig refused, the routing in use is unchanged:") and "hunt-nobody" in bad
    assert 'class="flash bad"' in html and modified(html) == "Yes"
    assert [r["Destination"] for r in c.rows("CRout.RouteStatus") if r["Type"] == "User"] == ["fxs-Phone-Fax2"]
    # the row's Config Status says what is wrong
    _, html = await env.get(ROUTES)
    assert "no hunt is named nobody" in htmllib.unescape(html)


async def test_refused_values_show_the_models_message(env: Env) -> None:
    await env.login()
    c = env.unit.config
    status, html = await post(env, MAPPINGS, "add:2", {"add.Name": "", "add.Criteria": "^(unclosed$"})
    assert status == 400 and 'role="alert"' in html and c.rows("CRout.MappingExpression") == []
    status, html = await post(env, HUNT, "add:1", {"add.Name": "h", "add.Timeout": "101"})
    assert status == 400 and "Nothing was changed" in html and c.rows("CRout.Hunt") == []
    assert re.search(r'class="error" role="alert">[^<]*100', html)
    # a telephony value too
    status, html = await post(env, "/Telephony/Call_Forward", "apply", {"EpServ.DefaultForwardNoAnswerTimeout": "5"})
    assert status == 400 and c.get("EpServ.DefaultForwardNoAnswerTimeout") == 5000
    status, html = await post(env, "/Telephony/Call_Forward", "apply", {
        "EpServ.DefaultForwardNoAnswerTimeout": "9000", "EpServ.DefaultForwardOnBusyEnable": "Enable"})
    assert status == 200 and c.get("EpServ.DefaultForwardNoAnswerTimeout") == 9000
    assert c.get("EpServ.DefaultForwardOnBusyEnable") == "Enable"


async def test_telephony_marks_what_the_emulator_does_not_act_on(env: Env) -> None:
    await env.login()
    behaviour = load_behaviour()
    _, html = await env.get("/Telephony/Misc")
    marked = marks(html)
    assert len(marked) > 10
    for name in ("TelIf.DefaultMachineDetectionCngToneDetection",
                 "TelIf.DefaultCountryCustomizationUserGainInputOffset",
                 "TelIf.DefaultCountryCustomizationDialingDtmfDuration"):
        cls = behaviour.of(name)
        assert (marked[name] != "") == (cls in ("stored", "hardware")), (name, cls)
    # every field is marked as the behaviour map classes it (the user gains act, the dialing timings do not yet)
    assert all(mark == (behaviour.of(n) if behaviour.of(n) in ("stored", "hardware") else "")
               for n, mark in marked.items() if "[" not in n), marked  # the scalars (row cells carry an index)
    assert marked.get("TelIf.DefaultCountryCustomizationDialingDtmfDuration") == "stored"
    assert 'title="Emulator: accepted, validated, persisted; no behaviour yet."' in html
    _, html = await env.get("/POTS/Config")
    assert 'class="mark mark-hardware"' in html
    _, html = await env.get(ROUTES)
    assert "abbr class=\"mark" not in html  # the call router acts on its tables once applied


async def test_observer_changes_nothing_with_the_words_of_every_face(env: Env) -> None:
    await env.login("olga", "olgapass")
    c = env.unit.config
    c.add_row("CRout.Route", {"SourceCriteria": "fxs-Phone-Fax1", "Destination": "fxs-Phone-Fax2"})
    _, html = await env.get(ROUTES)
    assert 'name="add.Destination"' not in html and "Apply Config" not in html and 'value="row:' not in html
    auth = env.aaa.check("olga", "olgapass", face="Web", peer="")
    with pytest.raises(Forbidden) as refused:
        check_right(auth, "write")
    for action, fields in (("crout:apply", {}), ("add:1", {"add.Destination": "sip-default"}),
                           ("row:1:Down:[1]", {}), ("delete:1:[1]", {}),
                           ("apply", {"CRout.Route[1].Destination": "sip-default"})):
        status, html = await post(env, ROUTES, action, fields)
        assert status == 403 and str(refused.value) in htmllib.unescape(html), action
    assert c.get("CRout.Route[1].Destination") == "fxs-Phone-Fax2" and len(c.rows("CRout.Route")) == 1
    assert c.get("CRout.ConfigModifiedStatus") == "Yes"
    # a User may (the documented rights: User reads and changes the configuration, as through the API)
    await env.login("bob", "bobpass1")
    status, html = await post(env, ROUTES, "crout:apply")
    assert status == 200 and c.get("CRout.ConfigModifiedStatus") == "No"


async def test_a_route_label_is_typed_beside_the_lists(env: Env) -> None:
    """A route's destination and sources may name a new route- label (text box beside the list), prefixed when
    written without it; the label then appears in the other routes' lists."""
    await env.login()
    c = env.unit.config
    status, _ = await post(env, ROUTES, "add:1", [
        ("add.SourceCriteria", ""), ("add.SourceCriteria", "fxs-Phone-Fax1"), ("add.SourceCriteria", ""),
        ("add.Destination", ""), ("add.Destination", "ext")])
    assert status == 200 and c.get("CRout.Route[1].Destination") == "route-ext"
    _, html = await env.get(ROUTES)
    assert 'aria-label="Destination 1 route label"' in html
    assert "route-ext" in select(html, "add.SourceCriteria")[0]
    status, _ = await post(env, ROUTES, "add:1", [
        ("add.SourceCriteria", ""), ("add.SourceCriteria", "route-ext"), ("add.SourceCriteria", "route-more"),
        ("add.Destination", "fxs-Phone-Fax2"), ("add.Destination", "")])
    assert status == 200 and c.get("CRout.Route[2].SourceCriteria") == "route-ext,route-more"
    assert c.get("CRout.Route[2].Destination") == "fxs-Phone-Fax2"

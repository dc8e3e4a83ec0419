"""The behaviour map (firmware_model/behaviour.py, catalog/behaviour.toml): one class per parameter, checked
against the code (tools/gen_parameters.py) and against the tests; docs/parameters.md generated from it; the
API and the CLI show it; Conf 9030 once per stored parameter per boot.

How a test names a parameter (what the "named by a test" check counts): a string of a test module equal to
the name or a cell address (``SipEp.UserAgent[Phone-Fax1].Username``, ``SipEp.Authentication.Username[Index=1]``)
or holding one (a configuration script, a lab's settings), an f-string completed with the words the tests spell
(``f"Mipt.DefaultCodec{stem}VoiceEnable"``), the helpers' keyword form (``Mipt__DefaultCodecG729VoicePriority=5``),
or a table column set or read through a row dictionary (``add_row("SipEp.Authentication", {"Realm": ...})``) in a
module that names the table. A table column counts by its own name, never through its table alone.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from emulator.engines.aaa import AuthResult
from emulator.engines.nlm import NlmEngine
from emulator.faces.cli.certs import CERT_COMMANDS
from emulator.faces.cli.shell import CliShell
from emulator.lab import build_unit
from emulator.runtime.spec import UnitSpec
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.behaviour import CLASSES, BehaviourError, BehaviourMap, load_behaviour, markdown
from firmware_model.notifications import NOTIFICATIONS
from firmware_model.profiles import PROFILES, get_profile
from firmware_model.schema import load_catalog
from tests.helpers.api_env import Env, _env
from tools.gen_parameters import disagreements, scan, scan_tests

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "parameters.md"
STORED_A = "Dhcp.DefaultLeaseTime"  # stored: the unit runs no DHCP server
STORED_B = "SipProxy.ContactOverrideEnable"  # stored: the unit runs no SIP proxy
STORED_C = "Moh.FileUrl"  # stored: no music on hold


@pytest.fixture(scope="module")
def behaviour() -> BehaviourMap:
    return load_behaviour()


# ---------------------------------------------------------------------- the map itself
def test_every_parameter_and_command_has_one_class(behaviour: BehaviourMap) -> None:
    cat = load_catalog()
    for name in cat.params:
        assert behaviour.of(name) in CLASSES, name
    assert behaviour.of("sipep.interopmaxforwardsvalue") == behaviour.of("SipEp.InteropMaxForwardsValue")
    counts = behaviour.counts()
    assert sum(sum(c.values()) for c in counts.values()) == len(cat.params) + len(behaviour.commands)
    # read-only values are status or hardware, never live/restart/stored
    for p in cat.params.values():
        if not p.writable:
            assert behaviour.of(p.name) in ("status", "hardware"), p.name
    assert behaviour.of("Eth.Ports.Speed") == "hardware"
    assert behaviour.of("SipEp.RegistrationStatus.State") == "status"
    assert behaviour.of("Nlm.SyslogRemoteHost") == "live"
    assert behaviour.of("Cli.SshPort") == "restart"
    assert behaviour.of(STORED_A) == behaviour.of(STORED_B) == "stored"
    assert behaviour.of("Nlm.StartPCapture") == "live"
    with pytest.raises(KeyError):
        behaviour.of("Nlm.NoSuchThing")


def test_the_map_agrees_with_the_code(behaviour: BehaviourMap) -> None:
    """A live/restart name no acting module reads, or a writable name the code reads still stored, fails here:
    ``python -m tools.gen_parameters --suggest`` shows what the code reads; fix behaviour.toml."""
    assert disagreements(behaviour, scan()) == []


def test_live_and_restart_parameters_are_named_by_tests(behaviour: BehaviourMap) -> None:
    """Every live or restart parameter is set or read by some test; the [untested] list of behaviour.toml is the
    debt still owed: it only shrinks (a name that gains a test must leave it)."""
    named = scan_tests()
    acting = [n for n in (*behaviour.names("live"), *behaviour.names("restart")) if n in behaviour.catalog.params]
    untested = set(behaviour.untested)
    missing = [n for n in acting if not named.modules(n) and n not in untested]
    assert missing == [], f"live/restart parameters no test sets or reads: {missing}"
    now_tested = sorted(n for n in untested if named.modules(n))
    assert now_tested == [], f"tested now: remove them from [untested] in behaviour.toml: {now_tested}"
    not_acting = sorted(n for n in untested if behaviour.of(n) not in ("live", "restart"))
    assert not_acting == [], f"[untested] names that are not live or restart: {not_acting}"


def test_service_commands_are_the_units(tmp_path: Path, behaviour: BehaviourMap) -> None:
    """Every command a unit runs (all engines attached, every profile) and every CLI certificate command has its
    entry, and the map names no command the unit lacks."""
    seen: set[str] = set(CERT_COMMANDS)
    for profile in PROFILES:
        running = build_unit(UnitSpec(name=f"u{profile}", profile=profile, state_dir=tmp_path / profile,
                                      port_mode="auto", fsync=False))
        seen |= set(running.unit.commands)
    assert seen == set(behaviour.commands)


def test_min_severity_acts_only_where_notifications_are_raised(behaviour: BehaviourMap) -> None:
    raising = {d.service for d in NOTIFICATIONS.values()}
    for svc in behaviour.catalog.services:
        if behaviour.of(f"{svc}.MinSeverity") == "live":
            assert svc in raising, svc
    assert behaviour.of("SipEp.MinSeverity") == "live"
    assert behaviour.of("TelIf.MinSeverity") == "stored"  # no TelIf notification exists


def _data() -> dict[str, object]:
    return tomllib.loads((ROOT / "firmware_model" / "catalog" / "behaviour.toml").read_text())


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["services"]["SipEp"]["live"].append("NoSuchParam"), "SipEp.NoSuchParam"),
    (lambda d: d["services"]["SipEp"]["live"].append("RegistrationStatus.State"), "read-only"),
    (lambda d: d["services"]["Cli"]["live"].append("SshPort"), "listed twice"),
    (lambda d: d["hardware"].update({"Nope.*": "x"}), "matches no parameter"),
    (lambda d: d["commands"].update({"Nlm.X": ["fast", "x"]}), "unknown class"),
    (lambda d: d["services"].update({"Nope": {}}), "unknown service"),
])
def test_a_bad_map_is_refused_with_its_reason(edit: object, message: str) -> None:
    data = _data()
    edit(data)  # type: ignore[operator]
    with pytest.raises(BehaviourError, match=message):
        BehaviourMap(load_catalog(), data)


# ---------------------------------------------------------------------- docs/parameters.md
def test_parameters_page_is_generated_from_the_map(behaviour: BehaviourMap) -> None:
    """`dgw-emulator parameters --markdown > docs/parameters.md` regenerates it."""
    assert DOC.read_text() == markdown(behaviour), "docs/parameters.md is stale: regenerate it"


def test_parameters_page_counts_match_the_catalog(behaviour: BehaviourMap) -> None:
    cat = load_catalog()
    text = DOC.read_text()
    rows = re.findall(r"^\| \[(\w+)\]\(#\w+\) \| (\d+) \| ([\d |]+) \|$", text, re.M)
    assert [r[0] for r in rows] == list(cat.services)
    per_class: Counter[str] = Counter()
    for name, numkey, cells in rows:
        numbers = [int(x) for x in cells.split(" | ")]
        svc = cat.services[name]
        own = len(svc.params) + sum(len(t.columns) for t in svc.tables.values())
        commands = sum(1 for c in behaviour.commands.values() if c.service == name)
        assert int(numkey) == svc.numkey
        assert numbers[-1] == sum(numbers[:-1]) == own + commands, name
        per_class.update(dict(zip(CLASSES, numbers[:-1], strict=True)))
        # the service's table lists exactly its parameters and commands
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert len(re.findall(r"^\| `", section, re.M)) == own + commands, name
    total = re.search(r"^\| \*\*all\*\* \| \| (.*) \|$", text, re.M)
    assert total is not None
    figures = [int(x.strip("*")) for x in total.group(1).split(" | ")]
    assert figures[-1] == len(cat.params) + len(behaviour.commands)
    assert figures[:-1] == [per_class[c] for c in CLASSES]
    for cls in CLASSES:
        assert per_class[cls] == len(behaviour.names(cls))


# ---------------------------------------------------------------------- faces
async def test_api_parameter_resource_shows_the_behaviour(tmp_path: Path) -> None:
    async for env in _env(tmp_path):
        await _api_shows_behaviour(env)


async def _api_shows_behaviour(env: Env) -> None:
    r = await env.c.get("/api/v1/parameters/Cli.SshPort")
    assert r.status == 200 and r.body == {"name": "Cli.SshPort", "value": 22, "behaviour": "restart"}
    r = await env.c.get("/api/v1/parameters/SipEp.UserAgent[Phone-Fax1].Username")
    assert r.status == 200 and r.body["behaviour"] == "restart"
    r = await env.c.get(f"/api/v1/parameters/{STORED_A}")
    assert r.body["behaviour"] == "stored"
    assert (await env.c.put("/api/v1/parameters/Cli.InactivityTimeOut", {"value": 30})).status == 200
    r = await env.c.get("/api/v1/parameters/cli.inactivitytimeout")
    assert r.status == 200 and r.body == {"name": "Cli.InactivityTimeOut", "value": 30, "behaviour": "live"}
    r = await env.c.put("/api/v1/parameters/Cli.InactivityTimeOut", {"value": 31})
    assert r.body == {"name": "Cli.InactivityTimeOut", "value": 31}  # a PUT answers as before
    listing = await env.c.get("/api/v1/parameters?prefix=Eth.")
    # Eth: hardware, but its MinSeverity (stored: Eth raises nothing) and NeedRestartInfo (status, the unit's)
    assert {p["behaviour"] for p in listing.body["parameters"]} == {"hardware", "stored", "status"}
    doc = (await env.c.get("/api/v1/openapi.json")).body
    schemas = doc["components"]["schemas"]
    assert schemas["ParameterValue"]["properties"]["behaviour"] == {"$ref": "#/components/schemas/Behaviour"}
    assert schemas["ParameterValue"]["required"] == ["name", "value"]  # the contract only gains a field
    assert schemas["Behaviour"]["enum"] == [*CLASSES, None]


def test_cli_help_of_a_parameter_prints_the_behaviour(tmp_path: Path) -> None:
    unit = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    sh = CliShell(unit, AuthResult(True, "public", "Admin"))
    assert "  Behaviour: restart (acts after its service restarts)\n" in sh.execute("help Cli.SshPort").output
    assert "  Behaviour: live (acts at once)\n" in sh.execute("help Nlm.SyslogRemoteHost").output
    assert "  Behaviour: hardware (" in sh.execute("help Eth.Ports.Speed").output
    assert "  Behaviour: stored (" in sh.execute(f"help {STORED_B}").output


# ---------------------------------------------------------------------- Conf 9030
def _unit(state_dir: Path) -> Unit:
    unit = Unit(name="u1", profile=get_profile("4102"), state_dir=state_dir, ports=PortPolicy(mode="auto"),
                fsync=False)
    nlm = NlmEngine(unit)
    unit.attach(nlm)
    unit.nlm = nlm
    return unit


def _stored_notices(unit: Unit) -> list[str]:
    return [ev.message for ev in unit.notifications if (ev.service, ev.msg_id) == ("Conf", 9030)]


async def test_a_stored_parameter_set_off_its_default_is_announced_once_per_boot(tmp_path: Path) -> None:
    unit = _unit(tmp_path)
    await unit.start()
    try:
        unit.config.set(STORED_A, 7200)
        unit.config.set(STORED_A, 600)  # the same parameter again: already announced this boot
        unit.config.set("Cli.InactivityTimeOut", 30)  # live: nothing to announce
        unit.config.set(STORED_B, load_catalog().params[STORED_B].default or "")  # its default: nothing either
        assert _stored_notices(unit) == [
            f"{STORED_A} is stored by the emulator but has no effect on its behaviour."]
        result = unit.run_script(f'{STORED_C} = "http://127.0.0.1/moh.wav"', source="script")
        assert result.ok, result.errors
        assert _stored_notices(unit)[1:] == [
            f"{STORED_C} is stored by the emulator but has no effect on its behaviour."]
        await unit.reboot()
        unit.config.set(STORED_A, 900)  # a new boot announces it again
        assert len(_stored_notices(unit)) == 3 and _stored_notices(unit)[-1].startswith(STORED_A)
    finally:
        await unit.stop()


async def test_a_stored_parameter_set_through_the_api_is_announced(tmp_path: Path) -> None:
    async for env in _env(tmp_path):
        env.unit.nlm = NlmEngine(env.unit)
        r = await env.c.put(f"/api/v1/parameters/{STORED_B}", {"value": "Disable"})
        assert r.status == 200
        notes = (await env.c.get("/api/v1/notifications")).body["notifications"]
        assert [n["message"] for n in notes if n.get("msg_id") == 9030] == [
            f"{STORED_B} is stored by the emulator but has no effect on its behaviour."]

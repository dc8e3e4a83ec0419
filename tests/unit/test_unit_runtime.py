"""Unit runtime: Scm service states and commands, NeedRestartInfo, Hoc time, identities, labs."""

from __future__ import annotations

import asyncio
import calendar
from pathlib import Path

import pytest

from emulator.lab import LabError, specs_from_lab
from emulator.runtime.clock import UnitClock
from emulator.runtime.unit import PortPolicy, Unit, port_of
from firmware_model.profiles import PROFILES, get_profile


def make_unit(tmp_path: Path, name: str = "u1", profile: str = "4102", **kw: object) -> Unit:
    return Unit(name=name, profile=get_profile(profile), state_dir=tmp_path / name,
                ports=PortPolicy(mode="auto"), fsync=False, **kw)  # type: ignore[arg-type]


class FakeEngine:
    """A recording engine (stands in for nothing a user runs: it only records Scm calls)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")


async def test_services_info_and_restart_required(tmp_path: Path) -> None:
    unit = make_unit(tmp_path)
    eng = FakeEngine("Cli")
    unit.attach(eng)
    await unit.start()
    rows = {r["Name"]: r for r in unit.config.rows("Scm.ServicesInfo")}
    assert rows["Cli"]["ExecState"] == "Started" and rows["SipEp"]["Id"] == 1400
    assert unit.config.get("Cli.NeedRestartInfo") == "No"
    unit.config.set("Cli.SshPort", 2222)
    assert unit.config.get("Cli.NeedRestartInfo") == "Yes"
    unit.config.set("Cli.WelcomeMessage", "hi")  # not a restart parameter
    assert unit.config.restart_required() == ["Cli"]
    unit.commands["Scm.RestartRequiredServices"]()
    for _ in range(50):
        await asyncio.sleep(0.01)
        if unit.config.get("Cli.NeedRestartInfo") == "No":
            break
    assert unit.config.get("Cli.NeedRestartInfo") == "No"
    assert eng.calls == ["start", "stop", "start"]
    await unit.stop()
    assert eng.calls[-1] == "stop"


async def test_a_start_tells_its_listeners_once_every_service_started(tmp_path: Path) -> None:
    unit = make_unit(tmp_path)
    unit.attach(FakeEngine("Cli"))
    heard: list[tuple[str, str, bool]] = []
    unit.on_service_state(lambda name, state: heard.append((name, state, unit.booting)))
    await unit.start()
    assert heard[-1] == ("", "Booted", False) and not unit.booting
    assert all(booting for name, _state, booting in heard[:-1]) and ("Cli", "Started", True) in heard
    heard.clear()
    await unit.restart_service("Cli")  # a service restart: no boot
    assert [(n, s) for n, s, _ in heard] == [("Cli", "Stopped"), ("Cli", "Started")]
    await unit.stop()


async def test_row_commands_stop_and_start_a_service(tmp_path: Path) -> None:
    unit = make_unit(tmp_path)
    eng = FakeEngine("Nlm")
    unit.attach(eng)
    await unit.start()
    unit.config.set("Scm.ServiceCommands[Nlm].Stop", "Stop")
    await asyncio.sleep(0.05)
    assert {r["Name"]: r["ExecState"] for r in unit.config.rows("Scm.ServicesInfo")}["Nlm"] == "Stopped"
    assert unit.config.get("Scm.ServiceCommands[Nlm].Stop") == "NoOp"  # commands read back NoOp
    unit.config.set("Scm.ServiceCommands.Start[Name=Nlm]", "Start")
    await asyncio.sleep(0.05)
    assert eng.calls == ["start", "stop", "start"]
    await unit.stop()


def test_system_time_follows_zone_and_unit_clock(tmp_path: Path) -> None:
    jan = calendar.timegm((2026, 1, 15, 12, 0, 0))
    jul = calendar.timegm((2026, 7, 15, 12, 0, 0))
    unit = make_unit(tmp_path, clock=UnitClock())
    unit.clock.set_time(jan)
    assert unit.config.get("Hoc.SystemTime").startswith("2026-01-15 07:00")  # EST, UTC-5
    unit.clock.set_time(jul)
    assert unit.config.get("Hoc.SystemTime").startswith("2026-07-15 08:00")  # EDT, UTC-4
    unit.config.set("Hoc.StaticTimeZone", "CET-1CEST,M3.5.0/2,M10.5.0/3")  # minus = east
    assert unit.config.get("Hoc.SystemTime").startswith("2026-07-15 14:00")
    with pytest.raises(Exception, match="POSIX"):
        unit.config.set("Hoc.StaticTimeZone", "not a zone")
    assert unit.config.get("Hoc.StaticTimeZone") == "CET-1CEST,M3.5.0/2,M10.5.0/3"


def test_two_units_share_no_file_clock_or_identity(tmp_path: Path) -> None:
    a = make_unit(tmp_path, "a")
    b = make_unit(tmp_path, "b", profile="C740")
    a.clock.skew(3600)
    assert abs(b.clock.now() - a.clock.now() + 3600) < 1
    a.config.set("Hoc.SystemName", "alpha")
    assert b.config.get("Hoc.SystemName") == ""
    assert a.identity.mac != b.identity.mac and a.identity.mac.startswith("0090f8")
    assert a.state_dir != b.state_dir
    assert [r["EpId"] for r in b.config.rows("EpAdm.Endpoint")] == ["Bri1", "Bri2"]


def test_profiles_have_endpoints_and_identity() -> None:
    assert {"4102", "C740", "3621"} <= set(PROFILES)
    assert get_profile("c740").product == "Mediatrix C740"


def test_lab_gives_each_unit_its_own_address_and_state(tmp_path: Path) -> None:
    doc = {"unit": [{"name": "fxs"}, {"name": "bri", "profile": "C740", "clock_offset": -60}]}
    specs = specs_from_lab(doc, tmp_path)
    assert [s.host for s in specs] == ["127.0.0.2", "127.0.0.3"]
    assert specs[0].state_dir != specs[1].state_dir
    assert specs[1].clock_offset == -60
    with pytest.raises(LabError):
        specs_from_lab({"unit": [{"name": "x"}, {"name": "x"}]}, tmp_path)
    with pytest.raises(LabError):
        specs_from_lab({"unit": [{"name": "x", "host": "10.0.0.1"}]}, tmp_path)


def test_lab_phones_are_checked_before_anything_runs_and_applied(tmp_path: Path) -> None:
    """``[unit.phones.<EpId>]``: the endpoint phone's settings, checked when the lab file is read."""
    from emulator.lab import build_unit

    doc = {"unit": [{"name": "fxs", "phones": {"Phone-Fax2": {"source": {"tone": [1000]}, "initial_sequence": 65436}}}]}
    [spec] = specs_from_lab(doc, tmp_path, port_mode="auto")
    assert spec.phones == {"Phone-Fax2": {"source": {"tone": [1000]}, "initial_sequence": 65436}}
    running = build_unit(spec)
    media = running.unit.services["SipEp"].engine.calls.media  # type: ignore[union-attr]
    assert media.audio_of("Phone-Fax2").initial_sequence == 65436 and media.audio_of("Phone-Fax2").tones == (1000.0,)
    for phones, why in (({"Bri1": {}}, "no such endpoint on a 4102"),
                        ({"Phone-Fax1": {"initial_sequence": 70000}}, "phones.Phone-Fax1: initial_sequence"),
                        ({"Phone-Fax1": {"source": {"wav": "none.wav"}}}, "no file none.wav"),
                        ("loud", "phones must be a table")):
        with pytest.raises(LabError, match=None) as exc:
            specs_from_lab({"unit": [{"name": "x", "phones": phones}]}, tmp_path)
        assert why in str(exc.value), exc.value


def test_port_policy_maps_privileged_ports_when_not_permitted(monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.runtime.unit as unit_mod

    monkeypatch.setattr(unit_mod, "_can_bind_privileged", lambda: False)
    hw = PortPolicy()
    assert (hw.real_port(22), hw.real_port(161), hw.real_port(443), hw.real_port(5060)) == (10022, 10161, 10443, 5060)
    monkeypatch.setattr(unit_mod, "_can_bind_privileged", lambda: True)
    assert hw.real_port(22) == 22
    assert PortPolicy(mode="auto").real_port(22) == 0


def test_auto_ports_are_remembered_per_face() -> None:
    """``--port-mode auto``: a face gets the port it had before when its service restarts."""
    auto = PortPolicy(mode="auto")
    assert auto.real_port(7547, "cwmp") == 0  # first time: the kernel chooses
    auto.remember("cwmp", 41234)
    assert (auto.real_port(7547, "cwmp"), auto.real_port(7547), auto.real_port(22, "ssh")) == (41234, 0, 0)
    hw = PortPolicy(remembered={"cwmp": 41234})
    hw.remember("ssh", 40000)
    assert hw.real_port(7547, "cwmp") == 7547 and hw.remembered == {"cwmp": 41234}  # the parameter decides


def test_listening_tells_subscribers_and_remembers_ports(tmp_path: Path) -> None:
    unit = make_unit(tmp_path)
    seen: list[tuple[str, str | None]] = []
    off = unit.on_listening(lambda face, address: seen.append((face, address)))
    unit.listening["cwmp"] = "http://127.0.0.1:41000/serial"
    unit.listening["cwmp"] = "http://127.0.0.1:41000/serial"  # no change, no event
    unit.listening["sip_tls"] = "127.0.0.1:45061"
    unit.listening.pop("sip_tls", None)
    unit.listening.pop("sip_tls", None)
    assert seen == [("cwmp", "http://127.0.0.1:41000/serial"), ("sip_tls", "127.0.0.1:45061"), ("sip_tls", None)]
    assert unit.ports.remembered == {"cwmp": 41000, "sip_tls": 45061}
    assert dict(unit.listening) == {"cwmp": "http://127.0.0.1:41000/serial"}
    off()
    unit.listening["ssh"] = "127.0.0.1:2222"
    assert len(seen) == 3
    assert [port_of(a) for a in ("[::1]:5061", "https://[::1]:443", "http://h:8000/x", "nope", "h:")] == [
        5061, 443, 8000, None, None]


class HangingEngine(FakeEngine):
    """An engine whose stop waits on a task that swallows its first cancellation (asyncio.wait_for on
    Python 3.11 does when the call it waits for ends as it is cancelled)."""

    async def stop(self) -> None:
        self.calls.append("stop")

        async def stubborn() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await asyncio.sleep(3600)  # the cancellation swallowed

        task = asyncio.ensure_future(stubborn())
        await asyncio.sleep(0)
        task.cancel()
        await task


async def test_a_hanging_engine_stop_never_wedges_its_unit(tmp_path: Path) -> None:
    unit = make_unit(tmp_path, stop_timeout=0.2)
    unit.attach(HangingEngine("Cli"))
    await unit.start()
    t = asyncio.get_running_loop().time()
    await unit.stop()
    assert asyncio.get_running_loop().time() - t < 2
    st = unit.services["Cli"]
    assert st.state == "Stopped" and "stop took more than 0.2 s" in st.comment

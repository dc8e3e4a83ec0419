"""Service parameters parameter by parameter: a service whose ``Scm.ServicesConfig`` StartupType is Manual does
not start with the unit (it waits for a Start command), ``Snmp.EnableSnmpV3`` opens or closes SNMPv3 in the
agent's access plan, the web server's HTTPS port follows ``Web.SecureServerPort``, and
``EpAdm.BehaviorWhileInUnitShuttingDownState`` lets a shutting-down endpoint take new calls."""

from __future__ import annotations

from pathlib import Path

from emulator.engines.epadm import EpAdmEngine
from emulator.faces.snmp import access_plan
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit.peers import free_port
from tests.helpers.units import configured
from tests.unit.web_env import web_env


def _state(unit: Unit, service: str) -> str:
    return str(unit.config.get(f"Scm.ServicesInfo[{service}].ExecState"))


async def test_a_manual_service_waits_for_its_start_command(tmp_path: Path) -> None:
    unit = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    unit.config.set("Scm.ServicesConfig[Moh].StartupType", "Manual")
    await unit.start()
    try:
        assert _state(unit, "Moh") == "Stopped" and _state(unit, "Pcm") == "Started"
        assert unit.config.get("Scm.ServicesInfo[Moh].StartupType") == "Manual"
        await unit.start_service("Moh")
        assert _state(unit, "Moh") == "Started"
        await unit.reboot()
        assert _state(unit, "Moh") == "Stopped"  # still Manual at the next boot
        unit.config.set("Scm.ServicesConfig[Moh].StartupType", "Auto")
        await unit.reboot()
        assert _state(unit, "Moh") == "Started"
    finally:
        await unit.stop()


def test_snmp_v3_can_be_closed(tmp_path: Path) -> None:
    c = configured(tmp_path)
    assert access_plan(c).v3
    c.set("Snmp.EnableSnmpV3", "Disable")
    assert not access_plan(c).v3


async def test_https_listens_on_the_secure_server_port(tmp_path: Path) -> None:
    async for e in web_env(tmp_path, mode="Secure"):
        e.unit.ports = PortPolicy(mode="hardware")  # the parameter's own port (unprivileged here)
        port = free_port()
        e.unit.config.set("Web.SecureServerPort", port)
        assert e.unit.config.restart_required() == ["Web"]
        await e.unit.restart_required_services()
        assert e.unit.listening["web_secure"] == f"https://127.0.0.1:{port}"
        assert "web" not in e.unit.listening


async def test_a_shutting_down_endpoint_may_be_allowed_new_calls(tmp_path: Path) -> None:
    unit = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    epadm = EpAdmEngine(unit)
    unit.attach(epadm)
    await unit.start()
    try:
        epadm.states.set_busy("Phone-Fax1", True)  # a call in progress (no SipEp here: the state table only)
        unit.config.set("EpAdm.Endpoint.Lock[EpId=Phone-Fax1]", "Lock")
        assert unit.config.get("EpAdm.Endpoint[Phone-Fax1].AdminState") == "ShuttingDown"
        assert epadm.refusal("Phone-Fax1") == "endpoint Phone-Fax1 is shutting down"  # BlockNewCalls (factory)
        unit.config.set("EpAdm.BehaviorWhileInUnitShuttingDownState", "AllowNewCalls")
        assert epadm.refusal("Phone-Fax1") is None  # it may take a new call
        unit.config.set("EpAdm.BehaviorWhileInUnitShuttingDownState", "BlockNewCalls")
        assert epadm.refusal("Phone-Fax1") == "endpoint Phone-Fax1 is shutting down"
    finally:
        await unit.stop()

"""Service parameters parameter by parameter: a service whose ``Scm.ServicesConfig`` StartupType is Manual does
not start with the unit (it waits for a Start command), and ``Snmp.EnableSnmpV3`` opens or closes SNMPv3 in the
agent's access plan."""

from __future__ import annotations

from pathlib import Path

from emulator.faces.snmp import access_plan
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from tests.helpers.units import configured


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

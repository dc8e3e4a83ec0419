"""Build a complete unit: the Unit plus its service engines and emulator faces.

This is the one place that knows every engine, so ``unit.py`` stays free of them and each engine
stays free of the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from firmware_model.profiles import get_profile

from .api import ApiServer
from .clock import UnitClock
from .services.aaa import Aaa
from .services.cert import CertEngine
from .services.cli import CliEngine
from .services.cwmp import CwmpEngine
from .services.hoc import HocEngine
from .services.nlm import NlmEngine
from .spec import DEFAULT_API_PORT, UnitSpec
from .unit import PortPolicy, Unit

__all__ = ["DEFAULT_API_PORT", "RunningUnit", "UnitSpec", "build_unit"]

@dataclass(slots=True)
class RunningUnit:
    unit: Unit
    aaa: Aaa
    api: ApiServer
    spec: UnitSpec

    async def start(self) -> None:
        await self.unit.start()
        await self.api.start(self.unit.ports.real_port(self.spec.api_port) if self.spec.api_port else 0)

    async def stop(self) -> None:
        await self.api.stop()
        await self.unit.stop()

    def ready_entry(self) -> dict[str, str]:
        u = self.unit
        entry = {"name": u.name, "profile": u.profile.key}
        for face in ("api", "web", "web_secure", "ssh", "sip", "sip_tls", "snmp", "cwmp"):
            if face in u.listening:
                entry[face] = u.listening[face]
        return entry


def build_unit(spec: UnitSpec) -> RunningUnit:
    unit = Unit(
        name=spec.name,
        profile=get_profile(spec.profile),
        state_dir=spec.state_dir,
        host=spec.host,
        ports=PortPolicy(mode=spec.port_mode),
        clock=UnitClock(offset=spec.clock_offset),
        fsync=spec.fsync,
    )
    first_boot = not (Path(spec.state_dir) / "config.json").exists()
    if first_boot and spec.settings:
        with unit.config.batch():
            for name, value in spec.settings.items():
                unit.config.set(name, value, source="lab")
        unit.config._restart.clear()
    aaa = Aaa(unit)
    unit.attach(aaa)
    nlm = NlmEngine(unit)
    unit.attach(nlm)
    unit.nlm = nlm
    hoc = HocEngine(unit, assume_synchronized=spec.assume_time_synchronized, dhcp_servers=spec.dhcp_sntp_servers)
    unit.attach(hoc)
    unit.hoc = hoc
    cert = CertEngine(unit)
    unit.attach(cert)
    unit.cert = cert
    unit.attach(CliEngine(unit, aaa))
    unit.attach(CwmpEngine(unit, dhcp_acs_url=spec.dhcp_acs_url))
    api = ApiServer(unit, aaa)
    return RunningUnit(unit, aaa, api, spec)

"""Building units and labs: a unit with every engine and face, and several units in one process,
each with its own address, ports, state and clock. This is the one module that knows every engine,
so ``unit.py`` stays free of them and each engine stays free of the others.

A lab file is TOML (or JSON with the same shape)::

    state_dir = "state/lab"          # optional; each unit gets <state_dir>/<name>
    [[unit]]
    name = "fxs"
    profile = "4102"
    host = "127.0.0.2"               # optional: units get 127.0.0.2, .3, ... in order
    clock_offset = 0                 # optional, seconds added to the host clock (kept across SNTP syncs)
    assume_time_synchronized = false # optional: count the host clock as synchronised from boot
    dhcp_sntp_servers = []           # optional: what "Automatic" SNTP would get from DHCP
    dhcp_acs_url = "http://127.0.0.1:7547/acs"  # optional: what DHCP option 43 would give TR-069
    dhcp_interface = "eth1"          # optional: run a real DHCP client on this interface (container or
                                     # network namespace only); its lease overrides the two keys above
    dns_port = 53                    # optional: the port of the DNS servers the unit asks (emulator addition)
    api_port = 8000                  # optional
    [unit.phones.Phone-Fax1]         # optional: the endpoint's phone, as PUT /api/v1/endpoints/{EpId}/media
    source = { tone = [1000] }       # or { wav = "name.wav" } (in <state dir>/audio)
    initial_sequence = 65436         # its RTP streams start 100 packets before the rollover
    [unit.settings]                  # optional, applied at first boot only
    "Hoc.StaticTimeZone" = "EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00"
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.engines.aaa import Aaa
from emulator.engines.bni import DhcpClientEngine
from emulator.engines.cert.engine import CertEngine
from emulator.engines.epadm import EpAdmEngine
from emulator.engines.hoc.engine import HocEngine
from emulator.engines.mipt.call_media import CallMedia
from emulator.engines.mipt.endpoint_audio import AudioError, EndpointAudio, parse_media_request
from emulator.engines.nlm import NlmEngine
from emulator.engines.sipep.engine import SipEpEngine
from emulator.faces.api.server import ApiServer
from emulator.faces.cli.server import CliEngine
from emulator.faces.cwmp import CwmpEngine
from emulator.faces.snmp import SnmpEngine
from emulator.protocols.dhcp import Lease
from emulator.runtime.clock import UnitClock
from emulator.runtime.spec import DEFAULT_API_PORT, UnitSpec
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from web_ui.app import WebEngine

__all__ = ["DEFAULT_API_PORT", "LabError", "RunningUnit", "UnitSpec", "build_unit", "load_lab", "specs_from_lab"]


class LabError(ValueError):
    pass


def load_lab(path: Path) -> dict[str, Any]:
    text = Path(path).read_text()
    try:
        doc: dict[str, Any] = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise LabError(f"{path}: {e}") from None
    return doc


def specs_from_lab(
    doc: dict[str, Any], state_root: Path, port_mode: str = "hardware", fsync: bool = True
) -> list[UnitSpec]:
    units = doc.get("unit") or doc.get("units") or []
    if not isinstance(units, list) or not units:
        raise LabError("a lab needs at least one [[unit]]")
    root = Path(doc.get("state_dir") or state_root)
    specs: list[UnitSpec] = []
    names: set[str] = set()
    hosts: set[tuple[str, int, str]] = set()
    dhcp_interfaces: dict[str, str] = {}
    next_host = ipaddress.ip_address("127.0.0.2")
    for i, u in enumerate(units):
        name = str(u.get("name") or f"unit{i + 1}")
        if name in names or "/" in name or name.startswith("."):
            raise LabError(f"unit name {name!r} is duplicated or not a valid folder name")
        names.add(name)
        host = str(u.get("host") or next_host)
        addr = ipaddress.ip_address(host)
        if not addr.is_loopback and not u.get("allow_non_loopback"):
            raise LabError(f"unit {name}: {host} is not a loopback address (set allow_non_loopback = true)")
        next_host = max(next_host, addr) + 1 if addr.version == 4 else next_host
        api_port = int(u.get("api_port", DEFAULT_API_PORT))
        key = (host, api_port, port_mode)
        if port_mode != "auto" and key in hosts:
            raise LabError(f"unit {name}: {host}:{api_port} is already used by another unit")
        hosts.add(key)
        dhcp_interface = str(u.get("dhcp_interface") or "") or None
        if dhcp_interface is not None:
            if dhcp_interface in dhcp_interfaces:  # same MAC, same lease: two units cannot share it
                raise LabError(f"unit {name}: dhcp_interface {dhcp_interface} is already used by unit "
                               f"{dhcp_interfaces[dhcp_interface]}")
            dhcp_interfaces[dhcp_interface] = name
        specs.append(
            UnitSpec(
                name=name,
                profile=str(u.get("profile", "4102")),
                host=host,
                state_dir=Path(u.get("state_dir") or root / name),
                clock_offset=float(u.get("clock_offset", 0)),
                api_port=api_port,
                port_mode=port_mode,
                fsync=fsync,
                settings=dict(u.get("settings") or {}),
                assume_time_synchronized=bool(u.get("assume_time_synchronized", False)),
                dhcp_sntp_servers=[str(x) for x in (u.get("dhcp_sntp_servers") or [])],
                dhcp_acs_url=str(u["dhcp_acs_url"]) if u.get("dhcp_acs_url") else None,
                dhcp_interface=dhcp_interface,
                dns_port=int(u.get("dns_port", 53)),
                phones=_phones(name, str(u.get("profile", "4102")), u.get("phones"),
                               Path(u.get("state_dir") or root / name) / "audio"),
            )
        )
    return specs


def _phones(unit: str, profile: str, raw: Any, audio_dir: Path) -> dict[str, dict[str, Any]]:
    """Check a unit's ``[unit.phones.<EpId>]`` tables now, so a bad lab file is refused before anything runs."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise LabError(f"unit {unit}: phones must be a table of endpoints")
    try:
        endpoints = get_profile(profile).endpoints
    except KeyError:
        endpoints = ()
    out: dict[str, dict[str, Any]] = {}
    for ep, body in raw.items():
        if ep not in endpoints:
            raise LabError(f"unit {unit}: phones.{ep}: no such endpoint on a {profile} ({', '.join(endpoints)})")
        try:
            parse_media_request(body, EndpointAudio(), audio_dir)
        except AudioError as e:
            raise LabError(f"unit {unit}: phones.{ep}: {e}") from None
        out[ep] = dict(body)
    return out


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
        dns_port=spec.dns_port,
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
    media = CallMedia.for_unit(unit)
    for ep, body in spec.phones.items():
        assert media.audio_dir is not None
        media.set_audio(ep, parse_media_request(body, EndpointAudio(), media.audio_dir))
    unit.attach(SipEpEngine(unit, media=media))
    unit.attach(EpAdmEngine(unit))
    unit.attach(CliEngine(unit, aaa))
    unit.attach(WebEngine(unit, aaa, cert))
    cwmp = CwmpEngine(unit, dhcp_acs_url=spec.dhcp_acs_url)
    unit.attach(cwmp)
    if spec.dhcp_interface:  # only on an interface the user named

        def on_lease(lease: Lease | None) -> None:
            cwmp.set_dhcp_acs_url(lease.acs_url if lease else None)
            hoc.set_dhcp_servers(lease.ntp_servers if lease else ())
            hoc.set_dhcp_dns_servers(lease.dns_servers if lease else ())

        unit.attach(DhcpClientEngine(unit, spec.dhcp_interface, on_lease=[on_lease]))
    unit.attach(SnmpEngine(unit))
    api = ApiServer(unit, aaa)
    return RunningUnit(unit, aaa, api, spec)

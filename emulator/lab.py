"""Building units: a unit with every engine and face, from its spec. This is the one module that knows
every engine, so ``unit.py`` stays free of them and each engine stays free of the others. Lab files (many
units, ``[defaults]``, certificates) are read by :mod:`emulator.labfile`; running one or many processes of
units is :mod:`emulator.fleet`.

What a unit's spec adds to the factory unit, in this order at start:

1. the lab's certificates (``other_certificates``, ``host_certificate``) are installed in the Cert store when
   missing, once the store exists (so a fleet validates its proxy and presents its identity from the first
   TLS handshake; a file already installed is remembered in ``<state_dir>/lab-certificates.json``);
2. at first boot only (no ``config.json`` yet), the settings run as one configuration script, all or
   nothing: a refused line stops the start with a LabError naming the unit, the line and the reason, and
   nothing is stored. ``Scm.RestartRequiredServices`` is moot before the boot; other commands run once
   the unit has started;
3. the unit boots; the endpoints' phones are set at every start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.engines.aaa import Aaa
from emulator.engines.bni import DhcpClientEngine
from emulator.engines.cert.engine import CertEngine
from emulator.engines.conf.engine import ConfEngine
from emulator.engines.crout.engine import CRoutEngine
from emulator.engines.epadm import EpAdmEngine
from emulator.engines.epserv.engine import EpServEngine
from emulator.engines.fpu.engine import FpuEngine
from emulator.engines.hoc.engine import HocEngine
from emulator.engines.mipt.call_media import CallMedia
from emulator.engines.mipt.endpoint_audio import EndpointAudio, parse_media_request
from emulator.engines.mipt.fax_calls import FaxError, parse_fax_request
from emulator.engines.nlm import NlmEngine
from emulator.engines.sipep.engine import SipEpEngine
from emulator.faces.api.server import ApiServer
from emulator.faces.cwmp import CwmpEngine
from emulator.faces.snmp import SnmpEngine
from emulator.fleet.late import LateCli, LateFaces, LateWeb
from emulator.labfile import LabError, load_lab, settings_script, specs_from_lab
from emulator.ops.snapshots import call_row
from emulator.protocols.dhcp import Lease
from emulator.runtime.clock import UnitClock
from emulator.runtime.spec import DEFAULT_API_PORT, UnitSpec
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.certs import CertError, load_certificates, load_host_bundle
from firmware_model.profiles import get_profile
from firmware_model.script import run_script
from firmware_model.store import atomic_write
from web_ui.app import WebEngine

__all__ = ["DEFAULT_API_PORT", "LabError", "RunningUnit", "UnitSpec", "build_unit", "load_lab", "specs_from_lab"]

RESTART_COMMAND = "Scm.RestartRequiredServices"
CERTIFICATES_MARK = "lab-certificates.json"


@dataclass(slots=True)
class LabCertificates:
    """The certificate files a spec names, read and checked (CertError -> LabError naming unit and file)."""

    others: list[tuple[Path, bytes]]
    host: tuple[Path, bytes] | None
    password: str | None
    digest: str

    @classmethod
    def read(cls, spec: UnitSpec) -> LabCertificates | None:
        """None when the spec names none, or when the same files are already installed."""
        if not spec.other_certificates and spec.host_certificate is None:
            return None
        h = hashlib.sha256()
        others = []
        for path in spec.other_certificates:
            data = _read(spec, "other_certificates", path)
            others.append((path, data))
            h.update(b"other\0" + data)
        host = None
        if spec.host_certificate is not None:
            data = _read(spec, "host_certificate", spec.host_certificate)
            if spec.host_key is not None:
                data += b"\n" + _read(spec, "host_key", spec.host_key)
            host = (spec.host_certificate, data)
            h.update(b"host\0" + data + (spec.host_certificate_password or "").encode())
        digest = h.hexdigest()
        if _installed_digest(spec) == digest:
            return None
        for path, data in others:
            _check(spec, "other_certificates", path, load_certificates, data)
        if host is not None:
            _check(spec, "host_certificate", host[0], load_host_bundle, host[1], spec.host_certificate_password)
        return cls(others, host, spec.host_certificate_password, digest)

    def install(self, cert: CertEngine, spec: UnitSpec) -> None:
        """Import into the unit's stores (its Cert engine ready); a certificate already there is kept."""
        for path, data in self.others:
            _check(spec, "other_certificates", path, cert.import_other, data, file_name=path.name)
        if self.host is not None:
            path, data = self.host
            _check(spec, "host_certificate", path, cert.import_host, data, self.password, file_name=path.name)
        atomic_write(spec.state_dir / CERTIFICATES_MARK, json.dumps({"sha256": self.digest}).encode(), mode=0o644)


def _read(spec: UnitSpec, key: str, path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise LabError(f"unit {spec.name}: {key} {path}: {e.strerror or e}") from None


def _check(spec: UnitSpec, key: str, path: Path, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
    try:
        fn(*args, **kw)
    except CertError as e:
        if e.kind != "duplicate":  # installed before: nothing to do
            raise LabError(f"unit {spec.name}: {key} {path}: {e.message}") from None


def _installed_digest(spec: UnitSpec) -> str | None:
    try:
        return str(json.loads((spec.state_dir / CERTIFICATES_MARK).read_bytes()).get("sha256"))
    except (OSError, ValueError, AttributeError):
        return None


@dataclass(slots=True)
class RunningUnit:
    unit: Unit
    aaa: Aaa
    api: ApiServer
    spec: UnitSpec
    cert: CertEngine | None = None
    first_boot: bool = False
    certificates: LabCertificates | None = None
    pending_commands: list[str] = field(default_factory=list)
    late: LateFaces | None = None  # faces that come up after the ready file (emulator.fleet.late)

    async def start(self) -> None:
        if self.cert is not None and (self.certificates is not None or self._has_settings):
            await self.cert.ready()  # the store exists (first boot: provisioned) before anything goes in it
            if self.certificates is not None:
                self.certificates.install(self.cert, self.spec)
        if self._has_settings:
            self._apply_settings()
        await self.unit.start()
        await self.api.start(self.unit.ports.real_port(self.spec.api_port, "api") if self.spec.api_port else 0)
        for name in self.pending_commands:
            self.unit.commands[name]()
        self.pending_commands.clear()

    @property
    def _has_settings(self) -> bool:
        return self.first_boot and bool(self.spec.settings or self.spec.script)

    def _apply_settings(self) -> None:
        """The first boot's settings, one configuration script, all or nothing (see the module docstring)."""
        u, spec = self.unit, self.spec
        text = settings_script(spec.settings, spec.script, unit=spec.name)

        def later(name: str) -> Callable[[], None]:
            return lambda: None if name == RESTART_COMMAND else self.pending_commands.append(name)

        result = run_script(u.config, text, commands={n: later(n) for n in u.commands}, source="lab")
        if not result.ok:
            self.pending_commands.clear()
            why = "; ".join(f"{ln.text!r}: {ln.error}" for ln in result.errors)
            raise LabError(f"unit {spec.name}: settings refused, nothing applied: {why}")
        for name in u.config.restart_required():  # the boot that follows applies everything
            u.config.clear_restart(name)
        self.first_boot = False

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


def build_unit(spec: UnitSpec, late: LateFaces | None = None) -> RunningUnit:
    """A unit with every engine attached, not started. Reads and checks the spec's certificate files
    (LabError naming the unit); its first-boot settings run at :meth:`RunningUnit.start`. With ``late``, the
    faces slow to start (SSH, web pages) listen at start but serve once ``late.gate`` opens
    (:mod:`emulator.fleet.late`)."""
    unit = Unit(
        name=spec.name,
        profile=get_profile(spec.profile),
        state_dir=spec.state_dir,
        host=spec.host,
        ports=PortPolicy(mode=spec.port_mode, remembered=dict(spec.face_ports)),
        clock=UnitClock(offset=spec.clock_offset),
        fsync=spec.fsync,
        dns_port=spec.dns_port,
    )
    first_boot = not (Path(spec.state_dir) / "config.json").exists()
    certificates = LabCertificates.read(spec)
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
    nlm.capture.media = media.engine  # the SRTP keys a packet capture exports (Nlm.PCaptureSrtp*)
    for ep, body in spec.phones.items():
        assert media.audio_dir is not None
        media.set_audio(ep, parse_media_request({k: v for k, v in body.items() if k != "fax"}, EndpointAudio(),
                                                media.audio_dir))
        if "fax" in body:  # the endpoint's fax machine, armed for the first call (a send file must exist by now)
            try:
                media.fax.arm(ep, *parse_fax_request(body["fax"]))
            except FaxError as e:
                raise LabError(f"unit {spec.name}: phones.{ep}: fax: {e}") from None
    sipep = SipEpEngine(unit, media=media)
    media.control = sipep.calls  # the fax machine's re-INVITEs (T.38) and hang-ups
    sipep.calls.summary = call_row  # an ended call's summary keeps what the calls listing showed of it
    unit.attach(sipep)
    unit.attach(CRoutEngine(unit, sipep.calls))  # every call goes through the call router
    unit.attach(EpAdmEngine(unit))
    unit.attach(EpServEngine(unit))  # dial tone, DTMF maps, service codes, CallStatistics
    conf = ConfEngine(unit)
    unit.attach(conf)
    unit.attach(FpuEngine(unit, active_calls=lambda: sum(1 for c in sipep.calls.calls if c.active)))
    if late is not None:
        unit.attach(LateCli(unit, aaa, late))
    else:
        from emulator.faces.cli.server import CliEngine  # asyncssh: loaded only where the face starts at once

        unit.attach(CliEngine(unit, aaa))
    web = WebEngine(unit, aaa, cert)
    unit.attach(web if late is None else LateWeb(web, late))
    cwmp = CwmpEngine(unit, dhcp_acs_url=spec.dhcp_acs_url)
    unit.attach(cwmp)
    if spec.dhcp_interface:  # only on an interface the user named

        def on_lease(lease: Lease | None) -> None:
            cwmp.set_dhcp_acs_url(lease.acs_url if lease else None)
            hoc.set_dhcp_servers(lease.ntp_servers if lease else ())
            hoc.set_dhcp_dns_servers(lease.dns_servers if lease else ())
            conf.on_dhcp_lease(lease)  # options 66/67 or option 43 sub-options 66/67: configuration scripts

        unit.attach(DhcpClientEngine(unit, spec.dhcp_interface, on_lease=[on_lease]))
    unit.attach(SnmpEngine(unit))
    api = ApiServer(unit, aaa)
    return RunningUnit(unit, aaa, api, spec, cert=cert, first_boot=first_boot, certificates=certificates, late=late)

"""What the command line or a lab file says about one unit (plain data, no engines).

A spec crosses a process boundary when a supervisor hands a worker its share of a lab
(:meth:`UnitSpec.to_json` / :meth:`UnitSpec.from_json`), so every field is plain JSON-able data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_API_PORT", "UnitSpec"]

DEFAULT_API_PORT = 8000  # emulator face, not a DGW parameter (emulator choice)
_PATHS = ("state_dir", "host_certificate", "host_key")


@dataclass(slots=True)
class UnitSpec:
    """What a lab file (or the command line) says about one unit."""

    name: str = "unit1"
    profile: str = "4102"
    host: str = "127.0.0.1"
    state_dir: Path = Path("state/unit1")
    clock_offset: float = 0.0
    api_port: int = DEFAULT_API_PORT
    port_mode: str = "hardware"  # hardware | auto
    fsync: bool = True
    # First boot only: parameters (``Name = value`` of a configuration script, table cells and row commands
    # included) and then ``script``, lines of a configuration script; run together, all or nothing.
    settings: dict[str, Any] = field(default_factory=dict)
    script: str = ""
    # Time: a unit boots unsynchronised like the hardware (no battery clock) unless told otherwise;
    # "Automatic" SNTP uses the servers a DHCP server would give (there is no DHCP client on the host).
    assume_time_synchronized: bool = False
    dhcp_sntp_servers: list[str] = field(default_factory=list)
    dhcp_acs_url: str | None = None  # what DHCP option 43 would give Cwmp (AcsUrlConfigSource Dhcp)
    # A real DHCP client on this interface only (a container's or a network namespace's; never by default).
    # Its lease then gives Cwmp the option 43 ACS URL and Hoc the option 42 SNTP servers.
    dhcp_interface: str | None = None
    # Where the unit's DNS queries go: port 53 as on the hardware, or a test DNS server's unprivileged port.
    dns_port: int = 53
    # The endpoints' phones (emulator addition): EpId -> {"source", "record", "initial_sequence"} as the API's
    # PUT /api/v1/endpoints/{EpId}/media takes them; applied at every start.
    phones: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Trust and identity from the start (installed at every start when missing, before any service runs):
    # files of CA or peer certificates for the "Other" store, and a host certificate with its key
    # (a PEM bundle, or the certificate here and the key in ``host_key``, or PKCS#12 with a password).
    other_certificates: list[Path] = field(default_factory=list)
    host_certificate: Path | None = None
    host_key: Path | None = None
    host_certificate_password: str | None = None
    # Ports a face had before (``--port-mode auto``): a restarted worker binds them again.
    face_ports: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        for key in _PATHS:
            if doc[key] is not None:
                doc[key] = str(doc[key])
        doc["other_certificates"] = [str(p) for p in self.other_certificates]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> UnitSpec:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in doc.items() if k in known}
        for key in _PATHS:
            if kw.get(key) is not None:
                kw[key] = Path(kw[key])
        kw["other_certificates"] = [Path(p) for p in kw.get("other_certificates", [])]
        return cls(**kw)

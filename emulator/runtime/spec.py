"""What the command line or a lab file says about one unit (plain data, no engines)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_API_PORT", "UnitSpec"]

DEFAULT_API_PORT = 8000  # emulator face, not a DGW parameter (emulator choice)


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
    settings: dict[str, Any] = field(default_factory=dict)  # parameters applied at first boot
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



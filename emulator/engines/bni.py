"""DHCPv4 client of a unit (its WAN interface), over the pure core :mod:`emulator.protocols.dhcp`.

It runs ONLY on an interface the user names (``dgw-emulator run --dhcp-interface IFACE``, lab key
``dhcp_interface``), inside a container or a network namespace — never on the host's interfaces by default.

asyncio glue only: one UDP socket bound to ``0.0.0.0:68`` with ``SO_BINDTODEVICE`` = the interface and
``SO_BROADCAST``; the Ethernet address (``chaddr``) is the interface's (``SIOCGIFHWADDR``). The client
configures nothing on the host: no address, no route — the unit emulates, and the interface's address is set
by whoever made the interface (the test, the container); the unit binds its sockets to ``unit.host`` as ever.
A lease whose address differs from ``unit.host`` is logged (``dhcp_address_mismatch``).

What the lease gives is handed to the callbacks (``on_lease``): the ACS URL of option 43 to Cwmp, the SNTP
servers of option 42 to Hoc (see ``emulator.lab.build_unit``). It is attached as the unit's ``Bni`` engine
(Basic Network Interface: the DGW service that owns the interfaces and their DHCP client settings
``Bni.DhcpClientIdentifierPresentation`` -> option 61 and ``Bni.DhcpClientUserClass`` -> option 77), so a unit
reboot starts a new discovery, as on the hardware.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import random
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator.protocols.dhcp import (
    CLIENT_PORT,
    SERVER_PORT,
    DhcpClient,
    Lease,
    LeaseAcquired,
    LeaseLost,
    LeaseRenewed,
    Transmit,
    client_identifier,
)
from emulator.runtime.logging import report_crash

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["DhcpClientEngine", "interface_mac"]

SIOCGIFHWADDR = 0x8927
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
MAX_MESSAGE = 1500


def interface_mac(sock: socket.socket, interface: str) -> bytes:
    """The Ethernet address of ``interface`` as seen from the socket's network namespace."""
    req = struct.pack("256s", interface.encode()[:15])
    res = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, req)
    return bytes(res[18:24])


class DhcpClientEngine:
    """The DHCP client of one unit on one named interface."""

    name = "Bni"

    def __init__(self, unit: Unit, interface: str, *, on_lease: list[Callable[[Lease | None], None]] | None = None,
                 initial_timeout: float = 4.0, rnd: random.Random | None = None) -> None:
        if not interface:
            raise ValueError("the DHCP client needs an interface name")
        self.unit = unit
        self.interface = interface
        self.on_lease = list(on_lease or [])
        self.initial_timeout = initial_timeout
        self.rnd = rnd or random.Random()
        self.client: DhcpClient | None = None
        self.lease: Lease | None = None
        self.sent = 0
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.interface.encode())
            sock.bind(("0.0.0.0", CLIENT_PORT))
            sock.setblocking(False)
            mac = interface_mac(sock, self.interface)
        except OSError as e:
            sock.close()
            self.unit.log.error("dhcp_client_failed", interface=self.interface, error=e.strerror or str(e))
            raise OSError(e.errno, f"DHCP client on {self.interface}: {e.strerror or e}") from None
        c = self.unit.config
        user_class = c.get_text("Bni.DhcpClientUserClass").encode()
        self.client = DhcpClient(
            mac,
            vendor_class=f"{self.unit.profile.product} dslforum.org",
            client_id=client_identifier(c.get_text("Bni.DhcpClientIdentifierPresentation"), mac),
            user_class=user_class or None,
            rnd=self.rnd,
            initial_timeout=self.initial_timeout,
        )
        self._sock = sock
        self.unit.log.info("dhcp_client_started", interface=self.interface, mac=mac.hex(":"))
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"dhcp-{self.unit.name}")
        self._task.add_done_callback(report_crash(self.unit.log, "dhcp_client_crashed", interface=self.interface))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        client, sock = self.client, self._sock
        assert client is not None and sock is not None
        self._send(client.start(loop.time()))
        while True:
            deadline = client.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, MAX_MESSAGE), timeout)
            except TimeoutError:
                out = client.handle_timer(loop.time())
            else:
                out = client.receive(data, loop.time())
            self._send(out)
            self._dispatch(client)

    def _send(self, out: list[Transmit]) -> None:
        assert self._sock is not None
        for t in out:
            try:  # a datagram send does not block (a full buffer is a lost packet: the timer retransmits)
                self._sock.sendto(t.payload, (t.destination, SERVER_PORT))  # (uvloop has no sock_sendto)
                self.sent += 1
            except OSError as e:  # interface down, no route: the retransmission timer tries again
                self.unit.log.warning("dhcp_send_failed", interface=self.interface, to=t.destination,
                                      error=e.strerror or str(e))

    def _dispatch(self, client: DhcpClient) -> None:
        while (ev := client.next_event()) is not None:
            if isinstance(ev, LeaseAcquired | LeaseRenewed):
                lease = ev.lease
                self.lease = lease
                self.unit.log.info(
                    "dhcp_bound" if isinstance(ev, LeaseAcquired) else "dhcp_renewed",
                    interface=self.interface, address=lease.address, server=lease.server_id,
                    lease_time=lease.lease_time, acs_url=lease.acs_url, ntp_servers=list(lease.ntp_servers),
                )
                if lease.address != self.unit.host:
                    self.unit.log.warning("dhcp_address_mismatch", leased=lease.address, host=self.unit.host)
                self._publish(lease)
            elif isinstance(ev, LeaseLost):
                self.lease = None
                self.unit.log.warning("dhcp_lease_lost", interface=self.interface, reason=ev.reason)
                self._publish(None)

    def _publish(self, lease: Lease | None) -> None:
        for fn in self.on_lease:
            with contextlib.suppress(Exception):
                fn(lease)

    def status(self) -> dict[str, Any]:
        lease = self.lease
        return {
            "interface": self.interface,
            "state": self.client.state.value if self.client else "INIT",
            "address": lease.address if lease else "",
            "server": lease.server_id if lease else "",
            "acs_url": (lease.acs_url or "") if lease else "",
            "ntp_servers": list(lease.ntp_servers) if lease else [],
        }

"""Hoc: the unit's time — SNTP client (RFC 4330), synchronisation status, the lab clock skew.

What the engine does (the pure parts live in ``emulator.protocols.sntp``):
  * servers in effect (``Hoc.SntpServersInfo``, ``Hoc.SntpServerHostInfo``): ``Static`` =
    ``Hoc.StaticSntpServerHost`` then ``Hoc.StaticSntpServers`` by Priority. ``Automatic`` and
    ``AutomaticIpv6`` take the servers a DHCP server offered (option 42): from the unit's DHCP client
    when it runs on a named interface (:meth:`HocEngine.set_dhcp_servers`), otherwise the
    ``dhcp_servers`` the lab gives the engine (emulator addition) and, by default, NONE — exactly
    what a real unit does on a network whose DHCP server offers no SNTP option: it never synchronises.
    ``AutomaticWithFallback`` uses the static servers when DHCP offered none.
  * one query at a time, each server in priority order until one answers, from a UDP socket bound
    to ``(unit.host, 0)``; a server the unit's address cannot reach (the factory ``192.168.10.10``
    from 127.0.0.1: EINVAL / ENETUNREACH), a refused port or silence fail quietly;
  * after a success, the next sync in ``Hoc.SntpSynchronizationPeriod`` minutes; after a failure
    of every server, in ``Hoc.SntpSynchronizationPeriodOnError`` minutes; any change of the SNTP
    parameters re-synchronises at once;
  * notifications: Hoc 9001 when time is gained or regained (not on every periodic sync), 9002
    once per failure streak (a reconfiguration starts a new streak), 9003 once per unsynchronised
    streak when an engine asks for the time through :meth:`HocEngine.require_time`;
  * a kiss-o'-death DENY/RSTR server is not asked again until the SNTP configuration changes.
  * DNS servers in effect (``Hoc.DnsServersInfo``): ``Hoc.StaticDnsServers`` when
    ``Hoc.DnsServersConfigSource`` is Static, else what DHCP gave (option 6); the unit's resolver is
    :mod:`emulator.engines.hoc.dns`.

Start-up: Mediatrix units have no battery-backed clock; they boot unsynchronised, and certificate
validation is impossible until the first SNTP success (``unit.clock.synchronized`` stays False).
The emulator follows the hardware unless the unit is built with ``assume_synchronized=True``
(lab option ``assume_time_synchronized``): the clock (host time plus the lab skew) then counts as
synchronised from boot; SNTP still runs and corrects it, and a failing SNTP never un-synchronises a
clock (on the hardware either: the time keeps running between syncs).

Lab skew (emulator addition): the skew is the distance between the unit clock and the time SNTP
last measured (before the first sync: the host clock). It is kept across syncs — SNTP corrects the
unit's error, never the lab's deliberate skew — so a lab can push a synchronised unit past a
certificate's dates. Set it with :meth:`HocEngine.set_skew` (absolute), ``unit.clock.skew(delta)``
(relative; picked up as skew) or the lab's ``clock_offset``; ``set_skew(0)`` removes it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from emulator.engines.hoc.dns import dns_servers
from emulator.protocols.sntp import (
    BogusReply,
    KissOfDeath,
    SntpError,
    SntpQuery,
    SntpResult,
    SyncTracker,
    parse_server,
    sntp_servers,
)
from emulator.runtime.logging import report_crash
from emulator.runtime.timers import sleep_until
from firmware_model.config import ChangeEvent

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["SNTP_PARAMS", "HocEngine"]

SERVER_PARAMS = frozenset({
    "Hoc.SntpConfigSource", "Hoc.StaticSntpServerHost", "Hoc.StaticSntpServers.HostName",
})
SNTP_PARAMS = SERVER_PARAMS | {"Hoc.SntpSynchronizationPeriod", "Hoc.SntpSynchronizationPeriodOnError"}
DEFAULT_TIMEOUT_S = 2.0  # per server (emulator choice; the hardware's is not documented)
MAX_REPLY = 1024


class HocEngine:
    """The Hoc service of one unit: SNTP client and time status. See the module docstring."""

    name = "Hoc"

    def __init__(
        self,
        unit: Unit,
        *,
        assume_synchronized: bool = False,
        dhcp_servers: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT_S,
        minute_s: float = 60.0,
    ) -> None:
        self.unit = unit
        self.config = unit.config
        self.clock = unit.clock
        self.dhcp_servers = list(dhcp_servers)
        self.timeout = timeout
        self.minute_s = minute_s  # length of a configured "minute" (tests and accelerated labs shorten it)
        self.tracker = SyncTracker()
        self.last_result: SntpResult | None = None
        self.attempts = 0  # sync attempts (each tries every server)
        self._true_offset = 0.0  # clock offset that makes the unit clock right, as last measured
        self._banned: dict[str, str] = {}  # server -> kiss code (DENY/RSTR)
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        if assume_synchronized:
            self.clock.synchronized = True
        c = self.config
        c.provide("Hoc.SntpServerHostInfo", lambda: next(iter(self.servers()), ""))
        c.provide("Hoc.SntpCurrentSource", lambda: self.tracker.source)
        c.provide_rows("Hoc.SntpServersInfo", self._servers_info_rows)
        self.dhcp_dns_servers: list[str] = []  # DHCP option 6, for DnsServersConfigSource = Automatic
        c.provide_rows("Hoc.DnsServersInfo", self._dns_info_rows)
        c.subscribe(self._on_change)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._wake.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sntp-{self.unit.name}")
        self._task.add_done_callback(report_crash(self.unit.log, "sntp_client_crashed"))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        # The period is a delay after each attempt, so it is kept on the unit's uptime: an SNTP correction or
        # a lab skew steps the wall clock, never the time to the next sync.
        uptime = self.clock.uptime
        while True:
            self._wake.clear()
            ok = await self.sync_now()
            minutes = self.config.get("Hoc.SntpSynchronizationPeriod" if ok else "Hoc.SntpSynchronizationPeriodOnError")
            await sleep_until(uptime, uptime() + float(minutes or 1) * self.minute_s, self._wake)

    def resync(self) -> None:
        """Synchronise as soon as possible (the running loop wakes up)."""
        self._wake.set()

    # ------------------------------------------------------------------ time for other engines
    @property
    def synchronized(self) -> bool:
        return self.clock.synchronized

    def require_time(self) -> bool:
        """For engines that need a trustworthy time (TLS validation): True when synchronised;
        otherwise False, and notification Hoc 9003 once per unsynchronised streak."""
        if self.tracker.time_required(self.clock.synchronized):
            self.unit.notify("Hoc", 9003)
        return self.clock.synchronized

    @property
    def skew(self) -> float:
        """Seconds the lab keeps this unit off the right time (kept across syncs)."""
        return self.clock.offset - self._true_offset

    def set_skew(self, seconds: float) -> None:
        """Put the unit clock ``seconds`` off the right time, now and after every sync."""
        self.clock.skew(seconds - self.skew)

    # ------------------------------------------------------------------ servers and status
    def servers(self) -> list[str]:
        c = self.config
        return sntp_servers(
            c.get_text("Hoc.SntpConfigSource"),
            c.get_text("Hoc.StaticSntpServerHost"),
            c.rows("Hoc.StaticSntpServers"),
            self.dhcp_servers,
        )

    def set_dhcp_servers(self, servers: Sequence[str]) -> None:
        """The DHCP client got new SNTP servers (option 42): re-synchronise when they changed."""
        new = [str(s) for s in servers]
        if new != self.dhcp_servers:
            self.dhcp_servers = new
            self.tracker.reconfigured()
            self._banned.clear()
            self._wake.set()

    def set_dhcp_dns_servers(self, servers: Sequence[str]) -> None:
        """The DHCP client got DNS servers (option 6): the unit's resolver
        (:mod:`emulator.engines.hoc.dns`) asks them."""
        self.dhcp_dns_servers = [str(s) for s in servers]

    def dns_servers(self) -> list[str]:
        """The DNS servers in effect (``Hoc.DnsServersConfigSource``), in the order they are asked."""
        c = self.config
        return dns_servers(c.get_text("Hoc.DnsServersConfigSource"), c.rows("Hoc.StaticDnsServers"),
                           self.dhcp_dns_servers)

    def _dns_info_rows(self) -> list[dict[str, Any]]:
        return [{"Priority": i, "IpAddress": s} for i, s in enumerate(self.dns_servers(), start=1)]

    def _servers_info_rows(self) -> list[dict[str, Any]]:
        return [{"Priority": i, "HostName": s} for i, s in enumerate(self.servers(), start=1)]

    def _on_change(self, ev: ChangeEvent) -> None:
        if ev.kind == "reset" or ev.param.name in SERVER_PARAMS:
            self.tracker.reconfigured()
            self._banned.clear()
        if ev.kind == "reset" or ev.param.name in SNTP_PARAMS:
            self._wake.set()

    # ------------------------------------------------------------------ synchronisation
    async def sync_now(self) -> bool:
        """One attempt: each server in priority order until one gives a valid time. True on success."""
        async with self._lock:
            self.attempts += 1
            servers = self.servers()
            if not servers:
                self._failed("none", self._no_server_reason())
                return False
            errors: list[tuple[str, str]] = []
            for server in servers:
                if server in self._banned:
                    errors.append((server, f"kiss-o'-death {self._banned[server]}, not queried again"))
                    continue
                try:
                    result = await self._query(server)
                except KissOfDeath as e:
                    if e.stop:
                        self._banned[server] = e.code
                    errors.append((server, e.reason))
                except SntpError as e:
                    errors.append((server, e.reason))
                except OSError as e:  # unreachable, refused, cannot resolve: fail quietly
                    errors.append((server, e.strerror or str(e) or type(e).__name__))
                else:
                    self._synchronized(server, result)
                    return True
                self.unit.log.info("sntp_server_failed", server=server, error=errors[-1][1])
            if len(errors) == 1:
                self._failed(*errors[0])
            else:
                self._failed(", ".join(s for s, _ in errors), "; ".join(f"{s}: {r}" for s, r in errors))
            return False

    def _no_server_reason(self) -> str:
        if self.config.get_text("Hoc.SntpConfigSource") in ("Automatic", "AutomaticIpv6"):
            return "no SNTP server obtained by DHCP (no DHCP client on a named interface, or no option 42)"
        return "no SNTP server configured"

    async def _query(self, server: str) -> SntpResult:
        target = parse_server(server)
        if target is None:
            raise SntpError(f"{server!r} is not a host[:port]")
        host, port = target
        family = socket.AF_INET6 if ":" in self.unit.host else socket.AF_INET
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM), self.timeout
            )
        except TimeoutError:
            raise SntpError(f"cannot resolve {host}: no answer within {self.timeout:g} s") from None
        except socket.gaierror as e:
            raise SntpError(f"cannot resolve {host}: {e.strerror or e}") from None
        if not infos:
            raise SntpError(f"cannot resolve {host}")
        addr = infos[0][4]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((self.unit.host, 0))
            sock.connect(addr)  # only the server's datagrams; ICMP errors reported as ConnectionRefused
            deadline = loop.time() + self.timeout
            query = SntpQuery(self.clock.now())
            sock.send(query.datagram)
            bogus = ""
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise SntpError(f"no reply within {self.timeout:g} s" + (f" ({bogus})" if bogus else ""))
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, MAX_REPLY), remaining)
                except TimeoutError:
                    continue
                t4 = self.clock.now()
                try:
                    return query.receive(data, t4)
                except BogusReply as e:  # not an answer to this request: keep waiting
                    bogus = e.reason
        finally:
            sock.close()

    def _synchronized(self, server: str, result: SntpResult) -> None:
        skew = self.skew
        self.clock.set_time(self.clock.now() + result.offset + skew)
        self._true_offset = self.clock.offset - skew
        self.clock.synchronized = True
        self.last_result = result
        self.unit.log.info(
            "sntp_synchronized", server=server, offset=round(result.offset, 6), delay=round(result.delay, 6),
            stratum=result.stratum, ref_id=result.ref_id, skew=skew,
        )
        if self.tracker.succeeded(server):
            self.unit.notify("Hoc", 9001, server=server)

    def _failed(self, server: str, reason: str) -> None:
        self.unit.log.info("sntp_failed", server=server, error=reason, synchronized=self.clock.synchronized)
        if self.tracker.failed(reason):
            self.unit.notify("Hoc", 9002, server=server, reason=reason)

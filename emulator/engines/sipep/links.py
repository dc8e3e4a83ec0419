"""SipEp persistent links: the TCP/TLS connections a unit keeps open to its servers, and their keep-alive.

* A link is made on the first use of a server target over TCP or TLS (registration, call, bring-up) and
  then maintained: opened from the first free local port of ``SipEp.TransportPersistentBasePort`` ..
  ``+ TransportPersistentPortInterval`` on the unit's address, opened again ``TransportFailbackInterval``
  seconds after it failed or closed. ``SipEp.TlsPersistentConnectionStatus`` shows each (Up / Down /
  WaitingUp).
* When a TLS link comes up: SipEp 303, then 310 with the real host and port; a refused certificate raises the
  Cert notification (the TLS policy) and SipEp 9007 with the reason; a TLS link that goes down, 9008.
* A link back up to a higher-ranked target takes the gateway back (failback, :mod:`servers`), and the
  gateway's registrations that could not get through retry at once; a link that goes down makes them
  register again over the next one.
* Keep-alive — ``SipEp.SipKeepAliveMethod``: ``Ping`` (double CRLF, RFC 5626 §3.5.1), ``SipOptions`` (an
  OPTIONS to the server; its From is the unit's address alone, or with ``SipEp.InteropKeepAliveOptionFormat``
  FullFrom the gateway's first registering user name at it), ``TcpKeepAlive`` (kernel probes) every
  ``SipKeepAliveInterval`` seconds;
  ``SipKeepAliveRetry`` unanswered in a row close the link. The keep-alives are due on the grid
  "link up + k × interval" and each due time fires once (:mod:`emulator.runtime.timers`): a timer that
  wakes early goes back to sleep, one that wakes late fires once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from emulator.engines.cert.tls import PeerRefused, TlsError
from emulator.engines.sipep.connection import Connection
from emulator.engines.sipep.servers import ServerSelection
from emulator.engines.sipep.settings import GatewayRuntime, Settings
from emulator.engines.sipep.transport import PortCycle
from emulator.engines.sipep.ua import UserAgent
from emulator.protocols.sip.dialog import build_request, new_call_id, new_tag
from emulator.protocols.sip.headers import Address
from emulator.protocols.sip.message import Request
from emulator.protocols.sip.target import Target
from emulator.protocols.sip.uri import Uri
from emulator.runtime.timers import Periodic, sleep_until

__all__ = ["Link", "Links", "RegistrationWaker"]


@dataclass(slots=True)
class Link:
    """A persistent TCP/TLS connection to one server of one gateway (TlsPersistentConnectionStatus)."""

    index: int
    gateway: str
    target: Target
    state: str = "WaitingUp"  # Up | Down | WaitingShutdown | WaitingUp
    connection: Connection | None = None
    announced: bool = False


class RegistrationWaker(Protocol):
    """The registrations of a gateway, to be tried again now."""

    def wake(self, gateway: str, *, unreachable_only: bool = False) -> None: ...


class Links:
    """The persistent links of one unit's SipEp service (see the module docstring)."""

    def __init__(self, unit: Any, settings: Settings, ua: UserAgent, servers: ServerSelection, *,
                 now: Callable[[], float]) -> None:
        self.unit, self.settings, self.ua, self.servers = unit, settings, ua, servers
        self.now = now  # the clock keep-alives are due on (the loop's; tests inject one that wakes early)
        self.links: list[Link] = []
        self.ports = PortCycle(16000)
        self.registrations: RegistrationWaker | None = None

    def start(self) -> None:
        self.links = []
        self.ports = PortCycle(int(self.settings.get("SipEp.TransportPersistentBasePort", 16000)),
                               int(self.settings.get("SipEp.TransportPersistentPortInterval", 0)), self.ports.last)

    def stop(self) -> None:
        for link in self.links:
            link.state = "Down"

    def rows(self) -> list[dict[str, Any]]:
        """``SipEp.TlsPersistentConnectionStatus``."""
        rows = []
        for link in self.links:
            conn = link.connection
            up = conn is not None and conn.is_open
            name = link.target.srv_name or link.target.name or link.target.host
            rows.append({"Index": link.index, "Gateway": link.gateway, "LocalPort": conn.local[1] if up and conn else 0,
                         "RemoteHost": f"{name}:{link.target.port}",
                         "RemoteHostIpAddr": conn.remote[0] if up and conn else "", "State": link.state})
        return rows

    def find(self, gateway: str, target: Target) -> Link | None:
        return next((lk for lk in self.links if lk.gateway == gateway and lk.target == target), None)

    def ensure(self, gw: GatewayRuntime, target: Target) -> None:
        """TCP/TLS: the persistent link to a server target, made (and then maintained) on its first use."""
        if target.transport in ("TLS", "TCP") and self.ua.running and self.find(gw.name, target) is None:
            link = Link(len(self.links) + 1, gw.name, target)
            self.links.append(link)
            self.ua.spawn(self._maintain(link))

    async def ready(self, gateway: str, target: Target) -> bool:
        """The UA's gate: a request to a server with a link waits for the link (False: it cannot be up)."""
        link = self.find(gateway, target)
        if link is None:
            return True
        try:
            await self.up(link)
        except Exception:
            return False
        return True

    def connection_closed(self, conn: Connection) -> None:
        for link in self.links:
            if link.connection is conn and link.state == "Up":
                link.state = "Down"

    # ------------------------------------------------------------------ up and down
    async def up(self, link: Link) -> Connection:
        """The open connection of ``link``, opened from the persistent base port when needed."""
        transport = self.ua.transport
        assert transport is not None
        conn = link.connection
        if conn is not None and conn.is_open:
            return conn
        link.state = "WaitingUp"
        conn = await transport.connect(link.target, self.ports.ports())
        self.ports.last = conn.local[1]
        link.connection = conn
        link.state = "Up"
        if not link.announced:
            link.announced = True
            if link.target.transport == "TLS":
                self.unit.notify("SipEp", 303, host=link.target.host, port=link.target.port, gateway=link.gateway)
            self.servers.reachable(link.gateway, link.target, True, force=True)
            failback = self.servers.failback(link.gateway, link.target)
            if self.registrations is not None:  # registrations that could not get through retry now
                self.registrations.wake(link.gateway, unreachable_only=not failback)
        return conn

    async def _maintain(self, link: Link) -> None:
        failback = float(self.settings.get("SipEp.TransportFailbackInterval", 15))
        while self.ua.running:
            try:
                conn = await self.up(link)
            except PeerRefused as exc:
                self._failed(link, f"certificate refused ({exc.reason})", tls_refused=True)
            except (TlsError, OSError, TimeoutError, ValueError) as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # a stop cancelled us while the connect failed (asyncio.wait_for on 3.11 may then raise
                    # TimeoutError instead of CancelledError): stop now, not after a failback wait
                    raise asyncio.CancelledError from exc
                self._failed(link, str(exc) or exc.__class__.__name__, tls_refused=isinstance(exc, TlsError))
            else:
                keepalive = self.ua.spawn(self.keep_alive(link, conn))
                await conn.closed.wait()
                keepalive.cancel()
                if not self.ua.running:
                    return
                link.state = "Down"
                link.announced = False
                if link.target.transport == "TLS":
                    self.unit.notify("SipEp", 9008, host=link.target.host, port=link.target.port,
                                     gateway=link.gateway, reason=conn.close_reason or "closed")
                self.servers.reachable(link.gateway, link.target, False)
                if self.registrations is not None:  # re-register over the next link
                    self.registrations.wake(link.gateway)
            await asyncio.sleep(failback)

    def _failed(self, link: Link, reason: str, *, tls_refused: bool) -> None:
        link.state = "Down"
        if tls_refused and self.ua.transport_kind == "TLS":
            self.unit.notify("SipEp", 9007, host=link.target.host, port=link.target.port, gateway=link.gateway,
                             reason=reason)
        self.servers.reachable(link.gateway, link.target, False)

    # ------------------------------------------------------------------ keep-alive
    async def keep_alive(self, link: Link, conn: Connection) -> None:
        """``SipEp.SipKeepAliveMethod`` on a persistent link (see the module docstring)."""
        get = self.settings.get
        method = str(get("SipEp.SipKeepAliveMethod", "None"))
        interval = float(get("SipEp.SipKeepAliveInterval", 30))
        retries = int(get("SipEp.SipKeepAliveRetry", 3))
        if method == "TcpKeepAlive":
            conn.tcp_keepalive(int(interval), retries)
            return
        if method not in ("Ping", "SipOptions") or interval <= 0:
            return
        schedule = Periodic.start(interval, reference=self.now(), now=self.now())
        missed = 0
        while conn.is_open and self.ua.running:
            await sleep_until(self.now, schedule.due)
            if not schedule.poll(self.now()):
                continue  # woken before the due time (sleep_until never returns early; a clock stepped back)
            ok = await self._ping(link, conn, method, interval)
            missed = 0 if ok else missed + 1
            if missed > retries:
                conn.close(f"{missed} keep-alives unanswered")

    async def _ping(self, link: Link, conn: Connection, method: str, interval: float) -> bool:
        if method == "Ping":
            try:
                conn.ping()
                await asyncio.wait_for(conn.pong.wait(), min(interval, self.ua.timers.b))
            except (TimeoutError, ConnectionError):
                return False
            return True
        return await self.ua.request(self.options(link), link.target, link.gateway) is not None

    def _keepalive_user(self, gateway: str) -> str | None:
        """The From user of a keep-alive OPTIONS: none (``SipEp.InteropKeepAliveOptionFormat`` ShortFrom, factory) or
        the gateway's first user name that registers (FullFrom)."""
        if self.settings.get("SipEp.InteropKeepAliveOptionFormat", "ShortFrom") != "FullFrom":
            return None
        for row in self.settings.endpoint_rows():
            if row.get("Register") == "Enable" and row.get("Username") and \
                    str(row.get("GatewayName") or "all") in (gateway, "all"):
                return str(row["Username"])
        return None

    def options(self, link: Link) -> Request:
        """An out-of-dialog OPTIONS to a server (keep-alive)."""
        params: dict[str, str | None] = {"transport": link.target.transport.lower()}
        server = Uri("sip", host=link.target.host, port=link.target.port, params=params)
        me = Address(Uri("sip", user=self._keepalive_user(link.gateway), host=self.unit.host)).with_tag(new_tag())
        return build_request("OPTIONS", server, from_=me, to=Address(server.copy(params={})), call_id=new_call_id(
            self.unit.host), cseq=1, via=self.ua.via(link.gateway), headers=self.ua.ua_headers())

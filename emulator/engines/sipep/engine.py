"""SipEp: the unit's SIP endpoint service (numkey 1400, "SIP Endpoint").

What it does, from the DGW parameters (fact sheet §1.1, DGW-BEHAVIOUR "SIP"):

* **Transport** — ``SipEp.TransportConfig`` (first row, for the whole unit: TLS is all or nothing):
  ``TlsEnable`` = Enable makes every gateway use TLS (TLS listener on ``Gateway.SecurePort``, 0 =
  5061, and persistent TLS links to the servers); otherwise UDP (``UdpEnable``) and/or TCP
  (``TcpEnable``) on ``Gateway.Port`` (0 = 5060). ``RegistrationEnable`` / ``ContactEnable`` add
  ``;transport=`` to the REGISTER Request-URI / the Contact ("Add SIP Transport in Registration /
  in Contact Header").
* **Servers** per gateway — registrar ``GwSpecificRegistration[gw].ServerHost`` when its
  ``EnableConfig`` is Enable, else ``DefaultStaticRegistrarServerHost``; home-domain proxy
  ``GwSpecificProxy`` / ``DefaultStaticProxyHomeDomainHost``; outbound proxy
  ``…OutboundHost`` (requests go there when set). ``host:0`` = the transport's default port.
* **Resolution and failover** — a server named by a host name is located as RFC 3263 says
  (:mod:`emulator.protocols.sip.resolve`: ``SupportedDnsQueries`` NAPTR -> SRV -> A, ``DnsIpVersion``) through the
  unit's DNS (:mod:`emulator.engines.hoc.dns`: ``Hoc.StaticDnsServers`` or DHCP, ``Hoc.StaticHosts``), again when
  the answers' TTL runs out. Registrations and calls use one target at a time
  (:mod:`emulator.protocols.sip.failover`); a REGISTER or an initial INVITE that gets no answer, or a status
  named by ``DefaultSipFailoverConditions`` / ``GwSpecificFailover``, goes at once to the next target
  (SipEp 9009), failed targets sit in the penalty box (``PenaltyBoxEnable``/``Time``, trunk gateways),
  ``DnsFailureConcealment`` OnNoResolution keeps the last addresses when the DNS fails (9010 either
  way), and a persistent link to a higher-ranked target that comes back takes the gateway back.
  ``RegistrationStatus.Registrar`` shows the address in use; TLS links show the SRV name.
* **Persistent links** (TCP/TLS) from ``TransportPersistentBasePort`` (16000) on the unit's address,
  ``TransportPersistentPortInterval`` ports, re-established every ``TransportFailbackInterval``
  seconds; ``SipEp.TlsPersistentConnectionStatus`` rows (Up / Down / WaitingUp). When a TLS link comes
  up: notification 303 then 310 with the real host and port. A refused certificate: the Cert
  notification (raised by the TLS policy) and SipEp 9007 with the reason.
* **Time** — with TLS and no synchronised time the gateways wait ("Waiting for time synchronization",
  SipEp 9002, Hoc 9003 through ``hoc.require_time()``) and start once the clock is synchronised.
* **Registrations** — one per endpoint of ``SipEp.UserAgent`` with ``Register`` = Enable and a
  ``Username`` (on its ``GatewayName``, ``all`` = every gateway), plus ``SipEp.UnitRegistrations``.
  Digest credentials come from ``SipEp.Authentication`` (first matching row by
  ``CriteriaSelection``: Unit / Endpoint / Gateway / Username, and ``Realm`` when
  ``ValidateRealm``; an empty user name there means the registration's own). Refresh
  ``DefaultRegistrationRefreshTime`` seconds before expiry (half-way for short grants), retry after
  ``DefaultRegistrationRetryTime`` (gateway-specific values when enabled). States in
  ``SipEp.RegistrationStatus``: Registering, Registered, Refreshing, Unregistering, Unregistered,
  Unreachable (no answer, link down), AuthFailed, Rejected (other final responses), ConfigError.
* **User-Agent** per ``InteropUaHeaderFormat`` (``%product%``, ``%version%``, ``%profile%``,
  ``%mac%``, ``%serial%``, ``%%``) when ``InteropSendUaHeaderEnable``.
* **Calls** — :mod:`emulator.engines.sipep.calls` (INVITE/CANCEL/BYE, hold/resume, OPTIONS) over the same
  transaction layer.

The SIP logic is the sans-IO core (:mod:`emulator.protocols.sip`); this module only wires its effects to the
transport (:mod:`emulator.engines.sipep.transport`) and to the unit's status tables and notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.engines.cert.tls import PeerRefused, TlsError, tls_policy
from emulator.engines.hoc.dns import DnsClient, dns_servers, static_hosts
from emulator.engines.sipep.calls import CallManager, OfferAnswer
from emulator.engines.sipep.connection import DEFAULT_LIMITS, StreamLimits
from emulator.engines.sipep.transport import Connection, PortCycle, SipTransport, Source
from emulator.protocols.sip.dialog import build_request, new_call_id, new_tag
from emulator.protocols.sip.digest import DigestClient, DigestError
from emulator.protocols.sip.failover import FailoverConditions, PenaltyBox, ServerTargets, parse_conditions
from emulator.protocols.sip.headers import Address, Via
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.resolve import DnsFailure, Resolved, resolve
from emulator.protocols.sip.target import DEFAULT_PORTS, Target
from emulator.protocols.sip.transaction import (
    DEFAULT_TIMERS,
    ClientInviteTransaction,
    Deliver,
    Effect,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TimedOut,
    TimerConfig,
    TransactionLayer,
    Transmit,
    TransportFailed,
    new_branch,
)
from emulator.protocols.sip.uri import Uri
from emulator.protocols.sip.validate import DGW_METHODS, Policy

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["GatewayRuntime", "Link", "Registration", "ServerAddr", "SipEpEngine", "parse_host_port", "user_agent"]

ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction
_PLACEHOLDERS = {"", "0.0.0.0", "0.0.0.0:0"}

# Bodies the unit reads: SDP, the DTMF relay bodies of SIP INFO, the sipfrag of a transfer's NOTIFY (sipcalls).
ACCEPTED_TYPES = frozenset({"application/sdp", "application/dtmf-relay", "application/dtmf", "message/sipfrag"})


def parse_host_port(text: str) -> tuple[str, int]:
    """``host[:port]`` (IPv6 in brackets) -> (host, port); port 0 when absent."""
    text = (text or "").strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 0
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return text, 0


def user_agent(fmt: str, macros: dict[str, str]) -> str:
    """``SipEp.InteropUaHeaderFormat`` with its ``%macro%`` values (``%%`` is a percent sign)."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return "%" if name == "" else macros.get(name.lower(), m.group(0))
    return re.sub(r"%([A-Za-z]*)%", sub, fmt)


@dataclass(frozen=True, slots=True)
class ServerAddr:
    host: str
    port: int  # 0 = default of the transport

    @classmethod
    def parse(cls, text: str) -> ServerAddr | None:
        if (text or "").strip() in _PLACEHOLDERS:
            return None
        host, port = parse_host_port(text)
        if not host or host == "0.0.0.0":
            return None
        return cls(host, port)

    def target(self, transport: str) -> Target:
        return Target(transport, self.host, self.port or DEFAULT_PORTS[transport])


@dataclass(slots=True)
class Link:
    """A persistent TCP/TLS connection to one server of one gateway (TlsPersistentConnectionStatus)."""

    index: int
    gateway: str
    target: Target
    state: str = "WaitingUp"  # Up | Down | WaitingShutdown | WaitingUp
    connection: Connection | None = None
    announced: bool = False


@dataclass(slots=True)
class Registration:
    index: int
    gateway: str
    endpoint: str
    username: str
    state: str = "Unregistered"
    registrar: str = ""
    call_id: str = field(default_factory=new_call_id)
    from_tag: str = field(default_factory=new_tag)
    cseq: int = 0
    expires: int = 0
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_status: int | None = None


@dataclass(slots=True)
class GatewayRuntime:
    name: str
    type: str
    domain: str
    registrar: ServerAddr | None
    proxy: ServerAddr | None
    outbound: ServerAddr | None
    ports: dict[str, int] = field(default_factory=dict)  # transport -> bound port
    configured_port: int = 0
    configured_secure_port: int = 0
    network_interface: str = ""
    media_networks: str = ""
    state: str = "Restarting"
    refresh_time: int = 60
    expiration: int = 3600
    proposed: int = 0
    retry_time: int = 120
    hop: Target | None = None  # the resolved target calls go to now (set by the engine; failover moves it)

    def hop_server(self) -> ServerAddr | None:
        """The server requests go to first: the outbound proxy, else the proxy, else the registrar."""
        return self.outbound or self.proxy or self.registrar

    def next_hop(self, transport: str) -> Target | None:
        if self.hop is not None and self.hop.transport == transport:
            return self.hop
        server = self.hop_server()
        return server.target(transport) if server else None


class SipEpEngine:
    """The SipEp service of one unit (see the module docstring)."""

    name = "SipEp"

    def __init__(self, unit: Unit, *, timers: TimerConfig = DEFAULT_TIMERS, poll_s: float = 0.2,
                 unregister_timeout: float = 2.0, media: OfferAnswer | None = None,
                 limits: StreamLimits = DEFAULT_LIMITS) -> None:
        self.unit = unit
        self.limits = limits
        self.config = unit.config
        self.timers = timers
        self.poll_s = poll_s
        self.unregister_timeout = unregister_timeout
        self.layer = TransactionLayer(timers)
        self.transport: SipTransport | None = None
        self.gateways: dict[str, GatewayRuntime] = {}
        self.links: list[Link] = []
        self.registrations: list[Registration] = []
        self.transport_kind = "UDP"
        self._pending: dict[int, asyncio.Future[Response | None]] = {}  # id(client txn) -> final response
        self._provisional: dict[int, Callable[[Response], None]] = {}
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ports = PortCycle(16000)
        self._running = False
        self._reachable: dict[tuple[str, str], bool] = {}
        # RFC 3263 resolution and failover state per (gateway, configured server)
        self.servers: dict[tuple[str, ServerAddr], ServerTargets] = {}
        self._resolving: dict[tuple[str, ServerAddr], asyncio.Lock] = {}
        self._unresolved: set[tuple[str, ServerAddr]] = set()  # 9010 raised, not resolved since
        self.rnd = random.Random()
        self.dns = DnsClient(unit.host, self._dns_servers, port=int(getattr(unit, "dns_port", 53) or 53),
                             hosts=lambda: static_hosts(self.config.rows("Hoc.StaticHosts")))
        self.request_handlers: dict[str, Callable[[Request, ServerTransaction | None, Source], None]] = {}
        self.calls = CallManager(self, media=media)
        c = self.config
        c.provide_rows("SipEp.GatewayStatus", self._gateway_rows)
        c.provide_rows("SipEp.RegistrationStatus", self._registration_rows)
        c.provide_rows("SipEp.TlsPersistentConnectionStatus", self._link_rows)

    # ------------------------------------------------------------------ status tables
    def _gateway_rows(self) -> list[dict[str, Any]]:
        rows = []
        for gw in self.gateways.values() if self._running else []:
            rows.append({"Name": gw.name, "NetworkInterface": gw.network_interface, "MediaNetworks": gw.media_networks,
                         "Port": gw.ports.get("UDP") or gw.ports.get("TCP") or 0,
                         "SecurePort": gw.ports.get("TLS", 0), "Domain": gw.domain, "State": gw.state})
        return rows

    def _registration_rows(self) -> list[dict[str, Any]]:
        return [{"Index": r.index, "Gateway": r.gateway, "Endpoint": r.endpoint, "State": r.state,
                 "Registrar": r.registrar, "Username": r.username} for r in self.registrations]

    def _link_rows(self) -> list[dict[str, Any]]:
        rows = []
        for link in self.links:
            conn = link.connection
            up = conn is not None and conn.is_open
            name = link.target.srv_name or link.target.name or link.target.host
            rows.append({"Index": link.index, "Gateway": link.gateway, "LocalPort": conn.local[1] if up and conn else 0,
                         "RemoteHost": f"{name}:{link.target.port}",
                         "RemoteHostIpAddr": conn.remote[0] if up and conn else "", "State": link.state})
        return rows

    # ------------------------------------------------------------------ configuration
    def _get(self, name: str, default: Any = None) -> Any:
        value = self.config.get(name)
        return default if value is None else value

    def _transport_row(self, gateway: str | None = None) -> dict[str, Any]:
        rows = self.config.rows("SipEp.TransportConfig")
        for row in rows:
            if gateway is not None and row.get("GatewayName") == gateway:
                return row
        return rows[0] if rows else {}

    def _transport_kind(self) -> str:
        row = self._transport_row()  # the first row applies to the whole unit
        if row.get("TlsEnable") == "Enable":
            return "TLS"
        if row.get("UdpEnable", "Enable") == "Enable":
            return "UDP"
        if row.get("TcpEnable") == "Enable":
            return "TCP"
        return "UDP"

    def _read_gateways(self) -> dict[str, GatewayRuntime]:
        c = self.config
        gsr = {r["GatewayName"]: r for r in c.rows("SipEp.GwSpecificRegistration")}
        gsp = {r["GatewayName"]: r for r in c.rows("SipEp.GwSpecificProxy")}
        out: dict[str, GatewayRuntime] = {}
        for row in c.rows("SipEp.Gateway"):
            name = str(row["Name"])
            reg = gsr.get(name, {})
            prx = gsp.get(name, {})
            reg_on = reg.get("EnableConfig") == "Enable"
            prx_on = prx.get("EnableConfig") == "Enable"
            registrar = ServerAddr.parse(str(reg.get("ServerHost") if reg_on else
                                             self._get("SipEp.DefaultStaticRegistrarServerHost", "")))
            proxy = ServerAddr.parse(str(prx.get("HomeDomainHost") if prx_on else
                                         self._get("SipEp.DefaultStaticProxyHomeDomainHost", "")))
            outbound = ServerAddr.parse(str(prx.get("OutboundHost") if prx_on else
                                            self._get("SipEp.DefaultStaticProxyOutboundHost", "")))
            domain = str(row.get("Domain") or self._get("SipEp.InteropRegisterHomeDomainOverride", "") or
                         (proxy.host if proxy else registrar.host if registrar else self.unit.host))
            gw = GatewayRuntime(
                name=name, type=str(row.get("Type")), domain=domain, registrar=registrar, proxy=proxy,
                outbound=outbound, configured_port=int(row.get("Port") or 0),
                configured_secure_port=int(row.get("SecurePort") or 0),
                network_interface=str(row.get("NetworkInterface") or ""),
                media_networks=str(row.get("MediaNetworks") or ""),
            )
            if reg_on:
                gw.refresh_time = int(reg.get("RefreshTime") or 60)
                gw.expiration = int(reg.get("ExpirationValue") or 3600)
                gw.proposed = int(reg.get("ProposedExpirationValue") or 0)
                gw.retry_time = int(reg.get("RetryTime") or 120)
            else:
                gw.refresh_time = int(self._get("SipEp.DefaultRegistrationRefreshTime", 60))
                gw.expiration = int(self._get("SipEp.DefaultRegistrationExpirationValue", 3600))
                gw.proposed = int(self._get("SipEp.DefaultRegistrationProposedExpirationValue", 0))
                gw.retry_time = int(self._get("SipEp.DefaultRegistrationRetryTime", 120))
            out[name] = gw
        return out

    def _read_registrations(self) -> list[Registration]:
        regs: list[Registration] = []
        for row in self.config.rows("SipEp.UserAgent"):
            if row.get("Register") != "Enable" or not row.get("Username"):
                continue
            wanted = str(row.get("GatewayName") or "all")
            for gw in self.gateways.values():
                if wanted.lower() in ("all", gw.name.lower()):
                    regs.append(Registration(len(regs) + 1, gw.name, str(row["EpId"]), str(row["Username"])))
        for row in self.config.rows("SipEp.UnitRegistrations"):
            gw_name = str(row.get("GatewayName") or "")
            if row.get("Username") and gw_name in self.gateways:
                regs.append(Registration(len(regs) + 1, gw_name, "", str(row["Username"])))
        return regs

    def credentials(self, reg: Registration, realm: str) -> tuple[str, str] | None:
        """The first ``SipEp.Authentication`` row that applies to ``reg`` and ``realm``: (user, password)."""
        return self.credentials_for(reg.endpoint, reg.gateway, reg.username, realm)

    def credentials_for(self, endpoint: str, gateway: str, username: str, realm: str) -> tuple[str, str] | None:
        """The first ``SipEp.Authentication`` row for an endpoint (or "" for the unit), gateway, user
        name and realm (by ``CriteriaSelection``, ``ValidateRealm``): (user, password)."""
        for row in sorted(self.config.rows("SipEp.Authentication"), key=lambda r: int(r["Index"])):
            crit = row.get("CriteriaSelection")
            if crit == "Endpoint" and str(row.get("EpId")) != endpoint:
                continue
            if crit == "Gateway" and str(row.get("GatewayName")) != gateway:
                continue
            if crit == "Username" and str(row.get("UsernameCriteria")) != username:
                continue
            if row.get("ValidateRealm") == "Enable" and row.get("Realm") and row.get("Realm") != realm:
                continue
            return str(row.get("Username") or username), str(row.get("Password") or "")
        return None

    def user_agent(self) -> str | None:
        if self._get("SipEp.InteropSendUaHeaderEnable", "Enable") != "Enable":
            return None
        return user_agent(str(self._get("SipEp.InteropUaHeaderFormat", "")), self.unit.macros())

    @property
    def running(self) -> bool:
        return self._running

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.layer = TransactionLayer(self.timers)
        self.transport_kind = self._transport_kind()
        self.gateways = self._read_gateways()
        self._ports = PortCycle(int(self._get("SipEp.TransportPersistentBasePort", 16000)),
                                int(self._get("SipEp.TransportPersistentPortInterval", 0)), self._ports.last)
        tls = tls_policy(self.unit, "SipEp") if self.transport_kind == "TLS" else None
        policy = Policy(allowed_methods=DGW_METHODS, accepted_types=ACCEPTED_TYPES)
        self.transport = SipTransport(self.unit.host, self._on_message, tls=tls, policy=policy,
                                      log=self.unit.log.bind(service="SipEp"),
                                      on_connection_closed=self._connection_closed,
                                      connect_timeout=float(self._get("SipEp.InteropTcpConnectTimeout", 10)),
                                      limits=self.limits)
        self.transport.local_ports = self._ports.ports
        self._running = True
        await self._start_listeners()
        self.registrations = self._read_registrations()
        self.links = []
        self.servers = {}
        self._resolving = {}
        self._unresolved = set()
        for gw in self.gateways.values():
            unknown = self.conditions(gw.name).unknown
            if unknown:
                self.unit.log.warning("sip_failover_condition_unknown", gateway=gw.name, keywords=list(unknown))
        self._spawn(self._bring_up())

    async def stop(self) -> None:
        if not self._running:
            return
        regs = [r for r in self.registrations if r.state in ("Registered", "Refreshing")]
        for reg in self.registrations:
            if reg.task is not None:
                reg.task.cancel()
        if regs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*(self._unregister(r) for r in regs), return_exceptions=True),
                                       self.unregister_timeout)
        self.calls.stop()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_result(None)
        self._pending.clear()
        if self.transport is not None:
            await self.transport.close()
        for reg in self.registrations:
            reg.state = "Unregistered"
        for link in self.links:
            link.state = "Down"
        self.unit.listening.pop("sip", None)
        self.unit.listening.pop("sip_tls", None)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _start_listeners(self) -> None:
        assert self.transport is not None
        host = self.unit.host
        for gw in self.gateways.values():
            try:
                if self.transport_kind == "TLS":
                    port = self.unit.ports.real_port(gw.configured_secure_port or 5061)
                    gw.ports["TLS"] = await self.transport.listen("TLS", port)
                else:
                    row = self._transport_row(gw.name)
                    port = self.unit.ports.real_port(gw.configured_port or 5060)
                    if row.get("UdpEnable", "Enable") == "Enable" or self.transport_kind == "UDP":
                        port = gw.ports["UDP"] = await self.transport.listen("UDP", port)
                    if row.get("TcpEnable") == "Enable":
                        gw.ports["TCP"] = await self.transport.listen("TCP", port)
                gw.state = "Ready"
            except OSError as exc:
                gw.state = "Cannot start, port already in use"
                self.unit.log.warning("sip_listen_failed", gateway=gw.name, error=str(exc))
            except Exception as exc:  # e.g. no host certificate for the TLS listener
                gw.state = "Invalid Configuration"
                self.unit.log.warning("sip_listen_failed", gateway=gw.name, error=str(exc))
        first = next(iter(self.gateways.values()), None)
        if first is not None:
            if "UDP" in first.ports or "TCP" in first.ports:
                self.unit.listening["sip"] = f"{host}:{first.ports.get('UDP') or first.ports.get('TCP')}"
            if "TLS" in first.ports:
                self.unit.listening["sip_tls"] = f"{host}:{first.ports['TLS']}"

    async def _bring_up(self) -> None:
        if self.transport_kind == "TLS" and not self.unit.clock.synchronized:
            for gw in self.gateways.values():
                if gw.state == "Ready":
                    gw.state = "Waiting for time synchronization"
                    self.unit.notify("SipEp", 9002, gateway=gw.name)
            hoc = getattr(self.unit, "hoc", None)
            if hoc is not None:
                hoc.require_time()
            while not self.unit.clock.synchronized:
                await asyncio.sleep(self.poll_s)
            for gw in self.gateways.values():
                if gw.state == "Waiting for time synchronization":
                    gw.state = "Ready"
        for gw in self.gateways.values():  # resolve every server; persistent links to the targets chosen
            for server in dict.fromkeys(s for s in (gw.outbound, gw.proxy, gw.registrar) if s is not None):
                _, chosen = await self.server_target(gw, server)
                if chosen is not None:
                    self._server_link(gw, chosen.target(server.host))
        for reg in self.registrations:
            reg.task = self._spawn(self._registration_loop(reg))

    # ------------------------------------------------------------------ persistent links
    async def _maintain_link(self, link: Link) -> None:
        failback = float(self._get("SipEp.TransportFailbackInterval", 15))
        while self._running:
            try:
                conn = await self.ensure_link(link)
            except PeerRefused as exc:
                self._link_failed(link, f"certificate refused ({exc.reason})", tls_refused=True)
            except (TlsError, OSError, TimeoutError, ValueError) as exc:
                self._link_failed(link, str(exc) or exc.__class__.__name__, tls_refused=isinstance(exc, TlsError))
            else:
                keepalive = self._spawn(self._keepalive(link, conn))
                await conn.closed.wait()
                keepalive.cancel()
                if not self._running:
                    return
                link.state = "Down"
                link.announced = False
                if link.target.transport == "TLS":
                    self.unit.notify("SipEp", 9008, host=link.target.host, port=link.target.port,
                                     gateway=link.gateway, reason=conn.close_reason or "closed")
                self._set_reachable(link.gateway, link.target, False)
                for reg in self.registrations:  # re-register over the next link
                    if reg.gateway == link.gateway:
                        reg.wake.set()
            await asyncio.sleep(failback)

    async def _keepalive(self, link: Link, conn: Connection) -> None:
        """``SipEp.SipKeepAliveMethod`` on a persistent link: ``Ping`` (double CRLF, RFC 5626),
        ``SipOptions`` (an OPTIONS to the server), ``TcpKeepAlive`` (kernel probes) every
        ``SipKeepAliveInterval`` seconds; ``SipKeepAliveRetry`` unanswered in a row close the link
        (it is then re-established after ``TransportFailbackInterval``)."""
        method = str(self._get("SipEp.SipKeepAliveMethod", "None"))
        interval = float(self._get("SipEp.SipKeepAliveInterval", 30))
        retries = int(self._get("SipEp.SipKeepAliveRetry", 3))
        if method == "TcpKeepAlive":
            conn.tcp_keepalive(int(interval), retries)
            return
        if method not in ("Ping", "SipOptions"):
            return
        missed = 0
        while conn.is_open and self._running:
            await asyncio.sleep(interval)
            if method == "Ping":
                try:
                    conn.ping()
                    await asyncio.wait_for(conn.pong.wait(), min(interval, self.timers.b))
                    ok = True
                except (TimeoutError, ConnectionError):
                    ok = False
            else:
                ok = await self.request(self._options(link), link.target, link.gateway) is not None
            missed = 0 if ok else missed + 1
            if missed > retries:
                conn.close(f"{missed} keep-alives unanswered")

    def _options(self, link: Link) -> Request:
        """An out-of-dialog OPTIONS to a server (keep-alive)."""
        params: dict[str, str | None] = {"transport": link.target.transport.lower()}
        server = Uri("sip", host=link.target.host, port=link.target.port, params=params)
        me = Address(Uri("sip", host=self.unit.host)).with_tag(new_tag())
        return build_request("OPTIONS", server, from_=me, to=Address(server.copy(params={})), call_id=new_call_id(
            self.unit.host), cseq=1, via=self.via(link.gateway), headers=self._ua_header())

    def _link_failed(self, link: Link, reason: str, *, tls_refused: bool) -> None:
        link.state = "Down"
        if tls_refused and self.transport_kind == "TLS":
            self.unit.notify("SipEp", 9007, host=link.target.host, port=link.target.port, gateway=link.gateway,
                             reason=reason)
        self._set_reachable(link.gateway, link.target, False)

    async def ensure_link(self, link: Link) -> Connection:
        """The open connection of ``link``, opened from the persistent base port when needed."""
        assert self.transport is not None
        conn = link.connection
        if conn is not None and conn.is_open:
            return conn
        link.state = "WaitingUp"
        conn = await self.transport.connect(link.target, self._ports.ports())
        self._ports.last = conn.local[1]
        link.connection = conn
        link.state = "Up"
        if not link.announced:
            link.announced = True
            if link.target.transport == "TLS":
                self.unit.notify("SipEp", 303, host=link.target.host, port=link.target.port, gateway=link.gateway)
            self._set_reachable(link.gateway, link.target, True, force=True)
            failback = self._failback(link)
            for reg in self.registrations:  # a link back up: registrations that could not get through retry now
                if reg.gateway == link.gateway and (reg.state == "Unreachable" or failback):
                    reg.wake.set()
        return conn

    def _set_reachable(self, gateway: str, target: Target, reachable: bool, *, force: bool = False) -> None:
        key = (gateway, f"{target.host}:{target.port}")
        before = self._reachable.get(key)
        self._reachable[key] = reachable
        gw = self.gateways.get(gateway)
        if reachable:
            if before is not True or force:
                self.unit.notify("SipEp", 310, host=target.host, port=target.port, gateway=gateway)
            in_use = self._in_use(gateway)
            if gw is not None and gw.state == "Server unreachable" and not any(
                    v is False for (g, k), v in self._reachable.items()
                    if g == gateway and (k in in_use or not in_use)):
                gw.state = "Ready"
        else:
            if before is not False:
                self.unit.notify("SipEp", 9001, host=target.host, port=target.port, gateway=gateway)
            in_use = self._in_use(gateway)
            if gw is not None and gw.state == "Ready" and (key[1] in in_use or not in_use):
                gw.state = "Server unreachable"

    def _in_use(self, gateway: str) -> set[str]:
        """``address:port`` of the targets a gateway uses now (a failed-over target no longer counts)."""
        return {f"{s.current.address}:{s.current.port}" for (g, _), s in self.servers.items()
                if g == gateway and s.current is not None}

    def _connection_closed(self, conn: Connection) -> None:
        for link in self.links:
            if link.connection is conn and link.state == "Up":
                link.state = "Down"

    def _link_for(self, gateway: str, target: Target) -> Link | None:
        return next((lk for lk in self.links if lk.gateway == gateway and lk.target == target), None)

    # ------------------------------------------------------------------ transactions
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def via(self, gateway: str, transport: str | None = None) -> str:
        kind = transport or self.transport_kind
        gw = self.gateways[gateway]
        port = gw.ports.get(kind) or gw.ports.get("UDP") or next(iter(gw.ports.values()), 5060)
        return f"SIP/2.0/{kind} {self.unit.host}:{port};rport"

    def contact_uri(self, gateway: str, user: str | None) -> Uri:
        kind = self.transport_kind
        gw = self.gateways[gateway]
        port = gw.ports.get(kind) or next(iter(gw.ports.values()), DEFAULT_PORTS[kind])
        params: dict[str, str | None] = {}
        if self._transport_row(gateway).get("ContactEnable") == "Enable":
            params["transport"] = kind.lower()
        return Uri("sip", user=user, host=self.unit.host, port=port, params=params)

    async def request(self, request: Request, target: Target, gateway: str | None = None, *,
                      on_provisional: Callable[[Response], None] | None = None,
                      on_transaction: Callable[[ClientInviteTransaction], None] | None = None) -> Response | None:
        """Send ``request`` in a client transaction; the final response, or None (timeout, transport failure).

        An initial INVITE sent to the gateway's server in use fails over like a REGISTER: on no answer
        (or a status the failover conditions name, e.g. ``503OnInvite``) it is sent again, with a new
        branch, to the next target, and the call (and the gateway's registrations) follow."""
        response = await self._request_once(request, target, gateway, on_provisional=on_provisional,
                                            on_transaction=on_transaction)
        if gateway is None or request.method != "INVITE" or request.to.tag is not None:
            return response
        return await self._invite_failover(request, target, gateway, response, on_provisional, on_transaction)

    async def _invite_failover(self, request: Request, target: Target, gateway: str, response: Response | None,
                               on_provisional: Callable[[Response], None] | None,
                               on_transaction: Callable[[ClientInviteTransaction], None] | None) -> Response | None:
        gw = self.gateways.get(gateway)
        server = gw.hop_server() if gw is not None else None
        state = self.servers.get((gateway, server)) if server is not None else None
        if gw is None or server is None or state is None:
            return response
        conditions = self.conditions(gateway)
        tried: set[tuple[str, str, int]] = set()
        while self._running and (response is None or response.status >= 300):
            status = None if response is None else response.status
            failed = next((t for t in state.targets if t.key == (target.transport, target.host, target.port)), None)
            if failed is None or not conditions.fails_over("INVITE", status):
                break
            tried.add(failed.key)
            if response is None:
                self._set_reachable(gateway, target, False)
            nxt = self._failover(gw, state, failed, "no answer" if response is None else f"{status} {response.reason}")
            for reg in self.registrations:  # the registrations leave the failed server too
                if reg.gateway == gateway and (gw.outbound or gw.registrar) == server:
                    reg.wake.set()
            call = next((c for c in self.calls.calls if c.call_id == request.call_id), None)
            if nxt is None or nxt.key in tried or call is None or not call.active or call.cancel_requested:
                break
            target = nxt.target(server.host)
            call.target = target  # CANCEL and in-dialog requests without a route set go there now
            request = _with_new_branch(request)
            self._server_link(gw, target)
            response = await self._request_once(request, target, gateway, on_provisional=on_provisional,
                                                on_transaction=on_transaction)
        return response

    async def _request_once(self, request: Request, target: Target, gateway: str | None, *,
                            on_provisional: Callable[[Response], None] | None,
                            on_transaction: Callable[[ClientInviteTransaction], None] | None) -> Response | None:
        if gateway is not None and target.transport in ("TLS", "TCP"):
            link = self._link_for(gateway, target)
            if link is not None:
                try:
                    await self.ensure_link(link)
                except Exception:
                    return None
        fut: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()
        txn, effects = self.layer.send_request(request, self._now(), peer=target, reliable=target.transport != "UDP")
        self._pending[id(txn)] = fut
        if on_provisional is not None:
            self._provisional[id(txn)] = on_provisional
        if on_transaction is not None and isinstance(txn, ClientInviteTransaction):
            on_transaction(txn)
        self._run(effects)
        try:
            return await fut
        finally:
            self._pending.pop(id(txn), None)
            self._provisional.pop(id(txn), None)

    def respond(self, txn: ServerTransaction, response: Response) -> None:
        if txn.terminated:
            return
        self._run(self.layer.respond(txn, response, self._now()))

    def send_stateless(self, message: Request | Response, target: Target | Source) -> None:
        """An ACK for a 2xx, a 2xx retransmission: straight to the transport."""
        self._spawn(self._send(message, target, None))

    def _run(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Transmit):
                self._spawn(self._send(effect.message, effect.peer, effect.transaction))
            elif isinstance(effect, Deliver):
                self._deliver(effect)
            elif isinstance(effect, TimedOut | TransportFailed):
                txn = effect.transaction
                if txn is not None:
                    fut = self._pending.get(id(txn))
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                    if isinstance(effect, TimedOut):
                        self.calls.timed_out(txn, effect.timer)
        self._schedule()

    async def _send(self, message: Request | Response, peer: Any, txn: Any) -> None:
        assert self.transport is not None
        try:
            await self.transport.send(message, peer)
        except Exception as exc:
            self.unit.log.info("sip_send_failed", peer=str(peer), error=str(exc) or exc.__class__.__name__)
            if txn is not None and self._running:
                self._run(self.layer.transport_error(txn, self._now()))

    def _schedule(self) -> None:
        """One loop timer at the transaction layer's next deadline. The deadline is kept beside the handle:
        uvloop returns a plain ``Handle`` (no ``when()``) for a deadline already past."""
        if not self._running:
            return
        deadline = self.layer.next_deadline()
        if self._timer is not None:
            if deadline is not None and abs(self._timer_at - deadline) < 1e-6:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer_at = deadline
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._run(self.layer.handle_timer(self._now()))

    def _on_message(self, message: Request | Response, source: Source) -> None:
        self._run(self.layer.receive(message, self._now(), peer=source, reliable=source.reliable))

    def _deliver(self, effect: Deliver) -> None:
        message, txn = effect.message, effect.transaction
        if isinstance(message, Response):
            if txn is None:
                self.calls.stray_response(message)
                return
            if message.status < 200:
                cb = self._provisional.get(id(txn))
                if cb is not None:
                    cb(message)
                return
            fut = self._pending.get(id(txn))
            if fut is not None and not fut.done():
                fut.set_result(message)
            else:
                self.calls.stray_response(message)  # 2xx retransmission (RFC 6026 Accepted): ACK again
            return
        if message.method == "ACK":  # an ACK for a 2xx belongs to the dialog (§13.2.2.4, RFC 6026 §7.1)
            self.calls.ack_received(message)
            return
        source = txn.peer if txn is not None else None
        if txn is None or source is None:
            return
        handler = self.request_handlers.get(message.method)
        if handler is not None:
            handler(message, txn, source)  # type: ignore[arg-type]
            return
        if message.method == "OPTIONS":
            allow = ", ".join(sorted(DGW_METHODS))
            self.respond(txn, make_response(message, 200, to_tag=new_tag(), headers=[  # type: ignore[arg-type]
                ("Allow", allow), ("Accept", "application/sdp"), *self._ua_header()]))
            return
        if message.method not in DGW_METHODS:
            status = 501
        elif message.method == "INVITE" and message.to.tag is None:
            status = 480  # no call handling attached to this unit
        else:
            status = 481  # no such dialog / transaction
        self.respond(txn, make_response(message, status, to_tag=new_tag()))  # type: ignore[arg-type]

    def _ua_header(self) -> list[tuple[str, str]]:
        ua = self.user_agent()
        return [("User-Agent", ua)] if ua else []

    # ------------------------------------------------------------------ server resolution and failover
    def _dns_servers(self) -> list[str]:
        """``Hoc.DnsServersConfigSource``: the static table, or what the unit's DHCP client got."""
        hoc = getattr(self.unit, "hoc", None)
        dhcp = [str(x) for x in (getattr(hoc, "dhcp_dns_servers", None) or ())]
        return dns_servers(str(self._get("Hoc.DnsServersConfigSource", "Automatic")),
                           self.config.rows("Hoc.StaticDnsServers"), dhcp)

    def conditions(self, gateway: str) -> FailoverConditions:
        """``SipEp.GwSpecificFailover`` (when enabled for the gateway), else ``DefaultSipFailoverConditions``."""
        for row in self.config.rows("SipEp.GwSpecificFailover"):
            if str(row.get("GatewayName")) == gateway and row.get("EnableConfig") == "Enable":
                return parse_conditions(str(row.get("SipFailoverConditions") or ""))
        return parse_conditions(str(self._get("SipEp.DefaultSipFailoverConditions", "5xxOnRegistration")))

    def _server_state(self, gw: GatewayRuntime, server: ServerAddr) -> ServerTargets:
        state = self.servers.get((gw.name, server))
        if state is None:
            # the DGW applies the penalty box to trunk gateways only (SIP Misc: "SIP Penalty Box")
            box = PenaltyBox(float(self._get("SipEp.PenaltyBoxTime", 300)),
                             self._get("SipEp.PenaltyBoxEnable", "Disable") == "Enable" and gw.type == "TrunkGateway")
            state = self.servers[(gw.name, server)] = ServerTargets(server.host, server.port, box)
        return state

    async def server_target(self, gw: GatewayRuntime, server: ServerAddr) -> tuple[ServerTargets, Resolved | None]:
        """The targets of ``server`` (resolved again when the DNS TTL ran out) and the one to use now."""
        state = self._server_state(gw, server)
        await self._resolve(gw, server, state)
        chosen = state.select(self._now())
        self._update_hop(gw)
        return state, chosen

    async def _resolve(self, gw: GatewayRuntime, server: ServerAddr, state: ServerTargets) -> None:
        key = (gw.name, server)
        async with self._resolving.setdefault(key, asyncio.Lock()):  # one resolution at a time per server
            if not state.needs_resolution(self._now()):
                return
            session = self.dns.session()
            try:
                found = await resolve(
                    server.host, server.port, self.transport_kind, session,
                    queries=str(self._get("SipEp.SupportedDnsQueries", "Naptr")),
                    ipv6=self._get("SipEp.DnsIpVersion", "IpV4Preferred") != "IpV4Only",
                    force_naptr_tls=self._get("SipEp.InteropForceDnsNaptrInTls", "Disable") == "Enable",
                    rnd=self.rnd)
                reason = "no address"
            except DnsFailure as exc:
                found, reason = [], str(exc)
            found = [t for t in found if self._same_family(t.address)]  # sockets bind the unit's address
            now = self._now()
            if found:
                # no DNS question (an IP, a static host): look again in a minute (Hoc.StaticHosts may change)
                state.update(found, now, session.ttl if session.ttl is not None else 60.0)
                self._unresolved.discard(key)
                return
            conceal = self._get("SipEp.DnsFailureConcealment", "None") == "OnNoResolution" and bool(state.targets)
            state.resolution_failed(now, conceal)
            if key not in self._unresolved:
                self._unresolved.add(key)
                self.unit.notify("SipEp", 9010, host=server.host, gateway=gw.name,
                                 reason=reason + ("; the last addresses are kept" if conceal else ""))

    def _same_family(self, address: str) -> bool:
        try:
            return ipaddress.ip_address(address).version == ipaddress.ip_address(self.unit.host).version
        except ValueError:
            return True

    def _update_hop(self, gw: GatewayRuntime) -> None:
        """Calls follow the target in use of the gateway's first hop (sipcalls reads ``gw.next_hop``)."""
        server = gw.hop_server()
        state = self.servers.get((gw.name, server)) if server is not None else None
        chosen = None if state is None else state.current or next(iter(state.targets), None)
        gw.hop = chosen.target(server.host) if chosen is not None and server is not None else None

    def _failover(self, gw: GatewayRuntime, state: ServerTargets, failed: Resolved, reason: str) -> Resolved | None:
        """``failed`` met a failover condition: the next target (notification 9009), or None."""
        nxt = state.failed(failed, self._now())
        if nxt is not None and nxt.key != failed.key:
            self.unit.notify("SipEp", 9009, gateway=gw.name, old=str(failed), new=str(nxt), reason=reason)
        self._update_hop(gw)
        return nxt

    def _failback(self, link: Link) -> bool:
        """A link to a higher-ranked target than the one in use is up again: go back to it."""
        gw = self.gateways.get(link.gateway)
        if gw is None:
            return False
        key = (link.target.transport, link.target.host, link.target.port)
        moved = False
        for (name, _), state in self.servers.items():
            target = next((t for t in state.targets if t.key == key), None) if name == gw.name else None
            old = state.current
            if target is not None and old is not None and state.prefer(target, self._now()):
                self.unit.notify("SipEp", 9009, gateway=gw.name, old=str(old), new=str(target),
                                 reason="a higher-priority server is reachable again")
                moved = True
        if moved:
            self._update_hop(gw)
        return moved

    def _server_link(self, gw: GatewayRuntime, target: Target) -> None:
        """TCP/TLS: the persistent link to a server target, made (and then maintained) on its first use."""
        if target.transport in ("TLS", "TCP") and self._running and self._link_for(gw.name, target) is None:
            link = Link(len(self.links) + 1, gw.name, target)
            self.links.append(link)
            self._spawn(self._maintain_link(link))

    # ------------------------------------------------------------------ registrations
    def _register_request(self, reg: Registration, gw: GatewayRuntime, registrar: ServerAddr, expires: int,
                          auth: tuple[str, str] | None = None) -> Request:
        params: dict[str, str | None] = {}
        if self._transport_row(gw.name).get("RegistrationEnable") == "Enable":
            params["transport"] = self.transport_kind.lower()
        ruri = Uri("sip", host=registrar.host, port=registrar.port or None, params=params)
        aor = Uri("sip", user=reg.username, host=gw.domain)
        reg.cseq += 1
        headers = [("Expires", str(expires)), ("Allow", ", ".join(sorted(DGW_METHODS))), *self._ua_header()]
        if auth is not None:
            headers.insert(0, auth)
        return build_request("REGISTER", ruri, from_=Address(aor).with_tag(reg.from_tag), to=Address(aor),
                             call_id=reg.call_id, cseq=reg.cseq, via=self.via(gw.name),
                             contact=Address(self.contact_uri(gw.name, reg.username)),
                             max_forwards=int(self._get("SipEp.InteropMaxForwardsValue", 70)), headers=headers)

    async def _registration_loop(self, reg: Registration) -> None:
        while self._running:
            reg.wake.clear()
            try:
                delay = await self.register_once(reg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the registration for good
                self.unit.log.exception("sip_registration_failed", endpoint=reg.endpoint, error=repr(exc))
                reg.state = "InvalidResponse"
                delay = float(self.gateways[reg.gateway].retry_time)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reg.wake.wait(), delay)

    async def _register_exchange(self, reg: Registration, gw: GatewayRuntime, registrar: ServerAddr, target: Target,
                                 wanted: int) -> tuple[Request, Response | None]:
        """REGISTER to ``target``, answering one digest challenge (twice for a stale nonce)."""
        request = self._register_request(reg, gw, registrar, wanted)
        response = await self.request(request, target, gw.name)
        tried_auth = False
        while response is not None and response.status in (401, 407) and not tried_auth:
            challenges = response.www_authenticate if response.status == 401 else response.proxy_authenticate
            realm = next((c.realm for c in challenges if c.realm), "") or ""
            creds = self.credentials(reg, realm)
            if creds is None:
                break
            try:
                value = DigestClient(*creds).authorize(challenges, "REGISTER", str(request.uri))
            except DigestError:
                break
            header = "Authorization" if response.status == 401 else "Proxy-Authorization"
            request = self._register_request(reg, gw, registrar, wanted, (header, str(value)))
            response = await self.request(request, target, gw.name)
            tried_auth = True
            if response is not None and response.status in (401, 407):
                again = response.www_authenticate if response.status == 401 else response.proxy_authenticate
                if any(c.stale for c in again):
                    tried_auth = False  # a stale nonce: answer the fresh challenge once more
        return request, response

    async def register_once(self, reg: Registration, expires: int | None = None) -> float:
        """One registration attempt: REGISTER (with digest) to the target in use of the registrar (or of the
        outbound proxy), moving on to the next resolved target while the gateway's failover conditions say
        so, each target once. Returns the delay to the next attempt (refresh or retry)."""
        gw = self.gateways[reg.gateway]
        registrar = gw.registrar
        if registrar is None:
            reg.state = "ConfigError"
            return float(gw.retry_time)
        hop = gw.outbound or registrar  # DGW: registrations follow the outbound proxy when one is set
        wanted = expires if expires is not None else (gw.proposed or gw.expiration)
        unregister = wanted == 0
        state, chosen = await self.server_target(gw, hop)
        if chosen is None:  # the server's name does not resolve (SipEp 9010)
            reg.state = "Unreachable"
            reg.last_status = None
            return float(gw.retry_time)
        reg.state = "Unregistering" if unregister else ("Refreshing" if reg.state == "Registered" else "Registering")
        conditions = self.conditions(gw.name)
        tried: set[tuple[str, str, int]] = set()
        while True:
            tried.add(chosen.key)
            target = chosen.target(hop.host)
            self._server_link(gw, target)
            request, response = await self._register_exchange(reg, gw, registrar, target, wanted)
            if response is None:
                self._set_reachable(gw.name, target, False)
            if unregister or not self._running or not conditions.fails_over(
                    "REGISTER", None if response is None else response.status):
                break
            reason = "no answer" if response is None else f"{response.status} {response.reason}"
            nxt = self._failover(gw, state, chosen, reason)
            if nxt is None or nxt.key in tried:
                break
            chosen = nxt
        previous, reg.registrar = reg.registrar, str(chosen)
        if response is None:
            reg.state = "Unreachable"
            reg.last_status = None
            return float(gw.retry_time)
        reg.last_status = response.status
        self._set_reachable(gw.name, target, True)
        if unregister:
            reg.state = "Unregistered"
            return float(gw.retry_time)
        if response.status in (401, 407):
            reg.state = "AuthFailed"
            self.unit.notify("SipEp", 9006, endpoint=reg.endpoint or "unit", username=reg.username,
                             registrar=reg.registrar, gateway=gw.name)
            return float(gw.retry_time)
        if response.status >= 300:
            reg.state = "Rejected"
            self.unit.notify("SipEp", 9005, endpoint=reg.endpoint or "unit", username=reg.username,
                             registrar=reg.registrar, gateway=gw.name, status=response.status,
                             reason=response.reason)
            return float(gw.retry_time)
        if not 200 <= response.status < 300:
            reg.state = "InvalidResponse"
            return float(gw.retry_time)
        granted = self._granted(response, request, wanted)
        was = reg.state
        reg.expires = granted
        reg.state = "Registered"
        if was == "Registering" or previous != reg.registrar:  # a new registration, or one on another server
            self.unit.notify("SipEp", 9004, endpoint=reg.endpoint or "unit", username=reg.username,
                             registrar=reg.registrar, gateway=gw.name)
        if granted <= 0:
            return float(gw.retry_time)
        refresh = granted - gw.refresh_time if granted > 2 * gw.refresh_time else granted / 2
        return max(1.0, float(refresh))

    @staticmethod
    def _granted(response: Response, request: Request, wanted: int) -> int:
        mine = request.contact[0].uri if request.contact else None
        with contextlib.suppress(Exception):
            for contact in response.contact:
                if mine is not None and contact.uri.host == mine.host and contact.uri.port == mine.port \
                        and contact.uri.user == mine.user and contact.expires is not None:
                    return contact.expires
        with contextlib.suppress(Exception):
            if response.expires is not None:
                return int(response.expires)
        return wanted

    async def _unregister(self, reg: Registration) -> None:
        await self.register_once(reg, expires=0)

    def registration(self, endpoint: str) -> Registration | None:
        return next((r for r in self.registrations if r.endpoint == endpoint), None)


def _with_new_branch(request: Request) -> Request:
    """A copy of ``request`` for a new client transaction (§8.1.1.7: a new branch; the rest unchanged)."""
    copy = Request(request.method, request.uri, request.headers.copy(), request.body)
    top = copy.top_via
    copy.headers.remove_first("Via")
    params = {**top.params, "branch": new_branch()}
    copy.headers.prepend("Via", str(Via(top.transport, top.host, top.port, params, top.protocol)))
    return copy

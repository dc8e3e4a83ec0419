"""SipEp: the unit's SIP endpoint service (numkey 1400, "SIP Endpoint") — the service that composes its parts.

What it does, from the DGW parameters (fact sheet §1.1, DGW-BEHAVIOUR "SIP"), and which object does it:

* **Transport** (:mod:`~emulator.engines.sipep.transport`) — ``SipEp.TransportConfig`` first row: TLS
  listener on ``Gateway.SecurePort`` (0 = 5061) and persistent TLS links when ``TlsEnable``; otherwise UDP
  and/or TCP on ``Gateway.Port`` (0 = 5060). Limits on accepted connections: :class:`StreamLimits`.
* **User agent** (:mod:`~emulator.engines.sipep.ua`) — the RFC 3261 transaction layer over the transport,
  the headers of each gateway (Via, Contact, User-Agent per ``InteropUaHeaderFormat``), OPTIONS answered.
* **Server selection** (:mod:`~emulator.engines.sipep.servers`) — RFC 3263 resolution through the unit's
  DNS, failover (SipEp 9009), penalty box, failback, reachability (310 / 9001, 9010).
* **Persistent links** (:mod:`~emulator.engines.sipep.links`) — TCP/TLS from
  ``TransportPersistentBasePort`` (16000), ``SipEp.TlsPersistentConnectionStatus``, 303 / 9007 / 9008,
  keep-alive (``SipKeepAliveMethod``).
* **Time** — with TLS and no synchronised time the gateways wait ("Waiting for time synchronization",
  SipEp 9002, Hoc 9003 through ``hoc.require_time()``) and start once the clock is synchronised.
* **Registrations** (:mod:`~emulator.engines.sipep.registrations`) — ``SipEp.UserAgent`` /
  ``UnitRegistrations``, digest, refresh and retry, ``SipEp.RegistrationStatus``.
* **Calls** (:mod:`~emulator.engines.sipep.calls`) — INVITE/CANCEL/BYE, hold/resume, DTMF, transfer, over
  the same user agent; the media through the offer/answer hook.

Status tables: ``SipEp.GatewayStatus`` (here), ``SipEp.RegistrationStatus``,
``SipEp.TlsPersistentConnectionStatus``. The SIP logic is the sans-IO core (:mod:`emulator.protocols.sip`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from emulator.engines.cert.tls import tls_policy
from emulator.engines.hoc.dns import DnsClient
from emulator.engines.sipep.call_ua import RequestHandler
from emulator.engines.sipep.calls import CallManager
from emulator.engines.sipep.connection import DEFAULT_LIMITS, StreamLimits
from emulator.engines.sipep.line_stats import LineStats
from emulator.engines.sipep.line_status import LineStatus
from emulator.engines.sipep.links import Link, Links
from emulator.engines.sipep.mirrors import hep_mirror, signaling_log
from emulator.engines.sipep.mwi import MwiSubscriptions
from emulator.engines.sipep.offer_answer import OfferAnswer
from emulator.engines.sipep.registrations import Registration, Registrations
from emulator.engines.sipep.servers import ServerSelection
from emulator.engines.sipep.settings import GatewayRuntime, ServerAddr, Settings, parse_host_port, user_agent
from emulator.engines.sipep.transport import SipTransport
from emulator.engines.sipep.ua import UserAgent
from emulator.engines.sipep.vq_publish import VqPublisher
from emulator.protocols.sip.failover import FailoverConditions, ServerTargets
from emulator.protocols.sip.message import Response
from emulator.protocols.sip.resolve import Resolved
from emulator.protocols.sip.target import Target
from emulator.protocols.sip.transaction import DEFAULT_TIMERS, TimerConfig
from emulator.protocols.sip.validate import DGW_METHODS, Policy

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["GatewayRuntime", "Link", "Registration", "ServerAddr", "SipEpEngine", "parse_host_port", "user_agent"]

# Bodies the unit reads: SDP, the DTMF relay bodies of SIP INFO, the sipfrag of a transfer's NOTIFY.
ACCEPTED_TYPES = frozenset({"application/sdp", "application/dtmf-relay", "application/dtmf", "message/sipfrag",
                            "application/simple-message-summary",  # MWI NOTIFYs (RFC 3842)
                            "application/call-completion",  # call completion NOTIFYs (RFC 6910)
                            "application/hook-flash"})  # a far end's hook-flash in an INFO (EpServ, in_dialog.py)


class SipEpEngine:
    """The SipEp service of one unit (see the module docstring)."""

    name = "SipEp"

    def __init__(self, unit: Unit, *, timers: TimerConfig = DEFAULT_TIMERS, poll_s: float = 0.2,
                 unregister_timeout: float = 2.0, media: OfferAnswer | None = None,
                 limits: StreamLimits = DEFAULT_LIMITS) -> None:
        self.unit = unit
        self.config = unit.config
        self.timers = timers
        self.poll_s = poll_s
        self.limits = limits
        self.settings = Settings(unit.config, unit.host, unit.macros)
        self.ua = UserAgent(self.settings, timers=timers, log=unit.log)
        now = self.ua.now
        self.servers = ServerSelection(unit, self.settings, now)
        self.link_set = Links(unit, self.settings, self.ua, self.servers, now=now)
        self.regs = Registrations(unit, self.settings, self.ua, self.servers, self.link_set, now=now,
                                  unregister_timeout=unregister_timeout)
        self.link_set.registrations = self.regs
        self.ua.gate = self.link_set
        self.ua.failover = self._invite_failover
        self.calls = CallManager(self.ua, media=media)
        self.mwi = MwiSubscriptions(self.ua)  # message waiting (RFC 3842): after the calls, whose NOTIFYs it passes on
        self.lines = LineStats(self.calls)  # per-line call counters and call state (TR-104 Line.Stats, CallState)
        fxs = unit.profile.ports if unit.profile.endpoint_kind == "fxs" else ()
        self.line_status = LineStatus(unit.config, self.calls, self.mwi, fxs)  # Pots.Line, caller ID, MWI per line
        self.vq = VqPublisher(self.calls, self.ua, unit.config, self.user_agent)  # RFC 6035 reports at call end
        self.ua.core = self.calls
        # copies of every message sent and received: SipEp.DebugSignalingLog* (syslog) and SipEp.Hep* (HEP v3)
        self.mirrors = [signaling_log(unit), hep_mirror(unit)]
        c = self.config
        c.provide_rows("SipEp.GatewayStatus", self._gateway_rows)
        c.provide_rows("SipEp.RegistrationStatus", self.regs.rows)
        c.provide_rows("SipEp.TlsPersistentConnectionStatus", self.link_set.rows)
        c.provide_rows("SipEp.MwiStatus", self.mwi.rows)
        c.provide_rows("Pots.Line", self.line_status.rows)

    # ------------------------------------------------------------------ what tests, benches and faces read
    @property
    def running(self) -> bool:
        return self.ua.running

    @property
    def gateways(self) -> dict[str, GatewayRuntime]:
        return self.ua.gateways

    @property
    def registrations(self) -> list[Registration]:
        return self.regs.items

    @property
    def links(self) -> list[Link]:
        return self.link_set.links

    @property
    def request_handlers(self) -> dict[str, RequestHandler]:
        return self.ua.request_handlers

    @property
    def transport(self) -> SipTransport | None:
        return self.ua.transport

    @property
    def transport_kind(self) -> str:
        return self.ua.transport_kind

    @property
    def dns(self) -> DnsClient:
        return self.servers.dns

    def registration(self, endpoint: str) -> Registration | None:
        return self.regs.find(endpoint)

    async def register_once(self, reg: Registration, expires: int | None = None) -> float:
        return await self.regs.register_once(reg, expires)

    async def server_target(self, gw: GatewayRuntime, server: ServerAddr) -> tuple[ServerTargets, Resolved | None]:
        return await self.servers.target(gw, server)

    def conditions(self, gateway: str) -> FailoverConditions:
        return self.servers.conditions(gateway)

    def user_agent(self) -> str | None:
        return self.settings.user_agent()

    # ------------------------------------------------------------------ status
    def _gateway_rows(self) -> list[dict[str, Any]]:
        """``SipEp.GatewayStatus``."""
        rows = []
        for gw in self.gateways.values() if self.running else []:
            rows.append({"Name": gw.name, "NetworkInterface": gw.network_interface, "MediaNetworks": gw.media_networks,
                         "Port": gw.ports.get("UDP") or gw.ports.get("TCP") or 0,
                         "SecurePort": gw.ports.get("TLS", 0), "Domain": gw.domain, "State": gw.state})
        return rows

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        kind = self.settings.transport_kind()
        gateways = self.settings.gateways()
        self.link_set.start()
        tls = tls_policy(self.unit, "SipEp") if kind == "TLS" else None
        # option tags a request may require of us: session timers (RFC 4028) and 100rel (RFC 3262; a unit whose UAS
        # does not support PRACK refuses an INVITE requiring it with 420 in the call layer)
        policy = Policy(allowed_methods=DGW_METHODS, accepted_types=ACCEPTED_TYPES,
                        supported=frozenset({"timer", "100rel"}))
        transport = SipTransport(self.unit.host, self.ua.receive, tls=tls, policy=policy,
                                 log=self.unit.log.bind(service="SipEp"),
                                 on_connection_closed=self.link_set.connection_closed,
                                 connect_timeout=float(self.settings.get("SipEp.InteropTcpConnectTimeout", 10)),
                                 limits=self.limits)
        transport.local_ports = self.link_set.ports.ports
        for mirror in self.mirrors:
            mirror.restart()
            transport.taps.append(mirror)
        self.ua.start(transport, gateways, kind)
        await self._start_listeners(transport)
        self.regs.start(self.regs.read(gateways))
        self.mwi.start()
        self.servers.start(gateways, kind)
        self.ua.spawn(self._bring_up())

    async def stop(self) -> None:
        if not self.running:
            return
        await self.regs.stop()
        self.mwi.stop()
        self.calls.stop()
        await self.ua.stop()
        if self.ua.transport is not None:
            await self.ua.transport.close()
        self.regs.stopped()
        self.link_set.stop()
        for mirror in self.mirrors:
            mirror.close()
        self.unit.listening.pop("sip", None)
        self.unit.listening.pop("sip_tls", None)

    async def _start_listeners(self, transport: SipTransport) -> None:
        host = self.unit.host
        kind = self.ua.transport_kind
        for i, gw in enumerate(self.gateways.values()):
            # --port-mode auto: a gateway listens where it did before a restart (the first gateway's ports are
            # the ready file's "sip" / "sip_tls")
            face = ("sip_tls" if kind == "TLS" else "sip") + ("" if i == 0 else f":{gw.name}")
            try:
                if kind == "TLS":
                    port = self.unit.ports.real_port(gw.configured_secure_port or 5061, face)
                    port = gw.ports["TLS"] = await transport.listen("TLS", port)
                else:
                    row = self.settings.transport_row(gw.name)
                    port = self.unit.ports.real_port(gw.configured_port or 5060, face)
                    if row.get("UdpEnable", "Enable") == "Enable" or kind == "UDP":
                        port = gw.ports["UDP"] = await transport.listen("UDP", port)
                    if row.get("TcpEnable") == "Enable":
                        port = gw.ports["TCP"] = await transport.listen("TCP", port)
                self.unit.ports.remember(face, port)
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
        if self.ua.transport_kind == "TLS" and not self.unit.clock.synchronized:
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
                _, chosen = await self.servers.target(gw, server)
                if chosen is not None:
                    self.link_set.ensure(gw, chosen.target(server.host))
        self.regs.run()

    # ------------------------------------------------------------------ glue between the parts
    def _invite_failover(self, gateway: str, target: Target, response: Response | None,
                         tried: set[tuple[str, str, int]]) -> Target | None:
        """An initial INVITE's server failed: the gateway moves on (server selection), its registrations
        follow when they use that server, and the next target gets its persistent link."""
        moved = self.servers.invite_failed(gateway, target, response, tried)
        if moved is None:
            return None
        nxt, registrations_follow = moved
        if registrations_follow:
            self.regs.wake(gateway)
        if nxt is not None:
            self.link_set.ensure(self.gateways[gateway], nxt)
        return nxt

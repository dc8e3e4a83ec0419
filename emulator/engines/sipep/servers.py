"""SipEp server selection: locating servers (RFC 3263), failover, the penalty box, failback, reachability.

* **Resolution** — a server named by a host name is located as RFC 3263 says
  (:mod:`emulator.protocols.sip.resolve`: ``SipEp.SupportedDnsQueries`` NAPTR -> SRV -> A,
  ``SipEp.DnsIpVersion``, ``SipEp.InteropForceDnsNaptrInTls``) through the unit's DNS
  (:mod:`emulator.engines.hoc.dns`: ``Hoc.StaticDnsServers`` or DHCP, ``Hoc.StaticHosts``), again when the
  answers' TTL runs out; addresses of another IP family than the unit's are left out (its sockets bind the
  unit's address). A name that does not resolve raises SipEp 9010 once; ``SipEp.DnsFailureConcealment`` =
  OnNoResolution keeps the last addresses.
* **Failover** (:mod:`emulator.protocols.sip.failover`) — registrations and calls use one target at a time;
  a REGISTER or an initial INVITE that gets no answer, or a status named by the gateway's failover
  conditions, moves the gateway to the next target (SipEp 9009 names both); failed targets sit in the penalty
  box (``PenaltyBoxEnable``/``PenaltyBoxTime``, trunk gateways only).
* **Failback** — a persistent link to a higher-ranked target that comes back takes the gateway back.
* **Reachability** — per gateway and server address: SipEp 310 when a server answers (again), 9001 when it
  stops; the gateway's state is "Server unreachable" while a server it uses does not answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Callable
from typing import Any

from emulator.engines.hoc.dns import DnsClient, dns_servers, static_hosts
from emulator.engines.sipep.settings import GatewayRuntime, ServerAddr, Settings
from emulator.protocols.sip.failover import FailoverConditions, PenaltyBox, ServerTargets
from emulator.protocols.sip.message import Response
from emulator.protocols.sip.resolve import DnsFailure, Resolved, resolve
from emulator.protocols.sip.target import Target

__all__ = ["ServerSelection"]


class ServerSelection:
    """The servers of one unit's gateways: their resolved targets, the one in use, and whether they answer."""

    def __init__(self, unit: Any, settings: Settings, now: Callable[[], float]) -> None:
        self.unit = unit
        self.settings = settings
        self.now = now
        self.gateways: dict[str, GatewayRuntime] = {}
        self.transport_kind = "UDP"
        self.servers: dict[tuple[str, ServerAddr], ServerTargets] = {}
        self.rnd = random.Random()
        self.dns = DnsClient(unit.host, self._dns_servers, port=int(getattr(unit, "dns_port", 53) or 53),
                             hosts=lambda: static_hosts(settings.rows("Hoc.StaticHosts")))
        self._resolving: dict[tuple[str, ServerAddr], asyncio.Lock] = {}
        self._unresolved: set[tuple[str, ServerAddr]] = set()  # 9010 raised, not resolved since
        self._reachable: dict[tuple[str, str], bool] = {}

    def start(self, gateways: dict[str, GatewayRuntime], kind: str) -> None:
        self.gateways = gateways
        self.transport_kind = kind
        self.servers = {}
        self._resolving = {}
        self._unresolved = set()
        for gw in gateways.values():
            unknown = self.conditions(gw.name).unknown
            if unknown:
                self.unit.log.warning("sip_failover_condition_unknown", gateway=gw.name, keywords=list(unknown))

    def conditions(self, gateway: str) -> FailoverConditions:
        return self.settings.conditions(gateway)

    # ------------------------------------------------------------------ resolution
    def _dns_servers(self) -> list[str]:
        """``Hoc.DnsServersConfigSource``: the static table, or what the unit's DHCP client got."""
        hoc = getattr(self.unit, "hoc", None)
        dhcp = [str(x) for x in (getattr(hoc, "dhcp_dns_servers", None) or ())]
        return dns_servers(str(self.settings.get("Hoc.DnsServersConfigSource", "Automatic")),
                           self.settings.rows("Hoc.StaticDnsServers"), dhcp)

    def state(self, gw: GatewayRuntime, server: ServerAddr) -> ServerTargets:
        """The targets of one configured server of a gateway (made on first use)."""
        state = self.servers.get((gw.name, server))
        if state is None:
            # the DGW applies the penalty box to trunk gateways only (SIP Misc: "SIP Penalty Box")
            box = PenaltyBox(float(self.settings.get("SipEp.PenaltyBoxTime", 300)),
                             self.settings.get("SipEp.PenaltyBoxEnable", "Disable") == "Enable"
                             and gw.type == "TrunkGateway")
            state = self.servers[(gw.name, server)] = ServerTargets(server.host, server.port, box)
        return state

    async def target(self, gw: GatewayRuntime, server: ServerAddr) -> tuple[ServerTargets, Resolved | None]:
        """The targets of ``server`` (resolved again when the DNS TTL ran out) and the one to use now."""
        state = self.state(gw, server)
        await self._resolve(gw, server, state)
        chosen = state.select(self.now())
        self.update_hop(gw)
        return state, chosen

    async def _resolve(self, gw: GatewayRuntime, server: ServerAddr, state: ServerTargets) -> None:
        key = (gw.name, server)
        async with self._resolving.setdefault(key, asyncio.Lock()):  # one resolution at a time per server
            if not state.needs_resolution(self.now()):
                return
            session = self.dns.session()
            get = self.settings.get
            try:
                found = await resolve(
                    server.host, server.port, self.transport_kind, session,
                    queries=str(get("SipEp.SupportedDnsQueries", "Naptr")),
                    ipv6=get("SipEp.DnsIpVersion", "IpV4Preferred") != "IpV4Only",
                    force_naptr_tls=get("SipEp.InteropForceDnsNaptrInTls", "Disable") == "Enable",
                    rnd=self.rnd)
                reason = "no address"
            except DnsFailure as exc:
                found, reason = [], str(exc)
            found = [t for t in found if self._same_family(t.address)]  # sockets bind the unit's address
            now = self.now()
            if found:
                # no DNS question (an IP, a static host): look again in a minute (Hoc.StaticHosts may change)
                state.update(found, now, session.ttl if session.ttl is not None else 60.0)
                self._unresolved.discard(key)
                return
            conceal = get("SipEp.DnsFailureConcealment", "None") == "OnNoResolution" and bool(state.targets)
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

    # ------------------------------------------------------------------ failover and failback
    def update_hop(self, gw: GatewayRuntime) -> None:
        """Calls follow the target in use of the gateway's first hop (the call layer reads ``gw.next_hop``)."""
        server = gw.hop_server()
        state = self.servers.get((gw.name, server)) if server is not None else None
        chosen = None if state is None else state.current or next(iter(state.targets), None)
        gw.hop = chosen.target(server.host) if chosen is not None and server is not None else None

    def failover(self, gw: GatewayRuntime, state: ServerTargets, failed: Resolved, reason: str) -> Resolved | None:
        """``failed`` met a failover condition: the next target (notification 9009), or None."""
        nxt = state.failed(failed, self.now())
        if nxt is not None and nxt.key != failed.key:
            self.unit.notify("SipEp", 9009, gateway=gw.name, old=str(failed), new=str(nxt), reason=reason)
        self.update_hop(gw)
        return nxt

    def invite_failed(self, gateway: str, target: Target, response: Response | None,
                      tried: set[tuple[str, str, int]]) -> tuple[Target | None, bool] | None:
        """An initial INVITE to the gateway's server in use got no answer or ``response``. None when that is no
        failover condition of the gateway; otherwise the gateway has moved on: the target to send the INVITE
        to next (None when every target was tried, ``tried`` collects them) and whether the gateway's
        registrations use that server too (they must follow)."""
        gw = self.gateways.get(gateway)
        server = gw.hop_server() if gw is not None else None
        state = self.servers.get((gateway, server)) if server is not None else None
        if gw is None or server is None or state is None or (response is not None and response.status < 300):
            return None
        status = None if response is None else response.status
        failed = next((t for t in state.targets if t.key == (target.transport, target.host, target.port)), None)
        if failed is None or not self.conditions(gateway).fails_over("INVITE", status):
            return None
        tried.add(failed.key)
        if response is None:
            self.reachable(gateway, target, False)
        nxt = self.failover(gw, state, failed, "no answer" if response is None else f"{status} {response.reason}")
        follow = (gw.outbound or gw.registrar) == server
        return (None if nxt is None or nxt.key in tried else nxt.target(server.host)), follow

    def failback(self, gateway: str, target: Target) -> bool:
        """A link to ``target`` is up again: when it ranks higher than the target in use, go back to it."""
        gw = self.gateways.get(gateway)
        if gw is None:
            return False
        key = (target.transport, target.host, target.port)
        moved = False
        for (name, _), state in self.servers.items():
            found = next((t for t in state.targets if t.key == key), None) if name == gw.name else None
            old = state.current
            if found is not None and old is not None and state.prefer(found, self.now()):
                self.unit.notify("SipEp", 9009, gateway=gw.name, old=str(old), new=str(found),
                                 reason="a higher-priority server is reachable again")
                moved = True
        if moved:
            self.update_hop(gw)
        return moved

    # ------------------------------------------------------------------ reachability
    def reachable(self, gateway: str, target: Target, reachable: bool, *, force: bool = False) -> None:
        """A server answered (or a link came up), or did not: SipEp 310 / 9001 and the gateway's state."""
        key = (gateway, f"{target.host}:{target.port}")
        before = self._reachable.get(key)
        self._reachable[key] = reachable
        gw = self.gateways.get(gateway)
        in_use = self.in_use(gateway)
        if reachable:
            if before is not True or force:
                self.unit.notify("SipEp", 310, host=target.host, port=target.port, gateway=gateway)
            if gw is not None and gw.state == "Server unreachable" and not any(
                    v is False for (g, k), v in self._reachable.items()
                    if g == gateway and (k in in_use or not in_use)):
                gw.state = "Ready"
        else:
            if before is not False:
                self.unit.notify("SipEp", 9001, host=target.host, port=target.port, gateway=gateway)
            if gw is not None and gw.state == "Ready" and (key[1] in in_use or not in_use):
                gw.state = "Server unreachable"

    def in_use(self, gateway: str) -> set[str]:
        """``address:port`` of the targets a gateway uses now (a failed-over target no longer counts)."""
        return {f"{s.current.address}:{s.current.port}" for (g, _), s in self.servers.items()
                if g == gateway and s.current is not None}

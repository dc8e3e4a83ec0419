"""The unit's DNS stub resolver (Hoc service: ``Hoc.DnsServersConfigSource``, ``Hoc.StaticDnsServers``,
``Hoc.StaticHosts``) — thin glue over dnspython, answering the questions of :mod:`emulator.protocols.sip.resolve`.

* **Servers** (:func:`dns_servers`): ``Static`` = ``Hoc.StaticDnsServers`` by Priority (empty
  addresses skipped); ``Automatic`` / ``AutomaticIpv6`` = what the unit's DHCP client got (option 6),
  none without a DHCP client. Tried in that order; the next one when a server does not answer
  within the timeout or answers SERVFAIL/REFUSED.
* **Static hosts** (``Hoc.StaticHosts``: ``Name`` -> ``IpAddresses``, separated by commas or spaces)
  answer address questions before the DNS is asked, like a hosts file.
* Every query leaves from the **unit's address** (``source=unit.host``), as every socket of a unit
  does; the server port is 53 as on the hardware, or the unit's ``dns_port`` (an emulator addition,
  lab key ``dns_port``, so that tests can run a DNS server on an unprivileged port). UDP, sent again
  once a quarter of the timeout has passed unanswered, with a TCP retry for a truncated answer
  (dnspython's ``udp_with_fallback``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from emulator.protocols.sip.resolve import DnsFailure, NaptrRecord, SrvRecord

__all__ = ["DnsClient", "DnsSession", "dns_servers", "static_hosts"]

DEFAULT_TIMEOUT_S = 2.0  # per server and question (emulator choice; the hardware's is not documented)
RETRANSMIT_AT = 0.25  # share of the timeout after which an unanswered UDP question is sent again (emulator choice)


def dns_servers(source: str, static_rows: Sequence[Mapping[str, Any]], dhcp: Sequence[str]) -> list[str]:
    """The DNS servers in effect (``Hoc.DnsServersInfo``), in the order they are asked."""
    if source == "Static":
        rows = sorted(static_rows, key=lambda r: int(r.get("Priority") or 0))
        out = [str(r.get("IpAddress") or "").strip() for r in rows]
    else:
        out = [str(s).strip() for s in dhcp]
    return [s for s in out if s and s not in ("0.0.0.0", "::")]


def static_hosts(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``Hoc.StaticHosts`` as name (lower case, no trailing dot) -> addresses."""
    out: dict[str, list[str]] = {}
    for row in rows:
        name = str(row.get("Name") or "").strip().rstrip(".").lower()
        addrs = [a for a in re.split(r"[,\s;]+", str(row.get("IpAddresses") or "")) if a]
        valid = []
        for a in addrs:
            try:
                valid.append(str(ipaddress.ip_address(a)))
            except ValueError:
                continue
        if name and valid:
            out.setdefault(name, []).extend(valid)
    return out


@dataclass(slots=True, eq=False)
class DnsClient:
    """Queries of one unit: its address, its servers (asked each time: the configuration may change)."""

    source: str
    servers: Callable[[], list[str]]
    _: KW_ONLY
    port: int = 53
    hosts: Callable[[], dict[str, list[str]]] = dict
    timeout: float = DEFAULT_TIMEOUT_S
    queries: int = field(default=0, init=False)  # sent, for tests and status

    def session(self) -> DnsSession:
        """A :class:`~emulator.protocols.sip.resolve.Lookup` that also records the shortest TTL it saw."""
        return DnsSession(self)

    async def query(self, name: str, rdtype: dns.rdatatype.RdataType) -> tuple[list[Any], float]:
        """The answer records of type ``rdtype`` for ``name`` and their TTL; [] for NXDOMAIN / no data."""
        servers = self.servers()
        if not servers:
            raise DnsFailure("no DNS server is configured")
        qname = dns.name.from_text(name)  # absolute: the unit has no search domain
        errors: list[str] = []
        for server in servers:
            try:
                resp = await self._ask(server, qname, rdtype)
            except (dns.exception.DNSException, OSError) as exc:
                errors.append(f"{server}: {exc.__class__.__name__} {exc}".strip())
                continue
            rcode = resp.rcode()
            if rcode == dns.rcode.NXDOMAIN:
                return [], _negative_ttl(resp)
            if rcode != dns.rcode.NOERROR:
                errors.append(f"{server}: {dns.rcode.to_text(rcode)}")
                continue
            records: list[Any] = []
            ttl: float | None = None
            for rrset in resp.answer:
                if rrset.rdtype == rdtype:
                    records.extend(rrset)
                    ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
            return records, float(ttl) if ttl is not None else _negative_ttl(resp)
        raise DnsFailure(f"no answer for {name} {dns.rdatatype.to_text(rdtype)} ({'; '.join(errors)})")

    async def _ask(self, server: str, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        """One server's answer within ``timeout``: the question is sent again once :data:`RETRANSMIT_AT` of it
        has passed without an answer (a datagram lost to a busy server, e.g. a thousand units starting at once,
        costs that much instead of the registration's retry time)."""
        first = self.timeout * RETRANSMIT_AT
        for wait in (first, self.timeout - first):
            self.queries += 1
            try:
                resp, _ = await dns.asyncquery.udp_with_fallback(
                    dns.message.make_query(qname, rdtype), server, timeout=wait, port=self.port,
                    source=self._source_for(server),
                )
                return resp
            except dns.exception.Timeout:
                continue
        raise dns.exception.Timeout(timeout=self.timeout)

    def _source_for(self, server: str) -> str | None:
        """The unit's address when it is of the server's family (an IPv4 unit cannot ask an IPv6 server)."""
        try:
            same = ipaddress.ip_address(server).version == ipaddress.ip_address(self.source).version
        except ValueError:
            return None
        return self.source if same else None


def _negative_ttl(resp: dns.message.Message) -> float:
    """RFC 2308 §5: a negative answer is cached for the SOA's minimum (0 without a SOA)."""
    for rrset in resp.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            return float(min(rrset.ttl, rrset[0].minimum))
    return 0.0


@dataclass(slots=True)
class DnsSession:
    """One resolution's questions to a :class:`DnsClient`; ``ttl`` is the shortest TTL of the answers."""

    client: DnsClient
    ttl: float | None = None

    def _saw(self, ttl: float) -> None:
        self.ttl = ttl if self.ttl is None else min(self.ttl, ttl)

    async def naptr(self, name: str) -> list[NaptrRecord]:
        records, ttl = await self.client.query(name, dns.rdatatype.NAPTR)
        self._saw(ttl)
        return [
            NaptrRecord(
                r.order, r.preference, r.flags.decode(), r.service.decode(), r.replacement.to_text(omit_final_dot=True)
            )
            for r in records
        ]

    async def srv(self, name: str) -> list[SrvRecord]:
        records, ttl = await self.client.query(name, dns.rdatatype.SRV)
        self._saw(ttl)
        return [SrvRecord(r.priority, r.weight, r.port, r.target.to_text(omit_final_dot=True)) for r in records]

    def pinned(self, name: str) -> bool:
        return name.rstrip(".").lower() in self.client.hosts()

    async def addresses(self, name: str, families: Sequence[int]) -> list[str]:
        static = self.client.hosts().get(name.rstrip(".").lower())
        if static:
            return [a for a in static if ipaddress.ip_address(a).version in families]
        out: list[str] = []
        for family in families:
            rdtype = dns.rdatatype.A if family == 4 else dns.rdatatype.AAAA
            try:
                records, ttl = await self.client.query(name, rdtype)
            except DnsFailure:
                if family == families[0]:
                    raise
                continue  # IpV4Preferred: an unanswered AAAA question does not lose the A answers
            self._saw(ttl)
            out.extend(r.address for r in records)
        return out

"""Locating SIP servers (RFC 3263 §4) with DNS SRV ordering (RFC 2782) — no sockets here.

The procedure is plain code over an injected :class:`Lookup` (the DNS glue is :mod:`emulator.engines.hoc.dns`;
tests pass a dictionary), so the ordering rules are tested without a network:

* a numeric host is used as is (the transport's default port when none is given);
* a host with an explicit port is only resolved to addresses: no NAPTR, no SRV (§4.2);
* ``SipEp.SupportedDnsQueries`` = ``Naptr`` (the factory value): NAPTR records of the host whose
  service matches the unit's transport (``SIP+D2U``, ``SIP+D2T``, ``SIPS+D2T``, RFC 3263 §4.1) in
  order/preference order, each replacement then looked up as SRV. Over TLS the NAPTR step is only
  taken with ``SipEp.InteropForceDnsNaptrInTls`` (the DGW goes straight to ``_sips._tcp`` otherwise);
* ``Srv`` (or NAPTR giving nothing usable): SRV ``_sip._udp`` / ``_sip._tcp`` / ``_sips._tcp`` of the
  host (§4.2), sorted by priority then weighted-random within a priority (RFC 2782), each target
  resolved to its addresses; a lone ``.`` target says the service is not offered there;
* ``Address`` (or no SRV record): the host's addresses with the transport's default port.
* a name of ``Hoc.StaticHosts`` (``Lookup.pinned``) is not asked about: its addresses are used.

``SipEp.DnsIpVersion``: ``IpV4Only`` asks for A records only; ``IpV4Preferred`` asks for A then AAAA
(IPv4 targets come first).

Each result is a :class:`Resolved` target: the address to send to, the port, the name the server
was found under (the SRV target, else the configured host; TLS checks the certificate against it,
``SipEp.InteropTlsCertificateValidation``) and its SRV rank.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from emulator.protocols.sip.target import DEFAULT_PORTS, Target, is_ip

__all__ = [
    "NAPTR_SERVICES",
    "SRV_PREFIXES",
    "DnsFailure",
    "Lookup",
    "NaptrRecord",
    "Resolved",
    "SrvRecord",
    "is_ip",
    "order_naptr",
    "order_srv",
    "resolve",
]

# RFC 3263 §4.1 (NAPTR services) and §4.2 (SRV owner names), per SipEp transport
NAPTR_SERVICES = {"UDP": "SIP+D2U", "TCP": "SIP+D2T", "TLS": "SIPS+D2T"}
SRV_PREFIXES = {"UDP": "_sip._udp.", "TCP": "_sip._tcp.", "TLS": "_sips._tcp."}


class DnsFailure(Exception):
    """The DNS gave no usable answer (no server answered, SERVFAIL, REFUSED...). A name that does
    not exist is not a failure: it is an empty answer."""


@dataclass(frozen=True, slots=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str  # without the trailing dot


@dataclass(frozen=True, slots=True)
class NaptrRecord:
    order: int
    preference: int
    flags: str
    service: str
    replacement: str  # without the trailing dot


class Lookup(Protocol):
    """The DNS questions resolution asks (empty list: no such record; DnsFailure: no answer at all)."""

    async def naptr(self, name: str) -> list[NaptrRecord]: ...

    async def srv(self, name: str) -> list[SrvRecord]: ...

    async def addresses(self, name: str, families: Sequence[int]) -> list[str]: ...

    def pinned(self, name: str) -> bool:
        """True for a name with fixed addresses (``Hoc.StaticHosts``): no NAPTR/SRV asked for it."""
        ...


@dataclass(frozen=True, slots=True)
class Resolved:
    """One place a server can be reached: ``address``:``port`` over ``transport``."""

    transport: str
    address: str
    port: int
    name: str  # the SRV target, else the configured host (an IP when configured as one)
    srv: bool = False  # found through SRV: ``name`` is a DNS SRV answer (DnsSrvResponse validation)
    priority: int = 0  # SRV priority (0 without SRV)

    @property
    def key(self) -> tuple[str, str, int]:
        """What the penalty box and failover compare: address, port and transport (not the name)."""
        return (self.transport, self.address, self.port)

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def target(self, configured: str) -> Target:
        """The transport target; ``configured`` is the host the user entered (the name TLS validates)."""
        return Target(self.transport, self.address, self.port, name=configured, srv_name=self.name if self.srv else "")


def order_srv(records: Sequence[SrvRecord], rnd: random.Random) -> list[SrvRecord]:
    """RFC 2782 "Usage rules": lowest priority first; within a priority, a weighted random order
    (records of weight 0 first in the running sum, so they are picked rarely but can be)."""
    out: list[SrvRecord] = []
    for prio in sorted({r.priority for r in records}):
        group = sorted((r for r in records if r.priority == prio), key=lambda r: r.weight)
        while group:
            total = sum(r.weight for r in group)
            pick = rnd.randint(0, total) if total else 0
            running = 0
            for i, rec in enumerate(group):
                running += rec.weight
                if running >= pick:
                    out.append(group.pop(i))
                    break
    return out


def order_naptr(records: Sequence[NaptrRecord], transport: str) -> list[NaptrRecord]:
    """RFC 3263 §4.1: the records for our transport's service with the ``s`` flag (next step SRV),
    by order then preference (RFC 3403 §4.1)."""
    wanted = NAPTR_SERVICES[transport]
    usable = [r for r in records if r.service.upper() == wanted and r.flags.lower() == "s" and r.replacement]
    return sorted(usable, key=lambda r: (r.order, r.preference))


async def resolve(
    host: str,
    port: int,
    transport: str,
    lookup: Lookup,
    *,
    queries: str = "Naptr",
    ipv6: bool = True,
    force_naptr_tls: bool = False,
    rnd: random.Random | None = None,
) -> list[Resolved]:
    """Every target for ``host[:port]`` in the order they are to be tried (see the module docstring).

    ``queries`` is ``SipEp.SupportedDnsQueries`` (Address / Srv / Naptr), ``ipv6`` False for
    ``IpV4Only``. Raises DnsFailure when the DNS did not answer a question the result depends on."""
    rnd = rnd or random.Random()
    host = host.strip("[]").rstrip(".")
    families = (4, 6) if ipv6 else (4,)
    default = DEFAULT_PORTS[transport]
    if is_ip(host):
        return [Resolved(transport, host, port or default, host)]
    if port or queries == "Address" or lookup.pinned(host):
        return [Resolved(transport, a, port or default, host) for a in await lookup.addresses(host, families)]
    srv_names: list[str] = []
    if queries == "Naptr" and (transport != "TLS" or force_naptr_tls):
        srv_names = [r.replacement for r in order_naptr(await lookup.naptr(host), transport)]
    if not srv_names:
        srv_names = [SRV_PREFIXES[transport] + host]
    for name in srv_names:
        records = await lookup.srv(name)
        if len(records) == 1 and records[0].target in ("", "."):
            return []  # RFC 2782: "the service is decidedly not available at this domain"
        if not records:
            continue
        out: list[Resolved] = []
        for rec in order_srv(records, rnd):
            for addr in await lookup.addresses(rec.target, families):
                out.append(Resolved(transport, addr, rec.port, rec.target, srv=True, priority=rec.priority))
        if out:
            return out
    return [Resolved(transport, a, default, host) for a in await lookup.addresses(host, families)]

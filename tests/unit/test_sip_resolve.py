"""Locating SIP servers without a network: RFC 3263 steps and RFC 2782 ordering over an injected
lookup, failover conditions, the penalty box and target selection with time passed in, and the
unit's DNS server / static host tables."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulator.engines.hoc.dns import dns_servers, static_hosts
from emulator.engines.hoc.engine import HocEngine
from emulator.protocols.sip.failover import PenaltyBox, ServerTargets, parse_conditions
from emulator.protocols.sip.resolve import DnsFailure, NaptrRecord, Resolved, SrvRecord, order_naptr, order_srv, resolve
from emulator.protocols.sip.target import Target
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile


@dataclass
class FakeDns:
    """A zone as dictionaries; records every question asked."""

    naptrs: dict[str, list[NaptrRecord]] = field(default_factory=dict)
    srvs: dict[str, list[SrvRecord]] = field(default_factory=dict)
    a: dict[str, list[str]] = field(default_factory=dict)
    aaaa: dict[str, list[str]] = field(default_factory=dict)
    hosts: dict[str, list[str]] = field(default_factory=dict)
    down: bool = False
    asked: list[str] = field(default_factory=list)

    def _ask(self, q: str) -> None:
        self.asked.append(q)
        if self.down:
            raise DnsFailure("no answer")

    async def naptr(self, name: str) -> list[NaptrRecord]:
        self._ask(f"NAPTR {name}")
        return self.naptrs.get(name, [])

    async def srv(self, name: str) -> list[SrvRecord]:
        self._ask(f"SRV {name}")
        return self.srvs.get(name, [])

    async def addresses(self, name: str, families: Sequence[int]) -> list[str]:
        if name in self.hosts:
            return self.hosts[name]
        out: list[str] = []
        for f in families:
            self._ask(f"{'A' if f == 4 else 'AAAA'} {name}")
            out += (self.a if f == 4 else self.aaaa).get(name, [])
        return out

    def pinned(self, name: str) -> bool:
        return name in self.hosts


def zone() -> FakeDns:
    return FakeDns(
        naptrs={
            "example.com": [
                NaptrRecord(50, 50, "s", "SIPS+D2T", "_sips._tcp.example.com"),
                NaptrRecord(90, 50, "s", "SIP+D2T", "_sip._tcp.example.com"),
                NaptrRecord(100, 50, "s", "SIP+D2U", "_sip._udp.example.com"),
            ]
        },
        srvs={
            "_sip._udp.example.com": [SrvRecord(20, 0, 5070, "b.example.com"), SrvRecord(10, 0, 5060, "a.example.com")],
            "_sip._tcp.example.com": [SrvRecord(10, 0, 5060, "a.example.com")],
            "_sips._tcp.example.com": [
                SrvRecord(10, 0, 5061, "a.example.com"),
                SrvRecord(20, 0, 5061, "b.example.com"),
            ],
        },
        a={
            "a.example.com": ["10.0.0.1"],
            "b.example.com": ["10.0.0.2", "10.0.0.3"],
            "example.com": ["10.0.0.9"],
            "plain.example.com": ["10.0.1.1"],
        },
        aaaa={"a.example.com": ["2001:db8::1"]},
    )


def addrs(found: list[Resolved]) -> list[tuple[str, int]]:
    return [(t.address, t.port) for t in found]


async def test_naptr_then_srv_by_priority_then_addresses() -> None:
    dns = zone()
    found = await resolve("example.com", 0, "UDP", dns, ipv6=False)
    assert addrs(found) == [("10.0.0.1", 5060), ("10.0.0.2", 5070), ("10.0.0.3", 5070)]
    assert dns.asked[:2] == ["NAPTR example.com", "SRV _sip._udp.example.com"]
    assert [t.name for t in found] == ["a.example.com", "b.example.com", "b.example.com"]
    assert all(t.srv for t in found) and [t.priority for t in found] == [10, 20, 20]


async def test_tls_skips_naptr_unless_forced() -> None:
    dns = zone()
    found = await resolve("example.com", 0, "TLS", dns, ipv6=False)
    assert dns.asked[0] == "SRV _sips._tcp.example.com" and addrs(found)[0] == ("10.0.0.1", 5061)
    dns = zone()
    await resolve("example.com", 0, "TLS", dns, ipv6=False, force_naptr_tls=True)
    assert dns.asked[:2] == ["NAPTR example.com", "SRV _sips._tcp.example.com"]


async def test_srv_mode_asks_no_naptr_and_address_mode_no_srv() -> None:
    dns = zone()
    await resolve("example.com", 0, "TCP", dns, queries="Srv", ipv6=False)
    assert dns.asked[0] == "SRV _sip._tcp.example.com"
    dns = zone()
    found = await resolve("example.com", 0, "UDP", dns, queries="Address", ipv6=False)
    assert dns.asked == ["A example.com"] and addrs(found) == [("10.0.0.9", 5060)]


async def test_explicit_port_skips_naptr_and_srv() -> None:  # RFC 3263 §4.2
    dns = zone()
    found = await resolve("example.com", 5080, "UDP", dns, ipv6=False)
    assert dns.asked == ["A example.com"] and addrs(found) == [("10.0.0.9", 5080)]


async def test_ip_host_asks_nothing() -> None:
    dns = zone()
    assert addrs(await resolve("192.0.2.1", 0, "TLS", dns)) == [("192.0.2.1", 5061)]
    assert addrs(await resolve("[2001:db8::5]", 5062, "UDP", dns)) == [("2001:db8::5", 5062)]
    assert dns.asked == []


async def test_no_naptr_no_srv_falls_back_to_a_with_default_port() -> None:
    dns = zone()
    found = await resolve("plain.example.com", 0, "TLS", dns, ipv6=False)
    assert addrs(found) == [("10.0.1.1", 5061)] and not found[0].srv and found[0].name == "plain.example.com"
    assert dns.asked == ["SRV _sips._tcp.plain.example.com", "A plain.example.com"]


async def test_naptr_for_other_transports_only_falls_back_to_srv() -> None:
    dns = zone()
    dns.naptrs["example.com"] = [NaptrRecord(10, 10, "s", "SIPS+D2T", "_sips._tcp.example.com")]
    found = await resolve("example.com", 0, "UDP", dns, ipv6=False)
    assert dns.asked[1] == "SRV _sip._udp.example.com" and addrs(found)[0] == ("10.0.0.1", 5060)


async def test_srv_dot_target_means_no_service() -> None:  # RFC 2782
    dns = zone()
    dns.srvs["_sip._udp.example.com"] = [SrvRecord(0, 0, 0, ".")]
    assert await resolve("example.com", 0, "UDP", dns, queries="Srv") == []


async def test_ipv4_preferred_adds_aaaa_after_a() -> None:
    dns = zone()
    found = await resolve("a.example.com", 5060, "UDP", dns, ipv6=True)
    assert addrs(found) == [("10.0.0.1", 5060), ("2001:db8::1", 5060)]
    assert "AAAA a.example.com" in dns.asked
    dns = zone()
    await resolve("a.example.com", 5060, "UDP", dns, ipv6=False)
    assert dns.asked == ["A a.example.com"]


async def test_static_host_is_not_asked_about() -> None:
    dns = zone()
    dns.hosts["example.com"] = ["192.0.2.7"]
    found = await resolve("example.com", 0, "UDP", dns)
    assert addrs(found) == [("192.0.2.7", 5060)] and dns.asked == []


async def test_dns_failure_propagates() -> None:
    dns = zone()
    dns.down = True
    with pytest.raises(DnsFailure):
        await resolve("example.com", 0, "UDP", dns)


def test_srv_weights_rfc2782() -> None:
    recs = [
        SrvRecord(10, 60, 1, "x"),
        SrvRecord(10, 20, 2, "y"),
        SrvRecord(10, 20, 3, "z"),
        SrvRecord(5, 0, 4, "w"),
        SrvRecord(20, 100, 5, "v"),
    ]
    rnd = random.Random(7)
    firsts: Counter[str] = Counter()
    for _ in range(3000):
        order = order_srv(recs, rnd)
        assert order[0].target == "w" and order[-1].target == "v"  # priority first, always
        assert sorted(r.target for r in order[1:4]) == ["x", "y", "z"]
        firsts[order[1].target] += 1
    assert 0.55 < firsts["x"] / 3000 < 0.65  # weight 60 of 100
    assert 0.15 < firsts["y"] / 3000 < 0.25


def test_srv_weight_zero_still_chosen_sometimes() -> None:
    recs = [SrvRecord(10, 0, 1, "zero"), SrvRecord(10, 10, 2, "ten")]
    rnd = random.Random(1)
    firsts = Counter(order_srv(recs, rnd)[0].target for _ in range(2000))
    assert 0 < firsts["zero"] < 400 and firsts["ten"] > 1600


def test_naptr_order_then_preference_and_flags() -> None:
    recs = [
        NaptrRecord(20, 10, "s", "SIP+D2U", "c"),
        NaptrRecord(10, 20, "s", "SIP+D2U", "b"),
        NaptrRecord(10, 10, "s", "SIP+D2U", "a"),
        NaptrRecord(5, 5, "u", "SIP+D2U", "not-srv"),
        NaptrRecord(1, 1, "s", "SIP+D2T", "tcp"),
    ]
    assert [r.replacement for r in order_naptr(recs, "UDP")] == ["a", "b", "c"]


def test_resolved_target_carries_the_names_tls_checks() -> None:
    t = Resolved("TLS", "10.0.0.1", 5061, "a.example.com", srv=True, priority=10)
    target = t.target("example.com")
    assert target == Target("TLS", "10.0.0.1", 5061)  # the names are not part of equality
    assert (target.name, target.srv_name) == ("example.com", "a.example.com")
    assert Resolved("TLS", "10.0.0.1", 5061, "h").target("h").srv_name == ""
    assert str(Resolved("UDP", "2001:db8::1", 5060, "h")) == "[2001:db8::1]:5060"


# ------------------------------------------------------------------ failover conditions
def test_failover_conditions() -> None:
    c = parse_conditions("5xxOnRegistration")
    assert c.fails_over("REGISTER", 503) and c.fails_over("REGISTER", 500)
    assert not c.fails_over("REGISTER", 403) and not c.fails_over("INVITE", 503)
    assert c.fails_over("REGISTER", None) and c.fails_over("INVITE", None)  # no answer: always
    c = parse_conditions(" 503onInvite, 4xxOnRegistration;bogus ")
    assert c.fails_over("INVITE", 503) and not c.fails_over("INVITE", 500)
    assert c.fails_over("REGISTER", 404) and not c.fails_over("REGISTER", 503)
    assert c.unknown == ("bogus",)
    empty = parse_conditions("")
    assert not empty.fails_over("REGISTER", 503) and empty.fails_over("REGISTER", None) and not empty.unknown


# ------------------------------------------------------------------ penalty box and selection
A = Resolved("UDP", "10.0.0.1", 5060, "a", srv=True, priority=10)
B = Resolved("UDP", "10.0.0.2", 5060, "b", srv=True, priority=20)
C = Resolved("UDP", "10.0.0.3", 5060, "c", srv=True, priority=30)


def test_penalty_box_keeps_a_target_out_for_its_time() -> None:
    box = PenaltyBox(time=30, enabled=True)
    box.add(A, now=100)
    assert box.boxed(A, 100) and box.boxed(A, 129.9) and not box.boxed(A, 130)
    assert not box.boxed(B, 100)
    off = PenaltyBox(time=30, enabled=False)
    off.add(A, now=100)
    assert not off.boxed(A, 101)


def test_selection_without_penalty_box_sticks_then_moves_on() -> None:
    s = ServerTargets("example.com", 0)
    s.update([A, B, C], now=0, ttl=60)
    assert s.select(0) == A
    assert s.failed(A, 1) == B and s.select(2) == B
    assert s.failed(B, 3) == C and s.select(4) == C
    assert s.failed(C, 5) == A  # round again
    s.update([B, C, A], now=6, ttl=60)  # a new answer keeps the target in use
    assert s.select(7) == A


def test_selection_with_penalty_box_prefers_highest_free_target() -> None:
    s = ServerTargets("example.com", 0, PenaltyBox(time=30, enabled=True))
    s.update([A, B, C], now=0, ttl=3600)
    assert s.failed(A, 10) == B and s.select(11) == B
    assert s.failed(B, 12) == C
    assert s.failed(C, 13) is None  # every target boxed: exhausted
    assert s.select(14) == A  # all boxed: the highest priority one
    assert s.select(40) == A and s.select(41.5) == A  # A out of the box at 40
    s.failed(A, 50)
    assert s.select(51) == B  # B's box (12..42) is over


def test_failback_to_a_higher_target_once_out_of_the_box() -> None:
    s = ServerTargets("example.com", 0, PenaltyBox(time=30, enabled=True))
    s.update([A, B], now=0, ttl=3600)
    s.failed(A, 0)
    assert s.current == B
    assert not s.prefer(A, 10)  # still boxed
    assert s.prefer(A, 31) and s.current == A
    assert not s.prefer(B, 32)  # lower ranked: no move


def test_single_target_failure_is_exhaustion() -> None:
    s = ServerTargets("192.0.2.1", 0)
    s.update([A], now=0, ttl=0)
    assert s.failed(A, 1) is None and s.select(2) == A


def test_resolution_ttl_and_concealment() -> None:
    s = ServerTargets("example.com", 0)
    assert s.needs_resolution(0)
    s.update([A, B], now=0, ttl=60)
    assert not s.needs_resolution(59) and s.needs_resolution(60)
    s.resolution_failed(60, conceal=True)
    assert s.targets == [A, B] and s.select(61) == A  # OnNoResolution: the last addresses
    s.resolution_failed(70, conceal=False)
    assert s.targets == [] and s.select(71) is None


# ------------------------------------------------------------------ Hoc tables
def test_dns_servers_in_effect() -> None:
    rows = [
        {"Priority": 2, "IpAddress": "192.0.2.2"},
        {"Priority": 1, "IpAddress": "192.0.2.1"},
        {"Priority": 3, "IpAddress": ""},
        {"Priority": 4, "IpAddress": "0.0.0.0"},
    ]
    assert dns_servers("Static", rows, ["10.0.0.53"]) == ["192.0.2.1", "192.0.2.2"]
    assert dns_servers("Automatic", rows, ["10.0.0.53"]) == ["10.0.0.53"]
    assert dns_servers("Automatic", rows, []) == []


def test_static_hosts() -> None:
    rows = [
        {"Name": "Sip.Example.com.", "IpAddresses": "192.0.2.1, 192.0.2.2"},
        {"Name": "x", "IpAddresses": "bad"},
        {"Name": "", "IpAddresses": "192.0.2.9"},
    ]
    assert static_hosts(rows) == {"sip.example.com": ["192.0.2.1", "192.0.2.2"]}


def test_hoc_dns_servers_info_static_and_dhcp(tmp_path: Path) -> None:
    u = Unit(name="u", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    hoc = HocEngine(u)
    assert u.config.rows("Hoc.DnsServersInfo") == []  # Automatic (factory) without a DHCP client: none
    hoc.set_dhcp_dns_servers(["10.0.0.53", "10.0.0.54"])
    assert u.config.rows("Hoc.DnsServersInfo") == [
        {"Priority": 1, "IpAddress": "10.0.0.53"},
        {"Priority": 2, "IpAddress": "10.0.0.54"},
    ]
    u.config.set("Hoc.DnsServersConfigSource", "Static")
    u.config.set("Hoc.StaticDnsServers[2].IpAddress", "192.0.2.2")
    assert u.config.rows("Hoc.DnsServersInfo") == [{"Priority": 1, "IpAddress": "192.0.2.2"}]

"""SipEp finds its registrar through a real DNS server (dnsmasq: NAPTR, SRV, A records) and fails over
between two real Kamailio instances.

The registrar is the domain ``example.test``; SRV records point to Kamailio A (``a.example.test``,
priority 10) and Kamailio B (``b.example.test``, priority 20), each on its own loopback address.
dnsmasq listens on an unprivileged port (the unit's ``dns_port``, an emulator addition), so the
tests need no root.

* TLS: the unit registers to A (certificate named ``a.example.test``, validation DnsSrvResponse);
  A is stopped; the link drops and the unit registers to B within a few seconds. The status tables
  show B; 9009 says why.
* UDP: A answers every REGISTER "503 Service Unavailable" (``5xxOnRegistration``, the factory
  condition): the unit registers to B. With the conditions emptied, the 503 is final (Rejected).
* UDP: A's SRV record names a port where nothing answers: the transaction times out and the unit
  registers to B (no answer always fails over); A then sits in the penalty box.
* The DNS server stops: with ``SipEp.DnsFailureConcealment`` = OnNoResolution the unit keeps the last
  addresses and refreshes its registration; with None it has nowhere to send (Unreachable). 9010 both.
* The dnspython glue itself against dnsmasq (record types, NXDOMAIN, a silent first server).
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.cert.engine import CertEngine
from emulator.engines.hoc.dns import DnsClient
from emulator.engines.hoc.engine import HocEngine
from emulator.engines.nlm import NlmEngine
from emulator.engines.sipep.engine import SipEpEngine
from emulator.protocols.sip.resolve import DnsFailure, NaptrRecord, SrvRecord
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit import dnsmasq as dnsmasq_peer
from testkit.dnsmasq import Dnsmasq
from testkit.kamailio import Kamailio, start_kamailio
from testkit.peers import free_port
from testkit.pki import Pki
from testkit.process import stopped_at_exit
from tests.interop.siplab import FAST, USERS, reg_state, sipep_notes, wait_for

pytestmark = pytest.mark.peer

DNS_HOST = "127.0.0.60"
HOST_A, HOST_B = "127.0.0.101", "127.0.0.102"
DOMAIN = "example.test"


def start_dnsmasq(directory: Path, records: list[str]) -> Dnsmasq:
    """dnsmasq answering only ``records`` (``--srv-host=...`` etc.) on DNS_HOST at a free port."""
    return dnsmasq_peer.start_dnsmasq(directory, records, host=DNS_HOST, domain=DOMAIN)


@dataclass
class Lab:
    tmp: Path
    pki_dir: Path
    ca_pem: bytes
    certs: dict[str, tuple[Path, Path]]
    peers: list[Kamailio | Dnsmasq]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, dict[str, tuple[Path, Path]]]:
    d = tmp_path_factory.mktemp("failover-pki")
    p = Pki("rsa")
    ca = p.ca("Failover Lab CA")
    certs = {
        name: p.leaf(ca, f"{name}.{DOMAIN}", dns=(f"{name}.{DOMAIN}",), ips=()).write(d, name) for name in ("a", "b")
    }
    return d, ca.pem(), certs


@pytest.fixture
def lab(tmp_path: Path, pki: tuple[Path, bytes, dict[str, tuple[Path, Path]]]) -> Iterator[Lab]:
    d, ca_pem, certs = pki
    with stopped_at_exit() as peers:
        yield Lab(tmp_path, d, ca_pem, certs, peers)


@pytest.fixture
async def units(lab: Lab) -> AsyncIterator[list[Unit]]:  # stopped before the peers (lab) are
    made: list[Unit] = []
    yield made
    for u in made:
        await u.stop()


def kamailio(
    lab: Lab,
    name: str,
    host: str,
    *,
    tls_only: bool = False,
    defines: tuple[str, ...] = (),
    tls_port: int | None = None,
) -> Kamailio:
    crt, key = lab.certs[name]
    directory = lab.tmp / f"kamailio-{name}-{len(lab.peers)}"
    k = start_kamailio(directory, crt, key, USERS, tls_only=tls_only, defines=defines, host=host, tls_port=tls_port)
    lab.peers.append(k)
    return k


def srv_records(service: str, *ports: int) -> list[str]:
    """dnsmasq's SRV records of ``service`` (``_sip._udp``, ``_sips._tcp``) for a.DOMAIN at the first of ``ports``
    (priority 10), b.DOMAIN at the second (priority 20)."""
    return [f"--srv-host={service}.{DOMAIN},{'ab'[i]}.{DOMAIN},{port},{10 * (i + 1)},0" for i, port in enumerate(ports)]


def dns(lab: Lab, records: list[str]) -> Dnsmasq:
    server = start_dnsmasq(
        lab.tmp / "dnsmasq", [f"--host-record=a.{DOMAIN},{HOST_A}", f"--host-record=b.{DOMAIN},{HOST_B}", *records]
    )
    lab.peers.append(server)
    return server


async def make_unit(
    units: list[Unit], lab: Lab, server: Dnsmasq, *, tls: bool, settings: dict[str, Any] | None = None
) -> Unit:
    """A unit whose registrar (and proxy) is the domain, asking ``server`` for it."""
    host = f"127.0.0.{len(units) + 2}"
    u = Unit(
        name=f"u{len(units)}",
        profile=get_profile("4102"),
        state_dir=lab.tmp / f"u{len(units)}",
        host=host,
        ports=PortPolicy(mode="auto"),
        fsync=False,
        dns_port=server.port,
    )
    nlm = NlmEngine(u)
    u.attach(nlm)
    u.nlm = nlm
    hoc = HocEngine(u, assume_synchronized=True)
    u.attach(hoc)
    u.hoc = hoc
    cert = CertEngine(u, lab.pki_dir / "factory")
    u.attach(cert)
    u.cert = cert
    engine = SipEpEngine(u, timers=FAST, poll_s=0.05)
    engine.dns.timeout = 0.3  # a stopped DNS server on loopback is silent: do not wait the 2 s of the default
    u.attach(engine)
    c = u.config
    c.set("SipEp.MinSeverity", "Info")
    c.set("Hoc.DnsServersConfigSource", "Static")
    c.set("Hoc.StaticDnsServers[1].IpAddress", server.host)
    c.set("SipEp.TransportConfig[default].TlsEnable", "Enable" if tls else "Disable")
    c.set("SipEp.InteropTlsCertificateValidation", "DnsSrvResponse")  # the certificates name the SRV targets
    c.set("SipEp.DefaultStaticRegistrarServerHost", DOMAIN)
    c.set("SipEp.DefaultStaticProxyHomeDomainHost", DOMAIN)
    c.set("SipEp.DefaultRegistrationRetryTime", 1)
    c.set("SipEp.UserAgent[Phone-Fax1].Username", "alice")
    c.set("SipEp.UserAgent[Phone-Fax1].Register", "Enable")
    c.add_row("SipEp.Authentication", {"Username": "alice", "Password": USERS["alice"]})
    for name, value in (settings or {}).items():
        c.set(name, value)
    units.append(u)
    await u.start()
    cert.import_other(lab.ca_pem)
    return u


def registrar(u: Unit) -> str:
    [row] = u.config.rows("SipEp.RegistrationStatus")
    return str(row["Registrar"])


# ---------------------------------------------------------------------------------------------------------------
async def test_tls_registrar_by_srv_fails_over_when_a_stops(units: list[Unit], lab: Lab) -> None:
    ka = kamailio(lab, "a", HOST_A, tls_only=True)
    kb = kamailio(lab, "b", HOST_B, tls_only=True)
    server = dns(lab, srv_records("_sips._tcp", ka.tls_port, kb.tls_port))
    u = await make_unit(units, lab, server, tls=True, settings={"SipEp.TransportFailbackInterval": 5})
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered on A")
    assert registrar(u) == f"{HOST_A}:{ka.tls_port}"
    [link] = u.config.rows("SipEp.TlsPersistentConnectionStatus")
    assert link["State"] == "Up" and link["RemoteHost"] == f"a.{DOMAIN}:{ka.tls_port}"
    assert link["RemoteHostIpAddr"] == HOST_A and link["LocalPort"] == 16000
    assert u.config.rows("Hoc.DnsServersInfo") == [{"Priority": 1, "IpAddress": DNS_HOST}]
    # the query came from the unit's address, for the SIPS SRV name (TLS: no NAPTR unless forced)
    assert f"query[SRV] _sips._tcp.{DOMAIN} from {u.host}" in server.log()
    assert f"REQ REGISTER sip:{DOMAIN} from {u.host}:16000 proto=tls" in ka.log()

    started = time.monotonic()
    ka.stop()
    await wait_for(
        lambda: reg_state(u) == "Registered" and registrar(u) == f"{HOST_B}:{kb.tls_port}",
        timeout=10,
        what="Registered on B",
    )
    took = time.monotonic() - started
    assert took < 8, took
    links = {lk["RemoteHost"]: lk for lk in u.config.rows("SipEp.TlsPersistentConnectionStatus")}
    assert links[f"b.{DOMAIN}:{kb.tls_port}"]["State"] == "Up"
    assert links[f"b.{DOMAIN}:{kb.tls_port}"]["RemoteHostIpAddr"] == HOST_B
    assert links[f"a.{DOMAIN}:{ka.tls_port}"]["State"] != "Up"
    notes = sipep_notes(u)
    assert (
        9009,
        f"SIP gateway default fails over from server {HOST_A}:{ka.tls_port} to {HOST_B}:{kb.tls_port} (no answer).",
    ) in notes, notes
    assert any(n == 303 and f"{HOST_B}:{kb.tls_port}" in m for n, m in notes)
    assert u.config.rows("SipEp.GatewayStatus")[0]["State"] == "Ready"
    assert f"REQ REGISTER sip:{DOMAIN} from {u.host}" in kb.log()
    # calls follow: the gateway's next hop is B now
    hop = sipep(u).gateways["default"].next_hop("TLS")
    assert hop is not None and (hop.host, hop.port) == (HOST_B, kb.tls_port)

    # A comes back: its link is retried every TransportFailbackInterval (5 s) and the unit goes back to it
    ka2 = kamailio(lab, "a", HOST_A, tls_only=True, tls_port=ka.tls_port)
    await wait_for(
        lambda: reg_state(u) == "Registered" and registrar(u) == f"{HOST_A}:{ka.tls_port}",
        timeout=12,
        what="Registered on A again",
    )
    assert f"REQ REGISTER sip:{DOMAIN} from {u.host}:16000 proto=tls" in ka2.log()
    assert any(n == 9009 and "higher-priority server is reachable again" in m for n, m in sipep_notes(u))
    hop = sipep(u).gateways["default"].next_hop("TLS")
    assert hop is not None and (hop.host, hop.port) == (HOST_A, ka.tls_port)


async def test_udp_503_on_registration_fails_over(units: list[Unit], lab: Lab) -> None:
    ka = kamailio(lab, "a", HOST_A, defines=("WITH_REGISTER_503",))
    kb = kamailio(lab, "b", HOST_B)
    naptr = f"--naptr-record={DOMAIN},10,10,s,SIP+D2U,,_sip._udp.{DOMAIN}"
    server = dns(lab, [naptr, *srv_records("_sip._udp", ka.udp_port, kb.udp_port)])
    u = await make_unit(units, lab, server, tls=False)
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered on B")
    assert registrar(u) == f"{HOST_B}:{kb.udp_port}"
    log = server.log()
    assert f"query[NAPTR] {DOMAIN} from {u.host}" in log and f"query[SRV] _sip._udp.{DOMAIN}" in log
    assert "REQ REGISTER" in ka.log()
    assert (
        9009,
        f"SIP gateway default fails over from server {HOST_A}:{ka.udp_port} to {HOST_B}:{kb.udp_port} "
        "(503 Service Unavailable).",
    ) in sipep_notes(u)


async def test_udp_503_without_failover_condition_is_final(units: list[Unit], lab: Lab) -> None:
    ka = kamailio(lab, "a", HOST_A, defines=("WITH_REGISTER_503",))
    kb = kamailio(lab, "b", HOST_B)
    server = dns(lab, srv_records("_sip._udp", ka.udp_port, kb.udp_port))
    u = await make_unit(units, lab, server, tls=False, settings={"SipEp.DefaultSipFailoverConditions": ""})
    await wait_for(lambda: reg_state(u) == "Rejected", what="Rejected by A")
    assert registrar(u) == f"{HOST_A}:{ka.udp_port}"
    assert not any(n == 9009 for n, _ in sipep_notes(u))
    assert "REQ REGISTER" not in kb.log()


async def test_udp_no_answer_fails_over(units: list[Unit], lab: Lab) -> None:
    kb = kamailio(lab, "b", HOST_B)
    dead = free_port(HOST_A, socket.SOCK_DGRAM)  # nothing listens there
    server = dns(lab, srv_records("_sip._udp", dead, kb.udp_port))
    u = await make_unit(
        units, lab, server, tls=False, settings={"SipEp.PenaltyBoxEnable": "Enable", "SipEp.PenaltyBoxTime": 60}
    )
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered on B")
    assert registrar(u) == f"{HOST_B}:{kb.udp_port}"
    notes = sipep_notes(u)
    assert (9001, f"Server {HOST_A}:{dead} is unreachable for SIP gateway default.") in notes
    assert any(n == 9009 and "(no answer)" in m for n, m in notes)
    # A sits in the penalty box: the next attempt goes straight to B
    engine = sipep(u)
    gw = engine.gateways["default"]
    assert gw.registrar is not None
    _, chosen = await engine.server_target(gw, gw.registrar)
    assert chosen is not None and (chosen.address, chosen.port) == (HOST_B, kb.udp_port)


def sipep(u: Unit) -> SipEpEngine:
    engine = u.services["SipEp"].engine
    assert isinstance(engine, SipEpEngine)
    return engine


@pytest.mark.parametrize("concealment", ["OnNoResolution", "None"])
async def test_dns_failure_concealment(units: list[Unit], lab: Lab, concealment: str) -> None:
    ka = kamailio(lab, "a", HOST_A)
    server = dns(lab, srv_records("_sip._udp", ka.udp_port))
    u = await make_unit(units, lab, server, tls=False, settings={"SipEp.DnsFailureConcealment": concealment})
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered on A")
    server.stop()  # the DNS is gone; the next attempt (woken now rather than at the refresh) resolves again
    [reg] = sipep(u).registrations
    cseq = reg.cseq
    reg.wake.set()
    await wait_for(lambda: any(n == 9010 for n, _ in sipep_notes(u)), what="9010")
    [(_, message)] = [(n, m) for n, m in sipep_notes(u) if n == 9010]
    assert message.startswith(f"Server {DOMAIN} cannot be resolved for SIP gateway default (no answer for ")
    if concealment == "OnNoResolution":
        assert message.endswith("; the last addresses are kept).")
        await wait_for(lambda: reg.cseq > cseq and reg_state(u) == "Registered", what="refreshed on A")
        assert registrar(u) == f"{HOST_A}:{ka.udp_port}"
    else:
        await wait_for(lambda: reg_state(u) == "Unreachable", what="Unreachable")
        assert reg.cseq == cseq  # nothing was sent: no address to send to


@pytest.mark.parametrize(("tls", "settings", "asked", "not_asked"), [
    (False, {}, ["NAPTR", "SRV"], []),  # the factory Naptr: NAPTR, then the SRV it names
    (False, {"SipEp.SupportedDnsQueries": "Srv"}, ["SRV", "AAAA"], ["NAPTR"]),
    (False, {"SipEp.SupportedDnsQueries": "Srv", "SipEp.DnsIpVersion": "IpV4Only"}, ["SRV", "A"], ["NAPTR", "AAAA"]),
    (False, {"SipEp.SupportedDnsQueries": "Address"}, ["A"], ["NAPTR", "SRV"]),
    (True, {}, ["SRV"], ["NAPTR"]),  # over TLS the DGW skips NAPTR...
    (True, {"SipEp.InteropForceDnsNaptrInTls": "Enable"}, ["NAPTR", "SRV"], []),  # ...unless forced
])
async def test_dns_queries_follow_the_settings(units: list[Unit], lab: Lab, tls: bool, settings: dict[str, str],
                                               asked: list[str], not_asked: list[str]) -> None:
    """SipEp.SupportedDnsQueries, SipEp.DnsIpVersion and SipEp.InteropForceDnsNaptrInTls, in dnsmasq's query log."""
    naptr = [f"--naptr-record={DOMAIN},10,10,s,SIP+D2U,,_sip._udp.{DOMAIN}",
             f"--naptr-record={DOMAIN},10,10,s,SIPS+D2T,,_sips._tcp.{DOMAIN}"]
    server = dns(lab, [*naptr, *srv_records("_sip._udp", 5070), *srv_records("_sips._tcp", 5071),
                       f"--host-record={DOMAIN},{HOST_A}"])
    u = await make_unit(units, lab, server, tls=tls, settings=settings)
    last = asked[-1]
    await wait_for(lambda: f"query[{last}] " in server.log(), what=f"a {last} query")
    queries = [line for line in server.log().splitlines() if f"from {u.host}" in line and "query[" in line]
    kinds = {line.split("query[", 1)[1].split("]", 1)[0] for line in queries}
    assert set(asked) <= kinds and not kinds & set(not_asked), queries


async def test_dns_client_against_dnsmasq(lab: Lab) -> None:
    """The dnspython glue: record types, NXDOMAIN, the second server when the first does not answer,
    the source address, static hosts before any query."""
    server = dns(
        lab,
        [
            f"--naptr-record={DOMAIN},10,20,s,SIP+D2U,,_sip._udp.{DOMAIN}",
            f"--srv-host=_sip._udp.{DOMAIN},a.{DOMAIN},5070,10,5",
            "--dns-rr=aaaa.example.test,28,20010db8000000000000000000000001",
        ],
    )
    silent = "127.0.0.61"  # no server there: the client moves on to the next one
    client = DnsClient(
        "127.0.0.9",
        lambda: [silent, server.host],
        port=server.port,
        timeout=0.2,
        hosts=lambda: {"pinned.test": ["192.0.2.7"]},
    )
    session = client.session()
    assert await session.naptr(DOMAIN) == [NaptrRecord(10, 20, "s", "SIP+D2U", f"_sip._udp.{DOMAIN}")]
    assert await session.srv(f"_sip._udp.{DOMAIN}") == [SrvRecord(10, 5, 5070, f"a.{DOMAIN}")]
    assert await session.addresses(f"a.{DOMAIN}", (4, 6)) == [HOST_A]
    assert await session.srv(f"_sip._tcp.{DOMAIN}") == []  # no such record
    assert await session.addresses(f"nowhere.{DOMAIN}", (4,)) == []  # NXDOMAIN
    asked = client.queries
    assert session.pinned("pinned.test") and await session.addresses("pinned.test", (4,)) == ["192.0.2.7"]
    assert client.queries == asked
    assert f"query[SRV] _sip._udp.{DOMAIN} from 127.0.0.9" in server.log()
    server.stop()
    with pytest.raises(DnsFailure):
        await session.srv(f"_sip._udp.{DOMAIN}")


async def test_udp_invite_with_no_answer_fails_over_and_the_registration_follows(units: list[Unit], lab: Lab) -> None:
    ka = kamailio(lab, "a", HOST_A)
    kb = kamailio(lab, "b", HOST_B)
    server = dns(lab, srv_records("_sip._udp", ka.udp_port, kb.udp_port))
    u = await make_unit(units, lab, server, tls=False)
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered on A")
    assert registrar(u) == f"{HOST_A}:{ka.udp_port}"
    ka.stop()  # over UDP nothing tells the unit until it sends something
    call = await sipep(u).calls.dial("Phone-Fax1", "nobody")
    await wait_for(lambda: call.state == "ended", what="the call ends at B")
    assert call.status == 404  # B's answer: nobody is registered there as "nobody"
    assert f"REQ INVITE sip:nobody@{DOMAIN}" in kb.log()
    assert call.target is not None and (call.target.host, call.target.port) == (HOST_B, kb.udp_port)
    assert (
        9009,
        f"SIP gateway default fails over from server {HOST_A}:{ka.udp_port} to {HOST_B}:{kb.udp_port} (no answer).",
    ) in sipep_notes(u)
    await wait_for(
        lambda: reg_state(u) == "Registered" and registrar(u) == f"{HOST_B}:{kb.udp_port}", what="Registered on B"
    )

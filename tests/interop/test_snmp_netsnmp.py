"""The Snmp engine against the real net-snmp tools (Debian ``snmp``) on 127.0.0.1, with the vendor MIBs.

The vendor MX-*-MIB files are not in the repository: their folder comes from ``DGW_VENDOR_MIBS``
(CI: ``../shared/mibs``), else ``<repo>/../shared/mibs`` when it exists; without them the MIB tests
skip, or fail under ``DGW_REQUIRE_PEERS=1``. net-snmp also needs the SMI base modules, which Debian
does not ship: ``snmp_base_mibs`` writes minimal ones.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.engines.nlm import NlmEngine
from emulator.faces.snmp import SnmpEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.oidmap import format_oid
from firmware_model.profiles import get_profile
from testkit.peers import free_port, require_peer
from tests.interop.snmp_base_mibs import vendor_mibs, write_base_mibs

pytestmark = pytest.mark.peer

REPO = Path(__file__).resolve().parents[2]
MEDIA5 = ".1.3.6.1.4.1.4935"
RW_PASS = "adminpass1"
RO_PASS = "watchpass1"


@dataclass
class Agent:
    unit: Unit
    engine: SnmpEngine
    target: str
    env: dict[str, str]
    mib_path: str

    def cmd(self, tool: str, auth: list[str], *oids: str, mibs: bool = False, timeout: float = 1.0) -> str:
        opts = ["-t", str(timeout), "-r", "0"]
        opts += ["-M", self.mib_path, "-m", "ALL"] if mibs else ["-On"]
        proc = subprocess.run([tool, *opts, *auth, self.target, *oids], capture_output=True, text=True,
                              env=self.env, timeout=60)
        return proc.stdout + proc.stderr


V2 = ["-v2c", "-c", "public"]
V1 = ["-v1", "-c", "public"]
V3_RW = ["-v3", "-l", "authNoPriv", "-u", "admin", "-a", "MD5", "-A", RW_PASS]
V3_RO = ["-v3", "-l", "authNoPriv", "-u", "watch", "-a", "MD5", "-A", RO_PASS]


async def start_agent(tmp_path: Path, settings: dict[str, str], users: bool = True) -> tuple[Unit, SnmpEngine]:
    u = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path / "unit", ports=PortPolicy(mode="auto"),
             fsync=False)
    nlm = NlmEngine(u)
    u.attach(nlm)
    u.nlm = nlm
    if users:
        u.config.add_row("Aaa.Users", {"UserName": "admin", "Password": RW_PASS, "AccessRights": "Admin"})
        u.config.add_row("Aaa.Users", {"UserName": "watch", "Password": RO_PASS, "AccessRights": "Observer"})
    for name, value in settings.items():
        u.config.set(name, value)
    eng = SnmpEngine(u)
    u.attach(eng)
    await u.start()
    return u, eng


@pytest.fixture
def net_snmp(tmp_path: Path) -> tuple[dict[str, str], str]:
    require_peer("snmpget", "snmpwalk", "snmpset", "snmpbulkwalk")
    persist = tmp_path / "net-snmp"
    persist.mkdir()
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(persist), MIBS="", HOME=str(tmp_path))
    return env, ""


async def make_agent(tmp_path: Path, net_snmp: tuple[dict[str, str], str], settings: dict[str, str],
                     with_mibs: bool = False) -> AsyncIterator[Agent]:
    env, _ = net_snmp
    mib_path = ""
    if with_mibs:
        base = write_base_mibs(tmp_path / "base-mibs")
        mib_path = f"{base}:{vendor_mibs()}"
    u, eng = await start_agent(tmp_path, settings)
    try:
        yield Agent(u, eng, u.listening["snmp"], env, mib_path)
    finally:
        await u.stop()


@pytest.fixture
async def agent(tmp_path: Path, net_snmp: tuple[dict[str, str], str]) -> AsyncIterator[Agent]:
    """v1/v2c enabled (community 'public' = the factory user 'public', Admin), v3 users admin and watch."""
    settings = {"Snmp.EnableSnmpV1": "Enable", "Snmp.EnableSnmpV2": "Enable"}
    async for a in make_agent(tmp_path, net_snmp, settings, with_mibs=True):
        yield a


@pytest.fixture
async def factory_agent(tmp_path: Path, net_snmp: tuple[dict[str, str], str]) -> AsyncIterator[Agent]:
    async for a in make_agent(tmp_path, net_snmp, {}):
        yield a


async def off_loop(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """net-snmp tools block: run them in a thread while the agent answers on the loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


# ------------------------------------------------------------------------------------ the vendor MIBs
async def test_walk_of_media5_subtree_resolves_every_oid_to_a_vendor_name(agent: Agent) -> None:
    out = await off_loop(agent.cmd, "snmpbulkwalk", ["-Cr50", *V2], MEDIA5, mibs=True, timeout=5)
    lines = [line for line in out.splitlines() if " = " in line]
    expected = len(agent.engine.tree.instances())  # type: ignore[union-attr]
    assert len(lines) == expected + len(agent.engine.command_oids())  # the service commands: emulator additions
    names = [line.split(" = ", 1)[0] for line in lines]
    leftovers = [n for n in names if not re.match(r"^MX-[A-Z0-9-]+-MIB::[a-zA-Z]\w*\.", n)]
    assert leftovers == []
    assert "Wrong Type" not in out  # every value has the syntax its MIB object declares
    assert any(n.startswith("MX-SIPEP-MIB::") for n in names)
    assert 'MX-AAA-MIB::usersUserName."public" = STRING: "public"' in out  # string index decoded by name


async def test_get_by_vendor_name_answers(agent: Agent) -> None:
    agent.unit.config.set("SipEp.DefaultStaticProxyOutboundHost", "proxy.lab:5061")
    out = await off_loop(agent.cmd, "snmpget", V2, "MX-SIPEP-MIB::defaultStaticProxyOutboundHost.0",
                         "MX-SIPEP-MIB::interopTlsCertificateValidation.0", "SNMPv2-MIB::sysDescr.0", mibs=True)
    assert 'MX-SIPEP-MIB::defaultStaticProxyOutboundHost.0 = STRING: "proxy.lab:5061"' in out
    assert "MX-SIPEP-MIB::interopTlsCertificateValidation.0 = INTEGER: hostName(400)" in out
    assert re.search(r'SNMPv2-MIB::sysDescr.0 = STRING: "?Mediatrix 4102 DGW \d', out)
    # SNMPv1 (answered by pysnmp, not the v2c fast path) gives the same.
    out = await off_loop(agent.cmd, "snmpget", V1, "MX-SIPEP-MIB::defaultStaticProxyOutboundHost.0",
                         "SNMPv2-MIB::sysObjectID.0", mibs=True)
    assert 'MX-SIPEP-MIB::defaultStaticProxyOutboundHost.0 = STRING: "proxy.lab:5061"' in out
    assert "sysObjectID.0 = OID: MX-PRODUCTS2-MIB::mediatrix4100Series.102" in out  # the profile's series


async def test_set_enum_by_label_goes_through_config(agent: Agent) -> None:
    seen: list[tuple[str, object, str]] = []
    agent.unit.config.subscribe(lambda ev: seen.append((ev.address, ev.new, ev.source)))
    out = await off_loop(agent.cmd, "snmpset", V2, "MX-WEB-MIB::httpMode.0", "i", "secure", mibs=True)
    assert "MX-WEB-MIB::httpMode.0 = INTEGER: secure(100)" in out
    assert agent.unit.config.get("Web.HttpMode") == "Secure"  # what the CLI and the API read
    assert ("Web.HttpMode", "Secure", "snmp") in seen
    assert agent.unit.config.needs_restart("Web")
    out = await off_loop(agent.cmd, "snmpget", V3_RO, "MX-WEB-MIB::httpMode.0", mibs=True)
    assert "INTEGER: secure(100)" in out


# ------------------------------------------------------------------------------------ access
async def test_v2c_and_v1_refused_while_disabled(factory_agent: Agent) -> None:
    assert factory_agent.unit.config.get("Snmp.EnableSnmpV2") == "Disable"
    for auth in (V2, V1):
        out = await off_loop(factory_agent.cmd, "snmpget", auth, ".1.3.6.1.2.1.1.1.0", timeout=0.5)
        assert "Timeout" in out
    out = await off_loop(factory_agent.cmd, "snmpget", V3_RW, ".1.3.6.1.2.1.1.1.0")
    assert 'STRING: "Mediatrix 4102' in out  # v3 is enabled by default


async def test_pysnmp_engine_is_built_on_first_need(tmp_path: Path, net_snmp: tuple[dict[str, str], str]) -> None:
    """A factory unit (no v3-capable user, v1/v2c off) costs a socket until a request needs pysnmp."""
    env, _ = net_snmp
    u, eng = await start_agent(tmp_path, {}, users=False)
    try:
        assert eng._engine is None
        a = Agent(u, eng, u.listening["snmp"], env, "")
        out = await off_loop(a.cmd, "snmpget", V2, ".1.3.6.1.2.1.1.1.0", timeout=0.3)
        assert "Timeout" in out and eng._engine is None  # v2c disabled: dropped by the fast path
        out = await off_loop(a.cmd, "snmpget", V3_RW, ".1.3.6.1.2.1.1.1.0", timeout=2)
        assert "Unknown user name" in out
        assert eng._engine is not None
    finally:
        await u.stop()


async def test_listening_port_parameter_and_restart(tmp_path: Path, net_snmp: tuple[dict[str, str], str]) -> None:
    env, _ = net_snmp
    port = free_port(kind=socket.SOCK_DGRAM)
    u = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path / "unit", ports=PortPolicy(mode="hardware"),
             fsync=False)
    u.config.set("Snmp.Port", port)
    u.config.set("Snmp.EnableSnmpV2", "Enable")
    eng = SnmpEngine(u)
    u.attach(eng)
    await u.start()
    try:
        assert u.listening["snmp"] == f"127.0.0.1:{port}"
        a = Agent(u, eng, u.listening["snmp"], env, "")
        assert "Mediatrix" in await off_loop(a.cmd, "snmpget", V2, ".1.3.6.1.2.1.1.1.0")
        u.version = "49.12.3001"  # sysDescr is read per request: a new firmware shows without an Snmp restart
        assert "Mediatrix 4102 DGW 49.12.3001" in await off_loop(a.cmd, "snmpget", V2, ".1.3.6.1.2.1.1.1.0")
        u.config.set("Snmp.Community", "lab-ro")
        assert u.config.needs_restart("Snmp")
        assert "Mediatrix" in await off_loop(a.cmd, "snmpget", V2, ".1.3.6.1.2.1.1.1.0")  # until the restart
        await u.restart_required_services()
        assert u.listening["snmp"] == f"127.0.0.1:{port}"  # the same port again
        assert "Timeout" in await off_loop(a.cmd, "snmpget", V2, ".1.3.6.1.2.1.1.1.0", timeout=0.3)
        # 'lab-ro' names no Aaa user: answered with an authorization error, never with data.
        out = await off_loop(a.cmd, "snmpget", ["-v2c", "-c", "lab-ro"], ".1.3.6.1.2.1.1.1.0", timeout=2)
        assert "Mediatrix" not in out
    finally:
        await u.stop()


async def test_v3_wrong_credentials_refused(agent: Agent) -> None:
    bad = ["-v3", "-l", "authNoPriv", "-u", "admin", "-a", "MD5", "-A", "wrongpass9"]
    assert "Authentication failure" in await off_loop(agent.cmd, "snmpget", bad, ".1.3.6.1.2.1.1.1.0")
    sha = ["-v3", "-l", "authNoPriv", "-u", "admin", "-a", "SHA", "-A", RW_PASS]
    assert "Authentication failure" in await off_loop(agent.cmd, "snmpget", sha, ".1.3.6.1.2.1.1.1.0")
    nobody = ["-v3", "-l", "authNoPriv", "-u", "nobody", "-a", "MD5", "-A", RW_PASS]
    assert "Unknown user name" in await off_loop(agent.cmd, "snmpget", nobody, ".1.3.6.1.2.1.1.1.0")
    wrong_community = ["-v2c", "-c", "private"]
    assert "Timeout" in await off_loop(agent.cmd, "snmpget", wrong_community, ".1.3.6.1.2.1.1.1.0", timeout=0.5)


async def test_read_only_users_cannot_set(agent: Agent) -> None:
    cfg = agent.unit.config
    out = await off_loop(agent.cmd, "snmpset", V3_RO, "MX-WEB-MIB::httpMode.0", "i", "secure", mibs=True)
    assert "notWritable" in out
    assert cfg.get("Web.HttpMode") == "Both"
    # The community takes the rights of its Aaa user: Observer -> read-only, live.
    cfg.set("Aaa.Users[public].AccessRights", "Observer")
    out = await off_loop(agent.cmd, "snmpset", V2, "MX-WEB-MIB::httpMode.0", "i", "secure", mibs=True)
    assert "notWritable" in out
    assert cfg.get("Web.HttpMode") == "Both"
    out = await off_loop(agent.cmd, "snmpget", V2, "MX-WEB-MIB::httpMode.0", mibs=True)
    assert "INTEGER: both(300)" in out
    # Secrets read as empty text for non-Admin users.
    cfg.set("Snmp.PrivPassword", "s3cret-priv")
    out = await off_loop(agent.cmd, "snmpget", V3_RO, ".1.3.6.1.4.1.4935.1000.100.200.100.900.1.200.700.0")
    assert 'STRING: ""' in out or '= ""' in out
    out = await off_loop(agent.cmd, "snmpget", V2, ".1.3.6.1.4.1.4935.1000.100.200.100.900.1.200.700.0")
    assert 'STRING: ""' in out or '= ""' in out  # the community's user is now an Observer
    out = await off_loop(agent.cmd, "snmpget", V3_RW, ".1.3.6.1.4.1.4935.1000.100.200.100.900.1.200.700.0")
    assert "s3cret-priv" in out
    # A community whose Aaa user does not exist has no access at all.
    cfg.set("Snmp.SnmpUser", "ghost")
    await agent.unit.restart_service("Snmp")
    out = await off_loop(agent.cmd, "snmpget", V2, ".1.3.6.1.2.1.1.1.0")
    assert "authorizationError" in out or "Timeout" in out or "noAccess" in out
    assert "Mediatrix" not in out


async def test_set_errors_map_to_snmp_statuses_and_are_all_or_nothing(agent: Agent) -> None:
    cfg = agent.unit.config
    http = ".1.3.6.1.4.1.4935.1000.100.200.100.1200.1.100.50.0"
    port = ".1.3.6.1.4.1.4935.1000.100.200.100.900.1.400.0"
    name = ".1.3.6.1.4.1.4935.1000.100.200.100.700.1.800.200.0"
    out = await off_loop(agent.cmd, "snmpset", V2, http, "i", "7")
    assert "wrongValue" in out
    out = await off_loop(agent.cmd, "snmpset", V2, http, "s", "Secure")
    assert "wrongType" in out
    out = await off_loop(agent.cmd, "snmpset", V2, port, "u", "0")
    assert "wrongValue" in out  # Snmp.Port is 1..65535: refused by Config.set
    out = await off_loop(agent.cmd, "snmpset", V2, ".1.3.6.1.4.1.4935.1000.100.200.100.900.1.10000.100.0", "u", "3")
    assert "notWritable" in out  # a read-only statistic
    out = await off_loop(agent.cmd, "snmpset", V2, ".1.3.6.1.4.1.4935.1000.100.200.100.1000.1.100.1.200.3.98.111.98",
                         "s", "x")
    assert "noCreation" in out  # no row "bob"
    # All or nothing: the good first varbind is not applied when the second is refused.
    out = await off_loop(agent.cmd, "snmpset", V2, name, "s", "gw-lab", http, "i", "7")
    assert "wrongValue" in out and "Failed object: .1.3.6.1.4.1.4935.1000.100.200.100.1200.1.100.50.0" in out
    assert cfg.get("Hoc.SystemName") == ""
    out = await off_loop(agent.cmd, "snmpset", V2, name, "s", "gw-lab", http, "i", "200")
    assert cfg.get("Hoc.SystemName") == "gw-lab" and cfg.get("Web.HttpMode") == "Unsecure"
    out = await off_loop(agent.cmd, "snmpget", V2, ".1.3.6.1.2.1.1.5.0")
    assert 'STRING: "gw-lab"' in out  # sysName is Hoc.SystemName
    out = await off_loop(agent.cmd, "snmpset", V2, ".1.3.6.1.2.1.1.6.0", "s", "rack 7")
    assert cfg.get("Hoc.SystemLocation") == "rack 7"  # sysLocation writes Hoc.SystemLocation
    out = await off_loop(agent.cmd, "snmpset", V2, ".1.3.6.1.2.1.1.1.0", "s", "x")
    assert "notWritable" in out
    # A row command column is a SET like any other: Aaa.Users[watch].Delete = Delete(10).
    delete = ".1.3.6.1.4.1.4935.1000.100.200.100.1000.1.100.1.300.5.119.97.116.99.104"
    out = await off_loop(agent.cmd, "snmpset", V2, delete, "i", "10")
    assert "INTEGER: 10" in out
    assert "watch" not in [r["UserName"] for r in cfg.rows("Aaa.Users")]


async def test_v3_sha_des_authpriv(tmp_path: Path, net_snmp: tuple[dict[str, str], str]) -> None:
    settings = {"Snmp.AuthProtocol": "Sha1", "Snmp.PrivProtocol": "Des", "Snmp.PrivPassword": "privpass123"}
    async for a in make_agent(tmp_path, net_snmp, settings):
        priv = ["-v3", "-l", "authPriv", "-u", "admin", "-a", "SHA", "-A", RW_PASS, "-x", "DES", "-X", "privpass123"]
        location = ".1.3.6.1.4.1.4935.1000.100.200.100.700.1.800.300.0"
        out = await off_loop(a.cmd, "snmpset", priv, location, "s", "rack 4")
        assert 'STRING: "rack 4"' in out
        assert a.unit.config.get("Hoc.SystemLocation") == "rack 4"
        bad = ["-v3", "-l", "authPriv", "-u", "admin", "-a", "SHA", "-A", RW_PASS, "-x", "DES", "-X", "wrongpriv9"]
        out = await off_loop(a.cmd, "snmpget", bad, ".1.3.6.1.2.1.1.1.0", timeout=0.5)
        assert "Mediatrix" not in out
        nopriv = ["-v3", "-l", "authNoPriv", "-u", "admin", "-a", "SHA", "-A", RW_PASS]
        out = await off_loop(a.cmd, "snmpget", nopriv, ".1.3.6.1.2.1.1.1.0")
        assert re.search("authorizationError|noAccess|Unsupported security level", out)  # privacy required


async def test_v3_sha_aes_authpriv(tmp_path: Path, net_snmp: tuple[dict[str, str], str]) -> None:
    """AES privacy: an emulator addition to Snmp.PrivProtocol (the 2019 MIB has None and Des only)."""
    settings = {"Snmp.AuthProtocol": "Sha1", "Snmp.PrivProtocol": "Aes", "Snmp.PrivPassword": "privpass123"}
    async for a in make_agent(tmp_path, net_snmp, settings):
        priv = ["-v3", "-l", "authPriv", "-u", "admin", "-a", "SHA", "-A", RW_PASS, "-x", "AES", "-X", "privpass123"]
        out = await off_loop(a.cmd, "snmpget", priv, ".1.3.6.1.2.1.1.1.0")
        assert "Mediatrix" in out
        des = ["-v3", "-l", "authPriv", "-u", "admin", "-a", "SHA", "-A", RW_PASS, "-x", "DES", "-X", "privpass123"]
        out = await off_loop(a.cmd, "snmpget", des, ".1.3.6.1.2.1.1.1.0", timeout=0.5)
        assert "Mediatrix" not in out  # the configured privacy protocol only


# ------------------------------------------------------------------------------------ the whole tree
async def test_bulk_walk_returns_exactly_the_catalog_in_order(agent: Agent) -> None:
    out = await off_loop(agent.cmd, "snmpbulkwalk", ["-Cr40", *V2], MEDIA5, timeout=5)
    got = [line.split(" = ", 1)[0] for line in out.splitlines() if " = " in line]
    tree = agent.engine.tree
    assert tree is not None
    commands = agent.engine.command_oids()  # the service commands (emulator additions, firmware_model.service_commands)
    expected = ["." + format_oid(o) for o in sorted([o for o, _ in tree.instances()] + commands)]
    assert got == expected
    catalog = agent.unit.catalog
    scalars = [p for p in catalog.scalars() if not p.addition]
    cells = sum(len(agent.unit.config.indexes(t.name)) * len(t.columns) for t in catalog.tables.values()
                if not t.addition)
    assert len(got) == len(scalars) + cells + len(commands) and len(commands) == len(agent.unit.commands)
    # A row added through the configuration appears at once.
    agent.unit.config.add_row("Aaa.Users", {"UserName": "late", "Password": "latepass1"})
    out = await off_loop(agent.cmd, "snmpbulkwalk", ["-Cr40", *V2], MEDIA5 + ".1000.100.200.100.1000.1.100", timeout=5)
    assert ".1.3.6.1.4.1.4935.1000.100.200.100.1000.1.100.1.100.4.108.97.116.101 = STRING: \"late\"" in out


async def test_fast_path_and_pysnmp_path_agree_on_the_whole_tree(agent: Agent) -> None:
    """SNMPv2c reads take the fast path (own BER codec); SNMPv3 goes through pysnmp: same walk."""
    names = ("Hoc.SystemTime", "Hoc.SystemUptime", "Snmp.StatsGetRequest", "Snmp.StatsGetNextRequest")
    moving = {agent.unit.catalog.params[n].oid for n in names}

    def lines(out: str) -> list[str]:
        return [ln for ln in out.splitlines() if " = " in ln and ln.split(" = ")[0][1:-2] not in moving]

    fast = await off_loop(agent.cmd, "snmpbulkwalk", ["-Cr40", *V2], MEDIA5, timeout=5)
    slow = await off_loop(agent.cmd, "snmpbulkwalk", ["-Cr40", *V3_RW], MEDIA5, timeout=10)
    assert len(lines(fast)) > 1500
    assert lines(fast) == lines(slow)


async def test_getnext_walks_agree_between_v2c_fast_path_and_v1(agent: Agent) -> None:
    subtree = ".1.3.6.1.4.1.4935.1000.100.200.100.900"  # MX-SNMP-MIB
    names = ("Snmp.StatsGetRequest", "Snmp.StatsGetNextRequest")
    moving = {"." + agent.unit.catalog.params[n].oid + ".0" for n in names}

    def lines(out: str) -> list[str]:
        return [ln for ln in out.splitlines() if " = " in ln and ln.split(" = ")[0] not in moving]

    v2 = await off_loop(agent.cmd, "snmpwalk", V2, subtree)
    v1 = await off_loop(agent.cmd, "snmpwalk", V1, subtree)
    assert len(lines(v2)) == len([p for p in agent.unit.catalog.scalars() if p.service == "Snmp"]) - 2
    assert lines(v2) == lines(v1)


async def test_two_units_same_port_different_addresses(tmp_path: Path, net_snmp: tuple[dict[str, str], str]) -> None:
    """No shared state: each unit answers on its own address with its own configuration."""
    env, _ = net_snmp
    port = free_port(kind=socket.SOCK_DGRAM)
    units = []
    try:
        for i, host in enumerate(("127.0.0.21", "127.0.0.22")):
            u = Unit(name=f"u{i}", profile=get_profile("4102" if i == 0 else "C740"), state_dir=tmp_path / f"u{i}",
                     host=host, ports=PortPolicy(mode="hardware"), fsync=False)
            u.config.set("Snmp.Port", port)
            u.config.set("Snmp.EnableSnmpV2", "Enable")
            u.config.set("Hoc.SystemName", f"gw-{i}")
            u.attach(SnmpEngine(u))
            await u.start()
            units.append(u)
        for i, u in enumerate(units):
            a = Agent(u, u.services["Snmp"].engine, u.listening["snmp"], env, "")  # type: ignore[arg-type]
            out = await off_loop(a.cmd, "snmpget", V2, ".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.2.0")
            assert f'"gw-{i}"' in out
            assert (".300.102" if i == 0 else ".600.740") in out
    finally:
        for u in units:
            await u.stop()


# ------------------------------------------------------------------------------------ traps
async def test_traps_to_configured_destination_and_unreachable_factory_destination(
    tmp_path: Path, net_snmp: tuple[dict[str, str], str]
) -> None:
    from pyasn1.codec.ber import decoder
    from pysnmp.proto.api import v2c

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    try:
        async for a in make_agent(tmp_path, net_snmp, {"Snmp.EnableSnmpV2": "Enable"}):
            # Factory destination 192.168.10.10:162 cannot be reached from 127.0.0.1: Snmp 9001, quietly.
            assert any(ev.service == "Snmp" and ev.msg_id == 9001 for ev in a.unit.notifications)
            a.unit.config.set("Snmp.TrapDest", f"127.0.0.1:{receiver.getsockname()[1]}")
            a.unit.notify("SipEp", 9001, host="10.0.0.1", port=5060, gateway="default")
            data = await off_loop(receiver.recv, 65535)
            msg, _ = decoder.decode(data, asn1Spec=v2c.Message())
            assert bytes(v2c.apiMessage.get_community(msg)) == b"public"
            binds = v2c.apiPDU.get_varbinds(v2c.apiMessage.get_pdu(msg))
            assert tuple(binds[1][1]) == (1, 3, 6, 1, 4, 1, 4935, 1000, 100, 200, 100, 1400, 0, 9001)
            assert b"10.0.0.1:5060" in bytes(binds[2][1])
    finally:
        receiver.close()

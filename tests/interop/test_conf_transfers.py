"""Configuration-script transfers against real servers from Debian on 127.0.0.1: nginx (HTTP, HTTPS with basic
auth), lighttpd (digest auth; Debian's nginx has no digest module), tftpd-hpa and vsftpd. A unit built as a lab
builds it (every engine) fetches a generic and a specific script whose names use ``%mac%``/``%product%`` on
restart, on command and periodically (the unit's clock skewed to cross its daily time range), and exports and
backs up to them. DHCP-given scripts (dnsmasq in network namespaces): tests/interop/test_conf_dhcp.py."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.engines.conf.engine import ConfEngine
from emulator.lab import RunningUnit
from testkit.file_servers import FileServer, lighttpd_digest, nginx, tftpd, vsftpd
from testkit.pki import Pki
from tests.interop.provisioning import engine_of, lab_unit

pytestmark = pytest.mark.peer

GENERIC = "Cli.InactivityTimeOut = 31\nCli.WelcomeMessage = generic\n"
SPECIFIC = "Cli.WelcomeMessage = specific %s\n"


@dataclass
class Servers:
    root: Path
    pki_dir: Path
    ca_pem: bytes
    http: FileServer  # nginx: HTTP and HTTPS
    digest: FileServer  # lighttpd
    tftp: FileServer
    ftp: FileServer


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    base = tmp_path_factory.mktemp("provisioning")
    root = base / "root"
    for folder in ("Mediatrix 4102", "auth/Mediatrix 4102", "upload"):
        (root / folder).mkdir(parents=True)
    pki = Pki()
    ca = pki.ca("Provisioning CA")
    cert, key = pki.leaf(ca, "127.0.0.1").write(base / "pki", "server")
    with nginx(base / "nginx", root, cert, key, users={"prov": "nginx-pw"}) as http, \
            lighttpd_digest(base / "lighttpd", root, {"prov": "digest-pw"}) as digest, \
            tftpd(root, base / "tftpd.log") as tftp, vsftpd(base / "vsftpd", root) as ftp:
        yield Servers(root, base / "pki", ca.pem(), http, digest, tftp, ftp)


def publish(servers: Servers, folder: str, mac: str, generic: str = GENERIC, specific: str | None = None) -> None:
    """The generic script and the unit's specific one (named after its MAC) in ``root/folder``."""
    d = servers.root / folder
    d.mkdir(parents=True, exist_ok=True)
    (d / "generic.cfg").write_text(generic)
    (d / f"{mac}.cfg").write_text(specific if specific is not None else SPECIFIC % folder.split("/")[0])
    for p in (d / "generic.cfg", d / f"{mac}.cfg"):
        p.chmod(0o644)


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[RunningUnit]:
    ru = await start_unit(tmp_path)
    yield ru
    await ru.stop()


async def start_unit(tmp_path: Path, settings: str = "", clock_offset: float = 0.0) -> RunningUnit:
    ru = lab_unit(tmp_path, "prov", "Conf", script=settings, clock_offset=clock_offset)
    c = conf(ru)
    c.retry_spacing = 0.2  # 30 s on the hardware (MX-CONF-MIB); injectable so the test stays short
    for t in (c.fetcher, c.images.transfers):
        t.tftp_timeout, t.tftp_retries = 0.3, 1
    await ru.start()
    return ru


def conf(ru: RunningUnit) -> ConfEngine:
    return engine_of(ru, "Conf", ConfEngine)


def script_settings(protocol: str, server: str, location: str = "%product%", user: str = "", password: str = "",
                    extra: str = "") -> str:
    return f"""
        Conf.ScriptsTransferProtocol = {protocol}
        Conf.ScriptsTransferSrvHostname = {server}
        Conf.ScriptsLocation = "{location}"
        Conf.ScriptGenericFileName = generic.cfg
        Conf.ScriptSpecificFileName = %mac%.cfg
        Conf.ScriptsTransferUsername = "{user}"
        Conf.ScriptsTransferPassword = "{password}"
        {extra}
    """


async def transferred(ru: RunningUnit, count: int = 1, timeout: float = 15.0) -> str:
    c = conf(ru)
    deadline = time.monotonic() + timeout
    while c.transfers < count:
        assert time.monotonic() < deadline, "no transfer"
        await asyncio.sleep(0.05)
    return ru.unit.config.get_text("Conf.ScriptsStatsLastTransferResult")


def notes(ru: RunningUnit, service: str = "Conf") -> list[tuple[int, str]]:
    return [(n.msg_id, n.message) for n in ru.unit.notifications if n.service == service]


def configure(ru: RunningUnit, script: str) -> None:
    result = ru.unit.run_script(script)
    assert result.ok, result.errors


# ---------------------------------------------------------------------------------------------- HTTP / HTTPS
async def test_http_on_restart_generic_then_specific(servers: Servers, tmp_path: Path) -> None:
    first = await start_unit(tmp_path, script_settings("Http", servers.http.address, extra=(
        "Conf.ScriptsTransferOnRestartEnable = Enable")))
    try:
        mac = first.unit.identity.mac
        publish(servers, "Mediatrix 4102", mac)
        await first.stop()
        ru = await start_unit(tmp_path)  # the same unit restarts: transfer on restart
        try:
            assert await transferred(ru) == "Success"
            c = ru.unit.config
            assert c.get("Cli.InactivityTimeOut") == 31
            assert c.get("Cli.WelcomeMessage") == "specific Mediatrix 4102"  # specific after generic
            log = (servers.http.log.parent / "access.log").read_text()
            assert log.index("/Mediatrix%204102/generic.cfg") < log.index(f"/Mediatrix%204102/{mac}.cfg")
            assert [i for i, _ in notes(ru) if i >= 9010] == [9010, 9010, 9013, 9013]
        finally:
            await ru.stop()
    finally:
        await first.stop()


async def test_https_basic_auth_untrusted_then_trusted(servers: Servers, unit: RunningUnit) -> None:
    mac = unit.unit.identity.mac
    publish(servers, "auth/Mediatrix 4102", mac)
    configure(unit, script_settings("Https", f"127.0.0.1:{servers.http.tls_port}", "auth/%product%", "prov",
                                    "nginx-pw"))
    c = conf(unit)
    assert await c.transfer_and_run("command") == "TransferFailed"
    assert any(n.service == "Cert" and n.msg_id == 9003 for n in unit.unit.notifications)  # untrusted issuer
    assert "unknown issuer" in notes(unit)[-1][1]
    assert unit.cert is not None
    unit.cert.import_other(servers.ca_pem, file_name="prov-ca.pem")
    assert await c.transfer_and_run("command") == "Success"
    assert unit.unit.config.get("Cli.WelcomeMessage") == "specific auth"
    configure(unit, 'Conf.ScriptsTransferPassword = "wrong"')
    assert await c.transfer_and_run("restart", retries=3) == "TransferFailed"  # refused: never retried
    assert "HTTP 401" in notes(unit)[-1][1] and not any(i == 9012 for i, _ in notes(unit))


async def test_http_digest_auth_with_lighttpd(servers: Servers, unit: RunningUnit) -> None:
    publish(servers, "auth/Mediatrix 4102", unit.unit.identity.mac)
    configure(unit, script_settings("Http", servers.digest.address, "auth/%product%", "prov", "digest-pw"))
    assert await conf(unit).transfer_and_run("command") == "Success"
    log = (servers.digest.log.parent / "lighttpd-error.log")
    assert unit.unit.config.get("Cli.WelcomeMessage") == "specific auth", log.read_text()


async def test_bad_line_is_execution_failed(servers: Servers, unit: RunningUnit) -> None:
    mac = unit.unit.identity.mac
    publish(servers, "bad", mac, specific="Cli.WelcomeMessage = never\nCli.InactivityTimeOut = nonsense\n")
    configure(unit, script_settings("Http", servers.http.address, "bad"))
    assert await conf(unit).transfer_and_run("command") == "ExecutionFailed"
    c = unit.unit.config
    assert c.get("Cli.InactivityTimeOut") == 31 and c.get("Cli.WelcomeMessage") != "never"


async def test_404_is_not_retried(servers: Servers, unit: RunningUnit) -> None:
    configure(unit, script_settings("Http", servers.http.address, "nowhere") + "\nConf.ScriptSpecificFileName = \"\"")
    access = servers.http.log.parent / "access.log"
    before = access.read_text().count("/nowhere/generic.cfg")
    assert await conf(unit).transfer_and_run("restart", retries=3) == "TransferFailed"
    assert access.read_text().count("/nowhere/generic.cfg") == before + 1 and "HTTP 404" in notes(unit)[-1][1]


# ---------------------------------------------------------------------------------------------- TFTP / FTP
async def test_tftp_on_command_and_server_down(servers: Servers, unit: RunningUnit) -> None:
    mac = unit.unit.identity.mac
    publish(servers, "tftp", mac)
    configure(unit, script_settings("Tftp", servers.tftp.address, "tftp"))
    assert unit.unit.commands["Conf.TransferScripts"]().startswith("Configuration scripts transfer started")
    assert await transferred(unit) == "Success"
    assert unit.unit.config.get("Cli.WelcomeMessage") == "specific tftp"
    proc = servers.tftp.procs[0]
    os.kill(proc.pid, signal.SIGSTOP)  # the server hangs: it cannot be reached
    try:
        assert await conf(unit).transfer_and_run("restart", retries=2) == "TransferFailed"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    ids = [i for i, _ in notes(unit)]
    assert ids[-3:] == [9012, 9012, 9011]  # two retries, then the failure
    assert unit.unit.config.get("Conf.ScriptsStatsLastTransferResult") == "TransferFailed"


async def test_ftp_daily_in_a_range_crossing_midnight(servers: Servers, tmp_path: Path) -> None:
    # The unit's clock reads 23:59:57 (its zone is UTC); its daily range is 00:00:00-00:00:02: the transfer comes
    # 3-5 s later, after local midnight.
    now = time.time()
    offset = (86400 - 3) - (now % 86400)
    ru = await start_unit(tmp_path, clock_offset=offset)
    try:
        mac = ru.unit.identity.mac
        publish(servers, "ftp", mac)
        configure(ru, script_settings("Ftp", servers.ftp.address, "ftp") + """
            Hoc.StaticTimeZone = UTC0
            Conf.ScriptsTransferPeriodicTimeUnit = Days
            Conf.ScriptsTransferInterval = 1
            Conf.ScriptsTransferTimeRange = "00:00:00 - 00:00:02"
            Conf.ScriptsTransferPeriodicEnable = Enable
        """)
        await asyncio.sleep(1.5)
        assert conf(ru).transfers == 0  # not before the range
        assert await transferred(ru, timeout=10) == "Success"
        assert ru.unit.config.get("Cli.WelcomeMessage") == "specific ftp"
        hhmmss = ru.unit.config.get_text("Conf.ScriptsStatsLastTransferDateTime")[11:]
        assert "00:00:00" <= hhmmss <= "00:00:03", hhmmss
        await asyncio.sleep(1.5)
        assert conf(ru).transfers == 1  # once per day
    finally:
        await ru.stop()


# ---------------------------------------------------------------------------------------------- export, images
async def test_export_and_backup_restore_over_tftp_and_ftp(servers: Servers, unit: RunningUnit) -> None:
    c = unit.unit.config
    mac = unit.unit.identity.mac
    configure(unit, f"""
        Cli.InactivityTimeOut = 44
        Conf.ScriptExportUrl = tftp://{servers.tftp.address}/export-%mac%.cfg
        Conf.ScriptExportContent = ModifiedConfig
    """)
    assert await conf(unit).images.export_script() == "Success"
    exported = (servers.root / f"export-{mac}.cfg").read_text()
    assert "Cli.InactivityTimeOut = 44" in exported
    configure(unit, f'Conf.ScriptExportUrl = "ftp://{servers.ftp.address}/upload/export-%serial%.cfg"')
    assert await conf(unit).images.export_script() == "Success"
    assert "Cli.InactivityTimeOut = 44" in (servers.root / "upload" / f"export-{unit.unit.identity.serial}.cfg"
                                            ).read_text()
    assert c.get("Conf.ScriptsStatsLastExportResult") == "Success"
    configure(unit, f"""
        Conf.ImageTransferProtocol = Ftp
        Conf.ImageTransferSrvHostname = {servers.ftp.address}
        Conf.ImageLocation = upload
        Conf.ImageFileName = backup-%mac%.img
        Conf.ImagePrivacyAlgo = DefaultAlgo
        Conf.ImageSecretKey = 00112233445566778899
    """)
    assert await conf(unit).images.backup() == "Success"
    assert (servers.root / "upload" / f"backup-{mac}.img").read_bytes().startswith(b"DGWCRYPT")
    c.set("Cli.InactivityTimeOut", 5)
    assert await conf(unit).images.restore() == "Success"
    assert c.get("Cli.InactivityTimeOut") == 44
    ids = [i for i, _ in notes(unit)]
    assert {9016, 9018, 9020} <= set(ids)


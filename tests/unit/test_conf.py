"""The Conf engine: script URLs and macros, the DHCP option forms, the daily time range, and transfers from tiny
in-test servers and the unit's own storage (real peers — nginx, tftpd-hpa, vsftpd, dnsmasq — are in
tests/interop/test_conf_transfers.py)."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from emulator.engines.conf.engine import ConfEngine, dhcp_script_options
from emulator.engines.conf.schedule import DAY, daily_due, parse_time_range
from emulator.engines.conf.url import Target, UrlError, dhcp_targets, expand, parse_url, script_targets
from emulator.runtime.unit import Unit
from firmware_model.crypt import encrypt
from testkit.http_files import serve_files
from tests.unit.engine_env import bare_unit

MACROS = {"mac": "0090f8000001", "version": "49.12.2941", "product": "Mediatrix 4102", "productseries": "4100",
          "profile": "4102", "serial": "4102A0001"}


def make_unit(tmp_path: Path, **kw: Any) -> tuple[Unit, ConfEngine]:
    unit = bare_unit(tmp_path, info_from="Conf")
    kw.setdefault("retry_spacing", 0.05)
    kw.setdefault("timeout", 0.5)
    conf = ConfEngine(unit, **kw)
    unit.attach(conf)
    return unit, conf


def configure(unit: Unit, script: str) -> None:
    """Settings as the operator would send them: one configuration script, all or nothing."""
    result = unit.run_script(script)
    assert result.ok, result.errors


def conf_ids(unit: Unit) -> list[int]:
    return [n.msg_id for n in unit.notifications if n.service == "Conf" and n.msg_id >= 9010]


# ---------------------------------------------------------------------------------------------- URLs
def test_expand_macros() -> None:
    assert expand("%mac%/%product%-%serial%.cfg", MACROS) == "0090f8000001/Mediatrix 4102-4102A0001.cfg"
    assert expand("%version%%profile%%productseries%", MACROS) == "49.12.294141024100"
    assert expand("%date%_%mac%", MACROS, ("serial",)) == "%date%_%mac%"  # not allowed here: kept as written


def test_script_targets_from_parameters(tmp_path: Path) -> None:
    unit, _ = make_unit(tmp_path)
    c = unit.config
    assert script_targets(c, MACROS) == []
    configure(unit, """
        Conf.ScriptsTransferProtocol = Http
        Conf.ScriptsTransferSrvHostname = prov.example.com:8080
        Conf.ScriptsLocation = /dgw/%productseries%/
        Conf.ScriptGenericFileName = generic.cfg
        Conf.ScriptSpecificFileName = %mac%.cfg
        Conf.ScriptsTransferUsername = prov
        Conf.ScriptsTransferPassword = secret
    """)
    got = script_targets(c, MACROS)
    assert got == [
        ("generic", Target("http", "prov.example.com", 8080, "dgw/4100/generic.cfg", "prov", "secret")),
        ("specific", Target("http", "prov.example.com", 8080, "dgw/4100/0090f8000001.cfg", "prov", "secret")),
    ]
    assert got[1][1].shown == "http://prov@prov.example.com:8080/dgw/4100/0090f8000001.cfg"  # no password
    c.set("Conf.ScriptsTransferSrvHostname", "10.0.0.1")  # port 0 / none: the protocol's default
    assert script_targets(c, MACROS)[0][1].real_port == 80
    c.set("Conf.ScriptsTransferProtocol", "File")
    c.set("Conf.ScriptsLocation", "Volatile:prov")
    assert script_targets(c, MACROS)[0][1] == Target("file", "", 0, "Volatile:prov/generic.cfg")


def test_parse_url() -> None:
    assert parse_url("tftp://tftpserver.com:69/folder/script.cfg") == Target("tftp", "tftpserver.com", 69,
                                                                             "folder/script.cfg")
    assert parse_url("ftp://guest@ftpserver.com/script.cfg") == Target("ftp", "ftpserver.com", 0, "script.cfg",
                                                                       "guest")
    assert parse_url("file://script.cfg") == Target("file", "", 0, "Persistent:script.cfg")
    assert parse_url("http://u:p@[::1]:8080/a") == Target("http", "::1", 8080, "a", "u", "p")
    for bad in ("tftp:/x", "gopher://h/f", "http:///f", "file:///etc/passwd"):
        with pytest.raises(UrlError):
            parse_url(bad)
    with pytest.raises(UrlError):
        parse_url("http://h/f", allowed=("tftp", "ftp", "file"))  # the export refuses HTTP (MX-CONF-MIB)


def test_dhcp_forms(tmp_path: Path) -> None:
    unit, _ = make_unit(tmp_path)
    c = unit.config
    c.set("Conf.ScriptsLocation", "cfg")
    c.set("Conf.ScriptGenericFileName", "%product%.cfg")
    c.set("Conf.ScriptsTransferProtocol", "Tftp")
    full = ["Script=tftp://10.1.1.1/a/%mac%.cfg", "Script=http://u:p@10.1.1.2:8080/b.cfg"]
    want_full = [Target("tftp", "10.1.1.1", 0, "a/0090f8000001.cfg"),
                 Target("http", "10.1.1.2", 8080, "b.cfg", "u", "p")]
    assert dhcp_targets(full, "FullyQualified", c, MACROS) == want_full
    assert dhcp_targets(full, "AutoDetect", c, MACROS) == want_full
    url = ["http://10.1.1.3/prov/"]
    want_url = [Target("http", "10.1.1.3", 0, "prov/cfg/Mediatrix 4102.cfg")]
    assert dhcp_targets(url, "Url", c, MACROS) == want_url == dhcp_targets(url, "AutoDetect", c, MACROS)
    assert dhcp_targets(["ftp://10.1.1.3/x.cfg", "ignored"], "Url", c, MACROS) == [Target("ftp", "10.1.1.3", 0,
                                                                                           "x.cfg")]
    host = ["10.1.1.4"]
    want_host = [Target("tftp", "10.1.1.4", 0, "cfg/Mediatrix 4102.cfg")]
    assert dhcp_targets(host, "ServerHost", c, MACROS) == want_host == dhcp_targets(host, "AutoDetect", c, MACROS)
    assert dhcp_targets(["prov.example.com"], "AutoDetect", c, MACROS)[0].host == "prov.example.com"
    with pytest.raises(UrlError):
        dhcp_targets(["tftp://h/f"], "FullyQualified", c, MACROS)
    with pytest.raises(UrlError):
        dhcp_targets(["not a host!"], "AutoDetect", c, MACROS)


def test_dhcp_script_options() -> None:
    lease = SimpleNamespace(tftp_server="10.0.0.1", bootfile="a.cfg", vendor_tftp_server="x", vendor_bootfile=None)
    assert dhcp_script_options(lease) == ["10.0.0.1", "a.cfg"]
    lease = SimpleNamespace(tftp_server=None, bootfile=None, vendor_tftp_server="Script=tftp://h/f",
                            vendor_bootfile="Script=tftp://h/g")
    assert dhcp_script_options(lease) == ["Script=tftp://h/f", "Script=tftp://h/g"]
    assert dhcp_script_options(None) == []


# ---------------------------------------------------------------------------------------------- daily range
@pytest.mark.parametrize(("text", "want"), [
    ("", (0, DAY - 1)), ("3", (10800, 10800)), ("03:30", (12600, 12600)), ("1:02:03 - 4:05:06", (3723, 14706)),
    ("22:00-02:00", (79200, DAY + 7200)),
])
def test_time_range(text: str, want: tuple[int, int]) -> None:
    assert parse_time_range(text) == want


@pytest.mark.parametrize("bad", ["24", "12:60", "a-b", "1-2-3", "12:00:00:00"])
def test_bad_time_range(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_time_range(bad)


def test_daily_due_inside_the_range_once_a_day() -> None:
    midnight = 20000 * DAY  # a UTC midnight
    rnd = random.Random(1)
    utc = lambda t: 0  # noqa: E731
    window = parse_time_range("02:00-03:00")
    due, day = daily_due(midnight + 3600, days=1, window=window, utcoffset=utc, rnd=rnd)
    assert day == 20000 and midnight + 7200 <= due <= midnight + 10800
    due2, day2 = daily_due(due, days=2, window=window, utcoffset=utc, rnd=rnd, last_day=day)
    assert day2 == 20002 and midnight + 2 * DAY + 7200 <= due2 <= midnight + 2 * DAY + 10800
    # today's range is over: tomorrow's
    due3, day3 = daily_due(midnight + 4 * 3600, days=1, window=window, utcoffset=utc, rnd=rnd)
    assert day3 == 20001 and due3 >= midnight + DAY + 7200
    # inside the range: a moment between now and its end
    due4, _ = daily_due(midnight + 9000, days=1, window=window, utcoffset=utc, rnd=rnd)
    assert midnight + 9000 <= due4 <= midnight + 10800
    # local time: UTC-5 (EST5): 02:00 local is 07:00 UTC
    due5, _ = daily_due(midnight, days=1, window=window, utcoffset=lambda t: -5 * 3600, rnd=rnd)
    assert midnight + 7 * 3600 <= due5 <= midnight + 8 * 3600


# ---------------------------------------------------------------------------------------------- engine
@pytest.fixture
async def http_files() -> AsyncIterator[tuple[str, dict[str, bytes], list[str]]]:
    """A tiny HTTP server of files (``files``), recording each requested path (``hits``)."""
    async with serve_files() as server:
        yield server.address, server.files, server.hits


def _http_setup(unit: Unit, server: str, generic: str = "generic.cfg", specific: str = "%mac%.cfg") -> None:
    configure(unit, f"""
        Conf.ScriptsTransferProtocol = Http
        Conf.ScriptsTransferSrvHostname = {server}
        Conf.ScriptGenericFileName = "{generic}"
        Conf.ScriptSpecificFileName = "{specific}"
    """)


async def test_transfer_generic_then_specific(tmp_path: Path, http_files: Any) -> None:
    server, files, hits = http_files
    unit, conf = make_unit(tmp_path)
    await unit.start()
    _http_setup(unit, server)
    mac = unit.identity.mac
    files["generic.cfg"] = b"Cli.InactivityTimeOut = 30\nCli.WelcomeMessage = generic\n"
    files[f"{mac}.cfg"] = b"Cli.WelcomeMessage = specific\n"
    assert await conf.transfer_and_run("command") == "Success"
    assert hits == ["/generic.cfg", f"/{mac}.cfg"]
    c = unit.config
    assert c.get("Cli.InactivityTimeOut") == 30 and c.get("Cli.WelcomeMessage") == "specific"  # specific wins
    assert c.get("Conf.ScriptsStatsLastTransferResult") == "Success"
    assert c.get("Conf.ScriptsStatsCurrentTransferState") == "Idle"
    assert c.get_text("Conf.ScriptsStatsLastTransferDateTime").startswith("20")
    assert conf_ids(unit) == [9010, 9010, 9013, 9013]
    await unit.stop()


async def test_bad_line_is_execution_failed_and_nothing_of_that_script(tmp_path: Path, http_files: Any) -> None:
    server, files, _ = http_files
    unit, conf = make_unit(tmp_path)
    await unit.start()
    _http_setup(unit, server)
    files["generic.cfg"] = b"Cli.InactivityTimeOut = 45\n"
    files[f"{unit.identity.mac}.cfg"] = b"Cli.WelcomeMessage = specific\nCli.NoSuchThing = 1\n"
    assert await conf.transfer_and_run("command") == "ExecutionFailed"
    assert unit.config.get("Cli.InactivityTimeOut") == 45  # the generic script ran
    assert unit.config.get("Cli.WelcomeMessage") != "specific"  # nothing of the refused one
    assert unit.config.get("Conf.ScriptsStatsLastTransferResult") == "ExecutionFailed"
    assert 9014 in conf_ids(unit)
    await unit.stop()


async def test_404_is_not_retried(tmp_path: Path, http_files: Any) -> None:
    server, _files, hits = http_files
    unit, conf = make_unit(tmp_path)
    await unit.start()
    _http_setup(unit, server, specific="")
    assert await conf.transfer_and_run("restart", retries=5) == "TransferFailed"
    assert hits == ["/generic.cfg"]
    assert conf_ids(unit) == [9011]
    await unit.stop()


async def test_unreachable_server_is_retried_then_transfer_failed(tmp_path: Path) -> None:
    silent = socket.socket()  # accepts connections, never answers: the server cannot be reached in time
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        unit, conf = make_unit(tmp_path, timeout=0.2)
        await unit.start()
        _http_setup(unit, f"127.0.0.1:{silent.getsockname()[1]}", specific="")
        assert await conf.transfer_and_run("restart", retries=2) == "TransferFailed"
        assert conf_ids(unit) == [9012, 9012, 9011]
        await unit.stop()
    finally:
        silent.close()


async def test_closed_port_is_not_retried(tmp_path: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens: connection refused
    unit, conf = make_unit(tmp_path)
    await unit.start()
    _http_setup(unit, f"127.0.0.1:{port}", specific="")
    assert await conf.transfer_and_run("restart", retries=-1) == "TransferFailed"
    assert conf_ids(unit) == [9011]
    await unit.stop()


async def test_repeated_execution_and_encrypted_scripts(tmp_path: Path) -> None:
    unit, conf = make_unit(tmp_path)
    await unit.start()
    c = unit.config
    c.set("Conf.ScriptsTransferProtocol", "File")
    c.set("Conf.ScriptGenericFileName", "g.cfg")
    store = unit.state_dir / "files" / "persistent"
    store.mkdir(parents=True)
    (store / "g.cfg").write_bytes(b"Cli.InactivityTimeOut = 31\n")
    assert await conf.transfer_and_run("command") == "Success"
    c.set("Cli.InactivityTimeOut", 5)
    c.set("Conf.ScriptsAllowRepeatedExecution", "Disable")
    assert await conf.transfer_and_run("command") == "Success"
    assert c.get("Cli.InactivityTimeOut") == 5 and conf_ids(unit)[-1] == 9015  # skipped: identical
    c.set("Conf.ScriptsAllowRepeatedExecution", "Enable")
    assert await conf.transfer_and_run("command") == "Success"
    assert c.get("Cli.InactivityTimeOut") == 31
    # encrypted: detected; the right key applies it, a wrong key or a changed byte applies nothing
    (store / "g.cfg").write_bytes(encrypt(b"Cli.InactivityTimeOut = 32\n", "A36CB299"))
    c.set("Conf.ScriptsSecretKey", "A36CB298")
    assert await conf.transfer_and_run("command") == "ExecutionFailed"
    assert c.get("Cli.InactivityTimeOut") == 31
    c.set("Conf.ScriptsSecretKey", "A36CB299")
    blob = bytearray((store / "g.cfg").read_bytes())
    blob[-1] ^= 1
    (store / "g.cfg").write_bytes(bytes(blob))
    assert await conf.transfer_and_run("command") == "ExecutionFailed"
    reasons = [n.message for n in unit.notifications if n.msg_id == 9014]
    assert "does not match" in reasons[-2] and "altered or damaged" in reasons[-1]
    blob[-1] ^= 1
    (store / "g.cfg").write_bytes(bytes(blob))
    assert await conf.transfer_and_run("command") == "Success"
    assert c.get("Cli.InactivityTimeOut") == 32
    # the last executed script is remembered across restarts; a factory reset forgets it and the results
    unit2, _ = make_unit(tmp_path)
    assert unit2.config.get("Conf.ScriptsStatsLastTransferResult") == "Success"
    unit.factory_reset()
    assert c.get("Conf.ScriptsStatsLastTransferResult") == "None"
    await unit.stop()


async def test_transfer_now_command_and_periodic_minutes(tmp_path: Path, http_files: Any) -> None:
    server, files, hits = http_files
    unit, conf = make_unit(tmp_path, unit_seconds={"Minutes": 0.3, "Hours": 3600, "Days": 86400})
    await unit.start()
    _http_setup(unit, server, specific="")
    files["generic.cfg"] = b"Cli.InactivityTimeOut = 33\n"
    result = unit.run_script("Conf.TransferScripts\n")
    assert result.ok
    for _ in range(100):
        if conf.transfers:
            break
        await asyncio.sleep(0.02)
    assert unit.config.get("Cli.InactivityTimeOut") == 33
    unit.config.set("Conf.ScriptsTransferPeriodicTimeUnit", "Minutes")
    unit.config.set("Conf.ScriptsTransferPeriodicEnable", "Enable")
    await asyncio.sleep(1.0)
    assert 2 <= len(hits) - 1 <= 4  # every 0.3 s: three in one second
    unit.config.set("Conf.ScriptsTransferPeriodicEnable", "Disable")
    await asyncio.sleep(0.1)
    n = len(hits)
    await asyncio.sleep(0.5)
    assert len(hits) == n
    await unit.stop()


async def test_dhcp_script_once_and_max_delay(tmp_path: Path, http_files: Any) -> None:
    server, files, hits = http_files
    unit, conf = make_unit(tmp_path)
    c = unit.config
    _http_setup(unit, "192.0.2.1", specific="")  # the on-restart server: never asked, DHCP comes first
    configure(unit, """
        Conf.ScriptsTransferOnRestartEnable = Enable
        Conf.ScriptsTransferOnRestartDhcpScriptMaxDelay = 5
        Conf.ScriptsAllowRepeatedExecution = Disable
    """)
    files["d.cfg"] = b"Cli.InactivityTimeOut = 34\n"
    lease = SimpleNamespace(tftp_server=f"http://{server}/d.cfg", bootfile=None, vendor_tftp_server=None,
                            vendor_bootfile=None)
    conf.on_dhcp_lease(lease)  # before the service starts: kept until it does
    await unit.start()
    for _ in range(100):
        if conf.transfers:
            break
        await asyncio.sleep(0.02)
    assert c.get("Cli.InactivityTimeOut") == 34 and hits == ["/d.cfg"]
    conf.on_dhcp_lease(lease)  # a renewal naming the same script: nothing
    await asyncio.sleep(0.1)
    assert hits == ["/d.cfg"]
    await unit.reboot()  # the next boot: fetched again, identical, skipped
    conf.on_dhcp_lease(lease)
    for _ in range(100):
        if conf.transfers >= 2:
            break
        await asyncio.sleep(0.02)
    assert hits == ["/d.cfg", "/d.cfg"] and conf_ids(unit)[-1] == 9015
    await unit.stop()


async def test_export_backup_restore_to_file(tmp_path: Path) -> None:
    unit, conf = make_unit(tmp_path)
    await unit.start()
    c = unit.config
    c.set("Cli.InactivityTimeOut", 41)
    c.set("Conf.ScriptExportUrl", "file://exports/%mac%.cfg")
    c.set("Conf.ScriptExportSecretKey", "0123456789abcdef")
    assert await conf.images.export_script() == "Success"
    out = unit.state_dir / "files" / "persistent" / "exports" / f"{unit.identity.mac}.cfg"
    assert out.read_bytes().startswith(b"DGWCRYPT")
    assert c.get("Conf.ScriptsStatsLastExportResult") == "Success"
    c.set("Conf.ScriptExportUrl", "http://127.0.0.1/x.cfg")
    assert await conf.images.export_script() == "ExportationFailed"
    c.set("Conf.ScriptExportServiceName", "NoSuchService")
    c.set("Conf.ScriptExportUrl", "file://x.cfg")
    assert await conf.images.export_script() == "ExportationFailed"
    # backup then restore (config only, encrypted)
    configure(unit, """
        Conf.ImageTransferProtocol = File
        Conf.ImageFileName = backup-%serial%.img
        Conf.ImageBackupContent = Config
        Conf.ImagePrivacyAlgo = DefaultAlgo
        Conf.ImageSecretKey = 00112233
    """)
    assert await conf.images.backup() == "Success"
    c.set("Cli.InactivityTimeOut", 7)
    assert await conf.images.restore() == "Success"
    assert c.get("Cli.InactivityTimeOut") == 41
    c.set("Conf.ImageSecretKey", "99")
    assert await conf.images.restore() == "LoadFailed"
    assert c.get("Conf.ImageRestoreStatus") == "LoadFailed"
    await unit.stop()


# ---------------------------------------------------------------------------------------------- parameters
async def test_on_restart_transfer_retries_as_configured(tmp_path: Path) -> None:
    """Conf.ScriptsTransferRetriesNumber: the on-restart transfer tries an unreachable server once more here."""
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        unit, conf = make_unit(tmp_path, timeout=0.2)
        _http_setup(unit, f"127.0.0.1:{silent.getsockname()[1]}", specific="")
        configure(unit, """
            Conf.ScriptsTransferOnRestartEnable = Enable
            Conf.ScriptsTransferRetriesNumber = 1
        """)
        await unit.start()
        for _ in range(200):
            if conf.transfers:
                break
            await asyncio.sleep(0.02)
        assert conf_ids(unit) == [9012, 9011]  # one retry, then TransferFailed
        await unit.stop()
    finally:
        silent.close()


async def test_dhcp_scripts_can_be_turned_off(tmp_path: Path, http_files: Any) -> None:
    server, files, hits = http_files
    unit, conf = make_unit(tmp_path)
    files["d.cfg"] = b"Cli.InactivityTimeOut = 35\n"
    lease = SimpleNamespace(tftp_server=f"http://{server}/d.cfg", bootfile=None, vendor_tftp_server=None,
                            vendor_bootfile=None)
    unit.config.set("Conf.ScriptsDhcpDownloadEnable", "Disable")
    await unit.start()
    conf.on_dhcp_lease(lease)
    await asyncio.sleep(0.2)
    assert hits == [] and unit.config.get("Cli.InactivityTimeOut") != 35
    unit.config.set("Conf.ScriptsDhcpDownloadEnable", "Enable")
    conf.on_dhcp_lease(lease)
    for _ in range(100):
        if conf.transfers:
            break
        await asyncio.sleep(0.02)
    assert hits == ["/d.cfg"] and unit.config.get("Cli.InactivityTimeOut") == 35
    await unit.stop()


async def test_image_location_is_the_backup_folder(tmp_path: Path) -> None:
    unit, conf = make_unit(tmp_path)
    await unit.start()
    configure(unit, """
        Conf.ImageTransferProtocol = File
        Conf.ImageLocation = "Volatile:images/%mac%"
        Conf.ImageFileName = unit.img
    """)
    assert await conf.images.backup() == "Success"
    assert (unit.state_dir / "files" / "volatile" / "images" / unit.identity.mac / "unit.img").is_file()
    assert not (unit.state_dir / "files" / "persistent" / "unit.img").exists()
    await unit.stop()

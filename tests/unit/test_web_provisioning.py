"""Provisioning on the web pages (issue 13, item 5): Management/Configuration Scripts with its transfer, HTTPS,
automatic-transfer, status and export sections ("Transfer Now" against an in-test HTTP server, "Export Now" to
the unit's own storage), Management/Backup/Restore and Management/Firmware Upgrade ("Install" with the MFP URL of
the same form, "Installed MFPs", "Rollback"); the Admin-only buttons refused to a User through the access policy,
with nothing of the form applied, and no buttons for an Observer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.engines.conf.engine import ConfEngine
from emulator.engines.fpu.engine import FpuEngine
from emulator.engines.nlm import NlmEngine
from emulator.runtime.unit import Unit
from firmware_model.mfp import Manifest, build_mfp
from firmware_model.profiles import FIRMWARE_VERSION
from testkit.http_files import FileServer, serve_files
from tests.unit.web_env import Env, web_env

SCRIPTS = "/Management/Configuration_Scripts"
BACKUP = "/Management/Backup/Restore"
FIRMWARE = "/Management/Firmware_Upgrade"
NEW = Manifest("DGW 49.12.3001", "49.12.3001", "SIP", ("Mediatrix 4102",))


def engines(unit: Unit) -> None:
    nlm = NlmEngine(unit)
    unit.attach(nlm)
    unit.nlm = nlm
    unit.attach(ConfEngine(unit, timeout=2.0))
    unit.attach(FpuEngine(unit, poll_s=0.02))


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for e in web_env(tmp_path, attach=engines):
        e.unit.config.add_row("Aaa.Users", {"UserName": "bob", "Password": "bobpass1", "AccessRights": "User"})
        e.unit.config.add_row("Aaa.Users", {"UserName": "olga", "Password": "olgapass", "AccessRights": "Observer"})
        yield e


@pytest.fixture
async def files() -> AsyncIterator[FileServer]:
    async with serve_files() as server:
        yield server


def shown(html: str, label: str) -> str:
    """The read-only value beside a label of a form section."""
    m = re.search(rf"<th>{re.escape(label)}</th><td><span class=\"field[^\"]*\">\s*<span class=\"ro\">([^<]*)</span>",
                  html)
    assert m is not None, label
    return m.group(1)


async def press(env: Env, path: str, action: str, **fields: str) -> tuple[int, str]:
    token = await env.csrf(path)
    status, html, _ = await env.post(path, {"csrf": token, "action": action, **fields})
    return status, html


async def test_configuration_scripts_sections_and_transfer_now(env: Env, files: FileServer) -> None:
    await env.login()
    _, html = await env.get(SCRIPTS)
    for title in ("Scripts Transfer", "HTTPS Transfer", "Automatic Transfer", "Transfer Status", "Scripts Export",
                  "Export Status", "Export Configuration Script", "Import Configuration Script"):
        assert f"<h2>{title}</h2>" in html, title
    for label in ("Transfer Protocol", "Server Hostname and port", "Location (Path)", "Decryption Key",
                  "Allow Repeated Execution", "Http Authentication Method", "Transfer On Restart", "Periodic Transfer",
                  "Time Unit", "Time Interval", "Daily Transfer Time Range", "DHCP Triggered Script Support.",
                  "Export Content", "Export Service Name", "Export Script Destination URL", "Encryption Key"):
        assert f"<th>{label}</th>" in html, label
    assert '<button type="submit" name="action" value="conf:transfer">Transfer Now</button>' in html
    assert '<button type="submit" name="action" value="conf:export">Export Now</button>' in html
    assert shown(html, "Last Transfer Result") == "None"
    # the transfer section's fields, applied with its Apply, then Transfer Now
    files.files["cfg/generic.cfg"] = b"Cli.InactivityTimeOut = 27\n"
    token = await env.csrf(SCRIPTS)
    status, html, _ = await env.post(SCRIPTS, {
        "csrf": token, "action": "apply", "Conf.ScriptsTransferProtocol": "Http",
        "Conf.ScriptsTransferSrvHostname": files.address, "Conf.ScriptsLocation": "cfg",
        "Conf.ScriptGenericFileName": "generic.cfg"})
    assert status == 200 and "The changes were applied." in html
    await env.login("bob", "bobpass1")  # a User may transfer
    status, html = await press(env, SCRIPTS, "conf:transfer")
    assert status == 200 and "Configuration scripts transfer: Success." in html
    assert shown(html, "Last Transfer Result") == "Success" and shown(html, "Current Script Transfer State") == "Idle"
    assert shown(html, "Last Successful Transfer Date and Time")
    assert env.unit.config.get("Cli.InactivityTimeOut") == 27 and files.hits == ["/cfg/generic.cfg"]
    files.files["cfg/generic.cfg"] = b"Nope.Nope = 1\n"
    status, html = await press(env, SCRIPTS, "conf:transfer")
    assert 'class="flash bad"' in html and "Configuration scripts transfer: ExecutionFailed." in html
    # Export Now, with the export section's URL in the same request
    status, html = await press(env, SCRIPTS, "conf:export", **{"Conf.ScriptExportUrl": "file://web/%mac%.cfg"})
    assert "Configuration script export: Success." in html and shown(html, "Last Export Result") == "Success"
    assert (env.unit.state_dir / "files" / "persistent" / "web" / f"{env.unit.identity.mac}.cfg").exists()


async def test_backup_restore_admin_only(env: Env) -> None:
    await env.login("bob", "bobpass1")
    _, html = await env.get(BACKUP)
    assert "<h1>Management/Backup/Restore</h1>" in html and "<th>Image Transfer Protocol</th>" in html
    assert shown(html, "Last Backup Result") == "None"
    status, html = await press(env, BACKUP, "conf:backup", **{"Conf.ImageFileName": "by-bob.img"})
    assert status == 403 and "only an Admin user may back up the configuration" in html
    assert env.unit.config.get("Conf.ImageFileName") != "by-bob.img"  # nothing of the form applied
    await env.login()
    status, html = await press(env, BACKUP, "conf:backup", **{
        "Conf.ImageTransferProtocol": "File", "Conf.ImageFileName": "web.img", "Conf.ImagePrivacyAlgo": "None"})
    assert status == 200 and "Configuration backup: Success." in html, html[-2000:]
    assert shown(html, "Last Backup Result") == "Success"
    env.unit.config.set("Cli.InactivityTimeOut", 9)
    status, html = await press(env, BACKUP, "conf:restore")
    assert "Configuration restore: Success." in html and env.unit.config.get("Cli.InactivityTimeOut") != 9


async def test_firmware_upgrade_install_and_rollback(env: Env, files: FileServer) -> None:
    files.files["fw.mfp"] = build_mfp(NEW, b"image")
    await env.login("olga", "olgapass")
    _, html = await env.get(FIRMWARE)
    assert "<h2>Installed MFPs</h2>" in html and "MainInUse" in html and FIRMWARE_VERSION in html
    assert "<th>MFP URL</th>" in html and "<th>Profile Name</th>" in html and "Install</button>" not in html
    await env.login("bob", "bobpass1")
    status, html = await press(env, FIRMWARE, "fpu:install", **{"Fpu.MfpUrl": f"{files.base}/fw.mfp"})
    assert status == 403 and "only an Admin user may install a firmware pack" in html
    assert env.unit.config.get("Fpu.MfpUrl") == "" and files.hits == []
    await env.login()
    status, html = await press(env, FIRMWARE, "fpu:install", **{"Fpu.MfpUrl": f"{files.base}/fw.mfp"})
    assert status == 200 and "Firmware installation: Success." in html
    assert shown(html, "Status") == "WaitingManualRestart" and shown(html, "Last Result") == "Success"
    assert re.search(r"<td>Recovery</td>\s*<td>SIP</td>", html) and "49.12.3001" in html
    status, html = await press(env, FIRMWARE, "fpu:rollback")  # busy until the restart
    assert 'class="flash bad"' in html and "Firmware rollback: Fpu.Rollback: the Fpu service is busy" in html
    await env.unit.reboot()
    await env.login()
    _, html = await env.get(FIRMWARE)
    assert "DGW 49.12.3001 &middot;" in html  # the footer shows the running bank
    status, html = await press(env, FIRMWARE, "fpu:rollback")
    assert "Firmware rollback: the other bank runs from the next start." in html

"""The provisioning commands through the CLI interpreter (issue 13, item 5): listed in ``help`` with what they do,
a script transfer from an in-test HTTP server run by typing its name, and a firmware install refused to a User
(Admin only, the access policy's words)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from emulator.engines.aaa import AuthResult
from emulator.engines.conf.engine import ConfEngine
from emulator.engines.fpu.engine import FpuEngine
from emulator.faces.cli.shell import CliShell
from testkit.http_files import serve_files
from tests.unit.engine_env import bare_unit

COMMANDS = ("Conf.TransferScripts", "Conf.ExportScript", "Conf.ImageBackup", "Conf.ImageRestore", "Fpu.Install",
            "Fpu.Rollback")


async def test_help_transfer_and_refused_install(tmp_path: Path) -> None:
    unit = bare_unit(tmp_path)
    unit.attach(ConfEngine(unit, timeout=2.0))
    unit.attach(FpuEngine(unit))
    await unit.start()
    admin = CliShell(unit, AuthResult(True, "public", "Admin"))
    user = CliShell(unit, AuthResult(True, "bob", "User"))
    try:
        general = admin.execute("help").output
        for name in COMMANDS:
            assert f"  {name} " in general, name
        assert "install the firmware pack Fpu.MfpUrl (Admin)" in general
        detail = admin.execute("help conf.transferscripts")
        assert detail.ok and detail.output.startswith("Conf.TransferScripts\n  fetch and run the configuration")
        assert "Conf.ScriptsStatsLastTransferResult" in detail.output
        assert "Fpu.Install" in admin.execute("Fpu.?").output
        async with serve_files() as files:
            files.files["cfg/all.cfg"] = b"Cli.InactivityTimeOut = 21\n"
            for line in ("Conf.ScriptsTransferProtocol = Http", f'Conf.ScriptsTransferSrvHostname = "{files.address}"',
                         "Conf.ScriptsLocation = cfg", "Conf.ScriptGenericFileName = all.cfg"):
                assert user.execute(line).ok, line
            reply = user.execute("Conf.TransferScripts")  # a User may run a transfer
            assert (reply.ok, reply.output) == (True, "Configuration scripts transfer started\n")
            for _ in range(250):
                if unit.config.get("Conf.ScriptsStatsLastTransferResult") != "None":
                    break
                await asyncio.sleep(0.02)
            assert user.execute("Conf.ScriptsStatsLastTransferResult").output == "Success\n"
            assert user.execute("Cli.InactivityTimeOut").output == "21\n"
            assert files.hits == ["/cfg/all.cfg"]
        reply = user.execute("Fpu.Install")
        assert not reply.ok
        assert reply.output == "Error: Fpu.Install: only an Admin user may install a firmware pack\n"
        assert unit.config.get("Fpu.Status") == "Idle" and unit.config.get("Fpu.MfpLastInstallationResult") == "None"
        assert not user.execute("Conf.ImageBackup").ok
    finally:
        await unit.stop()

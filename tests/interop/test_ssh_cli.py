"""The SSH CLI against the real OpenSSH client (Debian openssh-client ``ssh``, passwords fed by ``sshpass``)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from emulator.engines.aaa import Aaa
from emulator.faces.cli.server import HOST_KEY_FILES, CliEngine, load_host_keys
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit.peers import free_port, require_peer
from tests.helpers.ssh import SSH_OPTS, _wait_for

pytestmark = pytest.mark.peer

# ssh keeps the first value given for an option: a test's own -o options come before these.
class Lab:
    """One unit with Aaa and Cli engines, a fake Aaa clock, and helpers that run the real client."""

    def __init__(self, state_dir: Path, ports: PortPolicy | None = None, seconds_per_minute: float = 60.0) -> None:
        self.bins = require_peer("ssh", "sshpass")
        self.state_dir = state_dir
        self.now = [1000.0]
        self.unit = Unit(name="u1", profile=get_profile("4102"), state_dir=state_dir,
                         ports=ports or PortPolicy(mode="auto"), fsync=False)
        self.aaa = Aaa(self.unit, clock=lambda: self.now[0])
        self.unit.attach(self.aaa)
        self.cli = CliEngine(self.unit, self.aaa, seconds_per_minute=seconds_per_minute)
        self.unit.attach(self.cli)

    @property
    def port(self) -> int:
        return int(self.unit.listening["ssh"].rsplit(":", 1)[1])

    def argv(self, *command: str, user: str = "public", password: str = "", opts: tuple[str, ...] = (),
             tty: bool = False) -> list[str]:
        return [
            self.bins["sshpass"], "-p", password, self.bins["ssh"], *opts, *SSH_OPTS, *(["-tt"] if tty else []),
            "-p", str(self.port), f"{user}@127.0.0.1", *command,
        ]

    async def ssh(self, *command: str, stdin: bytes | None = None, **kw: object) -> tuple[int, str, str]:
        # no input: stdin from /dev/null, not a pipe: a client the server refuses at once (a refused cipher) has
        # closed its end before communicate() writes, and uvloop raises on a write to a closed pipe
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*command, **kw),  # type: ignore[arg-type]
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin), 20)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


@pytest.fixture(scope="module")
def host_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Host keys made once for the module (copied into each unit to keep tests fast)."""
    d = tmp_path_factory.mktemp("keys")
    load_host_keys(d)
    return d


@pytest.fixture
async def lab(tmp_path: Path, host_keys: Path) -> AsyncIterator[Lab]:
    for name in HOST_KEY_FILES.values():
        shutil.copy(host_keys / name, tmp_path / name)
    lab = Lab(tmp_path)
    await lab.unit.start()
    yield lab
    await lab.unit.stop()


async def test_public_with_empty_password_reads_a_parameter(lab: Lab) -> None:
    assert lab.unit.services["Cli"].state == "Started"
    rc, out, err = await lab.ssh("Cli.SshPort")
    assert (rc, out) == (0, "22\n"), err
    rc, out, _ = await lab.ssh("sysinfo")
    assert rc == 0 and f"Serial Number: {lab.unit.identity.serial}\n" in out
    assert f"Firmware Version: DGW {lab.unit.version}\n" in out


async def test_set_is_applied_persisted_and_readable(lab: Lab) -> None:
    rc, out, err = await lab.ssh("Cli.InactivityTimeOut = 42")
    assert rc == 0, err
    assert lab.unit.config.get("Cli.InactivityTimeOut") == 42
    rc, out, _ = await lab.ssh("cli.inactivitytimeout")
    assert (rc, out) == (0, "42\n")
    again = Unit(name="u1", profile=get_profile("4102"), state_dir=lab.state_dir, fsync=False)
    assert again.config.get("Cli.InactivityTimeOut") == 42


async def test_invalid_set_reports_the_precise_error_and_changes_nothing(lab: Lab) -> None:
    before = lab.unit.config.to_doc()
    rc, out, err = await lab.ssh("Cli.SshSecurityLevel = Paranoid")
    assert rc == 1 and out == ""
    assert "Error: Cli.SshSecurityLevel: 'Paranoid' is not one of Permissive, Standard, MostSecure" in err
    rc, _, err = await lab.ssh("Cli.SshPort=0")
    assert rc == 1 and "Cli.SshPort: 0 is not a whole number in 1..65535" in err
    rc, _, err = await lab.ssh("Cli.NoSuchParam")
    assert rc == 1 and "Cli.NoSuchParam: unknown parameter" in err
    assert lab.unit.config.to_doc() == before


async def test_secret_values_are_not_logged(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="asyncssh"):
        rc, _, err = await lab.ssh("Cwmp.Password = Zx9-secret-value")
    assert rc == 0, err
    assert lab.unit.config.get("Cwmp.Password") == "Zx9-secret-value"
    assert caplog.records and "Zx9-secret-value" not in caplog.text


async def test_wrong_password_is_refused(lab: Lab) -> None:
    rc, out, err = await lab.ssh("Cli.SshPort", password="not-the-password")
    assert rc != 0 and out == ""
    lab.unit.config.add_row("Aaa.Users", {"Password": "obs-pw", "AccessRights": "Observer"}, index=("eve",))
    rc, _, err = await lab.ssh("Cli.SshPort", user="eve", password="")
    assert rc != 0
    rc, out, err = await lab.ssh("Cli.SshPort", user="eve", password="obs-pw")
    assert (rc, out) == (0, "22\n"), err
    rc, _, err = await lab.ssh("Cli.SshPort = 2222", user="eve", password="obs-pw")
    assert rc == 1 and "user eve (Observer rights) may not change the configuration" in err
    assert lab.unit.config.get("Cli.SshPort") == 22


async def test_lockout_after_max_retries(lab: Lab) -> None:
    lab.unit.config.set("Aaa.LoginLockedMaxRetry", 2)
    lab.unit.config.set("Aaa.LoginLockedTimeoutS", 60)

    def locked() -> bool:
        rows = {r["UserName"]: r for r in lab.unit.config.rows("Aaa.UsersStatus")}
        return rows["public"]["Locked"] == "Locked"

    for _ in range(2):  # each run fails at least once; two failures lock the account
        rc, _, _ = await lab.ssh("Cli.SshPort", password="bad", opts=("-o", "NumberOfPasswordPrompts=1"))
        assert rc != 0
        if locked():
            break
    assert locked()
    rc, out, err = await lab.ssh("Cli.SshPort", opts=("-o", "LogLevel=INFO"))  # the right (empty) password
    assert rc != 0 and out == "" and "locked" in err
    lab.now[0] += 61  # the lock-out expires
    rc, out, _ = await lab.ssh("Cli.SshPort")
    assert (rc, out) == (0, "22\n") and not locked()


async def test_interactive_session_with_tty(lab: Lab) -> None:
    lab.unit.config.set("Cli.WelcomeMessage", "Lab unit\\n\\tdo not use in production")
    proc = await asyncio.create_subprocess_exec(
        *lab.argv(tty=True), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    buf = bytearray()
    banner = await _wait_for(proc.stdout, b"u1> ", buf)
    assert b"Lab unit\r\n\tdo not use in production\r\n" in banner

    async def send(text: str) -> str:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(text.encode())
        await proc.stdin.drain()
        return (await _wait_for(proc.stdout, b"u1> ", buf)).decode()

    assert "\r\n22\r\n" in await send("cli.sshp\t\n")  # TAB completed the name, then it was read
    listing = await send("Cli.Ssh?")  # '?' lists the matches and keeps the line
    assert "Cli.SshPort" in listing and "Cli.SshSecurityLevel" in listing
    assert "\r\nStandard\r\n" in await send("S\t\n")  # the kept line completed to Cli.SshSecurityLevel
    assert "Cli needs a restart" in await send("Cli.SshPort = 2022\n")
    assert "Error: Cli.EnableSsh: 'Maybe' is not one of Disable, Enable" in await send("Cli.EnableSsh = Maybe\n")
    assert "Aaa.Users" in await send("Aaa\n")
    proc.stdin.write(b"exit\n")
    await proc.stdin.drain()
    await asyncio.wait_for(proc.wait(), 10)
    assert proc.returncode == 0
    assert lab.unit.config.get("Cli.SshPort") == 2022 and lab.unit.config.get("Cli.EnableSsh") == "Enable"


async def test_piped_script_without_tty(lab: Lab) -> None:
    def boom() -> None:
        raise RuntimeError("a bug in a command")

    lab.unit.commands["Boom"] = boom
    script = b"# comment\nCli.InactivityTimeOut = 33\nBoom\nHoc.HostName = gw1\nCli.InactivityTimeOut\nBad.Name\n"
    rc, out, err = await lab.ssh(stdin=script)
    assert rc == 1 and out == "33\n" and "Bad.Name: unknown parameter" in err
    assert "internal error" in err  # a failing command does not end the session
    assert lab.unit.config.get("Hoc.HostName") == "gw1"


async def test_idle_session_is_closed(tmp_path: Path, host_keys: Path) -> None:
    for name in HOST_KEY_FILES.values():
        shutil.copy(host_keys / name, tmp_path / name)
    lab = Lab(tmp_path, seconds_per_minute=0.5)  # Cli.InactivityTimeOut minutes last half a second here
    lab.unit.config.set("Cli.InactivityTimeOut", 1)
    await lab.unit.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            *lab.argv(tty=True), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        buf = bytearray()
        await _wait_for(proc.stdout, b"u1> ", buf)
        await _wait_for(proc.stdout, b"without activity", buf, timeout=5)
        await asyncio.wait_for(proc.wait(), 5)
    finally:
        await lab.unit.stop()


@pytest.mark.filterwarnings("ignore:Diffie-Hellman over finite fields")  # Permissive's group14-sha1 on purpose
async def test_host_keys_kept_across_restarts_and_security_levels(tmp_path: Path) -> None:
    port = free_port()
    lab = Lab(tmp_path / "u1", ports=PortPolicy(mode="hardware"))
    lab.unit.config.set("Cli.SshPort", port)
    known = tmp_path / "known_hosts"
    pin = ("-o", f"UserKnownHostsFile={known}", "-o", "HostKeyAlias=dgw-u1")
    await lab.unit.start()
    try:
        assert lab.unit.listening["ssh"] == f"127.0.0.1:{port}"
        # Standard level: only the ed25519 key exists (RSA is made for the Permissive level only).
        assert not (lab.state_dir / HOST_KEY_FILES["ssh-rsa"]).exists()
        mode = stat.S_IMODE(os.stat(lab.state_dir / HOST_KEY_FILES["ssh-ed25519"]).st_mode)
        assert mode == 0o600, oct(mode)
        rc, _, err = await lab.ssh("Cli.SshPort", opts=("-o", "StrictHostKeyChecking=accept-new", *pin))
        assert rc == 0, err
        # MostSecure: AES-CTR and non-curve25519 key exchanges are refused; a new port is applied on restart.
        port2 = free_port()
        lab.unit.config.set("Cli.SshSecurityLevel", "MostSecure")
        lab.unit.config.set("Cli.SshPort", port2)
        await lab.unit.restart_required_services()
        assert lab.unit.listening["ssh"] == f"127.0.0.1:{port2}"
        rc, _, err = await lab.ssh("Cli.SshPort", opts=("-o", "StrictHostKeyChecking=yes", *pin))
        assert rc == 0, err  # same ed25519 host key as before the restart
        rc, _, _ = await lab.ssh("Cli.SshPort", opts=("-o", "Ciphers=aes128-ctr"))
        assert rc != 0
        rc, _, _ = await lab.ssh("Cli.SshPort", opts=("-o", "KexAlgorithms=ecdh-sha2-nistp256"))
        assert rc != 0
        # Permissive: an old client's SHA-1 key exchange and CBC cipher are accepted.
        lab.unit.config.set("Cli.SshSecurityLevel", "Permissive")
        await lab.unit.restart_required_services()
        old = ("-o", "KexAlgorithms=diffie-hellman-group14-sha1", "-o", "Ciphers=aes128-cbc", "-o", "MACs=hmac-sha1")
        rc, out, err = await lab.ssh("Cli.SshPort", opts=old)
        assert (rc, out) == (0, f"{port2}\n"), err
        for alg, name in HOST_KEY_FILES.items():
            mode = stat.S_IMODE(os.stat(lab.state_dir / name).st_mode)
            assert mode == 0o600, (alg, oct(mode))
    finally:
        await lab.unit.stop()
    assert "ssh" not in lab.unit.listening
    # A new unit on the same state directory presents the same host key.
    lab2 = Lab(tmp_path / "u1", ports=PortPolicy(mode="hardware"))
    await lab2.unit.start()
    try:
        rc, _, err = await lab2.ssh("Cli.SshPort", opts=("-o", "StrictHostKeyChecking=yes", *pin))
        assert rc == 0, err
    finally:
        await lab2.unit.stop()


async def _until(predicate: Callable[[], bool], timeout: float = 3) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    assert predicate()


async def test_restart_and_disable_through_the_cli(lab: Lab) -> None:
    proc = await asyncio.create_subprocess_exec(
        *lab.argv(tty=True), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    buf = bytearray()
    await _wait_for(proc.stdout, b"u1> ", buf)
    rc, out, err = await lab.ssh("Scm.ServiceCommands.Restart[Name=Cli]")
    assert (rc, out) == (0, ""), err  # the reply is delivered before the service goes down
    await _wait_for(proc.stdout, b"The Cli service is stopping", buf)  # open sessions are told, then closed
    await asyncio.wait_for(proc.wait(), 5)
    await _until(lambda: lab.unit.services["Cli"].state == "Started" and "ssh" in lab.unit.listening)
    rc, out, err = await lab.ssh("Cli.EnableSsh = Disable")
    assert rc == 0 and "Cli needs a restart" in out, err
    rc, out, _ = await lab.ssh("Scm.RestartRequiredServices")
    assert (rc, out) == (0, "Restarting: Cli\n")
    await _until(lambda: "ssh" not in lab.unit.listening and lab.unit.services["Cli"].state == "Started")
    assert lab.cli.port is None

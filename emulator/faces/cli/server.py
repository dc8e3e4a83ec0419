"""The Cli service: the DGW command line over SSH (asyncssh glue around :mod:`emulator.faces.cli.shell`).

Parameters (DGW facts §3.1): ``Cli.EnableSsh`` / ``Cli.SshPort`` (where to listen, read at each
start so an Scm restart applies a new port), ``Cli.SshSecurityLevel`` (algorithm sets below),
``Cli.InactivityTimeOut`` (minutes before an idle shell is closed), ``Cli.WelcomeMessage``
(printed when a shell opens). ``Cli.EnableTelnet`` is not implemented (telnet stays closed).

Authentication: password (and keyboard-interactive carrying the password) checked by
:meth:`Aaa.check` against ``Aaa.Users`` with its lock-out; the factory account ``public`` has an
empty password, which asyncssh accepts like any other. No public-key authentication.

Host keys: one ed25519 and one RSA-3072 key per unit, created on first start and kept in the
unit's state directory (``ssh_host_ed25519_key``, ``ssh_host_rsa_key``, mode 0600), so clients
see the same host key after a restart.

Security levels (emulator choice; the hardware's exact lists are not public):
  MostSecure  kex curve25519 only; ciphers chacha20-poly1305 and AES-GCM; MACs encrypt-then-MAC
              SHA-2 only; host key ssh-ed25519 only.
  Standard    modern defaults: curve25519, ECDH NIST curves, DH group-exchange/14/16/18 with SHA-2;
              chacha20, AES-GCM, AES-CTR; SHA-2 and UMAC-128 MACs; ssh-ed25519 and rsa-sha2-256/512.
  Permissive  Standard plus older algorithms: DH group1/14/gex with SHA-1, AES-CBC and 3DES-CBC,
              HMAC-SHA1/MD5, and ssh-rsa (SHA-1) host key signatures.

Sessions: a command given to ``ssh`` (exec) runs once (several lines allowed) and exits with
status 0, or 1 when a line failed; errors go to stderr. A line that needs the network (``Cert.Import``
fetching a URL) returns a pending reply that the session awaits before the next line. A shell with
a terminal gets the welcome message, a prompt, line editing (asyncssh's line editor), TAB completion
and ``?`` listings; a shell without a terminal (``ssh host < script``) runs each line without prompt or echo.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncssh
from asyncssh.encryption import get_encryption_algs
from asyncssh.kex import get_kex_algs
from asyncssh.mac import get_mac_algs

from emulator.faces.cli.shell import CliShell, Reply, columns

if TYPE_CHECKING:
    from emulator.engines.aaa import Aaa, AuthResult
    from emulator.runtime.unit import Unit

__all__ = ["HOST_KEY_FILES", "SECURITY_LEVELS", "CliEngine", "algorithms_for", "load_host_keys"]

HOST_KEY_FILES = {"ssh-ed25519": "ssh_host_ed25519_key", "ssh-rsa": "ssh_host_rsa_key"}
RSA_BITS = 3072

_KEX_MOST = ["curve25519-sha256", "curve25519-sha256@libssh.org"]
_KEX_STANDARD = [
    "mlkem768x25519-sha256",
    *_KEX_MOST,
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
]
_KEX_OLD = ["diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1", "diffie-hellman-group1-sha1"]
_ENC_MOST = ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com"]
_ENC_STANDARD = [*_ENC_MOST, "aes256-ctr", "aes192-ctr", "aes128-ctr"]
_ENC_OLD = ["aes256-cbc", "aes192-cbc", "aes128-cbc", "3des-cbc"]
_MAC_MOST = ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"]
_MAC_STANDARD = [*_MAC_MOST, "umac-128-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512", "umac-128@openssh.com"]
_MAC_OLD = ["hmac-sha1-etm@openssh.com", "hmac-sha1", "hmac-sha1-96", "hmac-md5"]
_HOSTKEY_MOST = ["ssh-ed25519"]
_HOSTKEY_STANDARD = [*_HOSTKEY_MOST, "rsa-sha2-512", "rsa-sha2-256"]

SECURITY_LEVELS: dict[str, dict[str, list[str]]] = {
    "MostSecure": {"kex": _KEX_MOST, "enc": _ENC_MOST, "mac": _MAC_MOST, "hostkey": _HOSTKEY_MOST},
    "Standard": {"kex": _KEX_STANDARD, "enc": _ENC_STANDARD, "mac": _MAC_STANDARD, "hostkey": _HOSTKEY_STANDARD},
    "Permissive": {
        "kex": _KEX_STANDARD + _KEX_OLD,
        "enc": _ENC_STANDARD + _ENC_OLD,
        "mac": _MAC_STANDARD + _MAC_OLD,
        "hostkey": [*_HOSTKEY_STANDARD, "ssh-rsa"],
    },
}


def algorithms_for(level: str) -> dict[str, list[str]]:
    """The algorithm lists of a ``Cli.SshSecurityLevel``, keeping those this asyncssh supports."""
    want = SECURITY_LEVELS.get(level, SECURITY_LEVELS["Standard"])
    have = {
        "kex": {a.decode() for a in get_kex_algs()},
        "enc": {a.decode() for a in get_encryption_algs()},
        "mac": {a.decode() for a in get_mac_algs()},
    }
    out = {k: [a for a in v if a in have[k]] for k, v in want.items() if k in have}
    out["hostkey"] = list(want["hostkey"])
    return out


# ---------------------------------------------------------------------- host keys
def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_host_keys(state_dir: Path, rsa: bool = True) -> list[asyncssh.SSHKey]:
    """The unit's host keys (ed25519, and RSA when asked), created once and kept in ``state_dir`` (mode 0600).

    RSA is only loaded for the Permissive level (old clients): creating and even loading (key
    validation) an RSA-3072 key costs tens of milliseconds, which adds up across a lab of 100 units.
    """
    keys: list[asyncssh.SSHKey] = []
    for alg, filename in HOST_KEY_FILES.items():
        if alg == "ssh-rsa" and not rsa:
            continue
        path = Path(state_dir) / filename
        key: asyncssh.SSHKey | None = None
        if path.exists():
            if path.stat().st_mode & 0o777 != 0o600:
                path.chmod(0o600)
            try:
                key = asyncssh.read_private_key(path)
            except (asyncssh.KeyImportError, OSError, ValueError):
                key = None  # unreadable: replaced by a new key below
        if key is None:
            key = asyncssh.generate_private_key(alg, key_size=RSA_BITS) if alg == "ssh-rsa" else (
                asyncssh.generate_private_key(alg)
            )
            _write_private(path, key.export_private_key())
        keys.append(key)
    return keys


def _host_keypairs(keys: list[asyncssh.SSHKey], allowed: list[str]) -> list[asyncssh.SSHKeyPair]:
    pairs = []
    for kp in asyncssh.load_keypairs(keys):
        algs = tuple(a for a in kp.host_key_algorithms if a.decode() in allowed)
        if algs:
            kp.host_key_algorithms = algs
            pairs.append(kp)
    return pairs


class _RedactCommands(logging.Filter):
    """asyncssh logs exec command lines at INFO; a line may carry a secret value (``X.Password = ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.endswith("Command: %s"):
            record.args = ("(not logged)",)
        return True


def _install_redaction() -> None:
    lg = logging.getLogger("asyncssh")
    if not any(isinstance(f, _RedactCommands) for f in lg.filters):
        lg.addFilter(_RedactCommands())


# ---------------------------------------------------------------------- SSH server glue
class _Server(asyncssh.SSHServer):
    """One SSH connection: password authentication through Aaa."""

    def __init__(self, engine: CliEngine) -> None:
        self.engine = engine
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = ""
        self.auth: AuthResult | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else ""
        self.engine._conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.engine._conns.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        result = self.engine.aaa.check(username, password, face="Cli", peer=self.peer)
        if result.ok:
            self.auth = result
            self.engine.unit.log.info("cli_login", user=username, peer=self.peer, rights=result.rights)
            return True
        if result.reason == "locked" and self.conn is not None:
            try:
                self.conn.send_auth_banner("Too many failed logins: this account is locked for now.\r\n")
            except OSError:
                pass
        return False


class CliEngine:
    """The Cli service engine of one unit (SSH only)."""

    name = "Cli"

    def __init__(self, unit: Unit, aaa: Aaa, seconds_per_minute: float = 60.0) -> None:
        self.unit = unit
        self.aaa = aaa
        self.seconds_per_minute = seconds_per_minute  # tests shrink Cli.InactivityTimeOut's minutes
        self.port: int | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self.stop_grace_s = 0.5
        self._conns: set[asyncssh.SSHServerConnection] = set()
        self._processes: set[asyncssh.SSHServerProcess[str]] = set()
        # A listening socket the composition bound before the ready file (emulator.fleet.late): the next start
        # serves SSH on it instead of binding Cli.SshPort, so a client that connected meanwhile is served.
        self.sock: socket.socket | None = None
        _install_redaction()

    async def start(self) -> None:
        cfg = self.unit.config
        if cfg.get("Cli.EnableSsh") != "Enable":
            return
        loop = asyncio.get_running_loop()
        level = str(cfg.get("Cli.SshSecurityLevel"))
        keys = await loop.run_in_executor(None, load_host_keys, self.unit.state_dir, level == "Permissive")
        algs = algorithms_for(level)
        host = self.unit.host
        sock, self.sock = self.sock, None
        where: dict[str, Any] = {"sock": sock} if sock is not None else {
            "host": host, "port": self.unit.ports.real_port(int(cfg.get("Cli.SshPort") or 22), "ssh")}
        self._acceptor = await asyncssh.listen(
            **where,
            server_factory=lambda: _Server(self),
            server_host_keys=_host_keypairs(keys, algs["hostkey"]),
            process_factory=self._session,
            kex_algs=algs["kex"],
            encryption_algs=algs["enc"],
            mac_algs=algs["mac"],
            compression_algs=["none"],
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_pty=True,
            line_editor=True,
            line_history=50,
            encoding="utf-8",
            login_timeout=60,
        )
        self.port = self._acceptor.get_port()
        self.unit.listening["ssh"] = f"{host}:{self.port}"

    async def stop(self) -> None:
        """Stop listening, end every session (telling interactive users), then close the connections.

        Sessions are ended first so clients close their side and no reply still in flight is lost;
        connections still open after a short grace period are closed by force.
        """
        self.unit.listening.pop("ssh", None)
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.close()
            await acceptor.wait_closed()
        for process in list(self._processes):
            try:
                if process.get_terminal_type():
                    process.stdout.write("\nThe Cli service is stopping\n")
                process.exit(0)
            except (OSError, asyncssh.Error):
                pass
        conns = list(self._conns)
        if conns:
            waits = [asyncio.ensure_future(c.wait_closed()) for c in conns]
            _, pending = await asyncio.wait(waits, timeout=self.stop_grace_s)
            for conn in conns:
                conn.close()
            if pending:
                await asyncio.wait(pending, timeout=2)
        self._conns.clear()
        self.port = None

    # ------------------------------------------------------------------ sessions
    async def _session(self, process: asyncssh.SSHServerProcess[str]) -> None:
        server = process.get_extra_info("connection").get_owner()
        auth = server.auth if isinstance(server, _Server) else None
        if auth is None or process.subsystem:
            process.stderr.write("this unit offers only its command line\n")
            process.exit(1)
            return
        shell = CliShell(self.unit, auth)
        status = 0
        self._processes.add(process)
        try:
            if process.command is not None:
                status = await self._run_lines(shell, process, process.command.splitlines())
            elif process.get_terminal_type():
                status = await self._interactive(shell, process)
            else:
                status = await self._piped(shell, process)
            process.exit(status)
        except (ConnectionError, OSError, asyncssh.Error):
            pass
        finally:
            self._processes.discard(process)
            self.unit.log.info("cli_logout", user=auth.user, peer=server.peer)

    def _execute_now(self, shell: CliShell, line: str) -> Reply:
        """``shell.execute`` that never ends the session on a bug (the line is not logged: it may hold a secret)."""
        try:
            return shell.execute(line)
        except Exception as e:
            self.unit.log.error("cli_internal_error", error=type(e).__name__)
            return Reply.error("internal error while running this line")

    async def _execute(self, shell: CliShell, line: str, process: asyncssh.SSHServerProcess[str]) -> Reply:
        """Run a line; when it leaves network work pending (a certificate transfer), show what it printed
        so far and await the outcome, which is the line's reply."""
        reply = self._execute_now(shell, line)
        if reply.pending is None:
            return reply
        if reply.output:
            process.stdout.write(reply.output)
        try:
            return await reply.pending()
        except Exception as e:
            self.unit.log.error("cli_internal_error", error=type(e).__name__)
            return Reply.error("internal error while running this line")

    async def _run_lines(self, shell: CliShell, process: asyncssh.SSHServerProcess[str], lines: list[str]) -> int:
        status = 0
        for line in lines:
            reply = await self._execute(shell, line, process)
            (process.stdout if reply.ok else process.stderr).write(reply.output)
            if not reply.ok:
                status = 1
            if reply.exit:
                break
        return status

    def _idle_timeout(self) -> float:
        minutes = int(self.unit.config.get("Cli.InactivityTimeOut") or 15)
        return minutes * self.seconds_per_minute

    async def _readline(self, process: asyncssh.SSHServerProcess[str]) -> str | None:
        """The next line, or None when the session ends (EOF or inactivity)."""
        while True:
            try:
                return await asyncio.wait_for(process.stdin.readline(), self._idle_timeout()) or None
            except TimeoutError:
                minutes = self.unit.config.get("Cli.InactivityTimeOut")
                process.stdout.write(f"\nSession closed after {minutes} minute(s) without activity\n")
                return None
            except asyncssh.TerminalSizeChanged:
                continue
            except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                process.stdout.write("\n")
                return ""

    async def _piped(self, shell: CliShell, process: asyncssh.SSHServerProcess[str]) -> int:
        status = 0
        while (line := await self._readline(process)) is not None:
            reply = await self._execute(shell, line, process)
            (process.stdout if reply.ok else process.stderr).write(reply.output)
            status |= 0 if reply.ok else 1
            if reply.exit:
                break
        return status

    async def _interactive(self, shell: CliShell, process: asyncssh.SSHServerProcess[str]) -> int:
        self._bind_keys(shell, process)
        process.stdout.write(shell.welcome())
        while True:
            process.stdout.write(shell.prompt)
            line = await self._readline(process)
            if line is None:
                break
            reply = await self._execute(shell, line, process)
            process.stdout.write(reply.output)
            if reply.exit:
                break
        return 0

    def _bind_keys(self, shell: CliShell, process: asyncssh.SSHServerProcess[str]) -> None:
        chan: Any = process.channel
        if not hasattr(chan, "register_key"):
            return
        def on_tab(line: str, pos: int) -> tuple[str, int] | bool:
            done = shell.complete(line, pos)
            if done.candidates:
                width = process.get_terminal_size()[0] or 80
                process.stdout.write(line + "\n" + columns(done.candidates, width) + shell.prompt)
                return done.line, done.pos
            if done.changed(line, pos):
                return done.line, done.pos
            return False

        def on_question(line: str, pos: int) -> tuple[str, int] | bool:
            if pos != len(line) or "=" in line or shell.takes_arguments(line):
                return True
            reply = self._execute_now(shell, line + "?")
            process.stdout.write(line + "?\n" + reply.output + shell.prompt)
            return line, pos

        chan.register_key("\t", on_tab)
        chan.register_key("?", on_question)

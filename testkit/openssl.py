"""Real TLS peers for interop tests: ``openssl s_server`` / ``s_client`` / ``ocsp`` on 127.0.0.1,
and sslyze (PyPI) in its own virtual environment.

Every process gets a free port picked at run time, its output in a file of the test's temporary
folder (never a pipe that could fill up), and is stopped by PID. ``s_server`` keeps a stdin pipe
open: at EOF on stdin it would shut down after its first connection.

``openssl ocsp -port`` has no bind-address option (OpenSSL 3.0): the responder listens on every
address of the machine for the few seconds a test lasts; the tests reach it on 127.0.0.1 only.

sslyze pins its own cryptography/nassl, which conflicts with the project's cryptography, so it
lives in ``<checkout>/.venv-sslyze`` (created on first use with ``python3 -m venv`` and
``pip install sslyze``; a missing or failed install is a missing peer).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from testkit.peers import free_port, require_peer
from testkit.process import ServerPeer, spawn

__all__ = ["OcspResponder", "SServer", "Sslyze", "openssl_bin", "s_client", "sslyze_python"]

ROOT = Path(__file__).resolve().parents[1]
SSLYZE_VENV = ROOT / ".venv-sslyze"


def openssl_bin() -> str:
    return require_peer("openssl")["openssl"]


class SServer(ServerPeer):
    """``openssl s_server`` on 127.0.0.1 (``-WWW`` serves files from ``cwd``)."""

    @classmethod
    def start(cls, directory: Path, cert: Path, key: Path, *args: str, cwd: Path | None = None) -> SServer:
        port = free_port()
        log = directory / f"s_server-{port}.log"
        proc = spawn(
            [openssl_bin(), "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert), "-key", str(key), *args],
            log, stdin=subprocess.PIPE, cwd=cwd or directory,
        )
        server = cls(proc, log, "127.0.0.1", port)
        return server.wait_until(lambda: "ACCEPT" in server.log(), "s_server did not start")

    async def wait_output(self, marker: str, timeout: float = 3.0) -> str:
        """The output once it holds ``marker`` (s_server writes after the client is gone)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while marker not in (text := self.log()) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return text


async def s_client(port: int, *args: str, stdin: bytes = b"", timeout: float = 10) -> tuple[int, str]:
    """Run ``openssl s_client -brief -ign_eof`` (reads until the server closes) against 127.0.0.1:port;
    (exit code, all output)."""
    proc = await asyncio.create_subprocess_exec(
        openssl_bin(), "s_client", "-connect", f"127.0.0.1:{port}", "-brief", "-ign_eof", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    return int(proc.returncode or 0), out.decode(errors="replace")


class OcspResponder(ServerPeer):
    """``openssl ocsp`` answering for one CA from an index file (V = valid, R = revoked)."""

    @property
    def url(self) -> str:
        return f"http://{self.address}/"

    @classmethod
    def start(
        cls, directory: Path, ca_cert: Path, ca_key: Path, entries: Sequence[tuple[str, int, str]]
    ) -> OcspResponder:
        """``entries``: (status "V"/"R", serial, subject)."""
        index = directory / "ocsp-index.txt"
        (directory / "ocsp-index.txt.attr").write_text("unique_subject = no\n")
        lines = []
        for status, serial, subject in entries:
            revoked = "240101000000Z" if status == "R" else ""
            lines.append(f"{status}\t491231235959Z\t{revoked}\t{serial:X}\tunknown\t{subject}\n")
        index.write_text("".join(lines))
        port = free_port()
        log = directory / f"ocsp-{port}.log"
        proc = spawn(
            [openssl_bin(), "ocsp", "-index", str(index), "-port", str(port), "-rsigner", str(ca_cert),
             "-rkey", str(ca_key), "-CA", str(ca_cert), "-ignore_err", "-nmin", "5"],
            log, cwd=directory,
        )
        responder = cls(proc, log, "127.0.0.1", port)
        return responder.wait_until(lambda: "aiting for OCSP client connections" in responder.log(),
                                    "the OCSP responder did not start")


_SSLYZE_SCRIPT = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
from sslyze import (Scanner, ServerScanRequest, ServerNetworkLocation, ScanCommand, ServerScanStatusEnum,
                    ScanCommandAttemptStatusEnum)
NAMES = ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1", "tls_1_2", "tls_1_3")
reqs = [ServerScanRequest(server_location=ServerNetworkLocation(hostname="127.0.0.1", port=int(p)),
                          scan_commands={getattr(ScanCommand, n.upper() + "_CIPHER_SUITES") for n in NAMES})
        for p in sys.argv[1:]]
scanner = Scanner()
scanner.queue_scans(reqs)
out = {}
for res in scanner.get_results():
    key = str(res.server_location.port)
    if res.scan_status != ServerScanStatusEnum.COMPLETED:
        out[key] = {"error": str(res.connectivity_error_trace)}
        continue
    d = {}
    for n in NAMES:
        a = getattr(res.scan_result, n + "_cipher_suites")
        d[n] = ([c.cipher_suite.name for c in a.result.accepted_cipher_suites]
                if a.status == ScanCommandAttemptStatusEnum.COMPLETED else "error: " + str(a.error_trace))
    out[key] = d
print(json.dumps(out))
"""


@dataclass
class Sslyze:
    python: Path
    timings: list[float] = field(default_factory=list)

    async def scan(self, *ports: int, timeout: float = 60) -> dict[int, dict[str, list[str]]]:
        """Accepted suites (IANA names) per protocol version for each port of 127.0.0.1."""
        t0 = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            str(self.python), "-c", _SSLYZE_SCRIPT, *map(str, ports),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        self.timings.append(time.monotonic() - t0)
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
        return {int(k): v for k, v in json.loads(out).items()}


def sslyze_python() -> Path | None:
    py = SSLYZE_VENV / "bin" / "python"
    if py.exists() and subprocess.run([str(py), "-c", "import sslyze"], capture_output=True).returncode == 0:
        return py
    try:
        subprocess.run([sys.executable, "-m", "venv", str(SSLYZE_VENV)], check=True, capture_output=True,
                       timeout=120)
        subprocess.run([str(SSLYZE_VENV / "bin" / "pip"), "install", "-q", "sslyze"], check=True,
                       capture_output=True, timeout=600, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    except (subprocess.SubprocessError, OSError):
        return None
    return py if py.exists() else None

"""Certificate import from a URL through the real OpenSSH client (``ssh`` + ``sshpass``): the CLI session
awaits the transfer the shell leaves pending, prints its outcome and exits with its status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.engines.aaa import Aaa
from emulator.engines.cert.engine import FACTORY_CA_FILE, CertEngine
from emulator.faces.cli.server import CliEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit.peers import require_peer
from tests.helpers.cert_lab import FileServer, Lab, file_server
from tests.helpers.ssh import SSH_OPTS, _wait_for

pytestmark = pytest.mark.peer


class Gw:
    """One unit with Aaa, Cert and Cli engines, and a helper that runs the real ssh client."""

    def __init__(self, state_dir: Path, factory: Path) -> None:
        self.bins = require_peer("ssh", "sshpass")
        self.unit = Unit(name="gw", profile=get_profile("4102"), state_dir=state_dir,
                         ports=PortPolicy(mode="auto"), fsync=False)
        aaa = Aaa(self.unit)
        self.unit.attach(aaa)
        self.cert = CertEngine(self.unit, factory)
        self.unit.attach(self.cert)
        self.unit.cert = self.cert
        self.unit.attach(CliEngine(self.unit, aaa))

    def argv(self, *command: str, tty: bool = False) -> list[str]:
        port = self.unit.listening["ssh"].rsplit(":", 1)[1]
        return [self.bins["sshpass"], "-p", "", self.bins["ssh"], *SSH_OPTS, *(["-tt"] if tty else []), "-p", port,
                "public@127.0.0.1", *command]

    async def ssh(self, *command: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*command),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin or b""), 30)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def gw(tmp_path: Path, factory_dir: Path) -> AsyncIterator[Gw]:
    g = Gw(tmp_path / "gw", factory_dir)
    await g.unit.start()
    g.unit.clock.synchronized = True  # the SNTP engine's job; this test is about the transfer
    yield g
    await g.unit.stop()


@pytest.fixture
async def www(lab: Lab, tmp_path: Path) -> AsyncIterator[FileServer]:
    fs = await file_server(lab, tmp_path)
    yield fs
    await fs.stop()


async def test_cert_import_from_https_url_over_ssh(gw: Gw, lab: Lab, www: FileServer) -> None:
    assert gw.unit.services["Cli"].state == "Started"
    # Not trusted yet: the precise refusal on stderr, exit status 1, nothing stored.
    rc, out, err = await gw.ssh(f"Cert.Import Other {www.url('peer-ca.pem')}")
    assert (rc, out) == (1, ""), err
    assert "Error: Cert.Import: the certificate of 127.0.0.1:" in err and "(unknown issuer)" in err
    assert [s.file_name for s in gw.cert.other_certificates()] == [FACTORY_CA_FILE]

    gw.cert.import_other(lab.ca.pem())
    rc, out, err = await gw.ssh(f"Cert.Import Other {www.url('peer-ca.pem')}")
    assert (rc, out) == (0, "Imported certificate(s): peer-ca.pem\n"), err
    rc, out, _ = await gw.ssh("Cert.OthersCertificatesInfo")
    assert rc == 0 and any(ln.startswith("peer-ca.pem") and "Peer CA" in ln for ln in out.splitlines())

    # A piped session: a host import from http:// needs the activation first; each line waits for the one before.
    script = (f"Cert.Import Host {www.url('gw1.p12', 'http')} s3cret\n"
              "Cert.ActivateUnsecureTransfer\n"
              f"Cert.Import Host {www.url('gw1.p12', 'http')} s3cret\n"
              "Cert.HostCertificatesInfo.FileName\n")
    rc, out, err = await gw.ssh(stdin=script.encode())
    assert rc == 1 and "activate unsecure certificate transfer first" in err, (out, err)
    lines = out.splitlines()
    assert lines[0].startswith("Unsecure certificate transfer activated")
    assert lines[1] == "Imported host certificate: gw1.pem"
    assert any(ln.strip() == "gw1.pem" for ln in lines[2:]) and "PRIVATE" not in out
    assert www.hits.count("gw1.p12") == 1  # the refused import fetched nothing


async def test_cert_import_in_an_interactive_session(gw: Gw, lab: Lab, www: FileServer) -> None:
    """With a terminal: the prompt comes back after the transfer, and a '?' inside the URL is text."""
    gw.cert.import_other(lab.ca.pem())
    proc = await asyncio.create_subprocess_exec(
        *gw.argv(tty=True), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    buf = bytearray()
    await _wait_for(proc.stdout, b"gw> ", buf)
    proc.stdin.write(f"Cert.Import Other {www.url('peer-ca.pem')}?from=lab\n".encode())
    await proc.stdin.drain()
    shown = (await _wait_for(proc.stdout, b"gw> ", buf, timeout=15)).decode()
    assert "Imported certificate(s): peer-ca.pem" in shown, shown
    proc.stdin.write(b"exit\n")
    await proc.stdin.drain()
    await asyncio.wait_for(proc.wait(), 10)
    assert www.hits == ["peer-ca.pem"] and "peer-ca.pem" in [s.file_name for s in gw.cert.other_certificates()]

"""The Nlm packet capture against real tools: Wireshark's tshark reads every file the unit makes; frame and time
limits stop a capture; a pcap-filter(7) filter restricts it (libpcap compiles it); the start failures are the
MIB's states; an upload to an nginx over HTTPS the unit does not trust is refused with the Cert reason, the file is
kept, and sent once the CA is trusted; the API and the CLI drive it."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import pytest

from emulator.engines.aaa import AuthResult
from emulator.faces.cli.shell import CliShell
from emulator.ops import diagnostics
from emulator.runtime.unit import Unit
from testkit.file_servers import nginx
from testkit.peers import require_peer
from tests.interop.siplab import Pkis, nlm_cert_unit, wait_for

ADMIN = AuthResult(True, "public", "Admin")


async def capture_unit(units: list[Unit], tmp_path: Path, pkis: Pkis, host: str) -> Unit:
    u = nlm_cert_unit(f"cap{len(units)}", tmp_path, pkis, host=host)
    units.append(u)
    await u.start()
    u.config.set("Nlm.MinSeverity", "Info")
    u.clock.synchronized = True
    return u


def tshark(path: Path, *args: str) -> list[str]:
    binary = require_peer("tshark")["tshark"]
    out = subprocess.run([binary, "-r", str(path), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [ln for ln in out.stdout.splitlines() if ln.strip()]


def send_udp(host: str, port: int, n: int, payload: bytes = b"x" * 40) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        for _ in range(n):
            s.sendto(payload, ("127.0.0.1", port))


def only_file(folder: Path) -> Path:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) == 1, files
    return files[0]


async def test_frame_limit_and_filter_through_the_cli(units: list[Unit], tmp_path: Path, pkis: Pkis) -> None:
    u = await capture_unit(units, tmp_path, pkis, "127.0.0.41")
    c = u.config
    c.set("Nlm.PCaptureFileUrl", "file://captures/cap_%mac%_%date%_%time%.pcapng")
    c.set("Nlm.PCaptureFilter", "udp dst port 47001")
    c.set("Nlm.PCaptureNbFrames", 5)
    shell = CliShell(u, ADMIN)
    reply = shell.execute("Nlm.StartPCapture")
    assert reply.ok and "Requested" in reply.output, reply.output
    assert c.get("Nlm.PCaptureState") == "Requested"
    send_udp(u.host, 47002, 10)  # refused by the filter
    send_udp(u.host, 47001, 10)
    send_udp("127.0.0.42", 47001, 10)  # another address: never the unit's
    await wait_for(lambda: c.get("Nlm.PCaptureState") == "Completed", what="the frame limit stops the capture")
    path = only_file(u.state_dir / "files" / "persistent" / "captures")
    assert path.name.startswith(f"cap_{u.macros()['mac']}_") and path.suffix == ".pcapng"
    lines = tshark(path, "-T", "fields", "-e", "ip.src", "-e", "udp.dstport")
    assert lines == [f"{u.host}\t47001"] * 5
    notes = [n.message for n in u.notifications if n.service == "Nlm"]
    assert any("stopped (frame limit) after 5 frames" in n for n in notes), notes


async def test_time_limit_and_unit_clock_timestamps(units: list[Unit], tmp_path: Path, pkis: Pkis) -> None:
    u = await capture_unit(units, tmp_path, pkis, "127.0.0.43")
    u.clock.skew(-86400.0)  # the unit lives a day behind: its capture says so
    c = u.config
    c.set("Nlm.PCaptureFileUrl", "file://timed.pcapng")
    c.set("Nlm.PCaptureNbSecs", 1)
    u.commands["Nlm.StartPCapture"]()
    send_udp(u.host, 47003, 3)
    await asyncio.sleep(0.5)
    assert c.get("Nlm.PCaptureState") == "Requested"
    await wait_for(lambda: c.get("Nlm.PCaptureState") == "Completed", timeout=5, what="the time limit")
    times = [float(t) for t in tshark(u.state_dir / "files/persistent/timed.pcapng", "-Y", "not icmp",
                                      "-T", "fields", "-e", "frame.time_epoch")]
    assert len(times) == 3
    assert all(abs(t - u.clock.now()) < 10 for t in times), (times, u.clock.now())


@pytest.mark.parametrize(("setting", "value", "state"), [
    ("Nlm.PCaptureFileUrl", "", "UrlFailure"),
    ("Nlm.PCaptureFileUrl", "ftp://127.0.0.1/x.pcap", "UrlFailure"),
    ("Nlm.PCaptureFilter", "udp and and", "FilterFailure"),
    ("Nlm.PCaptureLinkName", "nosuchlink0", "LinkFailure"),
])
async def test_start_failures(units: list[Unit], tmp_path: Path, pkis: Pkis, setting: str, value: str,
                              state: str) -> None:
    u = await capture_unit(units, tmp_path, pkis, "127.0.0.44")
    u.config.set("Nlm.PCaptureFileUrl", "file://x.pcapng")
    u.config.set(setting, value)
    out = u.commands["Nlm.StartPCapture"]()
    assert u.config.get("Nlm.PCaptureState") == state, out
    assert not diagnostics.capture(u).running
    await u.restart_service("Nlm")
    assert u.config.get("Nlm.PCaptureState") == "None"  # MX-NLM-MIB: back to None when Nlm starts


async def test_untrusted_https_upload_is_refused_and_kept_then_sent(units: list[Unit], tmp_path: Path,
                                                                   pkis: Pkis) -> None:
    u = await capture_unit(units, tmp_path, pkis, "127.0.0.45")
    root = tmp_path / "www"
    (root / "upload").mkdir(parents=True)
    crt, key = pkis.server
    with nginx(tmp_path / "nginx", root, crt, key) as web:
        c = u.config
        c.set("Nlm.PCaptureFileUrl", f"https://127.0.0.1:{web.tls_port}/upload/%mac%.pcapng")
        c.set("Nlm.PCaptureTransferTlsVersion", "TLSv1_2")
        c.set("Nlm.PCaptureTransferCipherSuite", "CS3")
        assert await diagnostics.run_capture(u, ADMIN, "start") == "Requested"
        send_udp(u.host, 47004, 4)
        await asyncio.sleep(0.2)
        state = await diagnostics.run_capture(u, ADMIN, "stop")
        assert state == "TlsCertificateFailure"
        cert_notes = [n.message for n in u.notifications if n.service == "Cert"]
        assert cert_notes and "127.0.0.1" in cert_notes[-1], cert_notes
        status = diagnostics.capture_status(u)
        assert status["kept_file"] and (u.state_dir / "pcapture" / status["kept_file"]).exists()
        assert not list((root / "upload").iterdir())
        u.cert.import_other(pkis.ca.pem())  # now the unit trusts the server
        assert await diagnostics.run_capture(u, ADMIN, "upload") == "Completed"
        sent = root / "upload" / f"{u.macros()['mac']}.pcapng"
        assert len(tshark(sent, "-Y", "udp.dstport == 47004 && !icmp")) == 4
        assert diagnostics.capture_status(u)["kept_file"] is None

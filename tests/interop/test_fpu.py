"""Firmware packs from real servers: nginx (HTTP) and tftpd-hpa. A unit installs a pack built by ``dgw-emulator mfp
build``, goes through its Fpu.Status sequence, restarts by itself and reports the new version on its faces (the
HTTP API status, the web footer, SNMP sysDescr through net-snmp's snmpget); a rollback restores the
old bank; bad packs are refused with the running bank intact; and a unit process killed with SIGKILL at any
moment of an install starts again on a consistent bank. (The CLI's sysinfo and TR-069 DeviceInfo.SoftwareVersion
read the same ``unit.version`` the API, the web footer and sysDescr show here.)"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulator.engines.fpu.engine import FpuEngine
from emulator.lab import RunningUnit
from testkit.file_servers import FileServer, nginx, tftpd
from testkit.peers import require_peer
from testkit.pki import Pki
from tests.interop.provisioning import engine_of, lab_unit

pytestmark = pytest.mark.peer
REPO = Path(__file__).resolve().parents[2]
OLD = "49.12.2941"
ADMIN = {"Authorization": "Basic " + base64.b64encode(b"public:").decode()}  # the factory account
AUTH_USERS = {"fw": "fw-secret"}  # nginx's /auth/ users


@dataclass
class Servers:
    root: Path
    http: FileServer
    tftp: FileServer


def mfp(out: Path, version: str, *extra: str) -> bytes:
    """A pack made by the command users have: ``dgw-emulator mfp build``."""
    cmd = [sys.executable, "-m", "emulator", "mfp", "build", "--version", version, *extra, str(out)]
    subprocess.run(cmd, check=True, cwd=REPO, timeout=60)
    out.chmod(0o644)
    return out.read_bytes()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    base = tmp_path_factory.mktemp("firmware")
    root = base / "root"
    (root / "slow").mkdir(parents=True)
    pki = Pki()
    cert, key = pki.leaf(pki.ca(), "127.0.0.1").write(base / "pki", "server")
    mfp(root / "fw-3001.mfp", "49.12.3001", "--product", "Mediatrix 4102")
    mfp(root / "fw-3002.mfp", "49.12.3002")
    mfp(root / "unsigned.mfp", "49.12.3003", "--unsigned")
    mfp(root / "c740.mfp", "49.12.3004", "--product", "Mediatrix C740")
    good = (root / "fw-3001.mfp").read_bytes()
    (root / "truncated.mfp").write_bytes(good[:-30])
    tampered = bytearray(good)
    tampered[len(good) // 2] ^= 0xFF
    (root / "tampered.mfp").write_bytes(bytes(tampered))
    mfp(root / "slow" / "big.mfp", "49.12.3100", "--payload", str(_payload(base / "payload.bin")))
    (root / "auth").mkdir()
    (root / "auth" / "fw-3001.mfp").write_bytes(good)  # behind basic authentication (user fw)
    for p in root.rglob("*.mfp"):
        p.chmod(0o644)
    with nginx(base / "nginx", root, cert, key, users=AUTH_USERS) as http, tftpd(root, base / "tftpd.log") as tftp:
        yield Servers(root, http, tftp)


def _payload(path: Path) -> Path:
    path.write_bytes(os.urandom(6 * 1024 * 1024))  # 6 MiB at 4 MB/s: an install of about 1.5 s to kill into
    return path


async def start_unit(tmp_path: Path) -> RunningUnit:
    ru = lab_unit(tmp_path, "fw", "Fpu")
    await ru.start()
    return ru


def fpu(ru: RunningUnit) -> FpuEngine:
    return engine_of(ru, "Fpu", FpuEngine)


async def watch_status(ru: RunningUnit, until: str, timeout: float = 20.0) -> list[str]:
    """Fpu.Status as it changes (sampled every 5 ms) until it is ``until`` after having been something else."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ru.unit.config.get_text("Fpu.Status")
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == until and len(seen) > 1:
            return seen
        await asyncio.sleep(0.005)
    raise AssertionError(f"Fpu.Status never reached {until}: {seen}")


async def faces_version(ru: RunningUnit) -> dict[str, str]:
    u = ru.unit
    out = {"unit": u.version, "main-bank": u.config.get_text("Fpu.MfpInstalledInfo[1].MfpVersion")}
    async with aiohttp.ClientSession(headers=ADMIN) as http:
        async with http.get(f"{u.listening['api']}/api/v1/status") as resp:
            out["api"] = (await resp.json())["version"]
        async with http.get(f"{u.listening['web']}/login") as resp:
            html = await resp.text()
            out["web"] = html.split("<footer>", 1)[1].split("&middot;")[0].strip() if "<footer>" in html else html
    if "snmp" in u.listening:  # net-snmp's snmpget, when v2c is on (the restart of the install turned it on)
        got = await asyncio.to_thread(subprocess.run, [
            require_peer("snmpget")["snmpget"], "-v2c", "-c", "public", "-Ovq", "-t", "2", u.listening["snmp"],
            ".1.3.6.1.2.1.1.1.0"], capture_output=True, text=True, timeout=20)
        out["snmp"] = got.stdout.strip().strip('"') or got.stderr
    return out


async def test_install_restart_new_version_everywhere_then_rollback(servers: Servers, tmp_path: Path) -> None:
    ru = await start_unit(tmp_path)
    try:
        c = ru.unit.config
        script = f"""
            Snmp.EnableSnmpV2 = Enable
            Fpu.MfpUrl = http://{servers.http.address}/fw-3001.mfp
            Fpu.AutomaticRestartEnable = Enable
            Fpu.Install
        """
        task = asyncio.get_running_loop().create_task(watch_status(ru, "Idle"))
        await asyncio.sleep(0.02)
        assert ru.unit.run_script(script).ok
        seen = await task
        assert seen[0] == "Idle" and "Updating" in seen and seen[-1] == "Idle", seen
        assert seen.index("Updating") < seen.index("WaitingSystemReady"), seen  # then the restart
        assert c.get("Fpu.MfpLastInstallationResult") == "Success"
        versions = await faces_version(ru)
        assert versions == {"unit": "49.12.3001", "main-bank": OLD, "api": "49.12.3001", "web": "DGW 49.12.3001",
                            "snmp": "Mediatrix 4102 DGW 49.12.3001"}, versions
        rows = [(r["MfpBank"], r["MfpVersion"]) for r in c.rows("Fpu.MfpInstalledInfo")]
        assert rows == [("Main", OLD), ("RecoveryInUse", "49.12.3001")]
        ids = [n.msg_id for n in ru.unit.notifications if n.service == "Fpu"]
        assert ids.index(9002) < ids.index(9004) < len(ids) - 1 and ids[-1] == 9007, ids  # installed, restart, runs
        # a second pack over TFTP, manual restart this time
        c.set("Fpu.AutomaticRestartEnable", "Disable")
        assert await fpu(ru).install(f"tftp://{servers.tftp.address}/fw-3002.mfp") == "Success"
        assert c.get("Fpu.Status") == "WaitingManualRestart" and ru.unit.version == "49.12.3001"
        await ru.unit.reboot()
        assert ru.unit.version == "49.12.3002"
        assert [r["MfpBank"] for r in c.rows("Fpu.MfpInstalledInfo")] == ["MainInUse", "Recovery"]
        # rollback: the other bank (49.12.3001) runs after the restart
        assert c.get("Fpu.MfpRollbackAvailable") == "Yes"
        assert await fpu(ru).rollback()
        await ru.unit.reboot()
        assert ru.unit.version == "49.12.3001" and (await faces_version(ru))["api"] == "49.12.3001"
    finally:
        await ru.stop()


@pytest.mark.parametrize(("name", "why"), [
    ("truncated.mfp", "truncated"), ("tampered.mfp", "signature"), ("unsigned.mfp", "not signed"),
    ("c740.mfp", "not Mediatrix 4102"), ("missing.mfp", "HTTP 404"),
])
async def test_bad_packs_refused_running_bank_intact(servers: Servers, tmp_path: Path, name: str, why: str) -> None:
    ru = await start_unit(tmp_path)
    try:
        assert await fpu(ru).install(f"http://{servers.http.address}/{name}") == "Fail"
        c = ru.unit.config
        assert c.get("Fpu.Status") == "Idle" and ru.unit.version == OLD
        assert [(r["MfpBank"], r["MfpVersion"]) for r in c.rows("Fpu.MfpInstalledInfo")] == [("MainInUse", OLD),
                                                                                            ("None", "")]
        last = [n for n in ru.unit.notifications if n.service == "Fpu"][-1]
        assert last.msg_id == 9003 and why in last.message, last.message
    finally:
        await ru.stop()


async def test_install_authenticates_with_the_transfer_credentials(servers: Servers, tmp_path: Path) -> None:
    """Fpu.MfpTransferUsername/Password answer the server's basic challenge (credentials in the URL win)."""
    ru = await start_unit(tmp_path)
    try:
        c = ru.unit.config
        url = f"http://{servers.http.address}/auth/fw-3001.mfp"
        assert await fpu(ru).install(url) == "Fail"  # no credentials
        c.set("Fpu.MfpTransferUsername", "fw")
        c.set("Fpu.MfpTransferPassword", "not-the-password")
        assert await fpu(ru).install(url) == "Fail"
        last = [n for n in ru.unit.notifications if n.service == "Fpu"][-1]
        assert last.msg_id == 9003 and "401" in last.message, last.message
        c.set("Fpu.MfpTransferPassword", AUTH_USERS["fw"])
        assert await fpu(ru).install(url) == "Success"
        assert [r["MfpVersion"] for r in c.rows("Fpu.MfpInstalledInfo")] == [OLD, "49.12.3001"]
    finally:
        await ru.stop()


# ---------------------------------------------------------------------------------------------- kill -9
def _spawn_unit(state: Path, ready: Path, log: Path) -> subprocess.Popen[bytes]:
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "emulator", "run", "--name", "fw", "--state-dir", str(state), "--ready-file",
            str(ready), "--port-mode", "auto", "--api-port", "0", "--assume-time-synchronized", "--workers", "1"]
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


async def _api(ready: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        await asyncio.sleep(0.05)
    api: str = json.loads(ready.read_text())["units"][0]["api"]
    return api


async def _get(http: aiohttp.ClientSession, api: str, name: str) -> Any:
    async with http.get(f"{api}/api/v1/parameters/{name}") as resp:
        return (await resp.json())["value"]


async def test_kill9_during_install_leaves_a_bootable_consistent_bank(servers: Servers, tmp_path: Path) -> None:
    state, ready, log = tmp_path / "state", tmp_path / "ready.json", tmp_path / "unit.log"
    url = f"http://{servers.http.address}/slow/big.mfp"
    outcomes = []
    async with aiohttp.ClientSession(headers=ADMIN) as http:
        for delay in (0.3, 0.9, 1.4, 1.8, 2.4, 3.5):
            proc = _spawn_unit(state, ready, log)
            try:
                api = await _api(ready, proc, log)
                version = await _get(http, api, "Fpu.MfpInstalledInfo[1].MfpVersion")
                body = f"Fpu.MfpUrl = {url}\nFpu.AutomaticRestartEnable = Enable\nFpu.Install\n"
                async with http.post(f"{api}/api/v1/scripts", data=body,
                                     headers={"Content-Type": "text/plain"}) as resp:
                    assert resp.status == 200, await resp.text()
                await asyncio.sleep(delay)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            # a new process on the same state: it starts, and its banks agree with the disk
            proc = _spawn_unit(state, ready, log)
            try:
                api = await _api(ready, proc, log)
                status = await _get(http, api, "Fpu.Status")
                rows = {}
                for i in (1, 2):
                    rows[await _get(http, api, f"Fpu.MfpInstalledInfo[{i}].MfpBank")] = await _get(
                        http, api, f"Fpu.MfpInstalledInfo[{i}].MfpVersion")
                doc = json.loads((state / "fw" / "fpu" / "banks.json").read_text()) if (
                    state / "fw" / "fpu" / "banks.json").exists() else None
                outcomes.append((delay, version, rows, status))
                assert status in ("WaitingSystemReady", "Idle")
                running = [v for b, v in rows.items() if b.endswith("InUse")]
                assert len(running) == 1 and running[0] in (OLD, "49.12.3100"), rows
                if doc is not None:
                    for bank, info in doc["banks"].items():
                        if info and info["sha256"]:  # the bank file is the pack banks.json names, or it reads empty
                            data = (state / "fw" / "fpu" / f"{bank.lower()}.mfp").read_bytes()
                            shown = rows.get(bank) or rows.get(f"{bank}InUse")
                            assert (hashlib.sha256(data).hexdigest() == info["sha256"]) == (shown == info["version"])
            finally:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(20) == 0
    versions = {running for _, _, rows, _ in outcomes for b, running in rows.items() if b.endswith("InUse")}
    assert OLD in versions, outcomes  # some kills came before the install finished

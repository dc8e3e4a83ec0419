"""Provisioning benchmark: a lab of N units (default 1,000) fetching a generic and a specific configuration script
over HTTPS from one nginx at their first boot (Conf.ScriptsTransferOnRestartEnable), each validating nginx's
certificate against the lab's CA. Prints `name value unit` lines: seconds from the lab's start until every unit
has executed both scripts, the failures, and (for comparison) when the lab's ready file said every face listens.

How "done" is seen, end to end: every unit sends its notifications to one syslog collector (Nlm.SyslogRemoteHost,
Conf.MinSeverity Info) from its own address, so the collector counts, per unit, the executions (Conf 9013) and the
failures (Conf 9011, 9014). Needs Debian's nginx.

    .venv/bin/python bench/provisioning.py [--units 1000] [--workers 2] [--timeout 600]
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from firmware_model.profiles import get_profile, identity_for  # noqa: E402
from testkit.file_servers import nginx  # noqa: E402
from testkit.pki import Pki  # noqa: E402

GENERIC = "Cli.InactivityTimeOut = 30\nCli.WelcomeMessage = provisioned\n"
_ID = re.compile(rb"Conf:(\d+):")


def host_of(i: int) -> str:
    return f"127.0.{10 + i // 250}.{1 + i % 250}"


def lab(units: int, ca: Path, server: str, collector: str) -> dict[str, object]:
    settings = {
        "Conf.ScriptsTransferProtocol": "Https",
        "Conf.ScriptsTransferSrvHostname": server,
        "Conf.ScriptsLocation": "%product%",
        "Conf.ScriptGenericFileName": "generic.cfg",
        "Conf.ScriptSpecificFileName": "%mac%.cfg",
        "Conf.ScriptsTransferOnRestartEnable": "Enable",
        "Conf.ScriptsTransferRetriesNumber": 0,
        "Conf.MinSeverity": "Info",
        "Nlm.SyslogRemoteHost": collector,
        "Nlm.SyslogMessageFormat": "%servicetextkey:%msgid: %message",
    }
    return {
        "defaults": {"profile": "4102", "other_certificates": [str(ca)], "assume_time_synchronized": True,
                     "settings": settings, "port_mode": "auto", "api_port": 0},
        "unit": [{"name": f"p{i:04d}", "host": host_of(i)} for i in range(units)],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        root = t / "root" / "Mediatrix 4102"
        root.mkdir(parents=True)
        (root / "generic.cfg").write_text(GENERIC)
        pki = Pki()
        ca = pki.ca("Bench CA")
        (t / "ca.pem").write_bytes(ca.pem())
        cert, key = pki.leaf(ca, "127.0.0.1").write(t / "pki", "nginx")
        collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        collector.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(0.2)
        with nginx(t / "nginx", t / "root", cert, key, workers=2) as server:
            # Each unit's specific script is named after its MAC (a unit's identity follows from its name).
            for i in range(a.units):
                mac = identity_for(get_profile("4102"), f"p{i:04d}").mac
                (root / f"{mac}.cfg").write_text(f"Cli.WelcomeMessage = unit {mac}\n")
            (t / "lab.json").write_text(json.dumps(lab(a.units, t / "ca.pem", f"127.0.0.1:{server.tls_port}",
                                                       f"127.0.0.1:{collector.getsockname()[1]}")))
            executed: Counter[str] = Counter()
            failed: Counter[str] = Counter()
            t0 = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "emulator", "run", "--lab", str(t / "lab.json"), "--state-dir", str(t / "s"),
                 "--workers", str(a.workers), "--log-level", "warning", "--ready-file", str(t / "ready.json")],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ready_at = None
            try:
                while time.monotonic() - t0 < a.timeout:
                    if ready_at is None and (t / "ready.json").exists():
                        ready_at = time.monotonic() - t0  # every unit's faces listen (the boot, for comparison)
                    try:
                        data, (src, _port) = collector.recvfrom(4096)
                    except TimeoutError:
                        if proc.poll() is not None:
                            raise RuntimeError(f"the lab exited with {proc.returncode}") from None
                        continue
                    m = _ID.search(data)
                    if m is None:
                        continue
                    msg = int(m.group(1))
                    if msg == 9013:
                        executed[src] += 1
                    elif msg in (9011, 9014):
                        failed[src] += 1
                    done = sum(1 for n in executed.values() if n >= 2)
                    if done + len(failed) >= a.units:
                        break
                elapsed = time.monotonic() - t0
                while ready_at is None and time.monotonic() - t0 < a.timeout and proc.poll() is None:
                    if (t / "ready.json").exists():
                        ready_at = time.monotonic() - t0
                    time.sleep(0.05)
            finally:
                proc.terminate()
                proc.wait(60)
        done = sum(1 for n in executed.values() if n >= 2)
        print(f"provisioning_{a.units}_units_https_success {elapsed:.1f} s")
        if ready_at is not None:
            print(f"provisioning_{a.units}_units_lab_ready {ready_at:.1f} s")
        print(f"provisioning_{a.units}_units_done {done} units")
        print(f"provisioning_{a.units}_units_failures {a.units - done} units")


if __name__ == "__main__":
    main()

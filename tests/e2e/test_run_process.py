"""The whole product as a user runs it: `dgw-emulator run` in its own process, driven through its
real faces (OpenSSH client, HTTP API) and the ready file of the automation contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.peers import require_peer
from tests.helpers.emulator_api import ROOT, api

SSH_OPTS = [
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no",
    "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
]


class Emulator:
    """One `dgw-emulator run` process."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.ready = tmp / f"ready-{time.monotonic_ns()}.json"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "run", "--ready-file", str(self.ready), "--log-level", "warning", *args],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited {self.proc.returncode}: {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                raise TimeoutError("emulator not ready")
            time.sleep(0.02)
        self.units: list[dict[str, str]] = json.loads(self.ready.read_text())["units"]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)


def ssh(unit: dict[str, str], command: str) -> tuple[int, str, str]:
    bins = require_peer("ssh", "sshpass")
    host, port = unit["ssh"].rsplit(":", 1)
    p = subprocess.run(
        [bins["sshpass"], "-p", "", bins["ssh"], *SSH_OPTS, "-p", port, f"public@{host}", command],
        capture_output=True, text=True, timeout=30,
    )
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[list[Emulator]]:
    started: list[Emulator] = []
    yield started
    for e in started:
        e.stop(signal.SIGKILL)


def test_cli_set_read_by_api_and_survives_restart(tmp_path: Path, emulators: list[Emulator]) -> None:
    state = tmp_path / "state"
    emu = Emulator(tmp_path, "--state-dir", str(state), "--port-mode", "auto")
    emulators.append(emu)
    unit = emu.units[0]
    assert unit["name"] == "unit1" and unit["profile"] == "4102"
    assert unit["api"].startswith("http://127.0.0.1:") and unit["ssh"].startswith("127.0.0.1:")
    rc, out, err = ssh(unit, "Cli.InactivityTimeOut = 42")
    assert rc == 0, err
    # the resource as it always was, plus how the emulator treats the parameter (the behaviour map)
    assert api(unit, "GET", "/api/v1/parameters/Cli.InactivityTimeOut") == (
        200, {"name": "Cli.InactivityTimeOut", "value": 42, "behaviour": "live"})
    assert emu.stop() == 0  # SIGTERM: clean shutdown
    emu2 = Emulator(tmp_path, "--state-dir", str(state), "--port-mode", "auto")
    emulators.append(emu2)
    assert api(emu2.units[0], "GET", "/api/v1/parameters/Cli.InactivityTimeOut")[1]["value"] == 42
    rc, out, _ = ssh(emu2.units[0], "Cli.InactivityTimeOut")
    assert (rc, out.strip()) == (0, "42")


BAD = [  # (address, value, words the message must contain)
    ("Cli.NoSuchParameter", "1", ["Cli.NoSuchParameter", "unknown parameter"]),
    ("Web.HttpMode", "Sometimes", ["Web.HttpMode", "Secure", "Unsecure", "Both"]),
    ("Cli.InactivityTimeOut", "91", ["Cli.InactivityTimeOut", "1..90"]),
    ("Hoc.SystemTime", "2020-01-01", ["Hoc.SystemTime", "read-only"]),
]


def test_bad_values_refused_precisely_on_every_face(tmp_path: Path, emulators: list[Emulator]) -> None:
    emu = Emulator(tmp_path, "--state-dir", str(tmp_path / "s"), "--port-mode", "auto")
    emulators.append(emu)
    unit = emu.units[0]
    _, before = api(unit, "GET", "/api/v1/scripts/export?content=AllConfig")
    for name, value, words in BAD:
        status, body = api(unit, "PUT", f"/api/v1/parameters/{name}", {"value": value})
        assert 400 <= status < 500 and all(w in body["error"] for w in words), (name, status, body)
        rc, out, err = ssh(unit, f"{name} = {value}")
        assert rc == 1 and all(w in out + err for w in words), (name, out, err)
        status, body = api(unit, "POST", "/api/v1/scripts", raw=f"Cli.WelcomeMessage = hi\n{name} = {value}\n".encode(),
                           ctype="text/plain")
        assert status >= 400, body
        bad = [line for line in body["lines"] if not line["ok"]]
        assert [b["number"] for b in bad] == [2] and all(w in bad[0]["error"] for w in words), body
    _, after = api(unit, "GET", "/api/v1/scripts/export?content=AllConfig")
    assert after == before  # nothing changed, not even the good line of each script


def test_kill9_during_api_write_burst_loses_nothing_acknowledged(tmp_path: Path, emulators: list[Emulator]) -> None:
    state = tmp_path / "state"
    emu = Emulator(tmp_path, "--state-dir", str(state), "--port-mode", "auto")
    emulators.append(emu)
    unit = emu.units[0]
    acked = 0
    for i in range(1, 61):
        status, _ = api(unit, "PUT", "/api/v1/parameters/Hoc.SystemName", {"value": f"burst-{i}"})
        assert status == 200
        acked = i
    emu.stop(signal.SIGKILL)
    emu2 = Emulator(tmp_path, "--state-dir", str(state), "--port-mode", "auto")
    emulators.append(emu2)
    value = api(emu2.units[0], "GET", "/api/v1/parameters/Hoc.SystemName")[1]["value"]
    assert value == f"burst-{acked}"


def test_lab_units_share_no_port_file_or_clock(tmp_path: Path, emulators: list[Emulator]) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text(
        '[[unit]]\nname = "fxs"\nprofile = "4102"\nhost = "127.0.0.2"\n'
        '[[unit]]\nname = "bri"\nprofile = "C740"\nhost = "127.0.0.3"\nclock_offset = 7200\n'
    )
    emu = Emulator(tmp_path, "--lab", str(lab), "--state-dir", str(tmp_path / "lab"), "--port-mode", "auto")
    emulators.append(emu)
    fxs, bri = emu.units
    assert (fxs["name"], fxs["profile"], bri["name"], bri["profile"]) == ("fxs", "4102", "bri", "C740")
    assert fxs["api"].startswith("http://127.0.0.2:") and bri["api"].startswith("http://127.0.0.3:")
    assert fxs["ssh"].startswith("127.0.0.2:") and bri["ssh"].startswith("127.0.0.3:")
    addrs = [u[f] for u in emu.units for f in ("api", "ssh")]
    assert len(set(addrs)) == len(addrs)
    assert api(fxs, "PUT", "/api/v1/parameters/Hoc.SystemName", {"value": "only-fxs"})[0] == 200
    assert api(bri, "GET", "/api/v1/parameters/Hoc.SystemName")[1]["value"] == ""
    # One folder per unit; beside them only the installation's factory CA that signs every unit's host certificate.
    assert sorted(p.name for p in (tmp_path / "lab").iterdir() if not p.name.startswith("factory-ca")) == ["bri", "fxs"]
    assert not set((tmp_path / "lab/fxs").iterdir()) & set((tmp_path / "lab/bri").iterdir())
    t_fxs = api(fxs, "GET", "/api/v1/parameters/Hoc.SystemTime")[1]["value"]
    t_bri = api(bri, "GET", "/api/v1/parameters/Hoc.SystemTime")[1]["value"]
    fmt = "%Y-%m-%d %H:%M:%S"
    skew = time.mktime(time.strptime(t_bri, fmt)) - time.mktime(time.strptime(t_fxs, fmt))
    assert abs(skew - 7200) < 5
    rc, out, _ = ssh(bri, "EpAdm.Endpoint")
    assert rc == 0 and "Bri1" in out and "Bri2" in out


def test_bad_lab_file_is_refused_with_a_message(tmp_path: Path) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text('[[unit]]\nname = "x"\nhost = "192.0.2.1"\n')
    p = subprocess.run([sys.executable, "-m", "emulator", "run", "--lab", str(lab)], cwd=ROOT,
                       capture_output=True, text=True, timeout=30, env={**os.environ})
    assert p.returncode == 2 and "not a loopback address" in p.stderr


def test_ready_file_lists_every_face_and_calls_api_answers(tmp_path: Path, emulators: list[Emulator]) -> None:
    emu = Emulator(tmp_path, "--state-dir", str(tmp_path / "s"), "--port-mode", "auto")
    emulators.append(emu)
    unit = emu.units[0]
    for face in ("api", "web", "web_secure", "ssh", "sip", "snmp", "cwmp"):
        assert face in unit, face
    assert unit["web"].startswith("http://127.0.0.1:") and unit["web_secure"].startswith("https://127.0.0.1:")
    assert unit["cwmp"].startswith("http://127.0.0.1:")
    assert unit["sip"].startswith("127.0.0.1:") and unit["snmp"].startswith("127.0.0.1:")
    assert api(unit, "GET", "/api/v1/calls") == (200, {"calls": []})
    status, body = api(unit, "POST", "/api/v1/endpoints/NoSuchEndpoint/dial", {"number": "1001"})
    assert (status, body["kind"]) == (404, "call")
    status, body = api(unit, "POST", "/api/v1/endpoints/Phone-Fax1/dial", {})
    assert status == 400 and "number" in body["error"]
    # Factory registrar 192.168.10.10 is unreachable from 127.0.0.1: the call is placed and goes nowhere.
    status, body = api(unit, "POST", "/api/v1/endpoints/Phone-Fax1/dial", {"number": "1001"})
    assert status == 200 and body["call"]["endpoint"] == "Phone-Fax1" and body["call"]["peer"].startswith("sip:1001@")
    status, body = api(unit, "POST", "/api/v1/endpoints/Phone-Fax1/hangup")
    assert status in (200, 202)
    assert [c["endpoint"] for c in api(unit, "GET", "/api/v1/calls")[1]["calls"]] == ["Phone-Fax1"]
    # Endpoints: EpAdm states, lock/unlock, and the phone's audio settings (emulator addition).
    status, body = api(unit, "GET", "/api/v1/endpoints")
    eps = {e["endpoint"]: e for e in body["endpoints"]}
    assert status == 200 and set(eps) == {"Phone-Fax1", "Phone-Fax2"}
    assert eps["Phone-Fax2"]["admin_state"] == "Unlocked" and eps["Phone-Fax2"]["op_state"] == "Enable"
    status, body = api(unit, "POST", "/api/v1/endpoints/phone-fax2/lock")
    assert (status, body["admin_state"], body["usage_state"]) == (200, "Locked", "IdleUnusable")
    status, body = api(unit, "POST", "/api/v1/endpoints/Phone-Fax2/dial", {"number": "1001"})
    assert status == 409 and "locked" in body["error"]
    assert api(unit, "POST", "/api/v1/endpoints/Phone-Fax2/unlock")[1]["admin_state"] == "Unlocked"
    status, body = api(unit, "PUT", "/api/v1/endpoints/Phone-Fax2/media",
                       {"source": {"tone": [697, 1209]}, "initial_sequence": 65500})
    assert status == 200, body
    assert body["source"] == {"tone": [697.0, 1209.0], "level_dbm0": -10.0} and body["initial_sequence"] == 65500
    assert api(unit, "GET", "/api/v1/endpoints/Phone-Fax2/media")[1]["initial_sequence"] == 65500
    status, body = api(unit, "PUT", "/api/v1/endpoints/Phone-Fax2/media", {"source": {"wav": "../secret.wav"}})
    assert status == 400 and "no directory" in body["error"]
    assert api(unit, "GET", "/api/v1/endpoints/Phone-Fax2/media")[1]["source"]["tone"] == [697.0, 1209.0]
    assert api(unit, "GET", "/api/v1/endpoints/Nope/media")[0] == 404
    # transfer reads its number from the body: with one, the refusal is about the call, not the body
    status, body = api(unit, "POST", "/api/v1/endpoints/Phone-Fax1/transfer", {"number": "carol"})
    assert status == 409 and "no connected call" in body["error"], body
    status, body = api(unit, "POST", "/api/v1/endpoints/Phone-Fax1/transfer", {})
    assert status == 400 and "number" in body["error"]


def _ready_until(emu: Emulator, predicate: Any, timeout: float = 15.0) -> dict[str, Any]:
    """The ready file once ``predicate(document)`` holds (it is rewritten while the process runs)."""
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, Any] = json.loads(emu.ready.read_text())
        if predicate(doc):
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"ready file never matched: {doc}")
        time.sleep(0.05)


def test_ready_file_follows_faces_and_ports_stay_put(tmp_path: Path, emulators: list[Emulator]) -> None:
    """A face opened by a service restart is listed without a process restart, one closed is dropped, and in
    --port-mode auto a restarted service listens where it did (TR-069 connection requests, SSH, web)."""
    emu = Emulator(tmp_path, "--state-dir", str(tmp_path / "s"), "--port-mode", "auto",
                   "--assume-time-synchronized")
    emulators.append(emu)
    unit = emu.units[0]
    assert "sip_tls" not in unit
    tls = "/api/v1/parameters/SipEp.TransportConfig[default].TlsEnable"
    assert api(unit, "PUT", tls, {"value": "Enable"})[0] == 200
    assert api(unit, "POST", "/api/v1/services/restart-required")[0] == 200
    doc = _ready_until(emu, lambda d: "sip_tls" in d["units"][0])
    assert doc["units"][0]["sip_tls"].startswith("127.0.0.1:") and doc["pid"] == emu.proc.pid
    tls_address = doc["units"][0]["sip_tls"]
    for service in ("Cwmp", "Cli", "Web", "Snmp", "SipEp"):
        assert api(unit, "POST", f"/api/v1/services/{service}/restart")[0] == 200
    time.sleep(0.5)
    faces = ("cwmp", "ssh", "web", "web_secure", "snmp", "sip_tls")
    after = _ready_until(emu, lambda d: all(f in d["units"][0] for f in faces))
    for face in ("cwmp", "ssh", "web", "web_secure", "api", "snmp"):
        assert after["units"][0][face] == unit[face], face
    assert after["units"][0]["sip_tls"] == tls_address
    assert api(unit, "POST", "/api/v1/services/Snmp/stop")[0] == 200
    _ready_until(emu, lambda d: "snmp" not in d["units"][0])
    assert emu.stop() == 0

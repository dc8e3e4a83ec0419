"""A start that is quick to be ready (issue 14): the ready file a process writes is its own from the start, and
the SSH face, slow to load, listens before the ready file and serves once loaded (``coming_up`` says so)."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncssh

ROOT = Path(__file__).resolve().parents[2]


def _start(tmp: Path, ready: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "emulator", "run", "--ready-file", str(ready), "--state-dir", str(tmp / "state"),
         "--port-mode", "auto", "--log-level", "warning", "--log-format", "json", *args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _read(ready: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(ready.read_text())
    except (OSError, ValueError):
        return None
    return doc


def _first_write(proc: subprocess.Popen[bytes], ready: Path) -> dict[str, Any]:
    end = time.monotonic() + 60
    while (doc := _read(ready)) is None or doc["pid"] != proc.pid:
        assert proc.poll() is None and time.monotonic() < end
        time.sleep(0.002)
    return doc


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def test_a_stale_ready_file_is_never_taken_for_the_new_one(tmp_path: Path) -> None:
    """The file an earlier process left goes before the new process loads its modules: a reader polling from the
    start sees it go, then only the new one (a process starts in a few tens of milliseconds, the units in more)."""
    ready = tmp_path / "ready.json"
    ready.write_text(json.dumps({"units": [{"name": "unit1", "api": "http://127.0.0.1:1"}], "pid": 1}))
    proc = _start(tmp_path, ready)
    try:
        states: list[str] = []  # "old", "none", "new", each change once
        end = time.monotonic() + 60
        while time.monotonic() < end and proc.poll() is None:
            doc = _read(ready) if ready.exists() else None
            state = "none" if doc is None else "new" if doc["pid"] == proc.pid else "old"
            if not states or states[-1] != state:
                states.append(state)
            if state == "new" and not doc["units"][0].get("coming_up"):  # type: ignore[index]
                break
            time.sleep(0.001)
        assert states in (["old", "none", "new"], ["none", "new"]), states
    finally:
        assert _stop(proc) == 0


async def test_ssh_listens_at_ready_and_serves_once_loaded(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    proc = _start(tmp_path, ready)
    try:
        end = time.monotonic() + 60
        entry = _first_write(proc, ready)["units"][0]
        host, port = entry["ssh"].rsplit(":", 1)
        # Connected at once, whether SSH is served yet or still coming up: the banner comes either way.
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.settimeout(30)
            assert s.recv(64).startswith(b"SSH-2.0-")
        while "coming_up" in (doc := _read(ready) or {"units": [entry]})["units"][0]:
            assert time.monotonic() < end, doc
            time.sleep(0.01)
        assert doc["units"][0]["ssh"] == entry["ssh"]  # the face stays where it was listed
        async with asyncssh.connect(host, int(port), username="public", password="", known_hosts=None) as conn:
            result = await conn.run("Cli.EnableSsh", check=False)
        assert result.exit_status == 0 and "Enable" in str(result.stdout)
    finally:
        assert _stop(proc) == 0


def test_web_pages_listen_at_ready_and_serve_once_up(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    lab = tmp_path / "lab.json"  # HTTPS with suites a current client shares (the factory's CS1 are too old)
    lab.write_text(json.dumps({"unit": [{"name": "u1", "host": "127.0.0.1", "settings": {
        "Web.HttpsCipherSuite": "CS3", "Web.TlsVersion": "TLSv1_2"}}]}))
    first = _start(tmp_path, ready, "--lab", str(lab))  # the first boot: settings applied, certificates made
    _first_write(first, ready)
    assert _stop(first) == 0
    proc = _start(tmp_path, ready, "--lab", str(lab))
    try:
        end = time.monotonic() + 60
        entry = _first_write(proc, ready)["units"][0]
        assert {"web", "web_secure"} <= set(entry.get("coming_up", ())), entry
        # Asked at once, served once the pages are up: HTTP and HTTPS (the unit's own certificate).
        with urllib.request.urlopen(entry["web"] + "/login", timeout=30) as r:
            assert r.status == 200 and b"<form" in r.read()
        unchecked = ssl.create_default_context()  # the unit's own certificate: its factory CA is not at hand here
        unchecked.check_hostname = False
        unchecked.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(entry["web_secure"] + "/login", timeout=30, context=unchecked) as r:
            assert r.status == 200
        while "coming_up" in (doc := _read(ready) or {"units": [entry]})["units"][0]:
            assert time.monotonic() < end, doc
            time.sleep(0.01)
        assert {f: doc["units"][0][f] for f in ("web", "web_secure")} == {f: entry[f] for f in ("web", "web_secure")}
    finally:
        assert _stop(proc) == 0

"""Labs over worker processes, as a user runs them: `dgw-emulator run --lab FILE --workers N` with units that
register to a real Kamailio and call each other, driven through the ready file and the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.kamailio import Kamailio, lab_kamailio, start_kamailio
from testkit.pki import Pki
from tests.helpers.emulator_api import ROOT, api

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw", "dave": "davepw"}


def wait(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def lab_toml(registrar: str) -> str:
    """Four 4102s, one SIP user each, registering over UDP: the registration is all lab settings."""
    units = "".join(
        f'[[unit]]\nname = "{user}"\n[unit.settings]\n'
        f'"SipEp.UserAgent[Phone-Fax1].Username" = "{user}"\n"SipEp.UserAgent[Phone-Fax1].Register" = "Enable"\n'
        f'"SipEp.Authentication.Username[Index=1]" = "{user}"\n"SipEp.Authentication[1].Password" = "{pw}"\n'
        for user, pw in USERS.items()
    )
    return ('[defaults]\nassume_time_synchronized = true\n[defaults.settings]\n'
            f'"SipEp.DefaultStaticRegistrarServerHost" = "{registrar}"\n'
            f'"SipEp.DefaultStaticProxyHomeDomainHost" = "{registrar}"\n' + units)


class Fleet:
    """One `dgw-emulator run --lab` process (a supervisor when --workers > 1)."""

    def __init__(self, tmp: Path, lab: Path, *args: str) -> None:
        self.ready = tmp / "ready.json"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "run", "--lab", str(lab), "--state-dir", str(tmp / "state"),
             "--port-mode", "auto", "--ready-file", str(self.ready), "--log-level", "warning", *args],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        wait(lambda: self.ready.exists() or self.proc.poll() is not None, 60, "the ready file")
        assert self.proc.poll() is None, self.proc.stderr.read()  # type: ignore[union-attr]

    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.ready.read_text())
        return doc

    def unit(self, name: str) -> dict[str, Any]:
        return next(u for u in self.doc()["units"] if u["name"] == name)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=40)


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    with lab_kamailio(tmp_path, USERS) as k:
        yield k


def registered(unit: dict[str, Any]) -> bool:
    status, body = api(unit, "GET", "/api/v1/tables/SipEp.RegistrationStatus")
    return status == 200 and [r.get("State") for r in body["rows"]] == ["Registered"]


def scrape(url: str) -> dict[str, float]:
    """A Prometheus text page as {"name{labels}": value}."""
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.headers.get_content_type() == "text/plain"
        text = r.read().decode()
    return {k: float(v) for k, v in (line.rsplit(" ", 1) for line in text.splitlines() if line[:1] not in ("#", ""))}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_worker_comes_back_and_the_other_workers_calls_go_on(tmp_path: Path, kamailio: Kamailio) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text(lab_toml(kamailio.udp_address))
    fleet = Fleet(tmp_path, lab, "--workers", "2", "--metrics-port", "0")
    try:
        doc = fleet.doc()
        assert [(u["name"], u["worker"]) for u in doc["units"]] == [("alice", 0), ("bob", 0), ("carol", 1),
                                                                  ("dave", 1)]
        assert [w["state"] for w in doc["workers"]] == ["running", "running"] and doc["pid"] == fleet.proc.pid
        alice, bob, carol = fleet.unit("alice"), fleet.unit("bob"), fleet.unit("carol")
        for name in USERS:  # the lab's settings alone registered every unit
            wait(lambda name=name: registered(fleet.unit(name)), what=f"{name} registered")
        assert api(carol, "PUT", "/api/v1/parameters/Hoc.SystemName", {"value": "carol-after-kill"})[0] == 200
        # alice (worker 0) calls bob (worker 0)
        assert api(alice, "POST", "/api/v1/endpoints/Phone-Fax1/dial", {"number": "bob"})[0] == 200
        wait(lambda: api(bob, "POST", "/api/v1/endpoints/Phone-Fax1/answer")[0] == 200, what="bob answers")

        def media(unit: dict[str, Any] = alice) -> dict[str, Any]:
            [call] = [c for c in api(unit, "GET", "/api/v1/calls")[1]["calls"] if c["state"] == "connected"]
            return call  # type: ignore[no-any-return]

        before = wait(lambda: media()["packets_received"] > 20 and media(), what="audio flowing")
        bob_before = media(bob)
        t_before = time.monotonic()
        w0_metrics = scrape(doc["workers"][0]["metrics"])  # each worker's Prometheus endpoint, its own units
        assert w0_metrics['dgw_units{profile="4102"}'] == 2 and w0_metrics['dgw_registrations{state="Registered"}'] == 2
        assert w0_metrics['dgw_calls{state="connected"}'] == 2  # alice's and bob's sides of the call
        assert scrape(doc["workers"][1]["metrics"]).get('dgw_calls{state="connected"}') is None
        w0, w1 = doc["workers"][0]["pid"], doc["workers"][1]["pid"]
        os.kill(w1, signal.SIGKILL)
        back = wait(lambda: (d := fleet.doc())["workers"][1]["restarts"] == 1 and d["workers"][1]["state"] == "running"
                    and d, what="worker 1 restarted")
        assert back["workers"][1]["pid"] != w1 and not alive(w1) and back["workers"][0]["pid"] == w0
        carol_back = fleet.unit("carol")
        for face in ("api", "ssh", "web", "web_secure", "cwmp", "sip", "snmp"):  # where they were
            assert carol_back[face] == carol[face], face
        assert api(carol_back, "GET", "/api/v1/parameters/Hoc.SystemName")[1]["value"] == "carol-after-kill"
        wait(lambda: registered(fleet.unit("carol")) and registered(fleet.unit("dave")), what="registered again")
        bob_after = media(bob)
        after = media()  # the same call, still up, its audio flowing all along (50 packets/s each way)
        elapsed = time.monotonic() - t_before
        assert after["id"] == before["id"], (before, after)
        # every packet bob sent meanwhile reached alice (a few in flight at either sample), and bob kept sending:
        # a worker restarting on a 2-core machine may slow worker 0's clock ticks, never break its call
        sent = bob_after["packets_sent"] - bob_before["packets_sent"]
        received = after["packets_received"] - before["packets_received"]
        assert received >= sent - 10, (sent, received, elapsed)
        assert sent >= 0.5 * 50 * elapsed - 10, (sent, elapsed)
        assert after["undecryptable"] in (0, None)
    finally:
        code = fleet.stop()
    assert code == 0
    assert not any(alive(w["pid"]) for w in fleet.doc()["workers"])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_stop_signal_is_honoured_at_any_moment_of_a_start(tmp_path: Path, workers: str) -> None:
    """SIGTERM (or SIGINT) while the command imports its modules, builds or starts units: every process ends at
    once, cleanly (status 0), and a worker never outlives its supervisor. (Before the interpreter runs the
    command's first line, ~20 ms, a signal can only end the process the kernel's way.)"""
    lab = tmp_path / "lab.json"
    lab.write_text(json.dumps({"unit": [{"name": f"u{i}", "host": "127.0.0.1"} for i in range(60)]}))
    for delay, sig in ((0.15, signal.SIGTERM), (0.25, signal.SIGINT), (0.5, signal.SIGTERM), (1.2, signal.SIGINT),
                       (2.5, signal.SIGTERM)):
        ready = tmp_path / f"ready-{delay}.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "run", "--lab", str(lab), "--state-dir", str(tmp_path / "state"),
             "--port-mode", "auto", "--ready-file", str(ready), "--log-level", "error", "--workers", workers],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        children = _children(proc.pid)
        t = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
        took = time.monotonic() - t
        assert code == 0 and took < 8, (delay, code, took, proc.stderr.read())  # type: ignore[union-attr]
        wait(lambda children=children: not any(alive(c) for c in children), 15, "the workers to end")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_lab_registers_over_tls_from_its_first_attempt(tmp_path: Path) -> None:
    """The lab says what every unit trusts (the proxy's CA) and presents (its own host certificate): units
    register over TLS at boot, without an API call and without a refused first handshake, and present the
    lab's certificate (seen here on HTTPS)."""
    pki = Pki("rsa")
    ca = pki.ca("Fleet CA")
    crt, key = pki.leaf(ca, "127.0.0.1").write(tmp_path / "pki", "proxy")
    k = start_kamailio(tmp_path / "kamailio", crt, key, USERS, tls_only=True)
    try:
        (tmp_path / "ca.pem").write_bytes(ca.pem())
        for i, user in enumerate(USERS):
            leaf = pki.leaf(ca, user, dns=(user,), ips=(f"127.0.0.{i + 2}",))
            (tmp_path / f"{user}.pem").write_bytes(leaf.pem() + leaf.key_pem())
        lab = tmp_path / "lab.toml"
        text = lab_toml(k.tls_address).replace(
            "[defaults]\n", '[defaults]\nother_certificates = ["ca.pem"]\nhost_certificate = "{name}.pem"\n', 1)
        text = text.replace("[defaults.settings]\n", '[defaults.settings]\n"SipEp.TransportConfig[default].TlsEnable"'
                            ' = "Enable"\n"Web.HttpsCipherSuite" = "CS3"\n', 1)
        lab.write_text(text)
        t0 = time.monotonic()
        fleet = Fleet(tmp_path, lab, "--workers", "2")
        try:
            for name in USERS:
                wait(lambda name=name: registered(fleet.unit(name)), 10, f"{name} registered over TLS")
            took = time.monotonic() - t0
            assert took < 10, took  # the 15 s retry after a refused handshake never happened
            for name in USERS:
                status, notes = api(fleet.unit(name), "GET", "/api/v1/notifications")
                assert status == 200 and not [n for n in notes["notifications"] if n["service"] == "Cert"
                                              and "unknown" in n["message"].lower()], notes
            host, port = fleet.unit("carol")["web_secure"].removeprefix("https://").rsplit(":", 1)
            ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
            ctx.check_hostname = False
            with socket.create_connection((host, int(port)), timeout=5) as raw, \
                    ctx.wrap_socket(raw) as tls:
                subject = dict(x[0] for x in tls.getpeercert()["subject"])  # type: ignore[index]
            assert subject["commonName"] == "carol"
        finally:
            assert fleet.stop() == 0
    finally:
        k.stop()


class RefusingPeers:
    """A SIP-over-TLS proxy and an HTTPS ACS whose certificate no unit trusts (every handshake is refused by
    the units' validation), in a thread of the test process."""

    def __init__(self, directory: Path) -> None:
        pki = Pki("rsa")
        self.crt, self.key = pki.leaf(pki.ca("Nobody's CA"), "127.0.0.1").write(directory, "untrusted")
        self.ports: list[int] = []
        self.handshakes = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.crt, self.key)
        ctx.set_ciphers("ALL:@SECLEVEL=0")  # whatever the unit offers: the refusal is the unit's validation

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.handshakes += 1
            with contextlib.suppress(Exception):
                await reader.read(65536)
            writer.close()

        servers = [await asyncio.start_server(hold, "127.0.0.1", 0, ssl=ctx, backlog=1024) for _ in range(2)]
        self.ports = [s.sockets[0].getsockname()[1] for s in servers]
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        for s in servers:
            s.close()

    def close(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def test_hundreds_of_units_start_and_stop_while_every_tls_peer_is_refused(tmp_path: Path) -> None:
    """Issue 14 item 3: 300 units whose SIP proxy and ACS present a certificate they do not trust (hundreds of
    refusals in flight): every unit becomes ready with every service started, nothing fails with a reused
    descriptor or a closed handler, and SIGTERM ends every process cleanly."""
    peers = RefusingPeers(tmp_path / "pki")
    try:
        sip, acs = peers.ports
        lab = tmp_path / "lab.json"
        lab.write_text(json.dumps({
            "defaults": {"assume_time_synchronized": True, "settings": {
                "SipEp.TransportConfig[default].TlsEnable": "Enable",
                "SipEp.DefaultStaticRegistrarServerHost": f"127.0.0.1:{sip}",
                "SipEp.DefaultStaticProxyHomeDomainHost": f"127.0.0.1:{sip}",
                "SipEp.UserAgent[Phone-Fax1].Register": "Enable", "SipEp.UserAgent[Phone-Fax1].Username": "u",
                "Cwmp.AcsUrlConfigSource": "Static", "Cwmp.AcsStaticUrl": f"https://127.0.0.1:{acs}/acs",
                "Cwmp.PeriodicInformEnable": "Enable", "Cwmp.PeriodicInformInterval": 30}},
            "unit": [{"name": f"r{i:03d}", "host": f"127.0.{1 + i // 250}.{1 + i % 250}"} for i in range(300)],
        }))
        log = tmp_path / "fleet.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "emulator", "run", "--lab", str(lab), "--state-dir", str(tmp_path / "state"),
                 "--port-mode", "auto", "--ready-file", str(tmp_path / "ready.json"), "--workers", "2",
                 "--metrics-port", "0", "--log-format", "json", "--log-level", "info"],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )
        try:
            ready = tmp_path / "ready.json"
            wait(lambda: ready.exists() or proc.poll() is not None, 120, "300 units ready")
            assert proc.poll() is None, log.read_text()[-3000:]
            doc = json.loads(ready.read_text())
            assert len(doc["units"]) == 300 and all("api" in u and "sip_tls" in u for u in doc["units"])
            time.sleep(5)  # refusals and retries in flight
            totals: dict[str, float] = {}
            for w in doc["workers"]:
                for k, v in scrape(w["metrics"]).items():
                    totals[k] = totals.get(k, 0) + v
            assert totals['dgw_units{profile="4102"}'] == 300
            assert [k for k in totals if k.startswith("dgw_services{") and 'state="Started"' not in k] == []
            assert totals.get('dgw_notifications_total{service="Cert",severity="Error"}', 0) >= 300  # refused
            assert all(w["restarts"] == 0 for w in json.loads(ready.read_text())["workers"])
        finally:
            t = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        assert code == 0 and time.monotonic() - t < 25, (code, time.monotonic() - t)
        text = log.read_text()
        for bad in ("EBADF", "EEXIST", "handler is closed", "Bad file descriptor", "Traceback"):
            assert bad not in text, bad
        errors = [line for line in text.splitlines() if '"level": "error"' in line]
        assert errors == [], errors[:5]
        assert peers.handshakes >= 300
    finally:
        peers.close()

"""The compose lab of ``docker/compose.yaml`` as a user starts it (podman-compose ``up``), its images built here
from Debian (testkit.container, no container registry): Kamailio on TLS only, rsyslog, chrony and one
dgw-emulator lab (a supervisor and two worker processes) running the four units of ``docker/lab/lab.toml``,
every service on the host's network on 127.0.10.x. The units register over TLS, validating the proxy's
certificate (possible only once SNTP from the lab's chrony set their clocks: the lab does not assume the time),
log to the lab's rsyslog, and two of them call each other with SRTP, each hearing the other's tone."""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from testkit.container import ROOT, Podman, lab_images, podman, podman_compose

COMPOSE = ROOT / "docker" / "compose.yaml"
PROXY = "127.0.10.1"
UNITS = {"alice": "127.0.10.11", "bob": "127.0.10.12", "carol": "127.0.10.13", "dave": "127.0.10.14"}


def api(unit: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(f"http://{UNITS[unit]}:8000{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Basic " + base64.b64encode(b"public:").decode(),
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
    except OSError:
        return 0, None


def _free(host: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:  # as the servers do: connections in TIME_WAIT do not hold the port
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class Lab:
    pm: Podman
    project: str

    def container(self, service: str) -> str:
        labels = (f"label=com.docker.compose.project={self.project}", f"label=com.docker.compose.service={service}")
        out = self.pm("ps", "-a", "--format", "{{.Names}}", "--filter", labels[0], "--filter", labels[1]).stdout.split()
        assert len(out) == 1, (service, out)
        return out[0]

    def exec(self, service: str, *argv: str) -> str:
        return self.pm("exec", self.container(service), *argv).stdout

    def logs(self, service: str) -> str:
        proc = self.pm("logs", self.container(service), check=False)
        return proc.stdout + proc.stderr

    def syslog(self, address: str) -> str:
        """What the lab's rsyslog wrote from ``address`` ("" before anything)."""
        return self.pm("exec", self.container("rsyslog"), "cat", f"/var/log/lab/{address}.log", check=False).stdout

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """``predicate()``'s first true value; past ``timeout`` a failure that shows the end of the units' and
        Kamailio's output (what a person would read to see why)."""
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {s}:\n{self.logs(s)[-2500:]}" for s in ("units", "kamailio"))
                raise AssertionError(f"timed out waiting for {what}\n{tails}")
            time.sleep(0.25)
        return value

    def ready(self) -> dict[str, Any] | None:
        proc = self.pm("exec", self.container("units"), "cat", "/var/lib/dgw/ready.json", check=False)
        doc: dict[str, Any] | None = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout else None
        return doc


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    pm = podman()
    compose = podman_compose()
    images = lab_images(pm)
    taken = [f"{h}:{p}/{k}" for h, p, k, kind in
             [(PROXY, 5061, "tcp", socket.SOCK_STREAM), (PROXY, 514, "udp", socket.SOCK_DGRAM),
              (PROXY, 123, "udp", socket.SOCK_DGRAM), *((a, 8000, "tcp", socket.SOCK_STREAM) for a in UNITS.values())]
             if not _free(h, p, kind)]
    if taken:
        pytest.fail(f"the lab's addresses are taken ({', '.join(taken)}): is a lab still up? "
                    "podman-compose -f docker/compose.yaml down")
    project = "dgwlabtest"
    env = dict(pm.env, **images)

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([compose, "-f", str(COMPOSE), "-p", project, *args], env=env, text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)

    run("down", "-v", "-t", "5")  # what a crashed earlier run may have left
    up = run("up", "-d")
    lab = Lab(pm, project)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        for service in ("kamailio", "rsyslog", "chrony", "units"):
            state = pm("inspect", "--format", "{{.State.Status}}", lab.container(service)).stdout.strip()
            assert state == "running", (service, state, lab.logs(service))
        lab.wait(lab.ready, 90, "the lab's ready file")
        yield lab
    finally:
        down = run("down", "-v", "-t", "10")
        assert down.returncode == 0, down.stdout + down.stderr
        left = pm("ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
        assert not left, left


def registered(unit: str) -> bool:
    status, body = api(unit, "GET", "/api/v1/tables/SipEp.RegistrationStatus")
    return status == 200 and [(r["State"], r["Registrar"]) for r in body["rows"]] == [("Registered", f"{PROXY}:5061")]


def test_the_lab_units_register_over_tls_with_time_from_chrony_and_log_to_rsyslog(lab: Lab) -> None:
    doc = lab.ready()
    assert doc is not None
    assert {u["name"]: u["api"] for u in doc["units"]} == {n: f"http://{a}:8000" for n, a in UNITS.items()}
    assert all(u["sip_tls"] == f"{UNITS[u['name']]}:5061" for u in doc["units"]), doc
    # one supervisor (the container's first process) and two worker processes sharing the units out
    assert doc["pid"] == 1 and [(w["index"], w["units"], w["state"]) for w in doc["workers"]] == [
        (0, 2, "running"), (1, 2, "running")], doc
    assert {u["name"]: u["worker"] for u in doc["units"]} == {"alice": 0, "bob": 0, "carol": 1, "dave": 1}
    for unit in UNITS:
        lab.wait(partial(registered, unit), 60, f"{unit} registered")
    kamailio = lab.logs("kamailio")
    for address in UNITS.values():  # the registrar saw each unit's REGISTER over TLS
        assert re.search(rf"REQ REGISTER sip:{re.escape(PROXY)}:5061 from {re.escape(address)}:\d+ proto=tls\n",
                         kamailio), kamailio[-3000:]
    for unit in UNITS:
        _, notes = api(unit, "GET", "/api/v1/notifications")
        messages = [(n["service"], n["message"]) for n in notes["notifications"]]
        assert ("SipEp", f"TLS connection with remote host {PROXY}:5061 is now ready to be used for SIP gateway "
                "default.") in messages, messages
        # the clock came from the lab's chrony (the last successful SNTP server)
        assert api(unit, "GET", "/api/v1/parameters/Hoc.SntpCurrentSource")[1]["value"] == f"{PROXY}:123"
    for address in UNITS.values():  # each unit's notifications in its own file at the lab's rsyslog
        lines = lab.wait(partial(lab.syslog, address), 30, f"syslog from {address}")
        assert f"{PROXY}:5061 is now reachable" in lines, lines


def test_two_lab_units_call_each_other_with_srtp_and_hear_each_other(lab: Lab) -> None:
    for unit in ("alice", "bob"):
        lab.wait(partial(registered, unit), 60, f"{unit} registered")
        status, _ = api(unit, "PUT", "/api/v1/endpoints/Phone-Fax1/media",
                        {"source": {"tone": [1000 if unit == "alice" else 440]}})
        assert status == 200
    try:
        status, body = api("alice", "POST", "/api/v1/endpoints/Phone-Fax1/dial", {"number": "bob"})
        assert status == 200, body
        lab.wait(lambda: api("bob", "POST", "/api/v1/endpoints/Phone-Fax1/answer")[0] == 200, 20, "bob answers")

        def hearing(unit: str, hz: float) -> dict[str, Any] | None:
            """The unit's connected call once half a second of audio came in and its tone is ``hz``."""
            calls = [c for c in api(unit, "GET", "/api/v1/calls")[1]["calls"] if c["state"] == "connected"]
            c = calls[0] if calls else {}
            heard = c.get("packets_received", 0) > 25 and c.get("frequency") is not None
            return c if heard and abs(c["frequency"] - hz) < 15 else None

        for unit, hears in (("alice", 440), ("bob", 1000)):
            c = lab.wait(partial(hearing, unit, hears), 20, f"{unit} hears the other's tone")
            assert c["srtp"] is True and c["key_management"] == "SDES" and c["undecryptable"] == 0, c
            assert c["media_remote"].split(":")[0] == UNITS["bob" if unit == "alice" else "alice"], c
    finally:
        api("alice", "POST", "/api/v1/endpoints/Phone-Fax1/hangup")
    lab.wait(lambda: not [c for c in api("bob", "GET", "/api/v1/calls")[1]["calls"] if c["state"] == "connected"], 20,
         "the call ended at bob's")

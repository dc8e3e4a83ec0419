"""Two network namespaces joined by a veth pair, for the tests of the unit's DHCP client (a real dnsmasq in one
namespace, the unit in the other): nothing ever appears in the host's namespace, and both are deleted at the end.
The ``netns`` fixture (tests/interop/conftest.py) wraps :func:`netns_pair`."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from emulator.protocols.dhcp import DhcpError, DhcpMessage
from testkit.peers import REQUIRE_PEERS, require_peer
from tests.interop.acs import TestAcs, load_validator

REPO = Path(__file__).resolve().parents[2]
CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003


# ---------------------------------------------------------------------------------------------- namespaces
@dataclass
class NetnsPair:
    srv: str
    cpe: str
    srv_if: str
    cpe_if: str
    srv_ip: str
    cpe_ip: str
    cpe_mac: str
    ip: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def exec_args(self, ns: str, *argv: str) -> list[str]:
        return [self.ip, "netns", "exec", ns, *argv]

    def spawn(self, ns: str, argv: list[str], out: Path) -> subprocess.Popen[bytes]:
        with open(out, "wb") as f:
            p = subprocess.Popen(self.exec_args(ns, *argv), stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
        self.procs.append(p)
        return p


def _ip(ip: str, *args: str) -> None:
    r = subprocess.run([ip, *args], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


@contextlib.contextmanager
def netns_pair() -> Iterator[NetnsPair]:
    peers = require_peer("ip", "dnsmasq")
    ip = peers["ip"]
    rand = secrets.token_hex(3)
    n = 1 + secrets.randbelow(253)
    pair = NetnsPair(srv=f"dgwt-srv-{rand}", cpe=f"dgwt-cpe-{rand}", srv_if=f"dgs{rand}", cpe_if=f"dgc{rand}",
                     srv_ip=f"10.254.{n}.1", cpe_ip=f"10.254.{n}.2",
                     cpe_mac="00:90:f8:" + ":".join(secrets.token_hex(3)[i:i + 2] for i in (0, 2, 4)), ip=ip)
    created: list[str] = []

    def cleanup() -> None:  # idempotent; also registered with atexit in case the test run is interrupted
        for p in reversed(pair.procs):
            _stop(p)
        while created:
            subprocess.run([ip, "netns", "del", created.pop()], capture_output=True, timeout=20)

    atexit.register(cleanup)
    try:
        try:
            for ns in (pair.srv, pair.cpe):
                _ip(ip, "netns", "add", ns)
                created.append(ns)
        except OSError as e:
            msg = f"cannot create a network namespace on this machine (root and CAP_SYS_ADMIN needed): {e}"
            if REQUIRE_PEERS:
                pytest.fail(msg)
            pytest.skip(msg)  # only without DGW_REQUIRE_PEERS=1 (it fails above)
        # The veth ends are created directly inside the namespaces: nothing ever appears in the host's.
        _ip(ip, "link", "add", pair.srv_if, "netns", pair.srv, "type", "veth", "peer", "name", pair.cpe_if,
            "netns", pair.cpe)
        for ns, ifname, addr in ((pair.srv, pair.srv_if, pair.srv_ip), (pair.cpe, pair.cpe_if, pair.cpe_ip)):
            if ns == pair.cpe:
                _ip(ip, "-n", ns, "link", "set", ifname, "address", pair.cpe_mac)
            _ip(ip, "-n", ns, "addr", "add", f"{addr}/24", "dev", ifname)
            _ip(ip, "-n", ns, "link", "set", ifname, "up")
            _ip(ip, "-n", ns, "link", "set", "lo", "up")
        yield pair
    finally:
        cleanup()
        atexit.unregister(cleanup)
        left = subprocess.run([ip, "netns", "list"], capture_output=True, text=True).stdout
        assert pair.srv not in left and pair.cpe not in left, left


def in_netns(ns: str, make: Callable[[], socket.socket]) -> socket.socket:
    """A socket created inside namespace ``ns`` (by a thread that joins it; the test's threads stay put)."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {ns}")
            finally:
                os.close(fd)
            result["sock"] = make()
        except BaseException as e:  # handed to the caller
            result["error"] = e

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    sock: socket.socket = result["sock"]
    return sock


# ---------------------------------------------------------------------------------------------- peers
class DhcpSniffer:
    """Every DHCP message sent to port 67 on one interface (an AF_PACKET socket in the server namespace)."""

    def __init__(self, pair: NetnsPair) -> None:
        def make() -> socket.socket:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.bind((pair.srv_if, 0))
            s.setblocking(False)
            return s

        self.sock = in_netns(pair.srv, make)
        self.seen: list[DhcpMessage] = []
        self.udp67 = 0

    def drain(self) -> list[DhcpMessage]:
        while True:
            try:
                frame = self.sock.recv(65535)
            except BlockingIOError:
                return self.seen
            if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
                continue
            ihl = (frame[14] & 0x0F) * 4
            udp = 14 + ihl
            if int.from_bytes(frame[udp + 2:udp + 4], "big") != 67:
                continue
            self.udp67 += 1
            with contextlib.suppress(DhcpError):
                self.seen.append(DhcpMessage.parse(frame[udp + 8:]))

    def close(self) -> None:
        self.sock.close()


def server_listener(pair: NetnsPair, port: int = 0) -> socket.socket:
    """A listening TCP socket on the server's address, opened inside the server namespace (non-blocking)."""

    def make() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((pair.srv_ip, port))
        s.listen(64)
        s.setblocking(False)
        return s

    return in_netns(pair.srv, make)


async def start_acs(pair: NetnsPair) -> tuple[TestAcs, web.AppRunner]:
    """The scripted ACS, listening on the server's address inside the server namespace."""
    sock = server_listener(pair)
    acs = TestAcs(validator=load_validator(), host=pair.srv_ip)
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/acs", acs._post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    acs.url = f"http://{pair.srv_ip}:{sock.getsockname()[1]}/acs"
    return acs, runner


def start_dnsmasq(pair: NetnsPair, tmp: Path, *options: str) -> subprocess.Popen[bytes]:
    args = [
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", f"--interface={pair.srv_if}", "--bind-interfaces",
        "--except-interface=lo", "--port=0", "--leasefile-ro", f"--pid-file={tmp / 'dnsmasq.pid'}",
        "--log-dhcp", "--log-facility=-", "--dhcp-authoritative",
        f"--dhcp-range={pair.cpe_ip},{pair.cpe_ip},255.255.255.0,120",
        f"--dhcp-host={pair.cpe_mac},{pair.cpe_ip}",
        *options,
    ]
    p = pair.spawn(pair.srv, args, tmp / "dnsmasq.log")
    deadline = time.monotonic() + 10
    while "started" not in (tmp / "dnsmasq.log").read_text(errors="replace"):
        if p.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"dnsmasq did not start: {(tmp / 'dnsmasq.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return p


def start_unit(pair: NetnsPair, tmp: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    ready = tmp / "ready.json"
    out = tmp / "unit.log"
    argv = [sys.executable, "-m", "emulator", "run", "--state-dir", str(tmp / "state"), "--ready-file", str(ready),
            "--port-mode", "auto", "--api-port", "0", "--no-fsync", "--log-level", "debug", *extra]
    return pair.spawn(pair.cpe, argv, out), out


def lab_file(pair: NetnsPair, tmp: Path, settings: str) -> Path:
    """``tmp/lab.toml``: one unit, ``cpe``, at the unit's address with its DHCP client on its end of the veth;
    ``settings``: its configuration script lines (applied at its first boot). For ``start_unit(..., "--lab", ...)``."""
    path = tmp / "lab.toml"
    path.write_text(f'[[unit]]\nname = "cpe"\nhost = "{pair.cpe_ip}"\nallow_non_loopback = true\n'
                    f'dhcp_interface = "{pair.cpe_if}"\napi_port = 0\nsettings = """\n{settings}\n"""\n')
    return path


async def wait_ready(p: subprocess.Popen[bytes], tmp: Path, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    ready = tmp / "ready.json"
    while not ready.exists():
        if p.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the unit did not start: {(tmp / 'unit.log').read_text(errors='replace')[-3000:]}")
        await asyncio.sleep(0.1)
    doc: dict[str, Any] = json.loads(ready.read_text())
    return doc


def log_events(path: Path, name: str) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                ev = json.loads(line)
                if ev.get("event") == name:
                    out.append(ev)
    return out



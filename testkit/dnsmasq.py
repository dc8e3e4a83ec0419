"""dnsmasq as a DNS server for one domain (SRV, NAPTR, A records), on a loopback address and an unprivileged
port (a unit's ``dns_port`` sends its queries there), for the tests and the benchmarks."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from testkit.peers import free_port, require_peer
from testkit.process import stop_process

__all__ = ["Dnsmasq", "start_dnsmasq"]


@dataclass
class Dnsmasq:
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)


def start_dnsmasq(directory: Path, records: list[str], *, host: str, domain: str,
                  log_queries: bool = True) -> Dnsmasq:
    """dnsmasq answering only ``records`` (``--srv-host=...`` etc.) for ``domain`` on ``host`` at a free port."""
    binary = require_peer("dnsmasq")["dnsmasq"]
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port(host, socket.SOCK_DGRAM)
    log_path = directory / "dnsmasq.log"
    args = [
        binary,
        "--no-daemon",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        f"--listen-address={host}",
        f"--port={port}",
        "--pid-file=",
        *(["--log-queries"] if log_queries else []),
        f"--local=/{domain}/",
        "--log-facility=-",
        *records,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 5
    while "started, version" not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("dnsmasq did not start:\n" + log_path.read_text(errors="replace"))
        time.sleep(0.02)
    return Dnsmasq(host, port, proc, log_path)

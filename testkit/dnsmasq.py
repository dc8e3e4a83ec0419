"""dnsmasq as a DNS server for one domain (SRV, NAPTR, A records), on a loopback address and an unprivileged
port (a unit's ``dns_port`` sends its queries there), for the tests and the benchmarks."""

from __future__ import annotations

import socket
from pathlib import Path

from testkit.peers import free_port, require_peer
from testkit.process import ServerPeer, spawn

__all__ = ["Dnsmasq", "start_dnsmasq"]


class Dnsmasq(ServerPeer):
    """dnsmasq serving DNS over UDP on host:port."""


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
    server = Dnsmasq(spawn(args, log_path, stdin=None), log_path, host, port)
    return server.wait_until(lambda: "started, version" in server.log(), "dnsmasq did not start")

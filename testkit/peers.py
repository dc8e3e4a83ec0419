"""Finding the real peers the tests and benchmarks start (rsyslog, OpenSSH, Kamailio, net-snmp...).

Without ``DGW_REQUIRE_PEERS`` a missing peer skips its test with the reason; with ``DGW_REQUIRE_PEERS=1``
(CI) it fails it: a missing peer never passes silently.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

__all__ = ["REQUIRE_PEERS", "free_port", "require_peer", "udp_bound"]

REQUIRE_PEERS = os.environ.get("DGW_REQUIRE_PEERS") == "1"


def require_peer(*binaries: str) -> dict[str, str]:
    """Return {name: path}; fail (DGW_REQUIRE_PEERS=1) or skip when one is missing."""
    found: dict[str, str] = {}
    for b in binaries:
        path = shutil.which(b) or next(
            (p for p in (f"/usr/sbin/{b}", f"/sbin/{b}", f"/usr/bin/{b}") if os.path.exists(p)), None
        )
        if path is None:
            msg = f"real peer {b!r} is not installed (run `make test` as root to install the peers)"
            if REQUIRE_PEERS:
                pytest.fail(msg)
            pytest.skip(msg + " [DGW_REQUIRE_PEERS unset]")
        found[b] = path
    return found


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def udp_bound(host: str, port: int) -> bool:
    """Something is bound to UDP ``host:port`` (a peer listening there): binding it ourselves fails."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False

"""Shared test helpers.

Real peers (rsyslog, OpenSSH client, net-snmp...) are found on PATH. Without DGW_REQUIRE_PEERS a
missing peer skips its tests with the reason; with DGW_REQUIRE_PEERS=1 (CI) it fails them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import Callable
from typing import Any

import pytest

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


# ---------------------------------------------------------------------------------------------- event loops
# `make run` installs uvloop, so every asynchronous test runs on both event loops: asyncio's and uvloop's
# (ids `[asyncio]` and `[uvloop]`). uvloop is part of the test extras; without it (a user's bare checkout)
# the uvloop half fails under DGW_REQUIRE_PEERS=1 and is skipped otherwise, saying why.
def _uvloop_factory() -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the test extras install it
        msg = "uvloop is not installed (pip install -e '.[speed,test]')"
        if REQUIRE_PEERS:
            pytest.fail(msg)
        pytest.skip(msg)
    return uvloop.new_event_loop()


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": _uvloop_factory}

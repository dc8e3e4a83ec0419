"""What every test shares: the event loops asynchronous tests run on. Helpers to find and start the real peers
live in :mod:`testkit` (``testkit.peers.require_peer``: a missing peer fails under DGW_REQUIRE_PEERS=1)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from testkit.peers import REQUIRE_PEERS

# Fixtures several test modules share (test modules never import each other).
pytest_plugins = ["tests.helpers.cert_lab"]


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
        pytest.skip(msg)  # only without DGW_REQUIRE_PEERS=1 (it fails above)
    return uvloop.new_event_loop()


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": _uvloop_factory}


# ---------------------------------------------------------------------------------------------- logging
@pytest.fixture(autouse=True)
def _logging_restored() -> Any:
    """A test that runs the command in-process configures logging to the stdout pytest captured for it, which
    is closed when the test ends: later tests' log lines would then fail with "I/O operation on closed file".
    Each test ends with structlog's and the root logger's configuration as it found them."""
    root = logging.getLogger()
    handlers, level, config = list(root.handlers), root.level, structlog.get_config()
    yield
    if structlog.get_config() != config:
        structlog.configure(**config)
    if root.handlers != handlers:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
    root.setLevel(level)

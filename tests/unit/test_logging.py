"""The process log (emulator.runtime.logging): JSON lines that keep exceptions, ours and the libraries'."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from emulator.runtime.logging import configure_logging, level_number, report_crash


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """A stream the configuration writes to; structlog and the root logger are put back afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        yield stream
    finally:
        structlog.configure(**saved)
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
        logging.captureWarnings(False)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def fail() -> None:
    raise ValueError("the detail that diagnoses")


def test_an_exception_event_carries_its_traceback(out: io.StringIO) -> None:
    configure_logging("info", stream=out, cache=False)
    log = structlog.get_logger("dgw.test").bind(unit="u1")
    try:
        fail()
    except ValueError:
        log.exception("engine_crashed", service="Cwmp")
    [line] = lines(out)
    assert line["event"] == "engine_crashed" and line["level"] == "error" and line["unit"] == "u1"
    [exc] = line["exception"]
    assert exc["exc_type"] == "ValueError" and exc["exc_value"] == "the detail that diagnoses"
    assert exc["frames"][-1]["name"] == "fail"
    assert "timestamp" in line and "exc_info" not in line


def test_library_records_become_json_lines_with_their_traceback(out: io.StringIO) -> None:
    configure_logging("info", stream=out, cache=False)
    logging.getLogger("asyncssh").info("Accepted SSH client connection")  # below the library level: dropped
    try:
        fail()
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request from %s", "127.0.0.1")
    logging.getLogger("pysnmp").warning("odd %s", "packet")
    first, second = lines(out)
    assert first["event"] == "Error handling request from 127.0.0.1" and first["logger"] == "aiohttp.server"
    assert first["level"] == "error" and first["exception"][0]["exc_type"] == "ValueError"
    assert second == {**second, "event": "odd packet", "logger": "pysnmp", "level": "warning"}


def test_levels(out: io.StringIO) -> None:
    configure_logging("warning", library_level="debug", stream=out, cache=False)
    structlog.get_logger().info("hidden")
    structlog.get_logger().warning("shown")
    logging.getLogger("aiohttp").info("hidden too")  # never more verbose than our own level
    assert [line["event"] for line in lines(out)] == ["shown"]
    assert level_number("debug") == logging.DEBUG and level_number(30) == 30 and level_number("nonsense") == 20


async def test_a_crashed_task_is_reported_with_its_traceback() -> None:
    async def crash() -> None:
        fail()

    with capture_logs() as events:
        log = structlog.get_logger("dgw.test").bind(unit="u1")
        task = asyncio.get_running_loop().create_task(crash())
        task.add_done_callback(report_crash(log, "engine_crashed", service="Hoc"))
        await asyncio.gather(task, return_exceptions=True)
        waiting = asyncio.get_running_loop().create_task(asyncio.sleep(30))
        waiting.add_done_callback(report_crash(log, "engine_crashed"))
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await asyncio.sleep(0)  # done-callbacks run on the next turn of the loop
    [event] = events
    assert event["event"] == "engine_crashed" and event["service"] == "Hoc" and event["unit"] == "u1"
    assert event["log_level"] == "error" and isinstance(event["exc_info"], ValueError)

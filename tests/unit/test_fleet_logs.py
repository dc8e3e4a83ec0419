"""A big lab's log: per-unit events counted and summarised (detail at debug), and the console renderer for a
person with the unit's name first."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import structlog

from emulator.fleet.logs import UnitDetail
from emulator.runtime.logging import configure_logging


def _log(detail: UnitDetail, fmt: str = "json") -> tuple[Any, io.StringIO]:
    out = io.StringIO()
    configure_logging("info", stream=out, cache=False, fmt=fmt, processors=[detail])
    return structlog.get_logger("t"), out


@pytest.fixture(autouse=True)
def _restore() -> Any:
    yield
    structlog.reset_defaults()


def test_a_big_lab_prints_counts_instead_of_every_units_lines() -> None:
    detail = UnitDetail(units=1000)
    log, out = _log(detail)
    for i in range(1000):
        log.bind(unit=f"u{i:04d}").info("snmp_started", port=161)
        log.bind(unit=f"u{i:04d}").warning("snmp_trap_unreachable")
    log.bind(unit="u0007").error("service_start_failed", service="Cli")  # errors always print whole
    log.info("ready", units=1000)  # not a unit's event
    detail.flush(log)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["event"], x.get("unit"), x.get("of"), x.get("count")) for x in lines] == [
        ("service_start_failed", "u0007", None, None), ("ready", None, None, None),
        ("unit_events", None, "snmp_started", 1000), ("unit_events", None, "snmp_trap_unreachable", 1000)]
    assert lines[2]["first_unit"] == "u0000" and lines[3]["level"] == "warning"
    detail.flush(log)
    assert len(out.getvalue().splitlines()) == 4  # counted once


def test_a_small_lab_or_debug_prints_every_line() -> None:
    for detail in (UnitDetail(units=3), UnitDetail(units=1000, verbose=True)):
        log, out = _log(detail)
        log.bind(unit="a").info("snmp_started")
        assert json.loads(out.getvalue())["unit"] == "a"


def test_console_lines_start_with_the_unit() -> None:
    log, out = _log(UnitDetail(), fmt="console")
    log.bind(unit="fxs").warning("snmp_trap_unreachable", destination="192.0.2.1:162")
    log.info("ready", units=1)
    first, second = out.getvalue().splitlines()
    assert first.startswith("fxs ") and "snmp_trap_unreachable" in first and "destination=192.0.2.1:162" in first
    assert "ready" in second and not second.startswith("fxs") and not first.lstrip().startswith("{")

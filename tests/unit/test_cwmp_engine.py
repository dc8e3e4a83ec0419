"""Cwmp engine decisions that need no socket: ACS URL source, periodic schedule, VALUE CHANGE bookkeeping."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from emulator.faces.cwmp import CwmpEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    return Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"),
                fsync=False)


def test_acs_url_sources(unit: Unit) -> None:
    e = CwmpEngine(unit, dhcp_acs_url="http://127.0.0.1:1/dhcp")
    assert e.acs_url() == "http://127.0.0.1:1/dhcp"  # factory: Dhcp
    unit.config.set("Cwmp.AcsStaticUrl", "http://127.0.0.1:2/static")
    assert e.acs_url() == "http://127.0.0.1:1/dhcp"
    unit.config.set("Cwmp.AcsUrlConfigSource", "Static")
    assert unit.config.get("Cwmp.AcsUrl") == "http://127.0.0.1:2/static"
    unit.config.set("Cwmp.AcsUrlConfigSource", "DhcpWithFailover")
    assert CwmpEngine(unit).acs_url() == "http://127.0.0.1:2/static"
    unit.config.set("Cwmp.AcsUrlConfigSource", "Dhcp")
    assert CwmpEngine(unit).acs_url() == ""


def test_periodic_schedule_follows_the_reference_time(unit: Unit) -> None:
    e = CwmpEngine(unit)
    assert e._next_periodic(1000.0) is None  # disabled
    unit.config.set("Cwmp.PeriodicInformEnable", "Enable")
    unit.config.set("Cwmp.PeriodicInformInterval", 600)
    e._periodic_ref = 1000.0  # unknown time (0001-01-01...): counted from the start
    assert e._next_periodic(1000.0) == 1600.0
    assert e._next_periodic(1700.0) == 2200.0
    unit.config.set("Cwmp.PeriodicInformTime", "2026-01-01T00:05:00Z")  # phase: xx:05, xx:15...
    import datetime as dt

    base = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC).timestamp()
    assert e._next_periodic(base) == base + 300
    assert e._next_periodic(base + 300) == base + 900


def test_value_change_is_recorded_for_notified_parameters_only(unit: Unit) -> None:
    e = CwmpEngine(unit)
    unit.config.subscribe(e._on_change)
    e.model_state.notifications["Device.X_0090F8_Cwmp.PeriodicInformInterval"] = 1
    e.model_state.notifications["Device.ManagementServer.URL"] = 2
    unit.config.set("Hoc.StaticTimeZone", "EST5EDT")  # not notified
    assert e.queue.events == []
    unit.config.set("Cwmp.PeriodicInformInterval", 60, source="cli")
    assert e.queue.changed == ["Device.X_0090F8_Cwmp.PeriodicInformInterval"]
    assert ("4 VALUE CHANGE", "") in e.queue.events and not e._session_due()  # passive: next session
    unit.config.set("Cwmp.AcsStaticUrl", "http://127.0.0.1:3/acs", source="web")
    assert "Device.ManagementServer.URL" in e.queue.changed and e._session_due()  # active: now
    e.queue.changed.clear()
    unit.config.set("Cwmp.PeriodicInformInterval", 70, source="cwmp")  # set by the ACS: not notified back
    assert e.queue.changed == []
    unit.factory_reset()
    assert ("0 BOOTSTRAP", "") in e.queue.events and e.model_state.notifications == {}


async def test_malformed_connection_requests_get_400_and_one_line(unit: Unit,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A scan of the connection-request port (TR-069 §3.2.2) is refused with 400 and one log line each,
    without the traceback aiohttp writes by default."""
    caplog.set_level(logging.DEBUG)
    e = CwmpEngine(unit)
    with capture_logs() as events:
        await e.start()
        try:
            port = int(unit.listening["cwmp"].rsplit(":", 1)[1].split("/")[0])
            for data in (b"GET /x HTTP/1.1\r\n\r\n", b"\x00\x01garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost\r\n\r\n"):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(data)
                answer = await asyncio.wait_for(reader.read(4096), 5.0)
                writer.close()
                assert answer.split(b" ", 2)[1] == b"400", answer[:60]
        finally:
            await e.stop()
    bad = [ev for ev in events if ev["event"] == "http_bad_request"]
    assert len(bad) == 3 and all(ev["server"] == "cwmp" and ev["unit"] == "u1" for ev in bad)
    assert not [ev for ev in events if "exc_info" in ev or ev.get("log_level") == "error"]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]

"""Cwmp engine decisions that need no socket: ACS URL source, periodic schedule, VALUE CHANGE bookkeeping."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from emulator.faces.cwmp import CwmpEngine
from emulator.runtime.clock import UnitClock
from emulator.runtime.timers import Periodic
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

    def next_periodic(now: float) -> float | None:
        grid = e.periodic_grid()
        return None if grid is None else Periodic.start(*grid, now).due

    assert next_periodic(1000.0) is None  # disabled
    unit.config.set("Cwmp.PeriodicInformEnable", "Enable")
    unit.config.set("Cwmp.PeriodicInformInterval", 600)
    e._periodic_ref = 1000.0  # unknown time (0001-01-01...): counted from the start
    assert next_periodic(1000.0) == 1600.0
    assert next_periodic(1700.0) == 2200.0
    unit.config.set("Cwmp.PeriodicInformTime", "2026-01-01T00:05:00Z")  # phase: xx:05, xx:15...
    base = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC).timestamp()
    assert next_periodic(base) == base + 300
    assert next_periodic(base + 300) == base + 900


EARLY_S = 0.0007  # uvloop's timers were measured to wake up to ~0.7 ms before their deadline


class VirtualClock(UnitClock):
    """A unit clock that moves only when the engine waits: a timed wait of more than 2 ms "sleeps" until
    EARLY_S before its deadline (the early wake-up), a shorter one its whole length; past ``end`` the wait
    lasts until the engine is stopped. Deterministic, and a test of many periods takes no real time."""

    def __init__(self, t: float, end: float) -> None:
        super().__init__()
        self.t, self.end = t, end

    def now(self) -> float:
        return self.t + self.offset

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_wait_for = asyncio.wait_for

        async def wait_for(aw: Any, timeout: float | None) -> Any:
            if timeout is None or self.t + timeout > self.end:
                return await real_wait_for(aw, None)
            task = asyncio.ensure_future(aw)
            await asyncio.sleep(0)  # a wake-up already due (an Event set) ends the wait at once
            if task.done():
                return task.result()
            task.cancel()
            self.t += timeout - EARLY_S if timeout > 0.002 else timeout
            raise TimeoutError

        monkeypatch.setattr(asyncio, "wait_for", wait_for)


async def test_one_periodic_session_per_period_when_the_loop_wakes_early(unit: Unit,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    periods = 10
    clock = VirtualClock(1.8e9, end=1.8e9 + 30 * periods + 15)
    unit.clock = clock
    clock.install(monkeypatch)
    unit.config.set("Cwmp.AcsUrlConfigSource", "Static")
    unit.config.set("Cwmp.AcsStaticUrl", "http://127.0.0.1:9/acs")
    unit.config.set("Cwmp.PeriodicInformInterval", 30)
    unit.config.set("Cwmp.PeriodicInformEnable", "Enable")
    e = CwmpEngine(unit)
    sessions: list[tuple[float, list[str]]] = []

    async def session(url: str) -> bool:  # an ACS that accepts every Inform at once
        events, changed = list(e.queue.events), list(e.queue.changed)
        sessions.append((unit.clock.now(), [code for code, _ in events]))
        e.queue.delivered(events, changed)
        e.bootstrap_url = url
        return True

    monkeypatch.setattr(e, "run_session", session)
    await e.start()
    for _ in range(1000):  # until the clock stands still at its end
        t = clock.t
        await asyncio.sleep(0.005)
        if clock.t == t and clock.t > clock.end - 30:
            break
    await e.stop()
    start = e._periodic_ref  # the grid's reference: PeriodicInformTime is the unknown time
    periodic = [t - start for t, codes in sessions if "2 PERIODIC" in codes]
    # one session per due time (there were two, 0.7 ms apart), never before it
    assert [round(t) for t in periodic] == [30 * k for k in range(1, periods + 1)], sessions
    assert all(t >= 30 * k for k, t in enumerate(periodic, start=1))


async def test_a_past_retry_time_without_an_acs_does_not_spin(unit: Unit, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed sessions left events and a retry count; the ACS URL is then gone (Dhcp, no offer). The loop
    waits for a change instead of waking at once, forever, for a retry time that has passed."""
    e = CwmpEngine(unit)
    e.retry_count = 2
    turns = 0
    acs_url = e.acs_url

    def counted() -> str:
        nonlocal turns
        turns += 1
        return acs_url()

    monkeypatch.setattr(e, "acs_url", counted)
    await e.start()
    await asyncio.sleep(0.3)
    await e.stop()
    assert e.queue.events and e.acs_status == "NoUrl"
    assert turns <= 3


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

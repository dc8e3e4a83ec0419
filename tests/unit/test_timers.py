"""Timers that fire once per due time (emulator.runtime.timers): early, late and reconfigured wake-ups."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.runtime.timers import MIN_SLEEP, Deadline, Periodic, sleep_until


def test_first_due_time_is_on_the_grid_after_now() -> None:
    p = Periodic.start(interval=30.0, reference=1000.0, now=1000.0)
    assert p.due == 1030.0  # strictly after now: starting does not fire
    assert Periodic.start(30.0, 1000.0, now=1044.0).due == 1060.0
    assert Periodic.start(30.0, 1000.0, now=900.0).due == 910.0  # a reference in the future still sets the phase


def test_an_early_wake_up_fires_nothing_and_the_due_time_fires_once() -> None:
    p = Periodic.start(30.0, 0.0, now=0.0)
    assert not p.poll(30.0 - 0.0007)  # uvloop woke 0.7 ms early
    assert p.due == 30.0  # still pending
    assert p.poll(30.0)
    assert p.due == 60.0
    assert not p.poll(30.0 + 0.003)  # the same due time never fires twice (the measured double Inform)
    assert not p.poll(60.0 - 0.0007)
    assert p.poll(60.0 + 0.0001)
    assert p.due == 90.0


def test_a_late_wake_up_fires_once_and_stays_on_the_grid() -> None:
    p = Periodic.start(30.0, 0.0, now=0.0)
    assert p.poll(30.0 + 4.5)  # late by seconds
    assert p.due == 60.0
    assert p.poll(60.0 + 95.0)  # three periods missed: one fire, not a burst
    assert not p.poll(60.0 + 95.0)
    assert p.due == 180.0


def test_a_clock_stepped_back_realigns_the_schedule() -> None:
    p = Periodic.start(30.0, 0.0, now=3600.0)
    assert p.due == 3630.0
    assert not p.poll(100.0)  # the wall clock went back an hour
    assert p.due == 120.0
    assert not p.poll(119.0) and p.poll(120.0)


def test_reconfiguration_moves_to_the_new_grid() -> None:
    p = Periodic.start(30.0, 0.0, now=0.0)
    assert p.poll(30.0)
    p.reconfigure(30.0, 0.0, now=40.0)  # unchanged values: the pending due time is kept
    assert p.due == 60.0
    p.reconfigure(600.0, 5.0, now=40.0)  # new interval and phase
    assert p.due == 605.0
    p.reconfigure(10.0, 5.0, now=41.0)  # a shorter interval takes effect at once
    assert p.due == 45.0
    assert p.poll(45.0) and not p.poll(45.0)
    with pytest.raises(ValueError):
        p.reconfigure(0.0, 5.0, now=50.0)
    with pytest.raises(ValueError):
        Periodic.start(-1.0, 0.0, 0.0)


@given(
    interval=st.floats(min_value=0.01, max_value=1e5),
    reference=st.floats(min_value=-1e9, max_value=2e9),
    jitters=st.lists(st.floats(min_value=-0.002, max_value=0.002), min_size=1, max_size=40),
)
def test_every_due_time_fires_exactly_once_under_jitter(interval: float, reference: float,
                                                        jitters: list[float]) -> None:
    now = 1.7e9
    p = Periodic.start(interval, reference, now)
    fired: list[float] = []
    for j in jitters:
        due = p.due
        woke = due + j * interval
        for t in (woke, max(woke, due)):  # the wake-up, then the wake-up after going back to sleep
            if p.poll(t):
                fired.append(due)
                assert p.due > t and p.due > due
    assert fired == sorted(set(fired)) and len(fired) == len(jitters)


def test_deadline_fires_once_per_arming() -> None:
    d = Deadline()
    assert not d.armed and not d.poll(1e12)
    d.arm(100.0)
    assert d.armed and not d.poll(99.9993)
    assert d.poll(100.0) and not d.poll(100.5) and not d.armed
    d.arm(200.0)
    d.cancel()
    assert not d.poll(300.0)


async def test_sleep_until_goes_back_to_sleep_when_woken_early(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each real sleep is cut 20 % short (an early timer): sleep_until still returns at or after the due time."""
    real_wait_for = asyncio.wait_for
    real_sleep = asyncio.sleep
    calls: list[float] = []

    async def early_sleep(delay: float, result: object = None) -> object:
        calls.append(delay)
        return await real_sleep(delay * 0.8, result)

    async def early_wait_for(aw: object, timeout: float | None) -> object:
        calls.append(timeout or 0.0)
        return await real_wait_for(aw, None if timeout is None else timeout * 0.8)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "sleep", early_sleep)
    monkeypatch.setattr(asyncio, "wait_for", early_wait_for)
    due = time.monotonic() + 0.05
    assert await sleep_until(time.monotonic, due) is False
    assert time.monotonic() >= due and len(calls) >= 2
    calls.clear()
    wake = asyncio.Event()
    due = time.monotonic() + 0.05
    assert await sleep_until(time.monotonic, due, wake) is False
    assert time.monotonic() >= due and len(calls) >= 2
    assert min(calls) >= MIN_SLEEP


async def test_sleep_until_returns_on_wake() -> None:
    wake = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, wake.set)
    start = time.monotonic()
    assert await sleep_until(time.monotonic, start + 30.0, wake) is True
    assert time.monotonic() - start < 5.0 and wake.is_set()
    assert await sleep_until(time.monotonic, None, wake) is True  # already set: at once
    wake.clear()
    asyncio.get_running_loop().call_later(0.01, wake.set)
    assert await sleep_until(time.monotonic, None, wake) is True
    with pytest.raises(ValueError):
        await sleep_until(time.monotonic, None)


async def test_a_cancelled_task_does_not_go_to_sleep_after_its_cancellation_was_swallowed() -> None:
    """Python 3.11's asyncio.wait_for can swallow a cancellation (returning, or raising TimeoutError, when its
    timeout or its event comes at the same moment): the next sleep_until ends the task instead of sleeping."""

    async def loop_body() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            pass  # swallowed, as such a wait_for does
        await sleep_until(time.monotonic, time.monotonic() + 60, asyncio.Event())

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.ensure_future(loop_body()), 10)

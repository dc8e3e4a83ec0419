"""Timers that fire once per due time: a pure periodic schedule, a one-shot deadline, and one asyncio sleep.

Why this module exists: an event loop may wake a timer before its deadline (uvloop rounds delays to whole
milliseconds and has been measured ~0.7 ms early; the unit clock is wall time while the loop sleeps on the
monotonic clock, so the two drift apart). An engine that woke early and recomputed "the next due time after
now" got the SAME due time back and started a second session at once (periodic Informs were doubled 3-22 ms
apart). Here the schedule remembers which due time it has fired, so:

* a wake-up before the due time fires nothing (:func:`sleep_until` simply goes back to sleep);
* each due time fires exactly once, whether the wake-up comes on time, early or late;
* a late wake-up (a busy loop, a suspended process, a clock stepped forward) fires ONCE, not one burst per
  missed period, and the next due time stays on the grid ``reference + k * interval``;
* a clock stepped back by more than a period re-aligns the schedule to the grid after the new time instead of
  waiting out the step.

Times are plain floats on whatever clock the caller injects: the unit's wall clock (``unit.clock.now``) for
schedules anchored to a date such as TR-069 ``PeriodicInformTime`` (TR-069 §3.2.1.1, DGW
``Cwmp.PeriodicInformTime``), the unit's monotonic uptime (``unit.clock.uptime``) for delays such as
``Hoc.SntpSynchronizationPeriod`` that must not move when SNTP steps the wall clock.

Use (an engine loop; ``wake`` is the engine's "something changed" event)::

    schedule = Periodic.start(interval=30, reference=ref, now=clock.now())
    while True:
        woken = await sleep_until(clock.now, schedule.due, wake)
        if schedule.poll(clock.now()):
            ...  # exactly once per due time
        if woken:
            wake.clear()
            schedule.reconfigure(new_interval, new_reference, clock.now())

:class:`Deadline` is the one-shot form (a registration refresh, a retry back-off): armed with a due time,
``poll`` answers True once, then the deadline is spent until armed again.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MIN_SLEEP", "Deadline", "Periodic", "sleep_until"]

# The shortest sleep when a wake-up came early: one millisecond, uvloop's timer resolution, so that an early
# wake-up never turns into a busy loop of zero-length sleeps.
MIN_SLEEP = 0.001


def _grid_after(reference: float, interval: float, now: float) -> float:
    """The first point of ``reference + k * interval`` (any integer k) strictly after ``now``."""
    due = reference + (math.floor((now - reference) / interval) + 1) * interval
    while due <= now:  # floating-point rounding may land on ``now`` itself or just before
        due += interval
    return due


@dataclass(slots=True)
class Periodic:
    """Due times ``reference + k * interval`` after the start; each fires once (see the module docstring)."""

    interval: float
    reference: float
    due: float  # the next due time not fired yet

    @classmethod
    def start(cls, interval: float, reference: float, now: float) -> Periodic:
        """A schedule whose first due time is the first grid point strictly after ``now``."""
        if not interval > 0:
            raise ValueError(f"interval must be positive, got {interval!r}")
        return cls(interval, reference, _grid_after(reference, interval, now))

    def poll(self, now: float) -> bool:
        """True once when ``now`` has reached the due time; the schedule then moves to the next grid point
        after both ``now`` and the fired due time (a late wake-up fires once and skips the missed ones)."""
        if now < self.due:
            if self.due - now > self.interval:  # the clock stepped back by more than a period
                self.due = _grid_after(self.reference, self.interval, now)
            return False
        self.due = _grid_after(self.reference, self.interval, max(now, self.due))
        return True

    def reconfigure(self, interval: float, reference: float, now: float) -> None:
        """New interval or reference time: the next due time is the first point of the new grid after ``now``.
        The same values change nothing (a due time already pending is kept, never fired twice)."""
        if not interval > 0:
            raise ValueError(f"interval must be positive, got {interval!r}")
        if interval == self.interval and reference == self.reference:
            return
        self.interval, self.reference = interval, reference
        self.due = _grid_after(reference, interval, now)

    def remaining(self, now: float) -> float:
        return self.due - now


@dataclass(slots=True)
class Deadline:
    """A one-shot timer: armed with a due time, it fires once, then stays spent until armed again."""

    due: float | None = None

    def arm(self, due: float) -> None:
        self.due = due

    def cancel(self) -> None:
        self.due = None

    @property
    def armed(self) -> bool:
        return self.due is not None

    def poll(self, now: float) -> bool:
        """True once when ``now`` has reached the armed due time."""
        if self.due is None or now < self.due:
            return False
        self.due = None
        return True


async def sleep_until(now: Callable[[], float], due: float | None, wake: asyncio.Event | None = None) -> bool:
    """Sleep until ``now() >= due`` on the injected clock, or until ``wake`` is set.

    Returns True when ``wake`` ended the sleep (it is left set: the caller clears it once it has looked at
    what changed), False when the due time was reached. ``due=None`` waits for ``wake`` only. A wake-up
    before the due time (early timer, clock drift) goes back to sleep for what remains, at least
    :data:`MIN_SLEEP`; the caller therefore never sees an early return for the due time.
    """
    while True:
        _raise_if_cancelling()  # a stop asked before (and swallowed on the way here) does not sleep first
        if wake is not None and wake.is_set():
            return True
        if due is None:
            if wake is None:
                raise ValueError("sleep_until needs a due time or a wake event")
            await wake.wait()
            return True
        remaining = due - now()
        if remaining <= 0:
            return False
        delay = max(remaining, MIN_SLEEP)
        if wake is None:
            await asyncio.sleep(delay)
        else:
            try:
                await asyncio.wait_for(wake.wait(), delay)
            except TimeoutError:
                pass
            finally:
                _raise_if_cancelling()


def _raise_if_cancelling() -> None:
    """A cancellation that Python 3.11's ``asyncio.wait_for`` swallowed (its timeout, or the awaited event, coming
    at the same moment: it then returns or raises TimeoutError), here or earlier in the task (a DNS query, a
    connect), is raised here, so the task ends instead of going to sleep. Without it a registration loop slept
    for its whole retry delay: a SipEp stop right after a start with the proxies down waited for the registration
    retry (10 s in bench/fleet.py: the stop timed out for 325 of 1,000 units)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError

"""The media clock of one event loop: the one 1 ms timer and the one ``epoll`` that every media engine on the
loop (all the units of a lab) shares.

A single ticker (``loop.call_later`` every 1 ms) has each engine send the streams of the current slot of the
20 ms packet period, then polls (no wait) one ``epoll`` of all their sockets, with exactly one ``recv`` per
ready socket. No task, no timer, no asyncio reader per stream, and one wake-up per millisecond for the whole
process rather than per unit (on a VM each wake-up costs tens of µs of CPU before any work); receive work is
batched per millisecond (at most 1 ms of added latency) and sends keep priority under load. Where
``select.epoll`` does not exist the sockets go to ``loop.add_reader`` instead (same one-recv callbacks;
measured on Linux, that costs more CPU per packet than the polled epoll).

The clock knows engines as :class:`SlotSender` (``MediaEngine`` is one) and readers as callbacks.
"""

from __future__ import annotations

import asyncio
import math
import select
import time
import weakref
from collections.abc import Callable
from typing import Protocol

import structlog

__all__ = ["PERIOD_SLOTS", "SLOT", "SLOT_FILL", "MediaClock", "SlotSender"]

SLOT = 0.001  # ticker period, seconds
PERIOD_SLOTS = 20  # 20 ms packetisation
SLOT_FILL = 8  # streams a slot takes before the next one is opened (a few calls: a few wake-ups per period)
_RECV_ROUNDS = 8  # epoll rounds per tick (one recv per ready socket each)
_CATCH_UP_LIMIT = 0.2  # a loop stalled longer than this skips the missed slots instead of bursting
_USE_EPOLL = hasattr(select, "epoll")

log = structlog.get_logger("dgw.media")


class SlotSender(Protocol):
    """What the clock drives: an engine whose streams send in the slots of the 20 ms period."""

    skipped_slots: int  # slots missed after a stalled loop (counted, not sent in a burst)

    def send_slot(self, slot: int, now: float, due: float) -> None:
        """Every stream of `slot` sends its packet (ideally at `due`, monotonic seconds)."""
        ...


class MediaClock:
    """The media ticker of one event loop, shared by every engine on it (a lab's units): one ``call_at``
    timer every 1 ms and one ``epoll`` of all their media sockets.

    Per tick: each active engine sends the streams of the current slot (:meth:`MediaEngine._send_slot`),
    then one ``epoll.poll(0)`` and one ``recv`` per ready socket. A lab of many units wakes the process at
    most 1,000 times a second, not 1,000 times per unit; every wake-up costs (loop iteration, context switch,
    caches refilled after the sleep: ~60-150 µs of CPU on a VM) whatever work it brings. So a new stream goes
    to the first slot holding fewer than :data:`SLOT_FILL` streams of the whole loop (a few calls wake the
    process a few times per 20 ms, not 20), then to the least loaded slot, and the ticker sleeps through
    empty slots.
    """

    __slots__ = (
        "closed", "engines", "epoll", "handlers", "loop", "next_tick", "occupancy", "on_error", "slot", "timer",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.engines: list[SlotSender] = []  # engines with streams in their slots
        self.epoll = select.epoll() if _USE_EPOLL else None
        self.handlers: dict[int, Callable[[float], None]] = {}  # fd -> a stream's reader (one recv)
        self.on_error: dict[int, Callable[[Exception], None]] = {}  # fd -> who hears of its reader's failure
        self.slot = 0
        self.next_tick = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.occupancy = [0] * PERIOD_SLOTS  # streams per slot, all engines
        self.closed = False  # released: engines still holding it take the loop's current clock

    @staticmethod
    def of(loop: asyncio.AbstractEventLoop) -> MediaClock:
        """The clock of `loop`, made on first use (and again once released)."""
        clock = _clocks.get(loop)
        if clock is None:
            clock = _clocks[loop] = MediaClock(loop)
        return clock

    def take_slot(self) -> int:
        """A slot for a new stream: the first one holding fewer than SLOT_FILL streams, else the least loaded."""
        occ = self.occupancy
        slot = next((i for i in range(PERIOD_SLOTS) if occ[i] < SLOT_FILL), -1)
        if slot < 0:
            slot = min(range(PERIOD_SLOTS), key=occ.__getitem__)
        occ[slot] += 1
        return slot

    def occupy(self, slot: int) -> None:
        """A stream takes `slot` too (a 10 ms visit: its second slot, 10 ms after the first)."""
        self.occupancy[slot] += 1

    def free_slot(self, slot: int) -> None:
        if self.occupancy[slot] > 0:
            self.occupancy[slot] -= 1

    def start(self, engine: SlotSender) -> None:
        if engine not in self.engines:
            self.engines.append(engine)
        if self.timer is None:
            self.next_tick = time.monotonic() + SLOT
            self.timer = self.loop.call_later(SLOT, self._tick)

    def stop(self, engine: SlotSender) -> None:
        if engine in self.engines:
            self.engines.remove(engine)
        if not self.engines and self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._release()

    def watch(self, fd: int, on_ready: Callable[[float], None], on_error: Callable[[Exception], None]) -> None:
        """Call ``on_ready(now)`` when `fd` is readable (it does one ``recv``); ``on_error(exc)`` if it raises."""
        if self.epoll is not None:
            self.epoll.register(fd, select.EPOLLIN)
            self.handlers[fd] = on_ready
            self.on_error[fd] = on_error
        else:  # pragma: no cover - non-Linux
            self.loop.add_reader(fd, _read_one, self.loop, on_ready)

    def unwatch(self, fd: int) -> None:
        if self.epoll is not None:
            self.on_error.pop(fd, None)
            if self.handlers.pop(fd, None) is not None:
                self.epoll.unregister(fd)
        else:  # pragma: no cover - non-Linux
            self.loop.remove_reader(fd)
        self._release()

    def _release(self) -> None:
        """Nothing left to tick or watch: close the epoll and forget this loop."""
        if not self.engines and not self.handlers and self.timer is None:
            self.closed = True
            if self.epoll is not None:
                self.epoll.close()
                self.epoll = None
            if _clocks.get(self.loop) is self:
                del _clocks[self.loop]

    def _tick(self) -> None:
        loop = self.loop
        now = time.monotonic()  # not loop.time(): uvloop's is the cached millisecond of the loop iteration
        due = self.next_tick
        engines = self.engines
        if now - due > _CATCH_UP_LIMIT:  # the loop stalled: do not burst, realign
            missed = int((now - due) / SLOT)
            for e in engines:
                e.skipped_slots += missed
            due += missed * SLOT
            self.slot = (self.slot + missed) % PERIOD_SLOTS
        while due <= now + 0.0002:
            slot = self.slot
            for e in tuple(engines):  # an engine whose last stream closes from a callback leaves the list
                e.send_slot(slot, now, due)
            self.slot = (slot + 1) % PERIOD_SLOTS
            due += SLOT
        occ = self.occupancy
        for _ in range(PERIOD_SLOTS - 1):  # sleep through empty slots
            if occ[self.slot]:
                break
            self.slot = (self.slot + 1) % PERIOD_SLOTS
            due += SLOT
        self._receive(now)
        self.next_tick = due
        # a stream may have been closed (or another started) from a callback above: one timer, and none
        # once no engine is active
        if self.timer is not None:
            self.timer.cancel()  # this very handle (harmless) or one start() made meanwhile
        # a delay in whole milliseconds, rounded up: what asyncio's epoll wait does anyway, and uvloop (libuv
        # timers in ms, rounded to nearest) would otherwise call a sub-millisecond delay at once, spinning
        # through empty ticks until the slot is due
        delay = math.ceil((due - time.monotonic()) * 1000.0) / 1000.0
        self.timer = loop.call_later(delay if delay > 0.0 else 0.0, self._tick) if engines else None
        if not engines:
            self._release()

    def _receive(self, now: float) -> None:
        """One ``recv`` per ready socket (level-triggered epoll, no wait): the stream's reader receives
        straight into its SRTP context's buffer and decrypts there. Then the epoll again, up to
        :data:`_RECV_ROUNDS` rounds while it has something: a socket holding a burst (garbage, a peer catching
        up) drains several datagrams per tick, so the queue never outgrows the 20 ms arrivals — ticks can be
        20 ms apart with few calls. In the steady state the second poll finds nothing (one syscall per tick)."""
        ep = self.epoll
        if ep is None:
            return
        handlers = self.handlers
        for _ in range(_RECV_ROUNDS):
            ready = ep.poll(0)
            if not ready:
                return
            for fd, _ev in ready:
                h = handlers.get(fd)
                if h is not None:
                    try:
                        h(now)
                    except Exception as exc:  # a bug in one stream must not stop the other calls
                        self.on_error.get(fd, _unclaimed_failure)(exc)


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaClock] = weakref.WeakKeyDictionary()


def _read_one(loop: asyncio.AbstractEventLoop, on_ready: Callable[[float], None]) -> None:  # pragma: no cover
    """``loop.add_reader`` callback where there is no epoll (non-Linux): the stream's reader, one ``recv``."""
    on_ready(time.monotonic())


def _unclaimed_failure(exc: Exception) -> None:  # pragma: no cover - a reader that unwatched itself, then failed
    log.error("media_reader_error", error=repr(exc))

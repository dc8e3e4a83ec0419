"""Units in this process: build and start them, report where their faces listen, stop them cleanly.

A stop (SIGTERM, SIGINT, or the supervisor going away) is honoured at any moment: while units are being
built, while they start, and after. Units are built one by one with a yield to the event loop between
them, so a signal is seen within one unit's build time; starts run concurrently and are cancelled by a
stop; every unit built is then stopped, within :data:`STOP_TIMEOUT_S` (a wedged stop does not keep the
process alive; a second signal ends it at once).

Where faces listen is published through a callback whenever it changes (a face opened by a service
restart, a face closed): the single-process command rewrites the ready file, a worker tells its
supervisor. Changes within one turn of the event loop are published together.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from emulator.fleet.logs import DETAIL, FLUSH_EVERY_S
from emulator.fleet.ready import FACES, Entry, ReadyFile
from emulator.runtime.spec import UnitSpec

if TYPE_CHECKING:
    from emulator.faces.metrics import MetricsServer
    from emulator.lab import RunningUnit
    from emulator.runtime.unit import Unit

__all__ = ["EXIT_DEADLINE_S", "STOP_TIMEOUT_S", "YOUNG_GC_THRESHOLD", "Runner", "install_stop_signals", "print_faces",
           "run_units", "serving_gc"]

STOP_TIMEOUT_S = 20.0
EXIT_DEADLINE_S = STOP_TIMEOUT_S + 10.0
START_CONCURRENCY = 8  # units starting at the same time in one process (see Runner._start)
PER_UNIT_LINES = 20  # beyond this many units, one summary line instead of a line per unit (a terminal stays readable)

Publish = Callable[[list[Entry], bool], None]  # (changed entries, every unit is ready)

# Once ready, a unit's work is calls and messages, each making thousands of short-lived objects (most freed by
# reference counting at once): at the default young-generation threshold (700 allocations) a collection ran every
# few messages; 7,000 halved the collector's CPU per call (bench/calls.py: 0.45-0.53 -> 0.26 ms).
YOUNG_GC_THRESHOLD = 7_000


def serving_gc() -> None:
    """Once started: what the start made is frozen out of later collections (it lives as long as the units), and
    the young generation collected every :data:`YOUNG_GC_THRESHOLD` allocations."""
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])


class StartFailed(Exception):
    """A unit could not start (its lab settings refused, a port taken): the process exits with ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Runner:
    """The units of this process (a lab, or a worker's share of one)."""

    def __init__(self, specs: Sequence[UnitSpec], publish: Publish, *, worker: int | None = None,
                 metrics: tuple[str, int] | None = None) -> None:
        self.specs = list(specs)
        self.publish = publish
        self.worker = worker
        self.metrics_address = metrics
        self.metrics: MetricsServer | None = None
        self.units: list[RunningUnit] = []
        self.ready = False
        self.log = structlog.get_logger("dgw")
        self._dirty: set[int] = set()
        self._flush_scheduled = False
        self.late_gate = asyncio.Event()  # opened once the ready file is written: the late faces come up then
        self.late_slots = asyncio.Semaphore(START_CONCURRENCY)

    def running_units(self) -> list[Unit]:
        return [ru.unit for ru in self.units]

    async def start_metrics(self) -> str:
        """The process's Prometheus endpoint (before the units, so a scrape can follow a big lab's start)."""
        from emulator.faces.metrics import MetricsServer  # only when asked for: prometheus-client loads then

        assert self.metrics_address is not None
        metrics = MetricsServer(self.running_units, self.log)
        try:
            url = await metrics.start(*self.metrics_address)
        except OSError as e:  # a port taken: the units run anyway, without an endpoint
            self.log.error("metrics_unavailable", address=list(self.metrics_address), error=str(e))
            return ""
        finally:
            self.metrics_address = None
        self.metrics = metrics
        for unit in self.running_units():
            metrics.collector.watch(unit)
        return url

    def entry(self, i: int) -> Entry:
        ru = self.units[i]
        u = ru.unit
        entry: Entry = {"name": u.name, "profile": u.profile.key}
        for face in FACES:
            if face in u.listening:
                entry[face] = u.listening[face]
        if self.worker is not None:
            entry["worker"] = self.worker
        if ru.late is not None and ru.late.coming_up:
            entry["coming_up"] = sorted(ru.late.coming_up)
        return entry

    async def run(self, stop: asyncio.Event, started_at: float) -> int:
        """Run until ``stop``; 0 after a clean stop, else the exit code of a failed start (message printed)."""
        tasks: list[asyncio.Task[None]] = []
        flusher: asyncio.Task[None] | None = None
        try:
            if self.metrics_address is not None:
                await self.start_metrics()
            # No cyclic garbage collection while the units are built and started: the heap only grows then, and
            # each full collection walked all of it (a third of the CPU of a 200-unit start). Once ready, what was
            # made is frozen out of later collections (it lives as long as the units). No collection first: a start
            # leaves 0-5 unreachable objects, and walking 500,000 objects for them blocked the loop ~0.5 s per 200
            # units right after the ready file.
            gc.disable()
            try:
                await self._start(stop, tasks)
            finally:
                gc.enable()
            if stop.is_set():
                self.log.info("stopped_while_starting", units=len(self.units), of=len(self.specs))
                return 0
            self.ready = True
            for i, ru in enumerate(self.units):
                ru.unit.on_listening(self._listener(i))
                if ru.late is not None:
                    ru.late.changed = self._late_listener(i)
            self.publish([self.entry(i) for i in range(len(self.units))], True)
            self.late_gate.set()  # the faces slow to load come up now, each unit's entry rewritten as they do
            self.log.info("ready", units=len(self.units), seconds=round(time.monotonic() - started_at, 3))
            serving_gc()
            DETAIL.flush(self.log)
            flusher = asyncio.ensure_future(self._flush_details(stop))
            await stop.wait()
            return 0
        except StartFailed as e:
            print(f"dgw-emulator: {e}", file=sys.stderr, flush=True)
            self.log.error("start_failed", error=str(e))
            return e.code
        finally:
            for t in [*tasks, *([flusher] if flusher else [])]:
                t.cancel()
            await asyncio.gather(*tasks, *([flusher] if flusher else []), return_exceptions=True)
            await self._stop_all()
            if self.metrics is not None:
                await self.metrics.stop()
            DETAIL.flush(self.log)

    async def _flush_details(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(FLUSH_EVERY_S)
            DETAIL.flush(self.log)

    async def _start(self, stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
        from emulator.fleet.late import LateFaces
        from emulator.lab import LabError, build_unit  # composition: the engines load once the command is parsed

        for spec in self.specs:
            if stop.is_set():
                return
            try:
                ru = build_unit(spec, late=LateFaces(self.late_gate, self.late_slots))
            except LabError as e:
                raise StartFailed(str(e), 2) from None
            self.units.append(ru)
            if self.metrics is not None:
                self.metrics.collector.watch(ru.unit)
            await asyncio.sleep(0)  # a signal is seen between two builds
        # Every unit is built before any starts: a unit started early would retry its refused TLS peers and
        # its ACS all through the others' builds (1,000 units refused by their proxy: ready in 36-49 s
        # instead of 20 s).
        # A few units start at a time: each step of a start yields to the event loop, so what the started units
        # send and receive meanwhile (DNS questions, TLS handshakes, TR-069 sessions) is served within its
        # timeouts. All at once, a loop turn ran a step of every unit: 500 units made each turn last long enough
        # for nearly every unit's DNS question (2 s) to time out, and registration waited for its retry time.
        slots = asyncio.Semaphore(START_CONCURRENCY)

        async def start(ru: RunningUnit) -> None:
            async with slots:
                await ru.start()

        tasks.extend(asyncio.ensure_future(start(ru)) for ru in self.units)
        if not tasks:
            return
        every: asyncio.Future[Any] = asyncio.gather(*tasks)
        stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({every, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if stop.is_set():
            every.cancel()
            with contextlib.suppress(BaseException):
                await every
            return
        try:
            every.result()
        except LabError as e:
            raise StartFailed(str(e), 2) from None
        except OSError as e:  # the API port taken, an unreadable state folder
            raise StartFailed(str(e), 1) from None

    def _listener(self, i: int) -> Callable[[str, str | None], None]:
        return lambda _face, _address: self._changed(i)

    def _late_listener(self, i: int) -> Callable[[], None]:
        return lambda: self._changed(i)

    def _changed(self, i: int) -> None:
        self._dirty.add(i)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = sorted(self._dirty), set()
        if dirty and self.ready:
            self.publish([self.entry(i) for i in dirty], True)

    async def _stop_all(self) -> None:
        if not self.units:
            return
        self.ready = False
        stopping = asyncio.gather(*(u.stop() for u in self.units), return_exceptions=True)
        try:
            await asyncio.wait_for(stopping, STOP_TIMEOUT_S)
        except TimeoutError:
            self.log.error("stop_timeout", units=len(self.units), seconds=STOP_TIMEOUT_S)
        self.log.info("stopped", units=len(self.units))


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop``; a second one ends the process at once (a stop that hangs), and so
    does the end of :data:`EXIT_DEADLINE_S` after the first (a task that swallows its cancellation would
    otherwise keep the event loop's own shutdown waiting)."""
    loop = asyncio.get_running_loop()

    def forced(why: str) -> None:
        structlog.get_logger("dgw").error("stop_forced", reason=why)
        os._exit(0)  # the units' state is safe on disk: a stop was asked for, and it happened

    def on_signal(sig: int) -> None:
        if stop.is_set():
            forced(f"second {signal.Signals(sig).name}")
        stop.set()
        loop.call_later(EXIT_DEADLINE_S, forced, f"not ended {EXIT_DEADLINE_S:g} s after the stop signal")

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)


def print_faces(entries: Sequence[Entry], ready_file: Path | None, seconds: float) -> None:
    """Where each unit listens, for a person (stderr): a line per unit, or one line for a big lab."""
    if len(entries) > PER_UNIT_LINES:
        where = f"; where each listens: {ready_file}" if ready_file else ""
        print(f"{len(entries)} units ready in {seconds:.1f} s{where}", file=sys.stderr, flush=True)
        return
    for e in entries:
        faces = ", ".join(f"{k} {e[k]}" for k in FACES if k in e)
        print(f"unit {e['name']} ({e.get('profile', '?')}): {faces}", file=sys.stderr, flush=True)


async def run_units(specs: list[UnitSpec], ready_file: Path | None, stop: asyncio.Event,
                    started_at: float | None = None, metrics: tuple[str, int] | None = None) -> int:
    """A lab in this process: the ready file is written once every unit is up, and again on every change."""
    t0 = time.monotonic() if started_at is None else started_at
    ready = ReadyFile(ready_file, [s.name for s in specs])
    first = True

    def publish(entries: list[Entry], _all_ready: bool) -> None:
        nonlocal first
        ready.update(entries)
        if runner.metrics is not None:
            ready.workers = [{"index": 0, "pid": os.getpid(), "units": len(specs), "restarts": 0,
                              "state": "running", "metrics": runner.metrics.url}]
        ready.write()
        if first:
            first = False
            print_faces(list(ready.entries.values()), ready_file, time.monotonic() - t0)

    runner = Runner(specs, publish, metrics=metrics)
    return await runner.run(stop, t0)

"""A lab over several worker processes, shared-nothing, under one supervisor.

The supervisor splits the lab's units into ``workers`` contiguous shares and starts one
``dgw-emulator worker`` process per share (:mod:`emulator.fleet.worker`); each runs its units exactly as a
one-process lab does. Nothing is shared between workers: each unit keeps its own address, ports, state
folder and clock. The supervisor only writes the ready file, from what the workers tell it.

* The ready file is written once every worker is ready and rewritten whenever a face opens, moves or
  closes; while a worker is down its units stay listed with their faces under ``coming_up``.
* A worker that dies (a crash, SIGKILL, the OOM killer) is reported (``worker_died``: index, pid, exit
  status, units) and started again with the same units: their configuration and certificates are on
  disk, and in ``--port-mode auto`` each face asks for the port it had before, so the units come back
  where they were. Workers that keep dying are restarted after a growing pause (up to 30 s). A worker whose
  start fails for a reason that will not go away (a lab setting refused: exit 2) ends the whole lab.
* Cold (the modules' bytecode not cached yet, as after an upgrade), worker 0 starts first and the others once it
  has loaded its modules (``{"imported": true}``), so they are compiled once, not once per worker at the same time.
* SIGTERM/SIGINT: every worker is sent SIGTERM and waited for (SIGKILL after the stop timeout); a second
  signal kills them at once. Workers run in their own session, so a terminal's Ctrl-C reaches the
  supervisor only, and a worker stops by itself when its supervisor goes away (its stdin ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from emulator.fleet.ready import FACES, Entry, ReadyFile
from emulator.fleet.run import STOP_TIMEOUT_S, print_faces
from emulator.runtime.spec import UnitSpec
from emulator.runtime.unit import port_of

__all__ = ["Supervisor", "WorkerProcess", "shard"]

MAX_BACKOFF_S = 30.0
STABLE_S = 10.0  # a worker that lived this long was not crash-looping
CONTROL_LINE_LIMIT = 1 << 24


def bytecode_cached() -> bool:
    """Whether the bytecode of the modules a worker loads is cached and current (checked on a few of them: the
    composition, and the biggest library a unit loads); not: they would be compiled by whoever loads them first."""
    sources = [str(Path(__file__).resolve().parents[1] / "lab.py")]
    spec = importlib.util.find_spec("aiohttp")
    if spec is not None and spec.origin:
        sources.append(spec.origin)
    try:
        for source in sources:
            cached = importlib.util.cache_from_source(source)
            if os.stat(cached).st_mtime < os.stat(source).st_mtime:
                return False
    except (OSError, NotImplementedError, ValueError):
        return False
    return True


def shard(specs: Sequence[UnitSpec], workers: int) -> list[list[UnitSpec]]:
    """``workers`` contiguous shares of the units, sizes differing by one at most, none empty."""
    n = max(1, min(workers, len(specs)))
    return [list(specs[len(specs) * k // n: len(specs) * (k + 1) // n]) for k in range(n)]


@dataclass
class WorkerProcess:
    """One worker: its units, its current process, and how often it was restarted."""

    index: int
    specs: list[UnitSpec]
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    state: str = "starting"  # starting | running | restarting | stopped
    ready: bool = False
    ever_ready: bool = False
    started: float = 0.0
    failures: int = 0  # deaths in a row, each soon after its start
    metrics: str | None = None
    exit_code: int | None = None
    names: list[str] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "pid": self.proc.pid if self.proc else None,
                               "units": len(self.specs), "restarts": self.restarts, "state": self.state}
        if self.metrics:
            out["metrics"] = self.metrics
        return out


class Supervisor:
    def __init__(self, specs: Sequence[UnitSpec], workers: int, ready_file: Path | None,
                 worker_args: Sequence[str] = (), started_at: float | None = None,
                 metrics: tuple[str, int] | None = None) -> None:
        self.workers = [WorkerProcess(k, share, names=[s.name for s in share])
                        for k, share in enumerate(shard(specs, workers))]
        self.ready = ReadyFile(ready_file, [s.name for s in specs])
        self.ready_file = ready_file
        self.worker_args = list(worker_args)
        self.metrics = metrics  # (host, port): worker k listens on port + k (port 0: each where the kernel says)
        self.units = len(specs)
        self.started_at = time.monotonic() if started_at is None else started_at
        self.stopping = False
        self.all_ready = False
        self.code = 0
        self.log = structlog.get_logger("dgw.supervisor")
        self._write_scheduled = False
        # Cold (no bytecode cached for the modules a worker loads): the first worker compiles them alone, the others
        # start once it has loaded them and read its bytecode, instead of every worker compiling everything at once.
        # (Bytecode not written, PYTHONDONTWRITEBYTECODE: nothing to share, all start at once.)
        self.compiled = asyncio.Event()
        if sys.dont_write_bytecode or bytecode_cached():
            self.compiled.set()

    # ------------------------------------------------------------------ life
    async def run(self, stop: asyncio.Event) -> int:
        self._install_signals(stop)
        watchers = [asyncio.ensure_future(self._watch(w, stop)) for w in self.workers]
        try:
            await stop.wait()
        finally:
            self.stopping = True
            await self._stop_workers()
            for t in watchers:
                t.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            self.log.info("stopped", workers=len(self.workers))
        return self.code

    def _install_signals(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()

        def on_signal(sig: int) -> None:
            if stop.is_set():
                self.log.warning("stop_forced", signal=signal.Signals(sig).name)
                self._kill_all(signal.SIGKILL)
                os._exit(0)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)

    async def _watch(self, w: WorkerProcess, stop: asyncio.Event) -> None:
        """Start the worker, follow what it says, and start it again whenever it dies."""
        if w.index:
            await self.compiled.wait()
        while not self.stopping:
            reader = await self._spawn(w)
            await self._follow(w, reader)
            assert w.proc is not None
            status = await w.proc.wait()
            if self.stopping:
                return
            if status == 2 and not w.ever_ready:  # its lab settings or certificates were refused
                self.log.error("worker_failed", worker=w.index, exit=status, units=len(w.specs))
                self.code = 2
                stop.set()
                return
            lived = time.monotonic() - w.started
            w.failures = 0 if lived > STABLE_S else w.failures + 1
            pause = min(MAX_BACKOFF_S, 0.5 * 2 ** (w.failures - 1)) if w.failures else 0.0
            self.log.error("worker_died", worker=w.index, pid=w.proc.pid, exit=_status(status),
                           units=len(w.specs), first_unit=w.names[0], restart_in=pause, restarts=w.restarts)
            self._units_down(w)
            if pause:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
            w.restarts += 1

    async def _spawn(self, w: WorkerProcess) -> asyncio.StreamReader:
        loop = asyncio.get_running_loop()
        r, wfd = os.pipe()
        try:
            w.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "emulator", "worker", "--control-fd", str(wfd), *self.worker_args,
                stdin=asyncio.subprocess.PIPE, pass_fds=(wfd,), start_new_session=True,
            )
        finally:
            os.close(wfd)
        w.started = time.monotonic()
        w.ready = False
        w.state = "starting" if not w.ever_ready else "restarting"
        metrics = None
        if self.metrics is not None:
            host, port = self.metrics
            metrics = [host, port + w.index if port else 0]
        job = {"index": w.index, "specs": [s.to_json() for s in w.specs],  # face_ports: where they were
               "lab_units": self.units, "metrics": metrics}
        assert w.proc.stdin is not None
        w.proc.stdin.write(json.dumps(job, separators=(",", ":")).encode() + b"\n")
        await w.proc.stdin.drain()  # stdin stays open: its end tells the worker that we are gone
        reader = asyncio.StreamReader(limit=CONTROL_LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(r, "rb", buffering=0))
        self.log.info("worker_started", worker=w.index, pid=w.proc.pid, units=len(w.specs), restarts=w.restarts)
        return reader

    async def _follow(self, w: WorkerProcess, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self.log.error("worker_message_too_long", worker=w.index)
                continue
            if not line:
                self.compiled.set()  # a worker that died before saying so: the others start anyway
                return
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("imported"):
                self.compiled.set()
            elif "unit" in msg:
                self.ready.update([msg["unit"]])
                if self.all_ready:
                    self._schedule_write()
            elif msg.get("ready"):
                w.ready = w.ever_ready = True
                w.state = "running"
                w.failures = w.failures if time.monotonic() - w.started < STABLE_S else 0
                self.log.info("worker_ready", worker=w.index, units=msg.get("units"), restarts=w.restarts,
                              seconds=round(time.monotonic() - w.started, 3))
                self._on_worker_ready()
            elif "metrics" in msg:
                w.metrics = str(msg["metrics"])
                if self.all_ready:
                    self._schedule_write()
            elif "exit" in msg:
                w.exit_code = int(msg["exit"])

    # ------------------------------------------------------------------ the ready file
    def _on_worker_ready(self) -> None:
        if self.all_ready:
            self._schedule_write()
            return
        if all(w.ready for w in self.workers):
            self.all_ready = True
            self._write()
            seconds = time.monotonic() - self.started_at
            print_faces(list(self.ready.entries.values()), self.ready_file, seconds)
            self.log.info("ready", units=len(self.ready.entries), workers=len(self.workers),
                          seconds=round(seconds, 3))

    def _units_down(self, w: WorkerProcess) -> None:
        """A dead worker's units: listed, with the faces they had as coming up (the restart brings them back)."""
        w.ready = False
        w.state = "restarting"
        for name in w.names:
            entry = self.ready.entries.get(name, {"name": name})
            had = [f for f in FACES if f in entry] or list(entry.get("coming_up", ()))
            down: Entry = {k: v for k, v in entry.items() if k not in FACES and k != "coming_up"}
            spec = next(s for s in w.specs if s.name == name)
            spec.face_ports.update({f: p for f in had if f in entry and (p := port_of(str(entry[f])))})
            if had:
                down["coming_up"] = had
            self.ready.entries[name] = down
        if self.all_ready:
            self._write()

    def _schedule_write(self) -> None:
        if not self._write_scheduled:
            self._write_scheduled = True
            asyncio.get_running_loop().call_soon(self._write)

    def _write(self) -> None:
        self._write_scheduled = False
        if self.stopping:
            return
        self.ready.workers = [w.info() for w in self.workers]
        self.ready.write()

    # ------------------------------------------------------------------ stop
    def _kill_all(self, sig: int) -> None:
        for w in self.workers:
            if w.proc is not None and w.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.send_signal(sig)

    async def _stop_workers(self) -> None:
        self._kill_all(signal.SIGTERM)
        procs = [w.proc for w in self.workers if w.proc is not None and w.proc.returncode is None]
        if not procs:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), STOP_TIMEOUT_S + 5)
        except TimeoutError:
            self.log.error("workers_killed", reason="stop timeout")
            self._kill_all(signal.SIGKILL)
            await asyncio.gather(*(p.wait() for p in procs), return_exceptions=True)
        for w in self.workers:
            w.state = "stopped"


def _status(returncode: int) -> str:
    if returncode >= 0:
        return f"code {returncode}"
    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"

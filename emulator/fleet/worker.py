"""A worker process of a multi-process lab (``dgw-emulator worker``, started by the supervisor only).

It reads its job, one JSON line on stdin: ``{"index": k, "specs": [UnitSpec.to_json(), ...], "lab_units": n,
"metrics": [host, port] or null}``, and runs
those units exactly as a one-process lab does (:class:`emulator.fleet.run.Runner`). It tells the
supervisor, one JSON line per message on the control pipe (``--control-fd``):

* ``{"imported": true}`` — the worker's modules are loaded (their bytecode written when it was not cached);
* ``{"unit": entry}`` — where a unit's faces listen (every unit once when the worker is ready, then a unit
  whenever one of its faces opens, moves or closes);
* ``{"ready": true, "units": n}`` — every unit of the worker has started;
* ``{"metrics": url}`` — the worker's Prometheus endpoint, when one is asked for;
* ``{"exit": code}`` — the worker is ending (a non-zero code: its start failed, the reason is on stderr).

SIGTERM/SIGINT stop it cleanly; so does the end of its stdin (the supervisor went away, even killed), so a
worker never outlives its supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from typing import Any, cast

import structlog

from emulator.fleet.logs import DETAIL
from emulator.fleet.ready import Entry
from emulator.fleet.run import Runner, install_stop_signals
from emulator.runtime.spec import UnitSpec

__all__ = ["Control", "run_worker"]


class Control(asyncio.Protocol):
    """The worker's end of the control pipe; losing it (the supervisor died) stops the worker."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)  # uvloop's is not an asyncio class

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.stop.set()

    def send(self, message: dict[str, Any]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")


async def _watch_stdin(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass
    structlog.get_logger("dgw").warning("supervisor_gone")
    stop.set()


async def run_worker(control_fd: int, started_at: float) -> int:
    """The worker's life: the job from stdin, its units until a stop, then its exit code."""
    job = json.loads(sys.stdin.buffer.readline() or b"{}")
    index = int(job.get("index", 0))
    specs = [UnitSpec.from_json(doc) for doc in job.get("specs", [])]
    structlog.contextvars.bind_contextvars(worker=index)
    DETAIL.units = int(job.get("lab_units", len(specs)))
    metrics = job.get("metrics")
    stop = asyncio.Event()
    install_stop_signals(stop)
    loop = asyncio.get_running_loop()
    control = Control(stop)
    await loop.connect_write_pipe(lambda: control, os.fdopen(control_fd, "wb", buffering=0))
    watcher = asyncio.ensure_future(_watch_stdin(stop))
    from emulator import lab  # noqa: F401  every module a unit needs, loaded (compiled when cold) before the units

    control.send({"imported": True})  # the supervisor starts the other workers now (they read this bytecode)
    announced = False

    def publish(entries: list[Entry], _ready: bool) -> None:
        nonlocal announced
        for entry in entries:
            control.send({"unit": entry})
        if not announced:
            announced = True
            control.send({"ready": True, "units": len(specs)})

    runner = Runner(specs, publish, worker=index, metrics=(str(metrics[0]), int(metrics[1])) if metrics else None)
    if metrics and (url := await runner.start_metrics()):
        control.send({"metrics": url})
    try:
        code = await runner.run(stop, started_at)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    control.send({"exit": code})
    if control.transport is not None:
        control.transport.close()
    return code

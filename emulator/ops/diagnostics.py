"""Diagnostics as every face drives them: the Nlm service's packet capture (``Nlm.StartPCapture``,
``Nlm.StopPCapture``, ``Nlm.UploadPCapture``) — the access policy first, then the capture job, its outcome waited
for when the face wants it (a stop or an upload answers once the file is saved and sent, or refused).

Refusals are :class:`~emulator.ops.errors.OpError`: ``unavailable`` (503) without an Nlm engine, ``conflict`` (409)
when the service is stopped, a capture is already running (start), none is (stop) or no file is kept (upload).
"""

from __future__ import annotations

import asyncio
from typing import Any

from emulator.engines.capture.job import PacketCapture
from emulator.engines.nlm import NlmEngine
from emulator.ops import policy
from emulator.ops.errors import ErrorKind, OpError
from emulator.runtime.unit import Unit
from firmware_model.config import ConfigError

__all__ = ["CAPTURE_JOBS", "capture", "capture_status", "run_capture"]

# Face verb -> the unit command it runs (the command's name is also its policy entry).
CAPTURE_JOBS: dict[str, str] = {
    "start": "Nlm.StartPCapture",
    "stop": "Nlm.StopPCapture",
    "upload": "Nlm.UploadPCapture",
}


def capture(unit: Unit) -> PacketCapture:
    st = unit.services.get("Nlm")
    engine = st.engine if st is not None else None
    if not isinstance(engine, NlmEngine):
        raise OpError(ErrorKind.UNAVAILABLE, "this unit has no Nlm engine", 503)
    return engine.capture


def capture_status(unit: Unit) -> dict[str, Any]:
    """``Nlm.PCaptureState`` and what the running or last capture did."""
    job = capture(unit)
    st = unit.services.get("Nlm")
    return {
        "service": st.state if st is not None else "Stopped",
        "state": unit.config.get_text("Nlm.PCaptureState"),
        "running": job.running,
        "frames": job.frames,
        "bytes": job.size,
        "interface": job.interface,
        "reason": job.reason,
        "kept_file": job.kept.path.name if job.kept is not None else None,
    }


async def run_capture(unit: Unit, caller: policy.Caller, verb: str) -> str:
    """Run one capture command (:data:`CAPTURE_JOBS`) for ``caller``; a stop or an upload is waited for until the
    file is saved and sent (or refused). Returns ``Nlm.PCaptureState``."""
    command = CAPTURE_JOBS[verb]
    policy.check_command(caller, command)
    try:
        unit.commands[command]()
    except ConfigError as e:
        raise OpError(ErrorKind.CONFLICT, e.message, 409) from None
    except KeyError:
        raise OpError(ErrorKind.UNAVAILABLE, "this unit has no Nlm engine", 503) from None
    job = capture(unit).job
    if verb != "start" and job is not None:
        await asyncio.shield(job)
    return unit.config.get_text("Nlm.PCaptureState")

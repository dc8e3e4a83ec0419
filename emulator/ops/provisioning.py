"""Provisioning as every face drives it: the Conf service's script transfer, export, configuration backup and
restore, and the Fpu service's firmware install and rollback — the access policy first, then the engine's job,
waited for until its result is known.

The faces (HTTP API, web pages) call these instead of ``unit.commands`` when they want the outcome: a command
typed in a script or the CLI starts the job and returns at once, while ``POST /api/v1/conf/transfer`` or the web's
"Transfer Now" answer with ``Success``/``TransferFailed``... The job runs in its service (a Conf or Fpu stop
cancels it), shielded from the face: a client that goes away, or a Web service restarted by the script it ran,
does not cut the job short.

Refusals are :class:`~emulator.ops.errors.OpError`: ``unavailable`` (503) when the unit has no such engine,
``conflict`` (409) when the service is stopped or (Fpu) busy with another job; the policy's ``Forbidden`` for a
caller without the rights (backup, restore, install and rollback are Admin only).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from emulator.engines.conf.engine import ConfEngine
from emulator.engines.fpu.engine import FpuEngine
from emulator.ops import policy
from emulator.ops.errors import ErrorKind, OpError
from emulator.runtime.unit import Unit
from firmware_model.config import ConfigError

__all__ = [
    "CONF_JOBS",
    "conf_engine",
    "conf_status",
    "firmware_status",
    "fpu_engine",
    "install",
    "rollback",
    "run_conf",
]

# Face verb -> the Conf command it runs (the command's name is also its policy entry).
CONF_JOBS: dict[str, str] = {
    "transfer": "Conf.TransferScripts",
    "export": "Conf.ExportScript",
    "backup": "Conf.ImageBackup",
    "restore": "Conf.ImageRestore",
}

E = TypeVar("E")
T = TypeVar("T")


def _engine(unit: Unit, service: str, cls: type[E]) -> E:
    st = unit.services.get(service)
    engine = st.engine if st is not None else None
    if not isinstance(engine, cls):
        raise OpError(ErrorKind.UNAVAILABLE, f"this unit has no {service} engine", 503)
    return engine


def conf_engine(unit: Unit) -> ConfEngine:
    return _engine(unit, "Conf", ConfEngine)


def fpu_engine(unit: Unit) -> FpuEngine:
    return _engine(unit, "Fpu", FpuEngine)


def _conflict(e: ConfigError) -> OpError:
    return OpError(ErrorKind.CONFLICT, e.message, 409)


async def _waited(job: Awaitable[T]) -> T:
    return await asyncio.shield(job)


# ---------------------------------------------------------------------------------------------- Conf
def conf_status(unit: Unit) -> dict[str, Any]:
    """The Conf service's state and results, as the ``Conf.ScriptsStats*`` and ``Conf.Image*Status`` values show
    them on every face."""
    c = unit.config
    st = unit.services.get("Conf")
    return {
        "service": st.state if st is not None else "Stopped",
        "transfer": {"state": c.get_text("Conf.ScriptsStatsCurrentTransferState"),
                     "last_result": c.get_text("Conf.ScriptsStatsLastTransferResult"),
                     "last_datetime": c.get_text("Conf.ScriptsStatsLastTransferDateTime")},
        "export": {"state": c.get_text("Conf.ScriptsStatsCurrentExportState"),
                   "last_result": c.get_text("Conf.ScriptsStatsLastExportResult"),
                   "last_datetime": c.get_text("Conf.ScriptsStatsLastExportDateTime")},
        "backup": {"status": c.get_text("Conf.ImageBackupStatus")},
        "restore": {"status": c.get_text("Conf.ImageRestoreStatus")},
    }


async def run_conf(unit: Unit, caller: policy.Caller, verb: str) -> str:
    """Run one Conf job (``transfer``, ``export``, ``backup``, ``restore``: :data:`CONF_JOBS`) for ``caller`` and
    wait for it; returns its result (``ScriptsStatsLastTransferResult``, ``...LastExportResult``,
    ``ImageBackupStatus`` or ``ImageRestoreStatus``)."""
    command = CONF_JOBS[verb]
    policy.check_command(caller, command)
    engine = conf_engine(unit)
    try:
        task = engine.begin(command)
    except ConfigError as e:
        raise _conflict(e) from None
    return await _waited(task)


# ---------------------------------------------------------------------------------------------- Fpu
def firmware_status(unit: Unit) -> dict[str, Any]:
    """The Fpu service's state, the running version and the two banks (``Fpu.MfpInstalledInfo``)."""
    c = unit.config
    st = unit.services.get("Fpu")
    banks = [{"index": r["Index"], "name": r["MfpName"], "version": r["MfpVersion"], "bank": r["MfpBank"],
              "profile": r["MfpProfileName"]} for r in c.rows("Fpu.MfpInstalledInfo")]
    return {
        "service": st.state if st is not None else "Stopped",
        "version": unit.version,
        "status": c.get_text("Fpu.Status"),
        "last_result": c.get_text("Fpu.MfpLastInstallationResult"),
        "last_datetime": c.get_text("Fpu.MfpLastInstallationDateTime"),
        "rollback_available": c.get_text("Fpu.MfpRollbackAvailable"),
        "url": c.get_text("Fpu.MfpUrl"),
        "banks": banks,
    }


async def install(unit: Unit, caller: policy.Caller, url: str | None = None) -> tuple[str, str]:
    """Install a firmware pack (``url`` instead of ``Fpu.MfpUrl``) for ``caller``; waits until the pack is
    installed or refused (not for the restart that follows). Returns ``MfpLastInstallationResult`` and the
    refusal's reason ("" on success)."""
    policy.check_command(caller, "Fpu.Install")
    engine = fpu_engine(unit)
    try:
        outcome = engine.begin_install(url)
    except ConfigError as e:
        raise _conflict(e) from None
    result = await _waited(outcome)
    return result, "" if result == "Success" else engine.last_reason


async def rollback(unit: Unit, caller: policy.Caller) -> tuple[bool, str]:
    """Roll the firmware back for ``caller``; waits for the decision. Returns whether the other bank runs from the
    next start, and the refusal's reason."""
    policy.check_command(caller, "Fpu.Rollback")
    engine = fpu_engine(unit)
    try:
        outcome = engine.begin_rollback()
    except ConfigError as e:
        raise _conflict(e) from None
    accepted = await _waited(outcome)
    return accepted, "" if accepted else engine.last_reason

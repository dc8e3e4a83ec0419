"""``/conf``: the Conf service's provisioning jobs — the configuration-script transfer (generic then specific, from
``Conf.ScriptsTransfer*``), the script export to ``Conf.ScriptExportUrl``, and the configuration image backup and
restore (``Conf.Image*``, Admin only) — and their status values (``Conf.ScriptsStats*``, ``Conf.Image*Status``).

Each POST runs the job as the Conf command of the same name does (:mod:`emulator.ops.provisioning`) and answers
once its result is known; the answer's ``result`` is the status value every face then shows.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.faces.api.openapi import Schema, obj, ref
from emulator.faces.api.routing import PREFIX, Route, caller, json_response, ok
from emulator.ops import provisioning
from emulator.ops.errors import ErrorKind
from emulator.runtime.unit import Unit

__all__ = ["COMPONENTS", "Conf"]

_JOBS: dict[str, str] = {  # verb -> summary
    "transfer": "Transfer and run the configuration scripts now (Conf.TransferScripts)",
    "export": "Export the configuration script to Conf.ScriptExportUrl (Conf.ExportScript)",
    "backup": "Back up the configuration image (Conf.ImageBackup; Admin only)",
    "restore": "Restore the configuration image (Conf.ImageRestore; Admin only)",
}
_RESULTS = {
    "transfer": ["Success", "ExecutionFailed", "TransferFailed"],
    "export": ["Success", "ExportationFailed", "TransferFailed"],
    "backup": ["Success", "Failed"],
    "restore": ["Success", "LoadFailed", "ApplyFailed"],
}


class Conf:
    """The Conf resources of one unit."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def status(self, request: web.Request) -> web.Response:
        return json_response(provisioning.conf_status(self.unit))

    def _job(self, verb: str) -> Any:
        async def run(request: web.Request) -> web.Response:
            result = await provisioning.run_conf(self.unit, caller(request), verb)
            return json_response({"job": verb, "result": result, "ok": result == "Success",
                                  "conf": provisioning.conf_status(self.unit)})

        return run

    def routes(self) -> list[Route]:
        P = f"{PREFIX}/conf"
        refused = (ErrorKind.CONFLICT, ErrorKind.UNAVAILABLE)
        out = [
            Route("GET", P, self.status, "read", "getConf", "provisioning",
                  "Configuration-script transfer, export, backup and restore status (Conf.ScriptsStats*, "
                  "Conf.Image*Status)", {200: ok("the status values", ref("ConfStatus"))}),
        ]
        for verb, summary in _JOBS.items():
            command = provisioning.CONF_JOBS[verb]
            out.append(Route(
                "POST", f"{P}/{verb}", self._job(verb), "write", f"conf{verb.capitalize()}", "provisioning", summary,
                {200: ok("the job ended; result is the status value it set", ref("ConfJobResult"))}, refused,
                description=f"Runs {command} and answers once its result is known (the job goes on if the client "
                "goes away). 409 kind conflict when the Conf service is not running; 503 kind unavailable when the "
                "unit has no Conf engine. Possible results: " + ", ".join(_RESULTS[verb]) + ".",
                command=command))
        return out


def _schemas() -> dict[str, Schema]:
    s = {"type": "string"}
    state = obj({"state": s, "last_result": s, "last_datetime": s}, ["state", "last_result", "last_datetime"])
    return {
        "ConfStatus": obj(
            {
                "service": {**s, "description": "the Conf service's ExecState (Started, Stopped...)"},
                "transfer": {**state, "description": "Conf.ScriptsStatsCurrentTransferState (Idle, Transfering, "
                             "Running), ScriptsStatsLastTransferResult, ScriptsStatsLastTransferDateTime"},
                "export": {**state, "description": "Conf.ScriptsStatsCurrentExportState, LastExportResult, "
                           "LastExportDateTime"},
                "backup": obj({"status": {**s, "description": "Conf.ImageBackupStatus"}}, ["status"]),
                "restore": obj({"status": {**s, "description": "Conf.ImageRestoreStatus"}}, ["status"]),
            },
            ["service", "transfer", "export", "backup", "restore"],
        ),
        "ConfJobResult": obj(
            {
                "job": {"type": "string", "enum": list(_JOBS)},
                "result": {"type": "string", "enum": sorted({r for rs in _RESULTS.values() for r in rs}),
                           "description": "the status value the job set"},
                "ok": {"type": "boolean", "description": "result is Success"},
                "conf": ref("ConfStatus"),
            },
            ["job", "result", "ok", "conf"],
        ),
    }


COMPONENTS: dict[str, dict[str, Any]] = {"schemas": _schemas()}

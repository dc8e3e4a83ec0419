"""``/capture``: the Nlm service's packet capture (``Nlm.PCapture*``) — start, stop (the file is saved and uploaded
to ``Nlm.PCaptureFileUrl``), send the kept file again, and the state (``Nlm.PCaptureState``).

Each POST runs the unit command of the same name (:mod:`emulator.ops.diagnostics`); stop and upload answer once the
upload succeeded or was refused, with the state every face then shows.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.faces.api.openapi import Schema, obj, ref
from emulator.faces.api.routing import PREFIX, Route, caller, json_response, ok
from emulator.ops import diagnostics
from emulator.ops.errors import ErrorKind
from emulator.runtime.unit import Unit

__all__ = ["COMPONENTS", "Capture"]

_JOBS: dict[str, str] = {  # verb -> summary
    "start": "Start a packet capture (Nlm.StartPCapture)",
    "stop": "Stop the packet capture, save and upload it to Nlm.PCaptureFileUrl (Nlm.StopPCapture)",
    "upload": "Upload the kept capture file again (Nlm.UploadPCapture)",
}
STATES = ["None", "Requested", "Completed", "UndefinedFailure", "UrlFailure", "FilterFailure",
          "AuthenticationFailure", "HostUnreachableFailure", "TlsCertificateFailure", "SizeLimitFailure",
          "LinkFailure"]


class Capture:
    """The packet capture resources of one unit."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def status(self, request: web.Request) -> web.Response:
        return json_response(diagnostics.capture_status(self.unit))

    def _job(self, verb: str) -> Any:
        async def run(request: web.Request) -> web.Response:
            state = await diagnostics.run_capture(self.unit, caller(request), verb)
            return json_response({"job": verb, "state": state, "capture": diagnostics.capture_status(self.unit)})

        return run

    def routes(self) -> list[Route]:
        P = f"{PREFIX}/capture"
        refused = (ErrorKind.CONFLICT, ErrorKind.UNAVAILABLE)
        out = [
            Route("GET", P, self.status, "read", "getCapture", "diagnostics",
                  "Packet capture state (Nlm.PCaptureState) and counters",
                  {200: ok("the state", ref("CaptureStatus"))}),
        ]
        for verb, summary in _JOBS.items():
            command = diagnostics.CAPTURE_JOBS[verb]
            waits = "answers at once with Requested or the failure that stopped the start" if verb == "start" \
                else "answers once the file is saved and the upload succeeded or was refused"
            out.append(Route(
                "POST", f"{P}/{verb}", self._job(verb), "write", f"capture{verb.capitalize()}", "diagnostics",
                summary, {200: ok("the state the command left", ref("CaptureJobResult"))}, refused,
                description=f"Runs {command} and {waits}. 409 kind conflict when the Nlm service is not running, "
                "a capture already runs (start), none runs (stop) or no file is kept (upload).",
                command=command))
        return out


def _schemas() -> dict[str, Schema]:
    state = {"type": "string", "enum": STATES, "description": "Nlm.PCaptureState"}
    status = obj({
        "service": {"type": "string", "description": "the Nlm service's ExecState"},
        "state": state,
        "running": {"type": "boolean"},
        "frames": {"type": "integer", "description": "frames captured by the running or last capture"},
        "bytes": {"type": "integer"},
        "interface": {"type": "string", "description": "the host device captured"},
        "reason": {"type": "string", "description": "why the last capture failed (empty otherwise)"},
        "kept_file": {"type": ["string", "null"], "description": "a capture file not uploaded yet"},
    }, ["service", "state", "running", "frames", "bytes", "interface", "reason", "kept_file"])
    return {
        "CaptureStatus": status,
        "CaptureJobResult": obj({"job": {"type": "string", "enum": list(_JOBS)}, "state": state,
                                 "capture": ref("CaptureStatus")}, ["job", "state", "capture"]),
    }


COMPONENTS: dict[str, dict[str, Any]] = {"schemas": _schemas()}

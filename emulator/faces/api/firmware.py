"""``/firmware``: the Fpu service — the running version, the two banks (``Fpu.MfpInstalledInfo``), ``Fpu.Status``
and the last installation's result; a firmware pack install (``Fpu.MfpUrl`` or a URL in the body) and a rollback,
both Admin only (:mod:`emulator.ops.provisioning`).

An install answers once the pack is in the other bank or refused, a rollback once it is decided; the restart that
follows (``Fpu.AutomaticRestartEnable``, else a manual one) happens after the answer, and the HTTP API, not being a
DGW service, keeps answering through it (``GET /firmware`` shows ``WaitingSystemReady`` then ``Idle``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.faces.api.openapi import Schema, arr, json_content, obj, ref
from emulator.faces.api.routing import PREFIX, ApiError, Route, caller, json_body, json_response, ok
from emulator.ops import provisioning
from emulator.ops.errors import ErrorKind
from emulator.runtime.unit import Unit

__all__ = ["COMPONENTS", "Firmware"]


class Firmware:
    """The firmware resources of one unit."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def status(self, request: web.Request) -> web.Response:
        return json_response(provisioning.firmware_status(self.unit))

    async def install(self, request: web.Request) -> web.Response:
        url: str | None = None
        if (await request.read()).strip():
            body = await json_body(request)
            if not isinstance(body, dict) or not isinstance(body.get("url", ""), str) or set(body) - {"url"}:
                raise ApiError(ErrorKind.BAD_REQUEST, 'the body is {"url": "<pack URL>"} or empty (Fpu.MfpUrl)')
            url = body.get("url") or None
        result, reason = await provisioning.install(self.unit, caller(request), url)
        return json_response({"result": result, "ok": result == "Success", "reason": reason,
                              "firmware": provisioning.firmware_status(self.unit)})

    async def rollback(self, request: web.Request) -> web.Response:
        accepted, reason = await provisioning.rollback(self.unit, caller(request))
        return json_response({"ok": accepted, "reason": reason, "firmware": provisioning.firmware_status(self.unit)})

    def routes(self) -> list[Route]:
        P = f"{PREFIX}/firmware"
        refused = (ErrorKind.CONFLICT, ErrorKind.UNAVAILABLE)
        busy = ("409 kind conflict when the Fpu service is not running or busy (Fpu.Status not Idle); 503 kind "
                "unavailable when the unit has no Fpu engine.")
        return [
            Route("GET", P, self.status, "read", "getFirmware", "provisioning",
                  "Running firmware version, Fpu.Status, last installation result and the two banks",
                  {200: ok("the firmware status", ref("FirmwareStatus"))}),
            Route("POST", f"{P}/install", self.install, "write", "installFirmware", "provisioning",
                  "Download and install a firmware pack into the other bank (Fpu.Install; Admin only)",
                  {200: ok("installed or refused: result Success or Fail (reason says why)", ref("FirmwareResult"))},
                  refused, body={"required": False, "content": json_content(ref("FirmwareInstall"))},
                  description="Without a body (or url) the pack is Fpu.MfpUrl. Answered once the pack is installed "
                  "or refused; the restart follows per Fpu.AutomaticRestartEnable (else Fpu.Status is "
                  "WaitingManualRestart). A refused pack leaves the running bank untouched. " + busy,
                  command="Fpu.Install"),
            Route("POST", f"{P}/rollback", self.rollback, "write", "rollbackFirmware", "provisioning",
                  "Run the other bank from the next start (Fpu.Rollback; Admin only)",
                  {200: ok("decided: ok false when the other bank holds no firmware", ref("FirmwareResult"))},
                  refused, description="The restart follows per Fpu.AutomaticRestartEnable. " + busy,
                  command="Fpu.Rollback"),
        ]


def _schemas() -> dict[str, Schema]:
    s = {"type": "string"}
    bank = obj({"index": {"type": "integer"}, "name": s, "version": s,
                "bank": {"type": "string", "enum": ["None", "Main", "Recovery", "MainInUse", "RecoveryInUse"]},
                "profile": s}, ["index", "name", "version", "bank", "profile"])
    return {
        "FirmwareStatus": obj(
            {
                "service": {**s, "description": "the Fpu service's ExecState"},
                "version": {**s, "description": "the running firmware's version (unit.version on every face)"},
                "status": {**s, "description": "Fpu.Status: WaitingSystemReady, Idle, Updating, Rollbacking, "
                           "WaitingForGracefulRestart, WaitingManualRestart"},
                "last_result": {**s, "description": "Fpu.MfpLastInstallationResult: None, Success, Fail"},
                "last_datetime": {**s, "description": "Fpu.MfpLastInstallationDateTime (the unit's local time)"},
                "rollback_available": {"type": "string", "enum": ["No", "Yes"]},
                "url": {**s, "description": "Fpu.MfpUrl"},
                "banks": {**arr(bank), "description": "Fpu.MfpInstalledInfo (Installed MFPs)"},
            },
            ["service", "version", "status", "last_result", "rollback_available", "banks"],
        ),
        "FirmwareInstall": obj({"url": {**s, "description": "the pack's URL (http, https, tftp, ftp; macros "
                                        "%mac% %product% %productseries% %serial%); default Fpu.MfpUrl"}}),
        "FirmwareResult": obj(
            {
                "result": {"type": "string", "enum": ["Success", "Fail"],
                           "description": "install only: MfpLastInstallationResult"},
                "ok": {"type": "boolean"},
                "reason": {**s, "description": "why it was refused (empty when ok)"},
                "firmware": ref("FirmwareStatus"),
            },
            ["ok", "reason", "firmware"],
        ),
    }


COMPONENTS: dict[str, dict[str, Any]] = {"schemas": _schemas()}

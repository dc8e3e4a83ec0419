"""``/scripts``: run a configuration script (all or nothing) and export the configuration as one
(:mod:`emulator.ops.scripts`: the policy, the restarts waited for, secrets kept from non-Admin users)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.faces.api.openapi import Schema, arr, obj, query, ref
from emulator.faces.api.routing import PREFIX, ApiError, Route, caller, json_response, ok
from emulator.ops import scripts
from emulator.ops.errors import ErrorKind
from emulator.runtime.unit import Unit
from firmware_model.script import MAX_SCRIPT_BYTES

__all__ = ["COMPONENTS", "Scripts"]

_TEXT = {"text/plain": {"schema": {"type": "string"}}}


class Scripts:
    """Configuration scripts of one unit."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def run_script(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if len(raw) > MAX_SCRIPT_BYTES:
            raise ApiError(ErrorKind.TOO_LARGE, f"a script may hold at most {MAX_SCRIPT_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(ErrorKind.BAD_REQUEST, "the script must be UTF-8 text") from None
        result, restarted = await scripts.run(self.unit, caller(request), text, source="api")
        doc: dict[str, Any] = {**result.to_dict(), "restarted": restarted}
        if result.ok:
            return json_response(doc)
        failed = result.errors
        where = f"line {failed[0].number}: {failed[0].error}" if failed else "refused"
        if result.committed:  # the configuration was applied; a command run afterwards failed
            doc["error"] = f"configuration applied, but {len(failed)} command(s) failed; {where}"
        else:
            doc["error"] = f"{len(failed)} line(s) refused, nothing applied; {where}"
        return json_response(doc, status=400)

    async def export_script(self, request: web.Request) -> web.Response:
        text = scripts.export(self.unit, caller(request), request.query.get("content"), request.query.get("service"))
        return web.Response(body=text.encode("utf-8", "backslashreplace"), content_type="text/plain",
                            charset="utf-8")

    def routes(self) -> list[Route]:
        P = PREFIX
        return [
            Route("POST", f"{P}/scripts", self.run_script, "write", "runScript", "scripts",
                  "Run a configuration script, all or nothing", {200: ok("every line applied", ref("ScriptResult"))},
                  body={"required": True, "content": _TEXT},
                  extra={"400": {"description": "a line was refused (nothing applied, committed false), a command "
                                 "run after the configuration was committed failed (committed true: e.g. a service "
                                 "that did not restart), or the body is not UTF-8 text (kind bad-request)",
                                 "content": {"application/json": {"schema": {"oneOf": [ref("ScriptResult"),
                                                                                      ref("Error")]}}}}},
                  description="Users without Admin rights get 403 (nothing applied) for a script that writes "
                  "secrets, Aaa.Users or deletes certificates. Scm.RestartRequiredServices is answered once the "
                  "restarts are over (restarted lists them). Scripts over 1 MiB get 413."),
            Route("GET", f"{P}/scripts/export", self.export_script, "write", "exportScript", "scripts",
                  "Export the configuration as a script", {200: ok("the script", {"type": "string"}, "text/plain")},
                  (ErrorKind.INVALID,),
                  params=(query("content", "default Conf.ScriptExportContent",
                                {"type": "string", "enum": ["AllConfig", "ModifiedConfig"]}),
                          query("service", "a service text key or All; default Conf.ScriptExportServiceName",
                                {"type": "string"})),
                  description="Secrets are exported in clear text to Admin users only; for other users their "
                  "lines are left out (a comment says how many)."),
        ]


def _schemas() -> dict[str, Schema]:
    line = obj({"number": {"type": "integer"}, "text": {"type": "string"}, "ok": {"type": "boolean"},
                "error": {"type": ["string", "null"]}}, ["number", "text", "ok"])
    return {
        "LineResult": line,
        "ScriptResult": obj(
            {
                "ok": {"type": "boolean", "description": "every line accepted and carried out"},
                "applied": {"type": "integer", "description": "statements carried out (0 when refused)"},
                "committed": {"type": "boolean", "description": "the configuration changes were applied"},
                "lines": arr(ref("LineResult")),
                "errors": arr(ref("LineResult")),
                "restarted": {**arr({"type": "string"}),
                              "description": "services Scm.RestartRequiredServices restarted"},
                "error": {"type": "string", "description": "present when a line was refused or a command failed"},
            },
            ["ok", "applied", "committed", "lines", "errors"],
        ),
    }


COMPONENTS: dict[str, dict[str, Any]] = {"schemas": _schemas()}

"""``/services`` (the Scm service: start, stop, restart, restart-required), ``/factory-reset`` and the
unit's ``/status``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.faces.api.openapi import API_VERSION, Schema, arr, obj, path_param, pref, query, ref
from emulator.faces.api.routing import PREFIX, ApiError, Route, bool_query, json_response, ok, utc_iso
from emulator.ops.errors import ErrorKind
from emulator.runtime.unit import ServiceState, Unit

__all__ = ["COMPONENTS", "Services"]


class Services:
    """Status, services and factory reset of one unit."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def status(self, request: web.Request) -> web.Response:
        u = self.unit
        now = u.clock.now()
        return json_response({
            "name": u.name, "profile": u.profile.key, "product": u.profile.product, "serial": u.identity.serial,
            "mac": u.identity.mac, "version": u.version, "api_version": API_VERSION, "host": u.host,
            "uptime": int(u.clock.uptime()), "uptime_text": u.config.get_text("Hoc.SystemUptime"),
            "system_time": {"epoch": now, "utc": utc_iso(now), "local": u.local_time(now)},
            "needs_restart": u.config.restart_required(), "listening": dict(u.listening),
        })

    def _state(self, request: web.Request) -> ServiceState:
        name = request.match_info["name"]
        for k, st in self.unit.services.items():
            if k.lower() == name.lower():
                return st
        raise ApiError(ErrorKind.UNKNOWN, f"{name[:80]}: unknown service")

    def _json(self, name: str) -> dict[str, Any]:
        cfg = self.unit.config
        svc = self.unit.catalog.services[name]
        info = next((r for r in cfg.rows("Scm.ServicesInfo") if r["Name"] == name), {})
        nri = svc.params.get("NeedRestartInfo")
        need = cfg.get(nri.name) if nri is not None else ("Yes" if cfg.needs_restart(name) else "No")
        return {"name": name, "numkey": svc.numkey, "display": svc.display, "NeedRestartInfo": need,
                "ExecState": info.get("ExecState"), "StartupType": info.get("StartupType"),
                "Comment": info.get("Comment", "")}

    async def list_services(self, request: web.Request) -> web.Response:
        out = [self._json(n) for n in self.unit.services]
        return json_response({"services": out, "count": len(out)})

    async def get_service(self, request: web.Request) -> web.Response:
        return json_response(self._json(self._state(request).name))

    async def restart_service(self, request: web.Request) -> web.Response:
        st = self._state(request)
        await self.unit.restart_service(st.name)
        return json_response(self._json(st.name))

    async def start_service(self, request: web.Request) -> web.Response:
        st = self._state(request)
        await self.unit.start_service(st.name)
        return json_response(self._json(st.name))

    async def stop_service(self, request: web.Request) -> web.Response:
        st = self._state(request)
        await self.unit.stop_service(st.name)
        return json_response(self._json(st.name))

    async def restart_required(self, request: web.Request) -> web.Response:
        names = await self.unit.restart_required_services()
        return json_response({"restarted": names, "services": [self._json(n) for n in names]})

    async def factory_reset(self, request: web.Request) -> web.Response:
        restart = bool_query(request, "restart")
        self.unit.factory_reset(source="api")
        restarted: list[str] = []
        if restart:
            restarted = await self.unit.restart_required_services()
        return json_response({"needs_restart": self.unit.config.restart_required(), "restarted": restarted})

    def routes(self) -> list[Route]:
        P = PREFIX
        name = (pref("ServiceName"),)
        one = {200: ok("the service's new state", ref("Service"))}

        def action(verb: str, handler: Any) -> Route:
            return Route("POST", f"{P}/services/{{name}}/{verb}", handler, "write", f"{verb}Service", "services",
                         f"{verb.capitalize()} one service (Scm) and wait for it", one, (ErrorKind.UNKNOWN,),
                         params=name)

        return [
            Route("GET", f"{P}/status", self.status, "read", "getStatus", "meta",
                  "Unit identity, uptime, time, services needing a restart, listening faces",
                  {200: ok("unit status", ref("Status"))}),
            Route("GET", f"{P}/services", self.list_services, "read", "listServices", "services",
                  "Services with NeedRestartInfo and ExecState (Scm.ServicesInfo)",
                  {200: ok("services", ref("ServiceList"))}),
            Route("POST", f"{P}/services/restart-required", self.restart_required, "write",
                  "restartRequiredServices", "services",
                  "Restart every service that needs it (Scm.RestartRequiredServices)",
                  {200: ok("the services restarted", ref("RestartResult"))},
                  description="Answered once the restarts are over; a service that did not start again shows "
                  "ExecState Stopped and the reason in Comment."),
            Route("GET", f"{P}/services/{{name}}", self.get_service, "read", "getService", "services", "One service",
                  {200: ok("the service", ref("Service"))}, (ErrorKind.UNKNOWN,), params=name),
            action("restart", self.restart_service),
            action("start", self.start_service),
            action("stop", self.stop_service),
            Route("POST", f"{P}/factory-reset", self.factory_reset, "write", "factoryReset", "services",
                  "Back to the factory configuration (Admin only)",
                  {200: ok("done; services to restart", ref("FactoryResetResult"))}, (ErrorKind.INVALID,),
                  params=(query("restart", "also restart the services that need it", {"type": "boolean"}),),
                  description="Users return to the factory account (public, empty password).",
                  command="FactoryReset"),
        ]


def _schemas() -> dict[str, Schema]:
    return {
        "Service": obj({"name": {"type": "string"}, "numkey": {"type": "integer"}, "display": {"type": "string"},
                        "NeedRestartInfo": {"type": "string", "enum": ["No", "Yes"]},
                        "ExecState": {"type": ["string", "null"]}, "StartupType": {"type": ["string", "null"]},
                        "Comment": {"type": "string"}},
                       ["name", "numkey", "display", "NeedRestartInfo", "ExecState"]),
        "ServiceList": obj({"services": arr(ref("Service")), "count": {"type": "integer"}}, ["services", "count"]),
        "RestartResult": obj({"restarted": arr({"type": "string"}), "services": arr(ref("Service"))},
                             ["restarted", "services"]),
        "FactoryResetResult": obj({"needs_restart": arr({"type": "string"}), "restarted": arr({"type": "string"})},
                                  ["needs_restart", "restarted"]),
        "Status": obj(
            {
                "name": {"type": "string"}, "profile": {"type": "string"}, "product": {"type": "string"},
                "serial": {"type": "string"},
                "mac": {"type": "string", "description": "12 lower-case hex digits (the %mac% form)"},
                "version": {"type": "string"}, "api_version": {"type": "string"}, "host": {"type": "string"},
                "uptime": {"type": "integer", "description": "seconds"}, "uptime_text": {"type": "string"},
                "system_time": obj({"epoch": {"type": "number"}, "utc": {"type": "string", "format": "date-time"},
                                    "local": {"type": "string"}}, ["epoch", "utc", "local"]),
                "needs_restart": arr({"type": "string"}),
                "listening": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            ["name", "profile", "product", "serial", "mac", "version", "uptime", "system_time", "needs_restart",
             "listening"],
        ),
    }


COMPONENTS: dict[str, dict[str, Any]] = {
    "schemas": _schemas(),
    "parameters": {"ServiceName": path_param("name", "service text key")},
}

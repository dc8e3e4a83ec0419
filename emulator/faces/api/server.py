"""HTTP control API of one unit: JSON over HTTP for automation, described by OpenAPI 3.1.

An emulator face, not a DGW service: it is started by the runtime next to the unit's services and is
never listed in ``Scm.ServicesInfo``. This module holds the application: authentication, the error
middleware, and the routes of the resource modules (``parameters``, ``services``, ``scripts``,
``certificates``, ``notifications``, ``endpoints``, ``conf``, ``firmware``), registered from their route table,
which also writes ``/api/v1/openapi.json``. See ``docs/api.md`` for the contract and status codes.

Authentication is HTTP Basic against ``Aaa.Users`` through :meth:`Aaa.check` (face ``Api``), so failed
logins count towards the same lock-out as the other faces; every decision about rights is
:mod:`emulator.ops.policy`'s. ``/api/v1/openapi.json`` is public. No client input answers 500: a refusal
is a 4xx with its kind, and a malformed request that aiohttp cannot parse is a 400 and one log line
(:mod:`emulator.runtime.http`).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import hdrs, web

from emulator.faces.api import (
    capture,
    certificates,
    conf,
    endpoints,
    firmware,
    notifications,
    parameters,
    scripts,
    services,
)
from emulator.faces.api.openapi import build_openapi
from emulator.faces.api.routing import CALLER, CLIENT_MAX_SIZE, PREFIX, ApiError, Route, json_response, ok
from emulator.ops import policy
from emulator.ops.errors import ErrorKind, OpError
from emulator.runtime.http import http_url, serve
from emulator.runtime.routes import routed_app
from emulator.runtime.unit import Unit
from firmware_model.config import ConfigError

if TYPE_CHECKING:
    from emulator.engines.aaa import Aaa, AuthResult

__all__ = ["COMPONENTS", "ApiServer", "basic_credentials"]

COMPONENTS: dict[str, dict[str, Any]] = {
    part: {k: v for m in (parameters, services, scripts, certificates, notifications, endpoints, conf, firmware,
                                 capture)
           for k, v in m.COMPONENTS.get(part, {}).items()}
    for part in ("schemas", "parameters")
}


def basic_credentials(header: str) -> tuple[str, str]:
    """``Authorization: Basic base64(user:password)`` (RFC 7617; UTF-8, else Latin-1) -> (user, password).

    The password may be empty (the factory user ``public``) and may contain colons."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise ValueError("not Basic credentials")
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):  # ValueError: a token that is not ASCII
        raise ValueError("bad base64") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, sep, password = text.partition(":")
    if not sep:
        raise ValueError("no colon")
    return user, password


class ApiServer:
    """The HTTP control API face of one unit (aiohttp low-level runner, bound to ``unit.host``)."""

    name = "Api"

    def __init__(self, unit: Unit, aaa: Aaa) -> None:
        self.unit = unit
        self.aaa = aaa
        self.url: str | None = None
        self._runner: web.AppRunner | None = None
        self._openapi: dict[str, Any] | None = None
        self.feed = notifications.NotificationFeed(unit)
        meta = Route("GET", f"{PREFIX}/openapi.json", self.openapi, "none", "getOpenApi", "meta",
                     "This document (no authentication)", {200: ok("OpenAPI 3.1 document", {"type": "object"})})
        self.routes: list[Route] = [
            meta,
            *services.Services(unit).routes(),
            *parameters.Parameters(unit).routes(),
            *scripts.Scripts(unit).routes(),
            *self.feed.routes(),
            *certificates.Certificates(unit).routes(),
            *endpoints.Endpoints(unit).routes(),
            *conf.Conf(unit).routes(),
            *firmware.Firmware(unit).routes(),
            *capture.Capture(unit).routes(),
        ]
        self.app = self._make_app()

    # ------------------------------------------------------------------ lifecycle
    def _make_app(self) -> web.Application:
        # the route table is built once per process and shared by every unit (emulator.runtime.routes)
        app, shared = routed_app([(r.method, r.path, r.handler, r.op_id) for r in self.routes],
                                 client_max_size=CLIENT_MAX_SIZE, middlewares=[self._middleware])
        self._route_of: dict[int, Route] = {id(route): r for route, r in zip(shared, self.routes, strict=True)}
        return app

    async def start(self, port: int = 0) -> None:
        """Listen on (unit.host, port); port 0 lets the kernel choose. Sets ``unit.listening["api"]``."""
        if self._runner is not None:
            return
        host = self.unit.host
        runner, bound = await serve(self.app, self.unit.log.bind(server="api"), host, port, shutdown_timeout=2.0)
        self.url = http_url(host, bound)
        self._runner = runner
        self.unit.listening["api"] = self.url
        self.unit.log.info("api_listening", url=self.url)

    async def stop(self) -> None:
        self.feed.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self.unit.listening.get("api") == self.url:
            self.unit.listening.pop("api", None)

    # ------------------------------------------------------------------ middleware: auth, policy, errors, log
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        t0 = time.monotonic()
        user = ""
        try:
            route = self._route_of.get(id(request.match_info.route))
            if route is None or route.right != "none":  # unmatched routes: authentication first
                auth = self._authenticate(request)
                user = auth.user
                if route is not None and route.command is not None:
                    policy.check_command(auth, route.command)
                elif route is not None:
                    policy.check_right(auth, route.right, route.what)
                request[CALLER] = auth
            resp = await handler(request)
        except ApiError as e:
            resp = e.response()
        except policy.Forbidden as e:
            resp = ApiError(e.kind, e.message).response()
        except OpError as e:
            resp = ApiError.of(e).response()
        except ConfigError as e:
            kind = ErrorKind(e.kind) if e.kind in set(ErrorKind) else ErrorKind.INVALID
            resp = ApiError(kind, e.message).response()
        except web.HTTPException as e:
            resp = self._http_error(request, e)
        except web.RequestPayloadError as e:  # a body aiohttp cannot read (a Content-Encoding it is not in)
            resp = ApiError(ErrorKind.BAD_REQUEST, f"the request body cannot be read: {e}".strip()).response()
        except Exception as e:  # a bug behind the API: still a JSON answer, and a log line with the cause
            self.unit.log.exception("api_internal_error", method=request.method, path=request.path)
            resp = ApiError(ErrorKind.INTERNAL, f"internal error: {type(e).__name__}").response()
        self._log(request, resp.status, user, t0)
        return resp

    def _http_error(self, request: web.Request, e: web.HTTPException) -> web.Response:
        headers: dict[str, str] = {}
        path = request.path[:200]
        if e.status == 404:
            kind, msg = ErrorKind.NOT_FOUND, f"no such API resource: {path}"
        elif e.status == 405:
            kind, msg = ErrorKind.METHOD_NOT_ALLOWED, f"{request.method[:20]} is not allowed on {path}"
            if hdrs.ALLOW in e.headers:
                headers[hdrs.ALLOW] = e.headers[hdrs.ALLOW]
        elif e.status == 413:
            kind, msg = ErrorKind.TOO_LARGE, f"the request body is larger than {CLIENT_MAX_SIZE} bytes"
        else:
            kind, msg = ErrorKind.HTTP, e.reason or "HTTP error"
        return ApiError(kind, msg, e.status, headers).response()

    def _log(self, request: web.Request, status: int, user: str, t0: float) -> None:
        # Never the body, the query nor the Authorization header: values written may be secrets.
        fields = {
            "method": request.method,
            "path": request.path,
            "status": status,
            "user": user,
            "peer": request.remote or "",
            "ms": round((time.monotonic() - t0) * 1000, 1),
        }
        if request.method == "GET":
            self.unit.log.debug("api_request", **fields)
        else:
            self.unit.log.info("api_request", **fields)

    def _authenticate(self, request: web.Request) -> AuthResult:
        realm = {"WWW-Authenticate": f'Basic realm="{self.unit.profile.product}", charset="UTF-8"'}
        header = request.headers.get(hdrs.AUTHORIZATION)
        if not header:
            raise ApiError(ErrorKind.UNAUTHORIZED, "HTTP Basic authentication is required", headers=realm)
        try:
            login, password = basic_credentials(header)
        except ValueError:
            raise ApiError(ErrorKind.UNAUTHORIZED, "malformed Basic credentials", headers=realm) from None
        res = self.aaa.check(login, password, face="Api", peer=request.remote or "")
        if res.ok:
            return res
        if res.reason == "locked":
            wait = int(self.unit.config.get("Aaa.LoginLockedTimeoutS") or 300)
            raise ApiError(ErrorKind.LOCKED, f"user {login[:80]} is locked after too many failed logins; retry later",
                           headers={"Retry-After": str(wait)})
        raise ApiError(ErrorKind.UNAUTHORIZED, "bad user name or password", headers=realm)

    # ------------------------------------------------------------------ the description
    def description(self) -> dict[str, Any]:
        """``openapi.json`` without its servers entry (built once: the route table does not change)."""
        if self._openapi is None:
            self._openapi = build_openapi(self.routes, COMPONENTS, self.unit.profile.product)
        return self._openapi

    async def openapi(self, request: web.Request) -> web.Response:
        try:
            origin = str(request.url.origin())
        except ValueError:  # a Host header that is no host: the address the server listens on
            origin = self.url or ""
        doc = {**self.description(), "servers": [{"url": origin, "description": f"unit {self.unit.name}"}]}
        return json_response(doc)

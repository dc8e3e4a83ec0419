"""HTTP control API of one unit: JSON over HTTP for automation, described by OpenAPI 3.1.

An emulator face, not a DGW service: it is started by the runtime next to the unit's services and is
never listed in ``Scm.ServicesInfo``. Every change goes through :class:`~firmware_model.config.Config`
(validation, persistence, change events); this module only translates HTTP to configuration calls
and configuration errors to HTTP answers (see ``docs/api.md`` for the contract and status codes).

Authentication is HTTP Basic against ``Aaa.Users`` through :meth:`Aaa.check` (face ``Api``), so failed
logins count towards the same lock-out as the other faces. ``/api/v1/openapi.json`` is public.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import hdrs, web

from emulator.engines.cert.engine import UNSECURE_TRANSFER_WINDOW_S
from emulator.engines.mipt.call_media import CallMedia
from emulator.engines.mipt.endpoint_audio import AudioError, parse_media_request
from emulator.engines.sipep.calls import CallError, CallManager, endpoint_action
from emulator.faces.api.openapi import API_VERSION, build_openapi
from emulator.protocols.media.dtmf import DtmfError
from firmware_model import script as scripts
from firmware_model.certs import MAX_UPLOAD_BYTES, CertError
from firmware_model.config import Address, ConfigError, Index
from firmware_model.notifications import SEVERITIES, NotificationEvent
from firmware_model.schema import Param, Table, Value

if TYPE_CHECKING:
    from emulator.engines.aaa import Aaa, AuthResult
    from emulator.engines.cert.engine import CertEngine, StoredCert
from emulator.runtime.unit import ServiceState, Unit

__all__ = [
    "CLIENT_MAX_SIZE",
    "ROUTES",
    "STATUS_BY_KIND",
    "ApiError",
    "ApiServer",
    "Route",
    "basic_credentials",
    "json_value",
]

CLIENT_MAX_SIZE = 2 * 1024 * 1024  # largest request body (a configuration script), bytes
NOTIFICATION_BACKLOG = 1000  # notifications kept for GET /notifications and SSE replay
SSE_KEEPALIVE_S = 15.0
SSE_QUEUE = 1000  # events buffered per stream before a slow client is dropped

# ConfigError.kind -> HTTP status (documented in docs/api.md; part of the contract).
STATUS_BY_KIND: dict[str, int] = {
    "unknown": 404,
    "no-row": 404,
    "invalid": 400,
    "syntax": 400,
    "read-only": 409,
    "row-exists": 409,
    "not-dynamic": 409,
}

# Tables whose changes are Admin only, and why (rights matrix): users and rights; the certificate
# stores, whose Delete row command would otherwise bypass DELETE /certificates (Admin only).
_ADMIN_TABLES: dict[str, str] = {
    "Aaa.Users": "only Admin users may change users and rights",
    "Cert.HostCertificatesInfo": "only Admin users may delete certificates",
    "Cert.OthersCertificatesInfo": "only Admin users may delete certificates",
}

# Services whose TLS contexts use the certificate store: an import marks them as needing a restart,
# as the web page's import does (a new host certificate also matters to the HTTPS web server).

_dumps = partial(json.dumps, default=str, ensure_ascii=False)

# The authenticated user of the request being handled (each request runs in its own task).
_AUTH: ContextVar[AuthResult] = ContextVar("api_auth")


class ApiError(Exception):
    """A refusal with the HTTP status and the ``kind`` written in the JSON answer."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> web.Response:
        return _error(self.status, self.kind, self.message, self.headers, self.extra)


def _error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None
) -> web.Response:
    body = {"error": message, "kind": kind, **(extra or {})}
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


def _cert_refusal(e: CertError, upload: bool = False) -> ApiError:
    """A refused certificate operation: 400 kind ``certificate`` with the engine's precise ``reason``
    (``garbage``, ``truncated``, ``key-mismatch``, ``unsecure-transfer``...); 404 for a file that is not
    there; 413 for an upload over the size limit (a remote file over it is a 400: the request was fine)."""
    status = 404 if e.kind == "no-file" else 413 if (upload and e.kind == "too-large") else 400
    kind = "too-large" if status == 413 else "certificate"
    return ApiError(status, kind, e.message, extra={"reason": e.kind})


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


@dataclass(frozen=True, slots=True)
class Route:
    """One operation: method, path template (aiohttp syntax), handler method name, right needed.

    ``need`` is ``none`` (public), ``read``, ``write`` or ``admin`` (AuthResult.can)."""

    method: str
    path: str
    handler: str
    need: str


P = "/api/v1"
ADMIN_ACTIONS = {"lock": "Lock", "unlock": "Unlock", "force-lock": "ForceLock"}  # -> EpAdm.Endpoint commands
ACTION_WAIT_S = 3.0  # longest an endpoint action's HTTP answer waits for SIP (then 202, still running)
ROUTES: tuple[Route, ...] = (
    Route("GET", f"{P}/openapi.json", "openapi", "none"),
    Route("GET", f"{P}/status", "status", "read"),
    Route("GET", f"{P}/parameters", "list_parameters", "read"),
    Route("GET", f"{P}/parameters/{{name:.+}}", "get_parameter", "read"),
    Route("PUT", f"{P}/parameters/{{name:.+}}", "put_parameter", "write"),
    Route("GET", f"{P}/tables", "list_tables", "read"),
    Route("GET", f"{P}/tables/{{table}}", "get_table", "read"),
    Route("POST", f"{P}/tables/{{table}}/rows", "add_row", "write"),
    Route("GET", f"{P}/tables/{{table}}/rows/{{index:.+}}", "get_row", "read"),
    Route("PUT", f"{P}/tables/{{table}}/rows/{{index:.+}}", "put_row", "write"),
    Route("DELETE", f"{P}/tables/{{table}}/rows/{{index:.+}}", "delete_row", "write"),
    Route("GET", f"{P}/services", "list_services", "read"),
    Route("POST", f"{P}/services/restart-required", "restart_required", "write"),
    Route("GET", f"{P}/services/{{name}}", "get_service", "read"),
    Route("POST", f"{P}/services/{{name}}/restart", "restart_service", "write"),
    Route("POST", f"{P}/services/{{name}}/start", "start_service", "write"),
    Route("POST", f"{P}/services/{{name}}/stop", "stop_service", "write"),
    Route("POST", f"{P}/factory-reset", "factory_reset", "admin"),
    Route("POST", f"{P}/scripts", "run_script", "write"),
    Route("GET", f"{P}/scripts/export", "export_script", "write"),
    Route("GET", f"{P}/notifications", "list_notifications", "read"),
    Route("GET", f"{P}/notifications/stream", "stream_notifications", "read"),
    Route("GET", f"{P}/certificates", "list_certificates", "read"),
    Route("GET", f"{P}/certificates/factory-ca", "factory_ca", "read"),
    Route("GET", f"{P}/certificates/{{kind:host|other}}/{{name}}", "get_certificate", "read"),
    Route("POST", f"{P}/certificates/activate-unsecure-transfer", "activate_unsecure_transfer", "admin"),
    Route("POST", f"{P}/certificates/transfer", "transfer_certificate", "write"),  # host: Admin (handler)
    Route("POST", f"{P}/certificates/{{kind:host|other}}", "import_certificate", "write"),  # host: Admin (handler)
    Route("DELETE", f"{P}/certificates/{{kind:host|other}}/{{name}}", "delete_certificate", "admin"),
    Route("GET", f"{P}/calls", "list_calls", "read"),
    Route("GET", f"{P}/endpoints", "list_endpoints", "read"),
    Route("GET", f"{P}/endpoints/{{ep}}/media", "get_endpoint_media", "read"),
    Route("PUT", f"{P}/endpoints/{{ep}}/media", "put_endpoint_media", "write"),
    Route("POST", f"{P}/endpoints/{{ep}}/{{action}}", "endpoint_action", "write"),
)


# ---------------------------------------------------------------------------------------------- values
def json_value(p: Param, v: Value | None) -> Any:
    """A configuration value as JSON: enums by label, numbers as numbers, the rest as strings."""
    if v is None:
        return None
    kind = p.type.kind
    if kind == "enum":
        if isinstance(v, int) and not isinstance(v, bool):
            try:
                return p.type.label_of(v)
            except KeyError:
                return v
        return str(v)
    if kind in ("uint", "int", "uint64"):
        if isinstance(v, int):
            return v
        try:
            return int(str(v).strip())
        except ValueError:
            return str(v)
    return str(v)


def _type_doc(p: Param) -> dict[str, Any]:
    t = p.type
    out: dict[str, Any] = {"kind": t.kind, "description": t.describe()}
    if t.is_enum:
        out["values"] = t.labels()
    elif t.kind in ("uint", "int"):
        out["ranges"] = [list(r) for r in t.ranges]
    elif t.kind == "string":
        out["min_length"], out["max_length"] = t.min, t.max
    return out


def _utc_iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_since(text: str) -> tuple[str, float]:
    """``since``: a sequence number (digits), an ISO-8601 time, or epoch seconds with a dot."""
    s = text.strip()
    if s.isdigit():
        return "seq", float(s)
    try:
        return "time", float(s)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ApiError(
            400, "invalid", f"since={text!r}: give a sequence number, an ISO-8601 time or epoch seconds"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return "time", dt.timestamp()


def _int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        n = int(raw)
    except ValueError:
        raise ApiError(400, "invalid", f"{name}={raw!r}: a whole number in {lo}..{hi} is expected") from None
    if not lo <= n <= hi:
        raise ApiError(400, "invalid", f"{name}={n}: a whole number in {lo}..{hi} is expected")
    return n


def _bool_query(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    low = raw.lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise ApiError(400, "invalid", f"{name}={raw!r}: true or false is expected")


def basic_credentials(header: str) -> tuple[str, str]:
    """``Authorization: Basic base64(user:password)`` (RFC 7617; UTF-8, else Latin-1) -> (user, password).

    The password may be empty (the factory user ``public``) and may contain colons."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise ValueError("not Basic credentials")
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except binascii.Error:
        raise ValueError("bad base64") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, sep, password = text.partition(":")
    if not sep:
        raise ValueError("no colon")
    return user, password


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()  # HTTPRequestEntityTooLarge (413) past CLIENT_MAX_SIZE
    if not raw.strip():
        raise ApiError(400, "bad-request", "a JSON body is required")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ApiError(400, "bad-request", f"the body is not valid JSON: {e}") from None


def _body_value(v: Any, what: str) -> Value:
    """A JSON value accepted for a parameter: a string or a whole number."""
    if isinstance(v, bool) or v is None or isinstance(v, dict | list):
        raise ApiError(400, "invalid", f"{what}: the value must be a JSON string or number")
    if isinstance(v, float):
        if not v.is_integer():
            raise ApiError(400, "invalid", f"{what}: {v} is not a whole number")
        return int(v)
    assert isinstance(v, str | int)
    return v


# ---------------------------------------------------------------------------------------------- server
class ApiServer:
    """The HTTP control API face of one unit (aiohttp low-level runner, bound to ``unit.host``)."""

    name = "Api"

    def __init__(self, unit: Unit, aaa: Aaa) -> None:
        self.unit = unit
        self.aaa = aaa
        self.app = self._make_app()
        self.url: str | None = None
        self._runner: web.AppRunner | None = None
        self._openapi: dict[str, Any] | None = None
        # Notifications get a sequence number here (for ?since= and SSE Last-Event-ID).
        self._seq = 0
        self._events: deque[tuple[int, NotificationEvent]] = deque(maxlen=NOTIFICATION_BACKLOG)
        self._streams: set[asyncio.Queue[tuple[int, NotificationEvent] | None]] = set()
        for ev in list(unit.notifications):
            self._on_notification(ev)
        self._unsubscribe = unit.on_notification(self._on_notification)

    # ------------------------------------------------------------------ lifecycle
    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=CLIENT_MAX_SIZE, middlewares=[self._middleware])
        self._needs: dict[int, str] = {}
        for r in ROUTES:
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]] = getattr(self, r.handler)
            route = app.router.add_route(r.method, r.path, handler, name=r.handler)
            self._needs[id(route)] = r.need
        return app

    async def start(self, port: int = 0) -> None:
        """Listen on (unit.host, port); port 0 lets the kernel choose. Sets ``unit.listening["api"]``."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        host = self.unit.host
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        real_port = int(runner.addresses[0][1])
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{real_port}"
        self.unit.listening["api"] = self.url
        self.unit.log.info("api_listening", url=self.url)

    async def stop(self) -> None:
        for q in list(self._streams):
            self._end_stream(q)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self.unit.listening.get("api") == self.url:
            self.unit.listening.pop("api", None)

    # ------------------------------------------------------------------ middleware: auth, errors, log
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        t0 = time.monotonic()
        user = ""
        try:
            need = self._needs.get(id(request.match_info.route), "read")  # unmatched routes: auth first
            if need != "none":
                auth = self._authenticate(request)
                user = auth.user
                if not auth.can(need):
                    raise ApiError(
                        403,
                        "forbidden",
                        f"user {auth.user} ({auth.rights}) may not do this: "
                        f"{'Admin' if need == 'admin' else 'User or Admin'} rights are needed",
                    )
                _AUTH.set(auth)
            resp = await handler(request)
        except ApiError as e:
            resp = e.response()
        except ConfigError as e:
            resp = _error(STATUS_BY_KIND.get(e.kind, 400), e.kind, e.message)
        except web.HTTPException as e:
            resp = self._http_error(request, e)
        except Exception as e:  # a bug behind the API: still a JSON answer, and a log line with the cause
            self.unit.log.exception("api_internal_error", method=request.method, path=request.path)
            resp = _error(500, "internal", f"internal error: {type(e).__name__}")
        self._log(request, resp.status, user, t0)
        return resp

    def _http_error(self, request: web.Request, e: web.HTTPException) -> web.Response:
        headers: dict[str, str] = {}
        if e.status == 404:
            kind, msg = "not-found", f"no such API resource: {request.path}"
        elif e.status == 405:
            kind, msg = "method-not-allowed", f"{request.method} is not allowed on {request.path}"
            if hdrs.ALLOW in e.headers:
                headers[hdrs.ALLOW] = e.headers[hdrs.ALLOW]
        elif e.status == 413:
            kind, msg = "too-large", f"the request body is larger than {CLIENT_MAX_SIZE} bytes"
        else:
            kind, msg = "http", e.reason or "HTTP error"
        return _error(e.status, kind, msg, headers)

    def _log(self, request: web.Request, status: int, user: str, t0: float) -> None:
        # Never the body nor the Authorization header: values written may be secrets.
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
            raise ApiError(401, "unauthorized", "HTTP Basic authentication is required", realm)
        try:
            login, password = basic_credentials(header)
        except ValueError:
            raise ApiError(401, "unauthorized", "malformed Basic credentials", realm) from None
        res = self.aaa.check(login, password, face="Api", peer=request.remote or "")
        if res.ok:
            return res
        if res.reason == "locked":
            wait = int(self.unit.config.get("Aaa.LoginLockedTimeoutS") or 300)
            raise ApiError(
                429,
                "locked",
                f"user {login} is locked after too many failed logins; retry later",
                {"Retry-After": str(wait)},
            )
        raise ApiError(401, "unauthorized", "bad user name or password", realm)

    @staticmethod
    def _auth(request: web.Request) -> AuthResult:
        return _AUTH.get()

    def _check_secret(self, request: web.Request, p: Param, what: str) -> None:
        auth = self._auth(request)
        if p.secret and not auth.can("secrets"):
            raise ApiError(403, "forbidden", f"{what}: a secret; only Admin users may read or write it")

    def _check_admin_table(self, request: web.Request, table: str, what: str) -> None:
        auth = self._auth(request)
        if table in _ADMIN_TABLES and not auth.can("admin"):
            raise ApiError(403, "forbidden", f"{what}: {_ADMIN_TABLES[table]}")

    def _check_admin(self, request: web.Request, what: str) -> None:
        auth = self._auth(request)
        if not auth.can("admin"):
            raise ApiError(
                403, "forbidden", f"user {auth.user} ({auth.rights}) may not do this: Admin rights are needed {what}"
            )

    def _shown(self, request: web.Request, p: Param, v: Value | None) -> Any:
        """A value for a listing: secrets are null for users without the right to read them."""
        if p.secret and not self._auth(request).can("secrets"):
            return None
        return json_value(p, v)

    # ------------------------------------------------------------------ documents
    async def openapi(self, request: web.Request) -> web.Response:
        if self._openapi is None:
            self._openapi = build_openapi(self.unit.profile.product)
        doc = dict(self._openapi)
        doc["servers"] = [{"url": str(request.url.origin()), "description": f"unit {self.unit.name}"}]
        return _json(doc)

    async def status(self, request: web.Request) -> web.Response:
        u = self.unit
        now = u.clock.now()
        return _json(
            {
                "name": u.name,
                "profile": u.profile.key,
                "product": u.profile.product,
                "serial": u.identity.serial,
                "mac": u.identity.mac,
                "version": u.version,
                "api_version": API_VERSION,
                "host": u.host,
                "uptime": int(u.clock.uptime()),
                "uptime_text": u.config.get_text("Hoc.SystemUptime"),
                "system_time": {"epoch": now, "utc": _utc_iso(now), "local": u.local_time(now)},
                "needs_restart": u.config.restart_required(),
                "listening": dict(u.listening),
            }
        )

    # ------------------------------------------------------------------ parameters
    async def list_parameters(self, request: web.Request) -> web.Response:
        cfg = self.unit.config
        q = request.query
        prefix = q.get("prefix", "").lower()
        service = q.get("service", "").lower()
        access = q.get("access", "")
        if access not in ("", "read-write", "read-only"):
            raise ApiError(400, "invalid", f"access={access!r}: read-write or read-only is expected")
        modified = _bool_query(request, "modified")
        out = []
        for p in self.unit.catalog.scalars():
            if prefix and not p.name.lower().startswith(prefix):
                continue
            if service and p.service.lower() != service:
                continue
            if access and p.access != access:
                continue
            is_mod = p.writable and cfg.is_modified(p.name)
            if modified is not None and is_mod != modified:
                continue
            try:
                value = cfg.get(p.name)
            except Exception:  # a status provider of an engine that is not running
                value = None
            out.append(
                {
                    "name": p.name,
                    "value": self._shown(request, p, value),
                    "access": p.access,
                    "type": _type_doc(p),
                    "default": self._shown(request, p, p.default),
                    "modified": is_mod,
                    "restart": p.restart,
                    "secret": p.secret,
                    "title": p.title,
                }
            )
        return _json({"parameters": out, "count": len(out)})

    def _name(self, request: web.Request) -> str:
        return request.match_info["name"]

    async def get_parameter(self, request: web.Request) -> web.Response:
        cfg = self.unit.config
        addr = cfg.resolve(self._name(request))
        self._check_secret(request, addr.param, addr.text)
        return _json({"name": addr.text, "value": json_value(addr.param, cfg.get(addr))})

    async def put_parameter(self, request: web.Request) -> web.Response:
        cfg = self.unit.config
        addr = cfg.resolve(self._name(request))
        body = await _json_body(request)
        if not isinstance(body, dict) or "value" not in body:
            raise ApiError(400, "bad-request", 'the body must be a JSON object {"value": ...}')
        value = _body_value(body["value"], addr.text)
        self._check_secret(request, addr.param, addr.text)
        if addr.param.table is not None:
            self._check_admin_table(request, addr.param.table, addr.text)
        cfg.set(addr, value, source="api")
        try:
            now = cfg.get(addr)
        except ConfigError:  # a row command (e.g. Delete) removed the row
            now = value
        return _json({"name": addr.text, "value": json_value(addr.param, now)})

    # ------------------------------------------------------------------ tables
    def _table(self, request: web.Request) -> Table:
        name = request.match_info["table"]
        table = self.unit.catalog.table(name)
        if table is None:
            raise ApiError(404, "unknown", f"{name}: unknown table")
        return table

    def _index(self, request: web.Request, table: Table) -> Index:
        return self.unit.config.parse_index(table, request.match_info["index"])

    def _row_json(self, request: web.Request, table: Table, row: dict[str, Value]) -> dict[str, Any]:
        return {c: self._shown(request, table.columns[c], v) for c, v in row.items() if c in table.columns}

    def _index_json(self, table: Table, index: Index) -> list[Any]:
        return [json_value(table.columns[c], v) for c, v in zip(table.index, index, strict=True)]

    async def list_tables(self, request: web.Request) -> web.Response:
        service = request.query.get("service", "").lower()
        prefix = request.query.get("prefix", "").lower()
        out = [
            {
                "name": t.name,
                "index": list(t.index),
                "columns": list(t.columns),
                "dynamic": t.dynamic,
                "status": t.status,
            }
            for t in self.unit.catalog.tables.values()
            if (not service or t.service.lower() == service) and (not prefix or t.name.lower().startswith(prefix))
        ]
        return _json({"tables": out, "count": len(out)})

    async def get_table(self, request: web.Request) -> web.Response:
        table = self._table(request)
        rows = self.unit.config.rows(table.name)
        return _json(
            {
                "name": table.name,
                "index": list(table.index),
                "columns": list(table.columns),
                "rows": [self._row_json(request, table, r) for r in rows],
            }
        )

    def _find_row(self, table: Table, index: Index) -> dict[str, Value]:
        for r in self.unit.config.rows(table.name):
            if tuple(r[c] for c in table.index) == index:
                return r
        raise ConfigError("no-row", table.name, f"{table.name}: no row with index {_fmt(index)}")

    async def get_row(self, request: web.Request) -> web.Response:
        table = self._table(request)
        index = self._index(request, table)
        row = self._find_row(table, index)
        return _json(
            {"name": table.name, "index": self._index_json(table, index), "row": self._row_json(request, table, row)}
        )

    async def add_row(self, request: web.Request) -> web.Response:
        table = self._table(request)
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "bad-request", "the body must be a JSON object {column: value, ...}")
        values = {str(k): _body_value(v, f"{table.name}.{k}") for k, v in body.items()}
        self._check_admin_table(request, table.name, table.name)
        for k in values:
            col = table.column(k)
            if col is not None:
                self._check_secret(request, col, col.name)
        index = self.unit.config.add_row(table.name, values, source="api")
        row = self._find_row(table, index)
        return _json(
            {"name": table.name, "index": self._index_json(table, index), "row": self._row_json(request, table, row)},
            status=201,
        )

    async def put_row(self, request: web.Request) -> web.Response:
        table = self._table(request)
        index = self._index(request, table)
        body = await _json_body(request)
        if not isinstance(body, dict) or not body:
            raise ApiError(400, "bad-request", "the body must be a non-empty JSON object {column: value, ...}")
        cfg = self.unit.config
        self._find_row(table, index)
        self._check_admin_table(request, table.name, table.name)
        cells = []
        for k, v in body.items():
            col = table.column(str(k))
            if col is None:
                raise ConfigError("unknown", f"{table.name}.{k}", f"{table.name}: no column {k}")
            if col.name.rsplit(".", 1)[1] in table.index:
                raise ConfigError("read-only", col.name, f"{col.name}: an index column cannot be changed")
            self._check_secret(request, col, col.name)
            cells.append((col, _body_value(v, col.name)))
        with cfg.batch():  # all or nothing
            for col, v in cells:
                cfg.set(Address(col, index), v, source="api")
        row = self._find_row(table, index)
        return _json(
            {"name": table.name, "index": self._index_json(table, index), "row": self._row_json(request, table, row)}
        )

    async def delete_row(self, request: web.Request) -> web.Response:
        table = self._table(request)
        index = self._index(request, table)
        self._check_admin_table(request, table.name, table.name)
        self.unit.config.delete_row(table.name, index, source="api")
        return _json({"name": table.name, "index": self._index_json(table, index)})

    # ------------------------------------------------------------------ services (Scm)
    def _service_state(self, request: web.Request) -> ServiceState:
        name = request.match_info["name"]
        for k, st in self.unit.services.items():
            if k.lower() == name.lower():
                return st
        raise ApiError(404, "unknown", f"{name}: unknown service")

    def _service_json(self, name: str) -> dict[str, Any]:
        cfg = self.unit.config
        svc = self.unit.catalog.services[name]
        info = next((r for r in cfg.rows("Scm.ServicesInfo") if r["Name"] == name), {})
        nri = svc.params.get("NeedRestartInfo")
        need = cfg.get(nri.name) if nri is not None else ("Yes" if cfg.needs_restart(name) else "No")
        return {
            "name": name,
            "numkey": svc.numkey,
            "display": svc.display,
            "NeedRestartInfo": need,
            "ExecState": info.get("ExecState"),
            "StartupType": info.get("StartupType"),
            "Comment": info.get("Comment", ""),
        }

    async def list_services(self, request: web.Request) -> web.Response:
        out = [self._service_json(n) for n in self.unit.services]
        return _json({"services": out, "count": len(out)})

    async def get_service(self, request: web.Request) -> web.Response:
        return _json(self._service_json(self._service_state(request).name))

    async def restart_service(self, request: web.Request) -> web.Response:
        st = self._service_state(request)
        await self.unit.restart_service(st.name)
        return _json(self._service_json(st.name))

    async def start_service(self, request: web.Request) -> web.Response:
        st = self._service_state(request)
        await self.unit.start_service(st.name)
        return _json(self._service_json(st.name))

    async def stop_service(self, request: web.Request) -> web.Response:
        st = self._service_state(request)
        await self.unit.stop_service(st.name)
        return _json(self._service_json(st.name))

    async def restart_required(self, request: web.Request) -> web.Response:
        names = await self.unit.restart_required_services()
        return _json({"restarted": names, "services": [self._service_json(n) for n in names]})

    async def factory_reset(self, request: web.Request) -> web.Response:
        restart = _bool_query(request, "restart")
        self.unit.factory_reset(source="api")
        restarted: list[str] = []
        if restart:
            restarted = await self.unit.restart_required_services()
        return _json({"needs_restart": self.unit.config.restart_required(), "restarted": restarted})

    # ------------------------------------------------------------------ configuration scripts
    def _script_rights(self, request: web.Request, text: str) -> None:
        """Refuse (403) a script that writes secrets or users unless the user has the rights."""
        auth = self._auth(request)
        if auth.can("secrets") and auth.can("admin"):
            return
        statements, _errors = scripts.parse_script(text)
        refused: list[int] = []
        for st in statements:
            try:
                p = self.unit.config.resolve(st.target).param
            except ConfigError:
                continue  # unknown names are reported by the script engine itself
            if (p.secret and not auth.can("secrets")) or (p.table in _ADMIN_TABLES and not auth.can("admin")):
                refused.append(st.number)
        if refused:
            raise ApiError(
                403,
                "forbidden",
                f"line(s) {', '.join(map(str, refused))}: only Admin users may write secrets, users or rights; "
                "nothing applied",
            )

    async def run_script(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if len(raw) > scripts.MAX_SCRIPT_BYTES:
            raise ApiError(413, "too-large", f"a script may hold at most {scripts.MAX_SCRIPT_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "bad-request", "the script must be UTF-8 text") from None
        self._script_rights(request, text)
        result = self.unit.run_script(text, source="api")
        doc = result.to_dict()
        if result.ok:
            return _json(doc)
        failed = [ln for ln in result.lines if not ln.ok]
        first = failed[0] if failed else None
        where = f"line {first.number}: {first.error}" if first is not None else "refused"
        if result.committed:  # the configuration was applied; a command run afterwards failed
            doc["error"] = f"configuration applied, but {len(failed)} command(s) failed; {where}"
        else:
            doc["error"] = f"{len(failed)} line(s) refused, nothing applied; {where}"
        return _json(doc, status=400)

    async def export_script(self, request: web.Request) -> web.Response:
        cfg = self.unit.config
        content = request.query.get("content") or cfg.get_text("Conf.ScriptExportContent") or "ModifiedConfig"
        p = self.unit.catalog.params["Conf.ScriptExportContent"]
        try:
            content = str(p.type.parse(content))
        except ValueError as e:
            raise ApiError(400, "invalid", f"content={content!r}: {e}") from None
        service = request.query.get("service") or cfg.get_text("Conf.ScriptExportServiceName") or "All"
        text = scripts.export_script(cfg, content=content, service=service)
        if not self._auth(request).can("secrets"):
            text = self._without_secrets(text)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    def _without_secrets(self, text: str) -> str:
        """An export for a user without Admin rights: secret lines left out (and said so)."""
        out: list[str] = []
        dropped = 0
        for line in text.splitlines():
            parts = scripts.split_assignment(scripts.strip_comment(line))
            if parts is not None:
                try:
                    if self.unit.config.resolve(parts[0]).param.secret:
                        dropped += 1
                        continue
                except ConfigError:
                    pass
            out.append(line)
        if dropped:
            out.insert(
                1 if out and out[0].startswith("#") else 0,
                f"# {dropped} secret value(s) left out: only Admin users export secrets",
            )
        return "\n".join(out) + "\n"

    # ------------------------------------------------------------------ certificates (Cert)
    async def _certs(self) -> CertEngine:
        """The unit's certificate store, provisioned (first boot) if it was not yet."""
        cert: CertEngine | None = getattr(self.unit, "cert", None)
        if cert is None:
            raise ApiError(404, "not-found", "this unit has no certificate store (no Cert engine)")
        await cert.ready()
        return cert

    def _cert_json(self, s: StoredCert) -> dict[str, Any]:
        i = s.info
        return {
            "kind": s.kind,
            "file_name": s.file_name,
            "issued_to": i.issued_to,
            "issued_by": i.issued_by,
            "valid_from": self.unit.local_time(i.valid_from.timestamp()),
            "valid_to": self.unit.local_time(i.valid_to.timestamp()),
            "valid_from_utc": _utc_iso(i.valid_from.timestamp()),
            "valid_to_utc": _utc_iso(i.valid_to.timestamp()),
            "usage": i.usage,
            "certificate_authority": i.certificate_authority,
            "factory": s.factory,
            "sha256": i.fingerprint,
        }

    def _cert_entries(self, cert: CertEngine, kind: str, names: list[str]) -> list[dict[str, Any]]:
        stored = {s.file_name: s for s in (cert.host_certificates() if kind == "host" else cert.other_certificates())}
        return [self._cert_json(stored[n]) for n in names if n in stored]

    async def list_certificates(self, request: web.Request) -> web.Response:
        cert = await self._certs()
        out = [self._cert_json(s) for s in [*cert.host_certificates(), *cert.other_certificates()]]
        return _json(
            {"certificates": out, "count": len(out), "unsecure_transfer_active": cert.unsecure_transfer_active}
        )

    async def factory_ca(self, request: web.Request) -> web.Response:
        cert = await self._certs()
        return web.Response(
            body=cert.factory_ca_pem(),
            content_type="application/x-pem-file",
            headers={"Content-Disposition": 'attachment; filename="factory-ca.pem"'},
        )

    async def get_certificate(self, request: web.Request) -> web.Response:
        cert = await self._certs()
        kind, name = request.match_info["kind"], request.match_info["name"]
        try:
            body = cert.certificate_pem(kind, name)
        except CertError as e:
            raise _cert_refusal(e) from None
        return web.Response(
            body=body,
            content_type="application/x-pem-file",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def _certificate_body(self, request: web.Request) -> bytes:
        """The request body, refused with 413 past MAX_UPLOAD_BYTES without reading more than that."""
        limit = MAX_UPLOAD_BYTES

        def too_large(size: str) -> ApiError:
            return _cert_refusal(
                CertError("too-large", f"the file is too large: {size}, the most a certificate file may hold is "
                                       f"{limit} bytes"),
                upload=True,
            )

        length = request.content_length
        if length is not None and length > limit:
            raise too_large(f"{length} bytes")
        data = bytearray()
        while chunk := await request.content.read(65536):
            data += chunk
            if len(data) > limit:
                raise too_large(f"more than {limit} bytes")
        return bytes(data)

    async def import_certificate(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind == "host":
            self._check_admin(request, "to import a host certificate (it carries a private key)")
        password = request.query.get("password") or None
        file_name = request.query.get("file_name") or None
        if kind == "other" and password is not None:
            raise ApiError(400, "bad-request", "password= is for host certificates (an encrypted key or PKCS#12)")
        cert = await self._certs()
        data = await self._certificate_body(request)
        try:
            if kind == "host":
                # The API is served over HTTP: a host certificate's key crosses the network in clear, so the
                # "Activate unsecure certificate transfer" rule applies exactly as to the web page's upload.
                names = [cert.import_host(data, password, file_name=file_name, over_plain_http=not request.secure)]
            else:
                names = cert.import_other(data, file_name=file_name)
        except CertError as e:
            raise _cert_refusal(e, upload=True) from None
        return _json(
            {"kind": kind, "file_names": names, "certificates": self._cert_entries(cert, kind, names)}, status=201
        )

    async def transfer_certificate(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "bad-request", 'the body must be a JSON object {"url", "kind", "password"?}')
        unknown = sorted(set(body) - {"url", "kind", "password", "file_name"})
        if unknown:
            raise ApiError(400, "bad-request", f"unknown member(s) {', '.join(unknown)}: url, kind, password, "
                                               "file_name are accepted")
        url = body.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ApiError(400, "bad-request", '"url" is required: the http:// or https:// URL of the file')
        kind = body.get("kind", "other")
        if not isinstance(kind, str) or kind.lower() not in ("host", "other"):
            raise ApiError(400, "invalid", f'"kind": {kind!r} is not host or other')
        kind = kind.lower()
        password, file_name = body.get("password"), body.get("file_name")
        for what, v in (("password", password), ("file_name", file_name)):
            if v is not None and not isinstance(v, str):
                raise ApiError(400, "bad-request", f'"{what}" must be a JSON string')
        if kind == "other" and password:
            raise ApiError(400, "bad-request", '"password" is for host certificates (an encrypted key or PKCS#12)')
        if kind == "host":
            self._check_admin(request, "to import a host certificate (it carries a private key)")
        cert = await self._certs()
        try:
            got = await cert.import_from_url(url, kind, password or None, file_name=file_name or None)
        except CertError as e:
            raise _cert_refusal(e) from None
        names = [got] if isinstance(got, str) else list(got)
        return _json(
            {"kind": kind, "file_names": names, "certificates": self._cert_entries(cert, kind, names)}, status=201
        )

    async def activate_unsecure_transfer(self, request: web.Request) -> web.Response:
        cert = await self._certs()
        cert.activate_unsecure_transfer(UNSECURE_TRANSFER_WINDOW_S)
        return _json(
            {
                "unsecure_transfer_active": True,
                "seconds": UNSECURE_TRANSFER_WINDOW_S,
                "message": "the next host certificate import over plain HTTP within "
                f"{int(UNSECURE_TRANSFER_WINDOW_S)} s is accepted (one import)",
            }
        )

    async def delete_certificate(self, request: web.Request) -> web.Response:
        cert = await self._certs()
        kind, name = request.match_info["kind"], request.match_info["name"]
        try:
            cert.delete(kind, name)
        except CertError as e:
            raise _cert_refusal(e) from None
        return _json({"kind": kind, "file_name": name})

    # ------------------------------------------------------------------ notifications
    def _on_notification(self, ev: NotificationEvent) -> None:
        self._seq += 1
        item = (self._seq, ev)
        self._events.append(item)
        for q in list(self._streams):
            try:
                q.put_nowait(item)
            except asyncio.QueueFull:  # a client that does not read: drop it (it may reconnect)
                self._end_stream(q)

    def _end_stream(self, q: asyncio.Queue[tuple[int, NotificationEvent] | None]) -> None:
        self._streams.discard(q)
        while not q.empty():
            q.get_nowait()
        q.put_nowait(None)

    def _event_json(self, seq: int, ev: NotificationEvent) -> dict[str, Any]:
        return {
            "seq": seq,
            "service": ev.service,
            "numkey": ev.numkey,
            "service_name": ev.service_name,
            "msg_id": ev.msg_id,
            "severity": ev.severity,
            "message": ev.message,
            "time": ev.time,
            "time_utc": _utc_iso(ev.time),
            "time_local": self.unit.local_time(ev.time),
            "fields": dict(ev.fields),
        }

    def _event_filter(self, request: web.Request) -> Callable[[int, NotificationEvent], bool]:
        q = request.query
        since: tuple[str, float] | None = None
        raw = q.get("since") or request.headers.get("Last-Event-ID")
        if raw:
            since = _parse_since(raw)
        service = q.get("service", "").lower()
        sev = q.get("severity", "")
        floor = 0
        if sev:
            match = next((k for k in SEVERITIES if k.lower() == sev.lower()), None)
            if match is None:
                raise ApiError(400, "invalid", f"severity={sev!r}: one of {', '.join(SEVERITIES)} is expected")
            floor = SEVERITIES[match]

        def keep(seq: int, ev: NotificationEvent) -> bool:
            if since is not None:
                mode, value = since
                if (seq if mode == "seq" else ev.time) <= value:
                    return False
            if service and ev.service.lower() != service and str(ev.numkey) != service:
                return False
            return SEVERITIES.get(ev.severity, 0) >= floor

        return keep

    # ------------------------------------------------------------------ calls (SipEp)
    def _calls(self) -> CallManager:
        st = self.unit.services.get("SipEp")
        engine = st.engine if st is not None else None
        calls = getattr(engine, "calls", None)
        if not isinstance(calls, CallManager):
            raise ApiError(503, "unavailable", "this unit has no SIP engine")
        return calls

    @staticmethod
    def _call_json(row: dict[str, Any]) -> dict[str, Any]:
        return {"peer": row.get("remote", ""), **row}

    async def list_calls(self, request: web.Request) -> web.Response:
        out = []
        for call in self._calls().calls:
            row = self._call_json(call.row())
            stream = getattr(getattr(call, "media", None), "stream", None)
            if stream is not None:
                st = stream.stats()
                row.update({k: st.get(k) for k in ("srtp", "key_management", "suite", "packets_sent",
                                                   "packets_received", "undecryptable", "level_dbm0", "frequency")})
                row["media_local"], row["media_remote"] = st.get("local"), st.get("remote")
            out.append(row)
        return _json({"calls": out})

    def _endpoint(self, name: str) -> str:
        """The EpId (any case) of an endpoint of this unit's profile; 404 otherwise."""
        for row in self.unit.config.rows("EpAdm.Endpoint"):
            if str(row["EpId"]).lower() == name.lower():
                return str(row["EpId"])
        raise ApiError(404, "not-found", f"unknown endpoint {name!r}")

    def _media_hook(self) -> CallMedia:
        hook = self._calls().media
        if not isinstance(hook, CallMedia) or hook.audio_dir is None:
            raise ApiError(503, "unavailable", "this unit's calls carry no media engine")
        return hook

    def _endpoint_json(self, row: dict[str, Any]) -> dict[str, Any]:
        ep = str(row["EpId"])
        calls = self._calls()
        current = calls.current(ep)
        hook = calls.media
        return {
            "endpoint": ep,
            "admin_state": row.get("AdminState"),
            "op_state": row.get("OpState"),
            "usage_state": row.get("UsageState"),
            "initial_admin_state": row.get("InitialAdminStateConfig"),
            "call": self._call_json(current.row()) if current is not None else None,
            "media": hook.audio_of(ep).to_json() if isinstance(hook, CallMedia) else None,
        }

    async def list_endpoints(self, request: web.Request) -> web.Response:
        return _json({"endpoints": [self._endpoint_json(r) for r in self.unit.config.rows("EpAdm.Endpoint")]})

    def _media_json(self, ep: str, hook: CallMedia) -> dict[str, Any]:
        out: dict[str, Any] = {"endpoint": ep, **hook.audio_of(ep).to_json(), "audio_directory": str(hook.audio_dir),
                               "stream": None}
        current = self._calls().current(ep)
        stream = getattr(getattr(current, "media", None), "stream", None)
        if stream is not None:
            out["stream"] = stream.stats()
        return out

    async def get_endpoint_media(self, request: web.Request) -> web.Response:
        ep = self._endpoint(request.match_info["ep"])
        return _json(self._media_json(ep, self._media_hook()))

    async def put_endpoint_media(self, request: web.Request) -> web.Response:
        ep = self._endpoint(request.match_info["ep"])
        hook = self._media_hook()
        body = await _json_body(request)
        assert hook.audio_dir is not None  # _media_hook checked it
        try:
            audio = parse_media_request(body, hook.audio_of(ep), hook.audio_dir)
        except AudioError as e:
            raise ApiError(400, "invalid", f"{ep} media: {e}") from None
        try:
            hook.set_audio(ep, audio)
        except (OSError, ValueError) as e:  # e.g. a WAV file that is not 8 kHz mono 16-bit
            raise ApiError(400, "invalid", f"{ep} media: {e}") from None
        return _json(self._media_json(ep, hook))

    async def _send_dtmf(self, request: web.Request) -> web.Response:
        """``POST /endpoints/{ep}/dtmf`` {"digits", "duration_ms"?, "gap_ms"?}: RFC 4733 events in the call."""
        ep = self._endpoint(request.match_info["ep"])
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("digits"), str):
            raise ApiError(400, "bad-request", 'dtmf needs {"digits": "123#"} (0-9, *, #, A-D)')
        calls = self._calls()
        current = calls.current(ep)
        try:
            method = await calls.dtmf(ep, body["digits"], int(body.get("duration_ms", 100)),
                                      int(body.get("gap_ms", 60)))
        except CallError as e:
            raise ApiError(e.status, "call", str(e)) from None
        except (DtmfError, TypeError, ValueError) as e:
            raise ApiError(400, "invalid", f"dtmf: {e}") from None
        assert current is not None  # dtmf() found it connected
        return _json({"endpoint": ep, "action": "dtmf", "digits": body["digits"].strip().upper(), "method": method,
                      "call": self._call_json(current.row())})

    async def endpoint_action(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action == "dtmf":
            return await self._send_dtmf(request)
        if action in ADMIN_ACTIONS:  # EpAdm row commands, as on System/Endpoints
            ep = self._endpoint(request.match_info["ep"])
            try:
                self.unit.config.set(f"EpAdm.Endpoint[{ep}].{ADMIN_ACTIONS[action]}", ADMIN_ACTIONS[action],
                                     source="api")
            except ConfigError as e:
                raise ApiError(409, "conflict", str(e)) from None
            row = next(r for r in self.unit.config.rows("EpAdm.Endpoint") if r["EpId"] == ep)
            return _json({"endpoint": ep, "action": action, **self._endpoint_json(row)})
        body = await _json_body(request) if action in ("dial", "transfer") and request.can_read_body else {}
        if not isinstance(body, dict):
            raise ApiError(400, "bad-request", "the body must be a JSON object")
        calls = self._calls()
        ep = request.match_info["ep"]
        task = asyncio.ensure_future(endpoint_action(calls, ep, action, body))
        try:
            # An action on a call whose far end does not answer (CANCEL towards an unreachable server...)
            # completes in the background after SIP's own timers; the answer does not wait for it.
            out = await asyncio.wait_for(asyncio.shield(task), ACTION_WAIT_S)
        except CallError as e:
            raise ApiError(e.status, "call", str(e)) from None
        except TimeoutError:
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
            current = calls.current(ep)
            return _json({"endpoint": ep, "action": action, "pending": True,
                          "call": self._call_json(current.row()) if current is not None else None}, status=202)
        if out.get("call") is not None:
            out["call"] = self._call_json(out["call"])
        return _json(out)

    async def list_notifications(self, request: web.Request) -> web.Response:
        keep = self._event_filter(request)
        limit = _int_query(request, "limit", 100, 1, NOTIFICATION_BACKLOG)
        picked = [(s, e) for s, e in self._events if keep(s, e)][-limit:]
        return _json(
            {
                "notifications": [self._event_json(s, e) for s, e in picked],
                "count": len(picked),
                "last_seq": self._seq,
            }
        )

    def _sse(self, seq: int, ev: NotificationEvent) -> bytes:
        data = _dumps(self._event_json(seq, ev))
        return f"id: {seq}\nevent: notification\ndata: {data}\n\n".encode()

    async def stream_notifications(self, request: web.Request) -> web.StreamResponse:
        keep = self._event_filter(request)
        resp = web.StreamResponse(
            headers={
                hdrs.CONTENT_TYPE: "text/event-stream; charset=utf-8",
                hdrs.CACHE_CONTROL: "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        q: asyncio.Queue[tuple[int, NotificationEvent] | None] = asyncio.Queue(maxsize=SSE_QUEUE)
        # No await between taking the backlog and subscribing: no event is lost or doubled.
        backlog = (
            [(s, e) for s, e in self._events if keep(s, e)]
            if "since" in request.query or "Last-Event-ID" in request.headers
            else []
        )
        self._streams.add(q)
        try:
            await resp.write(b": dgw-emulator notifications\nretry: 2000\n\n")
            for s, e in backlog:
                await resp.write(self._sse(s, e))
            while True:
                try:
                    item = await asyncio.wait_for(q.get(), timeout=SSE_KEEPALIVE_S)
                except TimeoutError:
                    await resp.write(b": keepalive\n\n")
                    continue
                if item is None:
                    break
                if keep(*item):
                    await resp.write(self._sse(*item))
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            self._streams.discard(q)
        return resp


def _fmt(index: Index) -> str:
    return ",".join(str(v) for v in index)

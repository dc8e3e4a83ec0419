"""The HTTP API's route table and the request/answer helpers every resource module uses.

A :class:`Route` carries what the server and the OpenAPI description both need: method, path (aiohttp
syntax, regular expressions allowed), handler, the right it needs (``emulator.ops.policy``), summary,
request and answer schemas and the kinds of refusal it may answer. ``server.py`` registers the aiohttp
routes from the table and ``openapi.py`` writes ``openapi.json``'s paths from the same table.

Refusals are raised, never returned: :class:`ApiError` takes an :class:`~emulator.ops.errors.ErrorKind`
(the HTTP status follows from it unless given), and the server's middleware turns it, a policy
``Forbidden``, an ``OpError`` or a ``ConfigError`` into the JSON error answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from emulator.ops.errors import ErrorKind, OpError
from emulator.ops.policy import Caller
from firmware_model.schema import Param, Value

__all__ = [
    "CALLER",
    "CLIENT_MAX_SIZE",
    "JSON",
    "PREFIX",
    "STATUSES_OF_KIND",
    "STATUS_BY_KIND",
    "Answer",
    "ApiError",
    "Handler",
    "Route",
    "body_value",
    "bool_query",
    "caller",
    "error_response",
    "int_query",
    "json_body",
    "json_response",
    "json_value",
    "ok",
    "utc_iso",
]

PREFIX = "/api/v1"
CLIENT_MAX_SIZE = 2 * 1024 * 1024  # largest request body (a configuration script), bytes
JSON = "application/json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CALLER: web.RequestKey[Caller] = web.RequestKey("caller")  # the authenticated user, set by the middleware
Answer = tuple[str, dict[str, Any] | None, str]  # description, schema, media type

# ErrorKind -> HTTP status (documented in docs/api.md; part of the contract). A call refusal carries
# its own status (400, 404, 409 or 503), a certificate refusal 404 for a file that is not there.
STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.UNKNOWN: 404,
    ErrorKind.NO_ROW: 404,
    ErrorKind.INVALID: 400,
    ErrorKind.SYNTAX: 400,
    ErrorKind.READ_ONLY: 409,
    ErrorKind.ROW_EXISTS: 409,
    ErrorKind.NOT_DYNAMIC: 409,
    ErrorKind.BAD_REQUEST: 400,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.LOCKED: 429,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.HTTP: 400,
    ErrorKind.INTERNAL: 500,
    ErrorKind.CERTIFICATE: 400,
    ErrorKind.CALL: 409,
    ErrorKind.CONFLICT: 409,
    ErrorKind.UNAVAILABLE: 503,
}
# Every status a kind may be answered with (the OpenAPI responses of a route that may raise it).
STATUSES_OF_KIND: dict[ErrorKind, tuple[int, ...]] = {
    ErrorKind.CALL: (400, 404, 409, 503),
    ErrorKind.CERTIFICATE: (400, 404),
}


class ApiError(Exception):
    """A refusal: the ``kind`` written in the JSON answer, the status (default: the kind's), headers and
    members added to the answer (``reason`` of a certificate refusal)."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status or STATUS_BY_KIND[kind]
        self.headers = headers or {}
        self.extra = extra or {}

    @classmethod
    def of(cls, e: OpError) -> ApiError:
        return cls(e.kind, e.message, e.status, extra=e.extra)

    def response(self) -> web.Response:
        return error_response(self.status, self.kind, self.message, self.headers, self.extra)


@dataclass(frozen=True, slots=True)
class Route:
    """One operation of the API (see the module docstring).

    ``right``: ``none`` (public), ``read``, ``write`` or ``admin``; ``command``: the policy's Admin command
    the operation is (``Cert.DeleteCertificate``...), checked instead of the plain right. ``ok``: the
    success answers, status -> (description, schema or None, media type). ``errors``: the refusal kinds
    the handler raises beyond the authentication and policy ones every route has. ``params``: OpenAPI
    parameter objects (path and query); ``body``: the OpenAPI requestBody. ``documented``: False for a
    route that only answers a refusal (it is not an operation)."""

    method: str
    path: str
    handler: Handler
    right: str
    op_id: str
    tag: str
    summary: str
    ok: dict[int, Answer]
    errors: tuple[ErrorKind, ...] = ()
    params: tuple[dict[str, Any], ...] = ()
    body: dict[str, Any] | None = None
    description: str = ""
    command: str | None = None
    what: str = ""
    documented: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # more OpenAPI responses, by status

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it (aiohttp's ``{name:regex}`` becomes ``{name}``)."""
        return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", self.path)


def ok(description: str, schema: dict[str, Any] | None = None, media: str = JSON) -> Answer:
    """A success answer of a route: description, schema (None: no body) and media type."""
    return description, schema, media


# ---------------------------------------------------------------------------------------------- answers
def _encoded(data: Any) -> bytes:
    text = json.dumps(data, default=str, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # text that UTF-8 cannot carry (a lone surrogate in a client's input): escaped
        return json.dumps(data, default=str).encode("ascii")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_encoded(data), status=status, headers=headers, content_type=JSON)


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None,
                   extra: dict[str, Any] | None = None) -> web.Response:
    return json_response({"error": message, "kind": str(kind), **(extra or {})}, status, headers)


def caller(request: web.Request) -> Caller:
    """The authenticated user of the request (set by the server's middleware)."""
    return request[CALLER]


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


def utc_iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------- requests
async def json_body(request: web.Request) -> Any:
    """The request's JSON body; 400 ``bad-request`` for anything else, however hostile (a nesting deeper
    than the parser's recursion, a number past Python's 4,300-digit conversion limit)."""
    raw = await request.read()  # HTTPRequestEntityTooLarge (413) past CLIENT_MAX_SIZE
    if not raw.strip():
        raise ApiError(ErrorKind.BAD_REQUEST, "a JSON body is required")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ApiError(ErrorKind.BAD_REQUEST, f"the body is not valid JSON: {e}") from None
    except RecursionError:
        raise ApiError(ErrorKind.BAD_REQUEST, "the body is not valid JSON: nested too deeply") from None
    except ValueError as e:  # int() refusing a number of more than 4,300 digits
        raise ApiError(ErrorKind.BAD_REQUEST, f"the body is not valid JSON: {e}") from None


def body_value(v: Any, what: str) -> Value:
    """A JSON value accepted for a parameter: a string or a whole number."""
    if isinstance(v, bool) or v is None or isinstance(v, dict | list):
        raise ApiError(ErrorKind.INVALID, f"{what}: the value must be a JSON string or number")
    if isinstance(v, float):
        if not v.is_integer():
            raise ApiError(ErrorKind.INVALID, f"{what}: {v} is not a whole number")
        return int(v)
    assert isinstance(v, str | int)
    return v


def int_query(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    n = int(text) if text.isascii() and text.lstrip("+-").isdigit() and len(text) <= 10 else None
    if n is None or not lo <= n <= hi:
        raise ApiError(ErrorKind.INVALID, f"{name}={raw[:40]!r}: a whole number in {lo}..{hi} is expected")
    return n


def bool_query(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    low = raw.lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise ApiError(ErrorKind.INVALID, f"{name}={raw[:40]!r}: true or false is expected")

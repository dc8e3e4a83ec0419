"""The OpenAPI 3.1 description of the HTTP control API (``GET /api/v1/openapi.json``), written from the
route table (:class:`~emulator.faces.api.routing.Route`): one operation per documented route, its
parameters, request body, success answers and one error answer per status its refusal kinds may take.

The resource modules hold their own component schemas next to their routes and pass them in; this module
holds what every operation shares (the error shape, the authentication answers) and the JSON Schema
helpers they use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from emulator.faces.api.routing import JSON, STATUS_BY_KIND, STATUSES_OF_KIND, Route
from emulator.ops.errors import ErrorKind

__all__ = [
    "API_VERSION",
    "CERT_REASONS",
    "TAGS",
    "Schema",
    "arr",
    "build_openapi",
    "json_content",
    "obj",
    "path_param",
    "pref",
    "query",
    "ref",
]

API_VERSION = "1.0.0"  # the contract's version: a breaking change bumps the major number (and /api/vN)
TAGS = ("meta", "parameters", "tables", "services", "scripts", "notifications", "certificates", "calls", "provisioning",
        "diagnostics")

# Error.reason values of kind "certificate" (firmware_model.certs.CertError kinds).
CERT_REASONS = [
    "too-large",
    "empty",
    "garbage",
    "truncated",
    "not-certificate",
    "no-key",
    "several-keys",
    "key-mismatch",
    "encrypted-key",
    "bad-password",
    "unsupported-key",
    "no-name",
    "duplicate",
    "unsecure-transfer",
    "no-file",
    "transfer",
]

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def pref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/parameters/{name}"}


def obj(props: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    out.update(extra)
    return out


def arr(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def json_content(schema: Schema) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def query(name: str, description: str, schema: Schema) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def path_param(name: str, description: str, schema: Schema | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}


def _error_schema() -> Schema:
    return obj(
        {
            "error": {"type": "string", "description": "what was refused and why, naming the parameter"},
            "kind": {"type": "string", "enum": [k.value for k in ErrorKind]},
            "reason": {
                "type": "string",
                "enum": CERT_REASONS,
                "description": "certificate refusals only: why the store refused (it is left unchanged)",
            },
        },
        ["error", "kind"],
    )


def _auth_responses(product: str) -> dict[str, Any]:
    err = json_content(ref("Error"))
    return {
        "Unauthorized": {
            "description": "missing or bad credentials (kind unauthorized)",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": f'Basic realm="{product}"'}},
            "content": err,
        },
        "Forbidden": {"description": "the user's rights do not allow it (kind forbidden)", "content": err},
        "Locked": {
            "description": "the user is locked out after too many failed logins (kind locked)",
            "headers": {"Retry-After": {"schema": {"type": "integer"},
                                        "description": "seconds (at most Aaa.LoginLockedTimeoutS)"}},
            "content": err,
        },
    }


def _error_answers(kinds: Iterable[ErrorKind]) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for kind in kinds:
        for status in STATUSES_OF_KIND.get(kind, (STATUS_BY_KIND[kind],)):
            by_status.setdefault(status, []).append(kind.value)
    return {str(s): {"description": "refused: kind " + ", ".join(dict.fromkeys(k)),
                     "content": json_content(ref("Error"))} for s, k in by_status.items()}


def _operation(r: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": r.op_id, "tags": [r.tag], "summary": r.summary}
    if r.description:
        op["description"] = r.description
    if r.params:
        op["parameters"] = list(r.params)
    kinds = list(r.errors)
    if r.body is not None:
        op["requestBody"] = r.body
        kinds += [ErrorKind.TOO_LARGE]
        if JSON in r.body.get("content", {}):
            kinds += [ErrorKind.BAD_REQUEST]
    answers = _error_answers(k for k in kinds if k not in (ErrorKind.FORBIDDEN, ErrorKind.UNAUTHORIZED))
    for status, (description, schema, media) in r.ok.items():
        answers[str(status)] = {"description": description}
        if schema is not None:
            answers[str(status)]["content"] = {media: {"schema": schema}}
    answers.update(r.extra)
    if r.right == "none":
        op["security"] = []
    else:
        answers.update({"401": {"$ref": "#/components/responses/Unauthorized"},
                        "403": {"$ref": "#/components/responses/Forbidden"},
                        "429": {"$ref": "#/components/responses/Locked"}})
    op["responses"] = dict(sorted(answers.items()))
    return op


def build_openapi(routes: Iterable[Route], components: Mapping[str, Mapping[str, Any]],
                  product: str = "Mediatrix unit") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (a fresh dict each call). ``components``: the resource
    modules' schemas and parameters (``{"schemas": {...}, "parameters": {...}}``)."""
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        if r.documented:
            paths.setdefault(r.template, {})[r.method.lower()] = _operation(r)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dgw-emulator control API",
            "version": API_VERSION,
            "description": "Automation API of one emulated Mediatrix unit running DGW firmware: parameters, "
            "tables, services, configuration scripts, notifications, certificates, endpoints and calls, "
            "provisioning (script transfers, backups, firmware), diagnostics (packet capture). Every "
            "change goes through the unit's configuration model (validated, persisted, announced).",
        },
        "security": [{"basicAuth": []}],
        "tags": [{"name": t} for t in TAGS],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": f'The unit\'s users (Aaa.Users); realm "{product}". Factory user: public, '
                    "empty password.",
                }
            },
            "schemas": {"Error": _error_schema(), **components.get("schemas", {})},
            "parameters": dict(components.get("parameters", {})),
            "responses": _auth_responses(product),
        },
    }

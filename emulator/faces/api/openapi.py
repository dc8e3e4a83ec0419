"""The OpenAPI 3.1 description of the HTTP control API (``GET /api/v1/openapi.json``).

Built in code so it stays next to the routes it documents; ``tests/unit/test_api.py`` compares its
paths and methods with the aiohttp router, so an operation cannot be added without being described.
"""

from __future__ import annotations

from typing import Any

__all__ = ["API_VERSION", "CERT_REASONS", "ERROR_KINDS", "build_openapi"]

API_VERSION = "1.0.0"  # the contract's version: a breaking change bumps the major number (and /api/vN)

ERROR_KINDS = [
    # ConfigError kinds
    "unknown",
    "invalid",
    "syntax",
    "read-only",
    "no-row",
    "row-exists",
    "not-dynamic",
    # API kinds
    "unauthorized",
    "forbidden",
    "locked",
    "bad-request",
    "not-found",
    "method-not-allowed",
    "too-large",
    "http",
    "internal",
    # certificate operations (with the engine's precise reason)
    "certificate",
]

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

JSON = "application/json"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    out.update(extra)
    return out


def _arr(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def _json_content(schema: Schema) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _resp(description: str, schema: Schema | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = _json_content(schema)
    return out


def _rref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{name}"}


def _pref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/parameters/{name}"}


def _query(name: str, description: str, schema: Schema) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _op(
    op_id: str,
    tag: str,
    summary: str,
    responses: dict[str, Any],
    *,
    description: str = "",
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op_id, "tags": [tag], "summary": summary}
    if description:
        out["description"] = description
    if parameters:
        out["parameters"] = parameters
    if body is not None:
        out["requestBody"] = body
    all_responses = dict(responses)
    if public:
        out["security"] = []
    else:
        all_responses.setdefault("401", _rref("Unauthorized"))
        all_responses.setdefault("403", _rref("Forbidden"))
        all_responses.setdefault("429", _rref("Locked"))
    out["responses"] = dict(sorted(all_responses.items()))
    return out


_EP_PARAM = {"name": "ep", "in": "path", "required": True, "description": "the endpoint (EpId), e.g. Phone-Fax1",
             "schema": {"type": "string"}}


def _schemas() -> dict[str, Schema]:
    value: Schema = {
        "description": "A configuration value: enums by label, numbers as numbers, other values as strings; "
        "null when the value is not known or is a secret hidden from the user.",
        "type": ["string", "integer", "null"],
    }
    call: Schema = {
        "type": "object",
        "required": ["id", "endpoint", "peer", "state"],
        "properties": {
            "id": {"type": "integer"},
            "endpoint": {"type": "string", "description": "EpId"},
            "peer": {"type": "string", "description": "the remote party's SIP URI"},
            "state": {"type": "string", "enum": ["dialing", "proceeding", "alerting", "ringing", "connected",
                                                 "held", "ended"]},
            "direction": {"type": "string", "enum": ["outgoing", "incoming"]},
            "gateway": {"type": "string"},
            "local": {"type": "string"},
            "remote": {"type": "string"},
            "call_id": {"type": "string"},
            "local_hold": {"type": "boolean"},
            "remote_hold": {"type": "boolean"},
            "status": {"type": ["integer", "null"], "description": "final SIP status of the INVITE"},
            "end_reason": {"type": "string"},
        },
        "additionalProperties": True,
    }
    media_settings: Schema = {
        "type": "object",
        "properties": {
            "source": {"type": ["object", "null"], "description": "{tone: [Hz...], level_dbm0} | {wav: name} | null",
                       "properties": {"tone": {"type": "array", "items": {"type": "number"}},
                                      "level_dbm0": {"type": "number"}, "wav": {"type": "string"},
                                      "silence": {"type": "boolean"}}},
            "record": {"type": ["string", "null"]},
            "initial_sequence": {"type": ["integer", "null"], "minimum": 0, "maximum": 65535},
        },
        "additionalProperties": False,
    }
    return {
        "Call": call,
        "EndpointMediaSettings": media_settings,
        "EndpointMedia": {
            "type": "object",
            "properties": {"endpoint": {"type": "string"}, **media_settings["properties"],
                           "audio_directory": {"type": "string"},
                           "stream": {"type": ["object", "null"],
                                      "description": "the current call's stream statistics and received tone"}},
        },
        "Endpoint": {
            "type": "object",
            "properties": {
                "endpoint": {"type": "string"},
                "admin_state": {"type": ["string", "null"], "enum": ["Unlocked", "ShuttingDown", "Locked", None]},
                "op_state": {"type": ["string", "null"], "enum": ["Enable", "Disable", None]},
                "usage_state": {"type": ["string", "null"],
                                "enum": ["Idle", "Active", "Busy", "IdleUnusable", None]},
                "initial_admin_state": {"type": ["string", "null"]},
                "call": {"oneOf": [{"$ref": "#/components/schemas/Call"}, {"type": "null"}]},
                "media": {"oneOf": [{"$ref": "#/components/schemas/EndpointMediaSettings"}, {"type": "null"}]},
            },
        },
        "EndpointActionResult": {
            "type": "object",
            "properties": {"endpoint": {"type": "string"}, "action": {"type": "string"}, "pending": {"type": "boolean"},
                           "call": {"oneOf": [{"$ref": "#/components/schemas/Call"}, {"type": "null"}]}},
        },
        "Error": _obj(
            {
                "error": {"type": "string", "description": "what was refused and why, naming the parameter"},
                "kind": {"type": "string", "enum": ERROR_KINDS},
                "reason": {
                    "type": "string",
                    "enum": CERT_REASONS,
                    "description": "certificate refusals only: why the store refused (it is left unchanged)",
                },
            },
            ["error", "kind"],
        ),
        "Value": value,
        "ParameterValue": _obj(
            {"name": {"type": "string", "description": "canonical address"}, "value": value}, ["name", "value"]
        ),
        "ParameterSet": _obj(
            {"value": {"type": ["string", "integer"], "description": "label or number for enums"}}, ["value"]
        ),
        "TypeInfo": _obj(
            {
                "kind": {"type": "string"},
                "description": {"type": "string"},
                "values": _arr({"type": "string"}),
                "ranges": _arr(_arr({"type": "integer"})),
                "min_length": {"type": "integer"},
                "max_length": {"type": "integer"},
            },
            ["kind", "description"],
        ),
        "ParameterInfo": _obj(
            {
                "name": {"type": "string"},
                "value": value,
                "access": {"type": "string", "enum": ["read-write", "read-only"]},
                "type": _ref("TypeInfo"),
                "default": value,
                "modified": {"type": "boolean"},
                "restart": {"type": "boolean", "description": "a change marks the service as needing a restart"},
                "secret": {"type": "boolean"},
                "title": {"type": "string"},
            },
            ["name", "value", "access", "type"],
        ),
        "ParameterList": _obj(
            {"parameters": _arr(_ref("ParameterInfo")), "count": {"type": "integer"}}, ["parameters", "count"]
        ),
        "TableInfo": _obj(
            {
                "name": {"type": "string"},
                "index": _arr({"type": "string"}),
                "columns": _arr({"type": "string"}),
                "dynamic": {"type": "boolean", "description": "rows may be added and deleted"},
                "status": {"type": "boolean", "description": "read-only rows fed by the unit"},
            },
            ["name", "index", "columns", "dynamic", "status"],
        ),
        "TableList": _obj({"tables": _arr(_ref("TableInfo")), "count": {"type": "integer"}}, ["tables", "count"]),
        "Row": {"type": "object", "additionalProperties": value, "description": "column -> value"},
        "Table": _obj(
            {
                "name": {"type": "string"},
                "index": _arr({"type": "string"}),
                "columns": _arr({"type": "string"}),
                "rows": _arr(_ref("Row")),
            },
            ["name", "index", "columns", "rows"],
        ),
        "RowValues": {
            "type": "object",
            "additionalProperties": {"type": ["string", "integer"]},
            "description": "column -> value; index columns may be given when adding a row",
        },
        "RowIndex": _obj({"name": {"type": "string"}, "index": _arr(value)}, ["name", "index"]),
        "RowResult": _obj(
            {"name": {"type": "string"}, "index": _arr(value), "row": _ref("Row")}, ["name", "index", "row"]
        ),
        "Service": _obj(
            {
                "name": {"type": "string"},
                "numkey": {"type": "integer"},
                "display": {"type": "string"},
                "NeedRestartInfo": {"type": "string", "enum": ["No", "Yes"]},
                "ExecState": {"type": ["string", "null"]},
                "StartupType": {"type": ["string", "null"]},
                "Comment": {"type": "string"},
            },
            ["name", "numkey", "display", "NeedRestartInfo", "ExecState"],
        ),
        "ServiceList": _obj({"services": _arr(_ref("Service")), "count": {"type": "integer"}}, ["services", "count"]),
        "RestartResult": _obj(
            {"restarted": _arr({"type": "string"}), "services": _arr(_ref("Service"))}, ["restarted", "services"]
        ),
        "FactoryResetResult": _obj(
            {"needs_restart": _arr({"type": "string"}), "restarted": _arr({"type": "string"})},
            ["needs_restart", "restarted"],
        ),
        "LineResult": _obj(
            {
                "number": {"type": "integer"},
                "text": {"type": "string"},
                "ok": {"type": "boolean"},
                "error": {"type": ["string", "null"]},
            },
            ["number", "text", "ok"],
        ),
        "ScriptResult": _obj(
            {
                "ok": {"type": "boolean", "description": "every line accepted and carried out"},
                "applied": {"type": "integer", "description": "statements carried out (0 when refused)"},
                "committed": {"type": "boolean", "description": "the configuration changes were applied"},
                "lines": _arr(_ref("LineResult")),
                "errors": _arr(_ref("LineResult")),
                "error": {"type": "string", "description": "present when a line was refused or a command failed"},
            },
            ["ok", "applied", "committed", "lines", "errors"],
        ),
        "Notification": _obj(
            {
                "seq": {"type": "integer", "description": "sequence number given by this API (for since=)"},
                "service": {"type": "string"},
                "numkey": {"type": "integer"},
                "service_name": {"type": "string"},
                "msg_id": {"type": "integer"},
                "severity": {"type": "string", "enum": ["Debug", "Info", "Warning", "Error", "Critical"]},
                "message": {"type": "string"},
                "time": {"type": "number", "description": "unit clock, UTC epoch seconds"},
                "time_utc": {"type": "string", "format": "date-time"},
                "time_local": {"type": "string", "description": "unit local time (Hoc.StaticTimeZone)"},
                "fields": {"type": "object"},
            },
            [
                "seq",
                "service",
                "numkey",
                "service_name",
                "msg_id",
                "severity",
                "message",
                "time",
                "time_utc",
                "time_local",
                "fields",
            ],
        ),
        "NotificationList": _obj(
            {
                "notifications": _arr(_ref("Notification")),
                "count": {"type": "integer"},
                "last_seq": {"type": "integer"},
            },
            ["notifications", "count", "last_seq"],
        ),
        "Certificate": _obj(
            {
                "kind": {"type": "string", "enum": ["host", "other"]},
                "file_name": {"type": "string", "description": "FileName in Cert.HostCertificatesInfo / Others"},
                "issued_to": {"type": "string"},
                "issued_by": {"type": "string"},
                "valid_from": {"type": "string", "description": "unit local time, as the Cert tables show it"},
                "valid_to": {"type": "string", "description": "unit local time"},
                "valid_from_utc": {"type": "string", "format": "date-time"},
                "valid_to_utc": {"type": "string", "format": "date-time"},
                "usage": {
                    "type": "string",
                    "description": "TlsClient, TlsServer, both (comma-separated) or None, from the extended key usage",
                },
                "certificate_authority": {"type": "boolean"},
                "factory": {"type": "boolean", "description": "made by the emulator at first boot"},
                "sha256": {"type": "string", "description": "SHA-256 fingerprint of the certificate, hex"},
            },
            [
                "kind",
                "file_name",
                "issued_to",
                "issued_by",
                "valid_from",
                "valid_to",
                "usage",
                "certificate_authority",
            ],
            description="A stored certificate; never its private key.",
        ),
        "CertificateList": _obj(
            {
                "certificates": _arr(_ref("Certificate")),
                "count": {"type": "integer"},
                "unsecure_transfer_active": {
                    "type": "boolean",
                    "description": "a host certificate import over plain HTTP would be accepted now",
                },
            },
            ["certificates", "count", "unsecure_transfer_active"],
        ),
        "CertificateImport": _obj(
            {
                "kind": {"type": "string", "enum": ["host", "other"]},
                "file_names": _arr({"type": "string"}),
                "certificates": _arr(_ref("Certificate")),
            },
            ["kind", "file_names", "certificates"],
        ),
        "CertificateTransfer": _obj(
            {
                "url": {"type": "string", "description": "http:// or https:// URL of the certificate file"},
                "kind": {"type": "string", "enum": ["host", "other"], "default": "other"},
                "password": {"type": "string", "description": "host: the key's or the PKCS#12 file's password"},
                "file_name": {"type": "string", "description": "FileName to store it under (default: from the URL)"},
            },
            ["url"],
            additionalProperties=False,
        ),
        "UnsecureTransfer": _obj(
            {
                "unsecure_transfer_active": {"type": "boolean"},
                "seconds": {"type": "number", "description": "how long the window stays open"},
                "message": {"type": "string"},
            },
            ["unsecure_transfer_active", "seconds"],
        ),
        "CertificateDeleted": _obj(
            {"kind": {"type": "string", "enum": ["host", "other"]}, "file_name": {"type": "string"}},
            ["kind", "file_name"],
        ),
        "Status": _obj(
            {
                "name": {"type": "string"},
                "profile": {"type": "string"},
                "product": {"type": "string"},
                "serial": {"type": "string"},
                "mac": {"type": "string", "description": "12 lower-case hex digits (the %mac% form)"},
                "version": {"type": "string"},
                "api_version": {"type": "string"},
                "host": {"type": "string"},
                "uptime": {"type": "integer", "description": "seconds"},
                "uptime_text": {"type": "string"},
                "system_time": _obj(
                    {
                        "epoch": {"type": "number"},
                        "utc": {"type": "string", "format": "date-time"},
                        "local": {"type": "string"},
                    },
                    ["epoch", "utc", "local"],
                ),
                "needs_restart": _arr({"type": "string"}),
                "listening": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            [
                "name",
                "profile",
                "product",
                "serial",
                "mac",
                "version",
                "uptime",
                "system_time",
                "needs_restart",
                "listening",
            ],
        ),
    }


def _components(product: str) -> dict[str, Any]:
    err = _ref("Error")
    return {
        "securitySchemes": {
            "basicAuth": {
                "type": "http",
                "scheme": "basic",
                "description": f'The unit\'s users (Aaa.Users); realm "{product}". Factory user: public, '
                "empty password.",
            }
        },
        "schemas": _schemas(),
        "parameters": {
            "ParamName": {
                "name": "name",
                "in": "path",
                "required": True,
                "description": "Service.Param, Service.Table[Index].Column or Service.Table.Column[Key=Value] "
                "(case-insensitive; brackets may be percent-encoded)",
                "schema": {"type": "string"},
            },
            "TableName": {
                "name": "table",
                "in": "path",
                "required": True,
                "description": "Service.Table",
                "schema": {"type": "string"},
            },
            "RowIndexPath": {
                "name": "index",
                "in": "path",
                "required": True,
                "description": "row index: values separated by commas, or Key=Value (percent-encoded if needed)",
                "schema": {"type": "string"},
            },
            "CertKind": {
                "name": "kind",
                "in": "path",
                "required": True,
                "description": "host (Cert.HostCertificatesInfo) or other (Cert.OthersCertificatesInfo)",
                "schema": {"type": "string", "enum": ["host", "other"]},
            },
            "CertFileName": {
                "name": "name",
                "in": "path",
                "required": True,
                "description": "the certificate's FileName",
                "schema": {"type": "string"},
            },
            "ServiceName": {
                "name": "name",
                "in": "path",
                "required": True,
                "description": "service text key",
                "schema": {"type": "string"},
            },
        },
        "responses": {
            "BadRequest": _resp("invalid value, malformed address or body (kinds invalid, syntax, bad-request)", err),
            "Unauthorized": {
                "description": "missing or bad credentials (kind unauthorized)",
                "headers": {
                    "WWW-Authenticate": {"schema": {"type": "string"}, "description": f'Basic realm="{product}"'}
                },
                "content": _json_content(err),
            },
            "Forbidden": _resp("the user's rights do not allow it (kind forbidden)", err),
            "Locked": {
                "description": "the user is locked out after too many failed logins (kind locked)",
                "headers": {
                    "Retry-After": {
                        "schema": {"type": "integer"},
                        "description": "seconds (at most Aaa.LoginLockedTimeoutS)",
                    }
                },
                "content": _json_content(err),
            },
            "NotFound": _resp("unknown parameter, table, row or service (kinds unknown, no-row, not-found)", err),
            "Conflict": _resp(
                "read-only parameter, row exists, table not dynamic (kinds read-only, row-exists, not-dynamic)", err
            ),
            "TooLarge": _resp("request body over 2 MiB (kind too-large)", err),
            "CertificateRefused": _resp(
                "refused; the store is unchanged (kind certificate, reason says why: garbage, truncated, "
                "key-mismatch, encrypted-key, bad-password, no-name, duplicate, unsecure-transfer, transfer...)",
                err,
            ),
            "CertificateTooLarge": _resp(
                "certificate file over 1 MiB (kind too-large, reason too-large); nothing is stored", err
            ),
            "NoCertificate": _resp("no such certificate (kind certificate, reason no-file)", err),
        },
    }


def _paths() -> dict[str, Any]:
    P = "/api/v1"
    ok = _resp
    r = _rref
    param_body = {"required": True, "content": _json_content(_ref("ParameterSet"))}
    row_body = {"required": True, "content": _json_content(_ref("RowValues"))}
    since = _query(
        "since",
        "only newer: a sequence number (digits), an ISO-8601 time, or epoch seconds with a decimal point",
        {"type": "string"},
    )
    svc_q = _query("service", "only this service (text key or numeric key)", {"type": "string"})
    pem_file = {
        "description": "PEM certificate(s)",
        "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
    }
    cert_body = {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "application/x-pem-file": {"schema": {"type": "string"}},
        "application/x-pkcs12": {"schema": {"type": "string", "format": "binary"}},
    }
    sev_q = _query(
        "severity", "minimum severity", {"type": "string", "enum": ["Debug", "Info", "Warning", "Error", "Critical"]}
    )

    def service_action(verb: str) -> dict[str, Any]:
        return {
            "post": _op(
                f"{verb}Service",
                "services",
                f"{verb.capitalize()} one service (Scm) and wait for it",
                {"200": ok("the service's new state", _ref("Service")), "404": r("NotFound")},
                parameters=[_pref("ServiceName")],
            )
        }

    return {
        f"{P}/openapi.json": {
            "get": _op(
                "getOpenApi",
                "meta",
                "This document (no authentication)",
                {"200": ok("OpenAPI 3.1 document", {"type": "object"})},
                public=True,
            )
        },
        f"{P}/status": {
            "get": _op(
                "getStatus",
                "meta",
                "Unit identity, uptime, time, services needing a restart, listening faces",
                {"200": ok("unit status", _ref("Status"))},
            )
        },
        f"{P}/parameters": {
            "get": _op(
                "listParameters",
                "parameters",
                "List scalar parameters with their values and types",
                {"200": ok("scalars", _ref("ParameterList")), "400": r("BadRequest")},
                description="Secrets are null for users without Admin rights.",
                parameters=[
                    _query("prefix", "name prefix, case-insensitive (e.g. Cli.)", {"type": "string"}),
                    _query("service", "service text key", {"type": "string"}),
                    _query(
                        "access", "read-write or read-only", {"type": "string", "enum": ["read-write", "read-only"]}
                    ),
                    _query(
                        "modified",
                        "only values that differ (true) or not (false) from the factory value",
                        {"type": "boolean"},
                    ),
                ],
            )
        },
        f"{P}/parameters/{{name}}": {
            "get": _op(
                "getParameter",
                "parameters",
                "Read a scalar or a table cell",
                {"200": ok("the value", _ref("ParameterValue")), "400": r("BadRequest"), "404": r("NotFound")},
                description="A secret (e.g. a password) is refused with 403 to users without Admin rights.",
                parameters=[_pref("ParamName")],
            ),
            "put": _op(
                "setParameter",
                "parameters",
                "Set a scalar or a table cell (validated, persisted)",
                {
                    "200": ok("the value now in force", _ref("ParameterValue")),
                    "400": r("BadRequest"),
                    "404": r("NotFound"),
                    "409": r("Conflict"),
                    "413": r("TooLarge"),
                },
                description="Refused changes leave the configuration unchanged. Writing a row command column "
                "(e.g. Scm.ServiceCommands[SipEp].Restart = Restart) runs the command.",
                parameters=[_pref("ParamName")],
                body=param_body,
            ),
        },
        f"{P}/tables": {
            "get": _op(
                "listTables",
                "tables",
                "List tables (index, columns, dynamic, status)",
                {"200": ok("tables", _ref("TableList"))},
                parameters=[
                    _query("prefix", "name prefix, case-insensitive", {"type": "string"}),
                    _query("service", "service text key", {"type": "string"}),
                ],
            )
        },
        f"{P}/tables/{{table}}": {
            "get": _op(
                "getTable",
                "tables",
                "Every row of a table",
                {"200": ok("the table", _ref("Table")), "404": r("NotFound")},
                description="Secret columns are null for users without Admin rights.",
                parameters=[_pref("TableName")],
            )
        },
        f"{P}/tables/{{table}}/rows": {
            "post": _op(
                "addRow",
                "tables",
                "Add a row to a dynamic table",
                {
                    "201": ok("the new row", _ref("RowResult")),
                    "400": r("BadRequest"),
                    "404": r("NotFound"),
                    "409": r("Conflict"),
                    "413": r("TooLarge"),
                },
                description="A single numeric index is assigned when not given.",
                parameters=[_pref("TableName")],
                body=row_body,
            )
        },
        f"{P}/tables/{{table}}/rows/{{index}}": {
            "get": _op(
                "getRow",
                "tables",
                "One row",
                {"200": ok("the row", _ref("RowResult")), "400": r("BadRequest"), "404": r("NotFound")},
                parameters=[_pref("TableName"), _pref("RowIndexPath")],
            ),
            "put": _op(
                "setRow",
                "tables",
                "Set several cells of one row, all or nothing",
                {
                    "200": ok("the row now", _ref("RowResult")),
                    "400": r("BadRequest"),
                    "404": r("NotFound"),
                    "409": r("Conflict"),
                    "413": r("TooLarge"),
                },
                parameters=[_pref("TableName"), _pref("RowIndexPath")],
                body=row_body,
            ),
            "delete": _op(
                "deleteRow",
                "tables",
                "Delete a row of a dynamic table",
                {
                    "200": ok("the deleted row's index", _ref("RowIndex")),
                    "400": r("BadRequest"),
                    "404": r("NotFound"),
                    "409": r("Conflict"),
                },
                parameters=[_pref("TableName"), _pref("RowIndexPath")],
            ),
        },
        f"{P}/services": {
            "get": _op(
                "listServices",
                "services",
                "Services with NeedRestartInfo and ExecState (Scm.ServicesInfo)",
                {"200": ok("services", _ref("ServiceList"))},
            )
        },
        f"{P}/services/restart-required": {
            "post": _op(
                "restartRequiredServices",
                "services",
                "Restart every service that needs it (Scm.RestartRequiredServices)",
                {"200": ok("the services restarted", _ref("RestartResult"))},
            )
        },
        f"{P}/services/{{name}}": {
            "get": _op(
                "getService",
                "services",
                "One service",
                {"200": ok("the service", _ref("Service")), "404": r("NotFound")},
                parameters=[_pref("ServiceName")],
            )
        },
        f"{P}/services/{{name}}/restart": service_action("restart"),
        f"{P}/services/{{name}}/start": service_action("start"),
        f"{P}/services/{{name}}/stop": service_action("stop"),
        f"{P}/factory-reset": {
            "post": _op(
                "factoryReset",
                "services",
                "Back to the factory configuration (Admin only)",
                {"200": ok("done; services to restart", _ref("FactoryResetResult")), "400": r("BadRequest")},
                description="Users return to the factory account (public, empty password).",
                parameters=[_query("restart", "also restart the services that need it", {"type": "boolean"})],
            )
        },
        f"{P}/scripts": {
            "post": _op(
                "runScript",
                "scripts",
                "Run a configuration script, all or nothing",
                {
                    "200": ok("every line applied", _ref("ScriptResult")),
                    "400": ok(
                        "a line was refused (nothing applied, committed false), or a command run after the "
                        "configuration was committed failed (committed true)",
                        _ref("ScriptResult"),
                    ),
                    "413": r("TooLarge"),
                },
                description="Users without Admin rights get 403 (nothing applied) for a script that writes secrets "
                "or Aaa.Users. Scripts over 1 MiB get 413.",
                body={"required": True, "content": {"text/plain": {"schema": {"type": "string"}}}},
            )
        },
        f"{P}/scripts/export": {
            "get": _op(
                "exportScript",
                "scripts",
                "Export the configuration as a script",
                {
                    "200": {"description": "the script", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "400": r("BadRequest"),
                },
                description="Secrets are exported in clear text to Admin users only; for other users their lines "
                "are left out (a comment says how many).",
                parameters=[
                    _query(
                        "content",
                        "default Conf.ScriptExportContent",
                        {"type": "string", "enum": ["AllConfig", "ModifiedConfig"]},
                    ),
                    _query(
                        "service", "a service text key or All; default Conf.ScriptExportServiceName", {"type": "string"}
                    ),
                ],
            )
        },
        f"{P}/notifications": {
            "get": _op(
                "listNotifications",
                "notifications",
                "Recent notifications, oldest first",
                {"200": ok("notifications", _ref("NotificationList")), "400": r("BadRequest")},
                parameters=[
                    since,
                    _query(
                        "limit",
                        "at most this many (the newest), 1..1000, default 100",
                        {"type": "integer", "minimum": 1, "maximum": 1000},
                    ),
                    svc_q,
                    sev_q,
                ],
            )
        },
        f"{P}/notifications/stream": {
            "get": _op(
                "streamNotifications",
                "notifications",
                "Live notifications (Server-Sent Events)",
                {
                    "200": {
                        "description": "one `notification` event per notification; `id` is its seq; data is a "
                        "Notification in JSON. Comments every 15 s keep the connection open.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "400": r("BadRequest"),
                },
                description="With since= or a Last-Event-ID header, the kept notifications after it are sent first.",
                parameters=[
                    since,
                    svc_q,
                    sev_q,
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "description": "resume after this seq",
                        "schema": {"type": "string"},
                    },
                ],
            )
        },
        f"{P}/certificates": {
            "get": _op(
                "listCertificates",
                "certificates",
                "Both certificate stores (host and other): names, subjects, issuers, dates, usage, CA flag",
                {"200": ok("the certificates; never a private key", _ref("CertificateList"))},
            )
        },
        f"{P}/certificates/factory-ca": {
            "get": _op(
                "getFactoryCa",
                "certificates",
                "Download the emulator installation's factory CA certificate (PEM)",
                {"200": pem_file},
                description="Install it in a lab's trust store to trust every unit's factory host certificate.",
            )
        },
        f"{P}/certificates/{{kind}}/{{name}}": {
            "get": _op(
                "getCertificate",
                "certificates",
                "Download one stored certificate and its chain (PEM; never the key)",
                {"200": pem_file, "404": r("NoCertificate")},
                parameters=[_pref("CertKind"), _pref("CertFileName")],
            ),
            "delete": _op(
                "deleteCertificate",
                "certificates",
                "Delete a certificate (and a host certificate's key); Admin only",
                {"200": ok("deleted", _ref("CertificateDeleted")), "404": r("NoCertificate")},
                description="The same as the Delete row command of Cert.HostCertificatesInfo / "
                "Cert.OthersCertificatesInfo.",
                parameters=[_pref("CertKind"), _pref("CertFileName")],
            ),
        },
        f"{P}/certificates/{{kind}}": {
            "post": _op(
                "importCertificate",
                "certificates",
                "Import a certificate file sent as the request body",
                {
                    "201": ok("imported: the new FileName(s)", _ref("CertificateImport")),
                    "400": r("CertificateRefused"),
                    "413": r("CertificateTooLarge"),
                },
                description="other (User or Admin): PEM (one certificate or a chain: one file each) or DER. "
                "host (Admin only): a PEM bundle (certificate, its private key, optionally its chain) or "
                "PKCS#12. The API is plain HTTP, so a host import is refused (reason unsecure-transfer) unless "
                "POST /certificates/activate-unsecure-transfer was called first: one import within 5 minutes. "
                "Importing marks the services that use TLS as needing a restart.",
                parameters=[
                    _pref("CertKind"),
                    _query(
                        "password",
                        "host only: the password of an encrypted private key or of a PKCS#12 file",
                        {"type": "string"},
                    ),
                    _query(
                        "file_name",
                        "FileName to store it under (made safe and unique; default: the certificate's name)",
                        {"type": "string"},
                    ),
                ],
                body={"required": True, "content": cert_body},
            )
        },
        f"{P}/certificates/transfer": {
            "post": _op(
                "transferCertificate",
                "certificates",
                "Fetch a certificate file from an http(s) URL and import it",
                {
                    "201": ok("imported: the new FileName(s)", _ref("CertificateImport")),
                    "400": r("CertificateRefused"),
                    "413": r("TooLarge"),
                },
                description="HTTPS honours Cert.TransferHttpsTlsVersion and Cert.TransferHttpsCipherSuite and "
                "validates the server (trusted issuer in the Others store, host name, dates on the unit's clock). "
                "kind host needs Admin rights, and over http:// the unsecure transfer activated first. A file over "
                "1 MiB, an unreachable server or a refused server certificate is a 400 with reason too-large or "
                "transfer.",
                body={"required": True, "content": _json_content(_ref("CertificateTransfer"))},
            )
        },
        f"{P}/certificates/activate-unsecure-transfer": {
            "post": _op(
                "activateUnsecureTransfer",
                "certificates",
                "Allow one host certificate import over plain HTTP within 5 minutes (Admin only)",
                {"200": ok("the window is open", _ref("UnsecureTransfer"))},
                description="The DGW 'Activate unsecure certificate transfer' rule: the window closes after one "
                "host certificate import over plain HTTP (API upload or http:// transfer) or when it times out.",
            )
        },
        f"{P}/calls": {
            "get": _op(
                "listCalls",
                "calls",
                "The unit's calls (current and recent)",
                {"200": ok("the calls", {"type": "object", "properties": {"calls": {"type": "array",
                                                                                     "items": _ref("Call")}}})},
                description="Each call: id, endpoint, peer, state (dialing, proceeding, alerting, ringing, connected, "
                "held, ended), direction, hold flags, SIP status and end reason; media fields (srtp, key management, "
                "packets, received tone level and frequency) when the call has a media stream.",
            )
        },
        f"{P}/endpoints": {
            "get": _op(
                "listEndpoints",
                "calls",
                "The unit's endpoints with their EpAdm states, current call and phone audio settings",
                {"200": ok("the endpoints", {"type": "object", "properties": {"endpoints": {
                    "type": "array", "items": _ref("Endpoint")}}})},
            )
        },
        f"{P}/endpoints/{{ep}}/media": {
            "get": _op(
                "getEndpointMedia",
                "calls",
                "What the endpoint's phone plays and records (emulator addition), and its current stream",
                {"200": ok("the settings and the stream's statistics", _ref("EndpointMedia")), "404": r("NotFound")},
                parameters=[_EP_PARAM],
            ),
            "put": _op(
                "putEndpointMedia",
                "calls",
                "Set what the endpoint's phone plays and records, and the first RTP sequence number of its streams",
                {"200": ok("applied to the next calls and to the call in progress", _ref("EndpointMedia")),
                 "400": r("BadRequest"), "404": r("NotFound")},
                description="Fields absent keep their value; all or nothing. source: {\"tone\": [f...], "
                "\"level_dbm0\": l} (1-4 frequencies, 20-3990 Hz, -60..+3 dBm0), {\"wav\": \"name.wav\"} (8 kHz mono "
                "16-bit, from the unit's audio directory <state dir>/audio) or null (silence); record: a file name "
                "in that directory or null; initial_sequence: 0..65535 or null (random).",
                parameters=[_EP_PARAM],
                body={"required": True, "content": _json_content(_ref("EndpointMediaSettings"))},
            ),
        },
        f"{P}/endpoints/{{ep}}/{{action}}": {
            "post": _op(
                "endpointAction",
                "calls",
                "Act on an endpoint like a user on its phone (offhook, dial, answer, hangup, hold, resume) or "
                "like an administrator on System/Endpoints (lock, unlock, force-lock)",
                {
                    "200": ok("the action was taken", _ref("EndpointActionResult")),
                    "202": ok("still in progress after 3 s (SIP timers); the call row as it stands, pending true",
                              _ref("EndpointActionResult")),
                    "400": r("BadRequest"),
                    "404": r("NotFound"),
                    "409": r("Conflict"),
                    "503": ok("SipEp is not running or has no server to call through", _ref("Error")),
                },
                parameters=[
                    {"name": "ep", "in": "path", "required": True, "description": "the endpoint (EpId), e.g. "
                     "Phone-Fax1", "schema": {"type": "string"}},
                    {"name": "action", "in": "path", "required": True, "description": "what to do",
                     "schema": {"type": "string", "enum": ["offhook", "dial", "answer", "hangup", "hold", "resume",
                                                           "lock", "unlock", "force-lock", "dtmf",
                                                           "transfer"]}},
                ],
                body={"required": False, "content": _json_content({
                    "type": "object", "description": "dial, transfer: the number (a user part) or a sip: URI; dtmf: "
                    "the digits (0-9 * # A-D, in the connected call), duration and gap in ms (40-2000)",
                    "properties": {"number": {"type": "string"}, "uri": {"type": "string"},
                                   "digits": {"type": "string"}, "duration_ms": {"type": "integer"},
                                   "gap_ms": {"type": "integer"}}})},
            )
        },
    }


def build_openapi(product: str = "Mediatrix unit") -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh dict each call)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dgw-emulator control API",
            "version": API_VERSION,
            "description": "Automation API of one emulated Mediatrix unit running DGW firmware: parameters, "
            "tables, services, configuration scripts, notifications, certificates. Every change goes through the "
            "unit's configuration model (validated, persisted, announced).",
        },
        "security": [{"basicAuth": []}],
        "tags": [
            {"name": t}
            for t in ("meta", "parameters", "tables", "services", "scripts", "notifications", "certificates", "calls")
        ],
        "paths": _paths(),
        "components": _components(product),
    }

"""``/parameters`` and ``/tables``: the unit's configuration, value by value and row by row.

Every change goes through :class:`~firmware_model.config.Config` (validation, persistence, change events);
every decision about who may read or write what is :mod:`emulator.ops.policy`'s (secrets, Admin tables).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.faces.api.openapi import Schema, arr, json_content, obj, path_param, pref, query, ref
from emulator.faces.api.routing import (
    PREFIX,
    ApiError,
    Route,
    body_value,
    bool_query,
    caller,
    json_body,
    json_response,
    json_value,
    ok,
)
from emulator.ops import policy
from emulator.ops.errors import ErrorKind
from emulator.runtime.unit import Unit
from firmware_model.behaviour import CLASSES, MEANING, load_behaviour
from firmware_model.config import Address, ConfigError, Index, format_index
from firmware_model.schema import Param, Table, Value

__all__ = ["COMPONENTS", "Parameters"]

_READ_ERRORS = (ErrorKind.UNKNOWN, ErrorKind.NO_ROW, ErrorKind.SYNTAX, ErrorKind.INVALID)
_WRITE_ERRORS = (*_READ_ERRORS, ErrorKind.READ_ONLY, ErrorKind.ROW_EXISTS, ErrorKind.NOT_DYNAMIC)


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


class Parameters:
    """The configuration resources of one unit."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.config = unit.config

    def _shown(self, request: web.Request, p: Param, v: Value | None) -> Any:
        """A value for a listing: null for a secret the user may not read."""
        return policy.shown_value(caller(request), p, json_value(p, v), mask=None)

    # ------------------------------------------------------------------ parameters
    async def list_parameters(self, request: web.Request) -> web.Response:
        q = request.query
        prefix, service, access = q.get("prefix", "").lower(), q.get("service", "").lower(), q.get("access", "")
        if access not in ("", "read-write", "read-only"):
            raise ApiError(ErrorKind.INVALID, f"access={access[:40]!r}: read-write or read-only is expected")
        modified = bool_query(request, "modified")
        out = []
        for p in self.unit.catalog.scalars():
            if (prefix and not p.name.lower().startswith(prefix)) or (service and p.service.lower() != service):
                continue
            if access and p.access != access:
                continue
            is_mod = p.writable and self.config.is_modified(p.name)
            if modified is not None and is_mod != modified:
                continue
            try:
                value = self.config.get(p.name)
            except Exception:  # a status provider of an engine that is not running
                value = None
            out.append({"name": p.name, "value": self._shown(request, p, value), "access": p.access,
                        "type": _type_doc(p), "default": self._shown(request, p, p.default), "modified": is_mod,
                        "restart": p.restart, "secret": p.secret, "title": p.title,
                        "behaviour": load_behaviour().get(p.name)})
        return json_response({"parameters": out, "count": len(out)})

    async def get_parameter(self, request: web.Request) -> web.Response:
        addr = self.config.resolve(request.match_info["name"])
        policy.check_read(caller(request), addr.param)
        return json_response({"name": addr.text, "value": json_value(addr.param, self.config.get(addr)),
                              "behaviour": load_behaviour().get(addr.param.name)})

    async def put_parameter(self, request: web.Request) -> web.Response:
        addr = self.config.resolve(request.match_info["name"])
        body = await json_body(request)
        if not isinstance(body, dict) or "value" not in body:
            raise ApiError(ErrorKind.BAD_REQUEST, 'the body must be a JSON object {"value": ...}')
        value = body_value(body["value"], addr.text)
        policy.check_write(caller(request), addr.param)
        self.config.set(addr, value, source="api")
        try:
            now = self.config.get(addr)
        except ConfigError:  # a row command (e.g. Delete) removed the row
            now = value
        return json_response({"name": addr.text, "value": json_value(addr.param, now)})

    # ------------------------------------------------------------------ tables
    def _table(self, request: web.Request) -> Table:
        name = request.match_info["table"]
        table = self.unit.catalog.table(name)
        if table is None:
            raise ApiError(ErrorKind.UNKNOWN, f"{name[:80]}: unknown table")
        return table

    def _row(self, table: Table, index: Index) -> dict[str, Value]:
        for r in self.config.rows(table.name):
            if tuple(r[c] for c in table.index) == index:
                return r
        raise ConfigError("no-row", table.name, f"{table.name}: no row with index {format_index(index)}")

    def _row_answer(self, request: web.Request, table: Table, index: Index, status: int = 200) -> web.Response:
        row = self._row(table, index)
        return json_response({
            "name": table.name,
            "index": [json_value(table.columns[c], v) for c, v in zip(table.index, index, strict=True)],
            "row": {c: self._shown(request, table.columns[c], v) for c, v in row.items() if c in table.columns},
        }, status)

    async def list_tables(self, request: web.Request) -> web.Response:
        service = request.query.get("service", "").lower()
        prefix = request.query.get("prefix", "").lower()
        out = [
            {"name": t.name, "index": list(t.index), "columns": list(t.columns), "dynamic": t.dynamic,
             "status": t.status}
            for t in self.unit.catalog.tables.values()
            if (not service or t.service.lower() == service) and (not prefix or t.name.lower().startswith(prefix))
        ]
        return json_response({"tables": out, "count": len(out)})

    async def get_table(self, request: web.Request) -> web.Response:
        table = self._table(request)
        rows = [{c: self._shown(request, table.columns[c], v) for c, v in r.items() if c in table.columns}
                for r in self.config.rows(table.name)]
        return json_response({"name": table.name, "index": list(table.index), "columns": list(table.columns),
                              "rows": rows})

    async def get_row(self, request: web.Request) -> web.Response:
        table = self._table(request)
        return self._row_answer(request, table, self.config.parse_index(table, request.match_info["index"]))

    async def add_row(self, request: web.Request) -> web.Response:
        table = self._table(request)
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ApiError(ErrorKind.BAD_REQUEST, "the body must be a JSON object {column: value, ...}")
        values = {str(k): body_value(v, f"{table.name}.{k}") for k, v in body.items()}
        who = caller(request)
        policy.check_table(who, table.name)
        for k in values:
            col = table.column(k)
            if col is not None:
                policy.check_write(who, col)
        index = self.config.add_row(table.name, values, source="api")
        return self._row_answer(request, table, index, status=201)

    async def put_row(self, request: web.Request) -> web.Response:
        table = self._table(request)
        index = self.config.parse_index(table, request.match_info["index"])
        body = await json_body(request)
        if not isinstance(body, dict) or not body:
            raise ApiError(ErrorKind.BAD_REQUEST, "the body must be a non-empty JSON object {column: value, ...}")
        self._row(table, index)
        who = caller(request)
        policy.check_table(who, table.name)
        cells = []
        for k, v in body.items():
            col = table.column(str(k))
            if col is None:
                raise ConfigError("unknown", f"{table.name}.{k}", f"{table.name}: no column {str(k)[:80]}")
            if col.column in table.index:
                raise ConfigError("read-only", col.name, f"{col.name}: an index column cannot be changed")
            policy.check_write(who, col)
            cells.append((col, body_value(v, col.name)))
        with self.config.batch():  # all or nothing
            for col, v in cells:
                self.config.set(Address(col, index), v, source="api")
        return self._row_answer(request, table, index)

    async def delete_row(self, request: web.Request) -> web.Response:
        table = self._table(request)
        index = self.config.parse_index(table, request.match_info["index"])
        policy.check_table(caller(request), table.name)
        self.config.delete_row(table.name, index, source="api")
        return json_response({"name": table.name,
                              "index": [json_value(table.columns[c], v) for c, v in zip(table.index, index,
                                                                                         strict=True)]})

    # ------------------------------------------------------------------ route table
    def routes(self) -> list[Route]:
        P = PREFIX
        param_body = {"required": True, "content": json_content(ref("ParameterSet"))}
        row_body = {"required": True, "content": json_content(ref("RowValues"))}
        t, ti = pref("TableName"), pref("RowIndexPath")
        return [
            Route("GET", f"{P}/parameters", self.list_parameters, "read", "listParameters", "parameters",
                  "List scalar parameters with their values and types",
                  {200: ok("scalars", ref("ParameterList"))}, (ErrorKind.INVALID,),
                  params=(query("prefix", "name prefix, case-insensitive (e.g. Cli.)", {"type": "string"}),
                          query("service", "service text key", {"type": "string"}),
                          query("access", "read-write or read-only",
                                {"type": "string", "enum": ["read-write", "read-only"]}),
                          query("modified", "only values that differ (true) or not (false) from the factory value",
                                {"type": "boolean"})),
                  description="Secrets are null for users without Admin rights."),
            Route("GET", f"{P}/parameters/{{name:.+}}", self.get_parameter, "read", "getParameter", "parameters",
                  "Read a scalar or a table cell", {200: ok("the value", ref("ParameterValue"))}, _READ_ERRORS,
                  params=(pref("ParamName"),),
                  description="A secret (e.g. a password) is refused with 403 to users without Admin rights."),
            Route("PUT", f"{P}/parameters/{{name:.+}}", self.put_parameter, "write", "setParameter", "parameters",
                  "Set a scalar or a table cell (validated, persisted)",
                  {200: ok("the value now in force", ref("ParameterValue"))}, _WRITE_ERRORS,
                  params=(pref("ParamName"),), body=param_body,
                  description="Refused changes leave the configuration unchanged. Writing a row command column "
                  "(e.g. Scm.ServiceCommands[SipEp].Restart = Restart) runs the command; a secret, a row of "
                  "Aaa.Users or a certificate deletion (Cert.*CertificatesInfo Delete) needs Admin rights."),
            Route("GET", f"{P}/tables", self.list_tables, "read", "listTables", "tables",
                  "List tables (index, columns, dynamic, status)", {200: ok("tables", ref("TableList"))},
                  params=(query("prefix", "name prefix, case-insensitive", {"type": "string"}),
                          query("service", "service text key", {"type": "string"}))),
            Route("GET", f"{P}/tables/{{table}}", self.get_table, "read", "getTable", "tables", "Every row of a table",
                  {200: ok("the table", ref("Table"))}, (ErrorKind.UNKNOWN,), params=(t,),
                  description="Secret columns are null for users without Admin rights."),
            Route("POST", f"{P}/tables/{{table}}/rows", self.add_row, "write", "addRow", "tables",
                  "Add a row to a dynamic table", {201: ok("the new row", ref("RowResult"))}, _WRITE_ERRORS,
                  params=(t,), body=row_body, description="A single numeric index is assigned when not given."),
            Route("GET", f"{P}/tables/{{table}}/rows/{{index:.+}}", self.get_row, "read", "getRow", "tables",
                  "One row", {200: ok("the row", ref("RowResult"))}, _READ_ERRORS, params=(t, ti)),
            Route("PUT", f"{P}/tables/{{table}}/rows/{{index:.+}}", self.put_row, "write", "setRow", "tables",
                  "Set several cells of one row, all or nothing", {200: ok("the row now", ref("RowResult"))},
                  _WRITE_ERRORS, params=(t, ti), body=row_body),
            Route("DELETE", f"{P}/tables/{{table}}/rows/{{index:.+}}", self.delete_row, "write", "deleteRow",
                  "tables", "Delete a row of a dynamic table", {200: ok("the deleted row's index", ref("RowIndex"))},
                  _WRITE_ERRORS, params=(t, ti)),
        ]


def _schemas() -> dict[str, Schema]:
    value: Schema = {
        "description": "A configuration value: enums by label, numbers as numbers, other values as strings; "
        "null when the value is not known or is a secret hidden from the user.",
        "type": ["string", "integer", "null"],
    }
    behaviour: Schema = {
        "type": ["string", "null"], "enum": [*CLASSES, None],
        "description": "how the emulator treats the parameter (an emulator addition; docs/parameters.md): "
        + "; ".join(f"{c}: {MEANING[c]}" for c in CLASSES),
    }
    return {
        "Value": value,
        "Behaviour": behaviour,
        "ParameterValue": obj({"name": {"type": "string", "description": "canonical address"}, "value": value,
                               "behaviour": ref("Behaviour")},
                              ["name", "value"],
                              description="GET answers the parameter's behaviour too (an emulator addition)"),
        "ParameterSet": obj({"value": {"type": ["string", "integer"], "description": "label or number for enums"}},
                            ["value"]),
        "TypeInfo": obj({"kind": {"type": "string"}, "description": {"type": "string"},
                         "values": arr({"type": "string"}), "ranges": arr(arr({"type": "integer"})),
                         "min_length": {"type": "integer"}, "max_length": {"type": "integer"}},
                        ["kind", "description"]),
        "ParameterInfo": obj({"name": {"type": "string"}, "value": value,
                              "access": {"type": "string", "enum": ["read-write", "read-only"]},
                              "type": ref("TypeInfo"), "default": value, "modified": {"type": "boolean"},
                              "restart": {"type": "boolean",
                                          "description": "a change marks the service as needing a restart"},
                              "secret": {"type": "boolean"}, "title": {"type": "string"},
                              "behaviour": ref("Behaviour")},
                             ["name", "value", "access", "type"]),
        "ParameterList": obj({"parameters": arr(ref("ParameterInfo")), "count": {"type": "integer"}},
                             ["parameters", "count"]),
        "TableInfo": obj({"name": {"type": "string"}, "index": arr({"type": "string"}),
                          "columns": arr({"type": "string"}),
                          "dynamic": {"type": "boolean", "description": "rows may be added and deleted"},
                          "status": {"type": "boolean", "description": "read-only rows fed by the unit"}},
                         ["name", "index", "columns", "dynamic", "status"]),
        "TableList": obj({"tables": arr(ref("TableInfo")), "count": {"type": "integer"}}, ["tables", "count"]),
        "Row": {"type": "object", "additionalProperties": value, "description": "column -> value"},
        "Table": obj({"name": {"type": "string"}, "index": arr({"type": "string"}), "columns": arr({"type": "string"}),
                      "rows": arr(ref("Row"))}, ["name", "index", "columns", "rows"]),
        "RowValues": {"type": "object", "additionalProperties": {"type": ["string", "integer"]},
                      "description": "column -> value; index columns may be given when adding a row"},
        "RowIndex": obj({"name": {"type": "string"}, "index": arr(value)}, ["name", "index"]),
        "RowResult": obj({"name": {"type": "string"}, "index": arr(value), "row": ref("Row")},
                         ["name", "index", "row"]),
    }


COMPONENTS: dict[str, dict[str, Any]] = {
    "schemas": _schemas(),
    "parameters": {
        "ParamName": path_param("name", "Service.Param, Service.Table[Index].Column or "
                                "Service.Table.Column[Key=Value] (case-insensitive; brackets may be percent-encoded)"),
        "TableName": path_param("table", "Service.Table"),
        "RowIndexPath": path_param("index", "row index: values separated by commas, or Key=Value (percent-encoded "
                                   "if needed)"),
    },
}

"""Applying a submitted page form: its fields, a grid's new row, a row's delete.

Every value goes through ``Config.set`` / ``add_row`` / ``delete_row`` in one ``Config.batch``, so a form
with one invalid field changes nothing and the configuration's own message is shown beside that field.
Only the inputs the page model offered this caller are read (``PageModel.editable``): a forged field is
ignored. A row added to or deleted from a table the caller may not change is refused by the access
policy (``Forbidden``, its message shown on the page) before anything is touched; a form that does not
match the page (no such table, a bad row key) is a ``BadForm`` (HTTP 400).
"""

from __future__ import annotations

import json
from typing import Any

from emulator.ops.policy import Caller, check_table, check_write
from emulator.runtime.unit import Unit
from firmware_model.config import Config, ConfigError
from firmware_model.schema import Value
from web_ui.pages import Section
from web_ui.references import REFERENCES, submitted
from web_ui.views import PageModel, cell_address, may_write

__all__ = ["ROW_MOVES", "BadForm", "add_row", "apply_fields", "delete_row", "move_row", "reason"]

# the row commands of a grid whose rows are ordered (Section.move): swap with the row above / below, a new row here
ROW_MOVES = ("Up", "Down", "Insert")


class BadForm(Exception):
    """A submitted form that no page of this unit could have sent (answered 400)."""


class _Rollback(Exception):
    """Raised inside Config.batch() to undo a form that had an invalid field."""


def reason(e: ConfigError) -> str:
    """The configuration's message without the leading address (the field is beside it)."""
    msg = e.message
    head, sep, rest = msg.partition(": ")
    return rest if sep and ("." in head or "[" in head) else msg


def apply_fields(config: Config, model: PageModel, form: Any) -> dict[str, str]:
    """Set every editable field of the page the form carries: all or nothing. Returns address -> message."""
    errors: dict[str, str] = {}
    try:
        with config.batch():
            for name, ed in model.editable.items():
                if name not in form:
                    continue
                raw = submitted(ed.ref, form.getall(name)) if ed.ref is not None else str(form[name])
                if ed.param.secret and raw == "":
                    continue  # a blank password field keeps the current secret
                try:
                    config.set(name, ed.choices.value(raw) if ed.choices is not None else raw, source="web")
                except ConfigError as e:
                    errors[name] = reason(e)
            if errors:
                raise _Rollback
    except _Rollback:
        pass
    return errors


def _grid_section(model: PageModel, number: int) -> Section:
    if not 0 <= number < len(model.page.sections):
        raise BadForm("no such table")
    sec = model.page.sections[number]
    if sec.kind != "grid" or sec.table is None:
        raise BadForm("no such table")
    return sec


def add_row(unit: Unit, model: PageModel, number: int, form: Any, caller: Caller) -> dict[str, str]:
    """A grid's add line (``add.<Column>`` fields). Returns field -> message (empty: the row was added)."""
    sec = _grid_section(model, number)
    if not sec.add:
        raise BadForm("rows cannot be added here")
    assert sec.table is not None
    table = unit.catalog.tables[sec.table]
    check_table(caller, table.name)
    values: dict[str, Value] = {}
    for c in table.index:
        if f"add.{c}" in form:
            values[c] = str(form[f"add.{c}"]).strip()
    for f in sec.fields:
        p = table.columns.get(f.param)
        key = f"add.{f.param}"
        if p is None or key not in form or not may_write(caller, p):
            continue
        ref = REFERENCES.get(p.name)
        raw = submitted(ref, form.getall(key)) if ref is not None else str(form[key])
        if p.secret and raw == "":
            continue
        values[f.param] = f.choices.value(raw) if f.choices is not None else raw
    for c in table.index:
        if c in values and values[c] == "":
            return {f"add.{c}": f"{table.columns[c].title}: a value is required"}
    cfg = unit.config
    try:
        with cfg.batch():
            index = cfg.add_row(table.name, values, source="web")
            if table.name == "SipEp.Gateway":
                _gateway_rows(unit, str(index[0]))
    except ConfigError as e:
        where = "add." + (e.name.rsplit(".", 1)[-1] if e.name.count(".") >= 2 else table.index[0])
        return {where: reason(e)}
    return {}


def delete_row(unit: Unit, model: PageModel, number: int, key: str, caller: Caller) -> tuple[str, tuple[Value, ...]]:
    """A grid row's Delete button: returns (table, index) deleted; ConfigError when the model refuses."""
    sec = _grid_section(model, number)
    if not sec.delete:
        raise BadForm("rows cannot be deleted here")
    assert sec.table is not None
    check_table(caller, sec.table)
    try:
        index = tuple(json.loads(key))
    except (ValueError, TypeError):
        raise BadForm("bad row") from None
    with unit.config.batch():
        unit.config.delete_row(sec.table, index, source="web")
        if sec.table == "SipEp.Gateway":
            _gateway_rows(unit, str(index[0]), remove=True)
    return sec.table, index


def move_row(unit: Unit, model: PageModel, number: int, key: str, command: str, caller: Caller) -> None:
    """A grid row's Up, Down or Insert button: the table's own row command (the call router swaps the row with its
    neighbour, or puts a new row with the defaults before it); ConfigError when the model refuses, Forbidden when
    the policy does."""
    sec = _grid_section(model, number)
    if not sec.move or command not in ROW_MOVES:
        raise BadForm("rows cannot be moved here")
    assert sec.table is not None
    table = unit.catalog.tables[sec.table]
    try:
        index = tuple(json.loads(key))
    except (ValueError, TypeError):
        raise BadForm("bad row") from None
    if len(index) != len(table.index):
        raise BadForm("bad row")
    address = cell_address(table, index, command)
    check_write(caller, unit.config.resolve(address).param)
    unit.config.set(address, command, source="web")


def _gateway_rows(unit: Unit, gateway: str, remove: bool = False) -> None:
    """A new SIP gateway gets its row in every table indexed by GatewayName (as on the unit).

    Workaround until firmware_model does this itself: those tables are not dynamic, so the rows
    are put in with the table-feeding call, keeping every existing row; persisted by the batch."""
    cfg = unit.config
    for table in unit.catalog.service("SipEp").tables.values():  # type: ignore[union-attr]
        if table.index != ("GatewayName",) or table.status:
            continue
        rows = cfg.rows(table.name)
        present = any(r.get("GatewayName") == gateway for r in rows)
        if present != remove:
            continue
        stored = [{k: v for k, v in r.items() if not table.columns[k].is_command} for r in rows
                  if r.get("GatewayName") != gateway]
        if not remove:
            fresh = {c: p.default for c, p in table.columns.items() if not p.is_command and p.default is not None}
            fresh["GatewayName"] = gateway
            stored.append(fresh)
        cfg.set_status_rows(table.name, stored)
        cfg._changed_tables.add(table.name)  # persisted with the batch (model API pending, see docstring)

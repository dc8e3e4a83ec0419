"""A unit's configuration: typed get/set of scalars and table cells, rows, validation, events.

Every change made through any face goes through :class:`Config` (``set``, ``add_row``,
``delete_row``): it is validated here once, persisted through the injected store before the call
returns (so an acknowledged write survives kill -9), marks the owning service as needing a restart
when the parameter says so, and is announced to subscribers as a :class:`ChangeEvent`.

Addresses (names are case-insensitive, like the DGW CLI):
  ``Service.Param``                       a scalar
  ``Service.Table[Index].Column``         a cell; several index values separated by commas
  ``Service.Table.Column[Key=Value]``     the same cell (the script/CLI form)

Engines feed read-only values with :meth:`set_status` / :meth:`provide` and status tables with
:meth:`set_status_rows` / :meth:`provide_rows`; these are never persisted nor exported.
"""

from __future__ import annotations

import builtins
import copy
import re
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from firmware_model.schema import Catalog, Param, Table, Value
from firmware_model.validators import VALIDATORS

__all__ = [
    "Address",
    "ChangeEvent",
    "Config",
    "ConfigError",
    "Factory",
    "Store",
    "format_index",
]

Index = tuple[Value, ...]
Row = dict[str, Value]


class ConfigError(Exception):
    """A refused operation. ``kind`` is one of: unknown, invalid, read-only, no-row, row-exists,
    not-dynamic, syntax. ``name`` is the parameter (or table) the message is about."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.message = message

    def __str__(self) -> str:
        return self.message


class Store(Protocol):
    def load(self) -> dict[str, Any] | None: ...

    def save(self, doc: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class Factory:
    """Factory configuration of a unit model: scalar overrides and the rows tables start with."""

    scalars: dict[str, Value] = field(default_factory=dict)
    rows: dict[str, list[Row]] = field(default_factory=dict)  # table name -> rows (index + columns)


@dataclass(slots=True, frozen=True)
class Address:
    param: Param
    index: Index | None = None

    @property
    def text(self) -> str:
        if self.index is None:
            return self.param.name
        assert self.param.table is not None
        return f"{self.param.table}[{format_index(self.index)}].{self.param.column}"


@dataclass(slots=True, frozen=True)
class ChangeEvent:
    address: str
    param: Param
    index: Index | None
    old: Value | None
    new: Value | None
    source: str
    kind: str = "set"  # set | add-row | delete-row | reset

    def redacted(self) -> dict[str, Any]:
        """For logs: secrets are never written out."""
        hide = self.param.secret
        return {
            "address": self.address,
            "old": "***" if hide and self.old else self.old,
            "new": "***" if hide and self.new else self.new,
            "source": self.source,
            "kind": self.kind,
        }


def format_index(index: Index) -> str:
    return ",".join(str(v) for v in index)


_ADDR_BRACKET_TABLE = re.compile(r"^(\w+)\.(\w+)\[(.*)\]\.(\w+)$")
_ADDR_BRACKET_COLUMN = re.compile(r"^(\w+)\.(\w+)\.(\w+)\[(.*)\]$")


def _split_index(text: str) -> list[tuple[str | None, str]]:
    """``a,b`` or ``Key=a,Key2=b`` -> [(key|None, value)]; values may be double-quoted."""
    out: list[tuple[str | None, str]] = []
    for part in _split_commas(text):
        key: str | None = None
        m = re.match(r"^\s*(\w+)\s*=(.*)$", part)
        if m:
            key, part = m.group(1), m.group(2)
        part = part.strip()
        if len(part) >= 2 and part[0] == part[-1] == '"':
            part = part[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out.append((key, part))
    return out


def _split_commas(text: str) -> list[str]:
    parts, cur, quoted, esc = [], [], False, False
    for ch in text:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\" and quoted:
            cur.append(ch)
            esc = True
        elif ch == '"':
            quoted = not quoted
            cur.append(ch)
        elif ch == "," and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


# Config.rows: per catalog, each table's column defaults and command columns
_SHAPES: weakref.WeakKeyDictionary[Catalog, dict[str, Any]] = weakref.WeakKeyDictionary()
_RESOLVED: weakref.WeakKeyDictionary[Catalog, dict[str, Address]] = weakref.WeakKeyDictionary()
# (catalog, factory) -> the factory rows of every table, shared template (Config._template); the objects are kept so
# that their ids stay theirs
_TEMPLATES: dict[tuple[int, int], tuple[Catalog, Factory, dict[str, dict[Index, Row]]]] = {}


class Config:
    """The configuration of one unit. Not thread-safe; all access happens on the unit's loop."""

    def __init__(self, catalog: Catalog, factory: Factory | None = None, store: Store | None = None) -> None:
        self.catalog = catalog
        self.factory = factory or Factory()
        self.store = store
        self._scalars: dict[str, Value] = {}  # writable scalars that differ from their default
        self._rows: dict[str, dict[Index, Row]] = {}
        self._changed_tables: set[str] = set()  # tables whose rows differ from the factory rows
        self._status: dict[str, Value] = {}
        self._providers: dict[str, Callable[[], Value]] = {}
        self._row_providers: dict[str, Callable[[], list[Row]]] = {}
        self._commands: dict[str, Callable[[Index], None]] = {}
        self._listeners: list[Callable[[ChangeEvent], None]] = []
        self._restart: set[str] = set()
        # addresses depend only on the immutable catalog: one cache for every unit of the process (a unit's
        # start resolves ~200 of them, the same in every unit)
        self._resolved: dict[str, Address] = _RESOLVED.setdefault(catalog, {})
        self._shapes: dict[str, tuple[tuple[tuple[str, Any], ...], tuple[tuple[str, Any], ...]]] = \
            _SHAPES.setdefault(catalog, {})
        self._batch_depth = 0
        self._pending_events: list[ChangeEvent] = []
        self._pending_commands: list[tuple[Callable[[Index], None], Index]] = []
        self._reset_to_factory()
        if store is not None:
            doc = store.load()
            if doc:
                self._apply_doc(doc)

    # ------------------------------------------------------------------ addressing
    def resolve(self, text: str) -> Address:
        """Parse a parameter address; raise ConfigError('unknown'|'syntax'|'no-row')."""
        addr = self._resolved.get(text)
        if addr is None:
            addr = self._resolve(text)
            if len(self._resolved) < 16384:  # bounded: faces may be asked for any text
                self._resolved[text] = addr
        return addr

    def _resolve(self, text: str) -> Address:
        name = text.strip()
        m = _ADDR_BRACKET_TABLE.match(name) or None
        if m:
            svc, tab, idx, col = m.groups()
            return self._cell(f"{svc}.{tab}", col, idx, name)
        m = _ADDR_BRACKET_COLUMN.match(name)
        if m:
            svc, tab, col, idx = m.groups()
            return self._cell(f"{svc}.{tab}", col, idx, name)
        p = self.catalog.param(name)
        if p is None:
            if "[" in name or "]" in name:
                raise ConfigError("syntax", name, f"{name}: malformed table cell address")
            raise ConfigError("unknown", name, f"{name}: unknown parameter")
        if p.table is not None:
            raise ConfigError(
                "syntax",
                p.name,
                f"{p.name}: a table column needs a row index, e.g. {p.table}[<index>].{p.column}",
            )
        return Address(p)

    def _cell(self, table_name: str, column: str, idx_text: str, text: str) -> Address:
        table = self.catalog.table(table_name)
        if table is None:
            raise ConfigError("unknown", text, f"{text}: unknown table {table_name}")
        p = table.column(column)
        if p is None:
            raise ConfigError("unknown", text, f"{text}: table {table.name} has no column {column}")
        return Address(p, self.parse_index(table, idx_text))

    def parse_index(self, table: Table, idx_text: str) -> Index:
        parts = _split_index(idx_text)
        if len(parts) != len(table.index):
            want = ",".join(table.index)
            raise ConfigError(
                "syntax", table.name, f"{table.name}: index needs {len(table.index)} value(s) ({want})"
            )
        values: list[Value] = []
        for pos, (key, raw) in enumerate(parts):
            col_name = table.index[pos]
            if key is not None:
                if key.lower() not in [c.lower() for c in table.index]:
                    raise ConfigError(
                        "syntax", table.name, f"{table.name}: {key} is not an index column ({','.join(table.index)})"
                    )
                col_name = next(c for c in table.index if c.lower() == key.lower())
            col = table.columns[col_name]
            try:
                values.append(col.type.parse(raw))
            except ValueError as e:
                raise ConfigError("invalid", col.name, f"{col.name}: {e}") from None
        return tuple(values)

    # ------------------------------------------------------------------ reading
    def get(self, name: str | Address) -> Value | None:
        addr = name if isinstance(name, Address) else self.resolve(name)
        p = addr.param
        if addr.index is None:
            if p.name in self._providers:
                return self._providers[p.name]()
            if not p.writable:
                return self._status.get(p.name, p.default)
            return self._scalars.get(p.name, p.default)
        assert p.table is not None
        row = self._find_row(p.table, addr.index)
        if p.is_command:
            return p.type.values[0][0]
        return row.get(p.column or "", p.default)

    def get_text(self, name: str | Address) -> str:
        v = self.get(name)
        return "" if v is None else str(v)

    def _find_row(self, table_name: str, index: Index) -> Row:
        if table_name not in self._row_providers:  # stored rows are keyed by their index: no scan of the table
            row = self._rows.get(table_name, {}).get(index)
            if row is not None:
                return row
        else:
            for row_index, row in self._table_rows(table_name):
                if row_index == index:
                    return row
        raise ConfigError(
            "no-row", table_name, f"{table_name}: no row with index {format_index(index)}"
        )

    def _table_rows(self, table_name: str) -> list[tuple[Index, Row]]:
        if table_name in self._row_providers:
            table = self.catalog.tables[table_name]
            return [(tuple(r[c] for c in table.index), r) for r in self._row_providers[table_name]()]
        return list(self._rows.get(table_name, {}).items())

    def rows(self, table_name: str) -> list[dict[str, Any]]:
        """Every row of a table, as {column: value}, in index order (copies)."""
        table = self._table(table_name)
        shape = self._shapes.get(table.name)
        if shape is None:  # the columns' defaults and the command columns' fixed value, once per table
            shape = self._shapes[table.name] = (
                tuple((c, p.default) for c, p in table.columns.items()),
                tuple((c, p.type.values[0][0]) for c, p in table.columns.items() if p.is_command))
        defaults, commands = shape
        out = []
        for _, row in self._table_rows(table.name):
            get = row.get
            full = {c: get(c, default) for c, default in defaults}
            for c, value in commands:
                full[c] = value
            out.append(full)
        return out

    def indexes(self, table_name: str) -> list[Index]:
        return [i for i, _ in self._table_rows(self._table(table_name).name)]

    def _table(self, table_name: str) -> Table:
        table = self.catalog.table(table_name)
        if table is None:
            raise ConfigError("unknown", table_name, f"{table_name}: unknown table")
        return table

    # ------------------------------------------------------------------ writing
    def set(self, name: str | Address, value: Value, source: str = "api") -> ChangeEvent | None:
        """Validate and apply one value; persist before returning. Returns the change (or None)."""
        addr = name if isinstance(name, Address) else self.resolve(name)
        p = addr.param
        if not p.writable:
            raise ConfigError("read-only", p.name, f"{addr.text}: read-only parameter")
        try:
            new = p.type.parse(value)
            check = VALIDATORS.get(p.name)
            if check is not None:
                check(new)
        except ValueError as e:
            raise ConfigError("invalid", p.name, f"{addr.text}: {e}") from None
        if addr.index is None:
            old = self._scalars.get(p.name, p.default)
            if old == new:
                return None
            if new == p.default:
                self._scalars.pop(p.name, None)
            else:
                self._scalars[p.name] = new
            ev = ChangeEvent(addr.text, p, None, old, new, source)
        else:
            assert p.table is not None and p.column is not None
            row = self._find_row(p.table, addr.index)
            if p.is_command:
                return self._command(p, addr, new, source)
            if p.table in self._row_providers:
                raise ConfigError("read-only", p.name, f"{addr.text}: row belongs to a status table")
            old = row.get(p.column, p.default)
            if old == new:
                return None
            row[p.column] = new
            self._changed_tables.add(p.table)
            ev = ChangeEvent(addr.text, p, addr.index, old, new, source)
        if p.restart:
            self._restart.add(p.service)
        self._commit(ev)
        return ev

    def _command(self, p: Param, addr: Address, action: Value, source: str) -> ChangeEvent | None:
        assert p.table is not None and addr.index is not None
        if action == p.type.values[0][0]:  # NoOp
            return None
        handler = self._commands.get(p.name)
        if p.column == "Delete" and handler is None:
            self.delete_row(p.table, addr.index, source=source)
            return None
        if handler is None:
            raise ConfigError("invalid", p.name, f"{addr.text}: command {action} is not available on this unit")
        if self._batch_depth:
            self._pending_commands.append((handler, addr.index))
        else:
            handler(addr.index)
        return None

    def add_row(
        self, table_name: str, values: Mapping[str, Value] | None = None, index: Index | None = None,
        source: str = "api",
    ) -> Index:
        """Add a row to a dynamic table. Numeric single indexes are assigned when not given."""
        table = self._table(table_name)
        if not table.dynamic:
            raise ConfigError("not-dynamic", table.name, f"{table.name}: rows cannot be added to this table")
        rows = self._rows.setdefault(table.name, {})
        values = dict(values or {})
        if index is None:
            given = [values.pop(c) for c in table.index if c in values]
            if len(given) == len(table.index):
                # Index values given as column values are literal: escape them for the index syntax.
                quoted = ('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in given)
                index = self.parse_index(table, ",".join(quoted))
            elif len(table.index) == 1 and table.columns[table.index[0]].type.kind in ("uint", "int"):
                index = (max((int(i[0]) for i in rows), default=0) + 1,)
            else:
                raise ConfigError("syntax", table.name, f"{table.name}: give the index ({','.join(table.index)})")
        if index in rows:
            raise ConfigError("row-exists", table.name, f"{table.name}: row {format_index(index)} already exists")
        row: Row = {
            c: d for c, p in table.columns.items() if not p.is_command and (d := p.default) is not None
        }
        for c, v in zip(table.index, index, strict=True):
            row[c] = v
        for k, v in values.items():
            col = table.column(k)
            if col is None:
                raise ConfigError("unknown", f"{table.name}.{k}", f"{table.name}: no column {k}")
            if not col.writable or col.is_command:
                raise ConfigError("read-only", col.name, f"{col.name}: read-only column")
            try:
                row[col.column or k] = parsed = col.type.parse(v)
                check = VALIDATORS.get(col.name)  # as set() does: a new row's values are checked the same way
                if check is not None:
                    check(parsed)
            except ValueError as e:
                raise ConfigError("invalid", col.name, f"{col.name}: {e}") from None
        rows[index] = row
        self._changed_tables.add(table.name)
        p = next(iter(table.columns.values()))
        ev = ChangeEvent(f"{table.name}[{format_index(index)}]", p, index, None, None, source, "add-row")
        if any(c.restart for c in table.columns.values()):
            self._restart.add(table.service)
        self._commit(ev)
        return index

    def delete_row(self, table_name: str, index: Index, source: str = "api") -> None:
        table = self._table(table_name)
        if not table.dynamic:
            raise ConfigError("not-dynamic", table.name, f"{table.name}: rows cannot be deleted from this table")
        if table.name in self._row_providers:
            # An engine-fed table (certificates...): its engine deletes through the Delete command.
            self._find_row(table.name, index)
            handler = self._commands.get(f"{table.name}.Delete")
            if handler is None:
                raise ConfigError("read-only", table.name, f"{table.name}: rows of this table cannot be deleted")
            handler(index)
            return
        rows = self._rows.get(table.name, {})
        if index not in rows:
            raise ConfigError("no-row", table.name, f"{table.name}: no row with index {format_index(index)}")
        del rows[index]
        self._changed_tables.add(table.name)
        p = next(iter(table.columns.values()))
        if any(c.restart for c in table.columns.values()):
            self._restart.add(table.service)
        self._commit(ChangeEvent(f"{table.name}[{format_index(index)}]", p, index, None, None, source, "delete-row"))

    def ensure_row(self, table_name: str, index: Index, source: str = "api") -> bool:
        """Add a row with factory values if absent (used for script cell assignment); True if added."""
        table = self._table(table_name)
        if index in self._rows.get(table.name, {}):
            return False
        self.add_row(table.name, index=index, source=source)
        return True

    # ------------------------------------------------------------------ status (engines)
    def set_status(self, name: str, value: Value | None) -> None:
        """Set a read-only scalar or cell from an engine (no validation against access)."""
        addr = self.resolve(name)
        if addr.index is None:
            if value is None:
                self._status.pop(addr.param.name, None)
            else:
                self._status[addr.param.name] = value
            return
        assert addr.param.table is not None and addr.param.column is not None
        row = self._find_row(addr.param.table, addr.index)
        if value is None:
            row.pop(addr.param.column, None)
        else:
            row[addr.param.column] = value

    def provide(self, name: str, fn: Callable[[], Value]) -> None:
        """Compute a read-only scalar on every read (e.g. Hoc.SystemTime)."""
        self._providers[self.resolve(name).param.name] = fn

    def provide_rows(self, table_name: str, fn: Callable[[], list[Row]]) -> None:
        """Compute a status table's rows on every read (e.g. Scm.ServicesInfo)."""
        self._row_providers[self._table(table_name).name] = fn

    def set_status_rows(self, table_name: str, rows: list[Row]) -> None:
        table = self._table(table_name)
        self._rows[table.name] = {tuple(r[c] for c in table.index): dict(r) for r in rows}

    def on_command(self, name: str, fn: Callable[[Index], None]) -> None:
        """Handle a row command column (``Scm.ServiceCommands.Restart``...)."""
        p = self.catalog.param(name)
        if p is None or not p.is_command:
            raise ConfigError("unknown", name, f"{name}: not a command column")
        self._commands[p.name] = fn

    # ------------------------------------------------------------------ events, restart
    def subscribe(self, fn: Callable[[ChangeEvent], None]) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    def needs_restart(self, service: str) -> bool:
        return service in self._restart

    def restart_required(self) -> list[str]:
        return sorted(self._restart)

    def clear_restart(self, service: str) -> None:
        self._restart.discard(service)

    def mark_restart(self, service: str) -> None:
        self._restart.add(service)

    def _commit(self, ev: ChangeEvent) -> None:
        if self._batch_depth:
            self._pending_events.append(ev)
            return
        self._persist()
        self._emit([ev])

    def _emit(self, events: list[ChangeEvent]) -> None:
        for ev in events:
            for fn in list(self._listeners):
                fn(ev)

    @property
    def in_batch(self) -> bool:
        """Inside :meth:`batch`: changes made are not announced yet (settings caches read through then)."""
        return self._batch_depth > 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        """All-or-nothing: inside, changes are applied but persisted and announced only at the end;
        an exception restores the configuration as it was and re-raises."""
        if self._batch_depth:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
            return
        snap = self._snapshot()
        self._batch_depth = 1
        try:
            yield
        except BaseException:
            self._batch_depth = 0
            self._restore(snap)
            self._pending_events.clear()
            self._pending_commands.clear()
            raise
        self._batch_depth = 0
        events, self._pending_events = self._pending_events, []
        commands, self._pending_commands = self._pending_commands, []
        if events:
            self._persist()
            self._emit(events)
        for handler, index in commands:
            handler(index)

    def _snapshot(self) -> tuple[Any, ...]:
        return (
            dict(self._scalars),
            copy.deepcopy(self._rows),
            set(self._changed_tables),
            set(self._restart),
        )

    def _restore(self, snap: tuple[Any, ...]) -> None:
        self._scalars, self._rows, self._changed_tables, self._restart = (
            dict(snap[0]),
            copy.deepcopy(snap[1]),
            set(snap[2]),
            set(snap[3]),
        )

    # ------------------------------------------------------------------ modified values, reset
    def is_modified(self, name: str | Address) -> bool:
        addr = name if isinstance(name, Address) else self.resolve(name)
        p = addr.param
        if addr.index is None:  # against the unit's factory value (a profile may set one), not the catalog's
            return self._scalars.get(p.name, p.default) != self._factory_scalar(p.name, p.default)
        assert p.table is not None
        if p.table not in self._changed_tables:
            return False
        factory = self._factory_row(p.table, addr.index)
        cur = self._find_row(p.table, addr.index).get(p.column or "", p.default)
        if factory is None:
            return True
        return cur != factory.get(p.column or "", p.default)

    def _factory_row(self, table_name: str, index: Index) -> Row | None:
        table = self.catalog.tables[table_name]
        for r in self._factory_rows(table):
            if tuple(r[c] for c in table.index) == index:
                return r
        return None

    def _factory_rows(self, table: Table) -> list[Row]:
        out = []
        for r in self.factory.rows.get(table.name, []):
            row: Row = table.row_defaults()
            row.update(r)
            out.append(row)
        return out

    def _reset_to_factory(self) -> None:
        self._scalars = {}
        for name, v in self.factory.scalars.items():
            p = self.catalog.params[name]
            if v != p.default:
                self._scalars[p.name] = v
        self._rows = {name: {index: dict(row) for index, row in rows.items()}
                      for name, rows in self._template().items()}
        self._changed_tables = set()

    def _template(self) -> dict[str, dict[Index, Row]]:
        """Every configuration table's factory rows with their defaults, made once per (catalog, factory): the
        units of a model share it and copy its rows (making them costs ~15 % of a unit's start)."""
        key = (id(self.catalog), id(self.factory))
        cached = _TEMPLATES.get(key)
        if cached is not None and cached[0] is self.catalog and cached[1] is self.factory:
            return cached[2]
        rows: dict[str, dict[Index, Row]] = {}
        for t in self.catalog.tables.values():
            if not t.status:
                rows[t.name] = {tuple(r[c] for c in t.index): r for r in self._factory_rows(t)}
        if len(_TEMPLATES) >= 16:  # a few models per process; tests make many one-off factories
            _TEMPLATES.pop(next(iter(_TEMPLATES)))
        _TEMPLATES[key] = (self.catalog, self.factory, rows)
        return rows

    def factory_reset(self, source: str = "api") -> None:
        """Back to the model's factory configuration (persisted)."""
        self._reset_to_factory()
        self._restart = {s for s in self.catalog.services}
        self._persist()
        any_param = next(iter(self.catalog.params.values()))
        self._emit([ChangeEvent("*", any_param, None, None, None, source, "reset")])

    def _factory_scalar(self, name: str, default: Value | None) -> Value | None:
        return self.factory.scalars.get(name, default)

    def modified_scalars(self) -> dict[str, Value]:
        """The writable scalars whose value differs from the unit's factory value."""
        out = {n: v for n, v in self._scalars.items() if v != self._factory_scalar(n, None)}
        for n, v in self.factory.scalars.items():  # a factory value set back to the catalog's default
            p = self.catalog.params.get(n)
            if p is not None and n not in self._scalars and p.default is not None and p.default != v:
                out[n] = p.default
        return out

    def changed_tables(self) -> builtins.set[str]:
        return set(self._changed_tables)

    def factory_indexes(self, table_name: str) -> list[Index]:
        table = self._table(table_name)
        return [tuple(r[c] for c in table.index) for r in self._factory_rows(table)]

    # ------------------------------------------------------------------ persistence
    def to_doc(self) -> dict[str, Any]:
        tables: dict[str, list[Row]] = {}
        for name in sorted(self._changed_tables):
            table = self.catalog.tables[name]
            keep = set(table.index) | {c.column for c in table.config_columns if c.column}
            tables[name] = [{k: v for k, v in r.items() if k in keep} for r in self._rows.get(name, {}).values()]
        return {"format": 1, "scalars": dict(sorted(self._scalars.items())), "tables": tables}

    def _apply_doc(self, doc: dict[str, Any]) -> None:
        for name, v in doc.get("scalars", {}).items():
            p = self.catalog.param(name)
            if p is None or not p.writable:
                continue  # a parameter this firmware no longer has: ignored, like the hardware
            try:
                self._scalars[p.name] = p.type.parse(v)
            except ValueError:
                continue
        for name, rows in doc.get("tables", {}).items():
            table = self.catalog.table(name)
            if table is None:
                continue
            new: dict[Index, Row] = {}
            factory = {tuple(r[c] for c in table.index): r for r in self._factory_rows(table)}
            for r in rows:
                try:
                    idx = tuple(table.columns[c].type.parse(r[c]) for c in table.index)
                except (KeyError, ValueError):
                    continue
                row = dict(factory.get(idx) or {
                    c: p.default for c, p in table.columns.items() if not p.is_command and p.default is not None
                })
                for c, v in r.items():
                    col = table.columns.get(c)
                    if col is not None:
                        try:
                            row[c] = col.type.parse(v)
                        except ValueError:
                            pass
                new[idx] = row
            self._rows[table.name] = new
            self._changed_tables.add(table.name)

    def _persist(self) -> None:
        if self.store is not None:
            self.store.save(self.to_doc())

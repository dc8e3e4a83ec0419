"""The configuration of a unit as an SNMP OID tree, at the vendor's OIDs (pure: no pysnmp, no I/O).

Layout, as in the Media5 ``MX-*-MIB`` files (``mediatrixServices`` = 1.3.6.1.4.1.4935.1000.100.200.100,
one subtree per service numkey):

* a scalar ``Svc.Param`` is the instance ``<oid>.0`` (SMIv2, RFC 2578 §7.7);
* a table cell is ``<column oid>.<index>``; the vendor MIBs use no ``IMPLIED`` index, so an integer
  (or enum) index is one sub-identifier and a string index is its length followed by its bytes;
  several index columns are concatenated in ``INDEX`` order (RFC 2578 §7.7 (1)-(3)).

SNMP syntaxes follow the vendor MIBs (checked against them with net-snmp): enums are ``INTEGER``
(the label's number), ``uint`` parameters are ``Unsigned32``, ``int`` parameters ``Integer32``, and
everything else — text, host names, addresses and ``MxUInt64`` (MX-TC2: decimal text) — is an
``OCTET STRING``.

Emulator additions (``Param.addition``) have no vendor OID: they are not in the tree (a MIB browser
could not name them), unless ``include_additions`` asks for them.

:class:`OidTree` keeps the static part (scalar instances and table columns, from the catalog) in one
sorted list, and each table's rows as a sorted list of encoded indexes, rebuilt lazily: configuration
tables when a row is added or deleted (change events), status tables (rows fed by engines) once per
:meth:`OidTree.new_request`. GETNEXT is a bisection in both lists.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from firmware_model.config import Address, ChangeEvent, Config, Index
from firmware_model.schema import Catalog, Param, Table, Value

__all__ = [
    "INTEGER",
    "OCTETS",
    "OID",
    "UNSIGNED",
    "OidTree",
    "SnmpValueError",
    "decode_index",
    "encode_index",
    "format_oid",
    "from_snmp",
    "parse_oid",
    "syntax_of",
    "to_snmp",
]

OID = tuple[int, ...]

# SNMP base syntaxes of catalog parameters (names of the RFC 2578 types).
INTEGER = "Integer32"
UNSIGNED = "Unsigned32"
OCTETS = "OctetString"


class SnmpValueError(Exception):
    """A SET value that cannot be taken: ``status`` is the RFC 3416 error status to answer."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status  # wrongType | wrongValue | wrongLength


def parse_oid(text: str) -> OID:
    return tuple(int(x) for x in text.strip().strip(".").split(".") if x != "")


def format_oid(oid: OID) -> str:
    return ".".join(str(x) for x in oid)


# ---------------------------------------------------------------------------------------- values
def syntax_of(param: Param) -> str:
    """The SNMP syntax of a parameter, as in its vendor MIB."""
    kind = param.type.kind
    if kind in ("enum", "int"):
        return INTEGER
    if kind == "uint":
        return UNSIGNED
    return OCTETS


def to_snmp(param: Param, value: Value | None) -> int | bytes:
    """A parameter value as its SNMP value: an int for INTEGER/Unsigned32, bytes for OCTET STRING."""
    syntax = syntax_of(param)
    if syntax == OCTETS:
        return b"" if value is None else str(value).encode("utf-8")
    if value is None or value == "":
        return 0
    if param.type.is_enum:
        if isinstance(value, int):
            return value
        try:
            return param.type.number_of(str(value))
        except KeyError:
            return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def from_snmp(param: Param, syntax: str, raw: int | bytes) -> Value:
    """An SNMP SET value as the text/number Config.set takes; raises SnmpValueError(wrongType...).

    Range and enum checks are left to Config.set (one validation path for every face); this only
    checks that the ASN.1 type is the MIB's and that text is UTF-8."""
    want = syntax_of(param)
    if syntax != want:
        raise SnmpValueError("wrongType", f"{param.name} takes {want}, not {syntax}")
    if want == OCTETS:
        assert isinstance(raw, bytes)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SnmpValueError("wrongValue", f"{param.name}: not UTF-8 text") from None
    assert isinstance(raw, int)
    if param.type.is_enum:
        try:
            return param.type.label_of(raw)
        except KeyError:
            raise SnmpValueError("wrongValue", f"{param.name}: {raw} is not {param.type.describe()}") from None
    return raw


# ---------------------------------------------------------------------------------------- indexes
def _index_is_number(col: Param) -> bool:
    return col.type.kind in ("uint", "int", "enum")


def encode_index(table: Table, index: Index) -> OID:
    """RFC 2578 §7.7 instance identifier of a row (no IMPLIED in the vendor MIBs)."""
    out: list[int] = []
    for name, value in zip(table.index, index, strict=True):
        col = table.columns[name]
        if _index_is_number(col):
            out.append(col.type.to_number(value))
        else:
            data = str(value).encode("utf-8")
            out.append(len(data))
            out.extend(data)
    return tuple(out)


def decode_index(table: Table, sub: OID) -> Index | None:
    """The row index an instance suffix names, or None when the suffix is not a whole index."""
    values: list[Value] = []
    pos = 0
    for name in table.index:
        col = table.columns[name]
        if pos >= len(sub):
            return None
        if _index_is_number(col):
            n = sub[pos]
            pos += 1
            if col.type.is_enum:
                try:
                    values.append(col.type.label_of(n))
                except KeyError:
                    return None
            else:
                values.append(n)
        else:
            length = sub[pos]
            data = sub[pos + 1 : pos + 1 + length]
            if len(data) != length or any(not 0 <= b <= 255 for b in data):
                return None
            pos += 1 + length
            try:
                values.append(bytes(data).decode("utf-8"))
            except UnicodeDecodeError:
                return None
    if pos != len(sub):
        return None
    return tuple(values)


# ---------------------------------------------------------------------------------------- tree
@dataclass(slots=True)
class _Rows:
    """A table's rows as sorted (instance suffix, index) pairs."""

    suffixes: list[OID]
    indexes: list[Index]
    generation: int  # -1: configuration table (rebuilt on change events only)


@dataclass(slots=True, frozen=True)
class _Static:
    """The catalog's part of the tree (never changes): scalar instances and table columns."""

    scalars: dict[OID, Param]
    columns: dict[OID, Param]
    tables: dict[str, Table]
    nodes: list[OID]  # scalar instances and columns, sorted; a column stands for all its cells
    column_lengths: list[int]
    status_tables: frozenset[str]  # rows fed by engines: read again once per request


@lru_cache(maxsize=8)
def _static(catalog: Catalog, include_additions: bool) -> _Static:
    scalars: dict[OID, Param] = {}
    columns: dict[OID, Param] = {}
    tables: dict[str, Table] = {}
    for p in catalog.params.values():
        if p.addition and not include_additions:
            continue
        oid = parse_oid(p.oid)
        if p.table is None:
            scalars[(*oid, 0)] = p
        else:
            table = catalog.tables[p.table]
            if table.addition and not include_additions:
                continue
            columns[oid] = p
            tables[table.name] = table
    nodes = sorted(list(scalars) + list(columns))
    status = frozenset(name for name, t in tables.items() if t.status)
    return _Static(scalars, columns, tables, nodes, sorted({len(o) for o in columns}), status)


class OidTree:
    """One unit's configuration as an ordered OID space (reverse lookup and GETNEXT)."""

    def __init__(self, config: Config, include_additions: bool = False) -> None:
        self.config = config
        static = _static(config.catalog, include_additions)  # shared by every unit of the process
        self._scalars = static.scalars
        self._columns = static.columns
        self._tables = static.tables
        self._nodes = static.nodes
        self._column_lengths = static.column_lengths
        self._status_tables = static.status_tables
        self._rows: dict[str, _Rows] = {}
        self._generation = 0
        self._unsubscribe: Callable[[], None] | None = config.subscribe(self._on_change)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ------------------------------------------------------------------ freshness
    def _on_change(self, ev: ChangeEvent) -> None:
        if ev.kind == "reset":
            self._rows.clear()
        elif ev.kind in ("add-row", "delete-row") and ev.param.table is not None:
            self._rows.pop(ev.param.table, None)

    def new_request(self) -> None:
        """Status tables (rows fed by engines) are read again at most once per request."""
        self._generation += 1

    def _table_rows(self, table: Table) -> _Rows:
        rows = self._rows.get(table.name)
        volatile = table.name in self._status_tables
        if rows is not None and (not volatile or rows.generation == self._generation):
            return rows
        pairs = sorted((encode_index(table, i), i) for i in self.config.indexes(table.name))
        rows = _Rows([s for s, _ in pairs], [i for _, i in pairs], self._generation if volatile else -1)
        self._rows[table.name] = rows
        return rows

    # ------------------------------------------------------------------ lookups
    @property
    def scalar_count(self) -> int:
        return len(self._scalars)

    def columns(self) -> list[Param]:
        return list(self._columns.values())

    def find_column(self, oid: OID) -> tuple[OID, Param] | None:
        """The column whose subtree holds ``oid`` (the OID may name no existing row)."""
        for n in self._column_lengths:
            if n >= len(oid):
                break
            p = self._columns.get(oid[:n])
            if p is not None:
                return oid[:n], p
        return None

    def lookup(self, oid: OID) -> Address | None:
        """The scalar or cell an instance OID names (None when it names nothing; the row may be absent)."""
        p = self._scalars.get(oid)
        if p is not None:
            return Address(p)
        found = self.find_column(oid)
        if found is None:
            return None
        col_oid, p = found
        assert p.table is not None
        index = decode_index(self._tables[p.table], oid[len(col_oid) :])
        if index is None:
            return None
        return Address(p, index)

    def row_exists(self, addr: Address) -> bool:
        if addr.index is None:
            return True
        assert addr.param.table is not None
        rows = self._table_rows(self._tables[addr.param.table])
        return addr.index in rows.indexes

    def oid_of(self, addr: Address) -> OID:
        p = addr.param
        if addr.index is None:
            return (*parse_oid(p.oid), 0)
        assert p.table is not None
        return parse_oid(p.oid) + encode_index(self._tables[p.table], addr.index)

    def next(self, oid: OID) -> tuple[OID, Address] | None:
        """The first instance after ``oid`` in lexicographic order (GETNEXT), or None at the end."""
        nodes = self._nodes
        i = bisect_right(nodes, oid) - 1
        if i >= 0:
            key = nodes[i]
            p = self._columns.get(key)
            if p is not None and oid[: len(key)] == key:
                hit = self._next_in_column(key, p, oid[len(key) :])
                if hit is not None:
                    return hit
        for j in range(i + 1, len(nodes)):
            key = nodes[j]
            scalar = self._scalars.get(key)
            if scalar is not None:
                return key, Address(scalar)
            hit = self._next_in_column(key, self._columns[key], None)
            if hit is not None:
                return hit
        return None

    def _next_in_column(self, key: OID, p: Param, after: OID | None) -> tuple[OID, Address] | None:
        assert p.table is not None
        rows = self._table_rows(self._tables[p.table])
        k = 0 if after is None else bisect_right(rows.suffixes, after)
        if k >= len(rows.suffixes):
            return None
        return key + rows.suffixes[k], Address(p, rows.indexes[k])

    def walk(self, start: OID = ()) -> Iterator[tuple[OID, Address]]:
        """Every instance after ``start``, in order."""
        cur = start
        while True:
            hit = self.next(cur)
            if hit is None:
                return
            yield hit
            cur = hit[0]

    def instances(self) -> list[tuple[OID, Address]]:
        """Every instance of the tree (scalars and cells of existing rows), in lexicographic order."""
        out: list[tuple[OID, Address]] = []
        for key in self._nodes:
            scalar = self._scalars.get(key)
            if scalar is not None:
                out.append((key, Address(scalar)))
                continue
            p = self._columns[key]
            assert p.table is not None
            rows = self._table_rows(self._tables[p.table])
            out.extend((key + s, Address(p, i)) for s, i in zip(rows.suffixes, rows.indexes, strict=True))
        return out

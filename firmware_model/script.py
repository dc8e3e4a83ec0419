"""The DGW configuration-script language (Conf service, numkey 800): parse, run, export.

A script is UTF-8 text, one statement per line (DGW facts §3.2, §3.3 and the script/CLI addendum;
the vendor grammar itself is not public, so the details below are our documented choices):

``Service.Param = value``
    assign a scalar. Names are case-insensitive, whitespace around ``=`` is optional, enum values
    are given by label (case-insensitive) or number.
``Service.Table.Column[Key=Value] = value`` or ``Service.Table[Value].Column = value``
    assign a table cell; a multi-column index is written ``[Key1=a,Key2=b]``. Assigning a cell of
    a *dynamic* table (one with a ``Delete`` row command) at an index that does not exist creates
    the row first, with the column defaults: this is how a script adds rows. In any other table an
    unknown index is an error.
``Service.Table.Command[Key=Value] = Action`` or the short form ``Service.Table.Command[Key=Value]``
    a row command (``Scm.ServiceCommands.Restart[Name=SipEp]``, ``Nlm.Events.Delete[Index=3]``);
    the short form runs the column's only action. ``= NoOp`` does nothing.
``Service.Command``
    a service command: a name of the ``commands`` mapping given to :func:`run_script`
    (e.g. ``Scm.RestartRequiredServices``), case-insensitive, without a value.

Comments and blank lines: a line whose first non-blank character is ``#`` is a comment; a ``#``
preceded by whitespace and outside double quotes starts a trailing comment. A ``#`` glued to text
(``http://host/#frag``, ``Pass#1``) belongs to the value; write values holding `` #`` in quotes.

Values are bare text, taken with surrounding whitespace stripped, or double-quoted; inside quotes
``\\"`` stands for ``"`` and ``\\\\`` for ``\\``; any other backslash is kept as written (so
``Cli.WelcomeMessage`` keeps its own ``\\n`` markers). Nothing but a comment may follow the closing
quote. Line ends may be LF or CRLF; a leading UTF-8 byte-order mark is ignored.

Execution is all-or-nothing (:func:`run_script`): every line is checked and every bad line is
reported; if any line is bad the configuration is left exactly as it was. Row deletions are
configuration changes and happen in line order; other row commands and service commands run only
after the whole configuration was committed, in script order.

Limits: a script is refused as a whole when it is larger than :data:`MAX_SCRIPT_BYTES` (1 MiB of
UTF-8) or has more than :data:`MAX_SCRIPT_LINES` (20,000) lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from firmware_model.config import Address, Config, ConfigError, Index, format_index
from firmware_model.quoting import unquoted_chars
from firmware_model.schema import Catalog, Param, Service, Table, Value

__all__ = [
    "EXPORT_CONTENTS",
    "MAX_SCRIPT_BYTES",
    "MAX_SCRIPT_LINES",
    "LineResult",
    "ScriptResult",
    "Statement",
    "export_script",
    "parse_script",
    "quote",
    "run_script",
    "split_assignment",
    "strip_comment",
    "unquote",
]

MAX_SCRIPT_BYTES = 1024 * 1024
MAX_SCRIPT_LINES = 20_000
EXPORT_CONTENTS = ("AllConfig", "ModifiedConfig")  # Conf.ScriptExportContent labels

# Characters that make a value need quotes: they would be stripped, cut at a comment, split an
# index list or be taken for the start of a quoted value.
_NEEDS_QUOTES = frozenset('"#,[]=\\')
# A statement's left-hand side: dotted name, optionally with one bracketed index (either form).
_TARGET = re.compile(r"^[A-Za-z_]\w*(?:\.\w+)*(?:\[.*\](?:\.\w+)?)?$")
_SECRET_MASK = "***"


# ---------------------------------------------------------------------------------------------
# lexical helpers (shared with the CLI; keep the signatures stable)
# ---------------------------------------------------------------------------------------------
def split_assignment(line: str) -> tuple[str, str] | None:
    """Split ``Name = value`` at the first ``=`` outside brackets and double quotes.

    Returns ``(name, value)`` both stripped of surrounding whitespace (the value is still raw:
    pass it to :func:`unquote`), or ``None`` when the line has no such ``=`` (a read, a command,
    or the short form of a row command such as ``Scm.ServiceCommands.Restart[Name=SipEp]``).
    """
    depth = 0
    for pos, ch in unquoted_chars(line):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif ch == "=" and depth == 0:
            return line[:pos].strip(), line[pos + 1 :].strip()
    return None


def unquote(value: str) -> str:
    """The value a script writes as ``value``: quoted (with ``\\"``/``\\\\`` escapes) or bare.

    Raise ``ValueError`` for an unterminated quoted value or text after the closing quote.
    """
    text = value.strip()
    if not text.startswith('"'):
        return text
    out: list[str] = []
    pos, end = 1, len(text)
    while pos < end:
        ch = text[pos]
        if ch == "\\" and pos + 1 < end and text[pos + 1] in '"\\':
            out.append(text[pos + 1])
            pos += 2
            continue
        if ch == '"':
            if pos != end - 1:
                raise ValueError(f"unexpected text after the closing quote: {text[pos + 1 :]!r}")
            return "".join(out)
        out.append(ch)
        pos += 1
    raise ValueError("unterminated quoted value (missing closing \")")


def quote(value: str) -> str:
    """The inverse of :func:`unquote`: bare when that reads back the same, else double-quoted.

    Quotes are used for the empty string, any whitespace, and any of ``" # , [ ] = \\``.
    Raise ``ValueError`` for line breaks, which no script line can carry.
    """
    if "\n" in value or "\r" in value:
        raise ValueError("a line break cannot be written in a script value")
    if value and not any(c.isspace() or c in _NEEDS_QUOTES for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def strip_comment(line: str) -> str:
    """Remove a trailing comment: ``#`` at the start of the line or after whitespace, outside quotes.

    A ``#`` glued to text (``http://host/#frag``, ``Pass#1``) is part of the value.
    """
    for pos, ch in unquoted_chars(line):
        if ch == "#" and (pos == 0 or line[pos - 1].isspace()):
            return line[:pos].rstrip()
    return line.rstrip()


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class LineResult:
    """The outcome of one statement. ``text`` is the line as written, except that the value of a
    secret parameter (passwords, keys) is shown as ``***``. Line number 0 is the whole script."""

    number: int
    text: str
    ok: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "text": self.text, "ok": self.ok, "error": self.error}


@dataclass(slots=True)
class ScriptResult:
    """``ok``: every statement was accepted and carried out. ``applied``: statements carried out
    (0 when the script was refused). ``committed``: the configuration changes were applied; a
    script refused for a bad line is never committed. ``lines`` holds one result per statement
    (comments and blank lines are not listed)."""

    ok: bool
    lines: list[LineResult]
    applied: int
    committed: bool = False

    @property
    def errors(self) -> list[LineResult]:
        return [ln for ln in self.lines if not ln.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "applied": self.applied,
            "committed": self.committed,
            "lines": [ln.to_dict() for ln in self.lines],
            "errors": [ln.to_dict() for ln in self.errors],
        }


# ---------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Statement:
    """One parsed line: ``target`` is a parameter address or command name; ``value`` the unquoted
    value, or ``None`` for a line without ``=`` (a command)."""

    number: int
    text: str
    target: str
    value: str | None


def _script_limits(text: str) -> str | None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SCRIPT_BYTES:
        return f"script refused: {size} bytes is over the limit of {MAX_SCRIPT_BYTES} bytes; nothing applied"
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if lines > MAX_SCRIPT_LINES:
        return f"script refused: {lines} lines is over the limit of {MAX_SCRIPT_LINES} lines; nothing applied"
    return None


def _parse_line(number: int, raw: str) -> Statement | LineResult | None:
    text = raw.rstrip("\r")
    code = strip_comment(text).strip()
    if not code:
        return None
    shown = text.strip()
    parts = split_assignment(code)
    if parts is None:
        target, value = code, None
    else:
        target, raw_value = parts
        if not target:
            return LineResult(number, shown, False, "malformed line: no parameter name before '='")
        try:
            value = unquote(raw_value)
        except ValueError as e:
            return LineResult(number, shown, False, f"{target}: malformed value: {e}")
    if not _TARGET.match(target):
        what = "parameter name" if value is not None else "statement"
        return LineResult(
            number, shown, False,
            f"malformed line: {target!r} is not a valid {what} (expected 'Service.Name = value' or a command)",
        )
    return Statement(number, shown, target, value)


def parse_script(text: str) -> tuple[list[Statement], list[LineResult]]:
    """Split a script into statements and lexical errors (both carry 1-based line numbers).

    No configuration is consulted: whether names exist is checked by :func:`run_script`.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    statements: list[Statement] = []
    errors: list[LineResult] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        item = _parse_line(number, raw)
        if isinstance(item, Statement):
            statements.append(item)
        elif item is not None:
            errors.append(item)
    return statements, errors


# ---------------------------------------------------------------------------------------------
# execution
# ---------------------------------------------------------------------------------------------
class _Rollback(Exception):
    """Raised inside ``Config.batch()`` to undo a pass."""


@dataclass(slots=True)
class _Action:
    """Something to run once the configuration is committed, in script order."""

    number: int
    service_command: str | None = None  # key of the commands mapping
    address: Address | None = None  # row command cell
    label: str = ""  # row command action


def _masked(st: Statement, p: Param | None) -> str:
    if p is None or not p.secret or st.value is None:
        return st.text
    parts = split_assignment(strip_comment(st.text))
    return f"{parts[0]} = {_SECRET_MASK}" if parts else st.text


def _only_action(p: Param) -> str | None:
    """The action a row command column runs in the short form (its only non-NoOp label)."""
    actions = [label for label, _ in p.type.values[1:]]
    if len(actions) == 1:
        return actions[0]
    return next((a for a in actions if a.lower() == (p.column or "").lower()), None)


def _row_hint(config: Config, table: Table) -> str:
    idx = config.indexes(table.name)
    if not idx:
        return " (the table has no rows)"
    shown = ", ".join(format_index(i) for i in idx[:10])
    return f" (rows: {shown}{', ...' if len(idx) > 10 else ''})"


class _Runner:
    """One pass of a script over a Config (inside a batch)."""

    def __init__(self, config: Config, commands: Mapping[str, Callable[[], Any]], source: str) -> None:
        self.config = config
        self.catalog: Catalog = config.catalog
        self.commands = {k.lower(): k for k in commands}
        self.source = source
        self.actions: list[_Action] = []
        self.row_actions = 0
        self.number = 0

    def line(self, st: Statement) -> LineResult:
        self.number = st.number
        try:
            p = self._statement(st)
        except ConfigError as e:
            return LineResult(st.number, _masked(st, self._param_of(st)), False, e.message)
        return LineResult(st.number, _masked(st, p), True, None)

    def _param_of(self, st: Statement) -> Param | None:
        try:
            return self.config.resolve(st.target).param
        except ConfigError:
            return None

    def _statement(self, st: Statement) -> Param | None:
        key = self.commands.get(st.target.lower())
        if key is not None:
            if st.value is not None:
                raise ConfigError("syntax", key, f"{key}: a command takes no value (write just '{key}')")
            self.actions.append(_Action(st.number, service_command=key))
            return None
        try:
            addr = self.config.resolve(st.target)
        except ConfigError as e:
            if e.kind == "unknown" and "[" not in st.target:
                what = "parameter" if st.value is not None else "command or parameter"
                raise ConfigError("unknown", st.target, f"{st.target}: unknown {what}") from None
            raise
        p = addr.param
        if st.value is None:
            if not p.is_command or addr.index is None:
                raise ConfigError(
                    "syntax", p.name,
                    f"{addr.text}: missing '= value' (a script line assigns a value or runs a command)",
                )
            label = _only_action(p)
            if label is None:
                choices = ", ".join(p.type.labels()[1:])
                raise ConfigError("syntax", p.name, f"{addr.text}: give the action: = {choices}")
            self._row_command(addr, label)
            return p
        if not p.writable:
            raise ConfigError("read-only", p.name, f"{addr.text}: read-only parameter")
        if addr.index is None:
            self.config.set(addr, st.value, source=self.source)
            return p
        assert p.table is not None
        table = self.catalog.tables[p.table]
        if p.is_command:
            try:
                label = str(p.type.parse(st.value))
            except ValueError as e:
                raise ConfigError("invalid", p.name, f"{addr.text}: {e}") from None
            self._row_command(addr, label)
            return p
        if addr.index not in self.config.indexes(table.name):
            if not table.dynamic or table.status:
                raise ConfigError(
                    "no-row", table.name,
                    f"{addr.text}: {table.name} has no row {format_index(addr.index)}"
                    f" and rows cannot be added to it{_row_hint(self.config, table)}",
                )
            self.config.add_row(table.name, index=addr.index, source=self.source)
        self.config.set(addr, st.value, source=self.source)
        return p

    def _row_command(self, addr: Address, label: str) -> None:
        p = addr.param
        assert p.table is not None and addr.index is not None
        table = self.catalog.tables[p.table]
        if addr.index not in self.config.indexes(table.name):
            raise ConfigError(
                "no-row", table.name,
                f"{addr.text}: {table.name} has no row {format_index(addr.index)}{_row_hint(self.config, table)}",
            )
        if label == p.type.values[0][0]:  # NoOp
            return
        if p.column == "Delete":  # a configuration change: happens in line order
            self.config.set(addr, label, source=self.source)
            return
        self.actions.append(_Action(self.number, address=addr, label=label))
        self.row_actions += 1


def run_script(
    config: Config,
    text: str,
    commands: Mapping[str, Callable[[], Any]] | None = None,
    source: str = "script",
) -> ScriptResult:
    """Check and run a configuration script, all-or-nothing (see the module docstring).

    ``commands`` maps service-command names (``"Scm.RestartRequiredServices"``) to callables run
    after the configuration was committed. Every bad line is reported with its number and reason;
    when there is one, nothing is changed, nothing is run and ``committed`` is False.

    Call it outside any ``Config.batch()``: a nested batch does not restore on its own, so a
    refused script inside an open batch would leave its changes to the outer batch.
    """
    refusal = _script_limits(text)
    if refusal is not None:
        return ScriptResult(False, [LineResult(0, "", False, refusal)], 0)
    statements, syntax_errors = parse_script(text)
    commands = commands or {}

    # Pass 1: apply everything inside a batch. Row commands other than Delete are checked against
    # the final configuration (through Config.set, which queues them) and the pass is then undone,
    # so that pass 2 can commit and run them in script order among the service commands.
    runner = _Runner(config, commands, source)
    results: list[LineResult] = []
    committed = False
    try:
        with config.batch():
            results = _run_pass(runner, statements)
            if runner.row_actions:
                _check_row_actions(config, runner, results, source)
                raise _Rollback
            if syntax_errors or not all(r.ok for r in results):
                raise _Rollback
            committed = True
    except _Rollback:
        pass
    results = sorted(results + syntax_errors, key=lambda r: r.number)
    if not all(r.ok for r in results):
        return ScriptResult(False, results, 0)

    if not committed:  # pass 2: commit for real; row commands are run below
        runner = _Runner(config, commands, source)
        try:
            with config.batch():
                again = _run_pass(runner, statements)
                if not all(r.ok for r in again):
                    results = again
                    raise _Rollback
        except _Rollback:
            return ScriptResult(False, results, 0)

    by_number = {r.number: r for r in results}
    for action in runner.actions:
        error = _run_action(config, action, commands, source)
        if error is not None:
            line = by_number[action.number]
            line.ok, line.error = False, error
    ok = all(r.ok for r in results)
    return ScriptResult(ok, results, sum(1 for r in results if r.ok), committed=True)


def _run_pass(runner: _Runner, statements: list[Statement]) -> list[LineResult]:
    return [runner.line(st) for st in statements]


def _check_row_actions(config: Config, runner: _Runner, results: list[LineResult], source: str) -> None:
    """Validate deferred row commands against the configuration the script leaves (pass 1)."""
    by_number = {r.number: r for r in results}
    for action in runner.actions:
        if action.address is None:
            continue
        try:
            config.set(action.address, action.label, source=source)  # queued by the batch, never run
        except ConfigError as e:
            line = by_number[action.number]
            line.ok, line.error = False, e.message


def _run_action(
    config: Config, action: _Action, commands: Mapping[str, Callable[[], Any]], source: str
) -> str | None:
    """Run one command after the commit; a failure is reported on its line."""
    try:
        if action.service_command is not None:
            commands[action.service_command]()
        elif action.address is not None:
            config.set(action.address, action.label, source=source)
    except ConfigError as e:
        return f"command failed after the configuration was applied: {e.message}"
    except Exception as e:  # a command handler's own failure must not hide the committed changes
        return f"command failed after the configuration was applied: {type(e).__name__}: {e}"
    return None


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------
def _same(p: Param, a: Value | None, b: Value | None) -> bool:
    if a == b:
        return True
    if a is None or b is None:
        return False
    try:
        return p.type.parse(a) == p.type.parse(b)
    except ValueError:
        return False


def _select_services(catalog: Catalog, service: str) -> list[Service]:
    names = [n.strip() for n in service.split(",") if n.strip()]
    if not names or any(n.lower() == "all" for n in names):
        return list(catalog.services.values())
    wanted: set[str] = set()
    for n in names:
        svc = catalog.service(n)
        if svc is None:
            raise ConfigError(
                "invalid", "Conf.ScriptExportServiceName",
                f"Conf.ScriptExportServiceName: unknown service {n!r} (give All or service names such as SipEp,Nlm)",
            )
        wanted.add(svc.name)
    return [s for s in catalog.services.values() if s.name in wanted]


def _cell(table: Table, col: Param, index: Index, value: Value) -> str:
    keys = ",".join(f"{k}={quote(str(v))}" for k, v in zip(table.index, index, strict=True))
    return f"{table.name}.{col.column}[{keys}] = {quote(str(value))}"


def _delete(table: Table, delete: Param, index: Index) -> str:
    keys = ",".join(f"{k}={quote(str(v))}" for k, v in zip(table.index, index, strict=True))
    return f"{table.name}.{delete.column}[{keys}] = Delete"


def _index_of(table: Table, row: Mapping[str, Value | None]) -> Index:
    out: list[Value] = []
    for c in table.index:
        v = row[c]
        assert v is not None
        try:
            out.append(table.columns[c].type.parse(v))
        except ValueError:
            out.append(v)
    return tuple(out)


def _export_table(config: Config, table: Table, modified_only: bool) -> list[str]:
    cols = table.config_columns
    if not cols or table.status:
        return []  # nothing a script can write
    # (the ignore: config.py annotates changed_tables() -> set[str] inside a class whose method
    # "set" shadows the builtin, which mypy cannot resolve)
    if modified_only and table.name not in config.changed_tables():  # type: ignore[attr-defined]
        return []
    blank: dict[str, Value | None] = {c.column or "": c.default for c in cols}
    factory: dict[Index, dict[str, Value | None]] = {}
    for fr in config.factory.rows.get(table.name, []):
        row = dict(blank)
        row.update(fr)
        factory[_index_of(table, row)] = row
    factory_pos = {idx: n for n, idx in enumerate(factory)}
    current: list[tuple[Index, dict[str, Value | None]]] = [
        (_index_of(table, r), dict(r)) for r in config.rows(table.name)
    ]

    # Factory rows still in place (in factory order, before any added row, none of their cells
    # emptied) are kept and edited; every row after the first that is not is recreated, so the
    # import reproduces the row order exactly. Removed or recreated factory rows are deleted first.
    kept: list[tuple[Index, dict[str, Value | None]]] = []
    added: list[tuple[Index, dict[str, Value | None]]] = []
    last = -1
    for idx, row in current:
        pos = factory_pos.get(idx)
        in_place = (
            not added and pos is not None and pos > last
            and not any(row.get(c.column or "") is None and factory[idx].get(c.column or "") is not None for c in cols)
        )
        if not table.dynamic:  # rows cannot be added or deleted: edit the ones the factory has
            in_place = pos is not None
        if in_place:
            kept.append((idx, row))
            last = pos if pos is not None else last
        elif table.dynamic:
            added.append((idx, row))
    lines: list[str] = []
    delete = table.column("Delete")
    if table.dynamic and delete is not None and delete.is_command:
        kept_idx = {idx for idx, _ in kept}
        lines += [_delete(table, delete, idx) for idx in factory if idx not in kept_idx]
    for idx, row in kept:
        for c in cols:
            v = row.get(c.column or "")
            if v is None or (modified_only and _same(c, v, factory[idx].get(c.column or ""))):
                continue
            lines.append(_cell(table, c, idx, v))
    for idx, row in added:
        cells = [
            _cell(table, c, idx, v) for c in cols
            if (v := row.get(c.column or "")) is not None and not (modified_only and _same(c, v, blank[c.column or ""]))
        ]
        if not cells:  # every cell at its default: one assignment still creates the row
            first = next(((c, v) for c in cols if (v := row.get(c.column or "")) is not None), None)
            if first is not None:
                cells = [_cell(table, first[0], idx, first[1])]
        lines += cells
    return lines


def _scalar_lines(config: Config, svc: Service, modified_only: bool) -> list[str]:
    lines: list[str] = []
    for p in svc.params.values():
        if not p.writable or p.is_command:
            continue
        v = config.get(Address(p))
        if v is None:
            continue
        if modified_only and _same(p, v, config.factory.scalars.get(p.name, p.default)):
            continue
        lines.append(f"{p.name} = {quote(str(v))}")
    return lines


def export_script(
    config: Config,
    content: str = "ModifiedConfig",
    service: str = "All",
    header: str | None = None,
) -> str:
    """The configuration as a script that :func:`run_script` applies back (``Conf.ScriptExport*``).

    ``content``: ``AllConfig`` (every writable, non-command value of every scalar and every row of
    the configuration tables) or ``ModifiedConfig`` (only values that differ from the unit's factory
    configuration: modified scalars, changed cells, added rows). Factory rows that were deleted are
    reproduced by ``Table.Delete[...] = Delete`` lines placed before the table's other lines, in both
    contents, so importing the export into a factory-reset unit gives back the same configuration.
    ``service``: ``All`` or a comma-separated list of service names (``Conf.ScriptExportServiceName``).
    ``header``: text written first as ``#`` comment lines (default: a line naming the content).

    Read-only and status values are never exported. Secrets (passwords, keys) ARE exported in clear
    text, because a backup must restore them: treat an export like the configuration file itself.
    Output is deterministic: services in catalog order, each with its scalars then its tables.
    """
    p = config.catalog.param("Conf.ScriptExportContent")
    try:
        kind = str(p.type.parse(content)) if p is not None else content
    except ValueError as e:
        raise ConfigError("invalid", "Conf.ScriptExportContent", f"Conf.ScriptExportContent: {e}") from None
    if kind.lower() not in {c.lower() for c in EXPORT_CONTENTS}:
        raise ConfigError("invalid", "Conf.ScriptExportContent", f"Conf.ScriptExportContent: unknown {content!r}")
    modified_only = kind.lower() == "modifiedconfig"
    services = _select_services(config.catalog, service)
    head = header if header is not None else f"DGW configuration script: {kind}, services {service.strip() or 'All'}"
    out = [f"# {ln}".rstrip() for ln in head.splitlines()]
    for svc in services:
        lines = _scalar_lines(config, svc, modified_only)
        for table in svc.tables.values():
            lines += _export_table(config, table, modified_only)
        if lines:
            out.append(f"# -- {svc.name}")
            out += lines
    return "\n".join(out) + "\n"


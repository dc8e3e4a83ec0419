"""The page model: what one web page shows, built from the unit's configuration for one caller.

``PageBuilder.build`` turns a ``web_ui.pages.Page`` (data) into a ``PageModel``: per section the fields,
grid rows, add line, status rows or custom block data the template draws, and the set of inputs the
caller may submit (``PageModel.editable``). Whether a field is an input or read-only text is the access
policy's decision (``emulator.ops.policy``); secrets are never displayed, not even to an Admin (a
password input is always blank, a read-only secret shows the policy's mask).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.ops import snapshots
from emulator.ops.policy import MASK, Caller, Forbidden, check_write, may_write_table
from emulator.protocols.crout.names import split_names
from emulator.runtime.unit import Unit
from firmware_model import script as scripts
from firmware_model.behaviour import MEANING, load_behaviour
from firmware_model.config import ConfigError
from firmware_model.schema import Param, Table, Value
from web_ui.pages import CODEC_COLUMNS, CODECS, Choices, Field, Page, Section
from web_ui.references import REFERENCES, Ref, options, submitted

__all__ = [
    "MAX_STATUS_ROWS",
    "Editable",
    "FieldView",
    "PageBuilder",
    "PageModel",
    "RowView",
    "SectionView",
    "cell_address",
    "mark_text",
    "may_write",
]

MAX_STATUS_ROWS = 200  # a status table shows its newest rows only (the local log can hold thousands)
CERT_TABLES = {"cert_host": "Cert.HostCertificatesInfo", "cert_other": "Cert.OthersCertificatesInfo"}


@dataclass(slots=True)
class FieldView:
    """One input as the template draws it."""

    name: str  # form field name = the configuration address
    label: str
    help: str
    value: str  # shown text
    options: list[str] = field(default_factory=list)  # shown texts; empty: a text input
    kind: str = "text"  # text | select | multi | password | readonly | none
    error: str = ""
    allowed: str = ""  # the value type, in words (Show Help)
    selected: list[str] = field(default_factory=list)  # multi: the names chosen (a list of another table's rows)
    label_box: bool = False  # a text box for a new route- label beside the list
    mark: str = ""  # the behaviour map's class when the emulator does not act on the value (stored, hardware)


@dataclass(slots=True)
class RowView:
    label: str
    key: str  # JSON of the index (delete)
    cells: list[FieldView]


@dataclass(slots=True)
class SectionView:
    section: Section
    fields: list[FieldView] = field(default_factory=list)
    columns: list[tuple[str, str]] = field(default_factory=list)  # (label, help)
    rows: list[RowView] = field(default_factory=list)
    add: list[FieldView] = field(default_factory=list)
    status_rows: list[list[str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    number: int = 0


@dataclass(slots=True)
class Editable:
    param: Param
    choices: Choices | None
    ref: Ref | None = None  # a field naming rows of another table (web_ui.references)


@dataclass(slots=True)
class PageModel:
    page: Page
    sections: list[SectionView]
    editable: dict[str, Editable]  # address -> what a submitted value of it means
    endpoint: str = "Default"


def _quote_index(table: Table, index: tuple[Value, ...]) -> str:
    parts = []
    for col, v in zip(table.index, index, strict=True):
        if table.columns[col].type.kind in ("uint", "int", "uint64"):
            parts.append(str(v))
        else:
            parts.append('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return ",".join(parts)


def cell_address(table: Table, index: tuple[Value, ...], column: str) -> str:
    return f"{table.name}[{_quote_index(table, index)}].{column}"


def may_write(caller: Caller, param: Param) -> bool:
    """The policy's answer to "may this caller set this value" as a yes/no (an input or read-only text)."""
    try:
        check_write(caller, param)
    except Forbidden:
        return False
    return True


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def form_text(form: Any, name: str) -> str:
    if form is None or name not in form:
        return ""
    return str(form[name])


def _mark(p: Param) -> str:
    """The behaviour map's class of a value the emulator keeps without acting on it ("" when it acts)."""
    cls = load_behaviour().get(p.name) or ""
    return cls if cls in ("stored", "hardware") else ""


def mark_text(cls: str) -> str:
    """What a behaviour mark means, shown on hover (an emulator addition)."""
    return f"Emulator: {MEANING[cls]}." if cls in MEANING else ""


def _options(p: Param, choices: Choices | None) -> list[str]:
    labels = p.type.labels()
    return [choices.shown(v) for v in labels] if choices is not None else labels


@dataclass(slots=True)
class _Build:
    """One build: the model being filled, who asks, and a refused form to redraw (values and messages)."""

    model: PageModel
    caller: Caller
    submitted: Any
    errors: dict[str, str]
    marks: bool = False  # the current section marks the values the emulator does not act on
    names: dict[str, list[str]] = field(default_factory=dict)  # reference kind -> the rows' names (once a build)


class PageBuilder:
    """Builds the page models of one unit (``certs``: its certificate store, or None)."""

    def __init__(self, unit: Unit, certs: Any) -> None:
        self.unit = unit
        self.certs = certs
        self._blocks: dict[str, Callable[[_Build, SectionView], None]] = {
            "severity": self._severity,
            "codecs": self._codecs,
            "unit_states": self._unit_states,
            "endpoint_states": self._endpoint_states,
            "services": self._services,
            "cert_host": self._cert_table,
            "cert_other": self._cert_table,
            "cert_import": self._cert_import,
            "script_export": self._script_export,
        }

    def build(
        self, page: Page, caller: Caller, *, endpoint: str = "Default",
        submitted: Any = None, errors: dict[str, str] | None = None,
    ) -> PageModel:
        b = _Build(PageModel(page, [], {}, endpoint), caller, submitted, errors or {})
        for number, sec in enumerate(page.sections):
            view = SectionView(sec, number=number)
            b.marks = sec.marks
            if sec.kind == "form":
                self._form(b, view)
            elif sec.kind == "endpoint":
                self._endpoint(b, view)
            elif sec.kind == "grid":
                self._grid(b, view)
            elif sec.kind == "status":
                self._status(view)
            elif sec.block in self._blocks:
                self._blocks[sec.block](b, view)
            b.model.sections.append(view)
        return b.model

    # ------------------------------------------------------------------ one field
    def _field(self, b: _Build, p: Param, name: str, f: Field) -> FieldView:
        writable = p.writable and not f.readonly and may_write(b.caller, p)
        ref = REFERENCES.get(p.name)
        if b.submitted is not None and name in b.submitted and not p.secret:
            value = submitted(ref, b.submitted.getall(name)) if ref else str(b.submitted[name])
        else:
            try:
                value = _text(self.unit.config.get(name))
            except ConfigError:
                value = ""
            if f.choices is not None:
                value = f.choices.shown(value)
        fv = FieldView(name, f.label or p.title, p.help, value, error=b.errors.get(name, ""),
                       allowed=p.type.describe())
        if p.secret:
            fv.kind = "password" if writable else "readonly"
            fv.value = "" if writable else MASK
        elif not writable:
            fv.kind = "readonly"
        elif ref is not None:
            self._reference(b, fv, ref)
        elif p.type.is_enum:
            fv.kind = "select"
            fv.options = _options(p, f.choices)
        if writable:
            b.model.editable[name] = Editable(p, f.choices, ref)
        if b.marks:
            fv.mark = _mark(p)
        return fv

    def _reference(self, b: _Build, fv: FieldView, ref: Ref) -> None:
        """A field naming rows of another table: the list of the rows that exist (web_ui.references)."""
        fv.label_box = ref.labels
        names = b.names.get(ref.kind)
        if names is None:
            names = b.names[ref.kind] = options(self.unit, Ref(ref.kind))[1:]
        if not ref.multiple:
            fv.kind = "select"
            fv.options = ["", *names]
            return
        fv.kind = "multi"
        fv.selected = split_names(fv.value)
        fv.options = [*fv.selected, *(n for n in names if n not in fv.selected)]  # the chosen ones, in their order

    # ------------------------------------------------------------------ section kinds
    def _form(self, b: _Build, view: SectionView) -> None:
        cat = self.unit.catalog
        for f in view.section.fields:
            p = cat.param(f.param)
            if p is not None:
                view.fields.append(self._field(b, p, f.param, f))

    def _endpoint(self, b: _Build, view: SectionView) -> None:
        """Media/Security: the Default scalars, or one endpoint's row ("Select Endpoint")."""
        cfg = self.unit.config
        sec = view.section
        assert sec.table is not None
        table = self.unit.catalog.tables[sec.table]
        endpoints = [str(i[0]) for i in cfg.indexes(table.name)]
        ep = b.model.endpoint if b.model.endpoint in endpoints else "Default"
        b.model.endpoint = ep
        view.extra["endpoints"] = ["Default", *endpoints]
        view.extra["endpoint"] = ep
        for f in sec.fields:
            if ep == "Default":
                name = f.default or (f.param if "." in f.param else None)
            else:
                name = None if "." in f.param else cell_address(table, (ep,), f.param)
            if name is None:
                continue
            p = self.unit.catalog.param(name) if "[" not in name else cfg.resolve(name).param
            if p is not None:
                view.fields.append(self._field(b, p, name, f))

    def _grid(self, b: _Build, view: SectionView) -> None:
        sec = view.section
        assert sec.table is not None
        table = self.unit.catalog.tables[sec.table]
        idx_cols = [table.columns[c] for c in table.index]
        index_label = sec.index_label or " / ".join(c.title for c in idx_cols)
        fields = [(f, table.columns[f.param]) for f in sec.fields if f.param in table.columns]
        view.columns = [(index_label, idx_cols[0].help)] + [(f.label or p.title, p.help) for f, p in fields]
        view.extra["deletable"] = sec.delete and may_write_table(b.caller, table.name)
        view.extra["movable"] = sec.move and may_write_table(b.caller, table.name)
        for index in self.unit.config.indexes(table.name):
            cells = [self._field(b, p, cell_address(table, index, p.column or f.param), f) for f, p in fields]
            view.rows.append(RowView(", ".join(_text(v) for v in index), json.dumps(list(index)), cells))
        if not (sec.add and may_write_table(b.caller, table.name)):
            return
        for c in idx_cols:
            if c.type.kind in ("uint", "int"):
                continue  # numeric indexes are assigned
            view.add.append(FieldView(f"add.{c.column}", index_label if len(idx_cols) == 1 else c.title,
                                      c.help, form_text(b.submitted, f"add.{c.column}"),
                                      error=b.errors.get(f"add.{c.column}", ""), allowed=c.type.describe()))
        for f, p in fields:
            fv = FieldView(f"add.{p.column}", f.label or p.title, p.help, "",
                           error=b.errors.get(f"add.{p.column}", ""), allowed=p.type.describe())
            default = _text(p.default)
            ref = REFERENCES.get(p.name)
            if f.readonly or not p.writable:
                fv.kind = "none"  # shown once the row exists (a row's Config Status)
            elif p.secret:
                fv.kind = "password"
            elif ref is not None:
                sent = b.submitted is not None and fv.name in b.submitted
                fv.value = submitted(ref, b.submitted.getall(fv.name)) if sent else default
                self._reference(b, fv, ref)
                view.add.append(fv)
                continue
            elif p.type.is_enum:
                fv.kind = "select"
                fv.options = _options(p, f.choices)
                default = f.choices.shown(default) if f.choices else default
            fv.value = form_text(b.submitted, fv.name) or ("" if p.secret else default)
            view.add.append(fv)

    def _status(self, view: SectionView) -> None:
        assert view.section.table is not None
        table = self.unit.catalog.tables[view.section.table]
        view.columns = [(c.title, c.help) for c in table.columns.values()]
        for row in self.unit.config.rows(table.name)[-MAX_STATUS_ROWS:]:
            view.status_rows.append([_text(row.get(c)) for c in table.columns])

    # ------------------------------------------------------------------ custom blocks
    def _severity(self, b: _Build, view: SectionView) -> None:
        cat = self.unit.catalog
        for svc in cat.services.values():
            p = svc.params.get("MinSeverity")
            if p is not None and svc.name in self.unit.services:  # not the catalog-only Hardware
                view.rows.append(RowView(svc.name, "", [self._field(b, p, p.name, Field(p.name, svc.name))]))
        view.columns = [("Service", ""), (cat.params["Nlm.MinSeverity"].title, "")]

    def _codecs(self, b: _Build, view: SectionView) -> None:
        view.columns = [("Codec", "")] + [(lab, "") for _, lab in CODEC_COLUMNS]
        for key, shown in CODECS:
            cells = []
            for col, lab in CODEC_COLUMNS:
                name = f"Mipt.DefaultCodec{key}{col}"
                p = self.unit.catalog.param(name)
                cells.append(self._field(b, p, name, Field(name, lab)) if p is not None
                             else FieldView("", "", "", "", kind="none"))
            view.rows.append(RowView(shown, "", cells))

    def _unit_states(self, b: _Build, view: SectionView) -> None:
        view.columns = [("Administrative State", ""), ("Operational State", ""), ("Usage State", "")]
        view.extra["unit"] = [self.unit.config.get(f"EpAdm.Unit{n}State") for n in ("Admin", "Op", "Usage")]

    def _endpoint_states(self, b: _Build, view: SectionView) -> None:
        names = ("EpId", "AdminState", "OpState", "UsageState")
        table = self.unit.catalog.tables["EpAdm.Endpoint"]
        view.columns = [(table.columns[n].title, table.columns[n].help) for n in names]
        rows = self.unit.config.rows("EpAdm.Endpoint")
        view.extra["endpoints"] = [[r.get(n) for n in names] for r in rows]
        if snapshots.line_status(self.unit) is None:
            return
        # the line's state (emulator addition beside EpAdm's): Pots.Line State, message waiting, caller ID
        view.columns += [("Line State", "Pots.Line State"),
                         ("Message Waiting", "the line's message-waiting indicator (MWI NOTIFY)"),
                         ("Caller ID", "what the line presents for its incoming call")]
        for cells, r in zip(view.extra["endpoints"], rows, strict=True):
            cells.extend(_line_cells(snapshots.line(self.unit, str(r.get("EpId")))))

    def _services(self, b: _Build, view: SectionView) -> None:
        view.columns = [(c.title, c.help) for c in self.unit.catalog.tables["Scm.ServicesInfo"].columns.values()]
        view.extra["services"] = self.unit.config.rows("Scm.ServicesInfo")

    def _cert_table(self, b: _Build, view: SectionView) -> None:
        table = self.unit.catalog.tables[CERT_TABLES[view.section.block]]
        rows = self.unit.config.rows(table.name)
        cols = [c for c in table.columns.values() if not c.is_command]
        view.columns = [(c.title, c.help) for c in cols]
        view.extra["kind"] = "host" if view.section.block == "cert_host" else "other"
        view.status_rows = [[_text(r.get(c.column or "")) for c in cols] for r in rows]
        view.extra["names"] = [str(r.get("FileName")) for r in rows]
        view.extra["available"] = self.certs is not None
        view.extra["deletable"] = may_write_table(b.caller, table.name)

    def _cert_import(self, b: _Build, view: SectionView) -> None:
        view.extra["available"] = self.certs is not None
        view.extra["unsecure_active"] = bool(self.certs is not None and self.certs.unsecure_transfer_active)

    def _script_export(self, b: _Build, view: SectionView) -> None:
        view.extra["contents"] = list(scripts.EXPORT_CONTENTS)


def _line_cells(line: dict[str, Any] | None) -> list[str]:
    """Line State, Message Waiting and Caller ID cells of an endpoint's row (System/Endpoints)."""
    if line is None:
        return ["", "", ""]
    mw, cid = line["message_waiting"], line["caller_id"]
    waiting = f"Yes ({mw['new']} new, {mw['old']} old)" if mw["waiting"] else "No"
    if cid is None:
        caller = ""
    elif cid["presentation"] == "Restricted":
        caller = " ".join(x for x in (cid["name"], f"({cid['absence_reason'] or 'Restricted'})") if x)
    else:
        caller = " ".join(x for x in (cid["number"], f'"{cid["name"]}"' if cid["name"] else "") if x)
    return [line["state"] or "", waiting, caller]

"""Which catalog parameters the emulator's code reads, feeds or runs: the code-derived half of the behaviour map.

``firmware_model/catalog/behaviour.toml`` says how the emulator treats each parameter (live, restart, status,
stored, hardware). This script reads the product's source (never imports it) and finds, per parameter, the
modules that name it, so that a class cannot drift from the code silently:

* a ``live`` or ``restart`` parameter must be read somewhere that acts (an engine, the runtime, the operations,
  or the face that *is* the parameter's service: the CLI for ``Cli``, the SNMP agent for ``Snmp``, the TR-069
  client for ``Cwmp``, the web interface for ``Web``);
* a writable parameter read so must not be marked ``stored``.

How a name is recognised in a module (docstrings and comments never count):

* a string constant or an f-string equal to the parameter's name (``"SipEp.InteropMaxForwardsValue"``), or to a
  table cell (``f"SipEp.UserAgent[{ep}].Username"``, ``"Scm.ServicesConfig.StartupType[Name=Cli]"``);
  module-level string constants are substituted in f-strings (``f"{HOST_TABLE}.Delete"``), and an f-string that
  starts with a placeholder (``f"{prefix}TransferProtocol"``) is completed with the module's constants that are
  a name's head (``"Conf.Scripts"``);
* a table column read from a row dictionary: the table's name (``"SipEp.Gateway"``) in a module of a scope and
  the column's name as a string constant (``row["Port"]``, ``row.get("Domain")``) in a module of the same scope
  (a scope is an engine package such as ``emulator/engines/sipep/``, or one module).

Faces that only show or translate parameters (the HTTP API, the web pages of other services, the TR-069 voice
mapping) do not count: showing a value is not acting on it.

    python -m tools.gen_parameters            # print the disagreements between the map and the code
    python -m tools.gen_parameters --suggest  # also print each parameter read by the code, with its modules
    dgw-emulator parameters --markdown > docs/parameters.md   # the generated page (from the map only)
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from firmware_model.behaviour import BehaviourMap, engine_fed, load_behaviour
from firmware_model.schema import Catalog, load_catalog

__all__ = ["CodeUse", "disagreements", "scan", "scan_tests"]

ROOT = Path(__file__).resolve().parents[1]

# Folders whose every module acts on parameters of any service.
ACTING = ("emulator/engines", "emulator/runtime", "emulator/ops", "emulator/protocols")
# Faces that are a DGW service: their modules act on that service's parameters only.
SERVICE_FACES = {
    "emulator/faces/cli": "Cli",
    "emulator/faces/snmp": "Snmp",
    "emulator/faces/cwmp.py": "Cwmp",
    "emulator/protocols/cwmp": "Cwmp",
    "web_ui": "Web",
}
_NAME = re.compile(r"^([A-Z][A-Za-z0-9]*)\.([A-Za-z0-9]+)(?:\.([A-Za-z0-9]+))?$")
_CELL_TABLE_FIRST = re.compile(r"^([A-Z][A-Za-z0-9]*)\.([A-Za-z0-9]+)\[[^\]]*\]\.([A-Za-z0-9]+)$")
_CELL_COLUMN_FIRST = re.compile(r"^([A-Z][A-Za-z0-9]*)\.([A-Za-z0-9]+)\.([A-Za-z0-9]+)\[[^\]]*\]$")
_HOLE = "\x00"  # an f-string placeholder whose value is not known


@dataclass
class _Module:
    path: str  # relative to the repository, with forward slashes
    scope: str  # the engine package (or the module) whose row dictionaries it shares
    only_service: str | None  # a service face: names of other services do not count
    strings: set[str] = field(default_factory=set)  # every string constant (docstrings excepted)
    patterns: list[str] = field(default_factory=list)  # f-strings, holes as _HOLE
    imports: set[str] = field(default_factory=set)  # the product modules it imports (repository paths)
    row_words: set[str] = field(default_factory=set)  # its strings and those of the helpers it imports


@dataclass
class CodeUse:
    """Per parameter name, the modules that read (or run) it."""

    reads: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def modules(self, name: str) -> set[str]:
        return self.reads.get(name, set())


def _modules(root: Path) -> Iterator[_Module]:
    seen: set[str] = set()
    for folder in (*SERVICE_FACES, *ACTING):  # a service face inside an acting folder is a face
        base = root / folder
        files = [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))
        for f in files:
            rel = f.relative_to(root).as_posix()
            if rel in seen:
                continue
            seen.add(rel)
            only = next((s for k, s in SERVICE_FACES.items() if rel == k or rel.startswith(k + "/")), None)
            parts = rel.split("/")
            # emulator/engines/<pkg>/x.py share their package's rows; a lone module is its own scope.
            scope = "/".join(parts[:3]) if len(parts) > 3 and parts[1] == "engines" else rel
            if only is not None:
                scope = next(k for k in SERVICE_FACES if rel == k or rel.startswith(k + "/"))
            yield _read(f, rel, scope, only)


def _docstring_ids(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            out.add(id(node.value))  # a bare string statement: a docstring or a note, never a read
    return out


_TOKEN = re.compile(r"[A-Z][A-Za-z0-9]*(?:__|\.)[A-Za-z0-9]+(?:\[[^\]\n]*\])?(?:\.[A-Za-z0-9]+)?(?:\[[^\]\n]*\])?")


def _read(path: Path, rel: str, scope: str, only: str | None, tokens: bool = False) -> _Module:
    """A module's string constants and f-strings; with ``tokens``, also every name-like word inside them
    (a configuration script or a lab file in a test sets the names it spells)."""
    tree = ast.parse(path.read_text(), filename=rel)
    m = _Module(rel, scope, only)
    skip = _docstring_ids(tree)
    constants: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and isinstance(stmt.value, ast.Constant):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for t in targets:
                if isinstance(t, ast.Name) and isinstance(stmt.value.value, str):
                    constants[t.id] = stmt.value.value
    inside_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            pieces: list[str] = []
            for part in node.values:
                inside_fstring.add(id(part))
                if isinstance(part, ast.Constant):
                    pieces.append(str(part.value))
                elif isinstance(part, ast.FormattedValue):
                    inside_fstring.add(id(part.value))
                    v = part.value
                    pieces.append(constants[v.id] if isinstance(v, ast.Name) and v.id in constants else _HOLE)
            m.patterns.append("".join(pieces))
    for node in ast.walk(tree):  # second walk: the f-strings' own parts are known by now
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in skip and id(node) not in inside_fstring:
                m.strings.add(node.value)
        elif isinstance(node, ast.keyword) and node.arg and "__" in node.arg:
            m.strings.add(node.arg.replace("__", ".", 1))  # tests' helpers take Svc__Name=value
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            m.imports.add(node.module.replace(".", "/"))
    if tokens:
        for text in [*m.strings, *m.patterns]:
            m.strings.update(t.replace("__", ".", 1) for t in _TOKEN.findall(text))
    return m


def _plain(text: str) -> str | None:
    """A name or cell address as ``Svc.Table.Column`` (the index dropped), or None when it is no name."""
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    for rx in (_CELL_TABLE_FIRST, _CELL_COLUMN_FIRST):
        cm = rx.match(text.replace(_HOLE, "H"))
        if cm:
            start = text.index("[")
            if rx is _CELL_TABLE_FIRST:
                return text[:start] + text[start + 2:]
            return text[:start]
    return text if re.fullmatch(r"[A-Za-z0-9.\x00]+", text) and "." in text else None


def _words(strings: Iterable[str]) -> str:
    """A regular expression matching any of the identifier-like strings (longest first)."""
    words = sorted({w for w in strings if re.fullmatch(r"[A-Za-z0-9]+", w)}, key=len, reverse=True)
    return "(?:" + "|".join(words) + ")" if words else "(?!)"


def _names_of(text: str, catalog: Catalog, vocabulary: str, local: str = "(?!)") -> list[str]:
    """The parameters a name or cell address names: one when complete; those it may name when an f-string
    leaves holes in it (a hole stands for a word the acting code spells somewhere, such as a codec's stem
    ``G711Mulaw``; a hole that ends the name, for a word of the same module such as a column ``VoiceEnable``;
    ``{service}.MinSeverity`` stands for every service)."""
    plain = _plain(text)
    if plain is None:
        return []
    if _HOLE not in plain:
        p = catalog.params.get(plain)
        return [p.name] if p is not None else []
    if plain.startswith(_HOLE) and not plain.startswith(_HOLE + "."):
        return []  # completed with the module's name heads instead (see _completions)
    if any(part.replace(_HOLE, "") == "" for part in plain.split(".")[1:]):
        return []  # a whole column or name left open (f"{table}.{column}"): the row-key rule decides
    head = "[A-Za-z0-9]+" if plain.startswith(_HOLE + ".") else ""
    body = plain[1:] if head else plain
    tail = ""
    if body.endswith(_HOLE):
        body, tail = body[:-1], local
    rx = re.compile(head + re.escape(body).replace(re.escape(_HOLE), vocabulary) + tail)
    return [n for n in catalog.params if rx.fullmatch(n)]


def _completions(pattern: str, heads: Iterable[str]) -> Iterator[str]:
    """``<hole>TransferProtocol`` with the module's name heads (``Conf.Scripts``): candidate names."""
    if not pattern.startswith(_HOLE) or pattern.count(_HOLE) != 1:
        return
    tail = pattern[1:]
    for head in heads:
        yield head + tail


def _find(modules: list[_Module], catalog: Catalog) -> CodeUse:
    """Every parameter the modules name, with the modules naming it (see the module docstring)."""
    use = CodeUse()
    tables_in_scope: dict[str, set[str]] = defaultdict(set)
    strings_in_scope: dict[str, set[str]] = defaultdict(set)

    def allowed(m: _Module, service: str) -> bool:
        return m.only_service is None or service == m.only_service

    every = _words(w for m in modules for w in m.strings)
    table_names = list(catalog.tables)
    for m in modules:
        heads = {s for s in m.strings if re.fullmatch(r"[A-Z][A-Za-z0-9]*\.[A-Za-z0-9]*", s)}
        local = _words(m.strings)
        for text in (*m.strings, *m.patterns):
            names = _names_of(text, catalog, every, local)
            for c in _completions(text, heads):
                names += _names_of(c, catalog, every, local)
            for name in names:
                if allowed(m, catalog.params[name].service):
                    use.reads[name].add(m.path)
            cell = re.match(r"([A-Z][A-Za-z0-9]*\.[A-Za-z0-9\x00]+)\[", text)  # f"Svc.Table{stem}[{index}].{column}"
            head = cell.group(1) if cell else text
            if re.fullmatch(r"[A-Z][A-Za-z0-9]*\.[A-Za-z0-9]+[A-Za-z0-9\x00]*", head):
                rx = re.compile(re.escape(head).replace(re.escape(_HOLE), every))
                for tname in table_names:
                    if rx.fullmatch(tname) and allowed(m, catalog.tables[tname].service):
                        tables_in_scope[m.scope].add(tname)
        m.row_words = m.strings | _imported_strings(m)
        strings_in_scope[m.scope] |= m.row_words
    for scope, tables in tables_in_scope.items():
        for tname in tables:
            for column, p in catalog.tables[tname].columns.items():
                if column in strings_in_scope[scope]:
                    use.reads[p.name].update(m.path for m in modules if m.scope == scope and column in m.row_words)
    return use


def _imported_strings(m: _Module, root: Path = ROOT) -> set[str]:
    """The string constants of the model and protocol modules ``m`` imports: a row read by an engine is often
    handed to a helper there (``Nlm.Events`` rows to ``firmware_model/nlm_rules.py``), which reads its columns."""
    out: set[str] = set()
    for dotted in m.imports:
        if not dotted.startswith(("firmware_model/", "emulator/protocols/")):
            continue
        for candidate in (root / f"{dotted}.py", root / dotted / "__init__.py"):
            if candidate.is_file():
                out |= _read(candidate, candidate.relative_to(root).as_posix(), "", None).strings
    return out


def scan(root: Path = ROOT, catalog: Catalog | None = None) -> CodeUse:
    """Every parameter the acting code names, with the modules naming it (see the module docstring)."""
    return _find(list(_modules(root)), catalog or load_catalog())


def scan_tests(root: Path = ROOT, catalog: Catalog | None = None) -> CodeUse:
    """Every parameter the tests name (``tests/``, ``testkit/``), by the same rules as the code (each test
    module its own scope) plus the keyword form of the test helpers (``Mipt__DefaultCodecG729VoicePriority=5``)."""
    modules = []
    for folder in ("tests", "testkit"):
        for f in sorted((root / folder).rglob("*.py")):
            rel = f.relative_to(root).as_posix()
            modules.append(_read(f, rel, rel, None, tokens=True))
    return _find(modules, catalog or load_catalog())


def disagreements(behaviour: BehaviourMap, use: CodeUse) -> list[str]:
    """What the map says that the code contradicts, one line each (empty: they agree)."""
    out = []
    for p in behaviour.catalog.params.values():
        cls = behaviour.of(p.name)
        read = use.modules(p.name)
        if p.is_command and p.column == "Delete" and p.table and not engine_fed(behaviour.catalog.tables[p.table]):
            continue  # Config deletes the row itself; the class follows the table's (firmware_model/behaviour.py)
        if p.name in behaviour.not_acting:
            if not read:
                out.append(f"{p.name}: in [not_acting] but no acting module names it any more: drop it")
            continue
        if cls in ("live", "restart") and not read and p.name not in behaviour.deletes | set(behaviour.read_indirectly):
            out.append(f"{p.name}: marked {cls} but no acting module names it")
        if cls not in ("live", "restart") and read and p.writable:
            out.append(f"{p.name}: marked {cls} but read by {', '.join(sorted(read))}")
    for name in behaviour.read_indirectly:
        if behaviour.of(name) not in ("live", "restart"):
            out.append(f"{name}: in [read_indirectly] but marked {behaviour.of(name)}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suggest", action="store_true", help="print every parameter the code reads, with its modules")
    args = ap.parse_args(argv)
    behaviour = load_behaviour()
    use = scan()
    if args.suggest:
        for name in sorted(use.reads):
            print(f"{name}\t{behaviour.of(name)}\t{' '.join(sorted(use.reads[name]))}")
    bad = disagreements(behaviour, use)
    for line in bad:
        print(line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

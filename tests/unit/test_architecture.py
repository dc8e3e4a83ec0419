"""The dependency rule of docs/architecture.md, checked on the source (no module is imported).

Layers, lowest first: the unit's model (``firmware_model``), pure protocol cores (``emulator.protocols``),
the unit's runtime (``emulator.runtime``), the DGW service engines (``emulator.engines``), the face-neutral
operations (``emulator.ops``), the faces (``emulator.faces``, ``web_ui``), and the composition that builds
units and labs (``emulator.lab``, ``emulator.__main__``). A module imports its own layer or lower ones only;
no import cycle exists, not even through ``TYPE_CHECKING`` blocks; the two pure layers never import an
event loop; a face never imports another face; and no product module hides an import inside a function
(the composition layer excepted: it imports faces lazily so that a unit starts fast).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("firmware_model", "emulator", "web_ui")

# (prefix, layer); the longest matching prefix wins.
LAYERS: tuple[tuple[str, int], ...] = (
    ("firmware_model", 0),
    ("emulator.protocols", 1),
    ("emulator.runtime", 2),
    ("emulator.engines", 3),
    ("emulator.ops", 4),
    ("emulator.faces", 5),
    ("web_ui", 5),
    ("emulator.lab", 6),
    ("emulator.labfile", 6),
    ("emulator.fleet", 6),
    ("emulator.command", 6),
    ("emulator.__main__", 6),
    ("emulator.pytest_plugin", 6),  # the users' pytest plugin: drives units through the command and the API
    ("emulator", 0),  # the bare package (empty __init__)
)
LAYER_NAMES = {0: "model", 1: "protocol core", 2: "runtime", 3: "engine", 4: "ops", 5: "face", 6: "composition"}
EVENT_LOOP_LIBRARIES = ("asyncio", "aiohttp", "asyncssh", "uvloop", "dns.asyncquery", "socket", "selectors")
PURE_LAYERS = (0, 1)
LAZY_IMPORTS_ALLOWED = 6


def layer_of(module: str) -> int:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def face_of(module: str) -> str | None:
    if module.startswith("web_ui"):
        return "web_ui"
    parts = module.split(".")
    if parts[:2] == ["emulator", "faces"] and len(parts) > 2:
        return ".".join(parts[:3])
    return None


@dataclass
class Module:
    name: str
    path: Path
    imports: dict[str, int] = field(default_factory=dict)  # project module -> line
    lazy: dict[str, int] = field(default_factory=dict)  # project module imported inside a function
    external: dict[str, int] = field(default_factory=dict)  # third-party / stdlib top names -> line


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _scan() -> dict[str, Module]:
    mods: dict[str, Module] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            mods[_module_name(path)] = Module(_module_name(path), path)
    for mod in mods.values():
        tree = ast.parse(mod.path.read_text(), str(mod.path))
        package = mod.name if mod.path.name == "__init__.py" else mod.name.rpartition(".")[0]
        in_function: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                in_function.update(id(n) for n in ast.walk(node) if n is not node)
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, node.module] if node.module else base)
                else:
                    source = node.module or ""
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in mods else source for a in node.names]
            for target in targets:
                if target in mods:
                    (mod.lazy if id(node) in in_function else mod.imports)[target] = node.lineno
                elif target.split(".")[0] in PACKAGES:
                    # a name from a project package that is not a module: the longest module prefix
                    owner = max((m for m in mods if target.startswith(m + ".")), key=len, default=None)
                    if owner is not None:
                        (mod.lazy if id(node) in in_function else mod.imports)[owner] = node.lineno
                else:
                    mod.external.setdefault(target, node.lineno)
    return mods


MODULES = _scan()


def _where(mod: Module, target: str, lazy: bool = False) -> str:
    line = mod.lazy.get(target) if lazy else mod.imports.get(target) or mod.lazy.get(target)
    return f"{mod.path.relative_to(ROOT)}:{line} imports {target}"


def test_the_scan_sees_the_product() -> None:
    """The check itself can fail: it finds the modules and the imports it reasons about."""
    assert "emulator.runtime.unit" in MODULES and "firmware_model.config" in MODULES
    assert "firmware_model.config" in MODULES["emulator.runtime.unit"].imports
    assert "asyncio" in MODULES["emulator.runtime.unit"].external


def test_no_upward_import() -> None:
    bad = [
        f"{_where(m, t)} ({LAYER_NAMES[layer_of(m.name)]} -> {LAYER_NAMES[layer_of(t)]})"
        for m in MODULES.values()
        for t in (*m.imports, *m.lazy)
        if layer_of(t) > layer_of(m.name)
    ]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_face_imports_another_face() -> None:
    bad = [
        _where(m, t)
        for m in MODULES.values()
        for t in (*m.imports, *m.lazy)
        if face_of(m.name) and face_of(t) and face_of(m.name) != face_of(t)
    ]
    assert not bad, "faces importing faces:\n" + "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle() -> None:
    graph = {m.name: {t for t in (*m.imports, *m.lazy) if not m.name.startswith(t + ".")} for m in MODULES.values()}
    # A package's __init__ re-exporting its modules is not a cycle with them.
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def group_of(module: str) -> str:
    """The package a module belongs to for the package-level rule: ``emulator.<layer>.<package>``
    (``emulator.protocols.sip``, ``emulator.engines.sipep``, ``emulator.engines.aaa``), or the top package."""
    parts = module.split(".")
    return ".".join(parts[:3]) if parts[0] == "emulator" else parts[0]


def test_no_cycle_between_packages() -> None:
    """Packages import each other one way only (sdp <-> media, sipep <-> mipt, cert <-> tls are cycles too)."""
    graph: dict[str, set[str]] = {}
    for m in MODULES.values():
        here = group_of(m.name)
        graph.setdefault(here, set()).update(group_of(t) for t in (*m.imports, *m.lazy) if group_of(t) != here)
    cycles = _cycles(graph)
    assert not cycles, "package cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("layer", PURE_LAYERS)
def test_pure_layers_use_no_event_loop(layer: int) -> None:
    bad = [
        f"{m.path.relative_to(ROOT)}:{line} imports {name}"
        for m in MODULES.values()
        if layer_of(m.name) == layer
        for name, line in m.external.items()
        if any(name == lib or name.startswith(lib + ".") for lib in EVENT_LOOP_LIBRARIES)
    ]
    assert not bad, f"{LAYER_NAMES[layer]} modules touching an event loop or sockets:\n" + "\n".join(bad)


def test_no_import_hidden_in_a_function() -> None:
    bad = [
        _where(m, t, lazy=True)
        for m in MODULES.values()
        if layer_of(m.name) < LAZY_IMPORTS_ALLOWED
        for t in m.lazy
    ]
    assert not bad, "imports inside functions:\n" + "\n".join(bad)


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out += [(node.lineno, node.module), *((node.lineno, f"{node.module}.{a.name}") for a in node.names)]
    return out


def test_test_modules_and_benchmarks_import_no_test_module() -> None:
    """Shared fixtures live in conftest.py files and helper modules (tests/helpers, testkit), never in a test module
    another imports; bench/ and testkit/ never import tests/ (a user runs a benchmark without the test suite)."""
    bad = []
    for top in ("tests", "bench", "testkit"):
        for path in sorted((ROOT / top).rglob("*.py")):
            for line, name in _imported_modules(path):
                parts = name.split(".")
                if parts[0] != "tests":
                    continue
                if top != "tests" or any(p.startswith("test_") for p in parts[1:]):
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "imports of test modules:\n" + "\n".join(sorted(set(bad)))

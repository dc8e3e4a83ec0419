"""Docstrings, comments and documents name files and modules that exist.

A reshaping moves modules; a docstring that still says ``emulator/services/sipep.py`` or
``:mod:`emulator.media.stream``` sends the reader nowhere. Every project path (``emulator/...``,
``firmware_model/...``, ``web_ui/...``, ``tests/...``, ``testkit/...``, ``bench/...``, ``docs/...``) and every
dotted project module (``emulator.x.y``, ``firmware_model.x``) written in the product, the tests, the README and
docs/ must name something that is there.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOPS = ("emulator", "firmware_model", "web_ui", "tests", "testkit", "bench", "docs", "tools", "docker")
SOURCES = [
    *(p for top in ("emulator", "firmware_model", "web_ui", "tests", "testkit", "bench", "tools") for p in
      (ROOT / top).rglob("*.py")),
    ROOT / "README.md",
    *(ROOT / "docs").glob("*.md"),
]
SLASH = re.compile(r"(?<![\w./-])((?:{})/[\w./-]*[\w])".format("|".join(TOPS)))
# A relative file path such as ``services/epadm.py`` or ``sip/transport.py`` (found from the repository root, the
# product packages or the citing file's own folder).
RELATIVE = re.compile(r"(?<![\w./-])((?:[A-Za-z_][\w-]*/)+[A-Za-z_]\w*\.py)\b")
DOTTED = re.compile(r"(?<![\w./])((?:emulator|firmware_model|web_ui|testkit)(?:\.[A-Za-z_]\w*)+)")


def _slash_exists(ref: str) -> bool:
    path = ROOT / ref
    return path.exists() or path.with_suffix(".py").exists() or any(ROOT.glob(ref))


def _relative_exists(ref: str, src: Path) -> bool:
    bases = (ROOT, ROOT / "emulator", src.parent, *(p for p in (ROOT / "emulator").iterdir() if p.is_dir()))
    return any((base / ref).exists() for base in bases)


def _dotted_exists(ref: str) -> bool:
    """A module, a package, or a name inside one (``emulator.runtime.unit.Unit``)."""
    parts = ref.split(".")
    for n in range(len(parts), 1, -1):
        base = ROOT.joinpath(*parts[:n])
        if base.with_suffix(".py").exists() or (base / "__init__.py").exists():
            return True
    return False


def _references() -> list[tuple[str, int, str, bool]]:
    out = []
    for src in SOURCES:
        if src == Path(__file__).resolve():
            continue
        for number, line in enumerate(src.read_text(errors="replace").splitlines(), start=1):
            for m in SLASH.finditer(line):
                out.append((str(src.relative_to(ROOT)), number, m.group(1), _slash_exists(m.group(1))))
            for m in RELATIVE.finditer(line):
                if not SLASH.fullmatch(m.group(1)):
                    out.append((str(src.relative_to(ROOT)), number, m.group(1), _relative_exists(m.group(1), src)))
            for m in DOTTED.finditer(line):
                ref = m.group(1).rstrip(".")
                if ref.count(".") >= 1:
                    out.append((str(src.relative_to(ROOT)), number, ref, _dotted_exists(ref)))
    return out


def test_the_scan_finds_references() -> None:
    refs = _references()
    assert any(ref == "emulator/runtime/unit.py" and ok for _, _, ref, ok in refs) or any(
        ref.startswith("emulator.runtime.unit") and ok for _, _, ref, ok in refs)
    assert not _dotted_exists("emulator.services.sipep") and not _slash_exists("emulator/services/sipep.py")


def test_every_reference_names_something_that_exists() -> None:
    missing = [f"{where}:{line}: {ref}" for where, line, ref, ok in _references() if not ok]
    assert not missing, "references to files or modules that do not exist:\n" + "\n".join(missing)

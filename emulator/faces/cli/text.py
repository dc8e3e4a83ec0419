"""What the CLI answers and how it lays text out: :class:`Reply` (one line's outcome), :class:`Completion`
(TAB), ``Cli.WelcomeMessage`` escapes, aligned tables and name columns (emulator choices: the hardware's
layout is not public)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Completion", "Reply", "columns", "common_prefix", "decode_welcome", "format_table"]


@dataclass(slots=True)
class Reply:
    """The answer to one line: text to show, success (exit status 0/1) and end of session.

    ``pending``: work that needs the network (a certificate transfer, a call action). The session shows
    ``output``, awaits ``pending()`` and shows the reply it returns (the line's outcome)."""

    output: str = ""
    ok: bool = True
    exit: bool = False
    pending: Callable[[], Awaitable[Reply]] | None = None

    @classmethod
    def error(cls, message: str) -> Reply:
        return cls(f"Error: {message}\n", ok=False)


@dataclass(slots=True)
class Completion:
    """The input line after TAB, and the names to list when the completion is ambiguous."""

    line: str
    pos: int
    candidates: list[str] = field(default_factory=list)

    def changed(self, line: str, pos: int) -> bool:
        return (self.line, self.pos) != (line, pos)


def decode_welcome(text: str) -> str:
    """``Cli.WelcomeMessage`` escapes: ``\\n`` newline, ``\\t`` tab, ``\\\\`` backslash."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[text[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns under a dashed header; trailing spaces removed."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    if not rows:
        out.append("(no rows)")
    return "\n".join(out) + "\n"


def columns(names: Sequence[str], width: int = 80) -> str:
    """Names laid out in columns that fit ``width`` characters (for completion listings)."""
    if not names:
        return ""
    cell = max(len(n) for n in names) + 2
    per_line = max(1, width // cell)
    lines = []
    for i in range(0, len(names), per_line):
        lines.append("".join(n.ljust(cell) for n in names[i : i + per_line]).rstrip())
    return "\n".join(lines) + "\n"


def common_prefix(names: Sequence[str]) -> str:
    """Longest case-insensitive common prefix, in the case of the first name."""
    first = names[0]
    n = len(first)
    for other in names[1:]:
        n = min(n, len(other))
        for i in range(n):
            if first[i].lower() != other[i].lower():
                n = i
                break
    return first[:n]

"""The DGW configuration-script language (Conf service, numkey 800): parse, run, export.

Lexical helpers shared with the CLI (:func:`split_assignment`, :func:`unquote`, :func:`quote`,
:func:`strip_comment`) have stable signatures.

Value quoting (our choice, the vendor grammar is not public): a value is either bare text, taken
with surrounding whitespace stripped, or a double-quoted string in which ``\\"`` stands for ``"``
and ``\\\\`` for ``\\``; any other backslash is kept as written (so ``Cli.WelcomeMessage`` keeps its
own ``\\n`` markers). Nothing may follow the closing quote.
"""

from __future__ import annotations

__all__ = [
    "quote",
    "split_assignment",
    "strip_comment",
    "unquote",
]

# Characters that make a value need quotes: they would be stripped, cut at a comment, split an
# index list or be taken for the start of a quoted value.
_NEEDS_QUOTES = frozenset('"#,[]=\\')


def split_assignment(line: str) -> tuple[str, str] | None:
    """Split ``Name = value`` at the first ``=`` outside brackets and double quotes.

    Returns ``(name, value)`` both stripped of surrounding whitespace (the value is still raw:
    pass it to :func:`unquote`), or ``None`` when the line has no such ``=`` (a read, a command,
    or the short form of a row command such as ``Scm.ServiceCommands.Restart[Name=SipEp]``).
    """
    depth = 0
    quoted = False
    escaped = False
    for pos, ch in enumerate(line):
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "[":
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

    Quotes are used for the empty string, leading/trailing or inner whitespace, and any of
    ``" # , [ ] = \\``. Raise ``ValueError`` for line breaks, which no script line can carry.
    """
    if "\n" in value or "\r" in value:
        raise ValueError("a line break cannot be written in a script value")
    if value and value == value.strip() and not any(c.isspace() or c in _NEEDS_QUOTES for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def strip_comment(line: str) -> str:
    """Remove a trailing comment: ``#`` at the start of the line or after whitespace, outside quotes.

    A ``#`` glued to text (``http://host/#frag``, ``Pass#1``) is part of the value.
    """
    quoted = False
    escaped = False
    prev_space = True
    for pos, ch in enumerate(line):
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "#" and prev_space:
            return line[:pos].rstrip()
        prev_space = ch.isspace()
    return line.rstrip()

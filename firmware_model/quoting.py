"""Double-quoted text with backslash escapes, as configuration-script values (:mod:`firmware_model.script`) and
SIP header values (the quoted-string of RFC 3261 §25.1, :mod:`emulator.protocols.sip.headers`) write it."""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["unquoted_chars"]


def unquoted_chars(text: str) -> Iterator[tuple[int, str]]:
    """The characters of ``text`` that stand outside double-quoted strings, with their positions. The quotes
    themselves are not given; inside quotes a backslash escapes the next character; an unterminated quoted
    string runs to the end."""
    quoted = escaped = False
    for pos, ch in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        else:
            yield pos, ch

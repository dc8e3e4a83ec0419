"""DTMF maps (``MxDigitMap``: the ``EpServ.*DtmfMap*`` parameters, ``CallDtmfMapAllowed.DtmfMap``,
``CallDtmfMapRefuse.DtmfMap``) and the DTMF transformation of ``CallDtmfMapAllowed.DtmfTransformation`` —
parsed, checked and matched, pure (no I/O, no clock).

**Maps** follow the MGCP digit map syntax (RFC 3435 §2.1.5), as the vendor's MIB says: alternatives joined by
``|`` (the whole optionally between parentheses); each a sequence of positions — a DTMF ``0-9 * # A-D``, ``x``
(any digit 0-9), a range ``[...]`` (DTMFs and ``d-d`` digit ranges, e.g. ``[1-35#]``), or ``T`` (the timer:
the inter-digit timeout expired) — each optionally followed by ``.`` (zero or more of that position). The
vendor's ``S`` (local service code: a stutter dial tone once the part before it is dialled) is accepted between
two non-empty parts. Letters are taken in either case (emulator choice). Matching is over the dialled string:
*complete* when an alternative matches it whole, *more* while some alternative could still match with more
DTMFs or the timer. A refusal names the character (1-based) and what is wrong there.

**Transformations** (MX-EPSERV-MIB): ``x`` is the dialled number; before it, DTMFs are a prefix to add,
``{...}`` a prefix removed when present and ``(n)`` the first n DTMFs removed; after it the same for the
suffix; applied left to right. Without ``x`` the text replaces the number. Empty: the number unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DigitMap", "DigitMapError", "Match", "check_digit_map", "check_transformation", "parse_digit_map", "transform",
]

DTMFS = "0123456789*#ABCD"
TIMER = "T"
_LETTERS = set(DTMFS) | {TIMER}


class DigitMapError(ValueError):
    """A map or transformation the syntax refuses; the message says where and what."""


@dataclass(frozen=True, slots=True)
class _Position:
    symbols: frozenset[str]
    repeat: bool  # followed by "."


@dataclass(frozen=True, slots=True)
class _Alternative:
    positions: tuple[_Position, ...]
    stutter_at: int | None  # index of the position the "S" stands before
    text: str

    def states(self, dialled: str) -> set[int]:
        """The positions reachable after ``dialled`` (an NFA over the positions; len(positions) = matched)."""
        current = self._closure({0})
        for symbol in dialled:
            nxt: set[int] = set()
            for i in current:
                if i < len(self.positions) and symbol in self.positions[i].symbols:
                    nxt.add(i if self.positions[i].repeat else i + 1)
            current = self._closure(nxt)
            if not current:
                break
        return current

    def _closure(self, states: set[int]) -> set[int]:
        out = set(states)
        todo = list(states)
        while todo:
            i = todo.pop()
            if i < len(self.positions) and self.positions[i].repeat and i + 1 not in out:
                out.add(i + 1)
                todo.append(i + 1)
        return out

    def literal_prefix(self) -> int:
        """How many leading positions are one fixed DTMF each (a service code's code)."""
        n = 0
        for p in self.positions:
            if p.repeat or len(p.symbols) != 1 or TIMER in p.symbols:
                break
            n += 1
        return n


@dataclass(frozen=True, slots=True)
class Match:
    """How a dialled string stands against a map."""

    complete: bool  # an alternative matches it whole
    more: bool  # some alternative could still match with more DTMFs (or the timer)
    alternative: int = -1  # the first alternative matching whole
    stutter: bool = False  # the string ends exactly where an alternative's "S" stands
    code_length: int = 0  # of the complete alternative: DTMFs of its code (before "S", else its literal prefix)


@dataclass(frozen=True, slots=True)
class DigitMap:
    """A parsed map (see the module docstring)."""

    alternatives: tuple[_Alternative, ...]
    text: str

    def match(self, dialled: str) -> Match:
        """``dialled``: DTMFs, possibly ending with ``T`` (the timer expired)."""
        dialled = dialled.upper()
        complete, more, stutter, which, code = False, False, False, -1, 0
        for k, alt in enumerate(self.alternatives):
            states = alt.states(dialled)
            n = len(alt.positions)
            if n in states and not complete:
                complete, which = True, k
                code = alt.stutter_at if alt.stutter_at is not None else alt.literal_prefix()
            if any(i < n for i in states):
                more = True
            if alt.stutter_at is not None and dialled and _ends_at(alt, dialled):
                stutter = True
        return Match(complete, more, which, stutter, code)


def _ends_at(alt: _Alternative, dialled: str) -> bool:
    """Whether ``dialled`` is exactly the part of ``alt`` before its "S" (the code just completed)."""
    assert alt.stutter_at is not None
    head = _Alternative(alt.positions[:alt.stutter_at], None, alt.text)
    return len(head.positions) in head.states(dialled)


def _fail(text: str, i: int, what: str) -> DigitMapError:
    return DigitMapError(f"DTMF map {text!r}, character {i + 1}: {what}")


def _range(text: str, i: int, end: int) -> tuple[frozenset[str], int]:
    """The range starting at ``text[i] == '['`` (in an alternative ending at ``end``): its DTMFs and the index
    after the ``]``."""
    j = i + 1
    out: set[str] = set()
    while j < end and text[j] != "]":
        c = text[j].upper()
        if c.isdigit() and j + 2 < end and text[j + 1] == "-" and text[j + 2] != "]":
            hi = text[j + 2]
            if not hi.isdigit():
                raise _fail(text, j + 2, f"{hi!r} cannot end a range: d-d ranges are between digits")
            if hi < c:
                raise _fail(text, j, f"the range {c}-{hi} goes backwards")
            out.update(str(d) for d in range(int(c), int(hi) + 1))
            j += 3
            continue
        if c == "X":
            out.update("0123456789")
        elif c in DTMFS:
            out.add(c)
        elif c == "-":
            raise _fail(text, j, "'-' joins two digits (d-d)")
        else:
            raise _fail(text, j, f"{text[j]!r} is not a DTMF (0-9 * # A-D) in a range")
        j += 1
    if j >= end:
        raise _fail(text, i, "'[' is never closed by ']'")
    if not out:
        raise _fail(text, i, "an empty range []")
    return frozenset(out), j + 1


def _alternative(text: str, start: int, end: int) -> _Alternative:
    positions: list[_Position] = []
    stutter: int | None = None
    i = start
    if start == end:
        raise _fail(text, start, "an empty alternative (nothing between '|')")
    while i < end:
        c = text[i].upper()
        if c == ".":
            if not positions or positions[-1].repeat or stutter == len(positions):
                raise _fail(text, i, "'.' must follow a DTMF, x, a range or T")
            positions[-1] = _Position(positions[-1].symbols, True)
            i += 1
        elif c == "S":
            if stutter is not None:
                raise _fail(text, i, "only one S per alternative")
            if not positions:
                raise _fail(text, i, "S must follow a valid DTMF map string")
            stutter = len(positions)
            i += 1
        elif c == "[":
            symbols, i = _range(text, i, end)
            positions.append(_Position(symbols, False))
        elif c == "X":
            positions.append(_Position(frozenset("0123456789"), False))
            i += 1
        elif c in _LETTERS:
            positions.append(_Position(frozenset(c), False))
            i += 1
        elif c == "]":
            raise _fail(text, i, "']' without '['")
        elif c in "()":
            raise _fail(text, i, "parentheses may only enclose the whole map")
        else:
            raise _fail(text, i, f"{text[i]!r} is not a DTMF (0-9 * # A-D), x, [range], '.', T, S or '|'")
    if stutter is not None and stutter == len(positions):
        raise _fail(text, end - 1, "what follows S must be a valid DTMF map string")
    return _Alternative(tuple(positions), stutter, text[start:end])


def parse_digit_map(text: str) -> DigitMap:
    """Parse a map; :class:`DigitMapError` says where and what is wrong. An empty map matches nothing."""
    start, end = 0, len(text)
    if text.startswith("("):
        if not text.endswith(")") or len(text) < 2:
            raise _fail(text, 0, "'(' is never closed by ')' at the end of the map")
        start, end = 1, len(text) - 1
    elif text.endswith(")"):
        raise _fail(text, len(text) - 1, "')' without '('")
    if start == end:
        return DigitMap((), text)
    alternatives = []
    i = start
    while True:
        j = text.find("|", i, end)
        stop = end if j < 0 else j
        alternatives.append(_alternative(text, i, stop))
        if j < 0:
            break
        i = j + 1
    return DigitMap(tuple(alternatives), text)


def check_digit_map(value: object) -> None:
    """Config validator: raises :class:`DigitMapError` (a ValueError) for a malformed map."""
    if str(value):
        parse_digit_map(str(value))


# ---------------------------------------------------------------------------------------------- transformation
def _steps(text: str) -> list[tuple[str, str, str]]:
    """(where: "pre" | "post" | "all", kind: "add" | "strip" | "cut", argument) in order."""
    steps: list[tuple[str, str, str]] = []
    where = "pre"
    i = 0
    seen_x = False
    while i < len(text):
        c = text[i]
        if c in "xX":
            if seen_x:
                raise DigitMapError(f"DTMF transformation {text!r}, character {i + 1}: only one x (the number)")
            seen_x, where = True, "post"
            i += 1
        elif c in "{(":
            close = "}" if c == "{" else ")"
            j = text.find(close, i + 1)
            if j < 0:
                raise DigitMapError(f"DTMF transformation {text!r}, character {i + 1}: {c!r} is never closed")
            body = text[i + 1:j]
            allowed = DTMFS if c == "{" else "0123456789"
            bad = next((k for k, ch in enumerate(body) if ch.upper() not in allowed), None)
            if not body or bad is not None:
                what = "DTMFs (0-9 * # A-D)" if c == "{" else "a count of DTMFs (digits)"
                at = i + 2 + (bad or 0)
                raise DigitMapError(f"DTMF transformation {text!r}, character {at}: {c}{close} holds {what}")
            steps.append((where, "strip" if c == "{" else "cut", body.upper()))
            i = j + 1
        elif c.upper() in DTMFS:
            j = i
            while j < len(text) and text[j].upper() in DTMFS:
                j += 1
            steps.append((where, "add", text[i:j].upper()))
            i = j
        else:
            raise DigitMapError(f"DTMF transformation {text!r}, character {i + 1}: {c!r} is not a DTMF "
                                "(0-9 * # A-D), x, {...} or (n)")
    if not seen_x and text:
        if any(kind != "add" for _, kind, _ in steps):
            raise DigitMapError(f"DTMF transformation {text!r}: without x only DTMFs (the number that replaces "
                                "the dialled one)")
        return [("all", "add", text.upper())]
    return steps


def check_transformation(value: object) -> None:
    """Config validator for ``CallDtmfMapAllowed.DtmfTransformation``."""
    if str(value):
        _steps(str(value))


def transform(transformation: str, number: str) -> str:
    """The number to call for the dialled ``number`` (see the module docstring)."""
    out = number
    for where, kind, arg in _steps(transformation):
        if where == "all":
            return arg
        if kind == "add":
            out = arg + out if where == "pre" else out + arg
        elif kind == "strip":
            if where == "pre" and out.startswith(arg):
                out = out[len(arg):]
            elif where == "post" and out.endswith(arg):
                out = out[:-len(arg)]
        else:
            n = int(arg)
            out = out[n:] if where == "pre" else (out[:-n] if n else out)
    return out

"""The expression languages of the call router (CRout, MX-CROUT-MIB): criteria rules, transformation rules,
DateTime periods and hunt causes — parsed, checked and evaluated, pure (no I/O, no clock).

* **Criteria rules** (``CRout.Route.ExpressionCriteria``, ``CRout.MappingExpression.Criteria``): a regular
  expression, a keyword (``international``, ``cfu``...: matched as a whole value, case-insensitively) or a
  special tag — ``<undefined>`` (the property is absent) and ``<default>`` (always matches). Whitespace at the
  end of a rule is ignored (MIB text). The vendor names no regular-expression dialect; the unit runs a POSIX C
  library, so the emulator takes **POSIX extended regular expressions** (emulator choice): ``. [ ] [^ ]
  [[:digit:]] ( ) | * + ? {m,n} ^ $``, a backslash before a special character, and the GNU extensions
  ``\\w \\W \\s \\S \\b \\B \\< \\>``. Refused with the reason: Perl/Python-only syntax (``(?...)``, ``\\d``,
  lazy ``*?``), back-references, a quantifier with nothing to repeat, unbalanced brackets or parentheses. A rule
  matches as ``regexec`` does: anywhere in the value unless anchored with ``^``/``$``.
* **Transformation rules** (``CRout.MappingExpression.Transformation``): the new value of the property; ``\\0``
  is the text the criteria matched, ``\\1``..``\\9`` its groups, ``\\\\`` a backslash; the macro
  ``<local_ip_port>`` is the local address and port of the SIP gateway's listening socket. Any other backslash
  is refused. A rule that names a group its criteria does not have is refused at ``CRout.ApplyConfig``.
* **DateTime** (the ``DateTime`` property): alternatives joined by ``|``, each ``DD.MM.YYYY[/HH:MM:SS]``
  (a day, or a period ``...-DD.MM.YYYY[/HH:MM:SS]`` or ``...-HH:MM:SS`` the same day), ``HH:MM:SS-HH:MM:SS``
  (every day), or week days ``SUN``..``SAT`` (comma-separated) with an optional ``/HH:MM:SS-HH:MM:SS``. A
  time period whose end is before its start runs over midnight (emulator choice).
* **Hunt causes** (``CRout.Hunt.Causes``): Q.850 cause values 1..127 separated by commas.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime

__all__ = [
    "DEFAULT_TAG", "UNDEFINED_TAG", "Criteria", "check_causes", "check_criteria", "check_transformation",
    "compile_criteria", "expand", "parse_causes", "parse_datetime", "transformation_groups",
]

UNDEFINED_TAG = "<undefined>"
DEFAULT_TAG = "<default>"
LOCAL_IP_PORT = "<local_ip_port>"

_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\n\r\f\v", "blank": r" \t", "xdigit": "0-9A-Fa-f", "punct": r"!-/:-@\[-`{-~",
    "cntrl": r"\x00-\x1f\x7f", "print": r"\x20-\x7e", "graph": r"\x21-\x7e",
}
_SPECIAL = set(".[]()*+?{}|^$\\")
_GNU_ESCAPES = {"w": r"\w", "W": r"\W", "s": r"\s", "S": r"\S", "b": r"\b", "B": r"\B", "<": r"\b", ">": r"\b"}
_QUANTIFIERS = set("*+?{")


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """The bracket expression starting at ``pattern[i] == '['``: its Python form and the index after it."""
    j = i + 1
    out = ["["]
    if j < len(pattern) and pattern[j] == "^":
        out.append("^")
        j += 1
    first = True
    while True:
        if j >= len(pattern):
            raise ValueError("unterminated bracket expression '['")
        ch = pattern[j]
        if ch == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            name = pattern[j + 2:end] if end >= 0 else ""
            if name not in _CLASSES:
                raise ValueError(f"unknown character class [:{name}:]")
            out.append(_CLASSES[name])
            j = end + 2
            continue
        if pattern.startswith("[=", j) or pattern.startswith("[.", j):
            raise ValueError("collating elements ([= =], [. .]) are not supported")
        out.append(re.escape(ch) if ch in "\\[]^" or ch == "]" else ch)
        j += 1


def _translate(pattern: str) -> str:
    """A POSIX extended regular expression as a Python one; ValueError with the reason when it is not one."""
    out: list[str] = []
    i = 0
    prev_quantifier = False
    can_repeat = False  # something before that a quantifier may repeat
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern):
                raise ValueError("a backslash ends the expression")
            nxt = pattern[i + 1]
            if nxt in _SPECIAL:
                out.append("\\" + nxt)
            elif nxt in _GNU_ESCAPES:
                out.append(_GNU_ESCAPES[nxt])
            elif nxt.isdigit():
                raise ValueError(f"back-reference \\{nxt} is not allowed in a criteria rule")
            else:
                raise ValueError(f"\\{nxt} is not a POSIX extended regular expression escape"
                                 + (" (use [0-9] or [[:digit:]])" if nxt == "d" else ""))
            i += 2
            prev_quantifier, can_repeat = False, nxt not in "bB<>"
            continue
        if ch == "[":
            text, i = _bracket(pattern, i)
            out.append(text)
            prev_quantifier, can_repeat = False, True
            continue
        if ch == "(" and pattern.startswith("(?", i):
            raise ValueError("'(?' extensions are not POSIX extended regular expressions")
        if ch in _QUANTIFIERS:
            if prev_quantifier:
                raise ValueError(f"'{ch}' follows another repetition (lazy or possessive quantifiers are not POSIX)")
            if not can_repeat:
                raise ValueError(f"'{ch}' at position {i + 1} has nothing to repeat")
            if ch == "{":
                m = re.match(r"\{(\d+)(,(\d*))?\}", pattern[i:])
                if m is None:
                    raise ValueError(f"malformed interval at position {i + 1} (expected {{m}}, {{m,}} or {{m,n}})")
                low, high = int(m.group(1)), m.group(3)
                if high and int(high) < low:
                    raise ValueError(f"interval {m.group(0)}: the maximum is below the minimum")
                if low > 255 or (high and int(high) > 255):
                    raise ValueError(f"interval {m.group(0)}: at most 255 repetitions")
                out.append(m.group(0))
                i += len(m.group(0))
            else:
                out.append(ch)
                i += 1
            prev_quantifier = True
            continue
        out.append(ch)
        prev_quantifier = False
        can_repeat = ch not in "(|^"
        i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Criteria:
    """A compiled criteria rule (see the module docstring)."""

    text: str
    tag: str | None = None  # UNDEFINED_TAG | DEFAULT_TAG
    regex: re.Pattern[str] | None = None

    @property
    def groups(self) -> int:
        return self.regex.groups if self.regex is not None else 0

    def match(self, value: str | None) -> tuple[str, ...] | None:
        """The matched text and groups (``\\0``..) when the rule matches ``value``; None when it does not."""
        if self.tag == UNDEFINED_TAG:
            return ("",) if value is None else None
        if self.tag == DEFAULT_TAG:
            return (value or "",)
        if value is None or self.regex is None:
            return None
        m = self.regex.search(value)
        if m is None:
            return None
        return (m.group(0), *(g or "" for g in m.groups()))


def compile_criteria(text: str) -> Criteria:
    """A criteria rule compiled; ValueError with the reason when malformed."""
    rule = text.rstrip()
    if rule.lower() in (UNDEFINED_TAG, DEFAULT_TAG):
        return Criteria(rule, tag=rule.lower())
    if rule.startswith("<") and rule.endswith(">") and re.fullmatch(r"<\w+>", rule):
        raise ValueError(f"unknown special tag {rule} (the tags are {UNDEFINED_TAG} and {DEFAULT_TAG})")
    translated = _translate(rule)
    try:
        return Criteria(rule, regex=re.compile(translated))
    except re.error as exc:
        raise ValueError(f"malformed regular expression {rule!r}: {exc}") from None


def check_criteria(text: object) -> None:
    """Set-time check of a criteria rule (``Config.set`` validator)."""
    compile_criteria(str(text))


_TRANSFORM_TOKEN = re.compile(r"\\(.?)")


def transformation_groups(text: str) -> int:
    """The highest group ``\\N`` a transformation rule names (-1 for none); ValueError when malformed."""
    highest = -1
    for m in _TRANSFORM_TOKEN.finditer(text):
        what = m.group(1)
        if what.isdigit():
            highest = max(highest, int(what))
        elif what != "\\":
            raise ValueError(f"\\{what} in a transformation rule: only \\0 to \\9 (groups) and \\\\ are allowed"
                             if what else "a backslash ends the transformation rule")
    return highest


def check_transformation(text: object) -> None:
    """Set-time check of a transformation rule (``Config.set`` validator)."""
    transformation_groups(str(text))


def expand(rule: str, groups: tuple[str, ...], local_ip_port: str = "") -> str:
    """The value a transformation rule gives for a criteria match (``groups[0]`` is ``\\0``)."""
    def sub(m: re.Match[str]) -> str:
        what = m.group(1)
        if what == "\\":
            return "\\"
        n = int(what)
        return groups[n] if n < len(groups) else ""
    return _TRANSFORM_TOKEN.sub(sub, rule.replace(LOCAL_IP_PORT, local_ip_port))


def check_causes(text: object) -> None:
    """Set-time check of a hunt's causes (``Config.set`` validator)."""
    parse_causes(text)


def parse_causes(text: object) -> tuple[int, ...]:
    """``"31, 34, 38"`` -> (31, 34, 38); ValueError naming a value that is not a Q.850 cause (1..127)."""
    out: list[int] = []
    for part in str(text).split(","):
        item = part.strip()
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= 127:
            raise ValueError(f"{item!r} is not a cause (1..127)")
        out.append(int(item))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------- DateTime
_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # datetime.weekday() order
_DATE = r"(\d{2})\.(\d{2})\.(\d{4})"
_TIME = r"(\d{2}):(\d{2}):(\d{2})"
_D_T_D_T = re.compile(rf"{_DATE}/{_TIME}-{_DATE}/{_TIME}")
_D_T_T = re.compile(rf"{_DATE}/{_TIME}-{_TIME}")
_D_D = re.compile(rf"{_DATE}-{_DATE}")
_D = re.compile(_DATE)
_T_T = re.compile(rf"{_TIME}-{_TIME}")
_WEEK = re.compile(r"([A-Za-z]{3}(?:\s*,\s*[A-Za-z]{3})*)(?:/" + _TIME + "-" + _TIME + ")?")

Moment = Callable[[datetime], bool]


def _date(d: str, m: str, y: str) -> date:
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        raise ValueError(f"{d}.{m}.{y} is not a date") from None


def _time(h: str, m: str, s: str) -> dtime:
    try:
        return dtime(int(h), int(m), int(s))
    except ValueError:
        raise ValueError(f"{h}:{m}:{s} is not a time of day") from None


def _in_period(start: dtime, end: dtime, t: dtime) -> bool:
    return start <= t <= end if start <= end else (t >= start or t <= end)


def _alternative(text: str) -> Moment:
    g: tuple[str, ...]
    if m := _D_T_D_T.fullmatch(text):
        g = m.groups()
        lo, hi = datetime.combine(_date(*g[0:3]), _time(*g[3:6])), datetime.combine(_date(*g[6:9]), _time(*g[9:12]))
        return lambda when: lo <= when <= hi
    if m := _D_T_T.fullmatch(text):
        g = m.groups()
        day, t0, t1 = _date(*g[0:3]), _time(*g[3:6]), _time(*g[6:9])
        return lambda when: when.date() == day and t0 <= when.time() <= t1
    if m := _D_D.fullmatch(text):
        g = m.groups()
        d0, d1 = _date(*g[0:3]), _date(*g[3:6])
        return lambda when: d0 <= when.date() <= d1
    if m := _D.fullmatch(text):
        day = _date(*m.groups())
        return lambda when: when.date() == day
    if m := _T_T.fullmatch(text):
        g = m.groups()
        t0, t1 = _time(*g[0:3]), _time(*g[3:6])
        return lambda when: _in_period(t0, t1, when.time())
    if m := _WEEK.fullmatch(text):
        names = [n.strip().upper() for n in m.group(1).split(",")]
        bad = [n for n in names if n not in _DAYS]
        if bad:
            raise ValueError(f"{bad[0]} is not a week day (SUN, MON, TUE, WED, THU, FRI or SAT)")
        days = {_DAYS.index(n) for n in names}
        if m.group(2) is None:
            return lambda when: when.weekday() in days
        g = m.groups()[1:]
        t0, t1 = _time(*g[0:3]), _time(*g[3:6])
        return lambda when: when.weekday() in days and _in_period(t0, t1, when.time())
    raise ValueError(f"{text!r} is not a DateTime period (DD.MM.YYYY[/HH:MM:SS][-...], HH:MM:SS-HH:MM:SS, "
                     "or week days such as MON,TUE[/HH:MM:SS-HH:MM:SS])")


def parse_datetime(text: str) -> Moment:
    """A DateTime criteria rule as a predicate on the local date and time; ValueError when malformed."""
    alternatives = [_alternative(part.strip()) for part in text.rstrip().split("|")]
    return lambda when: any(alt(when) for alt in alternatives)

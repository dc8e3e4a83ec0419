"""POSIX time-zone strings (``Hoc.StaticTimeZone``), as DGW uses them.

``EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00``: standard name and offset, optional daylight name
and offset, and the two transition rules (``Mm.w.d``, ``Jn`` or ``n``, each with an optional
``/time``). The POSIX sign convention applies: a positive offset is WEST of Greenwich (New York is
``EST5``), a leading minus is east. Without a daylight offset, daylight time is one hour ahead of
standard time. Pure functions, no dependency on the host's zoneinfo.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass

__all__ = ["PosixTz", "TzError", "format_local_time", "parse_tz"]


class TzError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str  # "M" | "J" | "n"
    month: int = 0
    week: int = 0
    weekday: int = 0
    day: int = 0
    at: int = 7200  # seconds after local midnight

    def day_of_year_start(self, year: int) -> float:
        """Seconds from Jan 1 00:00 (local wall clock of the zone in effect) to the transition."""
        if self.kind == "M":
            first_wd, ndays = calendar.monthrange(year, self.month)  # Monday=0
            first_sun0 = (first_wd + 1) % 7  # weekday of day 1 with Sunday=0
            day = 1 + (self.weekday - first_sun0) % 7 + (self.week - 1) * 7
            if self.week == 5:
                while day > ndays:
                    day -= 7
            yday = sum(calendar.monthrange(year, m)[1] for m in range(1, self.month)) + day - 1
        elif self.kind == "J":  # 1..365, Feb 29 never counted
            yday = self.day - 1
            if calendar.isleap(year) and self.day >= 60:
                yday += 1
        else:  # 0..365, Feb 29 counted
            yday = self.day
        return yday * 86400 + self.at


@dataclass(frozen=True, slots=True)
class PosixTz:
    std: str
    std_offset: int  # seconds to ADD to UTC to get local standard time (east positive)
    dst: str | None = None
    dst_offset: int = 0
    start: Rule | None = None
    end: Rule | None = None

    def utcoffset(self, utc: float) -> tuple[int, str]:
        """(seconds east of UTC, abbreviation) in effect at a UTC instant."""
        if self.dst is None:
            return self.std_offset, self.std
        start = self.start or Rule("M", 3, 2, 0, at=7200)  # US rules when none are given
        end = self.end or Rule("M", 11, 1, 0, at=7200)
        year = time.gmtime(utc + self.std_offset).tm_year
        jan1 = calendar.timegm((year, 1, 1, 0, 0, 0))
        # start is given in standard local time, end in daylight local time
        t_start = jan1 + start.day_of_year_start(year) - self.std_offset
        t_end = jan1 + end.day_of_year_start(year) - self.dst_offset
        if t_start < t_end:
            in_dst = t_start <= utc < t_end
        else:  # southern hemisphere
            in_dst = not (t_end <= utc < t_start)
        return (self.dst_offset, self.dst) if in_dst else (self.std_offset, self.std)


_NAME = r"(<[^>]+>|[A-Za-z]{3,})"
_OFFSET = r"([+-]?\d{1,2}(?::\d{1,2}(?::\d{1,2})?)?)"
_TZ = re.compile(rf"^{_NAME}{_OFFSET}(?:{_NAME}{_OFFSET}?)?(?:,([^,]+),([^,]+))?$")


def _hms(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")]
    if len(parts) > 3 or any(p < 0 for p in parts) or parts[0] > 167:
        raise TzError(f"bad time {text!r}")
    while len(parts) < 3:
        parts.append(0)
    if parts[1] > 59 or parts[2] > 59:
        raise TzError(f"bad time {text!r}")
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])


def _rule(text: str) -> Rule:
    body, _, at = text.partition("/")
    secs = _hms(at) if at else 7200
    m = re.fullmatch(r"M(\d{1,2})\.(\d)\.(\d)", body)
    if m:
        mo, wk, wd = (int(x) for x in m.groups())
        if not (1 <= mo <= 12 and 1 <= wk <= 5 and 0 <= wd <= 6):
            raise TzError(f"bad rule {text!r}")
        return Rule("M", mo, wk, wd, at=secs)
    m = re.fullmatch(r"J(\d{1,3})", body)
    if m:
        d = int(m.group(1))
        if not 1 <= d <= 365:
            raise TzError(f"bad rule {text!r}")
        return Rule("J", day=d, at=secs)
    if re.fullmatch(r"\d{1,3}", body) and int(body) <= 365:
        return Rule("n", day=int(body), at=secs)
    raise TzError(f"bad rule {text!r}")


def parse_tz(text: str) -> PosixTz:
    """Parse a POSIX TZ string; raise TzError with the reason."""
    m = _TZ.match(text.strip())
    if not m:
        raise TzError(f"{text!r} is not a POSIX time zone (e.g. EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00)")
    std, std_off, dst, dst_off, r1, r2 = m.groups()
    std_east = -_hms(std_off)
    if dst is None:
        return PosixTz(std.strip("<>"), std_east)
    dst_east = -_hms(dst_off) if dst_off else std_east + 3600
    return PosixTz(
        std.strip("<>"), std_east, dst.strip("<>"), dst_east, _rule(r1) if r1 else None, _rule(r2) if r2 else None
    )


_CACHE: dict[str, PosixTz] = {}


def format_local_time(utc: float, tz_text: str) -> str:
    """Local time as DGW shows it (``YYYY-MM-DD HH:MM:SS``); an invalid zone falls back to UTC."""
    tz = _CACHE.get(tz_text)
    if tz is None:
        try:
            tz = parse_tz(tz_text) if tz_text else PosixTz("UTC", 0)
        except TzError:
            tz = PosixTz("UTC", 0)
        if len(_CACHE) < 256:
            _CACHE[tz_text] = tz
    off, _abbr = tz.utcoffset(utc)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(utc + off))

"""When the Conf service transfers its scripts by itself (MX-CONF-MIB "Automatic Transfer"): pure time arithmetic.

* ``Minutes`` / ``Hours``: every ``ScriptsTransferInterval`` units from the service's start, as a
  :class:`~emulator.runtime.timers.Periodic` schedule (each due time fires once, however the loop wakes).
* ``Days``: every ``ScriptsTransferInterval`` days, at a **random moment inside** ``ScriptsTransferTimeRange``
  (``hh[:mm[:ss]]`` or ``hh[:mm[:ss]] - hh[:mm[:ss]]``) in the unit's local time (``Hoc.StaticTimeZone`` on the
  unit's clock). A range whose end is before its start crosses midnight. An empty range is the whole day (an
  emulator choice: the vendor documents no default). The obsolete ``ScriptsTransferTimeOfDay`` is ignored.
  :func:`daily_due` gives the next moment and its local day; the day after a fired one is that day plus the
  interval, so a day never fires twice, and a unit that slept past its moment fires once, late.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable

__all__ = ["DAY", "UNIT_SECONDS", "daily_due", "parse_time_range"]

DAY = 86400
UNIT_SECONDS = {"Minutes": 60, "Hours": 3600, "Days": DAY}
_TIME = r"(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?"
_RANGE = re.compile(rf"^\s*{_TIME}\s*(?:-\s*{_TIME}\s*)?$")


def _seconds(h: str, m: str | None, s: str | None) -> int:
    hh, mm, ss = int(h), int(m or 0), int(s or 0)
    if hh > 23 or mm > 59 or ss > 59:
        raise ValueError(f"{h}:{m or '00'}:{s or '00'} is not a time of day")
    return hh * 3600 + mm * 60 + ss


def parse_time_range(text: str) -> tuple[int, int]:
    """``(start, end)`` in seconds after local midnight; ``end`` above a day when the range crosses midnight.
    ValueError for text that is not ``hh[:mm[:ss]][ - hh[:mm[:ss]]]``."""
    if not text.strip():
        return 0, DAY - 1
    m = _RANGE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not hh[:mm[:ss]] or hh[:mm[:ss]] - hh[:mm[:ss]]")
    g = m.groups()
    start = _seconds(g[0], g[1], g[2])
    end = _seconds(g[3], g[4], g[5]) if g[3] is not None else start
    if end < start:
        end += DAY
    return start, end


def daily_due(now: float, *, days: int, window: tuple[int, int], utcoffset: Callable[[float], int],
              rnd: random.Random, last_day: int | None = None) -> tuple[float, int]:
    """The next transfer moment (UTC seconds) and its local day number (days since 1970-01-01 local).

    ``utcoffset(utc)`` is the unit's zone offset in seconds; ``last_day`` the local day that fired last (None: the
    schedule starts, and today's window counts if it is not over)."""
    local_now = now + utcoffset(now)
    today = math.floor(local_now / DAY)
    day = today if last_day is None else max(last_day + days, today)
    while True:
        start, end = day * DAY + window[0], day * DAY + window[1]
        if end >= local_now:
            lo = max(start, local_now)
            local_due = rnd.uniform(lo, end) if end > lo else lo
            # Local -> UTC with the offset in force then (one correction step covers a DST change in between).
            guess = local_due - utcoffset(now)
            return local_due - utcoffset(guess), day
        day += 1 if last_day is None else days

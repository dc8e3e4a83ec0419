"""A big lab's log stays readable: per-unit events become counts, per-unit detail is at debug.

Every unit logs the same things as it starts (its faces listening, its SNTP attempt, the same capability
warning...): a thousand units would print thousands of lines. Once a lab has more than
:data:`PER_UNIT_THRESHOLD` units, an event of a unit (one with a ``unit`` field) at info or warning level is
counted instead of printed, and :meth:`UnitDetail.flush` prints one ``unit_events`` line per kind of event
(how many, the first unit's name) after the lab is ready and then every :data:`FLUSH_EVERY_S` seconds.
Errors are always printed whole; ``--log-level debug`` prints every event of every unit.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import structlog

__all__ = ["DETAIL", "FLUSH_EVERY_S", "PER_UNIT_THRESHOLD", "UnitDetail"]

PER_UNIT_THRESHOLD = 20
FLUSH_EVERY_S = 30.0
_COUNTED = frozenset({"info", "warning"})


@dataclass
class UnitDetail:
    """A structlog processor (put before the renderer) and the counts it keeps."""

    units: int = 0  # units in the lab (every worker of it): above the threshold, per-unit events are counted
    threshold: int = PER_UNIT_THRESHOLD
    verbose: bool = False  # --log-level debug: print everything
    counts: dict[tuple[str, str], list[Any]] = field(default_factory=dict)  # (level, event) -> [n, first unit]

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if self.verbose or self.units <= self.threshold or "unit" not in event_dict:
            return event_dict
        level = str(event_dict.get("level", method))
        if level not in _COUNTED:
            return event_dict
        key = (level, str(event_dict.get("event")))
        seen = self.counts.get(key)
        if seen is None:
            self.counts[key] = [1, event_dict["unit"]]
        else:
            seen[0] += 1
        raise structlog.DropEvent

    def flush(self, log: Any) -> None:
        counts, self.counts = self.counts, {}
        for (level, event), (n, first) in sorted(counts.items()):
            getattr(log, level)("unit_events", of=event, count=n, first_unit=first, detail="--log-level debug")


DETAIL = UnitDetail()  # the process's (logging is configured once per process, at the edge)

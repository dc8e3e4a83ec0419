"""Per-unit clock: real time plus an offset, so a lab can skew one unit without touching others."""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["UnitClock"]


@dataclass(slots=True)
class UnitClock:
    offset: float = 0.0  # seconds added to the host's clock
    boot_monotonic: float = 0.0
    synchronized: bool = False  # set by the SNTP client once it has a time

    def __post_init__(self) -> None:
        if not self.boot_monotonic:
            self.boot_monotonic = time.monotonic()

    def now(self) -> float:
        """Unit's UTC time, seconds since the epoch."""
        return time.time() + self.offset

    def uptime(self) -> float:
        return time.monotonic() - self.boot_monotonic

    def set_time(self, utc_epoch: float) -> None:
        self.offset = utc_epoch - time.time()

    def skew(self, seconds: float) -> None:
        self.offset += seconds

"""A bad network on a stream's way out (lab knob, emulator addition): loss, jitter, reordering, duplication (pure).

:class:`Impairment` decides, packet by packet, what happens to what a stream sends: :meth:`Impairment.fate` gives
the delays (seconds) after which copies of the packet leave — ``()`` drops it, ``(0.0,)`` sends it at once,
two entries duplicate it. The knobs are what a receiver should then measure, so trainees can check a unit's
statistics against them:

* ``loss_percent`` — exactly that share of packets is dropped, one at a random place in each run of
  round(100 / loss) packets (a receiver's loss counters then read the knob within a packet, not within the spread
  of a Bernoulli draw);
* ``jitter_ms`` — each packet is delayed by a uniform random 0..2.77 × jitter_ms: the RFC 3550 interarrival
  jitter (A.8) a receiver computes over such a stream, reordering included, is then jitter_ms (calibrated by
  simulation: ``tests/unit/test_media_quality.py``);
* ``reorder_percent`` — that share of packets is held back one packet period (sent after the next one);
* ``duplicate_percent`` — that share of packets is sent twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JITTER_SPREAD", "Impairment", "ImpairmentError", "parse_impairment"]

JITTER_SPREAD = 2.77  # uniform delay over [0, 2.77 J] -> RFC 3550 jitter J at 20-30 ms packet intervals
_KEYS = ("loss_percent", "jitter_ms", "reorder_percent", "duplicate_percent")


class ImpairmentError(ValueError):
    """Knobs out of range; nothing changed."""


@dataclass(slots=True)
class Impairment:
    loss_percent: float = 0.0  # 0..50
    jitter_ms: float = 0.0  # the RFC 3550 jitter a receiver should see, 0..1000
    reorder_percent: float = 0.0  # 0..50
    duplicate_percent: float = 0.0  # 0..50
    period: float = 0.02  # the stream's packet interval (reordering holds a packet this long)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _block: int = field(default=0, repr=False, compare=False)
    _pos: int = field(default=0, repr=False, compare=False)
    _drop_at: int = field(default=-1, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return any((self.loss_percent, self.jitter_ms, self.reorder_percent, self.duplicate_percent))

    def to_json(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in _KEYS}

    def _lost(self) -> bool:
        if self.loss_percent <= 0:
            return False
        if self._pos == 0:
            self._block = max(1, round(100.0 / self.loss_percent))
            self._drop_at = self.rng.randrange(self._block)
        lost = self._pos == self._drop_at
        self._pos = (self._pos + 1) % self._block
        return lost

    def fate(self) -> tuple[float, ...]:
        """The delays after which copies of the next packet leave (``()``: dropped)."""
        if self._lost():
            return ()
        r = self.rng
        delay = r.uniform(0.0, JITTER_SPREAD * self.jitter_ms / 1000.0) if self.jitter_ms > 0 else 0.0
        if self.reorder_percent > 0 and r.random() * 100.0 < self.reorder_percent:
            delay += self.period * 1.5
        if self.duplicate_percent > 0 and r.random() * 100.0 < self.duplicate_percent:
            return (delay, delay + 0.001)
        return (delay,)


def parse_impairment(value: Any, current: Impairment | None = None) -> Impairment | None:
    """``{"loss_percent": 5, "jitter_ms": 40, ...}`` (missing keys keep `current`'s value; null or all zero: none)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ImpairmentError(f"impair: an object with {', '.join(_KEYS)}, got {value!r}")
    unknown = set(value) - set(_KEYS)
    if unknown:
        raise ImpairmentError(f"impair: unknown field(s) {', '.join(sorted(unknown))} ({', '.join(_KEYS)})")
    out: dict[str, float] = {k: getattr(current, k) if current is not None else 0.0 for k in _KEYS}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ImpairmentError(f"impair.{k}: a number is needed, got {v!r}")
        hi = 1000.0 if k == "jitter_ms" else 50.0
        if not 0 <= v <= hi:
            raise ImpairmentError(f"impair.{k}: {v:g} is outside 0..{hi:g}")
        out[k] = float(v)
    imp = Impairment(out["loss_percent"], out["jitter_ms"], out["reorder_percent"], out["duplicate_percent"])
    return imp if imp.active else None

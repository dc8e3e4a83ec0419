"""What a unit keeps of its ended calls: a compact summary each, within a byte budget per unit.

A whole ended :class:`~emulator.engines.sipep.call.Call` holds its dialog, transactions, messages and media
stream (about 40 KB of Python objects); kept for each of the last 50 calls of every unit, a lab running for
hours grew by that much per call. So the call layer keeps an ended call whole for :data:`KEEP_WHOLE_S`
(a retransmitted 2xx is still acknowledged, RFC 6026 §8.4, and the faces still read its stream), then
swaps it for an :class:`EndedCall`: the row the faces list, with the stream's last figures, about 1 KB.
A unit keeps its newest summaries within :data:`HISTORY_BYTES` and a count. The budget is an emulator
choice (the DGW keeps no call history the faces could read); it is measured with ``sys.getsizeof`` over
the summary's containers and values, an estimate of what the summary holds, not of allocator overhead.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["HISTORY_BYTES", "KEEP_WHOLE_S", "CallHistory", "EndedCall", "size_of"]

#: seconds an ended call stays whole before it is summarised (at least 64*T1, the RFC 6026 wait)
KEEP_WHOLE_S = 32.0
#: bytes of summaries a unit keeps (about 50 calls)
HISTORY_BYTES = 64 * 1024


def size_of(value: Any) -> int:
    """Bytes of ``value`` and what its dicts, lists and tuples hold (strings and numbers counted whole)."""
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(size_of(k) + size_of(v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        size += sum(size_of(v) for v in value)
    return size


@dataclass(frozen=True, slots=True)
class EndedCall:
    """An ended call as the faces list it (``row``: :meth:`Call.row` and the stream's last figures)."""

    row: dict[str, Any]
    nbytes: int

    @classmethod
    def of(cls, row: dict[str, Any]) -> EndedCall:
        return cls(row, size_of(row) + sys.getsizeof(object()) * 3)

    @property
    def id(self) -> int:
        return int(self.row["id"])


class CallHistory:
    """The summaries of one unit's ended calls, oldest first, within ``budget`` bytes and ``keep`` calls
    (the newest one is always kept)."""

    def __init__(self, budget: int = HISTORY_BYTES, keep: int = 50) -> None:
        self.budget = budget
        self.keep = keep
        self.nbytes = 0
        self._calls: deque[EndedCall] = deque()

    def add(self, call: EndedCall) -> None:
        self._calls.append(call)
        self.nbytes += call.nbytes
        while len(self._calls) > 1 and (self.nbytes > self.budget or len(self._calls) > self.keep):
            self.nbytes -= self._calls.popleft().nbytes

    def __iter__(self) -> Iterator[EndedCall]:
        return iter(self._calls)

    def __len__(self) -> int:
        return len(self._calls)

    def clear(self) -> None:
        self._calls.clear()
        self.nbytes = 0

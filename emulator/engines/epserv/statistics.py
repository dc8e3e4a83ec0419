"""``EpServ.CallStatistics``: each line's call counters, fed from its calls' state changes (pure: the caller
passes the call's id, direction, state and end reason, and the time).

Emulator choices (the MIB's words leave them open): an incoming call is *received* when it starts ringing and
*answered* when the line answers it; an outgoing call is *attempted* when its INVITE (or local call) starts and
*answered* when the far end answers; a call is *connected* once it reaches the connected state (the media
agreed), *failed* when it ends without having been connected, and *dropped* when a connected call ends
otherwise than by a hang-up of either side (no ACK, a session-timer expiry, a media failure, a service stop).
``TotalCallTime`` is the seconds spent connected, summed when calls end. The ``Reset`` command zeroes a line's
counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["COLUMNS", "CallStatistics", "LineCounters"]

COLUMNS = ("IncomingCallsReceived", "IncomingCallsAnswered", "IncomingCallsConnected", "IncomingCallsFailed",
           "OutgoingCallsAttempted", "OutgoingCallsAnswered", "OutgoingCallsConnected", "OutgoingCallsFailed",
           "CallsDropped", "TotalCallTime")
_HANG_UPS = ("local hangup", "remote hangup")


@dataclass
class LineCounters:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))


@dataclass
class _Seen:
    direction: str
    connected_at: float | None = None
    ended: bool = False


class CallStatistics:
    """Counters of every line (see the module docstring)."""

    def __init__(self) -> None:
        self.lines: dict[str, LineCounters] = {}
        self._calls: dict[int, _Seen] = {}
        self._time: dict[str, float] = {}

    def _bump(self, endpoint: str, column: str, by: int = 1) -> None:
        self.lines.setdefault(endpoint, LineCounters()).counts[column] += by

    def observe(self, call_id: int, endpoint: str, direction: str, state: str, reason: str, now: float) -> bool:
        """A call changed; True when a counter moved."""
        side = "Incoming" if direction == "incoming" else "Outgoing"
        seen = self._calls.get(call_id)
        moved = False
        if seen is None:
            seen = self._calls[call_id] = _Seen(direction)
            self._bump(endpoint, "IncomingCallsReceived" if side == "Incoming" else "OutgoingCallsAttempted")
            moved = True
        if seen.ended:
            return moved
        if state == "connected" and seen.connected_at is None:
            seen.connected_at = now
            self._bump(endpoint, f"{side}CallsAnswered")
            self._bump(endpoint, f"{side}CallsConnected")
            moved = True
        elif state == "ended":
            seen.ended = True
            if seen.connected_at is None:
                self._bump(endpoint, f"{side}CallsFailed")
            else:
                self._time[endpoint] = self._time.get(endpoint, 0.0) + (now - seen.connected_at)
                self.lines[endpoint].counts["TotalCallTime"] = int(self._time[endpoint])
                if reason not in _HANG_UPS and not reason.startswith("hangup"):
                    self._bump(endpoint, "CallsDropped")
            self._calls.pop(call_id, None)
            moved = True
        return moved

    def reset(self, endpoint: str) -> None:
        self.lines[endpoint] = LineCounters()
        self._time[endpoint] = 0.0

    def row(self, endpoint: str) -> dict[str, int]:
        return dict(self.lines.get(endpoint, LineCounters()).counts)

"""What each line (endpoint) of the SipEp service has done since the process started or its counters were reset:
the call counters of TR-104 ``Line.{i}.Stats`` and the line's call state (``Line.{i}.CallState``), kept by
listening to the call layer (:attr:`CallManager.listeners`), never by reaching into it.

A call counts once as received (incoming) or attempted (outgoing) when it is first seen, as answered and connected
when it first reaches ``connected``, as failed when it ends without having been connected, and as dropped when a
connected call ends other than by a hangup on either side or a transfer ("no ACK", a media refusal, the service
stopping...). ``TotalCallTime`` is the seconds connected calls lasted, counted when they end.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.calls import CallManager

__all__ = ["LineStats"]

_NORMAL_ENDS = frozenset({"local hangup", "remote hangup", "transferred"})
_CALL_STATE = {
    CallState.INCOMING: "Ringing", CallState.RINGING: "Ringing", CallState.DIALING: "Calling",
    CallState.PROCEEDING: "Calling", CallState.ALERTING: "Calling", CallState.CONNECTED: "InCall",
}


class LineStats:
    """The lines of one unit's calls (a :class:`~emulator.protocols.cwmp.voice.LineRuntime`)."""

    def __init__(self, calls: CallManager, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._calls = calls
        self._now = monotonic
        self._counts: dict[str, Counter[str]] = {}
        self._time: dict[str, float] = {}
        self._connected_at: dict[int, float | None] = {}  # calls seen and not ended: id -> when connected
        calls.listeners.append(self.on_call)

    def on_call(self, call: Call) -> None:
        ep = call.endpoint
        counts = self._counts.setdefault(ep, Counter())
        incoming = call.direction == "incoming"
        if call.id not in self._connected_at:  # first seen (a call refused at once is first seen ended)
            self._connected_at[call.id] = None
            counts["IncomingCallsReceived" if incoming else "OutgoingCallsAttempted"] += 1
        if call.state is CallState.CONNECTED and self._connected_at[call.id] is None:
            self._connected_at[call.id] = self._now()
            side = "Incoming" if incoming else "Outgoing"
            counts[f"{side}CallsAnswered"] += 1
            counts[f"{side}CallsConnected"] += 1
        if call.state is CallState.ENDED:
            connected = self._connected_at.pop(call.id)
            if connected is None:
                counts["IncomingCallsFailed" if incoming else "OutgoingCallsFailed"] += 1
                return
            self._time[ep] = self._time.get(ep, 0.0) + self._now() - connected
            if call.end_reason not in _NORMAL_ENDS:
                counts["CallsDropped"] += 1

    # ------------------------------------------------------------------ LineRuntime
    def call_state(self, endpoint: str) -> str:
        call = self._calls.current(endpoint)
        if call is None:
            return "Idle"
        if call.state is CallState.CONNECTED and call.local_hold:
            return "Hold"
        return _CALL_STATE.get(call.state, "Idle")

    def stats(self, endpoint: str) -> Mapping[str, int]:
        return {**self._counts.get(endpoint, {}), "TotalCallTime": int(self._time.get(endpoint, 0.0))}

    def reset_stats(self, endpoint: str) -> None:
        self._counts.pop(endpoint, None)
        self._time.pop(endpoint, None)

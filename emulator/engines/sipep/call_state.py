"""The life cycle of a call as a state table (h11's ``_state.py`` shape): pure, no I/O, no time.

A call is in one :class:`CallState`; an :class:`CallEvent` moves it to the state the table says, and an
event the table does not allow in the current state raises :class:`IllegalTransition` (it is never applied
silently). The string values are what the faces show (``/api/v1/calls``, the CLI's ``calls``).

Outgoing call (we sent the INVITE, RFC 3261 §13.2)::

    dialing --PROCEEDING (1xx other than 180/183)--> proceeding
    dialing | proceeding | alerting --ALERTING (180 Ringing, 183 Session Progress)--> alerting
    alerting --PROCEEDING--> alerting          (a 100 after a 180 changes nothing)
    proceeding --PROCEEDING--> proceeding
    dialing | proceeding | alerting --RETRY (a new INVITE, e.g. the plain offer of SecureWithFallback)--> dialing
    dialing | proceeding | alerting --ANSWERED (2xx, ACK sent)--> connected

Incoming call (we received the INVITE, §13.3)::

    incoming --RING (180 sent)--> ringing
    ringing --ACCEPT (200 sent: the user answered)--> connected

Either::

    any state but ended --END (BYE sent or received, CANCEL, refusal, failure, no ACK)--> ended

Hold and resume (re-INVITE, RFC 3264 §8.4) leave a connected call connected: the faces show "held"
from the hold flags, not from this table.
"""

from __future__ import annotations

import enum

__all__ = ["TRANSITIONS", "CallEvent", "CallState", "IllegalTransition", "transition"]


class CallState(enum.StrEnum):
    INCOMING = "incoming"  # an INVITE arrived; not ringing yet (the offer is being checked)
    DIALING = "dialing"
    PROCEEDING = "proceeding"
    ALERTING = "alerting"
    RINGING = "ringing"
    CONNECTED = "connected"
    ENDED = "ended"


class CallEvent(enum.Enum):
    PROCEEDING = "a provisional response other than 180/183"
    ALERTING = "180 Ringing or 183 Session Progress"
    RETRY = "a new INVITE for the same call"
    ANSWERED = "a 2xx to our INVITE"
    RING = "our 180 Ringing"
    ACCEPT = "our 200 OK to the INVITE"
    END = "the end of the call"


_S, _E = CallState, CallEvent
_CALLING = (_S.DIALING, _S.PROCEEDING, _S.ALERTING)

TRANSITIONS: dict[tuple[CallState, CallEvent], CallState] = {
    (_S.DIALING, _E.PROCEEDING): _S.PROCEEDING,
    (_S.PROCEEDING, _E.PROCEEDING): _S.PROCEEDING,
    (_S.ALERTING, _E.PROCEEDING): _S.ALERTING,
    **{(s, _E.ALERTING): _S.ALERTING for s in _CALLING},
    **{(s, _E.RETRY): _S.DIALING for s in _CALLING},
    **{(s, _E.ANSWERED): _S.CONNECTED for s in _CALLING},
    (_S.INCOMING, _E.RING): _S.RINGING,
    (_S.RINGING, _E.ACCEPT): _S.CONNECTED,
    **{(s, _E.END): _S.ENDED for s in CallState if s is not _S.ENDED},
}


class IllegalTransition(Exception):
    """An event the call's state does not allow (a bug in the call layer, never a peer's doing)."""

    def __init__(self, state: CallState, event: CallEvent) -> None:
        super().__init__(f"{event.name} ({event.value}) is not allowed in state {state.value}")
        self.state = state
        self.event = event


def transition(state: CallState, event: CallEvent) -> CallState:
    """The state ``event`` leads to from ``state``; raises :class:`IllegalTransition` when not allowed."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state, event) from None

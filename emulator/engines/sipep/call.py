"""One call of an endpoint: its signalling state (:mod:`call_state`), dialog, transactions and media view.

A :class:`Call` is what the faces list (:meth:`Call.row`) and what the media layer sees through
:class:`~emulator.engines.sipep.offer_answer.CallView` (``id``, ``endpoint``, ``media_port``, ``media``).
Its ``state`` changes only through :meth:`Call.fire` (the transition table refuses an event its state does
not allow).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from emulator.engines.sipep.call_state import CallEvent, CallState, transition
from emulator.engines.sipep.transport import Source
from emulator.protocols.sip.dialog import Dialog
from emulator.protocols.sip.message import Request
from emulator.protocols.sip.target import Target
from emulator.protocols.sip.transaction import ClientInviteTransaction, ServerInviteTransaction

__all__ = ["ALLOW", "Call"]

#: the methods a call answers (the Allow header of INVITE and 200 OK, RFC 3261 §20.5)
ALLOW = ", ".join(sorted({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "REFER", "NOTIFY", "UPDATE", "PRACK"}))


@dataclass(eq=False)
class Call:
    id: int
    endpoint: str
    gateway: str
    direction: str  # outgoing | incoming
    local_uri: str
    remote_uri: str
    call_id: str
    state: CallState = CallState.DIALING  # changed by fire() only
    local_hold: bool = False
    remote_hold: bool = False
    end_reason: str = ""
    status: int | None = None
    dialog: Dialog | None = None
    invite: Request | None = None  # the initial INVITE (ours or theirs)
    server_txn: ServerInviteTransaction | None = None
    client_txn: ClientInviteTransaction | None = None
    source: Source | None = None
    target: Target | None = None  # first hop of out-of-dialog requests
    local_sdp: bytes = b""
    remote_sdp: bytes = b""
    media_port: int = 0
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    last_ack: Request | None = None
    cancel_requested: bool = False
    transfer: str = ""  # blind transfer (RFC 5589) as the transferor sees it: pending, done, failed <status>
    waiting: bool = False  # rang while its line was in another call (call waiting): not the line's focus yet
    conference: bool = False  # mixed with the line's other call in a local three-way conference
    replaces: str = ""  # the Call-ID of the call it replaced (an INVITE with Replaces, RFC 3891)
    flashes: int = 0  # hook-flashes the far end sent by SIP INFO (its flash processing TransmitUsingSignalingProtocol)
    media: Any = None  # the offer/answer hook's own state for this call (offer state, media stream...)
    quality: Any = None  # the media's last StreamReport, taken as the call ended (vq-rtcpxr reports)
    diverted_from: str = ""  # the party first called when the call was diverted (Diversion, History-Info, 3xx)
    diversion_reason: str = ""  # why it left that party (RFC 5806 reason: unconditional, user-busy, no-answer...)

    @property
    def active(self) -> bool:
        return self.state is not CallState.ENDED

    def fire(self, event: CallEvent) -> CallState:
        """Apply ``event`` (:func:`~emulator.engines.sipep.call_state.transition`); the new state."""
        self.state = transition(self.state, event)
        return self.state

    def row(self) -> dict[str, Any]:
        connected = self.state is CallState.CONNECTED
        return {"id": self.id, "endpoint": self.endpoint, "gateway": self.gateway, "direction": self.direction,
                "state": "held" if connected and (self.local_hold or self.remote_hold) else self.state.value,
                "local_hold": self.local_hold, "remote_hold": self.remote_hold, "local": self.local_uri,
                "remote": self.remote_uri, "call_id": self.call_id, "end_reason": self.end_reason,
                "status": self.status, "transfer": self.transfer, "diverted_from": self.diverted_from,
                "diversion_reason": self.diversion_reason, "waiting": self.waiting, "conference": self.conference,
                "flashes": self.flashes}

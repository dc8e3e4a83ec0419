"""Reliable provisional responses and PRACK in a unit's calls (RFC 3262): the asyncio side of
:mod:`emulator.protocols.sip.prack`, per ``SipEp.UacPrackSupport`` and ``SipEp.UasPrackSupport``.

* As caller: our INVITE lists 100rel (Supported, or Require when Required); each reliable 18x (Require: 100rel,
  RSeq) is acknowledged once by a PRACK in its early dialog, with its RAck.
* As callee: a caller that lists 100rel gets our 18x with Require: 100rel and RSeq, sent again at T1, doubling,
  until its PRACK (answered 200; a PRACK that matches nothing gets 481); none after 64*T1: the INVITE is refused
  with 500 and the call ends (§3 says a 5xx; which one is an emulator choice). A caller that requires 100rel from
  a unit that does not support it gets 420 with Unsupported: 100rel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.call_ua import CallUA
from emulator.engines.sipep.transport import Source
from emulator.protocols.sip.dialog import DialogError
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.prack import PrackPolicy, ReliableReceiver, ReliableSender, parse_rack
from emulator.protocols.sip.target import Target

__all__ = ["PrackCalls", "ReliableProvisionals"]


class PrackCalls(Protocol):
    """What PRACK needs of the call layer (:class:`~emulator.engines.sipep.calls.CallManager`)."""

    listeners: list[Callable[[Call], None]]

    def in_dialog(self, request: Request, txn: Any) -> Call | None: ...

    def dialog_target(self, call: Call) -> Target: ...

    def release(self, call: Call, reason: str, status: int | None = None) -> None: ...


class ReliableProvisionals:
    """PRACK for one unit's calls (see the module docstring)."""

    def __init__(self, calls: PrackCalls, ua: CallUA) -> None:
        self.calls = calls
        self.ua = ua
        self._senders: dict[Call, ReliableSender] = {}
        self._receivers: dict[Call, ReliableReceiver] = {}
        self.pracks_sent: dict[Call, list[str]] = {}  # the RAck values of our PRACKs, per call (tests, faces)
        self.on_pracked: Callable[[Call], None] | None = None  # our 200 to a PRACK went out (early media waits)
        calls.listeners.append(self._changed)
        ua.request_handlers["PRACK"] = self.on_prack

    def policy(self) -> PrackPolicy:
        get = self.ua.settings.get
        return PrackPolicy(uac=str(get("SipEp.UacPrackSupport", "Unsupported")),
                           uas=str(get("SipEp.UasPrackSupport", "Unsupported")))

    # ------------------------------------------------------------------ caller
    def invite_headers(self) -> list[tuple[str, str]]:
        return self.policy().invite_headers()

    def provisional(self, call: Call, response: Response) -> None:
        """A provisional response to our INVITE: PRACK it when it is reliable and new (§4)."""
        if call.dialog is None or response.to.tag != call.dialog.remote_tag:
            return
        rack = self._receivers.setdefault(call, ReliableReceiver()).accept(response)
        if rack is None:
            return
        try:
            request = call.dialog.create_request("PRACK", via=self.ua.via(call.gateway),
                                                 headers=[("RAck", str(rack)), *self.ua.ua_headers()])
        except DialogError:
            return
        self.pracks_sent.setdefault(call, []).append(str(rack))
        self.ua.spawn(self.ua.request(request, self.calls.dialog_target(call), call.gateway))

    # ------------------------------------------------------------------ callee
    def refusal(self, request: Request) -> Response | None:
        """The 420 for an INVITE that requires 100rel when the unit's UAS does not support it; else None."""
        status = self.policy().refusal(request)
        if status is None:
            return None
        return make_response(request, status, headers=[("Unsupported", "100rel"), *self.ua.ua_headers()])

    def ringing_headers(self, call: Call, request: Request) -> list[tuple[str, str]]:
        """Require and RSeq for our 18x when the caller gets them reliably (start with :meth:`sent`)."""
        if not self.policy().reliable(request):
            return []
        sender = self._senders.get(call)
        if sender is None:
            sender = self._senders[call] = ReliableSender(request, self.ua.timers.t1)
        return sender.headers()

    def sent(self, call: Call, response: Response) -> None:
        """Our reliable 18x went out: send it again until its PRACK."""
        sender = self._senders.get(call)
        if sender is None or "RSeq" not in response.headers:
            return
        sender.sent(response, asyncio.get_running_loop().time())
        self.ua.spawn(self._retransmit(call, sender))

    async def _retransmit(self, call: Call, sender: ReliableSender) -> None:
        loop = asyncio.get_running_loop()
        while call.active and call.state in (CallState.INCOMING, CallState.RINGING):
            deadline = sender.deadline()
            if deadline is None:
                return
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            if not call.active or call.state not in (CallState.INCOMING, CallState.RINGING):
                return
            again, give_up = sender.due(loop.time())
            if give_up:
                txn, invite = call.server_txn, call.invite
                if txn is not None and invite is not None and txn.can_cancel:
                    tag = call.dialog.local_tag if call.dialog is not None else None
                    self.ua.respond(txn, make_response(invite, 500, "No PRACK", to_tag=tag))
                self.calls.release(call, "no PRACK", 500)
                return
            if again is not None and call.server_txn is not None:
                self.ua.respond(call.server_txn, again)

    def on_prack(self, request: Request, txn: Any, source: Source) -> None:
        call = self.calls.in_dialog(request, txn)
        if call is None:
            return
        sender = self._senders.get(call)
        if sender is None or not sender.prack(parse_rack(request.headers.get("RAck"))):
            self.ua.respond(txn, make_response(request, 481, headers=self.ua.ua_headers()))
            return
        self.ua.respond(txn, make_response(request, 200, headers=self.ua.ua_headers()))
        if self.on_pracked is not None:
            self.on_pracked(call)

    def unacknowledged(self, call: Call) -> bool:
        """Our reliable provisional of ``call`` still awaits its PRACK."""
        sender = self._senders.get(call)
        return sender is not None and sender.pending

    def _changed(self, call: Call) -> None:
        if call.state in (CallState.INCOMING, CallState.RINGING):
            return
        sender = self._senders.pop(call, None)
        if sender is not None:
            sender.stop()
        if not call.active:
            self._receivers.pop(call, None)
            self.pracks_sent.pop(call, None)

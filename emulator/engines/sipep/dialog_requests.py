"""The requests of an established dialog, both ways: our re-INVITE (hold, resume, a media change) and the peer's
re-INVITE, ACK, BYE and CANCEL, with the dialog they belong to (RFC 3261 §12.2, §14, §15); Timer H's end of a call
never ACKed (§17.2.1). Part of :class:`~emulator.engines.sipep.calls.CallManager`, which it is mixed into: the
attributes and methods declared here are the manager's."""

from __future__ import annotations

from typing import Any

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_list import CallList
from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.call_ua import CallUA
from emulator.engines.sipep.offer_answer import CallError, MediaRefused, OfferAnswer
from emulator.engines.sipep.plain_audio import sdp_direction
from emulator.engines.sipep.session_timers import SessionTimers, TooSmall
from emulator.engines.sipep.transport import Source
from emulator.protocols.sip.dialog import DialogError, new_tag, uas_dialog_id
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.target import Target
from emulator.protocols.sip.transaction import Transaction

__all__ = ["DialogRequests", "record_route"]


def record_route(request: Request) -> list[tuple[str, str]]:
    """§12.1.1: a response that establishes a dialog copies the request's Record-Route values."""
    return [("Record-Route", value) for value in request.headers.get_all("Record-Route")]


class DialogRequests:
    """In-dialog requests of the call manager (see the module docstring)."""

    ua: CallUA
    media: OfferAnswer
    session_timers: SessionTimers
    calls: list[Call]
    _listed: CallList

    # the manager's own (calls.py)
    def dialog_target(self, call: Call) -> Target:
        raise NotImplementedError

    def changed(self, call: Call) -> None:
        raise NotImplementedError

    def _end(self, call: Call, reason: str, status: int | None = None) -> None:
        raise NotImplementedError

    def _contact(self, call: Call) -> tuple[str, str]:
        raise NotImplementedError

    async def bye(self, call: Call, reason: str = "local hangup") -> None:
        raise NotImplementedError

    async def _reinvite(self, call: Call, hold: bool) -> Response | None:
        dialog = call.dialog
        if dialog is None or call.state is not CallState.CONNECTED:
            raise CallError("no connected call")
        sdp = self.media.offer(call, hold)
        request = dialog.create_request("INVITE", via=self.ua.via(call.gateway), body=sdp,
                                        headers=[*self.session_timers.refresh_headers(call),
                                                 ("Content-Type", "application/sdp"), *self.ua.ua_headers()])
        response = await self.ua.request(request, self.dialog_target(call), call.gateway)
        if response is None or not 200 <= response.status < 300:
            self.media.offer_withdrawn(call)  # RFC 3264 §8: a refused re-offer leaves the session as it was
        if response is None:
            return None
        dialog.receive_response(request, response)
        if 200 <= response.status < 300:
            ack = dialog.create_ack(request, via=self.ua.via(call.gateway))
            call.last_ack = ack
            self.ua.send_stateless(ack, self.dialog_target(call))
            call.local_sdp = sdp
            call.remote_sdp = response.body
            call.local_hold = hold
            self.session_timers.answered_as_uac(call, response, initial=False)
            try:
                self.media.answered(call, response.body)
            except MediaRefused as exc:
                await self.bye(call, f"media refused ({exc.status})")
                return response
            except Exception as exc:
                self.ua.log.warning("media_hook_failed", call=call.id, error=repr(exc))
            self.changed(call)
        elif response.status in (408, 481):
            self._end(call, f"{response.status} {response.reason}", response.status)
        return response

    async def renegotiate(self, call: Call) -> int | None:
        """A re-INVITE the media layer asks for (its fax machine's switch to T.38, a fallback after a refusal):
        the offer is the media layer's; its final status, None when nothing answered."""
        response = await self._reinvite(call, call.local_hold)
        return None if response is None else response.status

    def _find_dialog(self, request: Request) -> Call | None:
        ident = uas_dialog_id(request)
        for call in self._listed.of_call_id(ident.call_id):  # a dialog's Call-ID is its call's
            d = call.dialog
            if d is not None and d.call_id == ident.call_id and d.local_tag == ident.local_tag and \
                    d.remote_tag == ident.remote_tag and call.active:
                return call
        return None

    def in_dialog(self, request: Request, txn: Any) -> Call | None:
        """The call whose dialog a mid-call request belongs to, accounted (§12.2.2); None once answered 481
        (no such dialog) or 500 (CSeq out of order)."""
        call = self._find_dialog(request)
        if call is None or call.dialog is None:
            self.ua.respond(txn, make_response(request, 481))
            return None
        try:
            call.dialog.receive_request(request)
        except DialogError as exc:
            self.ua.respond(txn, make_response(request, exc.status_code or 500))
            return None
        return call

    def _on_reinvite(self, request: Request, txn: Any, source: Source) -> None:
        call = self.in_dialog(request, txn)
        if call is None:
            return
        remote_hold = sdp_direction(request.body) in ("sendonly", "inactive") if request.body else call.remote_hold
        try:
            timer_headers = self.session_timers.negotiate(call, request)
        except TooSmall as exc:
            self.ua.respond(txn, self.session_timers.rejection(request, exc))
            return
        try:
            sdp = self.media.answer(call, request.body, call.local_hold) if request.body else \
                self.media.offer(call, call.local_hold)
        except MediaRefused as exc:
            self.ua.respond(txn, make_response(request, exc.status, exc.reason))
            return
        call.remote_hold = remote_hold
        call.remote_sdp = request.body or call.remote_sdp
        call.local_sdp = sdp
        self.ua.respond(txn, make_response(request, 200, headers=[
            *record_route(request), self._contact(call), *timer_headers, ("Content-Type", "application/sdp"),
            *self.ua.ua_headers()], body=sdp))
        self.session_timers.answered_as_uas(call)
        self.changed(call)

    def ack_received(self, ack: Request) -> None:
        call = self._find_dialog(ack)
        if call is not None:
            call.acked.set()

    def _on_bye(self, request: Request, txn: Any, source: Source) -> None:
        call = self._find_dialog(request)
        if call is None:
            self.ua.respond(txn, make_response(request, 481))
            return
        with_dialog = call.dialog
        if with_dialog is not None:
            with_dialog.receive_request(request)
        self.ua.respond(txn, make_response(request, 200, headers=self.ua.ua_headers()))
        self._end(call, "remote hangup")

    def _on_cancel(self, request: Request, txn: Any, source: Source) -> None:
        target = self.ua.find_cancel_target(request)
        if target is None:
            self.ua.respond(txn, make_response(request, 481, to_tag=new_tag()))
            return
        self.ua.respond(txn, make_response(request, 200, to_tag=new_tag()))
        call = next((c for c in self.calls if c.server_txn is target and c.active), None)
        if call is not None and target.can_cancel and call.invite is not None:
            tag = call.dialog.local_tag if call.dialog else new_tag()
            self.ua.respond(target, make_response(call.invite, 487, to_tag=tag))
            self._end(call, "cancelled by the caller", 487)

    def timed_out(self, txn: Transaction, timer: str) -> None:
        """Timer H (no ACK for our final response): the call cannot be completed."""
        if timer == "H":
            for call in self.calls:
                if call.server_txn is txn and call.active:
                    self._end(call, "no ACK", 408)

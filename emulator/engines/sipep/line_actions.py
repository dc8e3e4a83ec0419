"""What a line does with several calls: hook-flash (call waiting, second call, swapping), attended transfer
(REFER with Replaces, RFC 5589 §7, RFC 3891) as transferor and as target, and the local three-way conference.
The decisions are :mod:`~emulator.engines.sipep.line_calls`' (pure); the EpServ settings
:mod:`~emulator.engines.sipep.line_services`'; the SIP messages the call layer's.

* **Attended transfer**, transferor: the line holds A (its other call) and talks with C (its focus); hanging up
  (with ``EpServ`` attended transfer on) or the ``transfer-attended`` action REFERs A with
  ``Refer-To: <C?Replaces=...>`` naming the dialog with C; A's NOTIFY reporting 200 releases the call with A (BYE),
  and C's BYE (the replaced dialog) the call with C. Transferee: :mod:`~emulator.engines.sipep.in_dialog` copies
  the Replaces into its INVITE. Target: an INVITE with Replaces matching a confirmed dialog of ours is answered
  at once on the same line (no ringing: the user is already in that call) and the replaced dialog ended with BYE;
  one matching nothing, an early dialog or an ended one, gets 481 (RFC 3891 §3; emulator choice for early
  dialogs, which the RFC lets a UA replace only when it initiated them).
* **Conference** (``EpServ`` conference on, type ``Local``): the held call is resumed and the line's two calls
  are mixed by the media layer (:class:`LineMedia`, :mod:`emulator.engines.mipt.conference`): each far end hears
  the line and the other far end. When one of them hangs up the other goes on as a plain call; hanging up the
  line ends both. Type ``ConferenceServer`` (``SipEp.DefaultStaticConferenceServerUri``/``GwSpecificConference``)
  is refused (409, not acted on: an emulator choice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.call_ua import CallUA
from emulator.engines.sipep.line_calls import FlashStep, LineCalls, flash_step
from emulator.engines.sipep.line_services import LineServices
from emulator.engines.sipep.offer_answer import CallError, CallView
from emulator.engines.sipep.transport import Source
from emulator.protocols.sip.dialog import new_tag
from emulator.protocols.sip.message import Request, make_response
from emulator.protocols.sip.replaces import Replaces, ReplacesError, refer_to
from emulator.protocols.sip.uri import Uri

__all__ = ["LineActions", "LineMedia", "Manager"]


class LineMedia(Protocol):
    """What the media layer offers a line beyond one call (``CallMedia.lines``, engines/mipt/conference.py)."""

    def line_tone(self, endpoint: str, tone: str | None) -> bool:
        """Play a call progress tone of the unit's country to the line only (the call-waiting tone); None stops."""
        ...

    def conference(self, endpoint: str, calls: Sequence[CallView]) -> None:
        """Mix the line's calls: each far end hears the line and the others."""
        ...

    def conference_ended(self, endpoint: str) -> None: ...

    def tone_playing(self, endpoint: str) -> str | None:
        """The tone the line hears from the unit now (CallWaiting, Dial), None."""
        ...


class Manager(Protocol):
    """What the line's actions need of the call layer (:class:`~emulator.engines.sipep.calls.CallManager`)."""

    calls: list[Call]
    listeners: list[Callable[[Call], None]]
    lines: LineCalls
    services: LineServices
    media: Any

    def changed(self, call: Call) -> None: ...

    def line_calls(self, endpoint: str) -> list[Call]: ...

    async def bye(self, call: Call, reason: str = "local hangup") -> None: ...

    async def hold_call(self, call: Call, hold: bool) -> Call: ...

    def accept(self, call: Call) -> Call: ...

    def ring(self, endpoint: str, request: Request, txn: Any, source: Source, *, to_tag: str | None = None) -> Call: ...

    def dialog_target(self, call: Call) -> Any: ...

    async def cancel_or_bye(self, call: Call) -> None: ...


class LineActions:
    """The line's multi-call services of one unit (see the module docstring)."""

    def __init__(self, manager: Manager, ua: CallUA) -> None:
        self.m = manager
        self.ua = ua
        # told (endpoint, step) after each hook-flash the unit processed: the EpServ dialling plays dial tone and
        # collects the second call's number on FlashStep.SECOND_CALL, and stops on any other step
        self.flash_listeners: list[Callable[[str, FlashStep], None]] = []
        manager.listeners.append(self._changed)

    @property
    def line_media(self) -> LineMedia | None:
        media = getattr(self.m.media, "lines", None)
        return media if media is not None and hasattr(media, "conference") else None

    def _focus(self, endpoint: str) -> Call | None:
        call = self.m.lines.focus(endpoint, self.m.line_calls(endpoint))
        return call if isinstance(call, Call) else None

    def _held(self, endpoint: str) -> Call | None:
        call = self.m.lines.held(endpoint, self.m.line_calls(endpoint))
        return call if isinstance(call, Call) else None

    def _waiting(self, endpoint: str) -> Call | None:
        call = self.m.lines.waiting(endpoint, self.m.line_calls(endpoint))
        return call if isinstance(call, Call) else None

    # ------------------------------------------------------------------ call waiting
    def waiting_started(self, call: Call) -> None:
        """An incoming call rings as a waiting call: the line hears the country's call-waiting tone."""
        lm = self.line_media
        if lm is not None:
            lm.line_tone(call.endpoint, "CallWaiting")

    def waiting_over(self, endpoint: str) -> None:
        if self._waiting(endpoint) is None and self.line_media is not None:
            self.line_media.line_tone(endpoint, None)

    async def answer_waiting(self, endpoint: str) -> Call:
        """Hold the line's call and answer the waiting one (flash, or ``answer`` with a call waiting)."""
        waiting = self._waiting(endpoint)
        focus = self._focus(endpoint)
        if waiting is None:
            raise CallError(f"endpoint {endpoint} has no waiting call")
        if focus is not None and focus.state is CallState.CONNECTED and not focus.local_hold:
            if not self.m.services.hold(endpoint):
                raise CallError(f"endpoint {endpoint}: the hold service is disabled (EpServ)")
            await self.m.hold_call(focus, True)
        self.m.lines.set_focus(waiting)
        self.waiting_over(endpoint)
        return self.m.accept(waiting)

    # ------------------------------------------------------------------ hook-flash
    async def flash(self, endpoint: str) -> Call | None:
        """A hook-flash on the line (:func:`~emulator.engines.sipep.line_calls.flash_step`); the line's focus after."""
        step = flash_step(self.m.lines, endpoint, self.m.line_calls(endpoint), self.m.services)
        try:
            return await self._flash(endpoint, step)
        finally:
            for listener in list(self.flash_listeners):
                listener(endpoint, step)

    def wants_second_call(self, endpoint: str) -> bool:
        """The line held its only call with a flash and may place a second one: it hears dial tone, and the digits
        the user keys are a number to call (``dial``), not DTMF for the held call."""
        mine = self.m.lines.of(endpoint, self.m.line_calls(endpoint))
        return len(mine) == 1 and mine[0].state is CallState.CONNECTED and mine[0].local_hold and \
            self.m.services.second_call(endpoint)

    async def _flash(self, endpoint: str, step: FlashStep) -> Call | None:
        focus, held = self._focus(endpoint), self._held(endpoint)
        if step is FlashStep.TRANSMIT and focus is not None:
            await self.send_flash(focus)
        elif step is FlashStep.ANSWER_WAITING:
            return await self.answer_waiting(endpoint)
        elif step is FlashStep.SWAP and focus is not None and held is not None:
            await self.m.hold_call(focus, True)
            self.m.lines.set_focus(held)
            await self.m.hold_call(held, False)
        elif step is FlashStep.BACK_TO_HELD and focus is not None:
            back = held or focus
            if held is not None:
                await self.m.cancel_or_bye(focus)  # the second call attempt (or call) is dropped
            self.m.lines.set_focus(back)
            self._dial_tone_over(endpoint)
            await self.m.hold_call(back, False)
        elif step is FlashStep.SECOND_CALL and focus is not None:
            await self.m.hold_call(focus, True)  # the line has dial tone: `dial` places the second call
            if self.line_media is not None and focus.local_hold:
                self.line_media.line_tone(endpoint, "Dial")
        return self._focus(endpoint)

    def _dial_tone_over(self, endpoint: str) -> None:
        lm = self.line_media
        if lm is not None and lm.tone_playing(endpoint) == "Dial":
            lm.line_tone(endpoint, None)

    def _changed(self, call: Call) -> None:
        """The second call placed (or the line's calls gone): the dial tone of the flash stops."""
        if (call.direction == "outgoing" and not call.local_hold) or not call.active:
            self._dial_tone_over(call.endpoint)

    async def send_flash(self, call: Call) -> None:
        """TransmitUsingSignalingProtocol: the flash as a SIP INFO to the far end. Body per
        ``SipEp.InteropInfoDtmfRelayFlashEvent``: ``application/dtmf-relay`` ``Signal=16`` (Ev16) or ``Signal=R``
        (EvR), else ``application/hook-flash`` ``signal=hf`` (emulator choice of the default form)."""
        dialog = call.dialog
        if dialog is None:
            raise CallError("no dialog to send the flash in")
        event = str(self.ua.settings.get("SipEp.InteropInfoDtmfRelayFlashEvent", "") or "Disable")
        ctype, body = {"Ev16": ("application/dtmf-relay", "Signal=16\r\nDuration=100\r\n"),
                       "EvR": ("application/dtmf-relay", "Signal=R\r\nDuration=100\r\n")}.get(
            event, ("application/hook-flash", "signal=hf\r\n"))
        request = dialog.create_request("INFO", via=self.ua.via(call.gateway), body=body.encode(),
                                        headers=[("Content-Type", ctype), *self.ua.ua_headers()])
        await self.ua.request(request, self.m.dialog_target(call), call.gateway)

    # ------------------------------------------------------------------ attended transfer, transferor
    def transfer_pair(self, endpoint: str, other: int | None = None) -> tuple[Call, Call]:
        """(the call to REFER, the call it replaces): the line's held call and its focus; with ``other`` (a call
        id of the line), that call is REFERred to the focus."""
        focus = self._focus(endpoint)
        if other is not None:
            held = next((c for c in self.m.line_calls(endpoint) if c.id == other and c.active), None)
            if held is None:
                raise CallError(f"endpoint {endpoint} has no call {other}", 404)
        else:
            held = self._held(endpoint)
        if focus is None or held is None or held is focus:
            raise CallError(f"endpoint {endpoint} needs two calls for an attended transfer")
        for c in (focus, held):
            if c.state is not CallState.CONNECTED or c.dialog is None:
                raise CallError(f"endpoint {endpoint}: call {c.id} is not connected")
        return held, focus

    async def transfer_attended(self, endpoint: str, other: int | None = None) -> Call:
        """REFER the held call to the focus call's far end, with Replaces naming the dialog with it."""
        if not self.m.services.attended_transfer(endpoint):
            raise CallError(f"endpoint {endpoint}: the attended transfer service is disabled (EpServ)")
        transferee, target = self.transfer_pair(endpoint, other)
        d = target.dialog
        assert d is not None
        replaces = Replaces.of_dialog(d.call_id, d.local_tag, d.remote_tag or "")
        uri = d.remote_uri.uri  # the target's address of record: the transferee's INVITE goes through its proxy
        return await self._refer(transferee, refer_to(uri.copy(params={}, headers={}), replaces))

    async def _refer(self, transferee: Call, value: str) -> Call:
        """REFER ``transferee``'s far end to the Refer-To ``value``; its NOTIFY reporting 200 releases the call."""
        dialog = transferee.dialog
        if dialog is None:
            raise CallError(f"call {transferee.id} has no dialog")
        request = dialog.create_request("REFER", via=self.ua.via(transferee.gateway), headers=[
            ("Refer-To", value), ("Referred-By", f"<{transferee.local_uri}>"), *self.ua.ua_headers()])
        transferee.transfer = "pending"
        self.m.changed(transferee)
        response = await self.ua.request(request, self.m.dialog_target(transferee), transferee.gateway)
        if response is not None:
            dialog.receive_response(request, response)
        if response is None or not 200 <= response.status < 300:
            status = response.status if response is not None else 408
            transferee.transfer = f"failed {status}"
            self.m.changed(transferee)
            raise CallError(f"the far end refused the transfer ({status})")
        return transferee

    # ------------------------------------------------------------------ semi-attended (blind) transfer
    def semi_attended_due(self, endpoint: str) -> bool:
        """Hanging up now is a semi-attended transfer: a call held and the second call still ringing (ours)."""
        held, focus = self._held(endpoint), self._focus(endpoint)
        return held is not None and focus is not None and focus.direction == "outgoing" and \
            focus.state in (CallState.DIALING, CallState.PROCEEDING, CallState.ALERTING) and \
            self.m.services.blind_transfer(endpoint)

    async def semi_attended(self, endpoint: str) -> Call | None:
        """The user hung up while the second call rang (``SipEp.BlindTransferMethod``, emulator choices where the
        vendor does not say): SemiAttended and SemiAttendedCancelled cancel the ringing call and REFER the held
        one to the ringing party without Replaces (a blind transfer); SemiAttendedConfirmed, or
        ``InteropWaitConfirmedDialogForBlindTransfer`` Enable, waits for the ringing party to answer (at most
        ``InteropPendingBlindTransferTimeout`` seconds) and then transfers with Replaces; unanswered by then, the
        call is cancelled and the transfer goes blind."""
        held, ringing = self._held(endpoint), self._focus(endpoint)
        if held is None or ringing is None:
            return None
        settings = self.ua.settings
        method = str(settings.get("SipEp.BlindTransferMethod", "") or "SemiAttended")
        wait = method == "SemiAttendedConfirmed" or \
            str(settings.get("SipEp.InteropWaitConfirmedDialogForBlindTransfer", "")) == "Enable"
        target = Uri.parse(ringing.remote_uri)
        if wait:
            timeout = float(settings.get("SipEp.InteropPendingBlindTransferTimeout", 30) or 30)
            ringing.transfer = held.transfer = "pending"
            waits = [asyncio.ensure_future(ringing.acked.wait()), asyncio.ensure_future(ringing.done.wait())]
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            ringing.transfer = ""
            if ringing.state is CallState.CONNECTED and held.active:
                self.m.lines.set_focus(ringing)
                return await self.transfer_attended(endpoint, held.id)
        if ringing.active:
            await self.m.cancel_or_bye(ringing)
        if not held.active:
            return None
        return await self._refer(held, f"<{target.copy(params={}, headers={})}>")

    # ------------------------------------------------------------------ attended transfer, target
    def incoming_replaces(self, request: Request, txn: Any, source: Source, value: str) -> None:
        """An INVITE with Replaces (RFC 3891 §3): answered at once when it names a confirmed dialog of ours
        (that dialog then ended by BYE), else 481 (400 for a malformed header)."""
        try:
            replaces = Replaces.parse(value)
        except ReplacesError as exc:
            self.ua.respond(txn, make_response(request, 400, str(exc), to_tag=new_tag()))
            return
        old = next((c for c in self.m.calls if c.active and c.dialog is not None and
                    replaces.matches(c.dialog.call_id, c.dialog.local_tag, c.dialog.remote_tag)), None)
        if old is None or old.state is not CallState.CONNECTED or replaces.early_only:
            # §3: nothing (confirmed) to replace is 481; a confirmed dialog with early-only is 486
            status = 486 if old is not None and old.state is CallState.CONNECTED else 481
            self.ua.respond(txn, make_response(request, status, to_tag=new_tag()))
            return
        new = self.m.ring(old.endpoint, request, txn, source)
        if not new.active:
            return  # refused before ringing (its offer, its session timer)
        new.replaces = old.call_id
        self.m.lines.set_focus(new)
        self.waiting_over(new.endpoint)
        self.m.accept(new)
        self.ua.spawn(self.m.bye(old, "replaced"))

    # ------------------------------------------------------------------ conference
    async def conference(self, endpoint: str) -> Call:
        """Join the line's held call and its focus in a local three-way conference."""
        if not self.m.services.conference(endpoint):
            raise CallError(f"endpoint {endpoint}: the conference service is disabled (EpServ)")
        if self.m.services.conference_type(endpoint) != "Local":
            raise CallError(f"endpoint {endpoint}: conference type ConferenceServer is not acted on by the emulator")
        held, focus = self.transfer_pair(endpoint)
        lm = self.line_media
        if lm is None:
            raise CallError("the unit's media layer cannot mix calls", 503)
        for c in (focus, held):
            if c.local_hold:
                await self.m.hold_call(c, False)
        for c in (focus, held):
            c.conference = True
            self.m.changed(c)
        lm.conference(endpoint, [focus, held])
        return focus

    def call_ended(self, call: Call) -> None:
        """A call of the line ended: a conference of two calls is over; a waiting call no longer waits."""
        if call.waiting:
            call.waiting = False
            self.waiting_over(call.endpoint)
        if call.conference:
            call.conference = False
            for other in self.m.lines.of(call.endpoint, self.m.line_calls(call.endpoint)):
                if isinstance(other, Call) and other.conference:
                    other.conference = False
                    self.m.lines.set_focus(other)
                    self.m.changed(other)
            if self.line_media is not None:
                self.line_media.conference_ended(call.endpoint)
        self.waiting_over(call.endpoint)

    def in_conference(self, endpoint: str) -> list[Call]:
        mine = self.m.lines.of(endpoint, self.m.line_calls(endpoint))
        return [c for c in mine if isinstance(c, Call) and c.conference]

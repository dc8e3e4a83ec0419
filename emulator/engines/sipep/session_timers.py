"""Session timers of a unit's calls (RFC 4028) and the UPDATE method (RFC 3311): the asyncio side of
:mod:`emulator.protocols.sip.session_timer`.

The call layer (:mod:`~emulator.engines.sipep.calls`) asks this object for the headers of its INVITEs and 2xx
responses and tells it each negotiation's outcome; this object keeps one :class:`SessionClock` per call, arms a
loop timer at its deadline and there either sends the refresh (``SipEp.SessionRefreshRequestMethod``: a re-INVITE
through the call layer, or an UPDATE without a body sent here) or ends the call with a BYE when the far end let
the session expire. UPDATE received in a call (RFC 3311 §5.2) refreshes the session and, with an SDP offer once
the initial offer/answer is complete, changes the media like a re-INVITE; an UPDATE with an offer while ours is
pending gets 491 (§5.2).

A peer that does not allow UPDATE (its Allow lacks it) is refreshed by re-INVITE whatever the setting says: an
emulator choice (the hardware's behaviour is not documented).

``time_scale`` compresses session time for tests, as their fast SIP timers compress RFC 3261's: the wire
values stay the configured ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.call_ua import CallUA
from emulator.engines.sipep.offer_answer import MediaRefused, OfferAnswer
from emulator.engines.sipep.plain_audio import sdp_direction
from emulator.engines.sipep.transport import Source
from emulator.protocols.sip.dialog import DialogError
from emulator.protocols.sip.headers import split_commas
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.session_timer import (
    Negotiated,
    SessionClock,
    SessionTimerPolicy,
    TimerAction,
    TooSmall,
    parse_min_se,
    request_headers,
    uac_result,
    uas_negotiate,
)
from emulator.protocols.sip.target import Target

__all__ = ["SessionTimers", "TimerCalls", "TooSmall"]


class TimerCalls(Protocol):
    """What the session timers need of the call layer (:class:`~emulator.engines.sipep.calls.CallManager`)."""

    media: OfferAnswer
    listeners: list[Callable[[Call], None]]

    def in_dialog(self, request: Request, txn: Any) -> Call | None: ...

    def dialog_target(self, call: Call) -> Target: ...

    def changed(self, call: Call) -> None: ...

    async def bye(self, call: Call, reason: str = "local hangup") -> None: ...

    async def renegotiate(self, call: Call) -> int | None: ...


def _lists(message: Request | Response | None, header: str, tag: str) -> bool:
    if message is None:
        return False
    return any(t.strip().upper() == tag.upper() for v in message.headers.get_all(header) for t in split_commas(v))


class SessionTimers:
    """The session timers of one unit's calls (see the module docstring)."""

    def __init__(self, calls: TimerCalls, ua: CallUA) -> None:
        self.calls = calls
        self.ua = ua
        self.time_scale = 1.0
        self._clocks: dict[Call, SessionClock] = {}
        self._handles: dict[Call, asyncio.TimerHandle] = {}
        self._min_se: dict[Call, int] = {}  # raised by a 422 (§7.1)
        self._peer: dict[Call, Request | Response] = {}  # the far end's INVITE or 2xx: its Allow and Supported
        self._pending_uas: dict[Call, Negotiated | None] = {}  # negotiated, until our 2xx goes out
        calls.listeners.append(self._call_changed)
        ua.request_handlers["UPDATE"] = self.on_update

    # ------------------------------------------------------------------ settings
    def policy(self) -> SessionTimerPolicy:
        get = self.ua.settings.get
        return SessionTimerPolicy(
            enabled=str(get("SipEp.DefaultSessionTimerEnable", "Enable")) == "Enable",
            min_se=int(get("SipEp.DefaultSessionTimerMinimumExpirationDelay", 1800) or 1800),
            max_se=int(get("SipEp.DefaultSessionTimerMaximumExpirationDelay", 3600) or 3600),
            method="UPDATE" if str(get("SipEp.SessionRefreshRequestMethod", "")) == "Update" else "INVITE")

    def state(self, call: Call) -> dict[str, Any] | None:
        """The call's timer as tests and faces read it: interval, who refreshes; None without one."""
        clock = self._clocks.get(call)
        if clock is None:
            return None
        return {"interval": clock.timer.interval, "refresher": "us" if clock.timer.we_refresh else "them"}

    # ------------------------------------------------------------------ headers for the call layer
    def invite_headers(self, call: Call) -> list[tuple[str, str]]:
        """Session-Expires and Min-SE of an initial INVITE (§7.1); nothing when the unit's timer is off."""
        headers = request_headers(self.policy(), min_se=self._min_se.get(call))
        return [("Supported", "timer"), *headers] if headers else []

    def refresh_headers(self, call: Call) -> list[tuple[str, str]]:
        """The headers of a re-INVITE or UPDATE of ours: it refreshes the session, and we stay the refresher
        (§7.4: refresher=uac names the sender of the refresh)."""
        clock = self._clocks.get(call)
        policy = self.policy()
        if clock is None:
            return self.invite_headers(call)
        return [("Supported", "timer"), *request_headers(
            SessionTimerPolicy(True, policy.min_se, policy.max_se, policy.method), interval=clock.timer.interval,
            refresher="uac" if clock.timer.we_refresh else "uas", min_se=self._min_se.get(call))]

    def retry_after_422(self, call: Call, response: Response) -> bool:
        """A 422 to our INVITE: True when a new INVITE asking the far end's Min-SE is worth sending (§7.1)."""
        min_se = parse_min_se(response.headers.get("Min-SE"))
        if min_se is None or min_se <= self._min_se.get(call, 0):
            return False
        self._min_se[call] = min_se
        return True

    def negotiate(self, call: Call, request: Request) -> list[tuple[str, str]]:
        """An INVITE or UPDATE from the far end (initial or refresh): the headers of our 2xx; the clock starts
        when the 2xx is sent (:meth:`answered_as_uas`). Raises :class:`TooSmall` (answer 422)."""
        neg, headers = uas_negotiate(self.policy(), request)
        self._peer[call] = request
        self._pending_uas[call] = neg
        return [("Supported", "timer"), *headers] if neg is not None else headers

    def rejection(self, request: Request, exc: TooSmall) -> Response:
        """The 422 (§9) for a request whose Session-Expires is below our Min-SE."""
        return make_response(request, 422, headers=[("Min-SE", str(exc.min_se)), *self.ua.ua_headers()])

    def answered_as_uas(self, call: Call) -> None:
        """Our 2xx to the far end's INVITE or UPDATE went out: the negotiated timer (if any) runs from now."""
        neg = self._pending_uas.pop(call, None)
        self._set(call, neg)

    def answered_as_uac(self, call: Call, response: Response, *, initial: bool) -> None:
        """The far end's 2xx to our INVITE, re-INVITE or UPDATE (§7.2)."""
        if initial:
            self._peer[call] = response
        asked = bool(self.invite_headers(call)) or call in self._clocks
        self._set(call, uac_result(self.policy(), response, asked))

    # ------------------------------------------------------------------ the clock
    def _now(self) -> float:
        return asyncio.get_running_loop().time() * self.time_scale

    def _set(self, call: Call, neg: Negotiated | None) -> None:
        handle = self._handles.pop(call, None)
        if handle is not None:
            handle.cancel()
        if neg is None or not call.active:
            self._clocks.pop(call, None)
            return
        clock = self._clocks.get(call)
        if clock is None:
            clock = self._clocks[call] = SessionClock(neg, self._now())
        else:
            clock.start(neg, self._now())
        self._arm(call, clock)

    def _arm(self, call: Call, clock: SessionClock) -> None:
        loop = asyncio.get_running_loop()
        self._handles[call] = loop.call_at(clock.deadline() / self.time_scale, self._fire, call)

    def _fire(self, call: Call) -> None:
        self._handles.pop(call, None)
        clock = self._clocks.get(call)
        if clock is None or not call.active:
            return
        action = clock.fire(self._now())
        if action is None:
            self._arm(call, clock)
        elif action is TimerAction.EXPIRE:
            self.ua.log.info("session_expired", call=call.id, interval=clock.timer.interval)
            self._forget(call)
            self.ua.spawn(self.calls.bye(call, "session expired"))
        else:
            clock.start(clock.timer, self._now())  # the next refresh if this one gets no 2xx
            self._arm(call, clock)
            self.ua.spawn(self.refresh(call))

    async def refresh(self, call: Call) -> int | None:
        """Send the session refresh now (re-INVITE or UPDATE per SipEp.SessionRefreshRequestMethod); its status."""
        if call.state is not CallState.CONNECTED:
            return None
        if self.policy().method == "UPDATE" and self.peer_allows(call, "UPDATE"):
            return await self.update(call, sdp=False)
        return await self.calls.renegotiate(call)

    def peer_allows(self, call: Call, method: str) -> bool:
        """Whether the far end's INVITE or 2xx listed ``method`` in Allow (absent Allow: assume it does not)."""
        return _lists(self._peer.get(call), "Allow", method)

    def _call_changed(self, call: Call) -> None:
        if not call.active:
            self._forget(call)

    def _forget(self, call: Call) -> None:
        handle = self._handles.pop(call, None)
        if handle is not None:
            handle.cancel()
        self._clocks.pop(call, None)
        self._min_se.pop(call, None)
        self._peer.pop(call, None)
        self._pending_uas.pop(call, None)

    # ------------------------------------------------------------------ UPDATE (RFC 3311)
    async def update(self, call: Call, *, sdp: bool) -> int | None:
        """Send an UPDATE in the call: a session refresh, with an SDP offer of the current media when ``sdp``
        (RFC 3311 §5.1); its final status, None when nothing answered."""
        dialog = call.dialog
        if dialog is None or not call.active:
            return None
        body = self.calls.media.offer(call, call.local_hold) if sdp else b""
        headers = [*self.refresh_headers(call), *self.ua.ua_headers()]
        if body:
            headers.insert(0, ("Content-Type", "application/sdp"))
        try:
            request = dialog.create_request("UPDATE", via=self.ua.via(call.gateway), headers=headers, body=body)
        except DialogError:
            return None
        response = await self.ua.request(request, self.calls.dialog_target(call), call.gateway)
        if response is None:
            if body:
                self.calls.media.offer_withdrawn(call)
            return None
        if call.dialog is not None:
            call.dialog.receive_response(request, response)
        if 200 <= response.status < 300:
            if body:
                call.local_sdp, call.remote_sdp = body, response.body
                try:
                    self.calls.media.answered(call, response.body)
                except MediaRefused as exc:
                    await self.calls.bye(call, f"media refused ({exc.status})")
                    return response.status
            self.answered_as_uac(call, response, initial=False)
            self.calls.changed(call)
        elif body:
            self.calls.media.offer_withdrawn(call)
        if response.status in (408, 481):
            await self.calls.bye(call, f"{response.status} {response.reason}")
        return response.status

    def on_update(self, request: Request, txn: Any, source: Source) -> None:
        """An UPDATE from the far end (RFC 3311 §5.2): refresh the session timer; an SDP offer changes the media
        (only in a confirmed call here: an early UPDATE with SDP gets 491, an emulator simplification)."""
        call = self.calls.in_dialog(request, txn)
        if call is None:
            return
        try:
            headers = self.negotiate(call, request)
        except TooSmall as exc:
            self.ua.respond(txn, self.rejection(request, exc))
            return
        body = b""
        if request.body:
            if call.state is not CallState.CONNECTED:
                self._pending_uas.pop(call, None)
                self.ua.respond(txn, make_response(request, 491, headers=[("Retry-After", "1")]))
                return
            try:
                body = self.calls.media.answer(call, request.body, call.local_hold)
            except MediaRefused as exc:
                self._pending_uas.pop(call, None)
                self.ua.respond(txn, make_response(request, exc.status, exc.reason))
                return
            call.remote_hold = sdp_direction(request.body) in ("sendonly", "inactive")
            call.remote_sdp, call.local_sdp = request.body, body
            headers = [("Content-Type", "application/sdp"), *headers]
        contact = self.ua.contact_uri(call.gateway, call.dialog.local_uri.uri.user if call.dialog else None)
        self.ua.respond(txn, make_response(request, 200, headers=[
            ("Contact", f"<{contact}>"), *headers, *self.ua.ua_headers()], body=body))
        if call.state is CallState.CONNECTED:
            self.answered_as_uas(call)
        else:
            self._pending_uas.pop(call, None)
        self.calls.changed(call)

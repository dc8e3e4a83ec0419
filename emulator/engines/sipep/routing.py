"""Calls through the call router (CRout): the call layer asks the router (:class:`CallRouter`, the CRout engine)
where each call goes and carries out its decision (:mod:`emulator.protocols.crout.router`).

* **From SIP** (an initial INVITE on gateway ``g``, source ``sip-g``): the call's properties come from the
  Request-URI (called: user name, E.164 when the user part is a number, host, URI, ``phone-context``) and the
  From header (calling: user, E.164, display name, host, URI; ``Privacy``). A line (``fxs-``/``isdn-``...)
  rings; a hunt rings its destinations one after the other — the next when a destination refuses with one of
  the hunt's causes or has not answered within the hunt's timeout (one 180 dialog toward the caller) — or all
  at once (``Simultaneous``: the first line to answer takes the call); a redirect answers 302 Moved
  Temporarily with a Contact at its destination host; a refusal answers the SIP status its cause maps to
  (``SipEp.ErrorMappingCauseToSip``, else RFC 3398) with a ``Reason: Q.850;cause=N`` header (RFC 3326).
* **From a line** (:meth:`dial`, source ``fxs-<EpId>``...): the called properties come from the number dialled
  (or the ``sip:`` URI), the calling ones from the endpoint (``SipEp.UserAgent`` Username, FriendlyName). A
  ``sip-`` destination sends the INVITE through that gateway (to the signaling properties' DestinationHost
  when set), the Request-URI user being the called E.164 (else the SIP user name) after the route's
  transformations; a line of the unit makes a **local call**: the other line rings, no SIP message leaves the
  unit, and the media of both lines are offered and answered to each other as a SIP call's would be; a hunt
  takes its first destination that can take the call, and when that is a SIP one refused with one of the
  hunt's causes (``SipEp.ErrorMappingSipToCause``, else RFC 3398) or not answered within its timeout
  (cancelled), the next one, as a new call of the line (the refused one ends ``hunt: ...``); a refusal ends
  the call at once with the status its cause maps to.

Line refusals, as causes: busy 17 (486), locked 34 "no circuit/channel available" (480 toward SIP, as without
a router); a hunt that rang out its last destination ends with 19 "user alerting, no answer" (480).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_state import CallEvent, CallState
from emulator.engines.sipep.calls import CallManager
from emulator.engines.sipep.offer_answer import CallError, MediaRefused
from emulator.engines.sipep.transport import Source
from emulator.protocols.crout.causes import NO_ANSWER, NO_CHANNEL, NO_ROUTE, USER_BUSY, reason_header
from emulator.protocols.crout.properties import CallProperties, is_e164
from emulator.protocols.crout.router import Decision, HuntPlan, Leg, Redirect, Refusal
from emulator.protocols.crout.table import Signaling
from emulator.protocols.sip.dialog import new_tag
from emulator.protocols.sip.message import Request, make_response
from emulator.protocols.sip.uri import Uri

__all__ = ["CallRouter", "RoutedCalls", "incoming_properties"]


class CallRouter(Protocol):
    """What the call layer asks of the call router (the CRout engine implements it)."""

    def route(self, source: str, properties: CallProperties) -> Decision: ...

    def line_interface(self, endpoint: str) -> str: ...

    def line_endpoint(self, interface: str) -> str | None: ...

    def sip_status(self, cause: int) -> int: ...

    def cause_of(self, status: int) -> int: ...


def _uri_properties(props: CallProperties, side: str, uri: Uri, display: str | None = None) -> None:
    user = uri.user or ""
    props.set(f"{side}SipUsername", user or None)
    props.set(f"{side}E164", user if is_e164(user) else None)
    props.set(f"{side}Host", f"{uri.host}:{uri.port}" if uri.port else uri.host or None)
    props.set(f"{side}Uri", str(uri))
    props.set(f"{side}PhoneContext", uri.params.get("phone-context") or None)
    if display:
        props.set(f"{side}Name", display)


def incoming_properties(request: Request) -> CallProperties:
    """The properties of a call from SIP (see the module docstring)."""
    props = CallProperties()
    _uri_properties(props, "Called", request.uri)
    _uri_properties(props, "Calling", request.from_.uri, request.from_.display_name)
    privacy = (request.headers.get("Privacy") or "").strip().lower()
    if privacy:
        props.set("CallingSipPrivacy", "id" if "id" in privacy else "none" if privacy == "none" else privacy)
    return props


@dataclass(slots=True)
class _Outcome:
    answered: bool
    cause: int = 0
    status: int = 0


def _flatten(plan: HuntPlan) -> list[Decision]:
    """A hunt's destinations in the order they are tried, the hunts inside it spread out."""
    return [d for c in plan.choices for d in (_flatten(c) if isinstance(c, HuntPlan) else [c])]


class RoutedCalls:
    """The call layer's side of routing for one unit (see the module docstring)."""

    def __init__(self, calls: CallManager, router: CallRouter) -> None:
        self.calls = calls
        self.router = router
        self._peers: dict[int, Call] = {}  # local calls: call id -> the other line's call
        self._settled: dict[int, asyncio.Event] = {}  # ringing hunt destinations: set when answered or ended
        self._signaling: dict[int, Signaling] = {}  # the signaling properties of the route each call took
        calls.listeners.append(self._changed)
        calls.routing = self

    def _changed(self, call: Call) -> None:
        if call.state in (CallState.CONNECTED, CallState.ENDED):
            event = self._settled.pop(call.id, None)
            if event is not None:
                event.set()
        if call.state is CallState.ENDED:
            self._signaling.pop(call.id, None)
            peer = self._peers.pop(call.id, None)
            if peer is not None:
                self._peers.pop(peer.id, None)
                if peer.active:
                    self.calls.release(peer, "remote hangup" if call.end_reason == "local hangup" else call.end_reason,
                                       call.status)

    # ------------------------------------------------------------------ from SIP
    def incoming(self, request: Request, txn: Any, source: Source) -> None:
        gateway = self._gateway_of(source)
        decision = self.router.route(f"sip-{gateway}", incoming_properties(request))
        if isinstance(decision, Leg | Refusal | Redirect):
            outcome = self._attempt(decision, request, txn, source, new_tag())
            if not outcome.answered and outcome.status:
                self._refuse(request, txn, outcome)
            return
        self._spawn(self._hunt_incoming(decision, request, txn, source))

    def _gateway_of(self, source: Source) -> str:
        """The gateway an INVITE came in on: the one listening on its local port (else the first gateway)."""
        for name, gw in self.calls.ua.gateways.items():
            if source.local_port in gw.ports.values():
                return name
        return next(iter(self.calls.ua.gateways), "default")

    def _attempt(self, decision: Leg | Refusal | Redirect, request: Request, txn: Any, source: Source,
                 tag: str) -> _Outcome:
        """Ring a line, redirect, or give the refusal: a ringing call is an outcome without a status."""
        if isinstance(decision, Refusal):
            return _Outcome(False, decision.cause, self.router.sip_status(decision.cause))
        if isinstance(decision, Redirect):
            props = decision.properties
            user = props.get("CalledE164") or props.get("CalledSipUsername") or ""
            contact = f"<sip:{user}@{decision.host}>" if user else f"<sip:{decision.host}>"
            self.calls.ua.respond(txn, make_response(request, 302, to_tag=tag, headers=[("Contact", contact)]))
            return _Outcome(True)
        endpoint = self.router.line_endpoint(decision.interface)
        if endpoint is None:  # SIP to SIP: the router never chooses it; a leg to nowhere is refused as unrouted
            return _Outcome(False, NO_ROUTE, self.router.sip_status(NO_ROUTE))
        if self.calls.forwarding.intercept(endpoint, request, txn, tag) is not None:
            return _Outcome(True)  # forwarded (302): unconditionally, or on busy
        refused = self.calls.ring_refusal(endpoint)
        if refused is not None:
            cause = USER_BUSY if refused == 486 else NO_CHANNEL
            return _Outcome(False, cause, refused if refused == 480 else self.router.sip_status(cause))
        call = self.calls.ring(endpoint, request, txn, source, to_tag=tag)
        if decision.signaling is not None and call.active:
            self._signaling[call.id] = decision.signaling
        if not call.active:  # its offer was refused and answered already
            return _Outcome(True)
        return _Outcome(False)

    def _refuse(self, request: Request, txn: Any, outcome: _Outcome) -> None:
        if txn.can_cancel:
            self.calls.ua.respond(txn, make_response(request, outcome.status, to_tag=new_tag(),
                                                     headers=[reason_header(outcome.cause)]))

    async def _hunt_incoming(self, plan: HuntPlan, request: Request, txn: Any, source: Source) -> None:
        outcome = await self._run_hunt(plan, request, txn, source, new_tag())
        if not outcome.answered and outcome.status:
            self._refuse(request, txn, outcome)

    async def _run_hunt(self, plan: HuntPlan, request: Request, txn: Any, source: Source, tag: str) -> _Outcome:
        if plan.simultaneous:
            return await self._ring_all(plan, request, txn, source, tag)
        last = _Outcome(False, NO_ROUTE, self.router.sip_status(NO_ROUTE))
        for choice in plan.choices:
            if not txn.can_cancel:  # answered, cancelled or refused meanwhile
                return _Outcome(True)
            if isinstance(choice, HuntPlan):
                outcome = await self._run_hunt(choice, request, txn, source, tag)
            else:
                outcome = self._attempt(choice, request, txn, source, tag)
                if not outcome.answered and not outcome.status:
                    outcome = await self._await_answer(request, plan.timeout, txn)
            if outcome.answered:
                return outcome
            last = outcome
            if outcome.cause != NO_ANSWER and outcome.cause not in plan.causes:
                break
        return last

    def _ringing(self, request: Request) -> list[Call]:
        return [c for c in self.calls.calls if c.invite is request and c.state is CallState.RINGING]

    async def _await_answer(self, request: Request, timeout: float, txn: Any) -> _Outcome:
        """Wait for the line ringing for ``request``: answered, ended (the caller gave up), or no answer."""
        ringing = self._ringing(request)
        if not ringing:
            return _Outcome(True)
        call = ringing[0]
        event = self._settled.setdefault(call.id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout if timeout > 0 else None)
        except TimeoutError:
            self.calls.release(call, "hunt: no answer")
            return _Outcome(False, NO_ANSWER, self.router.sip_status(NO_ANSWER))
        if call.state is CallState.CONNECTED or not txn.can_cancel:
            return _Outcome(True)
        return _Outcome(False, USER_BUSY, self.router.sip_status(USER_BUSY))

    async def _ring_all(self, plan: HuntPlan, request: Request, txn: Any, source: Source, tag: str) -> _Outcome:
        """``Simultaneous``: every line that can rings; the first to answer has the call, the others stop."""
        last = _Outcome(False, NO_ROUTE, self.router.sip_status(NO_ROUTE))
        for choice in plan.choices:
            if isinstance(choice, Leg):
                outcome = self._attempt(choice, request, txn, source, tag)
                if outcome.status:
                    last = outcome
        ringing = self._ringing(request)
        if not ringing:
            return last
        events = [self._settled.setdefault(c.id, asyncio.Event()) for c in ringing]
        waits = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            while any(c.state is CallState.RINGING for c in ringing) and \
                    not any(c.state is CallState.CONNECTED for c in ringing):
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                waits = [w for w in waits if not w.done()]
        finally:
            for w in waits:
                w.cancel()
        for c in ringing:
            if c.state is CallState.RINGING:
                self.calls.release(c, "answered elsewhere")
        return _Outcome(True)

    # ------------------------------------------------------------------ from a line
    async def dial(self, endpoint: str, number: str) -> Call:
        props = self._outgoing_properties(endpoint, number)
        decision = self.router.route(self.router.line_interface(endpoint), props)
        if isinstance(decision, HuntPlan):
            choices = list(_flatten(decision))
            return self._next_choice(endpoint, number, decision, choices, NO_ROUTE)
        return self._place(endpoint, number, decision)

    def _place(self, endpoint: str, number: str, decision: Decision) -> Call:
        """A line's call to one destination: SIP, another line, or refused at once."""
        if isinstance(decision, Leg):
            if decision.interface.startswith("sip-"):
                return self._sip_leg(endpoint, number, decision)
            peer = self.router.line_endpoint(decision.interface)
            if peer is not None:
                return self._local_call(endpoint, peer, number)
        cause = decision.cause if isinstance(decision, Refusal) else NO_ROUTE
        call = self.calls.new_call(endpoint, "outgoing", self._local_uri(endpoint), number)
        self.calls.release(call, f"refused by the call router (cause {cause})", self.router.sip_status(cause))
        return call

    def _next_choice(self, endpoint: str, number: str, plan: HuntPlan, choices: list[Decision], cause: int) -> Call:
        """An outgoing hunt: the next destination that can take the call; a SIP one is followed (:meth:`_follow`)."""
        while choices:
            choice = choices.pop(0)
            if not self._can_take(choice):
                cause = choice.cause if isinstance(choice, Refusal) else NO_CHANNEL
                if cause in plan.causes:
                    continue
                return self._place(endpoint, number, Refusal(cause, "hunt stopped", plan.trail))
            call = self._place(endpoint, number, choice)
            if isinstance(choice, Leg) and choice.interface.startswith("sip-") and choices:
                self._spawn(self._follow(endpoint, number, plan, choices, call))
            return call
        return self._place(endpoint, number, Refusal(cause, "every destination of the hunt refused", plan.trail))

    async def _follow(self, endpoint: str, number: str, plan: HuntPlan, choices: list[Decision], call: Call) -> None:
        """An outgoing hunt's SIP call: refused with one of the hunt's causes, or not answered within its timeout
        (then cancelled), the call goes on to the next destination, as a new call of the line."""
        event = self._settled.setdefault(call.id, asyncio.Event())
        if call.state not in (CallState.CONNECTED, CallState.ENDED):
            try:
                await asyncio.wait_for(event.wait(), plan.timeout if plan.timeout > 0 else None)
            except TimeoutError:
                self._settled.pop(call.id, None)
                if call.state is CallState.CONNECTED or call.cancel_requested:
                    return
                await self.calls.hangup(endpoint)  # CANCEL: this destination had its time
                call.end_reason = "hunt: no answer"
                self._next_choice(endpoint, number, plan, choices, NO_ANSWER)
                return
        if call.state is CallState.ENDED and not call.cancel_requested and call.status is not None:
            cause = self.router.cause_of(call.status)
            if cause in plan.causes:
                call.end_reason = f"hunt: {call.end_reason} (cause {cause})"
                self._next_choice(endpoint, number, plan, choices, cause)

    def _can_take(self, choice: Decision) -> bool:
        if isinstance(choice, HuntPlan):
            return any(self._can_take(c) for c in choice.choices)
        if not isinstance(choice, Leg):
            return False
        peer = self.router.line_endpoint(choice.interface)
        return peer is None or self.calls.ring_refusal(peer) is None

    def _outgoing_properties(self, endpoint: str, number: str) -> CallProperties:
        props = CallProperties()
        if number.startswith(("sip:", "sips:")):
            _uri_properties(props, "Called", Uri.parse(number))
        else:
            props.set("CalledSipUsername", number)
            props.set("CalledE164", number if is_e164(number) else None)
        user = self.calls.username(endpoint)
        props.set("CallingSipUsername", user)
        props.set("CallingE164", user if is_e164(user) else None)
        name = self.calls.ua.settings.get(f'SipEp.UserAgent.FriendlyName[EpId="{endpoint}"]', "")
        props.set("CallingName", str(name) or None)
        return props

    def _sip_leg(self, endpoint: str, number: str, leg: Leg) -> Call:
        props = leg.properties
        host = leg.signaling.destination_host if leg.signaling else ""
        host = host.replace("<local_ip_port>", self._local_ip_port())
        if number.startswith(("sip:", "sips:")):
            target = props.get("CalledUri") or number
        else:
            target = props.get("CalledE164") or props.get("CalledSipUsername") or number
        gateway = leg.interface[len("sip-"):]
        if gateway not in self.calls.ua.gateways:
            raise CallError(f"gateway {gateway} is not running", 503)
        call = self.calls.invite(endpoint, target, gateway, host)
        if leg.signaling is not None and call.active:
            self._signaling[call.id] = leg.signaling
        return call

    def sip_destination(self, endpoint: str, number: str) -> tuple[str, str] | None:
        """Where ``number`` dialled on ``endpoint`` goes over SIP, as (user, host): the route's called user after its
        transformations, at its signaling properties' destination host or the gateway's domain; None when the route
        is not a SIP one (call forwarding takes its address this way)."""
        decision = self.router.route(self.router.line_interface(endpoint), self._outgoing_properties(endpoint, number))
        if isinstance(decision, HuntPlan):
            decision = next((d for d in _flatten(decision) if isinstance(d, Leg) and d.interface.startswith("sip-")),
                            decision)
        if not isinstance(decision, Leg) or not decision.interface.startswith("sip-"):
            return None
        props = decision.properties
        user = str(props.get("CalledE164") or props.get("CalledSipUsername") or number)
        host = decision.signaling.destination_host if decision.signaling else ""
        host = host.replace("<local_ip_port>", self._local_ip_port())
        gw = self.calls.ua.gateways.get(decision.interface[len("sip-"):])
        return user, host or (gw.domain if gw is not None else self.calls.ua.host)

    def _local_ip_port(self) -> str:
        gw = next(iter(self.calls.ua.gateways.values()), None)
        port = next(iter(gw.ports.values()), 5060) if gw else 5060
        return f"{self.calls.ua.host}:{port}"

    def _local_uri(self, endpoint: str) -> str:
        return f"sip:{self.calls.username(endpoint)}@{self.calls.ua.host}"

    # ------------------------------------------------------------------ local calls (a line to a line)
    def _local_call(self, endpoint: str, peer: str, number: str) -> Call:
        calls = self.calls
        caller = calls.new_call(endpoint, "outgoing", self._local_uri(endpoint), f"sip:{number}@{calls.ua.host}")
        calls.off_hook.add(endpoint)
        refused = calls.ring_refusal(peer)
        if refused is not None:
            calls.release(caller, "rejected" if refused == 486 else f"{refused}", refused)
            return caller
        callee = calls.new_call(peer, "incoming", self._local_uri(peer), self._local_uri(endpoint))
        try:
            caller.local_sdp = calls.media.offer(caller, False)
            callee.remote_sdp = caller.local_sdp
            calls.media.check(callee, caller.local_sdp)
        except MediaRefused as exc:
            calls.release(callee, f"media refused ({exc.status})", exc.status)
            calls.release(caller, f"media refused ({exc.status})", exc.status)
            return caller
        self._peers[caller.id], self._peers[callee.id] = callee, caller
        callee.fire(CallEvent.RING)
        caller.fire(CallEvent.ALERTING)
        calls.changed(callee)
        calls.changed(caller)
        return caller

    def signaling(self, call: Call) -> Signaling | None:
        """The signaling properties of the route ``call`` took (``CRout.SignalingProperties``), for the parts of
        the call layer that follow them (early media, privacy...); None when its route named none."""
        return self._signaling.get(call.id)

    def local_peer(self, call: Call) -> Call | None:
        return self._peers.get(call.id)

    def answer_local(self, call: Call) -> Call:
        caller = self._peers.get(call.id)
        if caller is None or call.state is not CallState.RINGING:
            raise CallError(f"endpoint {call.endpoint} has no ringing call")
        calls = self.calls
        calls.off_hook.add(call.endpoint)
        try:
            call.local_sdp = calls.media.answer(call, caller.local_sdp, False)
            caller.remote_sdp = call.local_sdp
            calls.media.answered(caller, call.local_sdp)
        except MediaRefused as exc:
            calls.release(call, f"media refused ({exc.status})", exc.status)
            return call
        call.fire(CallEvent.ACCEPT)
        caller.fire(CallEvent.ANSWERED)
        calls.changed(call)
        calls.changed(caller)
        return call

    def hangup_local(self, call: Call) -> None:
        if call.state is CallState.CONNECTED:
            self.calls.release(call, "local hangup")
        elif call.direction == "outgoing":
            self.calls.release(call, "cancelled", 487)
        else:
            self.calls.release(call, "rejected", 486)

    # ------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[Any]) -> None:
        self.calls.ua.spawn(coro)

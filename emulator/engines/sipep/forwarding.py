"""Call forwarding (EpServ) and call diversion (``SipEp.DiversionConfig``) in the call layer: the glue of the pure
decisions of :mod:`emulator.protocols.forwarding` and :mod:`emulator.protocols.sip.diversion`.

As the called unit:

* :meth:`Forwarding.intercept` — an incoming INVITE for a line whose unconditional forwarding is on, or whose
  forwarding on busy is on while the line is busy (in a call, or off-hook), is answered **302 Moved Temporarily**
  at once, its Contact the forwarding address; the line does not ring. The call is listed (ended, status 302,
  ``end_reason`` "forwarded (...) to ...").
* :meth:`Forwarding.ringing` — a line ringing with forwarding on no answer on is given the delay; still ringing
  then, the INVITE is answered 302 in the ringing dialog (same To tag) and the line stops ringing.

The forwarding address is taken as a dialled number: a ``sip:``/``sips:``/``tel:`` URI as is, ``user@host`` as
``sip:user@host``, anything else routed as if the line had dialled it (through the call router when the unit has
one: the SIP destination's user after the route's transformations, at the signaling properties' destination
host or the gateway's domain), else ``sip:<address>@<the line's gateway domain>``.

With the gateway's ``SipEp.DiversionConfig`` Method ``DiversionHeader`` the 302 carries a Diversion header
(RFC 5806) naming the line's user at the gateway's domain, with the reason (``unconditional``, ``user-busy``,
``no-answer``) and the counter, before the Diversion headers the INVITE already had; with ``None`` it carries
none. Emulator choice: the DGW's way to forward is not published; the emulator always answers 302 (the one
method the parameters leave room for: no parameter chooses a re-INVITE or a call placed by the unit).

As the calling unit, :meth:`Forwarding.follow` — a 301/302 to our INVITE is followed (RFC 3261 §8.1.3.4): a new
INVITE (same Call-ID and From tag, CSeq + 1) to the first Contact (highest ``q``) carrying the 3xx's Diversion
headers (else the ones we sent), through the same proxy as the first one (or straight to the Contact's host
when the call went straight to a destination host); at most :data:`MAX_REDIRECTS` times, never twice to the
same Contact. The call row then shows ``diverted_from`` (the party first called) and ``diversion_reason``.

As any called unit, :meth:`Forwarding.received` reads the Diversion (or History-Info, RFC 7044) of an INVITE
into the call's ``diverted_from`` and ``diversion_reason`` (the party first called, as ``/api/v1/calls`` shows).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, Protocol

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_state import CallEvent, CallState
from emulator.engines.sipep.call_ua import CallRouting, CallUA
from emulator.protocols.forwarding import ForwardRule, LineForwarding, NoAnswerClock, line_forwarding
from emulator.protocols.sip.diversion import Diversion, original_called, parse_diversion, parse_history_info
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.target import Target
from emulator.protocols.sip.uri import Uri
from firmware_model.config import ConfigError
from firmware_model.settings_cache import settings_cache

__all__ = ["MAX_REDIRECTS", "Forwarding", "ForwardingCalls", "lenient"]

MakeInvite = Callable[[int, list[tuple[str, str]]], Request]
#: redirects a call of ours follows at most (emulator choice)
MAX_REDIRECTS = 3


def lenient(config: Any) -> Callable[[str], Any]:
    """``config.get`` that answers None for a cell with no row (an endpoint without its EpSpecific row)."""
    def get(name: str) -> Any:
        try:
            return config.get(name)
        except ConfigError:
            return None
    return get


class ForwardingCalls(Protocol):
    """What forwarding needs of the call layer (:class:`~emulator.engines.sipep.calls.CallManager`)."""

    off_hook: set[str]
    routing: CallRouting | None
    listeners: list[Callable[[Call], None]]

    def ring_refusal(self, endpoint: str) -> int | None: ...

    def new_call(self, endpoint: str, direction: str, local_uri: str, remote_uri: str) -> Call: ...

    def release(self, call: Call, reason: str, status: int | None = None) -> None: ...

    def username(self, endpoint: str) -> str: ...

    def gateway_of(self, endpoint: str) -> str: ...

    def uri_target(self, uri: Uri) -> Target: ...

    def changed(self, call: Call) -> None: ...

    async def send_authorized(self, call: Call, invite: Request,
                              make_invite: MakeInvite) -> tuple[Request, Response | None]: ...


class Forwarding:
    """Forwarding and diversion for one unit's calls (see the module docstring)."""

    def __init__(self, calls: ForwardingCalls, ua: CallUA) -> None:
        self.calls = calls
        self.ua = ua
        self.clock = NoAnswerClock()
        self._timer: asyncio.TimerHandle | None = None
        self._ringing: dict[Hashable, Call] = {}
        self._get = lenient(ua.settings.config)
        self._settings = settings_cache(ua.settings.config, ("EpServ",))
        calls.listeners.append(self._changed)

    # ------------------------------------------------------------------ parameters

    def line(self, endpoint: str) -> LineForwarding:
        """The forwarding services in force on ``endpoint`` now (live parameters: read once, then kept until an
        EpServ parameter changes; ~16 reads per call otherwise)."""
        return self._settings.get(("forwarding.line", endpoint), lambda: line_forwarding(self._get, endpoint))

    def diversion_on(self, gateway: str) -> bool:
        """``SipEp.DiversionConfig[gateway].Method`` is DiversionHeader."""
        return str(self._get(f'SipEp.DiversionConfig.Method[GatewayName="{gateway}"]')) == "DiversionHeader"

    # ------------------------------------------------------------------ as the called unit
    def intercept(self, endpoint: str, request: Request, txn: Any, tag: str) -> Call | None:
        """Forward an incoming INVITE for ``endpoint`` at once when its services say so (302 sent): the call,
        listed and ended; None when the line is left to ring or refuse it as usual."""
        rule = self.line(endpoint).on_arrival(self.calls.ring_refusal(endpoint) == 486, _diversions(request))
        if rule is None:
            return None
        was_off_hook = endpoint in self.calls.off_hook
        call = self.calls.new_call(endpoint, "incoming", str(request.to.uri), str(request.from_.uri))
        call.invite, call.server_txn = request, txn
        self.received(call, request)
        contact = self._redirect(call, request, txn, tag, rule)
        self.calls.release(call, f"forwarded ({rule.reason}) to {contact}", 302)
        if was_off_hook:  # the line's user is still off-hook (on busy): the forwarded call's end changes nothing
            self.calls.off_hook.add(endpoint)
        return call

    def ringing(self, call: Call) -> None:
        """``call`` (incoming) rings: read its diversion; arm forwarding on no answer when it is on."""
        if call.invite is None:
            return
        self.received(call, call.invite)
        armed = self.line(call.endpoint).no_answer(_diversions(call.invite))
        if armed is None:
            return
        rule, timeout = armed
        loop = asyncio.get_running_loop()
        self._ringing[call.id] = call
        self.clock.ring(call.id, loop.time(), rule, timeout)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.clock.next_deadline()
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(deadline, self._tick)

    def _tick(self) -> None:
        self._timer = None
        for key, rule in self.clock.due(asyncio.get_running_loop().time()):
            call = self._ringing.pop(key, None)
            if call is not None:
                self._no_answer(call, rule)
        self._arm()

    def _no_answer(self, call: Call, rule: ForwardRule) -> None:
        txn, invite = call.server_txn, call.invite
        if call.state is not CallState.RINGING or txn is None or invite is None or not txn.can_cancel:
            return
        tag = call.dialog.local_tag if call.dialog is not None else ""
        contact = self._redirect(call, invite, txn, tag, rule)
        self.calls.release(call, f"forwarded ({rule.reason}) to {contact}", 302)

    def _changed(self, call: Call) -> None:
        if call.id in self._ringing and call.state is not CallState.RINGING:
            self._ringing.pop(call.id, None)
            self.clock.settle(call.id)

    def _redirect(self, call: Call, request: Request, txn: Any, tag: str, rule: ForwardRule) -> str:
        """Answer ``request`` 302 toward the rule's address; the Contact used."""
        contact = self.contact_for(call.endpoint, rule.address)
        headers = [("Contact", f"<{contact}>")]
        if self.diversion_on(call.gateway):
            gw = self.ua.gateways.get(call.gateway)
            domain = gw.domain if gw is not None else self.ua.host
            ours = Diversion(str(Uri("sip", user=self.calls.username(call.endpoint), host=domain)), rule.reason,
                             _diversions(request) + 1)
            headers += [("Diversion", ours.header()), *(("Diversion", v) for v in request.headers.get_all("Diversion"))]
        self.ua.respond(txn, make_response(request, 302, to_tag=tag or None,
                                           headers=[*headers, *self.ua.ua_headers()]))
        self.ua.log.info("call_forwarded", call=call.id, endpoint=call.endpoint, reason=rule.reason, contact=contact)
        return contact

    def contact_for(self, endpoint: str, address: str) -> str:
        """The URI the forwarding ``address`` stands for (see the module docstring)."""
        if address.startswith(("sip:", "sips:", "tel:")):
            return address
        if "@" in address:
            return f"sip:{address}"
        routing = self.calls.routing
        if routing is not None:
            resolved = routing.sip_destination(endpoint, address)
            if resolved is not None:
                user, host = resolved
                return str(Uri("sip", user=user, host=host.split(":")[0], port=_port(host)))
        call_gateway = self.calls.gateway_of(endpoint)
        gw = self.ua.gateways.get(call_gateway)
        return str(Uri("sip", user=address, host=gw.domain if gw is not None else self.ua.host))

    # ------------------------------------------------------------------ as any called unit
    @staticmethod
    def received(call: Call, request: Request) -> None:
        """The diversion ``request`` reports, into the call's row."""
        first = original_called(parse_diversion(request.headers.get_all("Diversion")),
                                parse_history_info(request.headers.get_all("History-Info")))
        if first is not None:
            call.diverted_from, call.diversion_reason = first.uri, first.reason

    # ------------------------------------------------------------------ as the calling unit
    async def follow(self, call: Call, invite: Request, response: Response,
                     make_invite: MakeInvite) -> tuple[Request, Response | None]:
        """Follow a 301/302 to our INVITE (see the module docstring): the last INVITE sent and its response."""
        calls = self.calls
        tried: set[str] = {str(invite.uri)}
        final: Response | None = response
        for _ in range(MAX_REDIRECTS):
            if final is None or final.status not in (301, 302) or not call.active or call.cancel_requested:
                break
            contact = _best_contact(final, tried)
            if contact is None:
                break
            tried.add(str(contact))
            diversions = final.headers.get_all("Diversion") or invite.headers.get_all("Diversion")
            first = original_called(parse_diversion(diversions), [])
            call.diverted_from = first.uri if first is not None else str(invite.to.uri)
            call.diversion_reason = first.reason if first is not None else "unknown"
            call.remote_uri = str(contact)
            make_invite = _retargeted(make_invite, contact, diversions)
            if call.target is not None and not invite.headers.get_all("Route") and \
                    call.target != self._proxy_hop(call.gateway):
                call.target = calls.uri_target(contact)  # the call went straight to a host: so does the redirect
            call.dialog = None
            call.fire(CallEvent.RETRY)
            invite = make_invite(invite.cseq.seq + 1, [])
            call.invite = invite
            calls.changed(call)
            self.ua.log.info("call_redirected", call=call.id, contact=str(contact), status=final.status)
            invite, final = await calls.send_authorized(call, invite, make_invite)
        return invite, final

    def _proxy_hop(self, gateway: str) -> Any:
        gw = self.ua.gateways.get(gateway)
        return gw.next_hop(self.ua.transport_kind) if gw is not None else None


def _diversions(request: Request) -> int:
    """How many times the call was diverted already (the highest Diversion counter, or the entries)."""
    listed = parse_diversion(request.headers.get_all("Diversion"))
    return max((d.counter for d in listed), default=0)


def _port(host: str) -> int | None:
    _, _, port = host.rpartition(":")
    return int(port) if ":" in host and port.isdigit() else None


def _best_contact(response: Response, tried: set[str]) -> Uri | None:
    """The 3xx's Contact to try: highest ``q`` first (§8.1.3.4), a ``sip``/``sips`` URI not tried yet."""
    try:
        contacts = [c for c in response.contact if not c.is_wildcard]
    except Exception:
        return None
    ordered = sorted(contacts, key=lambda c: -(c.q if c.q is not None else 1.0))
    for c in ordered:
        if c.uri.scheme in ("sip", "sips") and str(c.uri) not in tried:
            return c.uri
    return None


def _retargeted(make_invite: MakeInvite, contact: Uri, diversions: list[str]) -> MakeInvite:
    """``make_invite`` with the Request-URI ``contact`` and the Diversion headers ``diversions``."""
    def make(cseq: int, auth: list[tuple[str, str]]) -> Request:
        base = make_invite(cseq, auth)
        headers = base.headers.copy()
        headers.remove("Diversion")
        for value in diversions:
            headers.add("Diversion", value)
        return Request("INVITE", contact.copy(), headers, base.body)
    return make

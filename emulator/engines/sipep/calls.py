"""Calls of the SipEp service: INVITE / 100 / 180 / 200 / ACK / BYE / CANCEL as UAC and UAS, re-INVITE
hold and resume, per endpoint (RFC 3261 §13-15, RFC 3264 §8.4 for hold).

The signalling is the sans-IO core (transactions, :class:`~emulator.protocols.sip.dialog.Dialog`) run by the
user agent, which the call layer reaches through :class:`~emulator.engines.sipep.call_ua.CallUA` only. A
call's state moves through the table of :mod:`~emulator.engines.sipep.call_state`. The SDP comes from an
**offer/answer hook** (:class:`~emulator.engines.sipep.offer_answer.OfferAnswer`) the media layer plugs in
(``CallManager(ua, media=...)`` or ``manager.media = ...``): ``offer(call, hold)`` builds an offer,
``answer(call, offer, hold)`` an answer (or raises :class:`MediaRefused` with the SIP status, e.g. 488 or
415), ``answered`` takes the peer's answer (raising :class:`MediaRefused` there ends the call with a BYE),
``ended`` releases the media; ``Call.media`` is the hook's own per-call state. :class:`PlainAudio` is the
default. INFO, REFER and NOTIFY are handled by :mod:`~emulator.engines.sipep.in_dialog`.

Endpoint actions (what the CLI and ``/api/v1/endpoints/{EpId}/...`` call): :meth:`CallManager.dial`,
:meth:`answer`, :meth:`hangup` (BYE, CANCEL or 486/603 as the call's state wants), :meth:`hold`,
:meth:`resume`, :meth:`offhook` (answers a ringing call, else marks the line off-hook), :meth:`dtmf`,
:meth:`transfer`. Calls are listed by :meth:`CallManager.rows`. An incoming INVITE is for the endpoint whose
``SipEp.UserAgent`` Username is the Request-URI user (or whose EpId is); a busy endpoint answers 486. With a call
router (:attr:`CallManager.routing`, the CRout service: :mod:`~emulator.engines.sipep.routing`), incoming INVITEs
and dialled numbers go through it instead.
A SecureWithFallback caller whose secure offer is refused (415, 488) retries once with a plain offer in a
new INVITE; an initial INVITE whose server fails is sent again to the gateway's next server.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from emulator.engines.sipep.call import ALLOW, Call
from emulator.engines.sipep.call_completion import CallCompletion
from emulator.engines.sipep.call_history import KEEP_WHOLE_S, CallHistory, EndedCall
from emulator.engines.sipep.call_list import CallList
from emulator.engines.sipep.call_state import CallEvent, CallState
from emulator.engines.sipep.call_ua import CallRouting, CallUA
from emulator.engines.sipep.dialog_requests import DialogRequests, record_route
from emulator.engines.sipep.early_media import EarlyMedia
from emulator.engines.sipep.forwarding import Forwarding
from emulator.engines.sipep.in_dialog import InDialog, info_dtmf_digit, sipfrag_status
from emulator.engines.sipep.line_actions import LineActions
from emulator.engines.sipep.line_calls import LineCalls, ring_admission
from emulator.engines.sipep.line_services import LineServices
from emulator.engines.sipep.offer_answer import CallError, MediaRefused, OfferAnswer
from emulator.engines.sipep.plain_audio import PlainAudio, sdp_direction
from emulator.engines.sipep.reliable import ReliableProvisionals
from emulator.engines.sipep.session_timers import SessionTimers, TooSmall
from emulator.engines.sipep.transport import Source
from emulator.protocols.sip.dialog import (
    Dialog,
    DialogError,
    DialogState,
    build_request,
    new_call_id,
    new_tag,
)
from emulator.protocols.sip.digest import DigestClient, DigestError
from emulator.protocols.sip.headers import Address, Via
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.target import DEFAULT_PORTS, Target
from emulator.protocols.sip.transaction import ClientInviteTransaction, ServerInviteTransaction, new_branch
from emulator.protocols.sip.uri import Uri
from firmware_model.config import ConfigError
from firmware_model.settings_cache import settings_cache

__all__ = [
    "Call", "CallError", "CallManager", "MediaRefused", "OfferAnswer", "PlainAudio",
    "info_dtmf_digit", "sdp_direction", "sipfrag_status",
]

MakeInvite = Callable[[int, list[tuple[str, str]]], Request]
_CALLING = (CallState.DIALING, CallState.PROCEEDING, CallState.ALERTING)  # our INVITE awaits its final response


def _with_new_branch(request: Request) -> Request:
    """A copy of ``request`` for a new client transaction (§8.1.1.7: a new branch; the rest unchanged)."""
    copy = Request(request.method, request.uri, request.headers.copy(), request.body)
    top = copy.top_via
    copy.headers.remove_first("Via")
    params = {**top.params, "branch": new_branch()}
    copy.headers.prepend("Via", str(Via(top.transport, top.host, top.port, params, top.protocol)))
    return copy


class CallManager(DialogRequests):
    """Calls of one unit's SipEp service (see the module docstring)."""

    def __init__(self, ua: CallUA, *, media: OfferAnswer | None = None, keep_ended: int = 50) -> None:
        self.ua = ua
        self.media: OfferAnswer = media or PlainAudio(ua.host, config=ua.settings.config)
        # current calls, and ended ones for keep_whole_s; indexed by endpoint and Call-ID (call_list.py)
        self._listed = CallList()
        self.calls: list[Call] = self._listed
        self.keep_ended = keep_ended
        # Ended calls older than that are summarised (call_history: a byte budget per unit); ``summary`` is
        # the row a summary keeps (the faces' wiring gives the row with the stream's figures).
        self.history = CallHistory(keep=keep_ended)
        self.keep_whole_s = max(KEEP_WHOLE_S, 64 * ua.timers.t1)
        self.summary: Callable[[Call], dict[str, Any]] = Call.row
        self._ended: deque[tuple[float, Call]] = deque()
        self.clock: Callable[[], float] = time.monotonic
        self.off_hook: set[str] = set()
        self.listeners: list[Callable[[Call], None]] = []
        # EpAdm's word on new calls: a reason when the endpoint may not take one (locked...), else None.
        self.admission: Callable[[str], str | None] | None = None
        # The call router (CRout, engines/sipep/routing.py) when the unit has one: every incoming INVITE and every
        # dialled number goes through it; without one, calls go as the endpoints' user names say.
        self.routing: CallRouting | None = None
        self._ids = itertools.count(1)
        ua.request_handlers.update({"INVITE": self._on_invite, "BYE": self._on_bye, "CANCEL": self._on_cancel})
        self.in_dialogs = InDialog(self, ua)
        self.session_timers = SessionTimers(self, ua)  # RFC 4028, and UPDATE (RFC 3311)
        self.prack = ReliableProvisionals(self, ua)  # RFC 3262
        self.early_media = EarlyMedia()  # 183 with SDP and the ringback tone, early answers heard
        self.prack.on_pracked = self.early_media.pracked  # InteropActivateEarlyMediaOnProvisionalResponseAck
        self.listeners.append(self.early_media.changed)
        # several calls per line (line_calls.py): the line's focus, held and waiting calls, and the EpServ services
        self.lines = LineCalls()
        self.services = LineServices(ua.settings.config)
        self._settings = settings_cache(ua.settings.config, ("SipEp",))
        self.services.provide()
        self.line = LineActions(self, ua)
        self.invite_headers: dict[str, list[tuple[str, str]]] = {}  # endpoint -> extra headers of its next INVITE
        self.forwarding = Forwarding(self, ua)  # EpServ call forwarding (302), Diversion (RFC 5806) both ways
        self.completion = CallCompletion(self, ua)  # EpServ call completion (RFC 6910), the agent

    # ------------------------------------------------------------------ queries
    def rows(self) -> list[dict[str, Any]]:
        return [*(dict(c.row) for c in self.history), *(c.row() for c in self.calls)]

    def line_calls(self, endpoint: str) -> list[Call]:
        """The endpoint's listed calls (current and recently ended), oldest first: ``calls`` for one line."""
        return self._listed.of_endpoint(endpoint)

    def current(self, endpoint: str) -> Call | None:
        """The call the line talks in (its focus: line_calls.py), None when the line has no call."""
        call = self.lines.focus(endpoint, self.line_calls(endpoint))
        return call if isinstance(call, Call) else None

    def connected(self, endpoint: str) -> Call:
        """The endpoint's connected call (CallError 409 when it has none)."""
        call = self.current(endpoint)
        if call is None or call.state is not CallState.CONNECTED:
            raise CallError(f"endpoint {endpoint} has no connected call")
        return call

    def _endpoint_for(self, user: str | None) -> str | None:
        for row in self.ua.settings.endpoint_rows():
            if user and (row.get("Username") == user or row.get("EpId") == user):
                return str(row["EpId"])
        return None

    def _user_agent(self, endpoint: str, column: str) -> Any:
        """One cell of the endpoint's ``SipEp.UserAgent`` row: a call asks several times per message, and reading
        the whole table each time cost milliseconds on a unit with a hundred lines."""
        def read() -> Any:
            try:
                return self.ua.settings.config.get(f'SipEp.UserAgent.{column}[EpId="{endpoint}"]')
            except ConfigError:
                raise CallError(f"no endpoint {endpoint}", 404) from None
        return self._settings.get(("calls.user_agent", endpoint, column), read)  # kept until a SipEp change

    def _username(self, endpoint: str) -> str:
        return str(self._user_agent(endpoint, "Username") or endpoint)

    def _gateway_of(self, endpoint: str) -> str:
        try:
            name = self._user_agent(endpoint, "GatewayName")
        except CallError:
            name = None
        return str(name) if name in self.ua.gateways else next(iter(self.ua.gateways))

    def _contact(self, call: Call) -> tuple[str, str]:
        return ("Contact", str(Address(self.ua.contact_uri(call.gateway, self._username(call.endpoint)))))

    def _admit(self, endpoint: str) -> None:
        reason = self.admission(endpoint) if self.admission is not None else None
        if reason is not None:
            raise CallError(reason, 409)

    def changed(self, call: Call) -> None:
        """Tell the listeners (EpAdm, faces) that ``call`` changed."""
        for fn in list(self.listeners):
            fn(call)

    def _end(self, call: Call, reason: str, status: int | None = None) -> None:
        if not call.active:
            return
        call.fire(CallEvent.END)
        call.end_reason = reason
        # The emulated user puts the phone down when a call ends, however it ended (far-end BYE, refusal):
        # otherwise the line would stay off-hook and answer every later call 486 Busy Here.
        self.off_hook.discard(call.endpoint)
        call.status = status if status is not None else call.status
        if call.dialog is not None:
            call.dialog.terminate()
        call.done.set()
        try:
            call.quality = self.media.quality(call)
            self.media.ended(call)
        except Exception as exc:
            self.ua.log.warning("media_hook_failed", call=call.id, error=repr(exc))
        self._ended.append((self.clock(), call))
        self._summarise()
        self.line.call_ended(call)
        self.changed(call)
        self._auto_switch(call)

    def _summarise(self) -> None:
        """Ended calls past ``keep_whole_s`` (or beyond ``keep_ended`` of them) become summaries."""
        now = self.clock()
        while self._ended and (now - self._ended[0][0] >= self.keep_whole_s or len(self._ended) > self.keep_ended):
            _, old = self._ended.popleft()
            if old in self.calls:
                self.calls.remove(old)
                self.history.add(EndedCall.of(self.summary(old)))

    def stop(self) -> None:
        for call in list(self.calls):
            self._end(call, "service stopped")

    # ------------------------------------------------------------------ routing helpers
    def _uri_target(self, uri: Uri) -> Target:
        kind = self.ua.transport_kind
        transport = (uri.transport or kind.lower()).upper()
        if uri.secure:
            transport = "TLS"
        return Target(transport, uri.maddr or uri.host.strip("[]"), uri.port or DEFAULT_PORTS.get(transport, 5060))

    def dialog_target(self, call: Call) -> Target:
        """Where an in-dialog request goes (§12.2.1.1 then §8.1.2): the first route, else the remote target."""
        dialog = call.dialog
        assert dialog is not None
        if dialog.route_set:
            return self._uri_target(dialog.route_set[0].uri)
        if call.target is not None and call.direction == "outgoing":
            return call.target
        if call.source is not None and call.source.connection is not None and call.source.connection.is_open:
            conn = call.source.connection
            return Target(conn.transport, conn.remote[0], conn.remote[1])
        return self._uri_target(dialog.remote_target)

    def _outbound_route(self, gateway: str) -> tuple[Target, list[Address]]:
        gw = self.ua.gateways[gateway]
        kind = self.ua.transport_kind
        hop = gw.next_hop(kind)
        if hop is None:
            raise CallError("no proxy or registrar configured for the gateway", 503)
        route: list[Address] = []
        outbound_type = str(self.ua.settings.get("SipEp.DefaultProxyOutboundType", "") or "LooseRouter")
        if gw.outbound is not None and outbound_type == "LooseRouter":
            params: dict[str, str | None] = {"lr": None}
            if kind != "UDP":
                params = {"transport": kind.lower(), "lr": None}
            route = [Address(Uri("sip", host=gw.outbound.host, port=gw.outbound.port or None, params=params))]
        return hop, route

    # ------------------------------------------------------------------ UAC
    async def dial(self, endpoint: str, number: str, *, transferred: bool = False) -> Call:
        """Off-hook and dial ``number`` (a user part, or a full ``sip:`` URI): INVITE through the proxy.
        `transferred`: the call a REFER asked for, placed while the referring call still exists."""
        if not transferred:
            mine = self.lines.of(endpoint, self.line_calls(endpoint))
            # a second call: the line's only call held, with the service on (a flash gave dial tone)
            if mine and not self.line.wants_second_call(endpoint):
                raise CallError(f"endpoint {endpoint} already has a call")
            self._admit(endpoint)
        if self.routing is not None:
            call = await self.routing.dial(endpoint, number)
        else:
            call = self.invite(endpoint, number, self._gateway_of(endpoint))
        if call.active:
            self.lines.set_focus(call)
        return call

    def invite(self, endpoint: str, number: str, gateway: str, host: str = "") -> Call:
        """The SIP side of a call from ``endpoint``: INVITE ``number`` through ``gateway``'s proxy, or straight to
        ``host`` (``host[:port]``: the destination host of the call router's signaling properties)."""
        ua = self.ua
        gw = ua.gateways[gateway]
        user = self._username(endpoint)
        target, route = self._outbound_route(gateway) if not host else \
            (self._uri_target(Uri.parse(f"sip:{host}")), [])
        to_uri = Uri.parse(number) if number.startswith(("sip:", "sips:")) else \
            Uri.parse(f"sip:{number}@{host}") if host else Uri("sip", user=number, host=gw.domain)
        to_uri = ua.settings.with_user_parameter(to_uri)  # SipEp.InteropSipUriUserParameterValue
        from_uri = ua.settings.with_user_parameter(Uri("sip", user=user, host=gw.domain))
        contact = Address(ua.contact_uri(gateway, user), ua.settings.contact_display_name(endpoint))
        call = Call(next(self._ids), endpoint, gateway, "outgoing", str(from_uri), str(to_uri),
                    new_call_id(ua.host), target=target)
        extra = self.invite_headers.pop(endpoint, [])  # a transferee's Replaces (in_dialog.py)
        self.calls.append(call)
        self.off_hook.add(endpoint)
        try:
            call.local_sdp = self.media.offer(call, False)
        except MediaRefused as exc:
            self._end(call, f"media refused ({exc.status})", exc.status)
            return call
        from_addr = Address(from_uri).with_tag(new_tag())
        max_forwards = ua.settings.max_forwards()

        def make_invite(cseq: int, auth: list[tuple[str, str]]) -> Request:
            return build_request(
                "INVITE", to_uri.copy(), from_=from_addr, to=Address(to_uri), call_id=call.call_id, cseq=cseq,
                via=ua.via(gateway), contact=contact, route=route,
                max_forwards=max_forwards,
                headers=[*auth, *extra, ("Allow", ALLOW), *self.session_timers.invite_headers(call),
                         *self.prack.invite_headers(), ("Content-Type", "application/sdp"), *ua.ua_headers(),
                         *ua.settings.siemens_headers(target.transport, call.local_sdp)],
                body=call.local_sdp)

        invite = make_invite(1, [])
        call.invite = invite
        ua.spawn(self._run_invite(call, invite, make_invite))
        return call

    def _provisional(self, call: Call, resp: Response) -> None:
        if call.state not in _CALLING:  # ended (cancelled, refused) meanwhile: a late 1xx changes nothing
            return
        call.fire(CallEvent.ALERTING if resp.status in (180, 183) else CallEvent.PROCEEDING)
        if resp.to.tag and call.dialog is None and resp.status > 100 and call.invite is not None:
            call.dialog = Dialog.as_uac(call.invite, resp)
        self.prack.provisional(call, resp)
        try:
            self.early_media.provisional(self.media, call, resp)
        except Exception as exc:  # an unusable early answer: the 2xx's will be tried
            self.ua.log.info("early_media_refused", call=call.id, error=repr(exc))
        self.changed(call)
        if call.cancel_requested:
            self._send_cancel(call)

    async def _send_invite(self, call: Call, invite: Request) -> Response | None:
        """One INVITE; when its server fails (no answer, a failover status of the gateway), the same INVITE
        with a new branch to the gateway's next server, and the call follows it (``call.target``)."""
        assert call.target is not None

        def on_txn(txn: ClientInviteTransaction) -> None:
            call.client_txn = txn

        def provisional(resp: Response) -> None:
            self._provisional(call, resp)

        target = call.target
        response = await self.ua.request(invite, target, call.gateway, on_provisional=provisional,
                                         on_transaction=on_txn)
        tried: set[tuple[str, str, int]] = set()
        while response is None or response.status >= 300:
            nxt = self.ua.invite_failover(call.gateway, target, response, tried)
            if nxt is None or not call.active or call.cancel_requested:
                break
            call.target = target = nxt  # CANCEL and in-dialog requests without a route set go there now
            invite = _with_new_branch(invite)
            response = await self.ua.request(invite, target, call.gateway, on_provisional=provisional,
                                             on_transaction=on_txn)
        return response

    async def _authorized(self, call: Call, invite: Request, response: Response | None,
                          make_invite: MakeInvite) -> tuple[Request, Response | None]:
        """§22.2/§22.3: a 401/407 is answered once (same Call-ID and From tag, CSeq + 1, new branch)."""
        if response is None or response.status not in (401, 407) or not call.active or call.cancel_requested:
            return invite, response
        challenges = response.www_authenticate if response.status == 401 else response.proxy_authenticate
        realm = next((c.realm for c in challenges if c.realm), "") or ""
        creds = self.ua.settings.credentials_for(call.endpoint, call.gateway, self._username(call.endpoint), realm)
        if creds is None:
            return invite, response
        try:
            value = DigestClient(*creds).authorize(challenges, "INVITE", str(invite.uri))
        except DigestError:
            return invite, response
        header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        invite = make_invite(invite.cseq.seq + 1, [(header, str(value))])
        call.invite = invite
        return invite, await self._send_invite(call, invite)

    async def _run_invite(self, call: Call, invite: Request, make_invite: MakeInvite) -> None:
        invite, response = await self._authorized(call, invite, await self._send_invite(call, invite), make_invite)
        if response is not None and response.status == 422 and call.active and not call.cancel_requested and \
                self.session_timers.retry_after_422(call, response):  # RFC 4028 §7.1: again with their Min-SE
            invite = make_invite(invite.cseq.seq + 1, [])
            call.invite, call.dialog = invite, None
            invite, response = await self._authorized(call, invite, await self._send_invite(call, invite), make_invite)
        if response is not None and response.status in (415, 488) and call.active and not call.cancel_requested:
            # SecureWithFallback: the peer refused our secure offer; offer plain RTP in a new INVITE
            # (same Call-ID and From tag, CSeq + 1 — like a challenge answer; the refused INVITE made no dialog).
            plain = self.media.fallback_offer(call)
            if plain is not None:
                call.local_sdp = plain
                call.dialog = None
                call.fire(CallEvent.RETRY)
                invite = make_invite(invite.cseq.seq + 1, [])
                call.invite = invite
                self.changed(call)
                invite, response = await self._authorized(call, invite, await self._send_invite(call, invite),
                                                          make_invite)
        if response is not None and response.status in (301, 302) and call.active and not call.cancel_requested:
            invite, response = await self.forwarding.follow(call, invite, response, make_invite)
        if response is None:
            self._end(call, "no answer from the network", 408)
            return
        if 200 <= response.status < 300:
            self._confirm(call, invite, response)
            return
        reason = "cancelled" if response.status == 487 and call.cancel_requested else \
            f"{response.status} {response.reason}"
        self.completion.refused(call, response)  # a candidate for call completion (busy, no reply)
        self._end(call, reason, response.status)

    def _confirm(self, call: Call, invite: Request, response: Response) -> None:
        if call.dialog is None or call.dialog.remote_tag != response.to.tag:
            call.dialog = Dialog.as_uac(invite, response)
        else:
            call.dialog.receive_response(invite, response)
        ack = call.dialog.create_ack(invite, via=self.ua.via(call.gateway))
        call.last_ack = ack
        self.ua.send_stateless(ack, self.dialog_target(call))
        if not call.active:  # cancelled too late: the 2xx won the race (§9.1): confirm, then BYE
            self.ua.spawn(self.bye(call))
            return
        early = self.early_media.already_answered(call, response.body)
        call.remote_sdp = response.body or call.remote_sdp
        call.fire(CallEvent.ANSWERED)
        try:
            if not early:
                self.media.answered(call, response.body)
        except MediaRefused as exc:  # the answer is unusable (e.g. Secure and a plain RTP answer): hang up
            call.acked.set()
            self.ua.spawn(self.bye(call, f"media refused ({exc.status})"))
            return
        except Exception as exc:
            self.ua.log.warning("media_hook_failed", call=call.id, error=repr(exc))
        call.acked.set()
        self.session_timers.answered_as_uac(call, response, initial=True)
        self.changed(call)
        if call.cancel_requested:
            self.ua.spawn(self.bye(call))

    def stray_response(self, response: Response) -> None:
        """A 2xx retransmission to an INVITE already answered (RFC 6026): send the ACK again."""
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            return
        for call in self._listed.of_call_id(response.call_id):
            if call.last_ack is not None and call.dialog is not None:
                self.ua.send_stateless(call.last_ack, self.dialog_target(call))
                return

    def _send_cancel(self, call: Call) -> None:
        txn = call.client_txn
        if txn is None or not txn.can_cancel or call.target is None:
            return
        self.ua.spawn(self.ua.request(txn.make_cancel(), call.target, call.gateway))

    async def bye(self, call: Call, reason: str = "local hangup") -> None:
        """End the call with a BYE (§15.1.1)."""
        dialog = call.dialog
        if dialog is None or dialog.state is DialogState.TERMINATED:
            return
        target = self.dialog_target(call)
        try:
            bye = dialog.create_request("BYE", via=self.ua.via(call.gateway), headers=self.ua.ua_headers())
        except DialogError:
            return
        dialog.terminate()
        self._end(call, reason)
        await self.ua.request(bye, target, call.gateway)

    # ------------------------------------------------------------------ endpoint actions
    async def hold(self, endpoint: str) -> Call:
        call = self.connected(endpoint)
        if not self.services.hold(endpoint):
            raise CallError(f"endpoint {endpoint}: the hold service is disabled (EpServ)")
        await self._reinvite(call, True)
        return call

    async def resume(self, endpoint: str) -> Call:
        """Resume the line's held call; with another call connected, that one is held first (a swap)."""
        call = self.connected(endpoint)
        held = self.lines.held(endpoint, self.line_calls(endpoint))
        if not call.local_hold and isinstance(held, Call):
            await self._reinvite(call, True)
            self.lines.set_focus(held)
            call = held
        await self._reinvite(call, False)
        return call

    async def hold_call(self, call: Call, hold: bool) -> Call:
        """Hold or resume one call of a line (its services: line_actions.py)."""
        if call.local_hold != hold:
            await self._reinvite(call, hold)
        return call

    async def flash(self, endpoint: str) -> Call | None:
        """A hook-flash on the line (line_calls.py says what it does); the line's focus call after it."""
        if self.current(endpoint) is None:
            raise CallError(f"endpoint {endpoint} has no call")
        return await self.line.flash(endpoint)

    async def transfer_attended(self, endpoint: str, other: int | None = None) -> Call:
        """Attended transfer (RFC 5589 §7): REFER the line's held call (or call ``other``) to the far end of the
        call it talks in, with Replaces (:meth:`LineActions.transfer_attended`)."""
        return await self.line.transfer_attended(endpoint, other)

    async def conference(self, endpoint: str) -> Call:
        """Join the line's two calls in a local three-way conference (:meth:`LineActions.conference`)."""
        return await self.line.conference(endpoint)

    def _auto_switch(self, call: Call) -> None:
        """SecondCallDisconnectAction AutoSwitch: the far end of the line's call hung up, its held call resumes."""
        if call.end_reason != "remote hangup":
            return
        # the setting is read only when a call is held
        held = self.lines.held(call.endpoint, self.line_calls(call.endpoint))
        if isinstance(held, Call) and held is self.current(call.endpoint) and \
                self.services.second_call_disconnect(call.endpoint) == "AutoSwitch":
            self.ua.spawn(self.hold_call(held, False))

    async def dtmf(self, endpoint: str, digits: str, duration_ms: int = 100, gap_ms: int = 60) -> str:
        """Send DTMF in the endpoint's connected call (:meth:`InDialog.dtmf`); the method used."""
        return await self.in_dialogs.dtmf(endpoint, digits, duration_ms, gap_ms)

    async def transfer(self, endpoint: str, number: str) -> Call:
        """Blind transfer of the endpoint's connected call to ``number`` (:meth:`InDialog.transfer`)."""
        if not self.services.blind_transfer(endpoint):
            raise CallError(f"endpoint {endpoint}: the blind transfer service is disabled (EpServ)")
        return await self.in_dialogs.transfer(endpoint, number)

    async def answer(self, endpoint: str) -> Call:
        """Answer the ringing incoming call: 200 OK with the SDP answer. A waiting call (call waiting) is answered
        and the line's call held."""
        call = self.current(endpoint)
        if call is not None and self.lines.waiting(endpoint, self.line_calls(endpoint)) is not None:
            return await self.line.answer_waiting(endpoint)
        if call is not None and self.routing is not None and self.routing.local_peer(call) is not None:
            return self.routing.answer_local(call)  # a call between two lines of the unit: no SIP
        if call is None or call.state is not CallState.RINGING or call.server_txn is None or call.invite is None:
            raise CallError(f"endpoint {endpoint} has no ringing call")
        return self.accept(call)

    def accept(self, call: Call) -> Call:
        """200 OK with the SDP answer to ``call``'s INVITE (the user answered, or it replaces a call)."""
        if call.state is not CallState.RINGING or call.server_txn is None or call.invite is None:
            raise CallError(f"call {call.id} is not ringing")
        endpoint = call.endpoint
        self.off_hook.add(endpoint)
        try:
            early = self.early_media.answer_of(self.media, call)  # the 183's answer, repeated
            call.local_sdp = early if early is not None else self.media.answer(call, call.invite.body, call.local_hold)
        except MediaRefused as exc:
            self._reject(call, exc.status, exc.reason)
            return call
        ok = make_response(call.invite, 200, to_tag=call.dialog.local_tag if call.dialog else new_tag(),
                           headers=[*record_route(call.invite), self._contact(call), ("Allow", ALLOW),
                                    *self.session_timers.negotiate(call, call.invite),
                                    ("Content-Type", "application/sdp"), *self.ua.ua_headers()],
                           body=call.local_sdp)
        call.dialog = Dialog.as_uas(call.invite, ok)
        call.fire(CallEvent.ACCEPT)
        self.ua.respond(call.server_txn, ok)
        self.session_timers.answered_as_uas(call)
        if call.source is not None and not call.source.reliable:
            self.ua.spawn(self._retransmit_2xx(call, call.server_txn, ok))
        self.changed(call)
        return call

    async def _retransmit_2xx(self, call: Call, txn: ServerInviteTransaction, ok: Response) -> None:
        """§13.3.1.4: over UDP the UAS core re-sends its 2xx (T1, doubling to T2) until the ACK; none
        after 64*T1: the call is ended with a BYE."""
        timers = self.ua.timers
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timers.b
        interval = timers.t1
        while not call.acked.is_set() and call.active:
            try:
                await asyncio.wait_for(call.acked.wait(), max(0.0, min(interval, give_up - loop.time())))
                return
            except TimeoutError:
                pass
            if loop.time() >= give_up:
                await self.bye(call)
                call.end_reason = "no ACK"
                return
            if not txn.terminated:
                self.ua.respond(txn, ok)
            interval = min(interval * 2, timers.t2)

    async def offhook(self, endpoint: str) -> Call | None:
        """Lift the handset: answers a ringing call, otherwise the line is off-hook (dial tone)."""
        call = self.current(endpoint)
        if call is not None and call.state is CallState.RINGING:
            return await self.answer(endpoint)
        if call is None:
            self._admit(endpoint)
        self.off_hook.add(endpoint)
        return call

    async def hangup(self, endpoint: str) -> Call | None:
        """On-hook: BYE a connected call, CANCEL an outgoing one, refuse (486 Busy Here) a ringing one."""
        self.off_hook.discard(endpoint)
        call = self.current(endpoint)
        if call is None:
            return None
        conference = self.line.in_conference(endpoint)
        if conference:  # the line leaves its three-way conference: both far ends are released
            for c in conference:
                await self.cancel_or_bye(c)
            return call
        held = self.lines.held(endpoint, self.line_calls(endpoint))
        if isinstance(held, Call) and call.state is CallState.CONNECTED and not call.local_hold and \
                self.services.attended_transfer(endpoint):
            # hanging up with one call held and one connected completes an attended transfer (emulator choice:
            # the usual FXS practice; the REFER refused, the call is released as any other)
            try:
                await self.line.transfer_attended(endpoint)
                return call
            except CallError as exc:
                self.ua.log.info("attended_transfer_failed", call=call.id, error=str(exc))
        elif self.line.semi_attended_due(endpoint):
            # the second call still rings: a semi-attended transfer (SipEp.BlindTransferMethod), finished in the
            # background (it may wait for the answer)
            self.ua.spawn(self.line.semi_attended(endpoint))
            return call
        await self.cancel_or_bye(call)
        return call

    async def cancel_or_bye(self, call: Call) -> None:
        """Release one call as its state wants: BYE (connected), CANCEL (ours, not answered), 486 (ringing)."""
        if self.routing is not None and self.routing.local_peer(call) is not None:
            self.routing.hangup_local(call)
        elif call.state is CallState.CONNECTED:
            await self.bye(call)
        elif call.direction == "outgoing":
            call.cancel_requested = True
            self._send_cancel(call)  # after a provisional response; otherwise sent when one arrives
            try:
                await asyncio.wait_for(call.done.wait(), self.ua.timers.b + 1)
            except TimeoutError:
                self._end(call, "cancelled without answer")
        else:
            self._reject(call, 486, None)

    def _reject(self, call: Call, status: int, reason: str | None) -> None:
        if call.server_txn is not None and call.invite is not None and call.server_txn.can_cancel:
            tag = call.dialog.local_tag if call.dialog else new_tag()
            self.ua.respond(call.server_txn, make_response(call.invite, status, reason, to_tag=tag))
        self._end(call, "rejected" if status == 486 else f"{status}", status)

    # ------------------------------------------------------------------ UAS
    def _on_invite(self, request: Request, txn: Any, source: Source) -> None:
        ua = self.ua
        if request.to.tag is not None:
            self._on_reinvite(request, txn, source)
            return
        replaces = request.headers.get("Replaces")
        if replaces is not None:  # RFC 3891: it joins the line of the dialog it replaces, whatever the routes say
            self.line.incoming_replaces(request, txn, source, replaces)
            return
        if self.routing is not None:
            self.routing.incoming(request, txn, source)
            return
        endpoint = self._endpoint_for(request.uri.user)
        if endpoint is None:
            ua.respond(txn, make_response(request, 404, to_tag=new_tag()))
            return
        if self.forwarding.intercept(endpoint, request, txn, new_tag()) is not None:
            return  # forwarded (302): unconditionally, or on busy
        refused = self.ring_refusal(endpoint)
        if refused is not None:
            ua.respond(txn, make_response(request, refused, to_tag=new_tag()))
            return
        self.ring(endpoint, request, txn, source)

    def ring_refusal(self, endpoint: str) -> int | None:
        """Why ``endpoint`` cannot ring now: 486 (a call without call waiting, or off-hook), 480 (locked:
        engines/epadm.py); else None (it rings, or waits: line_calls.ring_admission)."""
        if ring_admission(self.lines, endpoint, self.line_calls(endpoint), endpoint in self.off_hook,
                          self.services) is None:
            return 486
        if self.admission is not None and self.admission(endpoint) is not None:
            return 480
        return None

    def ring(self, endpoint: str, request: Request, txn: Any, source: Source, *, to_tag: str | None = None) -> Call:
        """Ring ``endpoint`` for an incoming INVITE (180 Ringing with ``to_tag``, a new one by default): the call,
        ringing — or ended, the INVITE answered, when its offer is refused."""
        ua = self.ua
        call = Call(next(self._ids), endpoint, self._gateway_of(endpoint), "incoming", str(request.to.uri),
                    str(request.from_.uri), request.call_id, state=CallState.INCOMING, invite=request, server_txn=txn,
                    source=source, remote_sdp=request.body)
        call.waiting = bool(self.lines.of(endpoint, self.line_calls(endpoint)))  # the line is in a call: call waiting
        self.calls.append(call)
        if not call.waiting:
            self.lines.set_focus(call)
        if request.body:
            try:
                self.media.check(call, request.body)  # an unacceptable offer is refused before ringing
            except MediaRefused as exc:
                ua.respond(txn, make_response(request, exc.status, exc.reason, to_tag=new_tag()))
                self._end(call, str(exc.status), exc.status)
                return call
        try:
            self.session_timers.negotiate(call, request)
        except TooSmall as exc:  # RFC 4028 §9: 422 with our Min-SE, before ringing
            ua.respond(txn, self.session_timers.rejection(request, exc))
            self._end(call, "422", 422)
            return call
        refused = self.prack.refusal(request)  # RFC 3262: 100rel required from a unit that does not support it
        if refused is not None:
            ua.respond(txn, refused)
            self._end(call, "420", 420)
            return call
        reliable = self.prack.ringing_headers(call, request)
        try:
            early = self.early_media.ringback(self.media, call, request, bool(reliable))
        except MediaRefused as exc:
            ua.respond(txn, make_response(request, exc.status, exc.reason, to_tag=new_tag()))
            self._end(call, str(exc.status), exc.status)
            return call
        call.local_sdp = early or call.local_sdp
        ringing = make_response(request, 183 if early else 180, to_tag=to_tag or new_tag(),
                                headers=[*record_route(request), self._contact(call), *reliable,
                                         *([("Content-Type", "application/sdp")] if early else []), *ua.ua_headers()],
                                body=early)
        call.dialog = Dialog.as_uas(request, ringing)
        call.fire(CallEvent.RING)
        ua.respond(txn, ringing)
        if call.waiting:
            self.line.waiting_started(call)  # the line hears the call-waiting tone; the caller gets the 180
        self.prack.sent(call, ringing)
        self.forwarding.ringing(call)  # the INVITE's Diversion into the row; forwarding on no answer armed
        self.changed(call)
        return call

    # ------------------------------------------------------------------ for the call router (routing.py)
    def new_call(self, endpoint: str, direction: str, local_uri: str, remote_uri: str) -> Call:
        """A call of ``endpoint`` that no SIP request started (a local call, a refusal), listed at once."""
        gateway = self._gateway_of(endpoint) if self.ua.gateways else ""  # none while SipEp is stopped
        call = Call(next(self._ids), endpoint, gateway, direction, local_uri, remote_uri,
                    new_call_id(self.ua.host), state=CallState.INCOMING if direction == "incoming" else
                    CallState.DIALING)
        self.calls.append(call)
        return call

    def release(self, call: Call, reason: str, status: int | None = None) -> None:
        """End ``call`` without a SIP message (a hunt moving on, a local call's other side hanging up)."""
        self._end(call, reason, status)

    def gateway_of(self, endpoint: str) -> str:
        """The gateway of the endpoint's ``SipEp.UserAgent`` row (the first running one when it names none)."""
        return self._gateway_of(endpoint)

    def uri_target(self, uri: Uri) -> Target:
        """Where a request to ``uri`` goes when no proxy is in the way (RFC 3263 without DNS: its host)."""
        return self._uri_target(uri)

    async def send_authorized(self, call: Call, invite: Request,
                              make_invite: MakeInvite) -> tuple[Request, Response | None]:
        """Send ``invite`` for ``call`` (the gateway's next server on failure) and answer one challenge."""
        return await self._authorized(call, invite, await self._send_invite(call, invite), make_invite)

    def username(self, endpoint: str) -> str:
        """The endpoint's ``SipEp.UserAgent`` Username (its EpId when empty)."""
        return self._username(endpoint)

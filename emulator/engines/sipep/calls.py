"""Calls of the SipEp service: INVITE / 100 / 180 / 200 / ACK / BYE / CANCEL as UAC and UAS, re-INVITE
hold and resume, per endpoint (RFC 3261 §13-15, RFC 3264 §8.4 for hold).

The signalling is the sans-IO core (transactions, :class:`~emulator.protocols.sip.dialog.Dialog`); this module
is the UA's call logic over :class:`~emulator.engines.sipep.engine.SipEpEngine`. The SDP comes from an
**offer/answer hook** (:class:`OfferAnswer`) the media layer plugs in (``CallManager(engine,
media=...)`` or ``manager.media = ...``): ``offer(call, hold)`` builds an offer, ``answer(call, offer,
hold)`` an answer (or raises :class:`MediaRefused` with the SIP status, e.g. 488 or 415), ``answered``
takes the peer's answer (raising :class:`MediaRefused` there ends the call with a BYE), ``ended`` releases
the media; ``Call.media`` is the hook's own per-call state. :class:`PlainAudio` is the default: one
PCMU/PCMA audio stream on a port of its own, sendrecv / sendonly (hold) / recvonly (held).

Endpoint actions (what the CLI and ``/api/v1/endpoints/{EpId}/...`` call): :meth:`CallManager.dial`,
:meth:`answer`, :meth:`hangup` (BYE, CANCEL or 486/603 as the call's state wants), :meth:`hold`,
:meth:`resume`, :meth:`offhook` (answers a ringing call, else marks the line off-hook). Calls are
listed by :meth:`CallManager.rows`. An incoming INVITE is for the endpoint whose ``SipEp.UserAgent``
Username is the Request-URI user (or whose EpId is); a busy endpoint answers 486.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.engines.sipep.offer_answer import CallError, CallView, MediaRefused, OfferAnswer
from emulator.engines.sipep.transport import Source
from emulator.protocols.media.dtmf import EVENTS, parse_digits
from emulator.protocols.sip.dialog import (
    Dialog,
    DialogError,
    DialogState,
    build_request,
    new_call_id,
    new_tag,
    uas_dialog_id,
)
from emulator.protocols.sip.digest import DigestClient, DigestError
from emulator.protocols.sip.headers import Address, parse_address
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.target import DEFAULT_PORTS, Target
from emulator.protocols.sip.transaction import ClientInviteTransaction, ServerInviteTransaction, Transaction
from emulator.protocols.sip.uri import Uri

if TYPE_CHECKING:
    from emulator.engines.sipep.engine import SipEpEngine

__all__ = [
    "ACTIONS", "Call", "CallError", "CallManager", "MediaRefused", "OfferAnswer", "PlainAudio", "endpoint_action",
]


def sdp_direction(body: bytes) -> str:
    """The audio stream's direction in an SDP body: sendrecv, sendonly, recvonly or inactive."""
    text = body.decode("utf-8", "replace")
    direction = "sendrecv"
    for line in text.splitlines():
        line = line.strip()
        if line in ("a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv"):
            direction = line[2:]
        if line.startswith("c=") and line.endswith(" 0.0.0.0"):
            direction = "inactive"  # RFC 2543 hold
    return direction


@dataclass
class PlainAudio:
    """A default hook: plain RTP audio, PCMU and PCMA, one even port per call from ``base_port``."""

    host: str
    base_port: int = 5004
    _next: Any = field(default=None, repr=False)
    versions: dict[int, int] = field(default_factory=dict)

    def _port(self, call: CallView) -> int:
        if call.media_port == 0:
            call.media_port = self.base_port + 2 * ((call.id - 1) % 500)
        return call.media_port

    def _sdp(self, call: CallView, direction: str) -> bytes:
        version = self.versions.get(call.id, 0) + 1
        self.versions[call.id] = version
        lines = ["v=0", f"o=- {call.id} {version} IN IP4 {self.host}", "s=-", f"c=IN IP4 {self.host}", "t=0 0",
                 f"m=audio {self._port(call)} RTP/AVP 0 8", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
                 "a=ptime:20", f"a={direction}"]
        return ("\r\n".join(lines) + "\r\n").encode()

    def offer(self, call: CallView, hold: bool) -> bytes:
        return self._sdp(call, "sendonly" if hold else "sendrecv")

    def answer(self, call: CallView, offer: bytes, hold: bool) -> bytes:
        if b"m=audio" not in offer:
            raise MediaRefused(488)
        remote = sdp_direction(offer)
        answer = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}.get(remote, "sendrecv")
        if hold and answer == "sendrecv":
            answer = "sendonly"
        return self._sdp(call, answer)

    def answered(self, call: CallView, answer: bytes) -> None:
        pass

    def check(self, call: CallView, offer: bytes) -> None:
        pass  # anything with an audio line is answered (see answer)

    def fallback_offer(self, call: CallView) -> bytes | None:
        return None  # plain already: nothing to fall back to

    def offer_withdrawn(self, call: CallView) -> None:
        pass

    def dtmf_method(self, call: CallView) -> str:
        return "inband"

    def send_dtmf(self, call: CallView, digits: str, duration_ms: int, gap_ms: int) -> str:
        raise CallError("this endpoint has no media engine to send digits in band", 409)

    def dtmf_received(self, call: CallView, digit: str) -> None:
        pass

    def ended(self, call: CallView) -> None:
        self.versions.pop(call.id, None)


@dataclass(eq=False)
class Call:
    id: int
    endpoint: str
    gateway: str
    direction: str  # outgoing | incoming
    local_uri: str
    remote_uri: str
    call_id: str
    state: str = "dialing"  # dialing | proceeding | alerting | ringing | connected | ended
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
    media: Any = None  # the offer/answer hook's own state for this call (offer state, media stream...)

    @property
    def active(self) -> bool:
        return self.state != "ended"

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "endpoint": self.endpoint, "gateway": self.gateway, "direction": self.direction,
                "state": "held" if self.state == "connected" and (self.local_hold or self.remote_hold) else self.state,
                "local_hold": self.local_hold, "remote_hold": self.remote_hold, "local": self.local_uri,
                "remote": self.remote_uri, "call_id": self.call_id, "end_reason": self.end_reason,
                "status": self.status, "transfer": self.transfer}


def _record_route(request: Request) -> list[tuple[str, str]]:
    """§12.1.1: a response that establishes a dialog copies the request's Record-Route values."""
    return [("Record-Route", value) for value in request.headers.get_all("Record-Route")]


class CallManager:
    """Calls of one unit's SipEp engine (see the module docstring)."""

    def __init__(self, engine: SipEpEngine, *, media: OfferAnswer | None = None, keep_ended: int = 50) -> None:
        self.engine = engine
        self.unit = engine.unit
        self.media: OfferAnswer = media or PlainAudio(engine.unit.host)
        self.calls: list[Call] = []
        self.keep_ended = keep_ended
        self.off_hook: set[str] = set()
        self.listeners: list[Callable[[Call], None]] = []
        # EpAdm's word on new calls: a reason when the endpoint may not take one (locked...), else None.
        self.admission: Callable[[str], str | None] | None = None
        self._ids = itertools.count(1)
        engine.calls = self
        engine.request_handlers.update({"INVITE": self._on_invite, "BYE": self._on_bye, "CANCEL": self._on_cancel,
                                        "INFO": self._on_info, "REFER": self._on_refer, "NOTIFY": self._on_notify})

    # ------------------------------------------------------------------ queries
    def rows(self) -> list[dict[str, Any]]:
        return [c.row() for c in self.calls]

    def current(self, endpoint: str) -> Call | None:
        return next((c for c in reversed(self.calls) if c.endpoint == endpoint and c.active), None)

    def _endpoint_for(self, user: str | None) -> str | None:
        rows = self.engine.config.rows("SipEp.UserAgent")
        for row in rows:
            if user and (row.get("Username") == user or row.get("EpId") == user):
                return str(row["EpId"])
        return None

    def _username(self, endpoint: str) -> str:
        for row in self.engine.config.rows("SipEp.UserAgent"):
            if row.get("EpId") == endpoint:
                return str(row.get("Username") or endpoint)
        raise CallError(f"no endpoint {endpoint}", 404)

    def _gateway_of(self, endpoint: str) -> str:
        for row in self.engine.config.rows("SipEp.UserAgent"):
            if row.get("EpId") == endpoint and row.get("GatewayName") in self.engine.gateways:
                return str(row["GatewayName"])
        return next(iter(self.engine.gateways))

    def _contact(self, call: Call) -> tuple[str, str]:
        return ("Contact", str(Address(self.engine.contact_uri(call.gateway, self._username(call.endpoint)))))

    def _admit(self, endpoint: str) -> None:
        reason = self.admission(endpoint) if self.admission is not None else None
        if reason is not None:
            raise CallError(reason, 409)

    def _changed(self, call: Call) -> None:
        for fn in list(self.listeners):
            fn(call)

    def _end(self, call: Call, reason: str, status: int | None = None) -> None:
        if not call.active:
            return
        call.state = "ended"
        call.end_reason = reason
        # The emulated user puts the phone down when a call ends, however it ended (far-end BYE, refusal):
        # otherwise the line would stay off-hook and answer every later call 486 Busy Here.
        self.off_hook.discard(call.endpoint)
        call.status = status if status is not None else call.status
        if call.dialog is not None:
            call.dialog.terminate()
        call.done.set()
        try:
            self.media.ended(call)
        except Exception as exc:
            self.unit.log.warning("media_hook_failed", call=call.id, error=repr(exc))
        ended = [c for c in self.calls if not c.active]
        for old in ended[: max(0, len(ended) - self.keep_ended)]:
            self.calls.remove(old)
        self._changed(call)

    def stop(self) -> None:
        for call in list(self.calls):
            self._end(call, "service stopped")

    # ------------------------------------------------------------------ routing helpers
    def _uri_target(self, uri: Uri) -> Target:
        kind = self.engine.transport_kind
        transport = (uri.transport or kind.lower()).upper()
        if uri.secure:
            transport = "TLS"
        return Target(transport, uri.maddr or uri.host.strip("[]"), uri.port or DEFAULT_PORTS.get(transport, 5060))

    def _dialog_target(self, call: Call) -> Target:
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
        gw = self.engine.gateways[gateway]
        kind = self.engine.transport_kind
        hop = gw.next_hop(kind)
        if hop is None:
            raise CallError("no proxy or registrar configured for the gateway", 503)
        route: list[Address] = []
        outbound_type = str(self.engine.config.get("SipEp.DefaultProxyOutboundType") or "LooseRouter")
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
            if self.current(endpoint) is not None:
                raise CallError(f"endpoint {endpoint} already has a call")
            self._admit(endpoint)
        eng = self.engine
        gateway = self._gateway_of(endpoint)
        gw = eng.gateways[gateway]
        user = self._username(endpoint)
        target, route = self._outbound_route(gateway)
        to_uri = Uri.parse(number) if number.startswith(("sip:", "sips:")) else Uri("sip", user=number, host=gw.domain)
        from_uri = Uri("sip", user=user, host=gw.domain)
        call = Call(next(self._ids), endpoint, gateway, "outgoing", str(from_uri), str(to_uri),
                    new_call_id(eng.unit.host), target=target)
        self.calls.append(call)
        self.off_hook.add(endpoint)
        try:
            call.local_sdp = self.media.offer(call, False)
        except MediaRefused as exc:
            self._end(call, f"media refused ({exc.status})", exc.status)
            return call
        from_addr = Address(from_uri).with_tag(new_tag())
        max_forwards = int(eng.config.get("SipEp.InteropMaxForwardsValue") or 70)

        def make_invite(cseq: int, auth: list[tuple[str, str]]) -> Request:
            return build_request(
                "INVITE", to_uri.copy(), from_=from_addr, to=Address(to_uri), call_id=call.call_id, cseq=cseq,
                via=eng.via(gateway), contact=Address(eng.contact_uri(gateway, user)), route=route,
                max_forwards=max_forwards,
                headers=[*auth, ("Allow", ", ".join(sorted(_ALLOW))), ("Content-Type", "application/sdp"),
                         *eng._ua_header()],
                body=call.local_sdp)

        invite = make_invite(1, [])
        call.invite = invite
        eng._spawn(self._run_invite(call, invite, target, make_invite))
        return call

    async def _run_invite(self, call: Call, invite: Request, target: Target,
                          make_invite: Callable[[int, list[tuple[str, str]]], Request]) -> None:
        def provisional(resp: Response) -> None:
            if not call.active:
                return
            if resp.status in (180, 183):
                call.state = "alerting"
            elif call.state == "dialing":
                call.state = "proceeding"
            if resp.to.tag and call.dialog is None and resp.status > 100 and call.invite is not None:
                call.dialog = Dialog.as_uac(call.invite, resp)
            self._changed(call)
            if call.cancel_requested:
                self._send_cancel(call)

        def on_txn(txn: ClientInviteTransaction) -> None:
            call.client_txn = txn

        async def send(invite: Request) -> tuple[Request, Response | None]:
            # call.target: the server in use after a failover (the engine moves it), not the first one
            response = await self.engine.request(invite, call.target or target, call.gateway,
                                                 on_provisional=provisional, on_transaction=on_txn)
            if response is not None and response.status in (401, 407) and call.active and not call.cancel_requested:
                # §22.2/§22.3: answer the challenge once (same Call-ID and From tag, CSeq + 1, new branch)
                challenges = response.www_authenticate if response.status == 401 else response.proxy_authenticate
                realm = next((c.realm for c in challenges if c.realm), "") or ""
                creds = self.engine.credentials_for(call.endpoint, call.gateway, self._username(call.endpoint),
                                                    realm)
                if creds is not None:
                    header = "Authorization" if response.status == 401 else "Proxy-Authorization"
                    try:
                        value = DigestClient(*creds).authorize(challenges, "INVITE", str(invite.uri))
                    except DigestError:
                        value = None
                    if value is not None:
                        invite = make_invite(invite.cseq.seq + 1, [(header, str(value))])
                        call.invite = invite
                        response = await self.engine.request(invite, call.target or target, call.gateway,
                                                             on_provisional=provisional, on_transaction=on_txn)
            return invite, response

        invite, response = await send(invite)
        fallback = getattr(self.media, "fallback_offer", None)
        if response is not None and response.status in (415, 488) and fallback is not None and call.active \
                and not call.cancel_requested:
            # SecureWithFallback: the peer refused our secure offer; offer plain RTP in a new INVITE
            # (same Call-ID and From tag, CSeq + 1 — like a challenge answer; the refused INVITE made no dialog).
            plain = fallback(call)
            if plain is not None:
                call.local_sdp = plain
                call.dialog = None
                call.state = "dialing"
                invite = make_invite(invite.cseq.seq + 1, [])
                call.invite = invite
                self._changed(call)
                invite, response = await send(invite)
        if response is None:
            self._end(call, "no answer from the network", 408)
            return
        if 200 <= response.status < 300:
            self._confirm(call, invite, response)
            return
        reason = "cancelled" if response.status == 487 and call.cancel_requested else \
            f"{response.status} {response.reason}"
        self._end(call, reason, response.status)

    def _confirm(self, call: Call, invite: Request, response: Response) -> None:
        if call.dialog is None or call.dialog.remote_tag != response.to.tag:
            call.dialog = Dialog.as_uac(invite, response)
        else:
            call.dialog.receive_response(invite, response)
        ack = call.dialog.create_ack(invite, via=self.engine.via(call.gateway))
        call.last_ack = ack
        self.engine.send_stateless(ack, self._dialog_target(call))
        if not call.active:  # cancelled too late: the 2xx won the race (§9.1): confirm, then BYE
            self.engine._spawn(self._bye(call))
            return
        call.remote_sdp = response.body
        call.state = "connected"
        try:
            self.media.answered(call, response.body)
        except MediaRefused as exc:  # the answer is unusable (e.g. Secure and a plain RTP answer): hang up
            call.acked.set()
            self.engine._spawn(self._bye(call, f"media refused ({exc.status})"))
            return
        except Exception as exc:
            self.unit.log.warning("media_hook_failed", call=call.id, error=repr(exc))
        call.acked.set()
        self._changed(call)
        if call.cancel_requested:
            self.engine._spawn(self._bye(call))

    def stray_response(self, response: Response) -> None:
        """A 2xx retransmission to an INVITE already answered (RFC 6026): send the ACK again."""
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            return
        for call in self.calls:
            if call.call_id == response.call_id and call.last_ack is not None and call.dialog is not None:
                self.engine.send_stateless(call.last_ack, self._dialog_target(call))
                return

    def _send_cancel(self, call: Call) -> None:
        txn = call.client_txn
        if txn is None or not txn.can_cancel or call.target is None:
            return
        self.engine._spawn(self.engine.request(txn.make_cancel(), call.target, call.gateway))

    async def _bye(self, call: Call, reason: str = "local hangup") -> None:
        dialog = call.dialog
        if dialog is None or dialog.state is DialogState.TERMINATED:
            return
        target = self._dialog_target(call)
        try:
            bye = dialog.create_request("BYE", via=self.engine.via(call.gateway), headers=self.engine._ua_header())
        except DialogError:
            return
        dialog.terminate()
        self._end(call, reason)
        await self.engine.request(bye, target, call.gateway)

    async def _reinvite(self, call: Call, hold: bool) -> Response | None:
        dialog = call.dialog
        if dialog is None or call.state != "connected":
            raise CallError("no connected call")
        sdp = self.media.offer(call, hold)
        request = dialog.create_request("INVITE", via=self.engine.via(call.gateway), body=sdp,
                                        headers=[("Content-Type", "application/sdp"), *self.engine._ua_header()])
        response = await self.engine.request(request, self._dialog_target(call), call.gateway)
        if response is None or not 200 <= response.status < 300:
            # RFC 3264 §8: a refused re-offer leaves the session as it was
            withdrawn = getattr(self.media, "offer_withdrawn", None)
            if withdrawn is not None:
                withdrawn(call)
        if response is None:
            return None
        dialog.receive_response(request, response)
        if 200 <= response.status < 300:
            ack = dialog.create_ack(request, via=self.engine.via(call.gateway))
            call.last_ack = ack
            self.engine.send_stateless(ack, self._dialog_target(call))
            call.local_sdp = sdp
            call.remote_sdp = response.body
            call.local_hold = hold
            try:
                self.media.answered(call, response.body)
            except MediaRefused as exc:
                await self._bye(call, f"media refused ({exc.status})")
                return response
            except Exception as exc:
                self.unit.log.warning("media_hook_failed", call=call.id, error=repr(exc))
            self._changed(call)
        elif response.status in (408, 481):
            self._end(call, f"{response.status} {response.reason}", response.status)
        return response

    # ------------------------------------------------------------------ endpoint actions
    async def hold(self, endpoint: str) -> Call:
        call = self._connected(endpoint)
        await self._reinvite(call, True)
        return call

    async def resume(self, endpoint: str) -> Call:
        call = self._connected(endpoint)
        await self._reinvite(call, False)
        return call

    def _connected(self, endpoint: str) -> Call:
        call = self.current(endpoint)
        if call is None or call.state != "connected":
            raise CallError(f"endpoint {endpoint} has no connected call")
        return call

    async def answer(self, endpoint: str) -> Call:
        """Answer the ringing incoming call: 200 OK with the SDP answer."""
        call = self.current(endpoint)
        if call is None or call.state != "ringing" or call.server_txn is None or call.invite is None:
            raise CallError(f"endpoint {endpoint} has no ringing call")
        self.off_hook.add(endpoint)
        try:
            call.local_sdp = self.media.answer(call, call.invite.body, call.local_hold)
        except MediaRefused as exc:
            self._reject(call, exc.status, exc.reason)
            return call
        ok = make_response(call.invite, 200, to_tag=call.dialog.local_tag if call.dialog else new_tag(),
                           headers=[*_record_route(call.invite), self._contact(call),
                                    ("Allow", ", ".join(sorted(_ALLOW))), ("Content-Type", "application/sdp"),
                                    *self.engine._ua_header()],
                           body=call.local_sdp)
        call.dialog = Dialog.as_uas(call.invite, ok)
        call.state = "connected"
        self.engine.respond(call.server_txn, ok)
        if call.source is not None and not call.source.reliable:
            self.engine._spawn(self._retransmit_2xx(call, call.server_txn, ok))
        self._changed(call)
        return call

    async def _retransmit_2xx(self, call: Call, txn: ServerInviteTransaction, ok: Response) -> None:
        """§13.3.1.4: over UDP the UAS core re-sends its 2xx (T1, doubling to T2) until the ACK; none
        after 64*T1: the call is ended with a BYE."""
        timers = self.engine.timers
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
                await self._bye(call)
                call.end_reason = "no ACK"
                return
            if not txn.terminated:
                self.engine.respond(txn, ok)
            interval = min(interval * 2, timers.t2)

    async def offhook(self, endpoint: str) -> Call | None:
        """Lift the handset: answers a ringing call, otherwise the line is off-hook (dial tone)."""
        call = self.current(endpoint)
        if call is not None and call.state == "ringing":
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
        if call.state == "connected":
            await self._bye(call)
        elif call.direction == "outgoing":
            call.cancel_requested = True
            self._send_cancel(call)  # after a provisional response; otherwise sent when one arrives
            try:
                await asyncio.wait_for(call.done.wait(), self.engine.timers.b + 1)
            except TimeoutError:
                self._end(call, "cancelled without answer")
        else:
            self._reject(call, 486, None)
        return call

    def _reject(self, call: Call, status: int, reason: str | None) -> None:
        if call.server_txn is not None and call.invite is not None and call.server_txn.can_cancel:
            tag = call.dialog.local_tag if call.dialog else new_tag()
            self.engine.respond(call.server_txn, make_response(call.invite, status, reason, to_tag=tag))
        self._end(call, "rejected" if status == 486 else f"{status}", status)

    # ------------------------------------------------------------------ UAS
    def _on_invite(self, request: Request, txn: Any, source: Source) -> None:
        eng = self.engine
        if request.to.tag is not None:
            self._on_reinvite(request, txn, source)
            return
        endpoint = self._endpoint_for(request.uri.user)
        if endpoint is None:
            eng.respond(txn, make_response(request, 404, to_tag=new_tag()))
            return
        if self.current(endpoint) is not None or endpoint in self.off_hook:
            eng.respond(txn, make_response(request, 486, to_tag=new_tag()))
            return
        if self.admission is not None and self.admission(endpoint) is not None:
            eng.respond(txn, make_response(request, 480, to_tag=new_tag()))  # locked: see services/epadm.py
            return
        gateway = self._gateway_of(endpoint)
        call = Call(next(self._ids), endpoint, gateway, "incoming", str(request.to.uri), str(request.from_.uri),
                    request.call_id, invite=request, server_txn=txn, source=source, remote_sdp=request.body)
        self.calls.append(call)
        check = getattr(self.media, "check", None)
        if check is not None and request.body:
            try:
                check(call, request.body)  # an unacceptable offer is refused before ringing
            except MediaRefused as exc:
                eng.respond(txn, make_response(request, exc.status, exc.reason, to_tag=new_tag()))
                self._end(call, str(exc.status), exc.status)
                return
        ringing = make_response(request, 180, to_tag=new_tag(),
                                headers=[*_record_route(request), self._contact(call), *eng._ua_header()])
        call.dialog = Dialog.as_uas(request, ringing)
        call.state = "ringing"
        eng.respond(txn, ringing)
        self._changed(call)

    def _find_dialog(self, request: Request) -> Call | None:
        ident = uas_dialog_id(request)
        for call in self.calls:
            d = call.dialog
            if d is not None and d.call_id == ident.call_id and d.local_tag == ident.local_tag and \
                    d.remote_tag == ident.remote_tag and call.active:
                return call
        return None

    def _on_reinvite(self, request: Request, txn: Any, source: Source) -> None:
        eng = self.engine
        call = self._find_dialog(request)
        if call is None or call.dialog is None:
            eng.respond(txn, make_response(request, 481))
            return
        try:
            call.dialog.receive_request(request)
        except DialogError as exc:
            eng.respond(txn, make_response(request, exc.status_code or 500))
            return
        remote_hold = sdp_direction(request.body) in ("sendonly", "inactive") if request.body else call.remote_hold
        try:
            sdp = self.media.answer(call, request.body, call.local_hold) if request.body else \
                self.media.offer(call, call.local_hold)
        except MediaRefused as exc:
            eng.respond(txn, make_response(request, exc.status, exc.reason))
            return
        call.remote_hold = remote_hold
        call.remote_sdp = request.body or call.remote_sdp
        call.local_sdp = sdp
        eng.respond(txn, make_response(request, 200, headers=[
            *_record_route(request), self._contact(call), ("Content-Type", "application/sdp"),
            *eng._ua_header()], body=sdp))
        self._changed(call)

    def ack_received(self, ack: Request) -> None:
        call = self._find_dialog(ack)
        if call is not None:
            call.acked.set()

    def _on_bye(self, request: Request, txn: Any, source: Source) -> None:
        call = self._find_dialog(request)
        if call is None:
            self.engine.respond(txn, make_response(request, 481))
            return
        with_dialog = call.dialog
        if with_dialog is not None:
            with_dialog.receive_request(request)
        self.engine.respond(txn, make_response(request, 200, headers=self.engine._ua_header()))
        self._end(call, "remote hangup")

    def _in_dialog(self, request: Request, txn: Any) -> Call | None:
        """The call whose dialog a mid-call request belongs to, accounted (§12.2.2); None once answered 481
        (no such dialog) or 500 (CSeq out of order)."""
        call = self._find_dialog(request)
        if call is None or call.dialog is None:
            self.engine.respond(txn, make_response(request, 481))
            return None
        try:
            call.dialog.receive_request(request)
        except DialogError as exc:
            self.engine.respond(txn, make_response(request, exc.status_code or 500))
            return None
        return call

    def _on_info(self, request: Request, txn: Any, source: Source) -> None:
        """INFO in a call (RFC 6086 legacy use, no Info-Package): DTMF relay bodies are read as digits
        (``application/dtmf-relay`` "Signal=5", ``application/dtmf`` "5"); anything else is accepted unread."""
        call = self._in_dialog(request, txn)
        if call is None:
            return
        digit = info_dtmf_digit(request.headers.get("Content-Type") or "", request.body)
        if digit is not None:
            received = getattr(self.media, "dtmf_received", None)
            if received is not None:
                received(call, digit)
        self.engine.respond(txn, make_response(request, 200, headers=self.engine._ua_header()))

    async def dtmf(self, endpoint: str, digits: str, duration_ms: int = 100, gap_ms: int = 60) -> str:
        """Send DTMF in the endpoint's connected call as its Media settings say: "rfc4733" / "inband" (the
        media hook) or "info" (one SIP INFO per digit, ``SipEp.InteropDtmfTransportMethod``'s body)."""
        call = self._connected(endpoint)
        method = getattr(self.media, "dtmf_method", lambda _call: "inband")(call)
        if method != "info":
            result: str = self.media.send_dtmf(call, digits, duration_ms, gap_ms)  # type: ignore[attr-defined]
            return result
        relay = str(self.engine.config.get("SipEp.InteropDtmfTransportMethod") or "") == "InfoDtmfRelay"
        for d in parse_digits(digits):
            if call.dialog is None or not call.active:
                break
            ctype, body = (("application/dtmf-relay", f"Signal={d}\r\nDuration={duration_ms}\r\n") if relay
                           else ("application/dtmf", d))
            request = call.dialog.create_request("INFO", via=self.engine.via(call.gateway), body=body.encode(),
                                                 headers=[("Content-Type", ctype), *self.engine._ua_header()])
            await self.engine.request(request, self._dialog_target(call), call.gateway)
        return "info"

    # ------------------------------------------------------------------ blind transfer (RFC 3515, RFC 5589)
    async def transfer(self, endpoint: str, number: str) -> Call:
        """Transferor: REFER the far end of the endpoint's connected call to ``number``; the call is released
        (BYE) when the far end reports by NOTIFY that the new call was answered (``call.transfer``)."""
        call = self._connected(endpoint)
        dialog = call.dialog
        assert dialog is not None
        gw = self.engine.gateways[call.gateway]
        target = Uri.parse(number) if number.startswith(("sip:", "sips:")) else Uri("sip", user=number, host=gw.domain)
        request = dialog.create_request("REFER", via=self.engine.via(call.gateway), headers=[
            ("Refer-To", f"<{target}>"), ("Referred-By", f"<{call.local_uri}>"), *self.engine._ua_header()])
        call.transfer = "pending"
        response = await self.engine.request(request, self._dialog_target(call), call.gateway)
        if response is not None:
            dialog.receive_response(request, response)
        if response is None or not 200 <= response.status < 300:
            call.transfer = f"failed {response.status if response is not None else 408}"
            self._changed(call)
            raise CallError(f"the far end refused the transfer ({response.status if response else 'no answer'})")
        self._changed(call)
        return call

    def _on_refer(self, request: Request, txn: Any, source: Source) -> None:
        """Transferee: 202, then call the Refer-To target and report its progress by NOTIFY (message/sipfrag)."""
        refer_to = request.headers.get("Refer-To") or request.headers.get("r")
        try:
            target = parse_address(refer_to.strip(), "Refer-To").uri if refer_to else None
        except ValueError:  # SipParseError
            target = None
        if target is None or not target.is_sip:
            self.engine.respond(txn, make_response(request, 400, "Bad Refer-To"))
            return
        call = self._in_dialog(request, txn)
        if call is None:
            return
        self.engine.respond(txn, make_response(request, 202, headers=self.engine._ua_header()))
        self.engine._spawn(self._run_referred_call(call, str(target)))

    async def _run_referred_call(self, call: Call, target: str) -> None:
        await self._notify_refer(call, "SIP/2.0 100 Trying", final=False)
        try:
            new = await self.dial(call.endpoint, target, transferred=True)
        except CallError as exc:
            await self._notify_refer(call, f"SIP/2.0 {exc.status} Not Possible", final=True)
            return
        waits = [asyncio.ensure_future(new.acked.wait()), asyncio.ensure_future(new.done.wait())]
        await asyncio.wait(waits, timeout=64 * self.engine.timers.t1 + 180, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        if new.state == "connected":
            await self._notify_refer(call, "SIP/2.0 200 OK", final=True)
        else:
            status = new.status if new.status and new.status >= 300 else 487
            await self._notify_refer(call, f"SIP/2.0 {status} {new.end_reason or 'Failed'}", final=True)

    async def _notify_refer(self, call: Call, frag: str, *, final: bool) -> None:
        dialog = call.dialog
        if dialog is None or not call.active:
            return
        try:
            request = dialog.create_request("NOTIFY", via=self.engine.via(call.gateway), body=(frag + "\r\n").encode(),
                                            headers=[("Event", "refer"),
                                                     ("Subscription-State",
                                                      "terminated;reason=noresource" if final else "active;expires=60"),
                                                     ("Content-Type", "message/sipfrag;version=2.0"),
                                                     *self.engine._ua_header()])
        except DialogError:
            return
        response = await self.engine.request(request, self._dialog_target(call), call.gateway)
        if response is not None and call.dialog is not None:
            call.dialog.receive_response(request, response)

    def _on_notify(self, request: Request, txn: Any, source: Source) -> None:
        """Transferor: the transferee's report (RFC 3515 §2.4.5); a final 2xx sipfrag releases our call."""
        call = self._in_dialog(request, txn)
        if call is None:
            return
        self.engine.respond(txn, make_response(request, 200, headers=self.engine._ua_header()))
        status = sipfrag_status(request.body)
        if status is None or status < 200 or not call.transfer:
            return
        if status < 300:
            call.transfer = "done"
            self.engine._spawn(self._bye(call, "transferred"))
        else:
            call.transfer = f"failed {status}"
        self._changed(call)

    def _on_cancel(self, request: Request, txn: Any, source: Source) -> None:
        target = self.engine.layer.find_cancel_target(request)
        if target is None:
            self.engine.respond(txn, make_response(request, 481, to_tag=new_tag()))
            return
        self.engine.respond(txn, make_response(request, 200, to_tag=new_tag()))
        call = next((c for c in self.calls if c.server_txn is target and c.active), None)
        if call is not None and target.can_cancel and call.invite is not None:
            tag = call.dialog.local_tag if call.dialog else new_tag()
            self.engine.respond(target, make_response(call.invite, 487, to_tag=tag))
            self._end(call, "cancelled by the caller", 487)

    def timed_out(self, txn: Transaction, timer: str) -> None:
        """Timer H (no ACK for our final response): the call cannot be completed."""
        if timer == "H":
            for call in self.calls:
                if call.server_txn is txn and call.active:
                    self._end(call, "no ACK", 408)


_ALLOW = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "REFER", "NOTIFY"})


def sipfrag_status(body: bytes) -> int | None:
    """The status code of a message/sipfrag status line (RFC 3420), e.g. b"SIP/2.0 200 OK" -> 200."""
    parts = body.split(b"\r\n", 1)[0].split(b"\n", 1)[0].split()
    if len(parts) >= 2 and parts[0].upper().startswith(b"SIP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def info_dtmf_digit(content_type: str, body: bytes) -> str | None:
    """The digit a DTMF-relay INFO carries, or None: ``application/dtmf-relay`` with a ``Signal=`` line, or
    ``application/dtmf`` whose body is the digit (an event number 0-15 is read as its digit too)."""
    ctype = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace").strip()
    if ctype == "application/dtmf-relay":
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip().lower() == "signal":
                text = value.strip()
                break
        else:
            return None
    elif ctype != "application/dtmf":
        return None
    if text.isdigit() and len(text) <= 2 and int(text) < len(EVENTS):
        return EVENTS[int(text)]
    return text.upper() if len(text) == 1 and text.upper() in EVENTS else None

#: Endpoint actions of the automation contract (``POST /api/v1/endpoints/{EpId}/{action}``).
ACTIONS = ("offhook", "dial", "answer", "hangup", "hold", "resume", "transfer")


async def endpoint_action(manager: CallManager, endpoint: str, action: str,
                          body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one endpoint action; the JSON answer is ``{"endpoint", "action", "call"}`` (call row or null).

    Raises :class:`CallError` with the HTTP status: 404 unknown endpoint or action, 400 ``dial``
    without a ``number``, 409 when the endpoint's state does not allow the action, 503 when SipEp
    is not running or has no server to call through."""
    if action not in ACTIONS:
        raise CallError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})", 404)
    known = {str(r["EpId"]).lower(): str(r["EpId"]) for r in manager.engine.config.rows("SipEp.UserAgent")}
    ep = known.get(endpoint.lower())
    if ep is None:
        raise CallError(f"unknown endpoint {endpoint!r}", 404)
    if not manager.engine.running:
        raise CallError("the SipEp service is not running", 503)
    call: Call | None
    if action in ("dial", "transfer"):
        number = str((body or {}).get("number") or (body or {}).get("uri") or "")
        if not number:
            raise CallError(f"{action} needs a 'number' (a user part or a sip: URI)", 400)
        call = await (manager.dial(ep, number) if action == "dial" else manager.transfer(ep, number))
    elif action == "offhook":
        call = await manager.offhook(ep)
    elif action == "answer":
        call = await manager.answer(ep)
    elif action == "hangup":
        call = await manager.hangup(ep)
    elif action == "hold":
        call = await manager.hold(ep)
    else:
        call = await manager.resume(ep)
    return {"endpoint": ep, "action": action, "call": call.row() if call is not None else None}

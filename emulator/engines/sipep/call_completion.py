"""Call completion (RFC 6910) as the calling unit — the agent — over :mod:`emulator.protocols.sip.call_completion`.

* A call of a line refused busy (486) or that rang out unanswered (408/480/487 after an 18x) is remembered as the
  line's candidate when the service is on (``EpServ.DefaultCallCompletionBusySubscriberEnable`` / ``NoReplyEnable``,
  or the line's ``EpServ.EpSpecificCallCompletion`` row when its EnableConfig is Enable), with the monitor the
  refusal names (``Call-Info: <uri>;purpose=call-completion``), else the callee's URI.
* :meth:`CallCompletion.request` — the user asks for completion (what the activation code does): the unit
  SUBSCRIBEs to the ``call-completion`` event at the monitor (``Expires`` = ``DefaultCallCompletionExpirationTimeout``
  minutes; straight to the monitor's host, as MWI does: an emulator choice), and ``EpServ.CallCompletionConfig``
  lists the request (Type, TargetAddress, TargetState Unknown, then Busy while queued, Idle when ready).
* A NOTIFY ``cc-state: ready`` recalls the caller; the emulated user takes the recall at once (emulator choice)
  and the line calls the callee again, its Request-URI the notified ``cc-URI`` or the callee with ``m=BS``/``m=NR``;
  the subscription is then ended (SUBSCRIBE with Expires 0) and the row goes. A request not ready when it expires
  is ended the same way.

Not acted on: ``DefaultCallCompletionMethod`` MonitoringAndPolling (monitoring only), the polling interval,
auto-reactivation, the early-media behaviour; the unit is never the monitor (the DGW does not accept SUBSCRIBE).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.call_ua import CallUA, RequestHandler
from emulator.engines.sipep.forwarding import lenient
from emulator.engines.sipep.transport import Source
from emulator.protocols.sip.call_completion import (
    EVENT,
    MIME,
    CcRequest,
    CcServices,
    candidate,
    monitor_of,
    parse_body,
    services,
)
from emulator.protocols.sip.dialog import Dialog, DialogError, build_request, new_call_id, new_tag
from emulator.protocols.sip.headers import Address
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.target import Target
from emulator.protocols.sip.uri import Uri
from firmware_model.config import ConfigError

__all__ = ["CallCompletion", "CompletionCalls"]


class CompletionCalls(Protocol):
    """What call completion needs of the call layer (:class:`~emulator.engines.sipep.calls.CallManager`)."""

    listeners: list[Callable[[Call], None]]

    def current(self, endpoint: str) -> Call | None: ...

    def username(self, endpoint: str) -> str: ...

    def gateway_of(self, endpoint: str) -> str: ...

    def uri_target(self, uri: Uri) -> Target: ...

    async def dial(self, endpoint: str, number: str, *, transferred: bool = False) -> Call: ...


@dataclass
class _Candidate:
    kind: str
    target: str
    monitor: str


@dataclass
class _Subscription:
    request: CcRequest
    gateway: str
    target: Target
    call_id: str
    local_tag: str
    dialog: Dialog | None = None


class CallCompletion:
    """The call-completion agent of one unit's lines (see the module docstring)."""

    def __init__(self, calls: CompletionCalls, ua: CallUA) -> None:
        self.calls = calls
        self.ua = ua
        self.candidates: dict[str, _Candidate] = {}
        self.subscriptions: list[_Subscription] = []
        self._index = itertools.count(1)
        self._other_notify: RequestHandler | None = ua.request_handlers.get("NOTIFY")
        ua.request_handlers["NOTIFY"] = self.on_notify
        try:
            ua.settings.config.provide_rows("EpServ.CallCompletionConfig", self.rows)
        except (ConfigError, KeyError):  # a catalog without the table
            pass

    # ------------------------------------------------------------------ parameters and status
    def services(self, endpoint: str) -> CcServices:
        return services(lenient(self.ua.settings.config), endpoint)

    def rows(self) -> list[dict[str, Any]]:
        """``EpServ.CallCompletionConfig``: the lines' requests in progress."""
        return [{"Index": s.request.index, "EpId": s.request.endpoint, "Type": s.request.kind,
                 "TargetAddress": s.request.target, "TargetState": s.request.target_state}
                for s in self.subscriptions if s.request.active]

    # ------------------------------------------------------------------ candidates
    def refused(self, call: Call, response: Response) -> None:
        """Our INVITE for ``call`` got the final ``response`` (not a 2xx): remember the line's candidate."""
        if call.direction != "outgoing" or call.invite is None:
            return
        line = self.services(call.endpoint)
        kind = candidate(response.status, call.state is CallState.ALERTING, ccbs=line.ccbs, ccnr=line.ccnr)
        if kind is None:
            return
        target = str(call.invite.uri)
        monitor = monitor_of(response.headers.get_all("Call-Info")) or target
        self.candidates[call.endpoint] = _Candidate(kind, target, monitor)

    # ------------------------------------------------------------------ the request
    def request(self, endpoint: str) -> CcRequest:
        """The user asks for the completion of the line's last failed call (LookupError when it has none)."""
        cand = self.candidates.pop(endpoint, None)
        if cand is None:
            raise LookupError(f"endpoint {endpoint} has no call to complete")
        lifetime = self.services(endpoint).expiration_s
        loop = asyncio.get_running_loop()
        req = CcRequest(next(self._index), endpoint, cand.kind, cand.target, cand.monitor, loop.time() + lifetime)
        gateway = self.calls.gateway_of(endpoint)
        sub = _Subscription(req, gateway, self.calls.uri_target(Uri.parse(cand.monitor)),
                            new_call_id(self.ua.host), new_tag())
        self.subscriptions.append(sub)
        self.ua.spawn(self._subscribe(sub, int(lifetime)))
        loop.call_at(req.expires_at, self._expire, sub)
        return req

    def _subscribe_request(self, sub: _Subscription, expires: int, cseq: int) -> Request:
        headers = [("Event", EVENT), ("Accept", MIME), ("Expires", str(expires)), *self.ua.ua_headers()]
        if sub.dialog is not None:
            return sub.dialog.create_request("SUBSCRIBE", via=self.ua.via(sub.gateway), headers=headers)
        user = self.calls.username(sub.request.endpoint)
        gw = self.ua.gateways.get(sub.gateway)
        aor = Uri("sip", user=user, host=gw.domain if gw is not None else self.ua.host)
        monitor = Uri.parse(sub.request.monitor)
        return build_request("SUBSCRIBE", monitor.copy(), from_=Address(aor).with_tag(sub.local_tag),
                             to=Address(Uri.parse(sub.request.target)), call_id=sub.call_id, cseq=cseq,
                             via=self.ua.via(sub.gateway), contact=Address(self.ua.contact_uri(sub.gateway, user)),
                             headers=headers)

    async def _subscribe(self, sub: _Subscription, expires: int) -> None:
        request = self._subscribe_request(sub, expires, 1)
        response = await self.ua.request(request, sub.target, sub.gateway)
        if response is None or not 200 <= response.status < 300:
            sub.request.state = "refused"
            self.ua.log.info("call_completion_refused", endpoint=sub.request.endpoint,
                             status=response.status if response is not None else None)
            return
        if sub.dialog is None:
            sub.dialog = Dialog.as_uac(request, response)

    async def _unsubscribe(self, sub: _Subscription) -> None:
        if sub.dialog is None:
            return
        try:
            request = self._subscribe_request(sub, 0, 0)
        except DialogError:
            return
        await self.ua.request(request, sub.target, sub.gateway)

    def _expire(self, sub: _Subscription) -> None:
        if sub.request.expired(asyncio.get_running_loop().time()):
            self.ua.spawn(self._unsubscribe(sub))

    # ------------------------------------------------------------------ NOTIFY
    def _subscription_of(self, request: Request) -> _Subscription | None:
        for sub in self.subscriptions:
            if sub.call_id == request.call_id and request.to.tag == sub.local_tag:
                return sub
        return None

    def on_notify(self, request: Request, txn: Any, source: Source) -> None:
        event = (request.headers.get("Event") or "").split(";")[0].strip().lower()
        sub = self._subscription_of(request) if event == EVENT else None
        if sub is None:
            if self._other_notify is not None:
                self._other_notify(request, txn, source)
            else:
                self.ua.respond(txn, make_response(request, 481, to_tag=new_tag()))
            return
        # (it may come before the 200 to our SUBSCRIBE, RFC 6665 §4.1.2.4: matched by Call-ID and our tag all the same)
        self.ua.respond(txn, make_response(request, 200, headers=self.ua.ua_headers()))
        terminated = (request.headers.get("Subscription-State") or "").lower().startswith("terminated")
        if sub.request.notified(parse_body(request.body), terminated):
            self.ua.spawn(self._recall(sub))

    async def _recall(self, sub: _Subscription) -> None:
        """The callee is free: the line calls it again (the recall taken at once), then the subscription ends."""
        req = sub.request
        if self.calls.current(req.endpoint) is None:
            self.ua.log.info("call_completion_recall", endpoint=req.endpoint, target=req.recall_uri())
            await self.calls.dial(req.endpoint, req.recall_uri())
        req.state = "done"
        await self._unsubscribe(sub)

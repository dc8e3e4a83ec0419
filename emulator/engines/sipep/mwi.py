"""Message waiting of a unit's lines (RFC 3842, RFC 6665): the asyncio side of :mod:`emulator.protocols.sip.mwi`.

When SipEp starts, each endpoint whose ``SipEp.UserAgent`` MwiSubscribe is Enable subscribes to the
message-summary event of its user at the messaging host: the gateway's ``SipEp.GwSpecificMwi`` MessagingHost when
that row's EnableConfig is Enable, else ``SipEp.DefaultStaticMessagingHost``; the Request-URI carries the user name
when the row's UsernameInRequestUriEnable is Enable (else the host alone). The SUBSCRIBE goes straight to the
messaging host (an emulator choice: no outbound proxy in between), answers one digest challenge, and is refreshed
at half its granted Expires; a refused or unanswered one is sent again 64*T1 later (an emulator choice).
A NOTIFY may come before the 200 to the SUBSCRIBE (RFC 6665 §4.1.2.4): it is matched by Call-ID and our tag.
``SipEp.MwiStatus`` shows each subscription's state.

A NOTIFY for the event (in the subscription's dialog, or unsolicited, addressed to a line's user name) is answered
200 and sets the line's message-waiting state: the summary, and how the line shows it per
``Pots.FxsDefaultMessageWaitingIndicatorActivation`` (or the line's ``Pots.FxsSpecificMessageWaitingIndicator``
row when its EnableConfig is Enable): a visual indicator (Visual, ToneAndVisual) and the stutter dial tone (Tone,
ToneAndVisual). Other NOTIFYs go to the call layer's handler.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from emulator.engines.sipep.call_ua import CallUA, RequestHandler
from emulator.engines.sipep.settings import ServerAddr
from emulator.engines.sipep.transport import Source
from emulator.protocols.sip.dialog import Dialog, DialogError, build_request, new_call_id, new_tag
from emulator.protocols.sip.digest import DigestClient, DigestError
from emulator.protocols.sip.headers import Address
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.mwi import EVENT, MIME, MessageSummary, parse_summary, state_after_response
from emulator.protocols.sip.uri import Uri

__all__ = ["LineIndicator", "MwiSubscriptions"]

EXPIRES = 3600


@dataclass(slots=True)
class _Subscription:
    index: int
    endpoint: str
    gateway: str
    user: str
    host: str
    state: str = "Unsubscribed"
    call_id: str = ""
    local_tag: str = ""
    dialog: Dialog | None = None
    task: asyncio.Task[Any] | None = None


@dataclass(slots=True)
class LineIndicator:
    """A line's message-waiting state as the phone shows it."""

    summary: MessageSummary | None = None
    visual: bool = False  # the lamp / FSK indicator
    stutter_tone: bool = False  # the stutter dial tone on off-hook
    activation: str = "ToneAndVisual"
    notifies: list[str] = field(default_factory=list)  # the Messages-Waiting values received, in order

    def row(self) -> dict[str, Any]:
        s = self.summary
        return {"waiting": bool(s and s.waiting), "new": s.new if s else 0, "old": s.old if s else 0,
                "visual": self.visual, "stutter_tone": self.stutter_tone, "activation": self.activation}


class MwiSubscriptions:
    """The MWI subscriptions and line indicators of one unit (see the module docstring)."""

    def __init__(self, ua: CallUA) -> None:
        self.ua = ua
        self.subscriptions: list[_Subscription] = []
        self.lines: dict[str, LineIndicator] = {}
        self._other_notify: RequestHandler | None = ua.request_handlers.get("NOTIFY")
        ua.request_handlers["NOTIFY"] = self.on_notify

    # ------------------------------------------------------------------ configuration
    def _messaging_host(self, gateway: str) -> tuple[str, bool]:
        get = self.ua.settings.get
        for row in self.ua.settings.rows("SipEp.GwSpecificMwi"):
            if str(row.get("GatewayName")) == gateway:
                with_user = str(row.get("UsernameInRequestUriEnable")) == "Enable"
                if str(row.get("EnableConfig")) == "Enable":
                    return str(row.get("MessagingHost") or ""), with_user
                return str(get("SipEp.DefaultStaticMessagingHost", "") or ""), with_user
        return str(get("SipEp.DefaultStaticMessagingHost", "") or ""), False

    def rows(self) -> list[dict[str, Any]]:
        """``SipEp.MwiStatus``."""
        return [{"Index": s.index, "GatewayName": s.gateway, "SubscriptionState": s.state, "Endpoint": s.endpoint,
                 "MessagingHost": s.host, "Username": s.user} for s in self.subscriptions]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.subscriptions.clear()
        for row in self.ua.settings.endpoint_rows():
            if str(row.get("MwiSubscribe")) != "Enable":
                continue
            endpoint = str(row["EpId"])
            gateway = str(row.get("GatewayName") or "")
            if gateway not in self.ua.gateways:
                gateway = next(iter(self.ua.gateways), "")
            host, _ = self._messaging_host(gateway)
            sub = _Subscription(len(self.subscriptions) + 1, endpoint, gateway, str(row.get("Username") or endpoint),
                                host)
            self.subscriptions.append(sub)
            if ServerAddr.parse(host) is None:
                sub.state = "ConfigError"
                continue
            sub.task = self.ua.spawn(self._run(sub))

    def stop(self) -> None:
        for sub in self.subscriptions:
            if sub.task is not None:
                sub.task.cancel()
            sub.state = "Unsubscribed"

    async def _run(self, sub: _Subscription) -> None:
        host, with_user = self._messaging_host(sub.gateway)
        server = ServerAddr.parse(host)
        assert server is not None
        gw = self.ua.gateways.get(sub.gateway)
        domain = gw.domain if gw is not None else server.host
        transport = self.ua.transport_kind
        target = server.target(transport)
        uri = Uri("sip", user=sub.user if with_user else None, host=server.host, port=server.port or None)
        aor = Uri("sip", user=sub.user, host=domain)
        sub.local_tag, sub.call_id = new_tag(), new_call_id(self.ua.host)
        from_addr = Address(aor).with_tag(sub.local_tag)
        call_id = sub.call_id
        cseq = 1
        auth: list[tuple[str, str]] = []
        while True:
            sub.state = "Subscribing" if sub.dialog is None else "Refreshing"
            if sub.dialog is None:
                request = build_request("SUBSCRIBE", uri.copy(), from_=from_addr, to=Address(aor), call_id=call_id,
                                        cseq=cseq, via=self.ua.via(sub.gateway, transport),
                                        contact=Address(self.ua.contact_uri(sub.gateway, sub.user)),
                                        headers=[*auth, *self._headers()])
            else:
                try:
                    request = sub.dialog.create_request("SUBSCRIBE", via=self.ua.via(sub.gateway, transport),
                                                        headers=[*auth, *self._headers()])
                except DialogError:
                    sub.dialog = None
                    continue
            response = await self.ua.request(request, target, sub.gateway)
            cseq += 1
            if response is not None and response.status in (401, 407) and not auth:
                auth = self._authorization(sub, request, response)
                if auth:
                    continue
            auth = []
            sub.state = state_after_response(response.status if response is not None else None)
            if response is None or not 200 <= response.status < 300:
                await asyncio.sleep(self.ua.timers.b)  # again after 64*T1 (an emulator choice of delay)
                sub.dialog = None
                continue
            if sub.dialog is None:
                sub.dialog = Dialog.as_uac(request, response)
            else:
                sub.dialog.receive_response(request, response)
            granted = int(response.headers.get("Expires") or EXPIRES) if (response.headers.get("Expires") or
                                                                          "").isdigit() else EXPIRES
            await asyncio.sleep(max(granted / 2, 1.0))

    def _headers(self) -> list[tuple[str, str]]:
        return [("Event", EVENT), ("Accept", MIME), ("Expires", str(EXPIRES)), *self.ua.ua_headers()]

    def _authorization(self, sub: _Subscription, request: Request, response: Response) -> list[tuple[str, str]]:
        challenges = response.www_authenticate if response.status == 401 else response.proxy_authenticate
        realm = next((c.realm for c in challenges if c.realm), "") or ""
        creds = self.ua.settings.credentials_for(sub.endpoint, sub.gateway, sub.user, realm)
        if creds is None:
            return []
        try:
            value = DigestClient(*creds).authorize(challenges, "SUBSCRIBE", str(request.uri))
        except DigestError:
            return []
        return [("Authorization" if response.status == 401 else "Proxy-Authorization", str(value))]

    # ------------------------------------------------------------------ NOTIFY
    def on_notify(self, request: Request, txn: Any, source: Source) -> None:
        event = (request.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != EVENT:
            if self._other_notify is not None:
                self._other_notify(request, txn, source)
            else:
                self.ua.respond(txn, make_response(request, 481, to_tag=new_tag()))
            return
        endpoint = self._notified_endpoint(request)
        if endpoint is None:
            self.ua.respond(txn, make_response(request, 481, to_tag=new_tag()))
            return
        self.ua.respond(txn, make_response(request, 200, to_tag=None if request.to.tag else new_tag(),
                                           headers=self.ua.ua_headers()))
        summary = parse_summary(request.body)
        if summary is not None:
            self.indicate(endpoint, summary)

    def _notified_endpoint(self, request: Request) -> str | None:
        """The line a message-summary NOTIFY is for: its subscription's (in dialog), else the Request-URI user's."""
        if request.to.tag is not None:
            for sub in self.subscriptions:
                if sub.call_id != request.call_id or sub.local_tag != request.to.tag:
                    continue
                if sub.dialog is not None:
                    try:
                        sub.dialog.receive_request(request)
                    except DialogError:
                        return None
                return sub.endpoint
            return None
        user = request.uri.user
        for row in self.ua.settings.endpoint_rows():
            if user and user in (row.get("Username"), row.get("EpId")):
                return str(row["EpId"])
        return None

    def activation(self, endpoint: str) -> str:
        """How the line shows message waiting (Pots): its specific row when enabled, else the default."""
        for row in self.ua.settings.rows("Pots.FxsSpecificMessageWaitingIndicator"):
            if str(row.get("Id")) == endpoint and str(row.get("EnableConfig")) == "Enable":
                return str(row.get("Activation"))
        return str(self.ua.settings.get("Pots.FxsDefaultMessageWaitingIndicatorActivation", "ToneAndVisual"))

    def indicate(self, endpoint: str, summary: MessageSummary) -> LineIndicator:
        line = self.lines.setdefault(endpoint, LineIndicator())
        activation = self.activation(endpoint)
        line.summary, line.activation = summary, activation
        line.visual = summary.waiting and activation in ("Visual", "ToneAndVisual")
        line.stutter_tone = summary.waiting and activation in ("Tone", "ToneAndVisual")
        line.notifies.append("yes" if summary.waiting else "no")
        self.ua.log.info("message_waiting", endpoint=endpoint, waiting=summary.waiting, new=summary.new,
                         visual=line.visual, tone=line.stutter_tone)
        return line

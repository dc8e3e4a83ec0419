"""The UAS's checks that decide how to answer a request, and which messages to drop (RFC 3261 §8.2, §16.3).

``check_request`` walks the order of §8.2 after making sure a response can be built at all:

1. the fields a response copies must read (§8.2.6: Via, From, To, Call-ID, CSeq) and the other
   structural fields must parse (Max-Forwards, Contact, Route, Record-Route, Content-Type, Require,
   Accept): 400 with the field's name as reason (RFC 4475 §3.1.2.1, .4, .6, .13-.15, §3.3.1, §3.3.8);
   a top Via branch that is only the magic cookie is a 400 too (RFC 4475 §3.2.1 permits it);
2. Max-Forwards 0 at a proxy: 483 (§16.3 item 3, RFC 4475 §3.3.11; even for OPTIONS); a UAS goes on (RFC 4475 §3.3.11);
3. Request-URI scheme: 416 (§8.2.2.1, RFC 4475 §3.3.2, §3.3.3); headers in it: 400 (§19.1.1 table,
   RFC 4475 §3.1.2.11);
4. method: 501 unknown, 405 known but not allowed, both with Allow (§8.2.1); CSeq method mismatch: 400
   (RFC 4475 §3.1.2.17; §3.1.2.18 prefers the 501, which comes first);
5. Require: 420 with Unsupported (§8.2.2.3; Proxy-Require only at a proxy, §16.3 item 5);
6. body: 415 with Accept / Accept-Encoding (§8.2.3, RFC 4475 §3.3.6); an INVITE whose Accept excludes
   SDP: 406 (RFC 4475 §3.3.15);
7. a registrar refuses a To that is not a SIP/SIPS URI: 400 (§10.3, RFC 4475 §3.3.4).

Merged requests (482, §8.2.2.2) need memory across requests: :class:`MergedRequests`; a request for
a dialog this UA does not know, or a CANCEL matching no INVITE, gets 481 (:func:`check_dialog`,
:func:`check_cancel`, §12.2.2 and §9.2).

``check_response`` tells the UAC side which responses to drop silently: more than one Via (§8.1.3.3,
RFC 4475 §3.3.10), a top Via that is not ours (§18.1.2), unreadable CSeq/Call-ID/From/To
(§3.1.2.5). ``rejection_for_error`` maps a parse error to the answer or to a drop. An ACK is never
answered. ``inspect_datagram`` chains parsing and checks for the transport and the RFC 4475 tests.
"""

from __future__ import annotations

import secrets
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Literal

from emulator.protocols.sip.dialog import DialogId, uas_dialog_id
from emulator.protocols.sip.errors import HeaderError, SipParseError
from emulator.protocols.sip.message import (
    MAX_MESSAGE_SIZE,
    REASON_PHRASES,
    KeepAlive,
    Request,
    Response,
    make_response,
    parse_datagram,
)
from emulator.protocols.sip.transaction import MAGIC_COOKIE, TransactionLayer

__all__ = [
    "DGW_METHODS",
    "KNOWN_METHODS",
    "MergedRequests",
    "Outcome",
    "Policy",
    "Rejection",
    "check_cancel",
    "check_dialog",
    "check_request",
    "check_response",
    "inspect_datagram",
    "inspect_message",
    "rejection_for_error",
]

#: Methods the DGW's SIP stack answers as a UA.
DGW_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "NOTIFY", "REFER", "UPDATE", "PRACK"})
#: Methods recognised (a 405 rather than a 501 when not allowed).
KNOWN_METHODS = DGW_METHODS | {"REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE"}


@dataclass(frozen=True, slots=True)
class Policy:
    """What this element accepts. ``role="proxy"`` turns on the proxy-only checks (483, Proxy-Require)."""

    role: Literal["uas", "proxy"] = "uas"
    allowed_methods: frozenset[str] = DGW_METHODS
    known_methods: frozenset[str] = KNOWN_METHODS
    supported: frozenset[str] = frozenset()
    uri_schemes: frozenset[str] = frozenset({"sip", "sips"})
    accepted_types: frozenset[str] = frozenset({"application/sdp"})
    max_size: int = MAX_MESSAGE_SIZE

    @property
    def registrar(self) -> bool:
        return "REGISTER" in self.allowed_methods

    def allow_header(self) -> tuple[str, str]:
        return ("Allow", ", ".join(sorted(self.allowed_methods)))


DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class Rejection:
    """The response to send (``status``), or a silent drop (``status is None``)."""

    status: int | None
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    detail: str = ""

    @property
    def drop(self) -> bool:
        return self.status is None

    def response(self, request: Request, *, to_tag: str | None = None) -> Response:
        """The response to ``request`` carrying this rejection (§8.2.6); a To tag is added when the
        request has none (§8.2.6.2), random unless given."""
        if self.status is None:
            raise ValueError("a dropped message is not answered")
        return make_response(request, self.status, self.reason or None, to_tag=to_tag or secrets.token_hex(6),
                             headers=self.headers)


def _reject(status: int, reason: str | None = None, detail: str = "",
            headers: Iterable[tuple[str, str]] = ()) -> Rejection:
    return Rejection(status, reason or REASON_PHRASES.get(status, ""), tuple(headers), detail)


def _drop(detail: str) -> Rejection:
    return Rejection(None, "", (), detail)


def check_request(request: Request, policy: Policy = DEFAULT_POLICY) -> Rejection | None:
    """``None`` when the request may be processed, else how to refuse it (see the module docstring)."""
    rejection = _check_request(request, policy)
    if rejection is not None and request.method == "ACK":
        return _drop(f"ACK not processed: {rejection.detail or rejection.reason}")  # never answer an ACK
    return rejection


def _check_request(request: Request, policy: Policy) -> Rejection | None:
    headers = request.headers
    if not headers.values_of("via"):
        return _drop("no Via: a response cannot be routed (§8.2.6)")
    # 1. structure
    try:
        top = request.top_via
        cseq = request.cseq
        contacts = request.contact
        content_type = request.content_type
        accept = request.accept
        _read = (request.from_, request.to, request.call_id, request.max_forwards, request.route,
                 request.record_route, request.require, request.proxy_require)
    except HeaderError as exc:
        missing = exc.detail.endswith("missing")
        return _reject(400, f"Missing {exc.header} header" if missing else exc.reason, exc.detail)
    branch = top.branch
    if branch is not None and branch == MAGIC_COOKIE:
        return _reject(400, "Missing transaction identifier", "branch is only the magic cookie (RFC 4475 §3.2.1)")
    method = request.method
    # 2. hops
    if policy.role == "proxy" and request.max_forwards == 0:
        return _reject(483, detail="Max-Forwards reached 0 (§16.3)")
    # 3. Request-URI
    uri = request.uri
    if uri.scheme not in policy.uri_schemes:
        return _reject(416, detail=f"scheme {uri.scheme!r}")
    if uri.headers:
        return _reject(400, "Headers not allowed in Request-URI", "§19.1.1")
    # 4. method
    if method not in policy.allowed_methods:
        allow = [policy.allow_header()]
        if method not in policy.known_methods:
            return _reject(501, detail=f"method {method!r}", headers=allow)
        return _reject(405, detail=f"method {method!r}", headers=allow)
    if cseq.method != method:
        return _reject(400, "CSeq method does not match", f"CSeq {cseq.method} in a {method}")
    # 5. extensions
    if method not in ("ACK", "CANCEL"):
        unknown = [tag for tag in request.require if tag.lower() not in policy.supported]
        if policy.role == "proxy":
            unknown += [tag for tag in request.proxy_require if tag.lower() not in policy.supported]
        if unknown:
            return _reject(420, detail="unsupported extensions", headers=[("Unsupported", ", ".join(unknown))])
    # 6. content
    if request.body:
        if content_type is None:
            return _reject(400, "Missing Content-Type header", "a body needs a Content-Type (§20.15)")
        encodings = [e.strip().lower() for v in headers.values_of("content-encoding") for e in v.split(",")]
        if any(e and e != "identity" for e in encodings):
            return _reject(415, detail=f"Content-Encoding {encodings}", headers=[("Accept-Encoding", "identity")])
        if content_type.mime not in policy.accepted_types:
            return _reject(415, detail=f"Content-Type {content_type.mime}",
                           headers=[("Accept", ", ".join(sorted(policy.accepted_types)))])
    if method == "INVITE" and accept is not None and not any(r.matches("application/sdp") for r in accept):
        return _reject(406, detail="Accept excludes application/sdp")
    if method == "INVITE" and (len(contacts) > 1 or any(c.is_wildcard or not c.uri.is_sip for c in contacts)):
        return _reject(400, "Bad Contact header", "an INVITE carries one SIP or SIPS Contact (§8.1.1.8)")
    # 7. registrar
    if method == "REGISTER" and policy.registrar:
        if not request.to.uri.is_sip:
            return _reject(400, "Bad To header", "the address-of-record must be a SIP or SIPS URI (§10.3)")
        if any(c.is_wildcard for c in contacts) and request.expires != 0:
            return _reject(400, "Bad Contact header", "'*' needs Expires: 0 (§10.3 step 6)")
    return None


def check_response(response: Response, *, sent_by: Iterable[str] | None = None) -> str | None:
    """``None`` when a response may go to the transaction layer, else why it is silently dropped.

    ``sent_by`` lists this UA's own ``host[:port]`` values; when given, the top Via must be one of
    them (§18.1.2).
    """
    try:
        vias = response.via
        _read = (response.cseq, response.call_id, response.from_, response.to)
    except HeaderError as exc:
        return exc.detail
    if len(vias) != 1:
        return f"{len(vias)} Via values in a response reaching a UA (§8.1.3.3)"
    if sent_by is not None:
        mine = {s.lower() for s in sent_by}
        if vias[0].sent_by.lower() not in mine:
            return f"top Via {vias[0].sent_by} is not ours (§18.1.2)"
    return None


def rejection_for_error(exc: SipParseError) -> Rejection:
    """How to answer a message that failed to parse: its status, or a drop when it cannot be answered."""
    msg = exc.message
    if exc.status_code is None or not isinstance(msg, Request):
        return _drop(exc.detail)
    if msg.method == "ACK":
        return _drop(f"ACK not processed: {exc.detail}")
    if not msg.headers.values_of("via"):
        return _drop(f"{exc.detail}; no Via to answer to")
    return Rejection(exc.status_code, exc.reason, (), exc.detail)


def check_dialog(request: Request, dialogs: Container[DialogId]) -> Rejection | None:
    """§12.2.2: a request with a To tag that matches no dialog of ``dialogs`` gets 481 (an ACK is dropped).

    A CANCEL is left to :func:`check_cancel`.
    """
    if request.to.tag is None or request.method == "CANCEL":
        return None
    if uas_dialog_id(request) in dialogs:
        return None
    if request.method == "ACK":
        return _drop("ACK for an unknown dialog")
    return _reject(481, detail="no such dialog (§12.2.2)")


def check_cancel(cancel: Request, layer: TransactionLayer) -> Rejection | None:
    """§9.2: a CANCEL that matches no INVITE server transaction gets 481."""
    if layer.find_cancel_target(cancel) is None:
        return _reject(481, detail="no transaction to cancel (§9.2)")
    return None


@dataclass(slots=True)
class MergedRequests:
    """Detects merged requests (§8.2.2.2): no To tag, same From tag, Call-ID and CSeq as a request in
    progress, but a different transaction -> 482 Loop Detected. Entries live ``ttl`` seconds (64*T1).
    """

    ttl: float = 32.0
    _seen: dict[tuple[str | None, str, int, str], tuple[object, float]] = field(
        default_factory=dict, init=False, repr=False)

    def check(self, request: Request, transaction_key: object, now: float) -> Rejection | None:
        if request.method in ("ACK", "CANCEL") or request.to.tag is not None:
            return None
        self._expire(now)
        key = (request.from_.tag, request.call_id, request.cseq.seq, request.method)
        entry = self._seen.get(key)
        if entry is not None and entry[0] != transaction_key:
            return _reject(482, detail="merged request (§8.2.2.2)")
        self._seen[key] = (transaction_key, now)
        return None

    def _expire(self, now: float) -> None:
        if len(self._seen) > 64:
            for key in [k for k, (_, t) in self._seen.items() if now - t > self.ttl]:
                del self._seen[key]


# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outcome:
    """What to do with received octets: ``accept`` (pass on), ``reject`` (send ``response``), ``drop``."""

    action: Literal["accept", "reject", "drop", "keepalive"]
    message: Request | Response | KeepAlive | None = None
    status: int | None = None
    reason: str = ""
    response: Response | None = None
    detail: str = ""


def inspect_message(message: Request | Response, policy: Policy = DEFAULT_POLICY, *,
                    sent_by: Iterable[str] | None = None) -> Outcome:
    """Run the checks on a parsed message."""
    if isinstance(message, Response):
        why = check_response(message, sent_by=sent_by)
        if why is not None:
            return Outcome("drop", message, detail=why)
        return Outcome("accept", message)
    rejection = check_request(message, policy)
    if rejection is None:
        return Outcome("accept", message)
    if rejection.status is None:
        return Outcome("drop", message, detail=rejection.detail)
    return Outcome("reject", message, rejection.status, rejection.reason, rejection.response(message),
                   rejection.detail)


def inspect_datagram(data: bytes, policy: Policy = DEFAULT_POLICY, *,
                     sent_by: Iterable[str] | None = None) -> Outcome:
    """Parse one datagram and run the checks: what a UDP transport does with every packet."""
    try:
        message = parse_datagram(data, max_size=policy.max_size)
    except SipParseError as exc:
        rejection = rejection_for_error(exc)
        partial = exc.message
        if rejection.status is None or not isinstance(partial, Request):
            return Outcome("drop", partial if isinstance(partial, Response) else None, detail=rejection.detail)
        return Outcome("reject", partial, rejection.status, rejection.reason, rejection.response(partial),
                       rejection.detail)
    if isinstance(message, KeepAlive):
        return Outcome("keepalive", message)
    return inspect_message(message, policy, sent_by=sent_by)

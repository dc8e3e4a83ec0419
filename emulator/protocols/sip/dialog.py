"""Dialogs (RFC 3261 §12) and the request builders a UA needs (§8.1.1), sans-IO.

A :class:`Dialog` is created by the UAC from a 1xx-with-tag or 2xx to an INVITE (§12.1.2: route set
= Record-Route *reversed*, remote target = Contact, local sequence = the INVITE's CSeq) or by the
UAS from the INVITE and the response it sends (§12.1.1: route set = Record-Route in order, remote
sequence = the INVITE's CSeq). It builds in-dialog requests (§12.2.1.1: CSeq + 1, tags, Route set
and Request-URI for loose and strict routing), the ACK for a 2xx (§13.2.2.4: the INVITE's CSeq
number, its credentials), checks incoming in-dialog requests (§12.2.2: out-of-order CSeq -> 500)
and applies target refreshes (re-INVITE, UPDATE: Contact replaces the remote target, §12.2).
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from emulator.protocols.sip.errors import SipError
from emulator.protocols.sip.headers import Address, Via, parse_via
from emulator.protocols.sip.message import Headers, Request, Response
from emulator.protocols.sip.transaction import new_branch
from emulator.protocols.sip.uri import Uri

__all__ = [
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogError",
    "DialogId",
    "DialogState",
    "build_request",
    "new_call_id",
    "new_tag",
    "uac_dialog_id",
    "uas_dialog_id",
]

#: Requests whose Contact refreshes the remote target (§12.2: re-INVITE; RFC 3311 UPDATE; RFC 6665).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


def new_tag() -> str:
    """A From/To tag with at least 32 random bits (§19.3)."""
    return secrets.token_hex(6)


def new_call_id(host: str | None = None) -> str:
    """A globally unique Call-ID (§8.1.1.4), ``random@host`` when a host is given."""
    ident = secrets.token_hex(12)
    return f"{ident}@{host}" if host else ident


class DialogError(SipError):
    """An in-dialog request the dialog refuses (500 out of order, 481 unknown dialog)."""


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID, local tag and remote tag (§12)."""

    call_id: str
    local_tag: str
    remote_tag: str | None


def uac_dialog_id(message: Request | Response) -> DialogId:
    """The id as the UAC sees it, from a response (or a request it sent): local = From tag, remote = To tag."""
    return DialogId(message.call_id, message.from_.tag or "", message.to.tag)


def uas_dialog_id(request: Request) -> DialogId:
    """The id as the UAS sees it, from a request it received: local = To tag, remote = From tag."""
    return DialogId(request.call_id, request.to.tag or "", request.from_.tag)


def _as_via(via: Via | str, branch: str | None) -> str:
    parsed = parse_via(via) if isinstance(via, str) else via
    params = dict(parsed.params)
    if branch is not None or "branch" not in params:
        params = {"branch": branch or new_branch(), **{k: v for k, v in params.items() if k != "branch"}}
    return str(Via(parsed.transport, parsed.host, parsed.port, params, parsed.protocol))


def build_request(method: str, uri: Uri | str, *, from_: Address, to: Address, call_id: str, cseq: int,
                  via: Via | str, contact: Address | None = None, route: Iterable[Address] = (),
                  max_forwards: int = 70, headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                  branch: str | None = None) -> Request:
    """An out-of-dialog request with the mandatory fields of §8.1.1 in the usual order.

    ``via`` is a template (sent-by and transport, e.g. ``"SIP/2.0/TLS 127.0.0.1:16000;rport"``); a
    fresh branch is added unless it has one or ``branch`` is given. ``from_`` must carry its tag.
    """
    items: list[tuple[str, str]] = [("Via", _as_via(via, branch)), ("Max-Forwards", str(max_forwards))]
    items += [("Route", str(r)) for r in route]
    items += [("From", str(from_)), ("To", str(to)), ("Call-ID", call_id), ("CSeq", f"{cseq} {method}")]
    if contact is not None:
        items.append(("Contact", str(contact)))
    items += list(headers)
    return Request(method, uri if isinstance(uri, Uri) else Uri.parse(uri), Headers(items), body)


def _strip_tag(address: Address) -> Address:
    params = {k: v for k, v in address.params.items() if k != "tag"}
    return Address(address.uri, address.display_name, params)


@dataclass(slots=True, eq=False)
class Dialog:
    """The state of §12: id, sequence numbers, URIs, remote target, route set, secure flag."""

    call_id: str
    local_tag: str
    remote_tag: str | None
    local_uri: Address
    remote_uri: Address
    remote_target: Uri
    route_set: list[Address] = field(default_factory=list)
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False
    state: DialogState = DialogState.EARLY
    local_contact: Address | None = None

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    # -- creation ------------------------------------------------------------------------------------------
    @classmethod
    def as_uac(cls, request: Request, response: Response, *, secure: bool = False) -> Dialog:
        """The UAC's dialog from a 101-199 with a To tag or a 2xx to ``request`` (§12.1.2)."""
        return cls._created(request, response, uac=True, secure=secure)

    @classmethod
    def as_uas(cls, request: Request, response: Response, *, secure: bool = False) -> Dialog:
        """The UAS's dialog from the request and the 1xx/2xx it sends (carrying its To tag and Contact, §12.1.1)."""
        return cls._created(request, response, uac=False, secure=secure)

    @classmethod
    def _created(cls, request: Request, response: Response, *, uac: bool, secure: bool) -> Dialog:
        """§12.1: the same fields seen from either side. The remote target is the peer's Contact (else the
        Request-URI, UAC, or the From URI, UAS); the route set is the Record-Route of the response, reversed
        for the UAC (§12.1.2), as received for the UAS (§12.1.1); the sequence number is ours (UAC) or theirs."""
        ours, theirs = (request.from_, request.to) if uac else (request.to, request.from_)
        peer_message, own_message = (response, request) if uac else (request, response)
        contacts = peer_message.contact
        fallback = request.uri.copy() if uac else request.from_.uri.copy()
        return cls(
            call_id=request.call_id,
            local_tag=(request.from_.tag if uac else response.to.tag) or "",
            remote_tag=response.to.tag if uac else request.from_.tag,
            local_uri=_strip_tag(ours),
            remote_uri=_strip_tag(theirs),
            remote_target=contacts[0].uri if contacts else fallback,
            route_set=list(reversed(response.record_route)) if uac else list(request.record_route),
            local_seq=request.cseq.seq if uac else None,
            remote_seq=None if uac else request.cseq.seq,
            secure=secure and request.uri.secure,
            state=DialogState.CONFIRMED if 200 <= response.status < 300 else DialogState.EARLY,
            local_contact=own_message.contact[0] if own_message.contact else None,
        )

    # -- requests within the dialog (§12.2.1.1) ----------------------------------------------------------
    def next_cseq(self) -> int:
        """Increment and return the local sequence number (chosen at random below 2**31 if empty)."""
        if self.local_seq is None:
            self.local_seq = secrets.randbelow(1 << 16) + 1
        else:
            self.local_seq += 1
        return self.local_seq

    def _request_uri_and_route(self) -> tuple[Uri, list[Address]]:
        if not self.route_set:
            return self.remote_target.copy(), []
        first = self.route_set[0]
        if first.uri.lr:
            return self.remote_target.copy(), list(self.route_set)
        # strict routing: first route becomes the Request-URI, the remote target the last Route
        uri = first.uri.copy(headers={})
        uri.params.pop("method", None)
        return uri, [*self.route_set[1:], Address(self.remote_target.copy())]

    def create_request(self, method: str, *, via: Via | str, headers: Iterable[tuple[str, str]] = (),
                       body: bytes = b"", max_forwards: int = 70, cseq: int | None = None,
                       contact: Address | None = None, branch: str | None = None) -> Request:
        """A request within this dialog: BYE, re-INVITE, INFO, UPDATE... (§12.2.1.1).

        CSeq is the next local number unless given (ACK and CANCEL reuse a number: see
        :meth:`create_ack`). Target-refresh requests carry ``contact`` (or the dialog's local Contact).
        """
        if self.state is DialogState.TERMINATED:
            raise DialogError("the dialog is terminated", 481)
        seq = cseq if cseq is not None else self.next_cseq()
        ruri, route = self._request_uri_and_route()
        local = self.local_uri.with_tag(self.local_tag)
        remote = self.remote_uri.with_tag(self.remote_tag) if self.remote_tag else self.remote_uri
        if contact is None and method in TARGET_REFRESH_METHODS:
            contact = self.local_contact
        return build_request(method, ruri, from_=local, to=remote, call_id=self.call_id, cseq=seq, via=via,
                             contact=contact, route=route, max_forwards=max_forwards, headers=headers, body=body,
                             branch=branch)

    def create_ack(self, invite: Request, *, via: Via | str, body: bytes = b"",
                   headers: Iterable[tuple[str, str]] = ()) -> Request:
        """The ACK for a 2xx to ``invite`` (§13.2.2.4): same CSeq number, same credentials, new branch."""
        extra = [(name, value) for name in ("Authorization", "Proxy-Authorization")
                 for value in invite.headers.get_all(name)]
        return self.create_request("ACK", via=via, cseq=invite.cseq.seq, body=body, contact=None,
                                   headers=[*extra, *headers])

    # -- requests and responses received ------------------------------------------------------------------
    def receive_request(self, request: Request) -> None:
        """Check and account an in-dialog request (§12.2.2); raises :class:`DialogError` (500) if out of order."""
        if self.state is DialogState.TERMINATED:
            raise DialogError("the dialog is terminated", 481, "Call/Transaction Does Not Exist")
        if request.method not in ("ACK", "CANCEL"):
            seq = request.cseq.seq
            if self.remote_seq is not None and seq < self.remote_seq:
                raise DialogError(f"CSeq {seq} is below {self.remote_seq}", 500, "Server Internal Error")
            self.remote_seq = seq
        if request.method in TARGET_REFRESH_METHODS and request.contact:
            self.remote_target = request.contact[0].uri
        if request.method == "BYE":
            self.state = DialogState.TERMINATED

    def receive_response(self, request: Request, response: Response) -> None:
        """Account a response to a request this UA sent in (or to establish) the dialog (§12.2.1.2, §13.2.2.4)."""
        code = response.status
        if code in (408, 481):  # §12.2.1.2, §14.1
            self.state = DialogState.TERMINATED
            return
        if request.method == "INVITE" and code >= 300 and self.state is DialogState.EARLY:
            self.state = DialogState.TERMINATED  # §12.3: a non-2xx final ends the early dialog
            return
        if request.method == "INVITE" and 200 <= code < 300 and self.state is DialogState.EARLY:
            # §13.2.2.4: the 2xx confirms the dialog and the route set is recomputed from it
            self.state = DialogState.CONFIRMED
            self.route_set = list(reversed(response.record_route))
        if request.method in TARGET_REFRESH_METHODS and 200 <= code < 300 and response.contact:
            self.remote_target = response.contact[0].uri
        elif request.method == "INVITE" and code < 200 and response.contact and self.state is DialogState.EARLY:
            self.remote_target = response.contact[0].uri

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED

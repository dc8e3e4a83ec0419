"""SIP messages: parse and serialise (RFC 3261 §7, ABNF §25), datagram and stream framing (§18.3).

The reader does the least work that still frames a message correctly: it splits the header block,
undoes folding (§7.3.1), maps compact names to their long form (§7.3.3) and checks every field name
is a token; field *values* stay raw until an accessor is read (``msg.via``, ``msg.cseq``...), which
parses once and caches (h11's "reader" and sipmessage's deferral, with the grammar of §25). The
structured types live in :mod:`emulator.protocols.sip.headers`.

Errors are typed and carry the response to answer with (:mod:`emulator.protocols.sip.errors`): a broken start
line or header line is a 400, a SIP-Version other than 2.0 a 505, more than ``max_size`` octets
(5,120 on the DGW) a 513; anything wrong in a response makes it dropped (``status_code is None``,
§18.1.2). When enough was read to answer, the error's ``message`` holds it (see
:func:`emulator.protocols.sip.validate.response_for_error`).

Content-Length (§18.3, §20.14): on a datagram it may be absent (the body is the rest of the
datagram); octets beyond it are discarded (RFC 4475 §3.1.1.8); a value larger than what arrived is a
400 (§3.1.2.2). On a stream it is required; a negative, non-numeric or conflicting value loses the
framing and asks for the connection to be closed (RFC 4475 §3.1.2.3, §3.3.9).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from emulator.protocols.sip.errors import HeaderError, MessageTooLarge, SipParseError, UriError, VersionNotSupported
from emulator.protocols.sip.headers import (
    NAME_CACHE,
    SINGLE_VALUED,
    Address,
    Challenge,
    Credentials,
    CSeq,
    MediaType,
    Via,
    canonical_name,
    display_name_of,
    parse_accept,
    parse_address,
    parse_address_list,
    parse_auth,
    parse_call_id,
    parse_cseq,
    parse_date,
    parse_int,
    parse_media_type,
    parse_token_list,
    parse_via_list,
    split_commas,
)
from emulator.protocols.sip.uri import Uri, parse_uri

__all__ = [
    "MAX_MESSAGE_SIZE",
    "REASON_PHRASES",
    "SIP_VERSION",
    "Headers",
    "KeepAlive",
    "Message",
    "Request",
    "Response",
    "make_response",
    "parse_datagram",
    "parse_message",
]

SIP_VERSION = "SIP/2.0"
MAX_MESSAGE_SIZE = 5120  # octets; above it a request gets 513 Message Too Large (DGW limit)

#: RFC 3261 §21 and the extension RFCs a gateway meets.
REASON_PHRASES: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
    199: "Early Dialog Terminated", 200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
    380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone", 412: "Conditional Request Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 417: "Unknown Resource-Priority", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
    428: "Use Identity Header", 429: "Provide Referrer Identity", 433: "Anonymity Disallowed",
    436: "Bad Identity-Info", 437: "Unsupported Certificate", 438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support", 440: "Max-Breadth Exceeded", 469: "Bad Info Package",
    470: "Consent Needed", 480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 489: "Bad Event",
    491: "Request Pending", 493: "Undecipherable", 494: "Security Agreement Required",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
    580: "Precondition Failure", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable", 607: "Unwanted", 608: "Rejected",
}

_FOLD_RE = re.compile(r"\r?\n[ \t]+")
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.I)
_PLACEHOLDER_URI = "sip:invalid"


# ---------------------------------------------------------------------------------------------------------------
class Headers:
    """The header fields of a message, in order, with case-insensitive, compact-form-aware lookup.

    Each field line is kept as ``(key, name, value)``: ``key`` the lower-case long name used for
    lookups, ``name`` as written (serialised back as is), ``value`` the raw, unfolded, stripped
    value. Lookups take any spelling (``"v"``, ``"VIA"``, ``"via"``). Values of list fields are not
    split here (see :func:`emulator.protocols.sip.headers.split_commas`). A change drops the parsed
    value of the field it changed, and only that one: each structured accessor reads one field (a
    received request's Via stamped by the transport leaves its From, To, CSeq... parsed).
    """

    __slots__ = ("_cache", "_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = [(canonical_name(n), n, v) for n, v in items]
        # canonical key -> its values; tuples, which the garbage collector stops tracking (a message a transaction
        # keeps for its 32 s of Timer L/M/J is walked by every full collection otherwise)
        self._index: dict[str, tuple[str, ...]] | None = None
        self._cache: dict[str, object] = {}

    @classmethod
    def from_items(cls, items: list[tuple[str, str, str]]) -> Headers:
        """Headers over ``(key, name, value)`` lines whose keys are already canonical (taken as they are)."""
        self = cls.__new__(cls)
        self._items = items
        self._index = None
        self._cache = {}
        return self

    def values_of(self, key: str) -> tuple[str, ...]:
        """The values of a canonical key (``"via"``, ``"call-id"``), in order."""
        index = self._index
        if index is None:
            index = {}
            for k, _, v in self._items:
                values = index.get(k)
                index[k] = (v,) if values is None else (*values, v)
            self._index = index
        return index.get(key, ())

    def _changed(self, key: str) -> None:
        self._index = None
        self._cache.pop(key, None)

    # -- reading ---------------------------------------------------------------------------------------------
    def get_all(self, name: str) -> list[str]:
        """The raw values of every field line called ``name``, in order (a copy)."""
        return list(self.values_of(canonical_name(name)))

    def get(self, name: str, default: str | None = None) -> str | None:
        """The raw value of the first field line called ``name``."""
        values = self.values_of(canonical_name(name))
        return values[0] if values else default

    def __getitem__(self, name: str) -> str:
        values = self.values_of(canonical_name(name))
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.values_of(canonical_name(name)))

    def count(self, name: str) -> int:
        """How many field lines are called ``name``."""
        return len(self.values_of(canonical_name(name)))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _, name, value in self._items:
            yield name, value

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({[(n, v) for _, n, v in self._items]!r})"

    # -- changing --------------------------------------------------------------------------------------------
    def add(self, name: str, value: str) -> None:
        """Append a field line."""
        key = canonical_name(name)
        self._items.append((key, name, str(value)))
        self._changed(key)

    def prepend(self, name: str, value: str) -> None:
        """Insert a field line before the first one with that name (or first of all): a new top Via (§8.1.1.7)."""
        key = canonical_name(name)
        pos = next((i for i, item in enumerate(self._items) if item[0] == key), 0)
        self._items.insert(pos, (key, name, str(value)))
        self._changed(key)

    def set(self, name: str, value: str) -> None:
        """Replace every field line called ``name`` by one, where the first was (or at the end)."""
        key = canonical_name(name)
        pos = next((i for i, item in enumerate(self._items) if item[0] == key), len(self._items))
        self._items = [item for item in self._items if item[0] != key]
        self._items.insert(pos, (key, name, str(value)))
        self._changed(key)

    def remove(self, name: str) -> int:
        """Remove every field line called ``name``; return how many were removed."""
        key = canonical_name(name)
        before = len(self._items)
        self._items = [item for item in self._items if item[0] != key]
        self._changed(key)
        return before - len(self._items)

    def remove_first(self, name: str) -> str | None:
        """Remove the first *value* of a list field (the top Via a proxy strips); return it."""
        key = canonical_name(name)
        for i, (k, n, v) in enumerate(self._items):
            if k == key:
                parts = split_commas(v)
                if len(parts) > 1:
                    self._items[i] = (k, n, ", ".join(parts[1:]))
                else:
                    del self._items[i]
                self._changed(key)
                return parts[0]
        return None

    def replace_first(self, name: str, value: str) -> str | None:
        """Replace the first *value* of a list field in place (a received request's top Via stamped with
        ``received``/``rport``, a copy's top Via given a new branch); return the value replaced, or None (and
        nothing changed) when there is no such field."""
        key = canonical_name(name)
        for i, (k, n, v) in enumerate(self._items):
            if k == key:
                parts = split_commas(v) if "," in v else [v]
                old = parts[0]
                parts[0] = str(value)
                self._items[i] = (k, n, ", ".join(parts) if len(parts) > 1 else parts[0])
                self._changed(key)
                return old
        return None

    def copy(self) -> Headers:
        return Headers.from_items(list(self._items))

    def release_parsed(self) -> None:
        """Forget the index and the parsed values (read again when asked): what a message kept only in case it
        is retransmitted need not hold (see ``transaction.RELEASE_AFTER``)."""
        self._index = None
        self._cache = {}




_T = TypeVar("_T")
_ABSENT: Any = object()


class _Field(Generic[_T]):
    """A structured header field of a message: parsed on first read, then kept in the headers' cache (so
    a header set afterwards, which clears the cache, is parsed again). One call per read, as a property."""

    def __init__(self, key: str, parse: Callable[[Message], _T], doc: str) -> None:
        self.key = key
        self.parse = parse
        self.__doc__ = doc

    @overload
    def __get__(self, msg: None, owner: type | None = None) -> _Field[_T]: ...

    @overload
    def __get__(self, msg: Message, owner: type | None = None) -> _T: ...

    def __get__(self, msg: Message | None, owner: type | None = None) -> _T | _Field[_T]:
        if msg is None:
            return self
        cache = msg.headers._cache
        value = cache.get(self.key, _ABSENT)
        if value is _ABSENT:
            value = cache[self.key] = self.parse(msg)
        return value  # type: ignore[return-value]


def _list_field(key: str, parse: Callable[[Sequence[str], str], _T], doc: str) -> _Field[_T]:
    """A list field: every value of ``key`` (comma-split on arrival) through ``parse``."""
    header = display_name_of(key)
    return _Field(key, lambda m: parse(m.headers.values_of(key), header), doc)


def _int_field(key: str, maximum: int, doc: str) -> _Field[int | None]:
    """A single optional number field, ``None`` when absent."""
    header = display_name_of(key)
    return _Field(key, lambda m: None if (raw := m._optional(key)) is None else parse_int(raw, header, maximum), doc)


_A = TypeVar("_A", Challenge, Credentials)


def _auth_field(key: str, kind: type[_A], doc: str) -> _Field[list[_A]]:
    """Every value of an authentication field as ``kind`` (scheme and parameters), never comma-split as a list."""
    header = display_name_of(key)
    return _Field(key, lambda m: [kind(s, p) for v in m.headers.values_of(key) for s, p in parse_auth(v, header)], doc)


# ---------------------------------------------------------------------------------------------------------------
class Message:
    """What requests and responses share: headers, body and the structured, cached accessors (§20).

    Accessors of single-valued fields raise :class:`HeaderError` (400) when the field is missing,
    repeated (RFC 4475 §3.3.8) or malformed; optional ones return ``None`` when absent.
    """

    __slots__ = ("body", "headers", "version")

    headers: Headers
    body: bytes
    version: str

    # -- helpers ---------------------------------------------------------------------------------------------
    def _single(self, key: str) -> str:
        values = self.headers.values_of(key)
        if len(values) != 1:
            raise HeaderError(display_name_of(key), "missing" if not values else "more than one value")
        return values[0]

    def _optional(self, key: str) -> str | None:
        values = self.headers.values_of(key)
        if not values:
            return None
        if len(values) > 1 and key in SINGLE_VALUED:
            raise HeaderError(display_name_of(key), "more than one value")
        return values[0]

    # -- structured accessors (cached: see _Field) -----------------------------------------------------------
    via: _Field[list[Via]] = _Field("via", lambda m: parse_via_list(m.headers.values_of("via")),
                                    "Every Via value, top first (§20.42).")

    @property
    def top_via(self) -> Via:
        """The first Via value; raises :class:`HeaderError` when there is none."""
        vias = self.via
        if not vias:
            raise HeaderError("Via", "missing")
        return vias[0]

    def release_parsed(self) -> None:
        """Forget the parsed header values (see :meth:`Headers.release_parsed`); the message itself is unchanged."""
        self.headers.release_parsed()

    def set_top_via(self, via: Via) -> None:
        """Replace the top Via value by ``via`` (``received``/``rport`` stamped on a received request, a new
        branch on a copy), where it was; the other Via values stay parsed as they were, ``via`` is the new top."""
        vias = self.via
        if not vias:
            raise HeaderError("Via", "missing")
        headers = self.headers
        headers.replace_first("via", str(via))
        headers._cache["via"] = [via, *vias[1:]]

    from_: _Field[Address] = _Field("from", lambda m: parse_address(m._single("from"), "From"),
                                    "The From address (§20.20).")
    to: _Field[Address] = _Field("to", lambda m: parse_address(m._single("to"), "To"), "The To address (§20.39).")
    call_id: _Field[str] = _Field("call-id", lambda m: parse_call_id(m._single("call-id")), "The Call-ID (§20.8).")
    cseq: _Field[CSeq] = _Field("cseq", lambda m: parse_cseq(m._single("cseq")), "The CSeq (§20.16).")
    contact: _Field[list[Address]] = _Field(
        "contact", lambda m: parse_address_list(m.headers.values_of("contact"), "Contact", allow_wildcard=True),
        "Every Contact value (§20.10); ``Contact: *`` is one wildcard :class:`Address`.")
    route: _Field[list[Address]] = _list_field("route", parse_address_list, "Every Route value, in order (§20.34).")
    record_route: _Field[list[Address]] = _list_field("record-route", parse_address_list,
                                                      "Every Record-Route value, in order (§20.30).")
    content_length: _Field[int | None] = _int_field(
        "content-length", 0xFFFFFFFF,
        "The Content-Length field as received (``None`` when absent); ``len(body)`` is what is sent.")
    max_forwards: _Field[int | None] = _int_field(
        "max-forwards", 255, "Max-Forwards, 0-255 (§20.22); ``None`` when absent (RFC 2543 peers, RFC 4475 §3.4.1).")
    expires: _Field[int | None] = _int_field("expires", 0xFFFFFFFF, "Expires in seconds, up to 2**32-1 (§20.19).")
    min_expires: _Field[int | None] = _int_field("min-expires", 0xFFFFFFFF, "Min-Expires of a 423 (§20.23).")
    content_type: _Field[MediaType | None] = _Field(
        "content-type", lambda m: None if (raw := m._optional("content-type")) is None else parse_media_type(raw),
        "Content-Type (§20.15).")
    accept: _Field[list[MediaType] | None] = _Field(
        "accept", lambda m: parse_accept(values) if (values := m.headers.values_of("accept")) else None,
        "Accept media ranges (§20.1); ``None`` when absent (which means ``application/sdp``).")
    require: _Field[list[str]] = _list_field("require", parse_token_list, "Require option tags (§20.32).")
    proxy_require: _Field[list[str]] = _list_field("proxy-require", parse_token_list,
                                                   "Proxy-Require option tags (§20.29).")
    supported: _Field[list[str]] = _list_field("supported", parse_token_list, "Supported option tags (§20.37).")
    unsupported: _Field[list[str]] = _list_field("unsupported", parse_token_list,
                                                 "Unsupported option tags of a 420 (§20.40).")
    allow: _Field[list[str]] = _list_field("allow", parse_token_list, "Allow methods (§20.5).")
    www_authenticate: _Field[list[Challenge]] = _auth_field(
        "www-authenticate", Challenge, "Every WWW-Authenticate challenge (§20.44), never comma-split as a list field.")
    proxy_authenticate: _Field[list[Challenge]] = _auth_field(
        "proxy-authenticate", Challenge, "Every Proxy-Authenticate challenge (§20.27).")
    authorization: _Field[list[Credentials]] = _auth_field(
        "authorization", Credentials, "Every Authorization value (§20.7); unknown schemes are kept (RFC 4475 §3.3.7).")
    proxy_authorization: _Field[list[Credentials]] = _auth_field(
        "proxy-authorization", Credentials, "Every Proxy-Authorization value (§20.28).")

    @property
    def date(self) -> datetime.datetime | None:
        """Date (§20.17), which must be GMT (RFC 4475 §3.1.2.12)."""
        raw = self._optional("date")
        return None if raw is None else parse_date(raw)

    # -- output ----------------------------------------------------------------------------------------------
    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The message on the wire; Content-Length is always ``len(body)`` (added when absent, §20.14)."""
        body = self.body
        items = self.headers._items
        lines = [f"{name}: {value}" for key, name, value in items if key != "content-length"]
        lines.insert(0, self.start_line())
        length = f"{len(body)}"
        for i, (key, name, _) in enumerate(items):  # Content-Length where it was, once, with the true length
            if key == "content-length":
                lines.insert(i + 1, f"{name}: {length}")
                break
        else:
            lines.append(f"Content-Length: {length}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body

    __bytes__ = to_bytes


class Request(Message):
    """A SIP request: ``method``, Request-URI ``uri``, headers and body (§7.1)."""

    __slots__ = ("method", "uri")

    def __init__(self, method: str, uri: Uri | str, headers: Headers | Iterable[tuple[str, str]] = (),
                 body: bytes = b"", version: str = SIP_VERSION) -> None:
        self.method = method
        self.uri = uri if isinstance(uri, Uri) else parse_uri(uri)
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body
        self.version = version

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    """A SIP response: ``status`` (100-699), ``reason`` phrase, headers and body (§7.2)."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str | None = None,
                 headers: Headers | Iterable[tuple[str, str]] = (), body: bytes = b"",
                 version: str = SIP_VERSION) -> None:
        self.status = status
        self.reason = REASON_PHRASES.get(status, "") if reason is None else reason
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body
        self.version = version

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_final(self) -> bool:
        return self.status >= 200

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A CRLF keep-alive (RFC 5626 §3.5.1): ``ping`` for a double CRLF (answer with one CRLF), else a pong."""

    ping: bool


# ---------------------------------------------------------------------------------------------------------------
def _request_line(start: str) -> tuple[str, Uri]:
    parts = start.split(" ")
    if len(parts) != 3:
        if parts and _VERSION_RE.fullmatch(parts[-1]) and parts[-1].upper() != SIP_VERSION:
            raise VersionNotSupported(f"unsupported version {parts[-1]!r}")
        raise SipParseError(f"bad Request-Line {start[:80]!r}", 400, "Bad Request-Line")
    method, uri_text, version = parts
    if version != SIP_VERSION and version.upper() != SIP_VERSION:
        if _VERSION_RE.fullmatch(version):
            raise VersionNotSupported(f"unsupported version {version!r}")
        raise SipParseError(f"bad SIP-Version in {start[:80]!r}", 400, "Bad Request-Line")
    if not _TOKEN_RE.fullmatch(method):
        raise SipParseError(f"bad method {method[:40]!r}", 400, "Bad Request-Line")
    try:
        return method, parse_uri(uri_text)
    except UriError as exc:
        raise SipParseError(f"bad Request-URI: {exc.detail}", 400, "Bad Request-URI") from None


def _status_line(start: str) -> tuple[int, str]:
    version, _, rest = start.partition(" ")
    if version.upper() != SIP_VERSION:
        raise VersionNotSupported(f"unsupported version {version!r}", None)
    code, _, reason = rest.partition(" ")
    if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] not in "123456":
        raise SipParseError(f"bad Status-Code {code[:20]!r}", None)
    return int(code), reason


def _parse_head(head: str) -> Request | Response:
    """Parse a start line and header block (without the empty line); raise with the partial message."""
    if "\n " in head or "\n\t" in head:
        head = _FOLD_RE.sub(" ", head)
    if "\r\n" not in head and "\n" in head:
        head = head.replace("\n", "\r\n")  # tolerate bare-LF line ends
    lines = iter(head.split("\r\n"))
    start = next(lines)
    items: list[tuple[str, str, str]] = []
    index: dict[str, tuple[str, ...]] = {}
    header_error: SipParseError | None = None
    cache_get = NAME_CACHE.get
    index_get = index.get
    append = items.append
    for line in lines:
        name, colon, value = line.partition(":")
        key = cache_get(name)
        if key is None or not colon:
            if not colon:
                if header_error is None:
                    header_error = SipParseError(f"header line without ':' {line[:40]!r}")
                continue
            try:
                key = canonical_name(name)
            except HeaderError as exc:
                if header_error is None:
                    header_error = SipParseError(exc.detail)
                continue
        value = value.strip()
        append((key, name, value))
        values = index_get(key)
        index[key] = (value,) if values is None else (*values, value)
    headers = Headers.from_items(items)
    headers._index = index
    is_response = start[:4].upper() == "SIP/"
    msg: Request | Response
    try:
        if is_response:
            status, reason = _status_line(start)
            msg = Response.__new__(Response)
            msg.status, msg.reason = status, reason
        else:
            method, uri = _request_line(start)
            msg = Request.__new__(Request)
            msg.method, msg.uri = method, uri
    except SipParseError as exc:
        if is_response:
            exc.status_code = None
        else:
            exc.message = _partial_request(start, headers)
        raise
    msg.headers = headers
    msg.body = b""
    msg.version = SIP_VERSION
    if header_error is not None:
        if is_response:
            header_error.status_code = None
        header_error.message = msg
        raise header_error
    return msg


def _partial_request(start: str, headers: Headers) -> Request:
    """The request as far as it could be read, to answer a start-line error (placeholders for the rest)."""
    method = start.split(" ", 1)[0]
    msg = Request.__new__(Request)
    msg.method = method if _TOKEN_RE.fullmatch(method) else "UNKNOWN"
    msg.uri = parse_uri(_PLACEHOLDER_URI)
    msg.headers = headers
    msg.body = b""
    msg.version = SIP_VERSION
    return msg


def _content_length(msg: Request | Response, *, stream: bool) -> int | None:
    """The framing length: ``None`` when absent (datagram: rest of it); raises for bad or conflicting values."""
    values = msg.headers.values_of("content-length")
    if not values:
        if stream:
            raise SipParseError("Content-Length is required on a stream transport (§18.3)",
                                None if isinstance(msg, Response) else 400, message=msg)
        return None
    if len(values) > 1 and any(v != values[0] for v in values):
        raise SipParseError("conflicting Content-Length values", None if isinstance(msg, Response) else 400,
                            message=msg, close_connection=True)
    text = values[0]
    if not text.isdigit() or not text.isascii() or len(text) > 10:
        raise SipParseError(f"bad Content-Length {text[:20]!r}", None if isinstance(msg, Response) else 400,
                            message=msg, close_connection=True)
    return int(text)


def _too_large(msg: Request | Response, size: int, max_size: int) -> MessageTooLarge:
    return MessageTooLarge(f"message of {size} octets is above {max_size}",
                           None if isinstance(msg, Response) else 513, message=msg)


def parse_datagram(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Request | Response | KeepAlive:
    """Parse one datagram (UDP) carrying one message (§18.3).

    Leading CRLFs are skipped (§7.5); a datagram of CRLFs only is a :class:`KeepAlive`. Octets after
    the body are discarded (RFC 4475 §3.1.1.8).
    """
    start = 0
    n = len(data)
    while data.startswith(b"\r\n", start):
        start += 2
    if start >= n:
        return KeepAlive(ping=start >= 4)
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        body_start = end + 4
    else:
        end = data.find(b"\n\n", start)
        if end >= 0:
            body_start = end + 2
        else:  # no empty line: all headers, no body
            end = body_start = n
    msg = _parse_head(data[start:end].decode("utf-8", "surrogateescape"))
    length = _content_length(msg, stream=False)
    available = n - body_start
    if length is None:
        length = available
    elif length > available:
        raise SipParseError(f"Content-Length {length} is larger than the {available} octets received",
                            None if isinstance(msg, Response) else 400, message=msg)
    size = body_start - start + length
    if size > max_size:
        raise _too_large(msg, size, max_size)
    if length:
        msg.body = data[body_start:body_start + length]
    return msg


def parse_message(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Request | Response:
    """Parse one complete message (a datagram, a test vector); a keep-alive is a :class:`SipParseError`."""
    msg = parse_datagram(data, max_size=max_size)
    if isinstance(msg, KeepAlive):
        raise SipParseError("keep-alive, not a message", None)
    return msg


def make_response(request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None,
                  headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> Response:
    """A response to ``request`` per RFC 3261 §8.2.6: Via (all, in order), From, To, Call-ID and CSeq copied.

    ``to_tag`` is added to To when it has none and ``status`` is not 100 (§8.2.6.2); a 100 copies
    Timestamp (§8.2.6.1). Raw values are copied, so this works for requests whose other fields
    are malformed (answering with a 400).
    """
    items: list[tuple[str, str, str]] = []
    src = request.headers
    parsed = src._cache
    cache: dict[str, object] = {}
    for key, name in (("via", "Via"), ("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq")):
        values = src.values_of(key)
        known = parsed.get(key, _ABSENT)
        if known is not _ABSENT:
            cache[key] = known  # the request's fields as it read them: the response copies them as they are
        for value in values:
            if key == "to" and to_tag is not None and status != 100:
                try:
                    to = known if isinstance(known, Address) else parse_address(value, "To")
                    if to.tag is None:
                        value = f"{value};tag={to_tag}"
                        if len(values) == 1:
                            cache[key] = to.with_tag(to_tag)
                except HeaderError:
                    pass
            items.append((key, name, value))
    if status == 100:
        for value in src.values_of("timestamp"):
            items.append(("timestamp", "Timestamp", value))
    for name, value in headers:
        key = canonical_name(name)
        items.append((key, name, str(value)))
        cache.pop(key, None)
    result = Response(status, reason, Headers.from_items(items), body)
    result.headers._cache = cache
    return result

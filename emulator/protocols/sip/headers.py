"""Structured SIP header values (RFC 3261 §20, ABNF §25.1) and the field-name table (§7.3, compact forms).

Every parser here takes the text of *one* header field value, already unfolded (folding is undone
by the message reader, §7.3.1) and stripped, and raises :class:`HeaderError` (a 400) when it does
not match the grammar. Multi-valued fields are split with :func:`split_commas`, which respects
quoted strings and ``<...>``; the authentication fields are never split on commas (§7.3.1: their
parameters contain commas).

Whitespace: ``SWS`` is allowed around ``/ ; = :`` separators (``SLASH``, ``SEMI``, ``EQUAL``,
``COLON``, §25.1), which is what RFC 4475 §3.1.1.1 (``wsinv``) exercises. Each parser has a fast path
for the compact form nearly every implementation emits, and a general path for the rest.
"""

from __future__ import annotations

import datetime
import email.utils
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, overload

from emulator.protocols.sip.errors import HeaderError, UriError
from emulator.protocols.sip.uri import PARAM_CHARS, PASSWORD_CHARS, USER_CHARS, Uri, parse_uri
from firmware_model.quoting import unquoted_chars

__all__ = [
    "COMPACT_FORMS",
    "MULTI_VALUED",
    "NAME_CACHE",
    "SINGLE_VALUED",
    "Address",
    "CSeq",
    "Challenge",
    "Credentials",
    "MediaType",
    "Via",
    "canonical_name",
    "is_token",
    "parse_accept",
    "parse_address",
    "parse_address_list",
    "parse_auth",
    "parse_call_id",
    "parse_cseq",
    "parse_date",
    "parse_int",
    "parse_media_type",
    "parse_params",
    "parse_token_list",
    "parse_via",
    "parse_via_list",
    "quote_string",
    "split_commas",
    "unquote_string",
]

TOKEN = r"A-Za-z0-9\-.!%*_+`'~"  # RFC 3261 §25.1 token characters (regex class body)
_TOKEN_RE = re.compile(rf"[{TOKEN}]+")
_HOST = r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.\-]*"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_QUOTED_RE = re.compile(_QUOTED, re.S)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.S)

# -- field names ---------------------------------------------------------------------------------------------
#: RFC 3261 §7.3.3 and §20 compact forms, plus the IANA-registered ones of later RFCs.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type", "d": "Request-Disposition",
    "e": "Content-Encoding", "f": "From", "i": "Call-ID", "j": "Reject-Contact", "k": "Supported",
    "l": "Content-Length", "m": "Contact", "n": "Identity-Info", "o": "Event", "r": "Refer-To",
    "s": "Subject", "t": "To", "u": "Allow-Events", "v": "Via", "x": "Session-Expires", "y": "Identity",
}
_CANONICAL: dict[str, str] = {n.lower(): n for n in (
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Authentication-Info",
    "Authorization", "Call-ID", "Call-Info", "Contact", "Content-Disposition", "Content-Encoding",
    "Content-Language", "Content-Length", "Content-Type", "CSeq", "Date", "Error-Info", "Expires", "From",
    "In-Reply-To", "Max-Forwards", "MIME-Version", "Min-Expires", "Organization", "Priority",
    "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "Record-Route", "Reply-To", "Require",
    "Retry-After", "Route", "Server", "Subject", "Supported", "Timestamp", "To", "Unsupported",
    "User-Agent", "Via", "Warning", "WWW-Authenticate", "RSeq", "RAck", "Event", "Allow-Events",
    "Session-Expires", "Min-SE", "Refer-To", "Referred-By", "Replaces", "P-Asserted-Identity",
    "Privacy", "Path", "Service-Route", "Identity", "Identity-Info", "Accept-Contact", "Reject-Contact",
    "Request-Disposition", "Subscription-State",
)}
for _letter, _long in COMPACT_FORMS.items():
    _CANONICAL.setdefault(_long.lower(), _long)

#: Fields that may appear at most once (RFC 3261 §7.3.1, table of §20; RFC 4475 §3.3.8, §3.3.9).
SINGLE_VALUED = frozenset({"to", "from", "call-id", "cseq", "max-forwards", "content-length", "content-type",
                           "expires", "min-expires", "date", "mime-version", "timestamp", "user-agent",
                           "server", "subject", "priority", "organization", "retry-after", "rseq", "rack",
                           "session-expires", "min-se", "refer-to", "event", "content-disposition"})
#: Fields whose values are comma-separated lists; the authentication fields are not among them.
MULTI_VALUED = frozenset({"via", "contact", "route", "record-route", "path", "service-route", "require",
                          "proxy-require", "supported", "unsupported", "allow", "accept", "accept-encoding",
                          "accept-language", "content-encoding", "content-language", "allow-events",
                          "in-reply-to", "alert-info", "call-info", "error-info", "warning",
                          "p-asserted-identity"})

NAME_CACHE: dict[str, str] = {}  # spelling -> canonical key; the parser reads it inline (hot path)
_NAME_CACHE_MAX = 4096


def canonical_name(name: str) -> str:
    """The lower-case long form of a field name: ``"v"`` -> ``"via"``, ``"CALL-id"`` -> ``"call-id"``.

    Raises :class:`HeaderError` when ``name`` is not a token (RFC 3261 §7.3.1 ``header-name``).
    """
    key = NAME_CACHE.get(name)
    if key is not None:
        return key
    stripped = name.rstrip(" \t")
    if not _TOKEN_RE.fullmatch(stripped):
        raise HeaderError(name.strip() or "(empty)", "field name is not a token")
    lowered = stripped.lower()
    long_form = COMPACT_FORMS.get(lowered)
    key = long_form.lower() if long_form is not None else lowered
    if len(NAME_CACHE) < _NAME_CACHE_MAX:
        NAME_CACHE[name] = key
    return key


def display_name_of(key: str) -> str:
    """The conventional spelling of a canonical key (``"call-id"`` -> ``"Call-ID"``)."""
    known = _CANONICAL.get(key)
    if known is not None:
        return known
    return "-".join(part.capitalize() for part in key.split("-"))


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return _TOKEN_RE.fullmatch(text) is not None


# -- quoting -------------------------------------------------------------------------------------------------
def quote_string(text: str) -> str:
    """``text`` as a quoted-string, with ``"`` and ``\\`` escaped as quoted-pairs (§25.1)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote_string(text: str) -> str:
    """The content of a quoted-string (quoted-pairs undone); text that is not quoted is returned as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        return _QUOTED_PAIR_RE.sub(r"\1", inner) if "\\" in inner else inner
    return text


def split_commas(value: str) -> list[str]:
    """Split a field value at the commas that separate list elements (§7.3.1), outside quotes and ``<>``.

    Elements are stripped; empty elements are kept (as ``""``) so that callers can refuse them.
    """
    if "," not in value:
        return [value]
    if '"' not in value and "<" not in value:
        return [part.strip() for part in value.split(",")]
    parts: list[str] = []
    start = 0
    in_angle = False
    for i, ch in unquoted_chars(value):
        if ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == "," and not in_angle:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return parts


# -- generic parameters ----------------------------------------------------------------------------------------
_PARAMS_FAST_RE = re.compile(rf"(?:;[{TOKEN}]+(?:=[{TOKEN}:\[\]]+)?)*")
_PARAM_RE = re.compile(rf"\s*;\s*([{TOKEN}]+)(?:\s*=\s*([{TOKEN}:\[\]]+|{_QUOTED}))?\s*", re.S)


def parse_params(text: str, header: str) -> dict[str, str | None]:
    """Parse ``*( SEMI generic-param )`` (§25.1) into ``{lower-case name: raw value or None}``.

    Quoted values keep their quotes (use :func:`unquote_string`); ``text`` starts at the first ``;``
    (leading whitespace allowed) or is empty.
    """
    if not text:
        return {}
    params: dict[str, str | None] = {}
    if _PARAMS_FAST_RE.fullmatch(text):
        for item in text[1:].split(";"):
            name, eq, value = item.partition("=")
            params[name.lower()] = value if eq else None
        return params
    pos, n = 0, len(text)
    while pos < n:
        m = _PARAM_RE.match(text, pos)
        if m is None:
            if not text[pos:].strip():
                break
            raise HeaderError(header, f"bad parameter near {text[pos:pos + 20]!r}")
        params[m.group(1).lower()] = m.group(2)
        pos = m.end()
    return params


def _params_str(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


# -- Via (§20.42) ---------------------------------------------------------------------------------------------
_VIA_FAST_RE = re.compile(
    rf"SIP/2\.0/([{TOKEN}]+) ({_HOST})(?::([0-9]{{1,5}}))?((?:;[{TOKEN}]+(?:=[{TOKEN}:\[\]]+)?)*)")
_VIA_RE = re.compile(
    rf"([{TOKEN}]+)\s*/\s*([{TOKEN}]+)\s*/\s*([{TOKEN}]+)\s+({_HOST})(?:\s*:\s*([0-9]{{1,5}}))?(.*)", re.S)


class _Param:
    """One parameter of a header value read as an attribute (``None`` when absent)."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.__doc__ = doc

    @overload
    def __get__(self, value: None, owner: type | None = None) -> _Param: ...

    @overload
    def __get__(self, value: _HasParams, owner: type | None = None) -> str | None: ...

    def __get__(self, value: _HasParams | None, owner: type | None = None) -> str | _Param | None:
        return self if value is None else value.params.get(self.name)


def _int_param(params: Mapping[str, str | None], name: str) -> int | None:
    """A numeric parameter as an ``int``; ``None`` when absent or empty."""
    value = params.get(name)
    return int(value) if value else None


class _HasParams(Protocol):
    @property
    def params(self) -> Mapping[str, str | None]: ...


@dataclass(slots=True, eq=False)
class Via:
    """One ``via-parm``: ``SIP/2.0/UDP host:port;branch=...;received=...;rport`` (§20.42, RFC 3581)."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    branch = _Param("branch", "The transaction identifier (§8.1.1.7); RFC 3261 ones start with ``z9hG4bK``.")

    received = _Param("received", "The ``received`` address a server added (§18.2.1).")

    maddr = _Param("maddr", "The ``maddr`` parameter (§18.2.2).")

    @property
    def ttl(self) -> int | None:
        """The ``ttl`` parameter, 0-255 (§18.2.2)."""
        return _int_param(self.params, "ttl")

    @property
    def has_rport(self) -> bool:
        """True when ``rport`` is present, with or without a value (RFC 3581 §3)."""
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        """The port a server filled into ``rport`` (RFC 3581 §4); ``None`` when absent or empty."""
        return _int_param(self.params, "rport")

    @property
    def sent_by(self) -> str:
        """``host[:port]`` as written (§18.2.1 compares it with the packet's source)."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def sent_by_key(self) -> tuple[str, int | None]:
        """(lower-case host, port) for §17.2.3 matching."""
        return self.host.lower(), self.port

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{_params_str(self.params)}"


def _check_via_params(params: dict[str, str | None]) -> None:
    ttl = params.get("ttl", "0")
    if ttl is None or not ttl.isdigit() or int(ttl) > 255:
        raise HeaderError("Via", "bad ttl")
    rport = params.get("rport")
    if rport is not None and (not rport.isdigit() or int(rport) > 65535):
        raise HeaderError("Via", "bad rport")
    if "branch" in params and not params["branch"]:
        raise HeaderError("Via", "empty branch")


def parse_via(text: str) -> Via:
    """Parse one ``via-parm`` (§25.1), tolerating SWS around the separators (RFC 4475 §3.1.1.1)."""
    m = _VIA_FAST_RE.fullmatch(text)
    if m is not None:
        transport, host, port_text, params_text = m.groups()
        params = {}
        if params_text:
            for item in params_text[1:].split(";"):
                name, eq, value = item.partition("=")
                params[name.lower()] = value if eq else None
        protocol = "SIP/2.0"
    else:
        m = _VIA_RE.fullmatch(text)
        if m is None:
            raise HeaderError("Via", f"bad via-parm {text[:60]!r}")
        name, version, transport, host, port_text, params_text = m.groups()
        protocol = f"{name}/{version}"
        params = parse_params(params_text.strip(), "Via")
    if port_text is not None and int(port_text) > 65535:
        raise HeaderError("Via", "port out of range")
    if "ttl" in params or params.get("rport") is not None or params.get("branch", "-") in ("", None):
        _check_via_params(params)
    return Via(transport.upper(), host, int(port_text) if port_text is not None else None, params, protocol)


def parse_via_list(values: Sequence[str]) -> list[Via]:
    """All Via values of a message, top first, from its raw field values (§7.3.1 order)."""
    out: list[Via] = []
    for value in values:
        for part in split_commas(value):
            out.append(parse_via(part))
    return out


# -- name-addr / addr-spec (§20.10, §20.20, §20.39, §20.30, §20.34) ----------------------------------------------
_DISPLAY_TOKENS_RE = re.compile(rf"[{TOKEN}]+(?:\s+[{TOKEN}]+)*")
_ADDR_FAST_RE = re.compile(rf'(?:"((?:[^"\\]|\\.)*)" ?)?<([^<>\s"]+)>((?:;[{TOKEN}]+(?:=[{TOKEN}:\[\]]+)?)*)', re.S)
# the common `["Display" ]<sip:user@host:port;uri-params>;params` in one match (no escapes, no IPv6)
_ADDR_SIP_RE = re.compile(
    r'(?:"((?:[^"\\]|\\.)*)" ?)?<(sips?):'
    rf"(?:([{USER_CHARS.replace('%', '')}]+)(?::([{PASSWORD_CHARS.replace('%', '')}]*))?@)?"
    r"([A-Za-z0-9_][A-Za-z0-9_.\-]*)(?::([0-9]{1,5}))?"
    rf"((?:;[{PARAM_CHARS.replace('%', '')}]+(?:=[{PARAM_CHARS.replace('%', '')}]+)?)*)"
    rf">((?:;[{TOKEN}]+(?:=[{TOKEN}:\[\]]+)?)*)",
    re.S,
)
WILDCARD_SCHEME = "*"


@dataclass(slots=True, eq=False)
class Address:
    """``[display-name] <uri> *(;param)`` as in From, To, Contact, Route, Record-Route (§20.10).

    ``display_name`` is unquoted (quoted-pairs undone); ``params`` are header parameters (``tag``,
    ``expires``, ``q``...), never the URI's own parameters (RFC 4475 §3.3.12 vs §3.3.13). The Contact
    wildcard ``*`` is an Address whose :attr:`is_wildcard` is true.
    """

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def wildcard(cls) -> Address:
        """The ``Contact: *`` of a REGISTER removing every binding (§10.2.2)."""
        return cls(Uri(WILDCARD_SCHEME, opaque="*"))

    @property
    def is_wildcard(self) -> bool:
        """True for ``Contact: *``."""
        return self.uri.scheme == WILDCARD_SCHEME

    tag = _Param("tag", "The From/To ``tag`` (§19.3).")

    @property
    def expires(self) -> int | None:
        """The Contact ``expires`` parameter (§20.10), capped at 2**32-1; ``None`` when absent or malformed."""
        value = self.params.get("expires")
        if value is None or not value.isdigit():
            return None
        return min(int(value), 0xFFFFFFFF)

    @property
    def q(self) -> float | None:
        """The Contact ``q`` preference, 0 to 1 (§20.10)."""
        value = self.params.get("q")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def with_tag(self, tag: str) -> Address:
        """A copy carrying ``tag``."""
        params = dict(self.params)
        params["tag"] = tag
        return Address(self.uri, self.display_name, params)

    def __str__(self) -> str:
        if self.is_wildcard:
            return "*"
        name = "" if self.display_name is None else quote_string(self.display_name) + " "
        return f"{name}<{self.uri}>{_params_str(self.params)}"

    def __repr__(self) -> str:
        return f"Address({str(self)!r})"


def parse_address(text: str, header: str = "Contact", *, allow_wildcard: bool = False) -> Address:
    """Parse ``(name-addr / addr-spec) *(SEMI param)`` (§25.1); the value is stripped by the caller.

    Refuses an unterminated quoted display name (RFC 4475 §3.1.2.6), unquoted non-token display
    names (§3.1.2.15), blanks inside ``<>`` (§3.1.2.14) and an addr-spec carrying ``?`` headers,
    which needs ``<>`` (§20.10, RFC 4475 §3.1.2.13).
    """
    m = _ADDR_SIP_RE.fullmatch(text)
    if m is not None:
        quoted, scheme, user, password, host, port_text, uri_params_text, params_text = m.groups()
        port = None
        if port_text is not None:
            port = int(port_text)
            if port > 65535:
                raise HeaderError(header, "port out of range")
        uri_params: dict[str, str | None] = {}
        if uri_params_text:
            for item in uri_params_text[1:].split(";"):
                name, eq, value = item.partition("=")
                uri_params[name.lower()] = value if eq else None
        params: dict[str, str | None] = {}
        if params_text:
            for item in params_text[1:].split(";"):
                name, eq, value = item.partition("=")
                params[name.lower()] = value if eq else None
        display = None
        if quoted is not None:
            display = _QUOTED_PAIR_RE.sub(r"\1", quoted) if "\\" in quoted else quoted
        return Address(Uri(scheme, user, password, host, port, uri_params, {}, None), display, params)
    m = _ADDR_FAST_RE.fullmatch(text)
    if m is not None:
        quoted, uri_text, params_text = m.groups()
        try:
            uri = parse_uri(uri_text)
        except UriError as exc:
            raise HeaderError(header, exc.detail) from None
        display = None
        if quoted is not None:
            display = _QUOTED_PAIR_RE.sub(r"\1", quoted) if "\\" in quoted else quoted
        return Address(uri, display, parse_params(params_text, header))
    return _parse_address_slow(text, header, allow_wildcard)


def _parse_address_slow(text: str, header: str, allow_wildcard: bool) -> Address:
    display: str | None = None
    rest = text
    if rest.startswith('"'):
        qm = _QUOTED_RE.match(rest)
        if qm is None:
            raise HeaderError(header, "unterminated quoted string in display name")
        display = unquote_string(qm.group(0))
        rest = rest[qm.end():].lstrip()
        if not rest.startswith("<"):
            raise HeaderError(header, "quoted display name without <addr-spec>")
    lt = rest.find("<")
    if lt >= 0:
        if lt > 0:
            words = rest[:lt].rstrip()
            if not _DISPLAY_TOKENS_RE.fullmatch(words):
                raise HeaderError(header, f"display name {words!r} must be a quoted string")
            display = words
        gt = rest.find(">", lt)
        if gt < 0:
            raise HeaderError(header, "missing '>'")
        uri_text = rest[lt + 1:gt]
        params_text = rest[gt + 1:].strip()
        if params_text and params_text[0] != ";":
            raise HeaderError(header, f"unexpected text after '>': {params_text[:20]!r}")
    else:
        semi = rest.find(";")
        uri_text = (rest[:semi] if semi >= 0 else rest).rstrip()
        params_text = rest[semi:] if semi >= 0 else ""
        if uri_text == "*":
            if not allow_wildcard or params_text:
                raise HeaderError(header, "misplaced '*'")
            return Address.wildcard()
        if "?" in uri_text:
            raise HeaderError(header, "an addr-spec with headers must be enclosed in <> (§20.10)")
    try:
        uri = parse_uri(uri_text)
    except UriError as exc:
        raise HeaderError(header, exc.detail) from None
    return Address(uri, display, parse_params(params_text, header))


def parse_address_list(values: Sequence[str], header: str, *, allow_wildcard: bool = False) -> list[Address]:
    """Every address of a list field (Contact, Route, Record-Route), in order."""
    out: list[Address] = []
    for value in values:
        for part in split_commas(value):
            if not part:
                raise HeaderError(header, "empty list element")
            out.append(parse_address(part, header, allow_wildcard=allow_wildcard))
    if allow_wildcard and len(out) > 1 and any(a.is_wildcard for a in out):
        raise HeaderError(header, "'*' must be the only Contact (§10.2.2)")
    return out


# -- scalars ----------------------------------------------------------------------------------------------------
_CSEQ_RE = re.compile(rf"([0-9]{{1,10}})\s+([{TOKEN}]+)")
_CALL_ID_WORD = r"A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}"
_CALL_ID_RE = re.compile(rf"[{_CALL_ID_WORD}]+(?:@[{_CALL_ID_WORD}]+)?")


class CSeq(NamedTuple):
    """``CSeq: 4711 INVITE`` (§20.16): a 32-bit sequence number and the request method (immutable)."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    """Parse a CSeq value; the number must fit 32 bits (§8.1.1.5, RFC 4475 §3.1.2.4)."""
    m = _CSEQ_RE.fullmatch(text)
    if m is None:
        raise HeaderError("CSeq", f"bad value {text[:40]!r}")
    seq = int(m.group(1))
    if seq > 0xFFFFFFFF:
        raise HeaderError("CSeq", "sequence number above 2**32-1")
    return CSeq(seq, m.group(2))


def parse_call_id(text: str) -> str:
    """Check ``callid = word [ "@" word ]`` (§25.1) and return it."""
    if _CALL_ID_RE.fullmatch(text) is None:
        raise HeaderError("Call-ID", f"bad value {text[:40]!r}")
    return text


def parse_int(text: str, header: str, maximum: int) -> int:
    """A ``1*DIGIT`` value not above ``maximum`` (Max-Forwards 255, Expires 2**32-1, Content-Length)."""
    if not text.isdigit() or not text.isascii():
        raise HeaderError(header, f"not a number: {text[:20]!r}")
    if len(text) > 12:
        raise HeaderError(header, f"{text[:20]}... is out of range")
    value = int(text)
    if value > maximum:
        raise HeaderError(header, f"{value} is above {maximum}")
    return value


_TOKEN_LIST_RE = re.compile(rf"[{TOKEN}]+(?:[ \t]*,[ \t]*[{TOKEN}]+)*")


def parse_token_list(values: Sequence[str], header: str) -> list[str]:
    """``option-tag *(COMMA option-tag)`` for Require, Supported, Unsupported, Proxy-Require, Allow."""
    out: list[str] = []
    for value in values:
        if not value:
            continue
        if _TOKEN_LIST_RE.fullmatch(value):  # the usual "a, b, c": checked in one match
            out += [part.strip() for part in value.split(",")] if "," in value else [value]
            continue
        for part in split_commas(value):
            if not _TOKEN_RE.fullmatch(part):
                raise HeaderError(header, f"bad token {part[:20]!r}")
            out.append(part)
    return out


def parse_date(text: str) -> datetime.datetime:
    """An RFC 1123 ``SIP-date`` which must be in GMT (§20.17; RFC 4475 §3.1.2.12 refuses ``EST``)."""
    if not text.endswith(" GMT"):
        raise HeaderError("Date", "SIP dates are in GMT")
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise HeaderError("Date", f"bad date {text[:40]!r}") from None


# -- media types (§20.15, §20.1) -------------------------------------------------------------------------------
_MEDIA_RE = re.compile(rf"([{TOKEN}]+)\s*/\s*([{TOKEN}]+)\s*(.*)", re.S)


@dataclass(slots=True, eq=False)
class MediaType:
    """``type/subtype;params`` of Content-Type or one Accept range (``*/*``, ``application/*``)."""

    type: str
    subtype: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def mime(self) -> str:
        """``type/subtype`` lower-case, without parameters."""
        return f"{self.type}/{self.subtype}"

    def matches(self, mime: str) -> bool:
        """True when this (Accept) range covers ``mime``."""
        t, _, s = mime.lower().partition("/")
        return (self.type in ("*", t)) and (self.subtype in ("*", s))

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{_params_str(self.params)}"


def parse_media_type(text: str, header: str = "Content-Type") -> MediaType:
    """Parse ``m-type SLASH m-subtype *(SEMI m-parameter)``."""
    m = _MEDIA_RE.fullmatch(text)
    if m is None:
        raise HeaderError(header, f"bad media type {text[:40]!r}")
    return MediaType(m.group(1).lower(), m.group(2).lower(), parse_params(m.group(3), header))


def parse_accept(values: Sequence[str]) -> list[MediaType]:
    """The media ranges of the Accept fields (§20.1); an empty field accepts nothing."""
    out: list[MediaType] = []
    for value in values:
        if value:
            for part in split_commas(value):
                out.append(parse_media_type(part, "Accept"))
    return out


# -- authentication (§20.7, §20.27, §20.28, §20.44; RFC 2617 §3.2) ---------------------------------------------
_AUTH_SCHEME_RE = re.compile(rf"\s*([{TOKEN}]+)(?:\s+|\Z)")
_AUTH_PARAM_RE = re.compile(rf"\s*([{TOKEN}]+)\s*=\s*({_QUOTED}|[{TOKEN}]+)\s*(,)?", re.S)
#: Digest parameters written as quoted strings (RFC 2617 §3.2.1, §3.2.2; RFC 3261 §25.1).
QUOTED_AUTH_PARAMS = frozenset({"realm", "nonce", "opaque", "domain", "username", "uri", "response", "cnonce",
                                "nextnonce", "rspauth"})


@dataclass(slots=True, eq=False)
class _AuthValue:
    """Scheme and unquoted parameters of an authentication header (RFC 2617 §1.2)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    realm = _Param("realm", "The ``realm`` parameter (RFC 2617 §3.2.1).")

    nonce = _Param("nonce", "The server's ``nonce`` (RFC 2617 §3.2.1).")

    @property
    def algorithm(self) -> str:
        """The digest algorithm, ``MD5`` when absent (RFC 2617 §3.2.1)."""
        return self.params.get("algorithm", "MD5")


@dataclass(slots=True, eq=False)
class Challenge(_AuthValue):
    """A WWW-Authenticate / Proxy-Authenticate challenge."""

    opaque = _Param("opaque", "The ``opaque`` string to send back (RFC 2617 §3.2.1).")

    @property
    def qop_options(self) -> list[str]:
        """The offered ``qop`` values (a quoted comma list in a challenge)."""
        value = self.params.get("qop")
        return [q.strip() for q in value.split(",") if q.strip()] if value else []

    @property
    def stale(self) -> bool:
        """``stale=true``: the nonce expired but the credentials were right (RFC 2617 §3.2.1)."""
        return self.params.get("stale", "").lower() == "true"

    def __str__(self) -> str:
        return _auth_str(self.scheme, self.params, quote_qop=True)


@dataclass(slots=True, eq=False)
class Credentials(_AuthValue):
    """An Authorization / Proxy-Authorization value."""

    username = _Param("username", "The ``username`` (RFC 2617 §3.2.2).")

    response = _Param("response", "The digest ``response`` (RFC 2617 §3.2.2).")

    def __str__(self) -> str:
        return _auth_str(self.scheme, self.params, quote_qop=False)


def _auth_str(scheme: str, params: dict[str, str], *, quote_qop: bool) -> str:
    items = []
    for name, value in params.items():
        if name in QUOTED_AUTH_PARAMS or (name == "qop" and quote_qop):
            items.append(f"{name}={quote_string(value)}")
        else:
            items.append(f"{name}={value}")
    return f"{scheme} " + ", ".join(items) if items else scheme


def parse_auth(text: str, header: str) -> list[tuple[str, dict[str, str]]]:
    """Parse one challenge/credentials field into ``[(scheme, {name: unquoted value})]``.

    A field may hold several challenges (``Digest a=1, Digest b=2``): a token that is not followed
    by ``=`` starts the next one. Parameter names are lower-cased; quoted values are unquoted.
    """
    out: list[tuple[str, dict[str, str]]] = []
    pos, n = 0, len(text)
    while pos < n:
        m = _AUTH_SCHEME_RE.match(text, pos)
        if m is None:
            raise HeaderError(header, f"bad auth scheme near {text[pos:pos + 20]!r}")
        scheme = m.group(1)
        pos = m.end()
        params: dict[str, str] = {}
        while pos < n:
            pm = _AUTH_PARAM_RE.match(text, pos)
            if pm is None:
                break
            value = pm.group(2)
            params[pm.group(1).lower()] = unquote_string(value) if value[0] == '"' else value
            pos = pm.end()
            if pm.group(3) is None:
                break
        out.append((scheme, params))
        if pos < n and not text[pos:].strip():
            break
        if pos < n and not params:
            raise HeaderError(header, f"bad auth parameters near {text[pos:pos + 20]!r}")
    if not out:
        raise HeaderError(header, "empty value")
    return out

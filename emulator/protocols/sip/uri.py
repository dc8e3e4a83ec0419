"""SIP and SIPS URIs (RFC 3261 §19.1, ABNF §25.1) and other absolute URIs (RFC 3986).

A :class:`Uri` keeps the components *unescaped* (``sip:%75ser@h`` has ``user == "user"``) and escapes
again on output, so values are what an application compares and routes on; ``%`` escapes are
undone once, never recursively (RFC 4475 §3.1.1.3: ``v%61lue%25%34%31`` is ``value%41``). Parameter
and header names are case-insensitive and stored lower-case. Equality is the comparison of
§19.1.4 (scheme, userinfo case-sensitive, host case-insensitive, no default-value matching,
``user``/``ttl``/``method``/``maddr``/``transport`` present in one URI only never match, other
parameters present in one URI only ignored, headers always compared).

URIs of other schemes (``tel:``, ``http:``, ``urn:``, ``soap.beep:``...) are kept opaque: ``scheme``
plus ``opaque``, the text after the colon. ``Uri.parse`` raises :class:`UriError` (a 400) for
anything outside the grammar: spaces, ``<>`` (RFC 4475 §3.1.2.7), bad escapes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from emulator.protocols.sip.errors import UriError

__all__ = ["PARAM_CHARS", "PASSWORD_CHARS", "USER_CHARS", "Uri", "UriError", "escape", "parse_uri", "unescape"]

# RFC 3261 §25.1 character classes (regex-escaped)
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
USER_CHARS = _UNRESERVED + r"%&=+$,;?/"  # user-unreserved plus escaped
PASSWORD_CHARS = _UNRESERVED + r"%&=+$,"
PARAM_CHARS = _UNRESERVED + r"%\[\]/:&+$"  # paramchar = param-unreserved / unreserved / escaped
_HNV_CH = _UNRESERVED + r"%\[\]/?:+$"  # hnv-unreserved / unreserved / escaped

_USER_RE = re.compile(rf"[{USER_CHARS}]+")
_PASSWORD_RE = re.compile(rf"[{PASSWORD_CHARS}]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# hostport uri-parameters [headers]; hostname is lenient about "_" (seen in the field)
_HOSTPORT_RE = re.compile(
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*))"
    r"(?::([0-9]{1,5}))?"
    rf"((?:;[{PARAM_CHARS}]+(?:=[{PARAM_CHARS}]+)?)*)"
    rf"(?:\?([{_HNV_CH}]+=[{_HNV_CH}]*(?:&[{_HNV_CH}]+=[{_HNV_CH}]*)*))?"
)
# the whole of a SIP URI after "sip:" when it holds no escape (the common case)
_SIP_FAST_RE = re.compile(
    rf"(?:([{USER_CHARS}]+)(?::([{PASSWORD_CHARS}]*))?@)?"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*))"
    r"(?::([0-9]{1,5}))?"
    rf"((?:;[{PARAM_CHARS}]+(?:=[{PARAM_CHARS}]+)?)*)"
    rf"(?:\?([{_HNV_CH}]+=[{_HNV_CH}]*(?:&[{_HNV_CH}]+=[{_HNV_CH}]*)*))?"
)
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# absoluteURI = scheme ":" ( hier-part / opaque-part ); uric plus the path characters
_OPAQUE_RE = re.compile(r"[A-Za-z0-9\-_.!~*'();/?:@&=+$,%\[\]#]+")

# characters that may stay unescaped on output, per component (beyond RFC 3986's always-safe set)
_USER_SAFE = "!*'()&=+$,;?/"
_PASSWORD_SAFE = "!*'()&=+$,"
_PARAM_SAFE = "!*'()[]/:&+$"
_HNV_SAFE = "!*'()[]/?:+$"
_SAFE_RES = {
    safe: re.compile(r"[A-Za-z0-9\-_.~" + re.escape(safe) + r"]*") for safe in (_USER_SAFE, _PASSWORD_SAFE,
                                                                              _PARAM_SAFE, _HNV_SAFE)
}

# §19.1.4: these uri-parameters present in only one of the URIs make them different
_MUST_MATCH_PARAMS = frozenset({"user", "ttl", "method", "maddr", "transport"})


def unescape(text: str) -> str:
    """Undo ``%`` HEX HEX escapes once (RFC 3261 §19.1.2); octets are UTF-8, invalid ones kept as surrogates."""
    if "%" not in text:
        return text
    return unquote(text, encoding="utf-8", errors="surrogateescape")


def escape(text: str, safe: str = _USER_SAFE) -> str:
    """Escape every character of ``text`` not allowed unescaped in a URI component (RFC 3261 §19.1.2)."""
    if text.isalnum() and text.isascii():  # letters and digits never need it: the usual user and parameter
        return text
    pattern = _SAFE_RES.get(safe)
    if pattern is not None and pattern.fullmatch(text):
        return text
    return quote(text, safe=safe, encoding="utf-8", errors="surrogateescape")


def _check_escapes(text: str, what: str, source: str) -> None:
    if "%" in text and _BAD_ESCAPE.search(text):
        raise UriError(f"bad % escape in {what} of {source!r}")


def _parse_params(text: str, source: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        _check_escapes(item, "uri-parameter", source)
        params[unescape(name).lower()] = unescape(value) if eq else None
    return params


def _parse_headers(text: str, source: str) -> dict[str, str]:
    _check_escapes(text, "headers", source)
    headers: dict[str, str] = {}
    for item in text.split("&"):
        name, _, value = item.partition("=")
        headers[unescape(name)] = unescape(value)
    return headers


@dataclass(slots=True, eq=False)
class Uri:
    """A SIP/SIPS URI (``sip:user:password@host:port;params?headers``) or an opaque absolute URI.

    ``host`` is as written (IPv6 references keep their brackets); ``port`` is ``None`` when absent
    (never defaulted: §19.1.4 tells ``sip:a@h`` from ``sip:a@h:5060``).
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    opaque: str | None = None

    @classmethod
    def parse(cls, text: str) -> Uri:
        """Parse ``text`` (a complete URI, no surrounding blanks); raise :class:`UriError` (400)."""
        return parse_uri(text)

    # -- convenience -----------------------------------------------------------------------------------------
    @property
    def is_sip(self) -> bool:
        """True for ``sip:`` and ``sips:`` URIs."""
        return self.opaque is None

    @property
    def secure(self) -> bool:
        """True for a SIPS URI (RFC 3261 §19.1: TLS on every hop)."""
        return self.scheme == "sips"

    @property
    def transport(self) -> str | None:
        """The ``transport`` uri-parameter, lower-case (§19.1.1)."""
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        """True when the URI carries the loose-routing ``lr`` parameter (§19.1.1, §16.12)."""
        return "lr" in self.params

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` uri-parameter (§19.1.1)."""
        return self.params.get("maddr")

    @property
    def host_port(self) -> str:
        """``host[:port]`` as written in a Via sent-by or a Contact."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def copy(self, **changes: object) -> Uri:
        """A copy with its own parameter and header dicts, optionally with fields replaced."""
        new = Uri(self.scheme, self.user, self.password, self.host, self.port, dict(self.params),
                  dict(self.headers), self.opaque)
        for name, value in changes.items():
            setattr(new, name, value)
        return new

    # -- output ----------------------------------------------------------------------------------------------
    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(escape(self.user, _USER_SAFE))
            if self.password is not None:
                out.append(":")
                out.append(escape(self.password, _PASSWORD_SAFE))
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        for name, value in self.params.items():
            out.append(";")
            out.append(escape(name, _PARAM_SAFE))
            if value is not None:
                out.append("=")
                out.append(escape(value, _PARAM_SAFE))
        if self.headers:
            out.append("?")
            out.append("&".join(f"{escape(k, _HNV_SAFE)}={escape(v, _HNV_SAFE)}" for k, v in self.headers.items()))
        return "".join(out)

    def __repr__(self) -> str:
        return f"Uri({str(self)!r})"

    # -- §19.1.4 comparison ----------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Uri):
            return NotImplemented
        if self.scheme != other.scheme:
            return False
        if self.opaque is not None or other.opaque is not None:
            return self.opaque == other.opaque
        if (self.user != other.user or self.password != other.password or self.port != other.port
                or self.host.lower() != other.host.lower()):
            return False
        mine, theirs = self.params, other.params
        for name in mine.keys() | theirs.keys():
            if name not in mine or name not in theirs:
                if name in _MUST_MATCH_PARAMS:
                    return False
                continue
            a, b = mine[name], theirs[name]
            if (a is None) != (b is None) or (a is not None and b is not None and a.lower() != b.lower()):
                return False
        if self.headers or other.headers:
            a_h = {k.lower(): v.lower() for k, v in self.headers.items()}
            b_h = {k.lower(): v.lower() for k, v in other.headers.items()}
            if a_h != b_h:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # mutable value object


def _parse_sip(scheme: str, rest: str, text: str) -> Uri:
    if "%" not in rest and "[" not in rest:
        m = _SIP_FAST_RE.fullmatch(rest)
        if m is not None:
            user, password, host, port_text, params_text, headers_text = m.groups()
            port = None
            if port_text is not None:
                port = int(port_text)
                if port > 65535:
                    raise UriError(f"port out of range in {text!r}")
            params: dict[str, str | None] = {}
            if params_text:
                for item in params_text[1:].split(";"):
                    name, eq, value = item.partition("=")
                    params[name.lower()] = value if eq else None
            headers = _parse_headers(headers_text, text) if headers_text else {}
            return Uri(scheme, user, password, host, port, params, headers, None)
    return _parse_sip_slow(scheme, rest, text)


def _parse_sip_slow(scheme: str, rest: str, text: str) -> Uri:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, hostpart = rest[:at], rest[at + 1:]
        user_text, colon, password_text = userinfo.partition(":")
        if not _USER_RE.fullmatch(user_text):
            raise UriError(f"bad user part in {text!r}")
        _check_escapes(user_text, "user", text)
        user = unescape(user_text)
        if colon:
            if not _PASSWORD_RE.fullmatch(password_text):
                raise UriError(f"bad password in {text!r}")
            _check_escapes(password_text, "password", text)
            password = unescape(password_text)
    else:
        hostpart = rest
    m = _HOSTPORT_RE.fullmatch(hostpart)
    if m is None:
        raise UriError(f"bad hostport, parameters or headers in {text!r}")
    host, port_text, params_text, headers_text = m.groups()
    if host[0] == "[":
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise UriError(f"bad IPv6 reference in {text!r}") from None
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise UriError(f"port out of range in {text!r}")
    params = _parse_params(params_text, text) if params_text else {}
    headers = _parse_headers(headers_text, text) if headers_text else {}
    return Uri(scheme, user, password, host, port, params, headers, None)


def parse_uri(text: str) -> Uri:
    """Parse a SIP/SIPS URI or an absolute URI of another scheme (RFC 3261 §25.1 ``Request-URI``)."""
    scheme, colon, rest = text.partition(":")
    if not colon or not rest:
        raise UriError(f"not an absolute URI: {text!r}")
    lowered = scheme.lower()
    if lowered == "sip" or lowered == "sips":
        return _parse_sip(lowered, rest, text)
    if not _SCHEME_RE.fullmatch(scheme) or not _OPAQUE_RE.fullmatch(rest):
        raise UriError(f"not an absolute URI: {text!r}")
    return Uri(lowered, None, None, "", None, {}, {}, rest)

"""Typed SIP errors, each carrying the response to answer with (h11's ``RemoteProtocolError`` shape).

``status_code`` is the response a UAS sends back for a request that raised it; ``None`` means the
message cannot be answered and is dropped silently (a malformed response, RFC 3261 §18.1.2 and
RFC 4475 §3.1.2.19; a request too broken to build a response from, §8.2.6 needs Via, From, To,
Call-ID and CSeq). ``close_connection`` tells a stream transport that framing is lost
(RFC 4475 §3.1.2.3, §3.3.9: a negative or ambiguous Content-Length on TCP is unrecoverable).
"""

from __future__ import annotations

__all__ = ["HeaderError", "MessageTooLarge", "SipError", "SipParseError", "UriError", "VersionNotSupported"]

_REASONS = {400: "Bad Request", 413: "Request Entity Too Large", 416: "Unsupported URI Scheme",
            505: "Version Not Supported", 513: "Message Too Large"}


class SipError(Exception):
    """Base of every SIP error; ``status_code``/``reason`` name the response to answer with.

    ``status_code`` defaults to the class's own (400, 505, 513...) when not given (the ``-1`` marker).
    """

    status_code: int | None = 400

    def __init__(self, detail: str, status_code: int | None = -1, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status_code != -1:
            self.status_code = status_code
        code = self.status_code
        self.reason = reason if reason is not None else _REASONS.get(code or 0, "Bad Request")


class SipParseError(SipError, ValueError):
    """A message that cannot be framed or whose grammar is violated (RFC 3261 §7, §25).

    ``message`` is what could be parsed (start line and raw headers, a
    :class:`~emulator.protocols.sip.message.Request` or ``Response``) when there is enough of it to build a
    response from; ``close_connection`` is set when a stream can no longer be framed. It is typed ``object``
    because this module sits below the message module (readers narrow it with ``isinstance``).
    """

    def __init__(self, detail: str, status_code: int | None = -1, reason: str | None = None, *,
                 message: object = None, close_connection: bool = False) -> None:
        super().__init__(detail, status_code, reason)
        self.message = message
        self.close_connection = close_connection


class UriError(SipParseError):
    """A URI that does not match RFC 3261 §25.1 (``SIP-URI``, ``SIPS-URI``, ``absoluteURI``)."""


class HeaderError(SipParseError):
    """A header field value that does not match its grammar (read lazily, on first access)."""

    def __init__(self, header: str, detail: str, status_code: int | None = -1) -> None:
        super().__init__(f"{header}: {detail}", status_code, f"Bad {header} header")
        self.header = header


class MessageTooLarge(SipParseError):
    """Above the unit's maximum message size: 513 Message Too Large (RFC 3261 §21.5.14)."""

    status_code = 513


class VersionNotSupported(SipParseError):
    """A SIP-Version other than SIP/2.0: 505 Version Not Supported (RFC 3261 §21.5.7, RFC 4475 §3.1.2.16)."""

    status_code = 505

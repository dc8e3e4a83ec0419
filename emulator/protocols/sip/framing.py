"""SIP over a byte stream (TCP, TLS): messages framed by Content-Length (RFC 3261 §18.3) and the CRLF keep-alives
between them (RFC 5626 §3.5.1); each message read as :mod:`emulator.protocols.sip.message` reads a datagram's."""

from __future__ import annotations

from emulator.protocols.sip.errors import MessageTooLarge, SipParseError
from emulator.protocols.sip.message import (
    MAX_MESSAGE_SIZE,
    KeepAlive,
    Request,
    Response,
    _content_length,
    _parse_head,
    _too_large,
)

__all__ = ["StreamParser"]


class StreamParser:
    """Frames messages out of a byte stream (TCP, TLS) by Content-Length (§18.3), h11 style.

    ``feed(data)`` then call ``next_event()`` until it returns ``None``. Errors are raised from
    ``next_event()``; when ``close_connection`` is false the bad message has been consumed and the
    stream stays usable. CRLF keep-alives between messages are reported as :class:`KeepAlive`
    (RFC 5626 §3.5.1); a lone CRLF at the end of the buffer is held back until it is known whether a
    second one follows, unless ``awaiting_pong`` is set (we sent a ping).
    """

    __slots__ = ("_buf", "_discard", "_pending", "_scan", "awaiting_pong", "closed", "max_size")

    def __init__(self, *, max_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buf = bytearray()
        self._discard = 0
        self._scan = 0
        self._pending: tuple[Request | Response, int, int] | None = None
        self.max_size = max_size
        self.awaiting_pong = False
        self.closed = False

    def feed(self, data: bytes) -> None:
        """Append received octets."""
        if self._discard:
            skip = min(self._discard, len(data))
            self._discard -= skip
            data = data[skip:]
        self._buf += data

    @property
    def buffered(self) -> int:
        """Octets received and not yet framed."""
        return len(self._buf)

    @property
    def in_message(self) -> bool:
        """True while a message has begun and is not complete yet (its headers or its body are awaited, or
        the body of a refused message is being skipped): a stream transport times that out (slow senders)."""
        return bool(self._buf) or self._discard > 0

    def next_event(self) -> Request | Response | KeepAlive | None:
        """The next complete message or keep-alive, or ``None`` when more data is needed."""
        if self.closed:
            return None
        buf = self._buf
        if self._pending is not None:
            msg, body_start, length = self._pending
            if len(buf) < body_start + length:
                return None
            self._pending = None
            msg.body = bytes(buf[body_start:body_start + length])
            del buf[:body_start + length]
            self._scan = 0
            return msg
        if buf[:2] == b"\r\n":
            if buf[:4] == b"\r\n\r\n":
                del buf[:4]
                self._scan = 0
                return KeepAlive(ping=True)
            if len(buf) < 4 and b"\r\n\r\n".startswith(buf) and not self.awaiting_pong:
                return None  # may still become a double-CRLF ping
            del buf[:2]
            self._scan = 0
            self.awaiting_pong = False
            return KeepAlive(ping=False)
        end = buf.find(b"\r\n\r\n", self._scan)
        if end < 0:
            self._scan = max(0, len(buf) - 3)
            if len(buf) > self.max_size:
                self.closed = True
                raise MessageTooLarge(f"no end of headers within {self.max_size} octets", 513,
                                      close_connection=True)
            return None
        self._scan = 0
        head = bytes(buf[:end])
        body_start = end + 4
        try:
            msg = _parse_head(head.decode("utf-8", "surrogateescape"))
        except SipParseError as exc:
            # the header block is consumed; its body cannot be skipped reliably unless the length is readable
            del buf[:body_start]
            partial = exc.message
            skip: int | None = None
            if isinstance(partial, Request | Response):
                try:
                    skip = _content_length(partial, stream=True)
                except SipParseError:
                    skip = None
            if skip is None:
                exc.close_connection = True
                self.closed = True
            else:
                self._skip(skip)
            raise
        try:
            framed = _content_length(msg, stream=True)
        except SipParseError as exc:
            del buf[:body_start]
            if exc.close_connection:
                self.closed = True
            raise
        assert framed is not None  # required on streams: absent raised above
        length = framed
        if body_start + length > self.max_size:
            del buf[:body_start]
            self._skip(length)
            raise _too_large(msg, body_start + length, self.max_size)
        if len(buf) < body_start + length:
            self._pending = (msg, body_start, length)
            return None
        if length:
            msg.body = bytes(buf[body_start:body_start + length])
        del buf[:body_start + length]
        return msg

    def _skip(self, length: int) -> None:
        buf = self._buf
        skip = min(length, len(buf))
        del buf[:skip]
        self._discard = length - skip


# ---------------------------------------------------------------------------------------------------------------

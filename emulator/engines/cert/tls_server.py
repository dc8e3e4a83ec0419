"""The server side of a unit's TLS connections as asyncio streams, on a sans-IO TLS session.

:class:`TlsServerProtocol` owns every octet of an accepted connection from the first one and runs the
handshake on :class:`~emulator.protocols.tls_session.TlsServerSession` (memory BIOs), then hands the
connection over as an ``asyncio.StreamReader``/``StreamWriter`` pair. Not ``start_tls`` on an accepted
plain stream: uvloop reads the socket as soon as the connection callback returns, so a ClientHello sent
right after the TCP handshake was read as plain data and lost to the TLS layer installed a moment later
(the handshake then hung until its timeout). Not the loop's own TLS server (``create_server(ssl=...)``)
either: its handshake failures go to the loop's exception handler, so a refused client certificate could
raise no Cert notification; here they come back to the listener (``on_failure``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from asyncio.streams import FlowControlMixin
from collections.abc import Callable, Coroutine
from typing import Any, cast

from emulator.protocols.tls_session import TlsServerSession

__all__ = ["TlsServerProtocol", "TlsTransport"]

_STREAM_LIMIT = 2**16  # asyncio.start_server's default reader limit

Peer = tuple[Any, ...] | None  # the transport's peername
OnReady = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]
OnFailure = Callable[[Peer, Exception], None]


class TlsTransport(asyncio.Transport):
    """What the stream writer writes through (and an accepted SIP connection,
    :mod:`emulator.engines.sipep.connection`): application data encrypted by the session, on the socket."""

    def __init__(self, transport: asyncio.Transport, session: TlsServerSession) -> None:
        super().__init__()
        self._transport = transport
        self._session = session

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._transport.write(self._session.send(bytes(data)))

    def close(self) -> None:
        if not self._transport.is_closing():
            with contextlib.suppress(Exception):
                self._transport.write(self._session.close())  # close_notify (RFC 5246 §7.2.1)
            self._transport.close()

    def abort(self) -> None:
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def can_write_eof(self) -> bool:
        return False  # TLS has close_notify, not a half-close

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._session.ssl_object
        return self._transport.get_extra_info(name, default)


class TlsServerProtocol(FlowControlMixin, asyncio.Protocol):
    """One accepted TLS connection. `context` gives the server context when the connection arrives (the
    service's current parameters); `on_ready(reader, writer)` runs once the handshake is done; `on_failure`
    hears of a handshake that failed (``ssl.SSLError``), timed out or was cut short."""

    def __init__(
        self,
        context: Callable[[], ssl.SSLContext],
        on_ready: OnReady,
        on_failure: OnFailure,
        *,
        handshake_timeout: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(loop=loop)
        self._context = context
        self._on_ready = on_ready
        self._on_failure = on_failure
        self._timeout = handshake_timeout
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._session: TlsServerSession | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._reader: asyncio.StreamReader | None = None
        self._task: asyncio.Task[None] | None = None
        self._failed = False
        self._closed = loop.create_future()

    # -- the connection --------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is one without inheriting from it
        try:
            self._session = TlsServerSession(self._context())
        except (ssl.SSLError, OSError, ValueError) as exc:  # no context for this service any more
            self._fail(exc)
            return
        self._deadline = self._loop.call_later(self._timeout, self._timed_out)

    def data_received(self, data: bytes) -> None:
        session, transport = self._session, self._transport
        if session is None or transport is None:
            return
        try:
            got = session.receive(data)
        except ssl.SSLError as exc:
            self._tls_failed(transport, session, exc)
            return
        if got.outgoing:
            transport.write(got.outgoing)
        if got.handshake_done:
            self._handshake_done(transport, session)
        reader = self._reader
        if reader is not None:
            if got.data:
                reader.feed_data(got.data)
            if got.closed:
                reader.feed_eof()

    def eof_received(self) -> bool:
        if self._reader is not None:
            self._reader.feed_eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)  # wakes writers waiting in drain()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._reader is not None:
            self._reader.feed_eof()
        elif not self._failed:
            self._failed = True
            self._on_failure(self._peer(), exc or ConnectionResetError("closed before the TLS handshake ended"))
        if not self._closed.done():
            self._closed.set_result(None)

    # StreamWriter.wait_closed() asks its protocol for this (asyncio.StreamReaderProtocol has the same)
    def _get_close_waiter(self, stream: asyncio.StreamWriter) -> asyncio.Future[None]:
        return self._closed

    # -- the handshake ---------------------------------------------------------------------------------
    def _handshake_done(self, transport: asyncio.Transport, session: TlsServerSession) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        reader = self._reader = asyncio.StreamReader(limit=_STREAM_LIMIT, loop=self._loop)
        writer = asyncio.StreamWriter(TlsTransport(transport, session), self, reader, self._loop)
        self._task = self._loop.create_task(self._on_ready(reader, writer))

    def _tls_failed(self, transport: asyncio.Transport, session: TlsServerSession, exc: ssl.SSLError) -> None:
        """A handshake or record the session refused: send OpenSSL's alert (it tells the client why), then
        report a failed handshake to the listener, or a broken record to the reader."""
        with contextlib.suppress(Exception):
            transport.write(session.pending_output())
        if self._reader is None:
            self._fail(exc)
            return
        self._reader.set_exception(exc)
        transport.close()

    def _timed_out(self) -> None:
        self._deadline = None
        self._fail(TimeoutError(f"the TLS handshake took longer than {self._timeout:g} s"))

    def _fail(self, exc: Exception) -> None:
        self._failed = True
        self._on_failure(self._peer(), exc)
        if self._transport is not None:
            self._transport.close()

    def _peer(self) -> Peer:
        return None if self._transport is None else self._transport.get_extra_info("peername")

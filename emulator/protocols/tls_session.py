"""The server side of one TLS connection over memory BIOs: fed the octets the peer sends, from the first one.

Why not ``start_tls`` on an accepted plain connection: uvloop starts reading a socket as soon as the
connection callback returns, so a ClientHello sent right after the TCP handshake is read as plain data
and lost to the TLS layer that ``start_tls`` installs a moment later (the client then waits for a
ServerHello that never comes, and the unit gives up after the handshake timeout). And why not the loop's
own TLS server (``create_server(ssl=...)``): its handshake failures go to the loop's exception handler,
never to the listener, so a refused client certificate could raise no Cert notification. Here the
connection's protocol owns every octet from the first, and handshake errors come back to the caller.

Sans-IO: :meth:`TlsServerSession.receive` takes octets from the network and returns what to send back
and the application data decrypted; :meth:`send` encrypts. No socket and no event loop here (the SIP
listeners' adapter is :mod:`emulator.engines.sipep.connection`; any TLS server of a unit can use it).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

__all__ = ["Received", "TlsServerSession"]

_READ_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Received:
    """What one :meth:`TlsServerSession.receive` produced."""

    outgoing: bytes  # TLS records to send to the peer (handshake messages, alerts)
    data: bytes  # application data decrypted
    handshake_done: bool  # the handshake completed during this call
    closed: bool  # the peer sent close_notify


class TlsServerSession:
    """One server-side TLS session (RFC 5246) on ``ssl.MemoryBIO`` pairs; the context decides versions,
    suites and client certificates (:meth:`emulator.engines.cert.tls.TlsPolicy.server_context`)."""

    __slots__ = ("_in", "_out", "handshaken", "ssl_object")

    def __init__(self, context: ssl.SSLContext) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.ssl_object = context.wrap_bio(self._in, self._out, server_side=True)
        self.handshaken = False

    def receive(self, data: bytes) -> Received:
        """Feed octets from the peer. Raises ``ssl.SSLError`` when the handshake or a record fails; the
        alert OpenSSL wrote for the peer is then in :meth:`pending_output`."""
        self._in.write(data)
        done = False
        if not self.handshaken:
            try:
                self.ssl_object.do_handshake()
            except ssl.SSLWantReadError:
                return Received(self._out.read(), b"", False, False)
            self.handshaken = done = True
        chunks: list[bytes] = []
        closed = False
        while True:
            try:
                chunk = self.ssl_object.read(_READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            chunks.append(chunk)
        return Received(self._out.read(), b"".join(chunks), done, closed)

    def send(self, data: bytes) -> bytes:
        """Encrypt application data: the records to write to the socket."""
        self.ssl_object.write(data)
        return self._out.read()

    def close(self) -> bytes:
        """Our close_notify (RFC 5246 §7.2.1), when the handshake got that far; the records to send."""
        if self.handshaken:
            try:
                self.ssl_object.unwrap()
            except (ssl.SSLError, ValueError):
                pass  # the peer's close_notify is not awaited: the connection is being closed anyway
        return self._out.read()

    def pending_output(self) -> bytes:
        """Records OpenSSL produced without being asked through :meth:`send` (an alert after a failure)."""
        return self._out.read()

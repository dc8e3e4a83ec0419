"""One SIP stream connection (TCP or TLS, RFC 3261 §18.3) and the asyncio protocol that feeds it.

* :class:`Connection` — its :class:`~emulator.protocols.sip.framing.StreamParser`, where it goes, how to
  write to it, CRLF keep-alive (RFC 5626 §3.5.1) and kernel keep-alive, and when it must be closed.
* :class:`StreamProtocol` — the asyncio protocol of every stream: the unit's persistent links (outgoing,
  TLS by the loop's own client TLS) and the connections its listeners accept. An accepted TLS connection
  runs its handshake in :class:`~emulator.protocols.tls_session.TlsServerSession` from the first octet
  (see that module for why), with the unit's TLS policy: its server context (versions, suites, client
  certificate requested when ``SipEp.InteropTlsClientAuthenticationEnable``), the client certificate then
  checked on the unit's clock, and a Cert notification for every refused client.
* :class:`StreamLimits` — what protects a listener from idle and slow peers (the values are the
  emulator's choice, README "Emulator choices"): an accepted connection idle for ``idle_timeout`` is
  closed, so is one on which a message has begun and is not complete ``message_timeout`` after its first
  octet (a slowloris), and a listener holds at most ``max_connections`` accepted connections (more are
  closed at once). The unit's own persistent links are not subject to them: keep-alive watches those.

Timers keep their deadline beside the handle (uvloop's handles have no ``when()``), and a timer that fires
early just arms itself again for what remains.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Protocol, cast

from emulator.engines.cert.tls import PeerRefused, TlsPolicy
from emulator.engines.cert.tls_server import TlsTransport
from emulator.protocols.sip.framing import StreamParser
from emulator.protocols.sip.target import Target
from emulator.protocols.tls_session import TlsServerSession
from firmware_model.cert_validation import Refusal, notification_for

__all__ = ["DEFAULT_LIMITS", "ByteStream", "Connection", "Listener", "StreamLimits", "StreamOwner", "StreamProtocol"]


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Limits on the connections a SIP listener accepts (emulator choices, tunable for tests and labs)."""

    idle_timeout: float = 120.0  # nothing received for this long: closed (Kamailio's TCP connection lifetime)
    message_timeout: float = 20.0  # a message begun and not complete this long after its first octet: closed
    max_connections: int = 256  # accepted connections per listener; one more is closed at once


DEFAULT_LIMITS = StreamLimits()


class ByteStream(Protocol):
    """What a connection writes to: an asyncio transport, or the TLS layer of an accepted connection."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def is_closing(self) -> bool: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


class Connection:
    """One TCP or TLS connection: its parser, where it goes, and its timestamps for the listener's limits."""

    def __init__(self, transport: str, stream: ByteStream, *, outgoing: bool, max_size: int,
                 now: float = 0.0) -> None:
        self.transport = transport
        self.stream = stream
        self.outgoing = outgoing
        self.parser = StreamParser(max_size=max_size)
        peer = stream.get_extra_info("peername") or ("", 0)
        local = stream.get_extra_info("sockname") or ("", 0)
        self.remote: tuple[str, int] = (str(peer[0]), int(peer[1]))
        self.local: tuple[str, int] = (str(local[0]), int(local[1]))
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.target: Target | None = None  # the server it was opened to (outgoing)
        self.pongs = 0  # CRLF pongs received (RFC 5626 §4.4.1 keep-alive answers)
        self.pong = asyncio.Event()
        # Messages are framed only once the connection is accepted (a TLS peer validated); octets that
        # arrive before wait in the parser.
        self.active = False
        self.framed = 0  # messages and keep-alives framed so far
        self.last_activity = now
        self.message_started: float | None = None  # first octet of the message being received

    @property
    def is_open(self) -> bool:
        return not self.closed.is_set()

    def send(self, data: bytes) -> None:
        if not self.is_open or self.stream.is_closing():
            raise ConnectionError(f"connection to {self.remote[0]}:{self.remote[1]} is closed")
        self.stream.write(data)

    def ping(self) -> None:
        """Send a double-CRLF keep-alive (RFC 5626 §3.5.1); the pong sets :attr:`pong`."""
        self.pong.clear()
        self.parser.awaiting_pong = True
        self.send(b"\r\n\r\n")

    def pong_received(self) -> None:
        self.pongs += 1
        self.pong.set()

    def tcp_keepalive(self, idle: int, count: int) -> None:
        """Kernel TCP keep-alive on the socket: probes after ``idle`` s, every ``idle`` s, ``count`` of them."""
        sock = self.stream.get_extra_info("socket")
        if sock is None:
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", idle), ("TCP_KEEPCNT", max(1, count))):
            opt = getattr(socket, name, None)
            if opt is not None:
                sock.setsockopt(socket.IPPROTO_TCP, opt, value)

    def deadline(self, limits: StreamLimits) -> tuple[float, str]:
        """When this (accepted) connection must be closed if nothing changes, and why."""
        if self.message_started is not None:
            return self.message_started + limits.message_timeout, \
                f"message not complete within {limits.message_timeout:g} s"
        return self.last_activity + limits.idle_timeout, f"idle for {limits.idle_timeout:g} s"

    def close(self, reason: str = "closed") -> None:
        if not self.closed.is_set():
            self.close_reason = reason
            self.closed.set()
        with contextlib.suppress(Exception):
            self.stream.close()

    def __repr__(self) -> str:
        return (f"<Connection {self.transport} {self.local[0]}:{self.local[1]} -> {self.remote[0]}:{self.remote[1]}"
                f"{' closed' if not self.is_open else ''}>")


class StreamOwner(Protocol):
    """What a :class:`StreamProtocol` reports to (the unit's SIP transport)."""

    log: Any
    tls: TlsPolicy | None

    def accepted(self, conn: Connection) -> None:
        """A listener's connection is ready (TLS: handshake done, client validated); frame its messages."""

    def frame(self, conn: Connection) -> None:
        """Octets arrived on an active connection: frame and deliver what is complete."""

    def lost(self, stream: StreamProtocol) -> None:
        """The stream is closed, whoever closed it (its ``conn`` is None when it never got that far)."""

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a coroutine for a connection (validating a TLS client); cancelled when the transport closes."""


@dataclass(slots=True)
class Listener:
    """One TCP or TLS listening socket: its limits and how many connections it holds."""

    transport: str
    limits: StreamLimits
    max_size: int
    active: int = 0
    refused: int = 0


class StreamProtocol(asyncio.Protocol):
    """The asyncio side of one stream connection: outgoing (``listener`` None) or accepted by ``listener``."""

    def __init__(self, owner: StreamOwner, transport: str, *, max_size: int, listener: Listener | None = None) -> None:
        self.owner = owner
        self.kind = transport
        self.max_size = max_size
        self.listener = listener
        self.conn: Connection | None = None
        self.session: TlsServerSession | None = None
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.peer = ""
        self._counted = False
        self._handshake_deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # ------------------------------------------------------------------ asyncio callbacks
    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = self.transport = cast(asyncio.Transport, base)  # a stream (uvloop's is no subclass of it)
        addr = transport.get_extra_info("peername") or ("?", 0)
        self.peer = f"{addr[0]}:{addr[1]}"
        lst = self.listener
        if lst is None:  # outgoing: the caller activates it once the server is validated
            self.conn = Connection(self.kind, transport, outgoing=True, max_size=self.max_size, now=self.loop.time())
            return
        if lst.active >= lst.limits.max_connections:
            lst.refused += 1
            self.owner.log.info("sip_connection_refused", peer=self.peer, transport=self.kind,
                                limit=lst.limits.max_connections)
            transport.abort()
            return
        lst.active += 1
        self._counted = True
        if self.kind != "TLS":
            self._accept(self._open(transport))
            return
        tls = self.owner.tls
        try:
            assert tls is not None
            self.session = TlsServerSession(tls.server_context())
        except Exception as exc:  # no host certificate any more...
            self.owner.log.warning("tls_handshake_failed", service="SipEp", peer=self.peer, error=str(exc))
            transport.abort()
            return
        self._handshake_deadline = self.loop.time() + tls.handshake_timeout
        self._arm(self._handshake_deadline)

    def data_received(self, data: bytes) -> None:
        if self.session is not None:
            self._tls_received(data)
        elif self.conn is not None:
            self._received(self.conn, data)

    def eof_received(self) -> bool | None:
        return None  # a half-closed SIP connection is closed

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counted and self.listener is not None:
            self.listener.active -= 1
            self._counted = False
        conn = self.conn
        if conn is not None:
            conn.close(f"connection error: {exc}" if exc is not None else "closed by the peer")
        self.owner.lost(self)

    # ------------------------------------------------------------------ data
    def _open(self, stream: ByteStream) -> Connection:
        conn = self.conn = Connection(self.kind, stream, outgoing=False, max_size=self.max_size,
                                      now=self.loop.time())
        self._arm(conn.deadline(self._limits())[0])
        return conn

    def _limits(self) -> StreamLimits:
        assert self.listener is not None
        return self.listener.limits

    def _received(self, conn: Connection, data: bytes) -> None:
        now = self.loop.time()
        conn.last_activity = now
        if conn.message_started is None:
            conn.message_started = now
        conn.parser.feed(data)
        if conn.active:
            self._frame(conn, now)
        if self.listener is not None and conn.message_started is not None and conn.is_open:
            self._arm(conn.message_started + self._limits().message_timeout)

    def _frame(self, conn: Connection, now: float) -> None:
        before = conn.framed
        self.owner.frame(conn)
        if not conn.parser.in_message:
            conn.message_started = None
        elif conn.framed != before:
            conn.message_started = now  # one message ended in these octets and the next one began

    def _accept(self, conn: Connection) -> None:
        self.owner.accepted(conn)
        self.activate()

    def activate(self) -> None:
        """Start framing; what arrived before (while a TLS peer was validated) is framed now."""
        conn = self.conn
        if conn is None or conn.active or not conn.is_open:
            return
        conn.active = True
        self._frame(conn, self.loop.time())

    # ------------------------------------------------------------------ accepted TLS
    def _tls_received(self, data: bytes) -> None:
        session, transport = self.session, self.transport
        assert session is not None and transport is not None
        try:
            got = session.receive(data)
        except ssl.SSLError as exc:
            with contextlib.suppress(Exception):
                transport.write(session.pending_output())  # the alert tells the client why
            if self.conn is None:
                self._handshake_failed(exc)
            else:
                self.conn.close(f"TLS error: {exc.reason or exc}")
            transport.close()
            return
        if got.outgoing:
            transport.write(got.outgoing)
        if got.handshake_done:
            self._handshake_deadline = None
            conn = self._open(TlsTransport(transport, session))
            tls = self.owner.tls
            if tls is not None and tls.settings().client_auth:
                self.owner.spawn(self._validate_client(tls, conn))
            else:
                self._accept(conn)
        if got.data and self.conn is not None:
            self._received(self.conn, got.data)
        if got.closed and self.conn is not None:
            self.conn.close("closed by the peer")

    async def _validate_client(self, tls: TlsPolicy, conn: Connection) -> None:
        """Mutual TLS: the client certificate at TrustedCertificate level on the unit's clock (OCSP per the
        trust level); a refused client is closed (the policy raised the Cert notification)."""
        try:
            await tls.verify_client(conn.stream.get_extra_info("ssl_object"), self.peer)
        except PeerRefused as exc:
            conn.close(f"client certificate refused ({exc.reason})")
            return
        if conn.is_open:
            self._accept(conn)

    def _handshake_failed(self, exc: ssl.SSLError | TimeoutError) -> None:
        tls = self.owner.tls
        refusal = tls.handshake_refusal(exc) if tls is not None and isinstance(exc, ssl.SSLError) else None
        if tls is not None and refusal is not None:
            _notify_refusal(tls, self.peer, refusal)
        else:
            self.owner.log.info("tls_handshake_failed", service="SipEp", peer=self.peer,
                                error=str(exc) or exc.__class__.__name__)

    # ------------------------------------------------------------------ limits
    def _arm(self, at: float) -> None:
        """Check the limits at ``at`` (an earlier check already armed re-arms itself when it fires)."""
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._check)

    def _check(self) -> None:
        self._timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        now = self.loop.time()
        if self._handshake_deadline is not None:
            if now < self._handshake_deadline:  # early wake-up
                self._arm(self._handshake_deadline)
                return
            timeout = self.owner.tls.handshake_timeout if self.owner.tls is not None else 0.0
            self._handshake_failed(TimeoutError(f"no TLS handshake within {timeout:g} s"))
            transport.abort()
            return
        conn = self.conn
        if conn is None or not conn.is_open:
            return
        due, why = conn.deadline(self._limits())
        if now < due:
            self._arm(due)
            return
        self.owner.log.info("sip_connection_timeout", peer=self.peer, transport=self.kind, reason=why)
        conn.close(why)


def _notify_refusal(tls: TlsPolicy, peer: str, refusal: Refusal) -> None:
    """The Cert notification for a client whose certificate OpenSSL refused during the handshake."""
    service, msg_id, fields = notification_for(refusal, peer)
    tls.unit.log.warning("tls_peer_refused", service=tls.spec.key, peer=peer, reason=str(refusal.reason),
                         detail=refusal.detail)
    tls.unit.notify(service, msg_id, **fields)


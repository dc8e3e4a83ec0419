"""SIP transports of one unit (RFC 3261 §18, RFC 3581): the only asyncio code of the SIP stack.

* **Listeners** per gateway (``SipEp.Gateway.Port`` / ``SecurePort``): UDP and TCP on the port, TLS
  on the secure port, all bound to the unit's address. Each datagram is parsed and checked with
  :func:`emulator.protocols.sip.validate.inspect_datagram`; each stream connection
  (:mod:`emulator.engines.sipep.connection`) has its own :class:`~emulator.protocols.sip.framing.StreamParser`.
  Malformed requests are answered (400, 413/513, 416, 420, 505...) or dropped per
  :mod:`emulator.protocols.sip.validate`; a stream whose framing is lost is closed. Nothing a peer sends can
  stop a listener, and idle or slow peers cannot hold its connections (:class:`StreamLimits`). A TLS
  listener speaks TLS from the first octet of each connection.
* **Requests received** get ``received`` / ``rport`` stamped on their top Via (§18.2.1, RFC 3581 §4),
  then go to the transaction user with their :class:`Source`.
* **Responses sent** follow §18.2.2: over the connection the request came on while it is open,
  else to ``received`` (or the sent-by host) at ``rport`` (or the sent-by port, or 5060/5061).
* **Persistent client connections** (TCP/TLS) to the SIP servers open from the first free local
  port of ``SipEp.TransportPersistentBasePort`` .. ``+ PortInterval`` on the unit's address, TLS
  through the unit's TLS policy (:mod:`emulator.engines.cert.tls`: versions, cipher sets, certificate
  validation on the unit's clock). Any open connection to a peer — outgoing or accepted — is
  reused for later messages to that peer (RFC 5923 style connection reuse).
* CRLF keep-alives (RFC 5626 §3.5.1): a double-CRLF ping is answered with a CRLF pong.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog

from emulator.engines.cert.tls import TlsHandshakeError, TlsPolicy
from emulator.engines.sipep.connection import DEFAULT_LIMITS, Connection, Listener, StreamLimits, StreamProtocol
from emulator.engines.sipep.trace import SipTrace, Tap
from emulator.protocols.sip.errors import SipParseError
from emulator.protocols.sip.message import KeepAlive, Request, Response
from emulator.protocols.sip.target import Target, is_ip, response_target, stamp_via
from emulator.protocols.sip.validate import (
    DEFAULT_POLICY,
    Policy,
    inspect_datagram,
    inspect_message,
    rejection_for_error,
)

__all__ = ["Connection", "PortCycle", "SipTransport", "Source", "StreamLimits"]

_log = structlog.get_logger("dgw.sip.transport")


@dataclass(slots=True)
class Source:
    """Where a message came from: transport, remote address, the connection (streams) and local port."""

    transport: str
    host: str
    port: int
    local_port: int
    connection: Connection | None = None

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


MessageHandler = Callable[[Request | Response, Source], None]


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None
        self.local_port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.local_port = int(transport.get_extra_info("sockname")[1])  # bound once: not looked up per datagram

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        assert self.transport is not None
        self.owner._datagram(data, (str(addr[0]), int(addr[1])), self.local_port, self.transport)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and friends
        self.owner.log.debug("sip_udp_error", error=str(exc))


@dataclass(slots=True)
class _Stats:
    received: int = 0
    sent: int = 0
    rejected: int = 0
    dropped: int = 0
    errors: int = 0


class SipTransport:
    """UDP, TCP and TLS for one unit's SIP stack (see the module docstring)."""

    def __init__(self, host: str, on_message: MessageHandler, *, tls: TlsPolicy | None = None,
                 policy: Policy = DEFAULT_POLICY, log: Any = None,
                 on_connection_closed: Callable[[Connection], None] | None = None,
                 connect_timeout: float = 10.0, limits: StreamLimits = DEFAULT_LIMITS) -> None:
        self.host = host
        self.on_message = on_message
        self.tls = tls
        self.policy = policy
        self.log = log or _log
        self.on_connection_closed = on_connection_closed
        self.connect_timeout = connect_timeout
        self.limits = limits
        self.stats = _Stats()
        self.udp: dict[int, asyncio.DatagramTransport] = {}  # local port -> socket
        self.servers: list[tuple[Listener, asyncio.Server]] = []
        self.connections: list[Connection] = []  # open and active, accepted or outgoing
        self._streams: set[StreamProtocol] = set()  # every stream, also those not active yet
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connecting: dict[Target, asyncio.Future[Connection]] = {}
        #: local ports for a new outgoing TCP/TLS connection (SipEp sets the persistent port cycle)
        self.local_ports: Callable[[], Iterable[int]] = lambda: (0,)
        #: observers of every message sent and received (signaling log, HEP mirror: emulator.engines.sipep.trace)
        self.taps: list[Tap] = []

    # ------------------------------------------------------------------ listeners
    async def listen(self, transport: str, port: int) -> int:
        """Start a listener (port 0: the kernel picks); returns the bound port."""
        loop = asyncio.get_running_loop()
        if transport == "UDP":
            dt, _ = await loop.create_datagram_endpoint(lambda: _Datagram(self), local_addr=(self.host, port))
            bound = int(dt.get_extra_info("sockname")[1])
            self.udp[bound] = dt
            return bound
        if transport not in ("TCP", "TLS"):
            raise ValueError(f"unknown transport {transport!r}")
        if transport == "TLS":
            if self.tls is None:
                raise ValueError("TLS listener without a TLS policy")
            await self.tls.ready()
            self.tls.server_context()  # fails now, not per connection, when there is no host certificate
        listener = Listener(transport, self.limits, self.policy.max_size)
        server = await loop.create_server(lambda: self._stream(transport, listener), self.host, port)
        self.servers.append((listener, server))
        return int(server.sockets[0].getsockname()[1])

    def _stream(self, transport: str, listener: Listener | None = None) -> StreamProtocol:
        proto = StreamProtocol(self, transport, max_size=self.policy.max_size, listener=listener)
        self._streams.add(proto)
        return proto

    async def close(self) -> None:
        for dt in self.udp.values():
            dt.close()
        self.udp.clear()
        for _, server in self.servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        for proto in list(self._streams):
            if proto.conn is not None:
                proto.conn.close("transport stopped")
            elif proto.transport is not None:
                proto.transport.abort()
        for _, server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self.servers.clear()
        for fut in self._connecting.values():
            fut.cancel()
        self._connecting.clear()

    # ------------------------------------------------------------------ what the stream protocols report
    def accepted(self, conn: Connection) -> None:
        self.connections.append(conn)

    def lost(self, stream: StreamProtocol) -> None:
        self._streams.discard(stream)
        conn = stream.conn
        if conn is None:
            return
        if conn in self.connections:
            self.connections.remove(conn)
        if self.on_connection_closed is not None:
            with contextlib.suppress(Exception):
                self.on_connection_closed(conn)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ receiving
    def _datagram(self, data: bytes, addr: tuple[str, int], local_port: int, dt: asyncio.DatagramTransport) -> None:
        self.stats.received += 1
        try:
            outcome = inspect_datagram(data, self.policy)
        except Exception as exc:  # a bug must not stop the listener
            self.stats.errors += 1
            self.log.warning("sip_inspect_failed", peer=f"{addr[0]}:{addr[1]}", error=repr(exc))
            return
        source = Source("UDP", addr[0], addr[1], local_port)
        if outcome.action == "keepalive":
            return
        if outcome.action == "drop":
            self.stats.dropped += 1
            self.log.info("sip_dropped", peer=f"{addr[0]}:{addr[1]}", detail=outcome.detail)
            return
        if outcome.action == "reject":
            self.stats.rejected += 1
            assert outcome.response is not None
            self.log.info("sip_rejected", peer=f"{addr[0]}:{addr[1]}", status=outcome.status, detail=outcome.detail)
            if self.tapping():
                self._trace("received", "UDP", local_port, addr, data)
            self._reply_udp(outcome.response, source, dt)
            return
        self._accept(outcome.message, source, data)  # type: ignore[arg-type]

    def _reply_udp(self, response: Response, source: Source, dt: asyncio.DatagramTransport) -> None:
        """A transport-level rejection: to the packet's source (RFC 3581 behaviour, whatever the Via says)."""
        try:
            data = response.to_bytes()
            dt.sendto(data, (source.host, source.port))
            self.stats.sent += 1
            if self.tapping():
                self._trace("sent", "UDP", source.local_port, (source.host, source.port), data)
        except Exception as exc:
            self.log.info("sip_send_failed", peer=f"{source.host}:{source.port}", error=str(exc))

    def tapping(self) -> bool:
        """True when an observer wants the messages: one without an ``enabled`` flag, or one whose flag is set (the
        signaling log and the HEP mirror are always there, off unless configured: no trace is built for them then)."""
        return any(getattr(tap, "enabled", True) for tap in self.taps)

    def _trace(self, direction: str, transport: str, local_port: int, remote: tuple[str, int], data: bytes) -> None:
        trace = SipTrace(direction, transport, (self.host, local_port), remote, data)
        for tap in list(self.taps):
            try:
                tap(trace)
            except Exception as exc:  # an observer never breaks the SIP stack
                self.log.warning("sip_tap_failed", error=repr(exc))

    def _accept(self, message: Request | Response, source: Source, raw: bytes | None = None) -> None:
        if self.tapping():  # a datagram as it came; a framed stream message as parsed (the parser keeps no copy)
            self._trace("received", source.transport, source.local_port, (source.host, source.port),
                        raw if raw is not None else message.to_bytes())
        try:
            if isinstance(message, Request):
                stamp_via(message, source.host, source.port)
            self.on_message(message, source)
        except Exception as exc:
            self.stats.errors += 1
            self.log.exception("sip_handler_failed", error=repr(exc))

    def frame(self, conn: Connection) -> None:
        """Frame what ``conn`` received: messages go to the transaction user, pings get a pong, bad
        messages are answered or dropped, and a stream whose framing is lost is closed."""
        try:
            self._frame(conn)
        except Exception as exc:  # never let a peer kill the unit
            self.stats.errors += 1
            self.log.exception("sip_connection_failed", error=repr(exc))
            conn.close("internal error")

    def _frame(self, conn: Connection) -> None:
        source = Source(conn.transport, conn.remote[0], conn.remote[1], conn.local[1], conn)
        while conn.is_open:
            try:
                event = conn.parser.next_event()
            except SipParseError as exc:
                conn.framed += 1
                rejection = rejection_for_error(exc)
                if rejection.status is not None and isinstance(exc.message, Request):
                    self.stats.rejected += 1
                    with contextlib.suppress(Exception):
                        conn.send(rejection.response(exc.message).to_bytes())
                else:
                    self.stats.dropped += 1
                self.log.info("sip_stream_error", peer=f"{conn.remote[0]}:{conn.remote[1]}", detail=exc.detail,
                              status=rejection.status)
                if exc.close_connection or conn.parser.closed:
                    conn.close(f"framing lost: {exc.detail}")
                    return
                continue
            if event is None:
                return
            conn.framed += 1
            if isinstance(event, KeepAlive):
                if event.ping:
                    with contextlib.suppress(Exception):
                        conn.send(b"\r\n")
                else:
                    conn.pong_received()
                continue
            self.stats.received += 1
            outcome = inspect_message(event, self.policy)
            if outcome.action == "drop":
                self.stats.dropped += 1
                continue
            if outcome.action == "reject":
                self.stats.rejected += 1
                assert outcome.response is not None
                reply = outcome.response.to_bytes()
                with contextlib.suppress(Exception):
                    conn.send(reply)
                if self.tapping():
                    self._trace("received", conn.transport, conn.local[1], conn.remote, event.to_bytes())
                    self._conn_trace(conn, reply)
                continue
            self._accept(event, source)

    # ------------------------------------------------------------------ sending
    def find_connection(self, target: Target) -> Connection | None:
        """An open connection to ``target`` (by the server it was opened to, or its remote address)."""
        for conn in self.connections:
            if not conn.is_open or conn.transport != target.transport:
                continue
            if conn.target == target or conn.remote == (target.host, target.port):
                return conn
        return None

    async def connect(self, target: Target, local_ports: Iterable[int] = (0,)) -> Connection:
        """A persistent TCP/TLS connection to ``target`` from the first free port of ``local_ports``.

        Concurrent callers share one attempt. Raises OSError (nothing free, refused), TimeoutError,
        or the TLS policy's errors (PeerRefused after its notification, TlsHandshakeError)."""
        existing = self.find_connection(target)
        if existing is not None:
            return existing
        pending = self._connecting.get(target)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        self._connecting[target] = fut
        try:
            conn = await self._open(target, list(local_ports))
            fut.set_result(conn)
            return conn
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            self._connecting.pop(target, None)

    async def _socket(self, target: Target, port: int) -> socket.socket:
        """A TCP socket bound to the unit's address and ``port`` (SO_REUSEADDR, as a gateway that
        reconnects from the same source port must: its last connection may sit in TIME_WAIT) and
        connected to ``target``."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        infos = await loop.getaddrinfo(target.host.strip("[]"), target.port, family=family, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(errno.EHOSTUNREACH, f"{target.host} has no address")
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setblocking(False)
            sock.bind((self.host, port))
            await asyncio.wait_for(loop.sock_connect(sock, infos[0][4]), self.connect_timeout)
        except BaseException:
            # Closed on the next turn of the loop: a cancelled connect leaves the loop's callback that unregisters
            # the descriptor still to run, and a descriptor closed now could be reused by another socket first
            # (whose registration that callback would then remove: EEXIST/EBADF on busy starts).
            loop.call_soon(sock.close)
            raise
        return sock

    async def _open(self, target: Target, local_ports: list[int]) -> Connection:
        last: OSError | None = None
        for port in local_ports or [0]:
            try:
                sock = await self._socket(target, port)
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL) and port:
                    last = exc
                    continue
                raise
            proto = await (self._open_tls(sock, target) if target.transport == "TLS" else self._open_tcp(sock))
            conn = proto.conn
            assert conn is not None
            conn.target = target
            self.connections.append(conn)
            proto.activate()
            return conn
        raise last or OSError(errno.EADDRINUSE, "no free local port for the persistent connection")

    async def _open_tcp(self, sock: socket.socket) -> StreamProtocol:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: self._stream("TCP"), sock=sock)
        return proto

    async def _open_tls(self, sock: socket.socket, target: Target) -> StreamProtocol:
        """TLS as the unit's client: the handshake by the loop, then the unit's own validation (level, trust
        store, names, dates on the unit clock) before the first message."""
        if self.tls is None:
            sock.close()
            raise ValueError("TLS connection without a TLS policy")
        await self.tls.ready()
        name = target.name or target.host
        sni = name if not is_ip(name) else None
        loop = asyncio.get_running_loop()
        try:
            transport, proto = await asyncio.wait_for(loop.create_connection(
                lambda: self._stream("TLS"), sock=sock, ssl=self.tls.client_context(), server_hostname=sni or "",
                ssl_handshake_timeout=self.connect_timeout), self.connect_timeout + 1)
        except ssl.SSLError as exc:
            sock.close()
            raise TlsHandshakeError(f"{target.host}:{target.port}", exc.reason or str(exc)) from exc
        except BaseException:
            sock.close()
            raise
        try:
            await self.tls.verify_server(transport.get_extra_info("ssl_object"), name, target.port,
                                         srv_names=[target.srv_name] if target.srv_name else ())
        except BaseException:
            transport.close()
            raise
        return proto

    async def send(self, message: Request | Response, target: Target | Source) -> None:
        """Send ``message``: a response to the :class:`Source` of its request (§18.2.2), a request
        (or a response) to a :class:`Target`. Streams reuse an open connection or open one."""
        data = message.to_bytes()
        pending = self._send_now(message, data, target)
        if pending is None:
            return
        conn = self.find_connection(pending) or await self.connect(pending, self.local_ports())
        conn.send(data)
        self.stats.sent += 1
        if self.tapping():
            self._conn_trace(conn, data)

    def try_send(self, message: Request | Response, target: Target | Source) -> bool:
        """Send ``message`` now when that needs no new connection (UDP, an open stream): True when sent; False
        when a connection must be opened first (then :meth:`send` it). Raises what the socket raises."""
        data = message.to_bytes()
        if self._send_now(message, data, target) is None:
            return True
        return False

    def _send_now(self, message: Request | Response, data: bytes, target: Target | Source) -> Target | None:
        """Send ``data`` (``message`` serialised) where no connection has to be opened; else the stream
        :class:`Target` a connection is needed to (nothing sent)."""
        if isinstance(target, Source):
            if target.connection is not None and target.connection.is_open:
                target.connection.send(data)
                self.stats.sent += 1
                if self.tapping():
                    self._conn_trace(target.connection, data)
                return None
            if target.transport == "UDP" and target.local_port in self.udp:
                dest = response_target(message) if isinstance(message, Response) else None
                host, port = (dest.host, dest.port) if dest else (target.host, target.port)
                self.udp[target.local_port].sendto(data, (host, port))
                self.stats.sent += 1
                if self.tapping():
                    self._trace("sent", "UDP", target.local_port, (host, port), data)
                return None
            target = response_target(message) if isinstance(message, Response) else \
                Target(target.transport, target.host, target.port)
        if target.transport == "UDP":
            if not self.udp:
                raise OSError(errno.ENETUNREACH, "no UDP socket on this unit")
            port, sock = next(iter(self.udp.items()))
            sock.sendto(data, (target.host, target.port))
            self.stats.sent += 1
            if self.tapping():
                self._trace("sent", "UDP", port, (target.host, target.port), data)
            return None
        conn = self.find_connection(target)
        if conn is None:
            return target
        conn.send(data)
        self.stats.sent += 1
        if self.tapping():
            self._conn_trace(conn, data)
        return None

    def _conn_trace(self, conn: Connection, data: bytes) -> None:
        self._trace("sent", conn.transport, conn.local[1], (conn.remote[0], conn.remote[1]), data)

    def udp_port(self) -> int | None:
        return next(iter(self.udp), None)


@dataclass(slots=True)
class PortCycle:
    """``SipEp.TransportPersistentBasePort`` / ``PortInterval``: the local ports to try, in order.

    Interval 0: the base port, then the next ones (first free port from the base); interval > 0:
    cycle through ``base .. base + interval`` starting after the last port used."""

    base: int
    interval: int = 0
    last: int | None = None
    _tries: int = field(default=100, repr=False)

    def ports(self) -> list[int]:
        if self.interval <= 0:
            return [p for p in range(self.base, self.base + self._tries) if p <= 65535]
        span = self.interval + 1
        start = 0 if self.last is None else (self.last - self.base + 1) % span
        return [self.base + (start + i) % span for i in range(span) if self.base + (start + i) % span <= 65535]

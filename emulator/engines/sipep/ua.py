"""The SipEp user agent pump: the RFC 3261 transaction layer (§17) run over the unit's SIP transport.

:class:`UserAgent` feeds the sans-IO :class:`~emulator.protocols.sip.transaction.TransactionLayer` with what
the transport receives and with the loop's time, carries out its effects (send, deliver, time out) and keeps
one loop timer at its next deadline. What it offers the objects above it (registrations, persistent links,
calls) is its public interface only:

* :meth:`request` — a request in a client transaction; the final response, or None (timeout, transport
  failure). A request to a server over a persistent link waits for the link first (``gate``).
* :meth:`respond` (server transactions), :meth:`send_stateless` (an ACK for a 2xx, a 2xx retransmission).
* :attr:`request_handlers` — the handler per method of requests received outside a transaction the UA
  started (INVITE, BYE...); OPTIONS is answered here (§11.2) and an unknown method gets 501 (§8.2.1).
* :meth:`via`, :meth:`contact_uri`, :meth:`ua_headers` — the headers every request of a gateway carries
  (``SipEp.TransportConfig`` ``ContactEnable``, ``InteropSendUaHeaderEnable`` / ``InteropUaHeaderFormat``).
* :meth:`spawn` — a task that ends with the service; :meth:`invite_failover` — where an initial INVITE
  goes next when its server failed (the engine plugs server selection in).

The transaction timer keeps its deadline beside its handle (uvloop gives a plain ``Handle`` without
``when()`` for a deadline under half a millisecond away).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from emulator.engines.sipep.call_ua import RequestHandler
from emulator.engines.sipep.settings import GatewayRuntime, Settings
from emulator.engines.sipep.transport import SipTransport, Source
from emulator.protocols.sip.dialog import new_tag
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.target import DEFAULT_PORTS, Target
from emulator.protocols.sip.transaction import (
    ClientInviteTransaction,
    Deliver,
    Effect,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TimedOut,
    TimerConfig,
    Transaction,
    TransactionLayer,
    Transmit,
    TransportFailed,
)
from emulator.protocols.sip.uri import Uri
from emulator.protocols.sip.validate import DGW_METHODS

__all__ = ["CoreUser", "InviteFailover", "LinkGate", "ServerTransaction", "UserAgent"]

ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction
#: where an initial INVITE goes after ``target`` failed (no answer or a failover status), or None
InviteFailover = Callable[[str, Target, Response | None, set[tuple[str, str, int]]], Target | None]


class LinkGate(Protocol):
    """The persistent links: a request to a server waits until its link is up."""

    async def ready(self, gateway: str, target: Target) -> bool:
        """False when the gateway has a link to ``target`` and it cannot be brought up."""
        ...


class CoreUser(Protocol):
    """What the pump delivers outside the transactions it runs (the call layer)."""

    def ack_received(self, ack: Request) -> None:
        """An ACK for a 2xx: it belongs to the dialog (§13.2.2.4, RFC 6026 §7.1)."""

    def stray_response(self, response: Response) -> None:
        """A response no transaction waits for (a 2xx retransmission to an INVITE already answered)."""

    def timed_out(self, txn: Transaction, timer: str) -> None:
        """A transaction timed out (Timer H: our final response got no ACK)."""


class UserAgent:
    """The transaction layer of one unit's SipEp service, over its transport (see the module docstring)."""

    def __init__(self, settings: Settings, *, timers: TimerConfig, log: Any) -> None:
        self.settings = settings
        self.host = settings.host
        self.timers = timers
        self.log = log
        self.layer = TransactionLayer(timers)
        self.transport: SipTransport | None = None
        self.gateways: dict[str, GatewayRuntime] = {}
        self.transport_kind = "UDP"
        self.request_handlers: dict[str, RequestHandler] = {}
        self.core: CoreUser | None = None
        self.gate: LinkGate | None = None
        self.failover: InviteFailover | None = None
        self._running = False
        self._pending: dict[int, asyncio.Future[Response | None]] = {}  # id(client txn) -> final response
        self._provisional: dict[int, Callable[[Response], None]] = {}
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._clock: Callable[[], float] | None = None  # the running loop's time() while started

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self._running

    def start(self, transport: SipTransport, gateways: dict[str, GatewayRuntime], kind: str) -> None:
        self.layer = TransactionLayer(self.timers)
        self.transport = transport
        self.gateways = gateways
        self.transport_kind = kind
        self._running = True
        try:
            self._clock = asyncio.get_running_loop().time
        except RuntimeError:  # started outside a loop (a test's set-up): now() asks for the loop each time
            self._clock = None

    async def stop(self) -> None:
        """Cancel the service's tasks, stop the timer; requests still waiting get None."""
        self._running = False  # first: a loop that survives its cancellation (links, registrations) ends on it
        self._clock = None
        # cancel again until every task has ended: Python 3.11's wait_for swallows a cancellation that arrives as
        # its inner future completes, and the task then goes on to its next wait (a DNS question, a transaction's
        # Timer F) instead of ending, which held a unit's stop past its 10 s on a loaded machine
        pending = set(self._tasks)
        while pending:
            for t in pending:
                t.cancel()
            done, pending = await asyncio.wait(pending, timeout=0.2)
            for t in done:  # retrieved, as gather(return_exceptions=True) did: a failed task is not logged again
                if not t.cancelled():
                    t.exception()
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fut in self._pending.values():
            if not fut.done():
                fut.set_result(None)
        self._pending.clear()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def now(self) -> float:
        clock = self._clock
        return clock() if clock is not None else asyncio.get_running_loop().time()

    # ------------------------------------------------------------------ headers
    def via(self, gateway: str, transport: str | None = None) -> str:
        kind = transport or self.transport_kind
        gw = self.gateways[gateway]
        port = gw.ports.get(kind) or gw.ports.get("UDP") or next(iter(gw.ports.values()), 5060)
        return f"SIP/2.0/{kind} {self.host}:{port};rport"

    def contact_uri(self, gateway: str, user: str | None) -> Uri:
        kind = self.transport_kind
        gw = self.gateways[gateway]
        port = gw.ports.get(kind) or next(iter(gw.ports.values()), DEFAULT_PORTS[kind])
        params: dict[str, str | None] = {}
        if self.settings.transport_in_contact(gateway):
            params["transport"] = kind.lower()
        return Uri("sip", user=user, host=self.host, port=port, params=params)

    def ua_headers(self) -> list[tuple[str, str]]:
        ua = self.settings.user_agent()
        return [("User-Agent", ua)] if ua else []

    # ------------------------------------------------------------------ sending
    async def request(self, request: Request, target: Target, gateway: str | None = None, *,
                      on_provisional: Callable[[Response], None] | None = None,
                      on_transaction: Callable[[ClientInviteTransaction], None] | None = None) -> Response | None:
        """Send ``request`` in a client transaction; the final response, or None (timeout, transport failure)."""
        if gateway is not None and target.transport in ("TLS", "TCP") and self.gate is not None:
            if not await self.gate.ready(gateway, target):
                return None
        fut: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()
        txn, effects = self.layer.send_request(request, self.now(), peer=target, reliable=target.transport != "UDP")
        self._pending[id(txn)] = fut
        if on_provisional is not None:
            self._provisional[id(txn)] = on_provisional
        if on_transaction is not None and isinstance(txn, ClientInviteTransaction):
            on_transaction(txn)
        self._run(effects)
        try:
            return await fut
        finally:
            self._pending.pop(id(txn), None)
            self._provisional.pop(id(txn), None)

    def invite_failover(self, gateway: str, target: Target, response: Response | None,
                        tried: set[tuple[str, str, int]]) -> Target | None:
        """Where an initial INVITE that got ``response`` (None: no answer) from ``target`` goes next, or None
        (not a failover condition, no other target, the service stopped)."""
        if not self._running or self.failover is None:
            return None
        return self.failover(gateway, target, response, tried)

    def respond(self, txn: ServerTransaction, response: Response) -> None:
        if txn.terminated:
            return
        self._run(self.layer.respond(txn, response, self.now()))

    def send_stateless(self, message: Request | Response, target: Target | Source) -> None:
        """An ACK for a 2xx, a 2xx retransmission: straight to the transport."""
        self._transmit(message, target, None)

    def find_cancel_target(self, cancel: Request) -> ServerInviteTransaction | None:
        """The server INVITE transaction a CANCEL is for (§9.2)."""
        return self.layer.find_cancel_target(cancel)

    # ------------------------------------------------------------------ the pump
    def _run(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Transmit):
                self._transmit(effect.message, effect.peer, effect.transaction)
            elif isinstance(effect, Deliver):
                self._deliver(effect)
            elif isinstance(effect, TimedOut | TransportFailed):
                txn = effect.transaction
                if txn is not None:
                    fut = self._pending.get(id(txn))
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                    if isinstance(effect, TimedOut) and self.core is not None:
                        self.core.timed_out(txn, effect.timer)
        self._schedule()

    def _transmit(self, message: Request | Response, peer: Any, txn: Transaction | None) -> None:
        """Send at once where no connection has to be opened (UDP, an open stream: no task per message), else in
        a task that opens it. A failure reaches the transaction on a later turn of the loop, as from the task."""
        assert self.transport is not None
        try:
            if self.transport.try_send(message, peer):
                return
        except Exception as exc:
            self.log.info("sip_send_failed", peer=str(peer), error=str(exc) or exc.__class__.__name__)
            if txn is not None and self._running:
                asyncio.get_running_loop().call_soon(self._transport_error, txn)
            return
        self.spawn(self._send(message, peer, txn))

    def _transport_error(self, txn: Transaction) -> None:
        if self._running:
            self._run(self.layer.transport_error(txn, self.now()))

    async def _send(self, message: Request | Response, peer: Any, txn: Transaction | None) -> None:
        assert self.transport is not None
        try:
            await self.transport.send(message, peer)
        except Exception as exc:
            self.log.info("sip_send_failed", peer=str(peer), error=str(exc) or exc.__class__.__name__)
            if txn is not None and self._running:
                self._run(self.layer.transport_error(txn, self.now()))

    def _schedule(self) -> None:
        """One loop timer at the transaction layer's next deadline, its deadline kept beside its handle."""
        if not self._running:
            return
        deadline = self.layer.next_deadline()
        if self._timer is not None:
            if deadline is not None and abs(self._timer_at - deadline) < 1e-6:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer_at = deadline
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._run(self.layer.handle_timer(self.now()))

    def receive(self, message: Request | Response, source: Source) -> None:
        """What the transport received (its ``on_message``)."""
        self._run(self.layer.receive(message, self.now(), peer=source, reliable=source.reliable))

    def _deliver(self, effect: Deliver) -> None:
        message, txn = effect.message, effect.transaction
        if isinstance(message, Response):
            self._deliver_response(message, txn)
            return
        if message.method == "ACK":  # an ACK for a 2xx belongs to the dialog (§13.2.2.4, RFC 6026 §7.1)
            if self.core is not None:
                self.core.ack_received(message)
            return
        source = txn.peer if txn is not None else None
        if not isinstance(txn, ServerInviteTransaction | ServerNonInviteTransaction) or source is None:
            return
        handler = self.request_handlers.get(message.method)
        if handler is not None:
            handler(message, txn, source)
            return
        if message.method == "OPTIONS":
            allow = ", ".join(sorted(DGW_METHODS))
            self.respond(txn, make_response(message, 200, to_tag=new_tag(), headers=[
                ("Allow", allow), ("Accept", "application/sdp"), *self.ua_headers()]))
            return
        if message.method not in DGW_METHODS:
            status = 501
        elif message.method == "INVITE" and message.to.tag is None:
            status = 480  # no call handling attached to this unit
        else:
            status = 481  # no such dialog / transaction
        self.respond(txn, make_response(message, status, to_tag=new_tag()))

    def _deliver_response(self, response: Response, txn: Transaction | None) -> None:
        if txn is None:
            if self.core is not None:
                self.core.stray_response(response)
            return
        if response.status < 200:
            cb = self._provisional.get(id(txn))
            if cb is not None:
                cb(response)
            return
        fut = self._pending.get(id(txn))
        if fut is not None and not fut.done():
            fut.set_result(response)
        elif self.core is not None:
            self.core.stray_response(response)  # 2xx retransmission (RFC 6026 Accepted): ACK again

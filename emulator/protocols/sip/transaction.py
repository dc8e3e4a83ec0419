"""SIP transactions (RFC 3261 §17, with the "Accepted" state of RFC 6026), sans-IO.

Each transaction is a plain object driven with the current time. It never sleeps and never sends:
its methods return *effects*, in order:

* :class:`Transmit` -- hand ``message`` to the transport, towards ``peer`` (the destination a client
  transaction was created with, or the source a server transaction's request came from: the
  transport applies §18.2.2 to responses);
* :class:`Deliver` -- pass ``message`` up to the transaction user (TU);
* :class:`TimedOut` -- Timer B, F or H fired (the TU maps B/F to a 408, §8.1.3.1);
* :class:`TransportFailed` -- the transport reported an error (§17.1.1.2, §17.1.2.2, §17.2.4);
* :class:`Terminated` -- the transaction is over; forget it.

``next_deadline()`` says when ``handle_timer(now)`` must be called next. Timers (§17, table 4 of
Appendix A), with T1, T2, T4 from :class:`TimerConfig`:

===== ================================ ==========================================================
A     INVITE request retransmit        T1, doubling, unreliable transport only (§17.1.1.2)
B     INVITE transaction timeout       64*T1 in Calling
D     wait for response retransmits    32 s unreliable, 0 reliable (§17.1.1.2)
E     non-INVITE request retransmit    T1 doubling up to T2; T2 in Proceeding (§17.1.2.2)
F     non-INVITE transaction timeout   64*T1
G     INVITE final response retransmit T1 doubling up to T2, unreliable only (§17.2.1)
H     wait for ACK                     64*T1
I     wait for ACK retransmits         T4 unreliable, 0 reliable
J     wait for request retransmits     64*T1 unreliable, 0 reliable (§17.2.2)
K     wait for response retransmits    T4 unreliable, 0 reliable (§17.1.2.2)
L, M  Accepted state (RFC 6026 §8.7) 64*T1: absorb INVITE retransmits / pass 2xx retransmits up
===== ================================ ==========================================================

RFC 6026 replaces "2xx terminates the transaction": a client INVITE transaction stays *Accepted*
(Timer M) passing further 2xx up, so the TU re-sends its ACK; a server INVITE transaction stays
*Accepted* (Timer L) absorbing retransmitted INVITEs and passing ACKs for the 2xx up. The 2xx
itself is retransmitted by the TU (§13.3.1.4): :class:`ResponseRetransmitter` does that arithmetic.

:class:`TransactionLayer` holds the transactions of one UA: it matches responses to client
transactions (§17.1.3: top Via branch and CSeq method) and requests to server transactions
(§17.2.3: branch, sent-by and method, ACK matching INVITE; the RFC 2543 fallback on Request-URI,
tags, Call-ID, CSeq and top Via when the branch lacks the magic cookie), finds the INVITE a CANCEL
targets (§9.2) and multiplexes the timers.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import secrets
from collections import deque
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar

from emulator.protocols.sip.headers import split_commas
from emulator.protocols.sip.message import Headers, Request, Response, make_response

__all__ = [
    "MAGIC_COOKIE",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "Deliver",
    "Effect",
    "ResponseRetransmitter",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "State",
    "Terminated",
    "TimedOut",
    "TimerConfig",
    "Transaction",
    "TransactionError",
    "TransactionLayer",
    "Transmit",
    "TransportFailed",
    "make_ack",
    "make_cancel",
    "new_branch",
    "server_key",
]

MAGIC_COOKIE = "z9hG4bK"  # §8.1.1.7


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie and 64 random bits (§8.1.1.7)."""
    return MAGIC_COOKIE + secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2, T4 (§17.1.1.1; DGW defaults 500 ms, 4 s, 5 s) and Timer D's floor (32 s)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0

    @property
    def b(self) -> float:
        return 64 * self.t1


DEFAULT_TIMERS = TimerConfig()


class State(enum.Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class TransactionError(RuntimeError):
    """The TU asked for something the state machine forbids (a second final response...)."""


# -- effects ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Transmit:
    """Send ``message`` towards ``peer``."""

    message: Request | Response
    peer: Any
    transaction: Transaction | None = None


@dataclass(frozen=True, slots=True)
class Deliver:
    """Pass ``message`` to the TU; ``transaction`` is ``None`` for a message no transaction matched."""

    message: Request | Response
    transaction: Transaction | None = None


@dataclass(frozen=True, slots=True)
class TimedOut:
    """Timer B, F or H fired."""

    transaction: Transaction
    timer: str


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport could not send for this transaction."""

    transaction: Transaction


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction reached Terminated and can be forgotten."""

    transaction: Transaction


Effect = Transmit | Deliver | TimedOut | TransportFailed | Terminated


# -- helpers ----------------------------------------------------------------------------------------------------
def _top_via_value(request: Request) -> str:
    return split_commas(request.headers.values_of("via")[0])[0]


def make_ack(request: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a 3xx-6xx (§17.1.1.3).

    Same Request-URI, Call-ID, From, CSeq number and Route set as the INVITE; To from the response
    (with its tag); one Via, the INVITE's top one (same branch).
    """
    return _in_transaction("ACK", request, response.headers)


def make_cancel(request: Request) -> Request:
    """The CANCEL for a pending request (§9.1): same Request-URI, Call-ID, From, To, CSeq number, top Via, Route."""
    return _in_transaction("CANCEL", request, request.headers)


def _in_transaction(method: str, request: Request, to_source: Headers) -> Request:
    """A ``method`` request of ``request``'s transaction: its Request-URI, top Via, Max-Forwards, From, Call-ID,
    CSeq number and Route set, the To of ``to_source``."""
    src = request.headers
    items: list[tuple[str, str, str]] = [("via", "Via", _top_via_value(request))]
    for value in src.values_of("max-forwards")[:1]:
        items.append(("max-forwards", "Max-Forwards", value))
    for key, name, source in (("from", "From", src), ("to", "To", to_source), ("call-id", "Call-ID", src)):
        for value in source.values_of(key)[:1]:
            items.append((key, name, value))
    items.append(("cseq", "CSeq", f"{request.cseq.seq} {method}"))
    for value in src.values_of("route"):
        items.append(("route", "Route", value))
    return Request(method, request.uri.copy(), Headers.from_items(items))


def server_key(request: Request) -> tuple[Any, ...]:
    """The §17.2.3 matching key of a request (ACK and CANCEL keyed as the INVITE they refer to is not done here).

    RFC 3261 branch: ``(branch, sent-by, method)`` with ACK counted as INVITE. Otherwise the RFC 2543
    fallback: Request-URI, To tag, From tag, Call-ID, CSeq and the top Via.
    """
    via = request.top_via
    branch = via.branch
    method = "INVITE" if request.method == "ACK" else request.method
    if branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
        return ("3261", branch, via.sent_by_key, method)
    cseq = request.cseq
    return ("2543", str(request.uri), request.to.tag, request.from_.tag, request.call_id, cseq.seq, cseq.method,
            _top_via_value(request))


def _ack_key_2543(request: Request) -> tuple[Any, ...]:
    return ("2543-ack", str(request.uri), request.from_.tag, request.call_id, request.cseq.seq,
            _top_via_value(request))


# -- transactions -----------------------------------------------------------------------------------------------
class Transaction:
    """What the four transaction kinds share: the request, the peer, transport reliability, state and timers."""

    __slots__ = ("_intervals", "_settled", "_timers", "key", "last_response", "peer", "reliable", "request", "state",
                 "timers")

    kind = "transaction"
    initial: State  # the state :meth:`start` enters

    #: The timers of the kind (§17): name -> states in which it retransmits (see _retransmission), name ->
    #: states in which it times out (the TU is told), and the timers that end the transaction.
    RETRANSMIT: ClassVar[dict[str, tuple[State, ...]]] = {}
    TIMEOUTS: ClassVar[dict[str, tuple[State, ...]]] = {}
    TERMINATE: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, request: Request, *, peer: Any = None, reliable: bool = False,
                 timers: TimerConfig = DEFAULT_TIMERS) -> None:
        self.request = request
        self.peer = peer
        self.reliable = reliable
        self.timers = timers
        self.state: State | None = None
        self._timers: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self.key: tuple[Any, ...] | None = None
        self.last_response: Response | None = None
        self._settled = False

    def start(self, now: float) -> list[Effect]:
        """Enter the first state (:attr:`initial`); what to send or deliver first."""
        if self.state is not None:
            raise TransactionError("already started")
        self.state = self.initial
        return self._enter(now)

    def _enter(self, now: float) -> list[Effect]:
        raise NotImplementedError

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def next_deadline(self) -> float | None:
        """The absolute time of the earliest running timer, or ``None``."""
        return min(self._timers.values()) if self._timers else None

    def handle_timer(self, now: float) -> list[Effect]:
        """Fire every timer due at ``now``, earliest first."""
        effects: list[Effect] = []
        while self._timers and self.state is not State.TERMINATED:
            name, deadline = min(self._timers.items(), key=lambda item: item[1])
            if deadline > now:
                break
            del self._timers[name]
            effects.extend(self._on_timer(name, now))
        return effects

    def transport_error(self, now: float) -> list[Effect]:
        """The transport failed to send for this transaction: inform the TU and terminate."""
        if self.state is State.TERMINATED:
            return []
        return [TransportFailed(self), *self._terminate()]

    def _terminate(self) -> list[Effect]:
        self.state = State.TERMINATED
        self._timers.clear()
        return [Terminated(self)]

    def _start_timer(self, name: str, now: float, interval: float) -> None:
        self._timers[name] = now + interval
        self._intervals[name] = interval

    def _on_timer(self, name: str, now: float) -> list[Effect]:
        """What a timer does is the class's table: retransmit, time out or terminate in the given states."""
        if name in self.TERMINATE:
            return self._terminate()
        if self.state in self.TIMEOUTS.get(name, ()):
            return [TimedOut(self, name), *self._terminate()]  # tell the TU, then terminate
        if self.state in self.RETRANSMIT.get(name, ()):
            message, interval = self._retransmission(name)
            if message is not None:
                self._start_timer(name, now, interval)
                return [Transmit(message, self.peer, self)]
        return []

    def _retransmission(self, name: str) -> tuple[Request | Response | None, float]:
        """The message a retransmission timer sends again, and the timer's next interval."""
        raise NotImplementedError

    def release_parsed(self) -> None:
        """Drop what the messages it keeps have parsed (see :data:`RELEASE_AFTER`); they are read again if asked."""
        for message in (self.request, self.last_response, getattr(self, "ack", None)):
            if message is not None:
                message.release_parsed()

    def __repr__(self) -> str:
        state = self.state.value if self.state else "new"
        return f"<{type(self).__name__} {self.request.method} {state}>"


class ClientInviteTransaction(Transaction):
    """§17.1.1: Calling -> Proceeding -> Completed (3xx-6xx, ACK sent here) or Accepted (2xx, RFC 6026)."""

    __slots__ = ("ack",)

    kind = "client-invite"
    initial = State.CALLING

    def __init__(self, request: Request, *, peer: Any = None, reliable: bool = False,
                 timers: TimerConfig = DEFAULT_TIMERS) -> None:
        super().__init__(request, peer=peer, reliable=reliable, timers=timers)
        self.ack: Request | None = None

    def _enter(self, now: float) -> list[Effect]:
        """Send the INVITE; Timer A (unreliable) and Timer B start."""
        if not self.reliable:
            self._start_timer("A", now, self.timers.t1)
        self._start_timer("B", now, self.timers.b)
        return [Transmit(self.request, self.peer, self)]

    @property
    def can_cancel(self) -> bool:
        """A CANCEL may be sent once a provisional response arrived (§9.1)."""
        return self.state is State.PROCEEDING

    def make_cancel(self) -> Request:
        """The CANCEL for this INVITE (send it in a new client non-INVITE transaction)."""
        return make_cancel(self.request)

    def receive(self, response: Response, now: float) -> list[Effect]:
        """A response matched to this transaction (§17.1.3)."""
        code = response.status
        state = self.state
        if state is State.CALLING or state is State.PROCEEDING:
            self.last_response = response
            if code < 200:
                self.state = State.PROCEEDING
                self._timers.pop("A", None)
                self._timers.pop("B", None)
                return [Deliver(response, self)]
            self._timers.clear()
            if code < 300:
                self.state = State.ACCEPTED
                self._start_timer("M", now, self.timers.b)
                return [Deliver(response, self)]
            self.state = State.COMPLETED
            self.ack = make_ack(self.request, response)
            effects: list[Effect] = [Transmit(self.ack, self.peer, self), Deliver(response, self)]
            if self.reliable:
                effects.extend(self._terminate())
            else:
                self._start_timer("D", now, self.timers.d)
            return effects
        if state is State.COMPLETED:
            if code >= 300 and self.ack is not None:
                return [Transmit(self.ack, self.peer, self)]  # retransmitted final: ACK again
            return []
        if state is State.ACCEPTED and 200 <= code < 300:
            return [Deliver(response, self)]  # RFC 6026 §8.4: 2xx retransmissions go to the TU
        return []

    RETRANSMIT: ClassVar[dict[str, tuple[State, ...]]] = {"A": (State.CALLING,)}
    TIMEOUTS: ClassVar[dict[str, tuple[State, ...]]] = {"B": (State.CALLING,)}
    TERMINATE: ClassVar[frozenset[str]] = frozenset({"D", "M"})

    def _retransmission(self, name: str) -> tuple[Request | Response | None, float]:
        return self.request, self._intervals["A"] * 2  # Timer A doubles, uncapped (§17.1.1.2)


class ClientNonInviteTransaction(Transaction):
    """§17.1.2: Trying -> Proceeding -> Completed -> Terminated."""

    __slots__ = ()

    kind = "client-non-invite"
    initial = State.TRYING

    def _enter(self, now: float) -> list[Effect]:
        """Send the request; Timer E (unreliable) and Timer F start."""
        if not self.reliable:
            self._start_timer("E", now, self.timers.t1)
        self._start_timer("F", now, self.timers.b)
        return [Transmit(self.request, self.peer, self)]

    def receive(self, response: Response, now: float) -> list[Effect]:
        """A response matched to this transaction (§17.1.3)."""
        if self.state is State.TRYING or self.state is State.PROCEEDING:
            self.last_response = response
            if response.status < 200:
                self.state = State.PROCEEDING
                return [Deliver(response, self)]
            self.state = State.COMPLETED
            self._timers.clear()
            effects: list[Effect] = [Deliver(response, self)]
            if self.reliable:
                effects.extend(self._terminate())
            else:
                self._start_timer("K", now, self.timers.t4)
            return effects
        return []  # Completed: retransmitted responses are absorbed

    RETRANSMIT: ClassVar[dict[str, tuple[State, ...]]] = {"E": (State.TRYING, State.PROCEEDING)}
    TIMEOUTS: ClassVar[dict[str, tuple[State, ...]]] = {"F": (State.TRYING, State.PROCEEDING)}
    TERMINATE: ClassVar[frozenset[str]] = frozenset({"K"})

    def _retransmission(self, name: str) -> tuple[Request | Response | None, float]:
        # Timer E doubles up to T2 while Trying, and stays at T2 once Proceeding (§17.1.2.2).
        doubled = min(self._intervals["E"] * 2, self.timers.t2)
        return self.request, doubled if self.state is State.TRYING else self.timers.t2


class ServerInviteTransaction(Transaction):
    """§17.2.1: Proceeding -> Completed -> Confirmed, or Accepted on 2xx (RFC 6026 §7.1)."""

    __slots__ = ("response_to_tag", "send_trying")

    kind = "server-invite"
    initial = State.PROCEEDING

    def __init__(self, request: Request, *, peer: Any = None, reliable: bool = False,
                 timers: TimerConfig = DEFAULT_TIMERS, send_trying: bool = True) -> None:
        super().__init__(request, peer=peer, reliable=reliable, timers=timers)
        self.send_trying = send_trying
        self.response_to_tag: str | None = None

    def _enter(self, now: float) -> list[Effect]:
        """Answer 100 Trying (unless the TU answers within 200 ms) and pass the INVITE up."""
        effects: list[Effect] = []
        if self.send_trying:
            self.last_response = make_response(self.request, 100)
            effects.append(Transmit(self.last_response, self.peer, self))
        effects.append(Deliver(self.request, self))
        return effects

    @property
    def can_cancel(self) -> bool:
        """A CANCEL still has an effect: no final response was sent (§9.2)."""
        return self.state is State.PROCEEDING

    def receive(self, request: Request, now: float) -> list[Effect]:
        """A retransmitted INVITE or an ACK matched to this transaction (§17.2.3)."""
        state = self.state
        if request.method == "ACK":
            if state is State.COMPLETED:
                self.state = State.CONFIRMED
                self._timers.pop("G", None)
                self._timers.pop("H", None)
                if self.reliable:
                    return self._terminate()
                self._start_timer("I", now, self.timers.t4)
                return []
            if state is State.ACCEPTED:
                return [Deliver(request, self)]  # RFC 6026 §7.1: ACK for the 2xx goes to the TU
            return []
        if state is State.PROCEEDING or state is State.COMPLETED:
            if self.last_response is not None:
                return [Transmit(self.last_response, self.peer, self)]
        return []  # Accepted, Confirmed: absorbed

    def send(self, response: Response, now: float) -> list[Effect]:
        """The TU's response to the INVITE (§17.2.1); 2xx retransmissions go through here too in Accepted."""
        code = response.status
        state = self.state
        if state is State.PROCEEDING:
            self.last_response = response
            if code < 200:
                return [Transmit(response, self.peer, self)]
            self._remember_tag(response)
            if code < 300:
                self.state = State.ACCEPTED
                self._start_timer("L", now, self.timers.b)
                return [Transmit(response, self.peer, self)]
            self.state = State.COMPLETED
            if not self.reliable:
                self._start_timer("G", now, self.timers.t1)
            self._start_timer("H", now, self.timers.b)
            return [Transmit(response, self.peer, self)]
        if state is State.ACCEPTED and 200 <= code < 300:
            return [Transmit(response, self.peer, self)]
        raise TransactionError(f"cannot send {code} in state {state}")

    def _remember_tag(self, response: Response) -> None:
        try:
            self.response_to_tag = response.to.tag
        except ValueError:
            self.response_to_tag = None

    RETRANSMIT: ClassVar[dict[str, tuple[State, ...]]] = {"G": (State.COMPLETED,)}
    TIMEOUTS: ClassVar[dict[str, tuple[State, ...]]] = {"H": (State.COMPLETED,)}
    TERMINATE: ClassVar[frozenset[str]] = frozenset({"I", "L"})

    def _retransmission(self, name: str) -> tuple[Request | Response | None, float]:
        return self.last_response, min(self._intervals["G"] * 2, self.timers.t2)  # Timer G (§17.2.1)


class ServerNonInviteTransaction(Transaction):
    """§17.2.2: Trying -> Proceeding -> Completed -> Terminated."""

    __slots__ = ()

    kind = "server-non-invite"
    initial = State.TRYING

    def _enter(self, now: float) -> list[Effect]:
        """Pass the request up."""
        return [Deliver(self.request, self)]

    def receive(self, request: Request, now: float) -> list[Effect]:
        """A retransmission of the request: absorbed in Trying, answered with the last response after."""
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last_response is not None:
            return [Transmit(self.last_response, self.peer, self)]
        return []

    def send(self, response: Response, now: float) -> list[Effect]:
        """The TU's response (§17.2.2)."""
        if self.state not in (State.TRYING, State.PROCEEDING):
            raise TransactionError(f"cannot send {response.status} in state {self.state}")
        self.last_response = response
        if response.status < 200:
            self.state = State.PROCEEDING
            return [Transmit(response, self.peer, self)]
        self.state = State.COMPLETED
        effects: list[Effect] = [Transmit(response, self.peer, self)]
        if self.reliable:
            effects.extend(self._terminate())
        else:
            self._start_timer("J", now, self.timers.b)
        return effects

    TERMINATE: ClassVar[frozenset[str]] = frozenset({"J"})


ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction
ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction


# -- UAS 2xx retransmission (§13.3.1.4) ----------------------------------------------------------------------------
@dataclass(slots=True, eq=False, repr=False)
class ResponseRetransmitter:
    """The UAS core's 2xx-to-INVITE retransmissions: T1, 2*T1 ... capped at T2, until the ACK (§13.3.1.4).

    Without an ACK after 64*T1 the dialog is to be torn down with a BYE: ``handle_timer`` then returns
    a :class:`TimedOut` with timer ``"2xx"``.
    """

    response: Response
    _: KW_ONLY
    peer: Any = None
    timers: TimerConfig = DEFAULT_TIMERS
    acked: bool = field(default=False, init=False)
    _interval: float = field(init=False)
    _deadline: float | None = field(default=None, init=False)
    _give_up: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._interval = self.timers.t1

    def start(self, now: float) -> list[Effect]:
        self._deadline = now + self._interval
        self._give_up = now + self.timers.b
        return [Transmit(self.response, self.peer, None)]

    def ack_received(self) -> None:
        self.acked = True
        self._deadline = None

    def next_deadline(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> list[Effect]:
        if self._deadline is None or now < self._deadline:
            return []
        if now >= self._give_up:
            self._deadline = None
            return [TimedOut(None, "2xx")]  # type: ignore[arg-type]
        self._interval = min(self._interval * 2, self.timers.t2)
        self._deadline = min(now + self._interval, self._give_up)
        return [Transmit(self.response, self.peer, None)]


# -- the layer --------------------------------------------------------------------------------------------------
#: The states in which a transaction only absorbs or passes on retransmissions until a timer ends it (RFC 6026
#: Accepted, Completed, Confirmed: up to 64*T1 on UDP). What its messages parsed is dropped RELEASE_AFTER seconds
#: after it got there (the transaction user has read them by then): a unit with calls every few milliseconds keeps
#: thousands of such transactions, and their parsed headers (addresses, URIs, lists) were most of the objects every
#: full garbage collection walked.
SETTLED_STATES = frozenset({State.ACCEPTED, State.COMPLETED, State.CONFIRMED})
RELEASE_AFTER = 1.0


class TransactionLayer:
    """All transactions of one UA, keyed per §17.1.3 / §17.2.3, with one timer heap.

    Messages handed to :meth:`receive` must have passed the essentials of
    :func:`emulator.protocols.sip.validate.check_request` / ``check_response`` (a readable top Via, CSeq...),
    otherwise the key cannot be computed and :class:`HeaderError` propagates.
    """

    def __init__(self, timers: TimerConfig = DEFAULT_TIMERS, *, send_trying: bool = True) -> None:
        self.timers = timers
        self.send_trying = send_trying
        self._client: dict[tuple[Any, ...], ClientTransaction] = {}
        self._server: dict[tuple[Any, ...], ServerTransaction] = {}
        self._ack_2543: dict[tuple[Any, ...], ServerInviteTransaction] = {}
        self._heap: list[tuple[float, int, Transaction]] = []
        self._seq = itertools.count()
        self._settled: deque[tuple[float, Transaction]] = deque()  # (when to release, transaction), oldest first
        self._now = 0.0  # the time of the call being handled

    def __len__(self) -> int:
        return len(self._client) + len(self._server)

    # -- client side -----------------------------------------------------------------------------------------
    def send_request(self, request: Request, now: float, *, peer: Any = None,
                     reliable: bool = False) -> tuple[ClientTransaction, list[Effect]]:
        """Start a client transaction for ``request`` (which carries its top Via with a fresh branch)."""
        self._clock(now)
        if request.method == "ACK":
            raise TransactionError("an ACK for a 2xx is sent by the TU without a transaction (§17.1.1.3)")
        txn: ClientTransaction
        if request.method == "INVITE":
            txn = ClientInviteTransaction(request, peer=peer, reliable=reliable, timers=self.timers)
        else:
            txn = ClientNonInviteTransaction(request, peer=peer, reliable=reliable, timers=self.timers)
        txn.key = (request.top_via.branch, request.cseq.method)
        if txn.key in self._client:
            raise TransactionError(f"a client transaction with branch {txn.key[0]!r} exists")
        self._client[txn.key] = txn
        return txn, self._after(txn, txn.start(now))

    # -- server side -----------------------------------------------------------------------------------------
    def receive(self, message: Request | Response, now: float, *, peer: Any = None,
                reliable: bool = False) -> list[Effect]:
        """Match ``message`` to a transaction, or create a server transaction for a new request.

        Unmatched responses and ACKs (an ACK for a 2xx belongs to the dialog, §13.2.2.4) come back
        as ``Deliver(message, None)``.
        """
        self._clock(now)
        if isinstance(message, Response):
            client = self._client.get((message.top_via.branch, message.cseq.method))
            if client is None:
                return [Deliver(message, None)]
            return self._after(client, client.receive(message, now))
        key = server_key(message)
        if message.method == "ACK":
            txn = self._server.get(key)
            if txn is None and key[0] == "2543":
                candidate = self._ack_2543.get(_ack_key_2543(message))
                if candidate is not None and candidate.response_to_tag == message.to.tag:
                    txn = candidate
            if isinstance(txn, ServerInviteTransaction):
                return self._after(txn, txn.receive(message, now))
            return [Deliver(message, None)]
        existing = self._server.get(key)
        if existing is not None:
            return self._after(existing, existing.receive(message, now))
        server: ServerTransaction
        if message.method == "INVITE":
            server = ServerInviteTransaction(message, peer=peer, reliable=reliable, timers=self.timers,
                                             send_trying=self.send_trying)
            if key[0] == "2543":
                self._ack_2543[_ack_key_2543(message)] = server
        else:
            server = ServerNonInviteTransaction(message, peer=peer, reliable=reliable, timers=self.timers)
        server.key = key
        self._server[key] = server
        return self._after(server, server.start(now))

    def respond(self, transaction: ServerTransaction, response: Response, now: float) -> list[Effect]:
        """Send the TU's ``response`` through its server transaction."""
        self._clock(now)
        return self._after(transaction, transaction.send(response, now))

    def find_cancel_target(self, cancel: Request) -> ServerInviteTransaction | None:
        """The INVITE server transaction a CANCEL refers to (§9.2: §17.2.3 matching, method INVITE)."""
        key = server_key(cancel)
        if key[0] == "3261":
            target_key: tuple[Any, ...] = (*key[:3], "INVITE")
        else:
            target_key = (*key[:6], "INVITE", key[7])
        txn = self._server.get(target_key)
        return txn if isinstance(txn, ServerInviteTransaction) else None

    def transport_error(self, transaction: Transaction, now: float) -> list[Effect]:
        """The transport failed for ``transaction``."""
        self._clock(now)
        return self._after(transaction, transaction.transport_error(now))

    # -- timers ----------------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` is next due, or ``None``."""
        heap = self._heap
        while heap:
            deadline, _, txn = heap[0]
            if txn.next_deadline() == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> list[Effect]:
        """Fire every timer due at ``now``."""
        self._clock(now)
        effects: list[Effect] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, txn = heapq.heappop(heap)
            current = txn.next_deadline()
            if current is None or current != deadline:
                continue
            effects.extend(self._after(txn, txn.handle_timer(now)))
        return effects

    def _after(self, txn: Transaction, effects: list[Effect]) -> list[Effect]:
        if txn.state is State.TERMINATED:
            self._forget(txn)
        else:
            deadline = txn.next_deadline()
            if deadline is not None:
                heapq.heappush(self._heap, (deadline, next(self._seq), txn))
            if txn.state in SETTLED_STATES and not txn._settled:
                txn._settled = True
                self._settled.append((self._now + RELEASE_AFTER, txn))
        return effects

    def _clock(self, now: float) -> None:
        """The time of the call being handled; the settled transactions due are released."""
        self._now = now
        settled = self._settled
        while settled and settled[0][0] <= now:
            settled.popleft()[1].release_parsed()

    def _forget(self, txn: Transaction) -> None:
        if isinstance(txn, ClientInviteTransaction | ClientNonInviteTransaction):
            if self._client.get(txn.key) is txn:  # type: ignore[arg-type]
                del self._client[txn.key]  # type: ignore[arg-type]
        elif txn.key is not None and self._server.get(txn.key) is txn:
            del self._server[txn.key]
            if isinstance(txn, ServerInviteTransaction) and txn.key[0] == "2543":
                self._ack_2543.pop(_ack_key_2543(txn.request), None)

    def client_transactions(self) -> list[ClientTransaction]:
        return list(self._client.values())

    def server_transactions(self) -> list[ServerTransaction]:
        return list(self._server.values())

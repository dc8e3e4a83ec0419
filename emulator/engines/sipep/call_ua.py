"""What the call layer needs of the SipEp user agent: a small protocol, so that the calls depend on it and
not on the engine (:class:`~emulator.engines.sipep.ua.UserAgent` implements it); and what it asks of the call
router (:class:`CallRouting`, implemented by :class:`~emulator.engines.sipep.routing.RoutedCalls`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.settings import GatewayRuntime, Settings
from emulator.engines.sipep.transport import Source
from emulator.protocols.crout.table import Signaling
from emulator.protocols.sip.message import Request, Response
from emulator.protocols.sip.target import Target
from emulator.protocols.sip.transaction import (
    ClientInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TimerConfig,
)
from emulator.protocols.sip.uri import Uri

__all__ = ["CallRouting", "CallUA", "RequestHandler"]

RequestHandler = Callable[[Request, ServerInviteTransaction | ServerNonInviteTransaction, Source], None]


class CallUA(Protocol):
    """The user agent as the call layer sees it (see :mod:`emulator.engines.sipep.ua` for each member)."""

    host: str
    log: Any
    settings: Settings
    timers: TimerConfig
    gateways: dict[str, GatewayRuntime]
    transport_kind: str
    request_handlers: dict[str, RequestHandler]

    @property
    def running(self) -> bool: ...

    def via(self, gateway: str, transport: str | None = None) -> str: ...

    def contact_uri(self, gateway: str, user: str | None) -> Uri: ...

    def ua_headers(self) -> list[tuple[str, str]]: ...

    async def request(self, request: Request, target: Target, gateway: str | None = None, *,
                      on_provisional: Callable[[Response], None] | None = None,
                      on_transaction: Callable[[ClientInviteTransaction], None] | None = None) -> Response | None: ...

    def invite_failover(self, gateway: str, target: Target, response: Response | None,
                        tried: set[tuple[str, str, int]]) -> Target | None: ...

    def respond(self, txn: ServerInviteTransaction | ServerNonInviteTransaction, response: Response) -> None: ...

    def send_stateless(self, message: Request | Response, target: Target | Source) -> None: ...

    def find_cancel_target(self, cancel: Request) -> ServerInviteTransaction | None: ...

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]: ...


class CallRouting(Protocol):
    """The call router's side of the call layer: every incoming INVITE and every dialled number goes through it."""

    def incoming(self, request: Request, txn: ServerInviteTransaction, source: Source) -> None:
        """An initial INVITE: route it (ring a line, hunt, redirect, or refuse it with the router's cause)."""
        ...

    async def dial(self, endpoint: str, number: str) -> Call:
        """``endpoint`` dialled ``number``: route the call (SIP, another line of the unit, or refused)."""
        ...

    def local_peer(self, call: Call) -> Call | None:
        """The other side of a call between two lines of the unit, None for a SIP call."""
        ...

    def signaling(self, call: Call) -> Signaling | None:
        """The signaling properties of the route the call took (early connect, 180/183 rules, privacy...)."""
        ...

    def answer_local(self, call: Call) -> Call:
        """The called line of a local call answers."""
        ...

    def hangup_local(self, call: Call) -> None:
        """One side of a local call hangs up (or refuses it while ringing)."""
        ...

    def sip_destination(self, endpoint: str, number: str) -> tuple[str, str] | None:
        """(user, host) of the SIP destination ``number`` dialled on ``endpoint`` routes to; None if not SIP."""
        ...

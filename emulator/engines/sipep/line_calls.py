"""The calls of one line (an endpoint) at once: the call the line talks in (its **focus**), the calls it holds,
a call waiting; and what a hook-flash does with them. Pure: no I/O, no time; the call layer
(:mod:`~emulator.engines.sipep.calls`) carries out the decisions.

A line has at most two calls (the hardware's services: call waiting, second call, transfer and three-way
conference all work on two): the focus, and either a **waiting** call (an incoming call that rang while the
line was in a call, heard as the call-waiting tone) or a **held** one (held by the line: a flash, a second call).
Which call is the focus:

* a call the line places (dial) or answers becomes the focus; an incoming call rings as the focus when the line
  has no call, as a waiting call otherwise;
* when the focus ends, the most recent other call becomes the focus: a waiting call then rings the line as any
  incoming call does, a held call stays held until the user flashes (``SecondCallDisconnectAction`` Wait) or is
  resumed at once (AutoSwitch: the call layer's doing).

Hook-flash (``EpServ.DefaultCallHookFlashProcessing`` ProcessLocally; emulator choice where the vendor's key
sequences are not documented, ``Pots.FxsServiceActivation`` FlashHook), :func:`flash_step`:

* in a call with a waiting call: the call is held and the waiting one answered (call waiting);
* with a held call and a connected one: the two are swapped;
* with a held call and a second call not connected yet (dialling, ringing) or none: the attempt is dropped and the
  held call resumed;
* in a call alone: the call is held and the line gets dial tone for a second call (second call service).

With TransmitUsingSignalingProtocol the flash goes to the far end of the focus call (SIP INFO) instead.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Protocol

from emulator.engines.sipep.call_state import CallState

__all__ = ["MAX_CALLS", "FlashStep", "LineCall", "LineCalls", "Services", "flash_step", "ring_admission"]

MAX_CALLS = 2  # calls one line holds at once


class LineCall(Protocol):
    endpoint: str
    state: CallState
    local_hold: bool
    waiting: bool

    @property
    def active(self) -> bool: ...


class Services(Protocol):
    """The EpServ settings the decisions need (:class:`~emulator.engines.sipep.line_services.LineServices`)."""

    def hold(self, endpoint: str) -> bool: ...

    def call_waiting(self, endpoint: str) -> bool: ...

    def second_call(self, endpoint: str) -> bool: ...

    def flash_processing(self, endpoint: str) -> str: ...


class FlashStep(enum.Enum):
    ANSWER_WAITING = "hold the call and answer the waiting call"
    SWAP = "hold the call and resume the held one"
    BACK_TO_HELD = "drop the second call attempt and resume the held call"
    SECOND_CALL = "hold the call; dial tone for a second call"
    TRANSMIT = "send the flash to the far end"
    NOTHING = "nothing to do"


class LineCalls:
    """Which call of each line is its focus (see the module docstring)."""

    def __init__(self) -> None:
        self._focus: dict[str, LineCall] = {}

    @staticmethod
    def of(endpoint: str, calls: Iterable[LineCall]) -> list[LineCall]:
        """The line's active calls, oldest first."""
        return [c for c in calls if c.endpoint == endpoint and c.active]

    def set_focus(self, call: LineCall) -> None:
        self._focus[call.endpoint] = call
        call.waiting = False

    def focus(self, endpoint: str, calls: Iterable[LineCall]) -> LineCall | None:
        """The call the line talks in; when the focus ended, the most recent other call takes it (a waiting call
        stops waiting: it now rings the line)."""
        current = self._focus.get(endpoint)
        if current is not None and current.active:
            return current
        mine = self.of(endpoint, calls)
        if not mine:
            self._focus.pop(endpoint, None)
            return None
        self.set_focus(mine[-1])
        return mine[-1]

    def others(self, endpoint: str, calls: Iterable[LineCall]) -> list[LineCall]:
        """The line's active calls other than its focus."""
        calls = list(calls)
        focus = self.focus(endpoint, calls)
        return [c for c in self.of(endpoint, calls) if c is not focus]

    def waiting(self, endpoint: str, calls: Iterable[LineCall]) -> LineCall | None:
        return next((c for c in self.others(endpoint, calls) if c.waiting), None)

    def held(self, endpoint: str, calls: Iterable[LineCall]) -> LineCall | None:
        """The line's other call, connected and held by the line."""
        return next((c for c in self.others(endpoint, calls)
                     if c.state is CallState.CONNECTED and c.local_hold and not c.waiting), None)

    def forget(self, endpoint: str) -> None:
        self._focus.pop(endpoint, None)


def ring_admission(lines: LineCalls, endpoint: str, calls: Iterable[LineCall], off_hook: bool,
                   services: Services) -> str | None:
    """How an incoming call meets the line: ``ring`` (idle line), ``wait`` (call waiting: the line is in one
    connected call and the service is on), or None (busy: 486)."""
    calls = list(calls)
    mine = lines.of(endpoint, calls)
    if not mine:
        return None if off_hook else "ring"
    focus = lines.focus(endpoint, calls)
    if len(mine) == 1 and focus is not None and focus.state is CallState.CONNECTED and \
            services.call_waiting(endpoint):
        return "wait"
    return None


def flash_step(lines: LineCalls, endpoint: str, calls: Iterable[LineCall], services: Services) -> FlashStep:
    """What a hook-flash does on the line now (see the module docstring)."""
    calls = list(calls)
    focus = lines.focus(endpoint, calls)
    if focus is None:
        return FlashStep.NOTHING
    if services.flash_processing(endpoint) == "TransmitUsingSignalingProtocol":
        return FlashStep.TRANSMIT if focus.state is CallState.CONNECTED else FlashStep.NOTHING
    held = lines.held(endpoint, calls)
    waiting = lines.waiting(endpoint, calls)
    connected = focus.state is CallState.CONNECTED
    if held is None and focus.local_hold and connected:  # the line held its only call for a second one
        return FlashStep.BACK_TO_HELD
    if waiting is not None and connected:
        return FlashStep.ANSWER_WAITING if services.hold(endpoint) else FlashStep.NOTHING
    if held is not None:
        return FlashStep.SWAP if connected and not focus.local_hold else FlashStep.BACK_TO_HELD
    if connected and services.second_call(endpoint) and services.hold(endpoint):
        return FlashStep.SECOND_CALL
    return FlashStep.NOTHING

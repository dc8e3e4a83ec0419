"""Call forwarding of an endpoint (EpServ), the decisions only: pure, no I/O, time passed in.

Three services, each on when the unit allows it and the user has activated it:

* the service is enabled by ``EpServ.DefaultForward<Kind>Enable``, or by the endpoint's
  ``EpServ.EpSpecificForward<Kind>`` row when that row's ``EnableConfig`` is Enable (its ``Enable`` then rules);
* the user's state is ``EpServ.Forward<Kind>Config[EpId]``: ``Activation`` Active and a ``ForwardingAddress``
  (the phone's activation codes, or any face, write these rows);

where ``<Kind>`` is ``Unconditional``, ``OnBusy`` or ``NoAnswer``. The no-answer delay is
``EpServ.DefaultForwardNoAnswerTimeout`` or the endpoint row's ``Timeout`` (milliseconds, 200..120000).

:meth:`LineForwarding.on_arrival` says what an incoming call does: unconditional forwarding first, then on busy
when the line is busy; :meth:`LineForwarding.no_answer` whether (and after how long) a ringing call is forwarded.
:class:`NoAnswerClock` keeps the deadlines of the ringing calls. Emulator choices: an empty forwarding address
forwards nothing (the service stays as if inactive); a call already diverted :data:`MAX_DIVERSIONS` times is not
diverted again (a forwarding loop between lines stops there).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["KINDS", "MAX_DIVERSIONS", "REASONS", "ForwardRule", "LineForwarding", "NoAnswerClock", "line_forwarding"]

#: the services as the parameters name them
KINDS = ("Unconditional", "OnBusy", "NoAnswer")
#: the Diversion reason (RFC 5806) of each service
REASONS = {"Unconditional": "unconditional", "OnBusy": "user-busy", "NoAnswer": "no-answer"}
#: a call diverted that many times is not diverted again (emulator choice)
MAX_DIVERSIONS = 5


class ForwardRule(NamedTuple):
    """Forward the call to ``address`` because of ``kind`` (one of :data:`KINDS`)."""

    kind: str
    address: str

    @property
    def reason(self) -> str:
        """The Diversion reason (RFC 5806) a call forwarded by this rule carries."""
        return REASONS[self.kind]


@dataclass(frozen=True, slots=True)
class LineForwarding:
    """The forwarding services in force on one endpoint: the address of each active one (None when off)."""

    unconditional: str | None = None
    on_busy: str | None = None
    no_answer_to: str | None = None
    no_answer_timeout_s: float = 5.0

    def on_arrival(self, busy: bool, diversions: int = 0) -> ForwardRule | None:
        """An incoming call reaches the line (``busy``: it could not ring); ``diversions``: how many times it was
        diverted already. The rule that forwards it now, else None (it rings, or is refused busy)."""
        if diversions >= MAX_DIVERSIONS:
            return None
        if self.unconditional:
            return ForwardRule("Unconditional", self.unconditional)
        if busy and self.on_busy:
            return ForwardRule("OnBusy", self.on_busy)
        return None

    def no_answer(self, diversions: int = 0) -> tuple[ForwardRule, float] | None:
        """The rule and the delay that forward a call ringing unanswered, else None."""
        if not self.no_answer_to or diversions >= MAX_DIVERSIONS:
            return None
        return ForwardRule("NoAnswer", self.no_answer_to), self.no_answer_timeout_s


def _enabled(value: Any) -> bool:
    return str(value) == "Enable"


def line_forwarding(get: Callable[[str], Any], endpoint: str) -> LineForwarding:
    """Read the services of ``endpoint`` through ``get`` (a parameter name, with a ``[EpId="..."]`` cell for the
    table columns, to its value or None); see the module docstring."""
    def cell(table: str, column: str) -> Any:
        return get(f'EpServ.{table}.{column}[EpId="{endpoint}"]')

    def address(kind: str) -> str | None:
        specific = f"EpSpecificForward{kind}"
        on = cell(specific, "Enable") if _enabled(cell(specific, "EnableConfig")) else \
            get(f"EpServ.DefaultForward{kind}Enable")
        if not _enabled(on) or str(cell(f"Forward{kind}Config", "Activation")) != "Active":
            return None
        return str(cell(f"Forward{kind}Config", "ForwardingAddress") or "").strip() or None

    specific_timeout = _enabled(cell("EpSpecificForwardNoAnswer", "EnableConfig"))
    timeout_ms = cell("EpSpecificForwardNoAnswer", "Timeout") if specific_timeout else \
        get("EpServ.DefaultForwardNoAnswerTimeout")
    try:
        timeout_s = max(0.2, int(timeout_ms) / 1000.0)
    except (TypeError, ValueError):
        timeout_s = 5.0
    return LineForwarding(address("Unconditional"), address("OnBusy"), address("NoAnswer"), timeout_s)


@dataclass
class NoAnswerClock:
    """Deadlines of the calls ringing under no-answer forwarding, keyed by the caller's handle for each call."""

    deadlines: dict[Hashable, tuple[float, ForwardRule]] = field(default_factory=dict)

    def ring(self, key: Hashable, now: float, rule: ForwardRule, timeout_s: float) -> float:
        """``key`` starts ringing at ``now``: it is due at the returned time unless settled first."""
        due = now + timeout_s
        self.deadlines[key] = (due, rule)
        return due

    def settle(self, key: Hashable) -> None:
        """``key`` was answered, refused or ended: it will not be forwarded."""
        self.deadlines.pop(key, None)

    def next_deadline(self) -> float | None:
        return min((d for d, _ in self.deadlines.values()), default=None)

    def due(self, now: float) -> list[tuple[Hashable, ForwardRule]]:
        """The calls whose time ran out at ``now`` (removed from the clock), earliest first."""
        ripe = sorted(((d, k, r) for k, (d, r) in self.deadlines.items() if d <= now), key=lambda x: x[0])
        for _, key, _ in ripe:
            del self.deadlines[key]
        return [(k, r) for _, k, r in ripe]

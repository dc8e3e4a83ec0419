"""Which server target to use, and when to leave it — pure, time passed in.

* **Failover conditions** (``SipEp.DefaultSipFailoverConditions``, ``SipEp.GwSpecificFailover``
  ``.SipFailoverConditions``; factory value ``5xxOnRegistration``): a list of keywords separated by
  commas (or spaces), case-insensitive, each ``<status>On<request>``: ``<status>`` a class (``5xx``,
  ``4xx``, ``6xx``) or a code (``503``), ``<request>`` ``Registration`` (REGISTER) or ``Invite``.
  The vendor's full keyword list is not public: this grammar is the emulator's reading of the factory
  value. An unknown keyword is reported (and ignored). No answer at all (transaction timeout) and a
  transport error (connection refused, TLS link lost) always fail over.
* **Penalty box** (``SipEp.PenaltyBoxEnable``, ``PenaltyBoxTime`` s; trunk gateways only, as the
  DGW documents): a target (address, port, transport) that failed is not used for that time, unless
  every target is in the box — then the highest-priority one is used.
* :class:`ServerTargets` — the resolved targets of one configured server, in RFC 3263 order, and the
  one in use. Without the penalty box the unit stays on a target until it fails, then moves to the
  next (wrapping round); with it, the highest-priority target out of the box is used. DNS failures
  with ``SipEp.DnsFailureConcealment`` = ``OnNoResolution`` keep the last addresses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from emulator.protocols.sip.resolve import Resolved

__all__ = ["FailoverConditions", "PenaltyBox", "ServerTargets", "parse_conditions"]

_KEYWORD = re.compile(r"^(?P<status>[1-6](?:xx|\d\d))on(?P<request>registration|register|invite)$", re.IGNORECASE)
_REQUESTS = {"registration": "REGISTER", "register": "REGISTER", "invite": "INVITE"}


@dataclass(frozen=True, slots=True)
class FailoverConditions:
    """Parsed failover keywords: (method, status class digit or exact code) pairs."""

    rules: frozenset[tuple[str, str]] = frozenset()
    unknown: tuple[str, ...] = ()

    def fails_over(self, method: str, status: int | None) -> bool:
        """True when ``status`` (None: no answer / transport error) to ``method`` means "try the next target"."""
        if status is None:
            return True
        code = str(status)
        return (method, code) in self.rules or (method, code[0] + "xx") in self.rules


def parse_conditions(text: str) -> FailoverConditions:
    rules: set[tuple[str, str]] = set()
    unknown: list[str] = []
    for word in re.split(r"[,\s;]+", text or ""):
        if not word:
            continue
        m = _KEYWORD.match(word)
        if m is None:
            unknown.append(word)
            continue
        rules.add((_REQUESTS[m["request"].lower()], m["status"].lower()))
    return FailoverConditions(frozenset(rules), tuple(unknown))


@dataclass(slots=True)
class PenaltyBox:
    """Targets kept out until a deadline (``time`` seconds after their failure)."""

    time: float = 300.0
    enabled: bool = False
    until: dict[tuple[str, str, int], float] = field(default_factory=dict)

    def add(self, target: Resolved, now: float) -> None:
        if self.enabled:
            self.until[target.key] = now + self.time

    def boxed(self, target: Resolved, now: float) -> bool:
        end = self.until.get(target.key)
        if end is None:
            return False
        if now >= end:
            del self.until[target.key]
            return False
        return True


@dataclass(slots=True)
class ServerTargets:
    """The targets of one configured server (e.g. the registrar ``sip.example.com``) and the one in use."""

    host: str  # as configured
    port: int  # as configured, 0 = none
    box: PenaltyBox = field(default_factory=PenaltyBox)
    targets: list[Resolved] = field(default_factory=list)
    current: Resolved | None = None
    expires: float = 0.0  # when the resolution must be asked again (DNS TTL)
    resolved_once: bool = False

    def update(self, targets: Sequence[Resolved], now: float, ttl: float) -> None:
        """A new resolution. The target in use stays in use while it is still offered."""
        self.targets = list(targets)
        self.expires = now + max(0.0, ttl)
        self.resolved_once = True
        if self.current is not None and self.current.key not in {t.key for t in self.targets}:
            self.current = None
        if self.current is not None:  # the record may have changed rank or name: keep the new one
            self.current = next(t for t in self.targets if t.key == self.current.key)

    def resolution_failed(self, now: float, conceal: bool, retry: float = 5.0) -> None:
        """The DNS did not answer: keep the last addresses (OnNoResolution) or have none."""
        self.expires = now + retry
        if not conceal:
            self.targets = []
            self.current = None

    def needs_resolution(self, now: float) -> bool:
        return not self.resolved_once or now >= self.expires

    def select(self, now: float) -> Resolved | None:
        """The target to use now."""
        if not self.targets:
            return None
        if self.box.enabled:
            free = [t for t in self.targets if not self.box.boxed(t, now)]
            pick = free[0] if free else self.targets[0]
        else:
            pick = self.current or self.targets[0]
        self.current = pick
        return pick

    def failed(self, target: Resolved, now: float) -> Resolved | None:
        """``target`` failed: box it, move on. Returns the next target to try, or None when the
        targets are exhausted (every other one is boxed, or there is no other one)."""
        self.box.add(target, now)
        others = [t for t in self.targets if t.key != target.key]
        if not others:
            self.current = target if self.targets else None
            return None
        if self.box.enabled:
            free = [t for t in others if not self.box.boxed(t, now)]
            if not free:
                return None
            self.current = free[0]
            return free[0]
        keys = [t.key for t in self.targets]
        i = keys.index(target.key) if target.key in keys else -1
        self.current = self.targets[(i + 1) % len(self.targets)]
        return self.current

    def prefer(self, target: Resolved, now: float) -> bool:
        """A higher-ranked target is reachable again (failback): use it, unless it is still in the
        penalty box. True when that changed the choice."""
        if self.current is None or target.key == self.current.key or self.box.boxed(target, now):
            return False
        ranks = [t.key for t in self.targets]
        if target.key in ranks and ranks.index(target.key) < ranks.index(self.current.key):
            self.current = next(t for t in self.targets if t.key == target.key)
            return True
        return False

    def keys(self) -> Iterable[tuple[str, str, int]]:
        return (t.key for t in self.targets)

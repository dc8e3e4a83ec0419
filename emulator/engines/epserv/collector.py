"""The DTMFs a line's user dials after lifting the handset, collected against the unit's DTMF maps (EpServ) —
a pure state machine with injected time (no I/O, no clock: every call passes ``now`` in seconds).

A :class:`DialPlan` is what the configuration says for one endpoint; a :class:`Collector` runs one off-hook:

* off-hook: with auto-call (hotline) on, the :class:`Outcome` ``hotline`` at once; otherwise dial tone and the
  first-DTMF timer (``DtmfMapTimeoutFirstDtmf``);
* each DTMF is matched against the refused maps, the allowed maps and the service codes (the activation and
  deactivation maps of call waiting and the three forwardings). A map matched whole that no more DTMFs could
  extend ends the collection at once; while some map could still match, the inter-DTMF timer runs
  (``DtmfMapTimeoutInterDtmf``) and on its expiry ``T`` is matched (RFC 3435 §2.1.5), or the DTMFs as they are
  when a map already matched them whole (emulator choice); the whole dialling is bounded by
  ``DtmfMapTimeoutCompletion``. DTMFs no map can match end it as refused;
* a number matched by a refused map is refused, even when an allowed map matches it too (the refused maps take
  precedence, as the vendor documents), and so is one no map matches: the line hears the reorder tone;
* an allowed number becomes the outcome ``call``: the row's DTMF transformation applied, its target host and
  emergency mark carried;
* direct IP calls (``DefaultCallAllowDirectIp``, emulator choice of the dialled form): the four numbers of an
  IPv4 address separated by ``*`` and ended by ``#`` (``192*168*0*10#``) call that address;
* a first-DTMF timeout becomes the delayed hotline when it is on and its condition covers that timer
  (``FirstDtmfTimeout`` or ``AnyTimeout``; ``InterDtmfOrCompletionTimeout`` for the later timers), else
  ``timeout``: the line hears the off-hook warning (reorder) tone.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from firmware_model.digit_maps import TIMER, DigitMap, Match, transform

__all__ = ["AllowedMap", "Collector", "DialPlan", "Outcome", "ServiceCode", "Timeouts"]

_DIRECT_IP = re.compile(r"^(\d{1,3})\*(\d{1,3})\*(\d{1,3})\*(\d{1,3})#$")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds (the parameters are in ms)."""

    first: float = 20.0
    inter: float = 3.0
    completion: float = 60.0


@dataclass(frozen=True, slots=True)
class AllowedMap:
    index: int
    map: DigitMap
    transformation: str = "x"
    target_host: str = ""
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class ServiceCode:
    """A user activation code: ``service`` (CallWaiting, ForwardUnconditional...) and ``action`` (Activation,
    Deactivation, Cancel)."""

    service: str
    action: str
    map: DigitMap


@dataclass(frozen=True, slots=True)
class DialPlan:
    allowed: tuple[AllowedMap, ...] = ()
    refused: tuple[DigitMap, ...] = ()
    services: tuple[ServiceCode, ...] = ()
    timeouts: Timeouts = field(default_factory=Timeouts)
    auto_call: str = ""  # hotline target: called at off-hook
    delayed_hotline: str = ""  # target called on a timeout the condition covers
    delayed_condition: str = "FirstDtmfTimeout"
    direct_ip: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the dialling came to.

    ``kind``: ``call`` (``number``, ``target_host``, ``emergency``, ``map_index``), ``hotline`` (``number``:
    the auto-call or delayed hotline target), ``direct_ip`` (``target_host``), ``service`` (``service``,
    ``action``, ``number``: the DTMFs after the code, the forwarding address), ``refused`` (``reason``),
    ``timeout`` (no DTMF, no delayed hotline), ``stutter`` (a service code's ``S`` reached: collection goes on).
    """

    kind: str
    number: str = ""
    target_host: str = ""
    emergency: bool = False
    map_index: int = 0
    service: str = ""
    action: str = ""
    reason: str = ""
    dialled: str = ""


class Collector:
    """One off-hook's dialling (see the module docstring)."""

    def __init__(self, plan: DialPlan, now: float) -> None:
        self.plan = plan
        self.dialled = ""
        self.started = now
        self.last = now
        self.done: Outcome | None = None

    def start(self) -> Outcome | None:
        """At off-hook: the hotline outcome when auto-call is on, else None (dial tone, collecting)."""
        if self.plan.auto_call:
            return self._finish(Outcome("hotline", number=self.plan.auto_call))
        return None

    def deadline(self) -> float | None:
        """When :meth:`tick` has something to do (None once done)."""
        if self.done is not None:
            return None
        t = self.plan.timeouts
        if not self.dialled:
            return self.started + t.first
        return min(self.last + t.inter, self.started + t.completion)

    def press(self, digit: str, now: float) -> Outcome | None:
        """One DTMF (0-9 * # A-D); an outcome when it ends (or marks) the dialling."""
        if self.done is not None:
            return None
        self.dialled += digit.upper()
        self.last = now
        if self.plan.direct_ip and _DIRECT_IP.match(self.dialled):
            return self._direct_ip()
        verdict = self._verdict(self.dialled, timer=False)
        if verdict is not None:
            return verdict
        if self._stutter():
            return Outcome("stutter", dialled=self.dialled)
        return None

    def tick(self, now: float) -> Outcome | None:
        """The timers: an outcome when one expired."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        if not self.dialled:
            if self.plan.delayed_hotline and self.plan.delayed_condition in ("FirstDtmfTimeout", "AnyTimeout"):
                return self._finish(Outcome("hotline", number=self.plan.delayed_hotline))
            return self._finish(Outcome("timeout", reason="no DTMF before the first-DTMF timeout"))
        verdict = self._verdict(self.dialled + TIMER, timer=True)
        if verdict is None:  # nothing matches even with the timer
            verdict = self._refuse("no DTMF map matches " + self.dialled, timer=True)
        return verdict

    # ---------------------------------------------------------------- internals
    def _finish(self, outcome: Outcome) -> Outcome:
        self.done = Outcome(**{**{f: getattr(outcome, f) for f in outcome.__slots__}, "dialled": self.dialled})
        return self.done

    def _refuse(self, reason: str, *, timer: bool) -> Outcome:
        if timer and self.plan.delayed_hotline and \
                self.plan.delayed_condition in ("InterDtmfOrCompletionTimeout", "AnyTimeout"):
            return self._finish(Outcome("hotline", number=self.plan.delayed_hotline))
        return self._finish(Outcome("refused", reason=reason))

    def _direct_ip(self) -> Outcome:
        m = _DIRECT_IP.match(self.dialled)
        assert m is not None
        try:
            address = ipaddress.IPv4Address(".".join(str(int(g)) for g in m.groups()))
        except ValueError:
            return self._finish(Outcome("refused", reason=f"{self.dialled}: not an IPv4 address"))
        return self._finish(Outcome("direct_ip", target_host=str(address)))

    def _stutter(self) -> bool:
        return any(code.map.match(self.dialled).stutter for code in self.plan.services) or \
            any(a.map.match(self.dialled).stutter for a in self.plan.allowed)

    def _verdict(self, text: str, *, timer: bool) -> Outcome | None:
        """The outcome for ``text`` (the DTMFs, ``T`` appended on a timer), None to go on collecting."""
        digits = self.dialled
        matches = self._matches(text)
        if timer:  # the timer ends the dialling: a map the DTMFs alone matched whole counts too (emulator choice)
            matches = [(what, m if m.complete else what_map(what).match(digits)) for what, m in matches]
        elif not any(m.complete and not m.more for _, m in matches):
            # a map matched whole that cannot take more ends the dialling now; otherwise wait while one could
            more = any(m.more for _, m in matches)
            if self.plan.direct_ip and re.fullmatch(r"[\d*]*", digits) and digits.count("*") <= 3:
                more = True  # could still become a direct IP address
            if more:
                return None
            return self._refuse(f"no DTMF map matches {digits}", timer=False)
        if not any(m.complete for _, m in matches):
            return None
        return self._decide(matches, digits, timer)

    def _matches(self, text: str) -> list[tuple[DigitMap | AllowedMap | ServiceCode, Match]]:
        out: list[tuple[DigitMap | AllowedMap | ServiceCode, Match]] = [(m, m.match(text)) for m in self.plan.refused]
        out += [(s, s.map.match(text)) for s in self.plan.services]
        out += [(a, a.map.match(text)) for a in self.plan.allowed]
        return out

    def _decide(self, matches: list[tuple[DigitMap | AllowedMap | ServiceCode, Match]], digits: str,
                timer: bool) -> Outcome:
        """The refused maps first (they take precedence), then the service codes, then the allowed maps."""
        for what, m in matches:
            if not m.complete:
                continue
            if isinstance(what, DigitMap):
                return self._finish(Outcome("refused", reason=f"{digits} matches a refused DTMF map"))
            if isinstance(what, ServiceCode):
                return self._finish(Outcome("service", service=what.service, action=what.action,
                                            number=digits[m.code_length:]))
            return self._finish(Outcome("call", number=transform(what.transformation, digits),
                                        target_host=what.target_host, emergency=what.emergency, map_index=what.index))
        return self._refuse(f"no allowed DTMF map matches {digits}", timer=timer)


def what_map(what: DigitMap | AllowedMap | ServiceCode) -> DigitMap:
    return what if isinstance(what, DigitMap) else what.map

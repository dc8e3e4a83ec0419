"""Session timers (RFC 4028): the negotiation of Session-Expires / Min-SE and the refresh and expiry clock of one
dialog, pure (time passed in, no I/O).

What a unit asks for comes from SipEp (:class:`SessionTimerPolicy`): ``SipEp.DefaultSessionTimerEnable``,
``DefaultSessionTimerMinimumExpirationDelay`` (our Min-SE: a request asking less is answered 422, §9),
``DefaultSessionTimerMaximumExpirationDelay`` (the interval we ask for and the most we accept as UAS, §9) and
``SessionRefreshRequestMethod`` (re-INVITE or UPDATE, §7.4 / §10).

Who refreshes (§7.2, §9): the refresher parameter of the 2xx's Session-Expires decides. As UAS, when the request
names none, the unit picks ``uac`` if the caller listed ``timer`` in Supported, else itself (``uas``) — the
refresher choice when the request leaves it open is an emulator choice. A refresher sends its refresh at half the
interval (§10); the other side, seeing no refresh, ends the session (BYE) at ``interval - min(32, interval / 3)``
(§10). :class:`SessionClock` is that clock; the call layer asks it for the next deadline and what to do there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from emulator.protocols.sip.headers import split_commas
from emulator.protocols.sip.message import Request, Response

__all__ = [
    "ABSOLUTE_MIN_SE", "Negotiated", "SessionClock", "SessionTimerPolicy", "TimerAction", "TooSmall",
    "parse_min_se", "parse_session_expires", "request_headers", "uac_result", "uas_negotiate",
]

ABSOLUTE_MIN_SE = 90  # §4: Min-SE is never below 90 s


@dataclass(frozen=True, slots=True)
class SessionTimerPolicy:
    """The unit's SipEp session-timer settings (see the module docstring)."""

    enabled: bool = True
    min_se: int = 1800
    max_se: int = 3600
    method: str = "INVITE"  # or UPDATE (SipEp.SessionRefreshRequestMethod Update)

    @property
    def asked(self) -> int:
        """The Session-Expires a request of ours carries: the maximum, never below our own Min-SE."""
        return max(self.max_se, self.min_se)


@dataclass(frozen=True, slots=True)
class Negotiated:
    """A session timer in force: its interval (s) and whether this side refreshes."""

    interval: int
    we_refresh: bool

    def refresher(self, we_are_uac: bool) -> str:
        """The refresher parameter value as the 2xx says it (``uac`` or ``uas``)."""
        return "uac" if we_are_uac == self.we_refresh else "uas"


class TooSmall(Exception):
    """A request's Session-Expires is below our Min-SE: answer 422 with this Min-SE (§9)."""

    def __init__(self, min_se: int) -> None:
        super().__init__(f"Session-Expires below {min_se}")
        self.min_se = min_se


def parse_session_expires(value: str | None) -> tuple[int, str | None] | None:
    """``Session-Expires: 1800;refresher=uac`` -> (1800, "uac"); None when absent or malformed (§4)."""
    if not value:
        return None
    head, *params = [p.strip() for p in value.split(";")]
    if not head.isdigit():
        return None
    refresher = None
    for p in params:
        name, _, val = p.partition("=")
        if name.strip().lower() == "refresher" and val.strip().lower() in ("uac", "uas"):
            refresher = val.strip().lower()
    return int(head), refresher


def parse_min_se(value: str | None) -> int | None:
    """``Min-SE: 1800`` -> 1800 (parameters ignored); None when absent or malformed."""
    if not value:
        return None
    head = value.split(";")[0].strip()
    return int(head) if head.isdigit() else None


def _supports(message: Request | Response, tag: str) -> bool:
    for value in message.headers.values_of("supported"):
        lowered = value.lower()
        if tag in lowered and any(t.strip() == tag for t in split_commas(lowered)):  # most values: no split
            return True
    return False


def request_headers(policy: SessionTimerPolicy, *, interval: int | None = None, refresher: str | None = None,
                    min_se: int | None = None) -> list[tuple[str, str]]:
    """Session-Expires and Min-SE for an INVITE or UPDATE of ours (§7.1, §7.4); Supported is the caller's."""
    if not policy.enabled:
        return []
    floor = max(min_se or 0, policy.min_se)
    value = str(max(interval or policy.asked, floor)) + (f";refresher={refresher}" if refresher else "")
    return [("Session-Expires", value), ("Min-SE", str(floor))]


def uas_negotiate(policy: SessionTimerPolicy, request: Request) -> tuple[Negotiated | None, list[tuple[str, str]]]:
    """As UAS of an INVITE or UPDATE (§9): the timer in force and the headers of our 2xx, or :class:`TooSmall`.

    A request without Session-Expires gets one in our 2xx only when the unit's timer is on (we then refresh,
    §9: the UAC may not support the extension). A request with one is accepted at its interval, lowered to our
    maximum but never below its Min-SE or ours."""
    asked = parse_session_expires(request.headers.get("Session-Expires"))
    uac_timer = _supports(request, "timer")
    if asked is None:
        if not policy.enabled:
            return None, []
        neg = Negotiated(policy.asked, True)
        return neg, [("Session-Expires", f"{neg.interval};refresher=uas")]
    interval, refresher = asked
    if interval < ABSOLUTE_MIN_SE or (policy.enabled and interval < policy.min_se):
        raise TooSmall(max(policy.min_se if policy.enabled else ABSOLUTE_MIN_SE, ABSOLUTE_MIN_SE))
    if policy.enabled:
        floor = max(parse_min_se(request.headers.get("Min-SE")) or ABSOLUTE_MIN_SE, policy.min_se)
        interval = max(min(interval, policy.asked), floor)
    if refresher is None:
        refresher = "uac" if uac_timer else "uas"
    neg = Negotiated(interval, refresher == "uas")
    headers = [("Session-Expires", f"{interval};refresher={refresher}")]
    if refresher == "uac":
        headers.append(("Require", "timer"))  # §9: the UAC must know it is the refresher
    return neg, headers


def uac_result(policy: SessionTimerPolicy, response: Response, asked: bool) -> Negotiated | None:
    """As UAC, from the 2xx to our INVITE or UPDATE (§7.2): the timer in force, None for none.

    With Session-Expires in the 2xx, its refresher decides (absent: we refresh). Without it, a request of ours
    that asked for a timer keeps one with us refreshing (§7.2: the UAS did not support the extension)."""
    got = parse_session_expires(response.headers.get("Session-Expires"))
    if got is None:
        return Negotiated(policy.asked, True) if asked and policy.enabled else None
    interval, refresher = got
    return Negotiated(interval, refresher != "uas")


class TimerAction(enum.Enum):
    REFRESH = "send a session refresh"
    EXPIRE = "the session expired: send BYE"


@dataclass(slots=True)
class SessionClock:
    """The refresh/expiry clock of one dialog (§10). ``start`` at each accepted (re)negotiation; the caller arms a
    timer at :meth:`deadline` and calls :meth:`fire` there."""

    timer: Negotiated
    started: float

    def start(self, timer: Negotiated, now: float) -> None:
        self.timer = timer
        self.started = now

    def deadline(self) -> float:
        interval = self.timer.interval
        if self.timer.we_refresh:
            return self.started + interval / 2
        return self.started + interval - min(32.0, interval / 3)

    def fire(self, now: float) -> TimerAction | None:
        """What is due at ``now``: a refresh (we refresh), the end of the session (they did not), or nothing yet."""
        if now + 1e-9 < self.deadline():
            return None
        return TimerAction.REFRESH if self.timer.we_refresh else TimerAction.EXPIRE

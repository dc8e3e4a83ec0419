"""Message waiting (RFC 3842 message-summary over RFC 6665 subscriptions), pure: the body of a NOTIFY, the
Subscription-State header, and what a SUBSCRIBE's final response makes of the subscription (the
``SipEp.MwiStatus`` SubscriptionState values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["EVENT", "MIME", "MessageSummary", "parse_subscription_state", "parse_summary", "state_after_response"]

EVENT = "message-summary"
MIME = "application/simple-message-summary"
_COUNTS = re.compile(r"^\s*(\d+)\s*/\s*(\d+)(?:\s*\(\s*(\d+)\s*/\s*(\d+)\s*\))?\s*$")


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """RFC 3842 §5.2: Messages-Waiting, the account, and the voice messages (new/old, urgent new/old)."""

    waiting: bool
    account: str = ""
    new: int = 0
    old: int = 0
    urgent_new: int = 0
    urgent_old: int = 0


def parse_summary(body: bytes) -> MessageSummary | None:
    """The summary of an ``application/simple-message-summary`` body; None without a Messages-Waiting line."""
    waiting: bool | None = None
    account = ""
    counts = (0, 0, 0, 0)
    for line in body.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = name.strip().lower(), value.strip()
        if key == "messages-waiting":
            waiting = value.lower() == "yes"
        elif key == "message-account":
            account = value
        elif key == "voice-message" and (m := _COUNTS.match(value)):
            counts = tuple(int(g or 0) for g in m.groups())  # type: ignore[assignment]
    if waiting is None:
        return None
    return MessageSummary(waiting, account, *counts)


def parse_subscription_state(value: str | None) -> tuple[str, int | None, str | None]:
    """``active;expires=3600`` -> ("active", 3600, None); ``terminated;reason=timeout`` -> ("terminated", None,
    "timeout") (RFC 6665 §8.2.3); absent: ("active", None, None)."""
    if not value:
        return "active", None, None
    head, *params = [p.strip() for p in value.split(";")]
    expires: int | None = None
    reason: str | None = None
    for p in params:
        k, _, v = p.partition("=")
        if k.strip().lower() == "expires" and v.strip().isdigit():
            expires = int(v.strip())
        elif k.strip().lower() == "reason":
            reason = v.strip().lower()
    return head.lower(), expires, reason


def state_after_response(status: int | None, *, refreshing: bool = False) -> str:
    """The MwiStatus SubscriptionState a SUBSCRIBE's final response (None: no answer) leaves."""
    if status is None:
        return "Unreachable"
    if 200 <= status < 300:
        return "Subscribed"
    if status in (401, 407):
        return "AuthFailed"
    if 400 <= status < 700:
        return "Rejected"
    return "InvalidResponse"

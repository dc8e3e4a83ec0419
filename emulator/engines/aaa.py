"""Aaa: authentication of management users against ``Aaa.Users``, with brute-force lock-out.

Lock-out (``Aaa.LoginLockedMaxRetry`` failures -> locked for ``Aaa.LoginLockedTimeoutS`` seconds)
applies per user whose ``LockProtectionEnable`` is Enable; ``Aaa.UsersStatus`` shows the state.
The lock-out bookkeeping is a pure object fed with the time, shared by every face of one unit
(SSH CLI, HTTP API, web), so failing on one face counts on all of them.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["RIGHTS", "Aaa", "AuthResult", "LoginGuard"]

# What each access right may do (facts: Admin everything; Observer read-only).
RIGHTS = {
    "Admin": {"read", "write", "secrets", "admin"},
    "User": {"read", "write"},
    "Observer": {"read"},
}


@dataclass(slots=True)
class AuthResult:
    ok: bool
    user: str
    rights: str = ""  # Admin | User | Observer
    reason: str = ""  # "locked" | "bad-credentials"

    def can(self, what: str) -> bool:
        return self.ok and what in RIGHTS.get(self.rights, set())


@dataclass
class LoginGuard:
    """Failed-login counting and lock-out, with the time passed in (pure)."""

    failures: dict[str, int] = field(default_factory=dict)
    locked_until: dict[str, float] = field(default_factory=dict)

    def is_locked(self, user: str, now: float) -> bool:
        until = self.locked_until.get(user)
        if until is None:
            return False
        if now >= until:
            del self.locked_until[user]
            self.failures.pop(user, None)
            return False
        return True

    def failed(self, user: str, now: float, max_retry: int, timeout_s: float) -> bool:
        """Count a failure; True when this failure locks the user."""
        n = self.failures.get(user, 0) + 1
        self.failures[user] = n
        if n >= max_retry:
            self.locked_until[user] = now + timeout_s
            return True
        return False

    def succeeded(self, user: str) -> None:
        self.failures.pop(user, None)


class Aaa:
    """Authentication for one unit. ``check`` is what every face calls."""

    name = "Aaa"

    def __init__(self, unit: Unit, clock: Callable[[], float] | None = None) -> None:
        import time

        self.unit = unit
        self.guard = LoginGuard()
        self._now = clock or time.monotonic
        unit.config.provide_rows("Aaa.UsersStatus", self._status_rows)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _user_row(self, user: str) -> dict[str, Any] | None:
        for row in self.unit.config.rows("Aaa.Users"):
            if row["UserName"] == user:  # user names are case-sensitive on the hardware
                return row
        return None

    def check(self, user: str, password: str, face: str = "Cli", peer: str = "") -> AuthResult:
        now = self._now()
        row = self._user_row(user)
        protected = row is not None and row.get("LockProtectionEnable") == "Enable"
        if protected and self.guard.is_locked(user, now):
            self.unit.log.warning("login_refused_locked", user=user, face=face, peer=peer)
            return AuthResult(False, user, reason="locked")
        if row is not None and hmac.compare_digest(str(row.get("Password", "")).encode(), password.encode()):
            self.guard.succeeded(user)
            return AuthResult(True, user, str(row.get("AccessRights", "Observer")))
        if protected:
            max_retry = int(self.unit.config.get("Aaa.LoginLockedMaxRetry") or 5)
            timeout = float(self.unit.config.get("Aaa.LoginLockedTimeoutS") or 300)
            if self.guard.failed(user, now, max_retry, timeout):
                self.unit.log.warning("user_locked", user=user, face=face, peer=peer, seconds=timeout)
                self.unit.notify("Aaa", 9001, user=user, seconds=int(timeout), failures=max_retry)
        self.unit.log.warning("login_failed", user=user, face=face, peer=peer)
        self.unit.notify("Aaa", 9002, user=user, peer=peer or "-", face=face)
        return AuthResult(False, user, reason="bad-credentials")

    def _status_rows(self) -> list[dict[str, Any]]:
        now = self._now()
        return [
            {
                "UserName": r["UserName"],
                "Password": "",  # never shown
                "Locked": "Locked" if self.guard.is_locked(str(r["UserName"]), now) else "Unlocked",
            }
            for r in self.unit.config.rows("Aaa.Users")
        ]

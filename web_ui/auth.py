"""Web sessions and CSRF tokens of one unit's web interface (pure bookkeeping, time passed in).

A login is checked by the unit's ``Aaa`` (``Aaa.Users``, lock-out shared with the CLI and the API).
A successful login creates a session: a random id sent in a cookie (HttpOnly, SameSite=Strict, and
Secure when served over HTTPS) and a random CSRF token that every state-changing form carries in
the hidden ``csrf`` field. The login form itself is protected by a double-submit token (a
pre-login cookie that must equal the form's field). Sessions live in the engine, not in the
aiohttp application, so restarting the Web service keeps users logged in, as the hardware does.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from emulator.engines.aaa import AuthResult

__all__ = ["COOKIE", "LOGIN_COOKIE", "SESSION_IDLE_S", "Flash", "Session", "SessionStore", "same_token"]

COOKIE = "DGWSESSION"
LOGIN_COOKIE = "DGWLOGIN"
SESSION_IDLE_S = 1800.0
MAX_SESSIONS = 64


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison; an absent or empty token never matches."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(slots=True)
class Session:
    sid: str
    auth: AuthResult
    csrf: str
    last_seen: float
    flash: list[Flash] = field(default_factory=list)

    @property
    def user(self) -> str:
        return self.auth.user

    def tell(self, text: str, ok: bool = True) -> None:
        self.flash.append(Flash(text, ok))


@dataclass
class SessionStore:
    idle_s: float = SESSION_IDLE_S
    sessions: dict[str, Session] = field(default_factory=dict)

    def create(self, auth: AuthResult, now: float) -> Session:
        self.expire(now)
        if len(self.sessions) >= MAX_SESSIONS:  # drop the least recently used
            oldest = min(self.sessions.values(), key=lambda s: s.last_seen)
            del self.sessions[oldest.sid]
        s = Session(secrets.token_urlsafe(32), auth, secrets.token_urlsafe(32), now)
        self.sessions[s.sid] = s
        return s

    def get(self, sid: str | None, now: float) -> Session | None:
        if not sid:
            return None
        s = self.sessions.get(sid)
        if s is None:
            return None
        if now - s.last_seen > self.idle_s:
            del self.sessions[sid]
            return None
        s.last_seen = now
        return s

    def drop(self, sid: str | None) -> None:
        if sid:
            self.sessions.pop(sid, None)

    def drop_user(self, user: str) -> None:
        """A deleted user or changed rights: their sessions end."""
        for sid in [k for k, s in self.sessions.items() if s.user == user]:
            del self.sessions[sid]

    def expire(self, now: float) -> None:
        for sid in [k for k, s in self.sessions.items() if now - s.last_seen > self.idle_s]:
            del self.sessions[sid]


@dataclass(frozen=True, slots=True)
class Flash:
    """A message shown once at the top of the next page: a result, or a refusal (``ok`` False, in red)."""

    text: str
    ok: bool = True

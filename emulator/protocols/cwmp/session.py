"""The CPE side of a CWMP session as a pure state machine (TR-069 §3.7 "Session procedures").

:class:`CwmpSession` is fed with HTTP responses and the time and answers with the next HTTP request to make
(and its deadline) or a :class:`SessionEnd`; it never touches a socket. It handles:

- the Inform / InformResponse exchange, then the CPE's own requests (TransferComplete...) unless the ACS
  sets ``HoldRequests`` (A.4.1.2), then the empty POST and the ACS's requests until the ACS answers an empty
  body (§3.7.2.4 session termination);
- HTTP authentication to the ACS (§3.4.4): Basic, or Digest (RFC 2617 ``qop=auth``, MD5/MD5-sess), retried
  once per challenge; a second 401 ends the session with ``auth_failed``;
- HTTP cookies (§3.4.2: the CPE MUST return every cookie the ACS set, for the whole session);
- the namespace: the CPE answers in the cwmp namespace the ACS used.

:class:`EventQueue` keeps the Inform events with the retention rules of TR-069 §3.7.1.5 / Table 7, and
:func:`retry_wait` gives the session retry back-off of §3.2.1.1. :class:`DigestServer` checks the digest
credentials of connection requests (§3.2.2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from emulator.protocols.cwmp.soap import (
    DEFAULT_NS,
    CwmpFault,
    Envelope,
    SoapError,
    build_envelope,
    fault_body,
    parse_envelope,
)

__all__ = [
    "MULTIPLE_EVENTS",
    "CpeRequest",
    "CwmpSession",
    "DigestServer",
    "EventQueue",
    "HttpRequest",
    "SessionEnd",
    "answer_challenges",
    "authorization",
    "digest_authorization",
    "parse_challenge",
    "retry_wait",
]

USER_AGENT = "Mediatrix DGW (dgw-emulator) CWMP"
MULTIPLE_EVENTS = frozenset({"M Reboot", "M Download", "M Upload", "M ScheduleInform", "M ScheduleDownload"})
# Held until the TransferCompleteResponse (Table 7 "7 TRANSFER COMPLETE", "M Download", "M Upload").
TRANSFER_EVENTS = frozenset({"7 TRANSFER COMPLETE", "M Download", "M Upload"})
# Discarded on reboot: cumulative events that describe the previous life (Table 7).
DISCARD_ON_BOOT = frozenset({"2 PERIODIC", "4 VALUE CHANGE", "6 CONNECTION REQUEST", "1 BOOT"})


def retry_wait(retry: int, minimum: float = 5.0, multiplier: int = 2000, rnd: random.Random | None = None) -> float:
    """Seconds before retry number ``retry`` (1-based): uniform in [m*(k/1000)^(n-1), m*(k/1000)^n],
    the exponent capped at 10 (TR-069 §3.2.1.1, Table 3; defaults m=5 s, k=2000)."""
    n = max(1, min(retry, 10))
    k = multiplier / 1000.0
    lo, hi = minimum * k ** (n - 1), minimum * k**n
    return (rnd or random).uniform(lo, hi)


@dataclass(slots=True)
class EventQueue:
    """Undelivered Inform events (code, command key) and pending TransferCompletes, persisted by the engine."""

    events: list[tuple[str, str]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)  # TransferComplete arguments
    changed: list[str] = field(default_factory=list)  # parameters for "4 VALUE CHANGE"

    def add(self, code: str, command_key: str = "") -> None:
        if code in MULTIPLE_EVENTS:
            if (code, command_key) not in self.events:
                self.events.append((code, command_key))
            return
        if code == "0 BOOTSTRAP":
            # A bootstrap replaces everything undelivered except transfer results (§3.7.1.5 note).
            self.events = [e for e in self.events if e[0] in TRANSFER_EVENTS or e[0] in ("1 BOOT", "M Reboot")]
            self.changed.clear()
        if all(c != code for c, _ in self.events):
            self.events.append((code, ""))

    def on_boot(self) -> None:
        self.events = [e for e in self.events if e[0] not in DISCARD_ON_BOOT]
        self.changed.clear()
        self.add("1 BOOT")

    def on_failure(self) -> None:
        """A session that failed: a connection request is not retried (Table 7)."""
        self.events = [e for e in self.events if e[0] != "6 CONNECTION REQUEST"]

    def delivered(self, sent: Sequence[tuple[str, str]], changed: Sequence[str]) -> None:
        """InformResponse received: the events sent are delivered, except transfer ones (held)."""
        self.events = [e for e in self.events if e not in sent or e[0] in TRANSFER_EVENTS]
        self.changed = [c for c in self.changed if c not in changed]

    def transfer_acknowledged(self, command_key: str) -> None:
        self.transfers = [t for t in self.transfers if t["command_key"] != command_key]
        self.events = [
            e for e in self.events
            if not (e[0] == "7 TRANSFER COMPLETE" and not self.transfers)
            and not (e[0] in ("M Download", "M Upload") and e[1] == command_key)
        ]

    def to_doc(self) -> dict[str, Any]:
        return {"events": [list(e) for e in self.events], "transfers": self.transfers, "changed": self.changed}

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> EventQueue:
        return cls(
            [(str(a), str(b)) for a, b in d.get("events", [])],
            [dict(t) for t in d.get("transfers", [])],
            [str(c) for c in d.get("changed", [])],
        )


@dataclass(slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    deadline: float


@dataclass(slots=True)
class SessionEnd:
    ok: bool
    reason: str = ""
    auth_failed: bool = False
    http_status: int | None = None


@dataclass(slots=True)
class CpeRequest:
    """A request the CPE sends after the InformResponse (TransferComplete, GetRPCMethods)."""

    method: str
    body: str | Callable[[str], str]  # text, or built for the namespace the ACS speaks
    on_response: Callable[[Envelope], None] | None = None


# ---------------------------------------------------------------------- HTTP authentication (RFC 2617)
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Digest realm="x", nonce="y"`` -> ("digest", {...}); scheme lower-cased."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        v = m.group(2)
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[m.group(1).lower()] = v
    return scheme.lower(), params


def _h(text: str, algorithm: str = "MD5") -> str:
    name = "sha256" if algorithm.upper().startswith("SHA-256") else "md5"
    return hashlib.new(name, text.encode()).hexdigest()


def digest_authorization(ch: dict[str, str], method: str, uri: str, username: str, password: str,
                         nc: int, cnonce: str | None = None) -> str:
    algorithm = ch.get("algorithm", "MD5")
    realm, nonce = ch.get("realm", ""), ch.get("nonce", "")
    cnonce = cnonce or os.urandom(8).hex()
    ha1 = _h(f"{username}:{realm}:{password}", algorithm)
    if algorithm.upper().endswith("-SESS"):
        ha1 = _h(f"{ha1}:{nonce}:{cnonce}", algorithm)
    ha2 = _h(f"{method}:{uri}", algorithm)
    qops = [q.strip() for q in ch.get("qop", "").split(",") if q.strip()]
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in qops:
        ncs = f"{nc:08x}"
        resp = _h(f"{ha1}:{nonce}:{ncs}:{cnonce}:auth:{ha2}", algorithm)
        parts += ["qop=auth", f"nc={ncs}", f'cnonce="{cnonce}"']
    else:
        resp = _h(f"{ha1}:{nonce}:{ha2}", algorithm)
    parts.append(f'response="{resp}"')
    if "opaque" in ch:
        parts.append(f'opaque="{ch["opaque"]}"')
    if "algorithm" in ch:
        parts.append(f"algorithm={algorithm}")
    return "Digest " + ", ".join(parts)


def authorization(challenge: tuple[str, dict[str, str]], method: str, url: str, username: str, password: str,
                  nc: int = 1) -> str:
    """The ``Authorization`` answering a parsed challenge (:func:`parse_challenge`): Basic (RFC 7617), or
    Digest (RFC 2617) for the path of ``url`` with nonce count ``nc``."""
    scheme, params = challenge
    if scheme == "basic":
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    rest = url.split("://", 1)[-1]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return digest_authorization(params, method, path, username, password, nc)


def answer_challenges(challenges: Sequence[str], method: str, url: str, username: str, password: str) -> str:
    """The ``Authorization`` for a 401's ``WWW-Authenticate`` headers: Digest when offered, else Basic."""
    parsed = [parse_challenge(c) for c in challenges]
    digest = next((p for p in parsed if p[0] == "digest"), None)
    return authorization(digest or ("basic", {}), method, url, username, password)


class DigestServer:
    """Digest authentication of connection requests (TR-069 §3.2.2): stateless nonces (HMAC of their
    time), valid ``lifetime`` seconds; ``qop=auth``; the password is never logged."""

    def __init__(self, realm: str, lifetime: float = 300.0, secret: bytes | None = None) -> None:
        self.realm = realm
        self.lifetime = lifetime
        self._secret = secret or os.urandom(16)

    def _nonce(self, ts: int) -> str:
        mac = hmac.new(self._secret, str(ts).encode(), hashlib.sha256).hexdigest()[:24]
        return f"{ts:x}-{mac}"

    def challenge(self, now: float | None = None) -> str:
        ts = int(now if now is not None else time.time())
        return f'Digest realm="{self.realm}", qop="auth", nonce="{self._nonce(ts)}", algorithm=MD5'

    def verify(self, authorization: str | None, method: str, username: str, password: str,
               now: float | None = None) -> bool:
        if not authorization:
            return False
        scheme, p = parse_challenge(authorization)
        if scheme != "digest" or p.get("realm") != self.realm or p.get("username") != username:
            return False
        nonce = p.get("nonce", "")
        ts_text, _, _ = nonce.partition("-")
        try:
            ts = int(ts_text, 16)
        except ValueError:
            return False
        t = now if now is not None else time.time()
        if not hmac.compare_digest(self._nonce(ts), nonce) or not (t - self.lifetime <= ts <= t + 5):
            return False
        if p.get("algorithm", "MD5").upper() != "MD5":
            return False
        ha1 = _h(f"{username}:{self.realm}:{password}")
        ha2 = _h(f"{method}:{p.get('uri', '')}")
        if p.get("qop") == "auth":
            want = _h(f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}")
        else:
            want = _h(f"{ha1}:{nonce}:{ha2}")
        return hmac.compare_digest(want, p.get("response", ""))


# ---------------------------------------------------------------------- the session
class CwmpSession:
    """One CPE-initiated session. ``handler(envelope) -> body`` answers the ACS's requests (RpcHandler)."""

    MAX_MESSAGES = 5000  # an ACS looping forever ends the session

    def __init__(
        self,
        url: str,
        inform: str,
        handler: Callable[[Envelope], str],
        *,
        username: str = "",
        password: str = "",
        cpe_requests: Sequence[CpeRequest] = (),
        ns: str = DEFAULT_NS,
        timeout: float = 30.0,
        id_prefix: str = "cpe",
    ) -> None:
        self.url = url
        self.inform = inform
        self.handler = handler
        self.username = username
        self.password = password
        self.cpe_requests = list(cpe_requests)
        self.ns = ns
        self.timeout = timeout
        self.state = "idle"  # idle | inform | cpe-request | acs | done
        self.hold = False
        self.cookies: dict[str, str] = {}
        self.inform_acknowledged = False
        self.messages = 0
        self._ids = 0
        self._id_prefix = id_prefix
        self._challenge: tuple[str, dict[str, str]] | None = None
        self._nc = 0
        self._auth_tries = 0
        self._last: tuple[str, bytes] | None = None  # (kind, body) of the request in flight
        self._pending: CpeRequest | None = None
        self.acs_max_envelopes = 1

    # -------------------------------------------------------------- outputs
    def _new_id(self) -> str:
        self._ids += 1
        return f"{self._id_prefix}-{self._ids}"

    def _authorization(self) -> str | None:
        if self._challenge is None or not self.username:
            return None
        self._nc += 1
        return authorization(self._challenge, "POST", self.url, self.username, self.password, self._nc)

    def _request(self, body: bytes, now: float, is_request: bool) -> HttpRequest:
        headers = {"User-Agent": USER_AGENT}
        if body:
            headers["Content-Type"] = 'text/xml; charset="utf-8"'
            if is_request:
                headers["SOAPAction"] = '""'
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        auth = self._authorization()
        if auth:
            headers["Authorization"] = auth
        self.messages += 1
        self._last_is_request = is_request
        self._last = (self.state, body)
        return HttpRequest("POST", self.url, headers, body, now + self.timeout)

    def start(self, now: float) -> HttpRequest:
        self.state = "inform"
        body = build_envelope(self.ns, self._new_id(), self.inform)
        return self._request(body, now, True)

    def timeout_expired(self, now: float) -> SessionEnd:
        return self._failed("timeout")

    def transport_error(self, reason: str) -> SessionEnd:
        return self._failed(reason)

    def _failed(self, reason: str, *, auth_failed: bool = False, http_status: int | None = None) -> SessionEnd:
        """The session ends without success."""
        self.state = "done"
        return SessionEnd(False, reason, auth_failed, http_status)

    # -------------------------------------------------------------- input
    def receive(self, status: int, headers: Sequence[tuple[str, str]], body: bytes,
                now: float) -> HttpRequest | SessionEnd:
        if self.state in ("idle", "done"):
            raise RuntimeError(f"receive() in state {self.state}")
        for k, v in headers:
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0].strip()
                if name.strip():
                    self.cookies[name.strip()] = value
        if status == 401:
            return self._auth_challenge(headers, now)
        self._auth_tries = 0
        if status not in (200, 204):
            return self._failed(f"HTTP {status}", http_status=status)
        if self.messages > self.MAX_MESSAGES:
            return self._failed("too many messages")
        empty = not body.strip()
        if self.state == "inform":
            return self._after_inform(empty, body, now)
        if self.state == "cpe-request":
            return self._after_cpe_request(empty, body, now)
        return self._acs_message(empty, body, now)

    def _auth_challenge(self, headers: Sequence[tuple[str, str]], now: float) -> HttpRequest | SessionEnd:
        chs = [parse_challenge(v) for k, v in headers if k.lower() == "www-authenticate"]
        chosen = next((c for c in chs if c[0] == "digest"), None) or next((c for c in chs if c[0] == "basic"), None)
        self._auth_tries += 1
        stale = chosen is not None and chosen[1].get("stale", "").lower() == "true"
        if chosen is None or not self.username or (self._auth_tries > 1 and not stale) or self._auth_tries > 3:
            return self._failed("authentication failed", auth_failed=True, http_status=401)
        self._challenge = chosen
        self._nc = 0
        assert self._last is not None
        state, body = self._last
        self.state = state
        return self._request(body, now, self._last_is_request)

    def _answer(self, empty: bool, body: bytes, to: str) -> Envelope | SessionEnd:
        """The ACS's envelope answering ``to``; an empty answer or a bad envelope ends the session."""
        if empty:
            return self._failed(f"empty answer to {to}")
        try:
            return parse_envelope(body)
        except SoapError as e:
            return self._failed(f"bad envelope from ACS: {e}")

    def _after_inform(self, empty: bool, body: bytes, now: float) -> HttpRequest | SessionEnd:
        env = self._answer(empty, body, "Inform")
        if isinstance(env, SessionEnd):
            return env
        if env.method != "InformResponse":
            return self._failed(f"ACS answered Inform with {env.method} {env.fault_code or ''}".strip())
        self.ns = env.ns
        self.hold = env.hold_requests
        self.inform_acknowledged = True
        return self._next_cpe_step(now)

    def _next_cpe_step(self, now: float) -> HttpRequest:
        if self.cpe_requests and not self.hold:
            self._pending = self.cpe_requests.pop(0)
            self.state = "cpe-request"
            body = self._pending.body
            text = body if isinstance(body, str) else body(self.ns)
            return self._request(build_envelope(self.ns, self._new_id(), text), now, True)
        self.state = "acs"
        return self._request(b"", now, False)

    def _after_cpe_request(self, empty: bool, body: bytes, now: float) -> HttpRequest | SessionEnd:
        env = self._answer(empty, body, "a CPE request")
        if isinstance(env, SessionEnd):
            return env
        assert self._pending is not None
        if env.method == self._pending.method + "Response":
            if self._pending.on_response is not None:
                self._pending.on_response(env)
            self.hold = env.hold_requests
            self._pending = None
            return self._next_cpe_step(now)
        if env.method == "Fault":
            return self._failed(f"ACS fault {env.fault_code} to {self._pending.method}")
        # The ACS may send a request instead of the answer while HoldRequests... treat it as a request.
        self.cpe_requests.insert(0, self._pending)
        self._pending = None
        self.state = "acs"
        return self._acs_request(env, now)

    def _acs_message(self, empty: bool, body: bytes, now: float) -> HttpRequest | SessionEnd:
        if empty:
            self.hold = False
            if self.cpe_requests:
                return self._next_cpe_step(now)
            self.state = "done"
            return SessionEnd(True, "ACS has no more requests")
        try:
            env = parse_envelope(body)
        except SoapError as e:
            # Answer the broken request with a fault (no ID to echo) and carry on.
            f = CwmpFault(e.fault, str(e))
            return self._request(build_envelope(self.ns, None, fault_body(f.code, f"{f.string}: {e}")), now, False)
        return self._acs_request(env, now)

    def _acs_request(self, env: Envelope, now: float) -> HttpRequest | SessionEnd:
        self.hold = env.hold_requests
        if env.method == "Fault" or env.method.endswith("Response"):
            return self._next_cpe_step(now)  # nothing to answer
        self.ns = env.ns
        answer = self.handler(env)
        self.state = "acs"
        return self._request(build_envelope(self.ns, env.id, answer), now, False)

"""Digest authentication for SIP (RFC 3261 §22.4 over RFC 2617 §3.2; RFC 8760 SHA-256 and SHA-512/256).

``compute_response`` is the arithmetic of RFC 2617 §3.2.2.1-3.2.2.3 (RFC 7616 §3.4.1-3.4.3 for the
SHA algorithms): ``A1 = user:realm:password`` (``-sess``: ``H(A1):nonce:cnonce``), ``A2 = method:uri``
(``auth-int``: ``:H(body)``), response ``KD(H(A1), nonce:nc:cnonce:qop:H(A2))`` with qop, or
``KD(H(A1), nonce:H(A2))`` without (RFC 2069 compatibility).

:class:`DigestClient` is the UAC: it picks the challenge (RFC 8760 §2.4: for a realm, the first
challenge whose algorithm it supports, servers list their preferred one first), counts nonce uses
(``nc``, RFC 2617 §3.2.2) and builds the Authorization / Proxy-Authorization value.
:class:`DigestServer` is the UAS/registrar side used by tests and the lab registrar: stateless
nonces (time and an HMAC), stale detection, and nonce-count replay refusal. Time is passed in.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from emulator.protocols.sip.errors import SipError
from emulator.protocols.sip.headers import Challenge, Credentials

__all__ = [
    "ALGORITHMS",
    "DigestClient",
    "DigestError",
    "DigestServer",
    "Verdict",
    "compute_ha1",
    "compute_response",
]


def _sha512_256(data: bytes) -> str:
    return hashlib.new("sha512_256", data).hexdigest()


_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
if "sha512_256" in hashlib.algorithms_available:
    _HASHES["SHA-512-256"] = _sha512_256

#: Supported algorithm names (upper-case), strongest first; ``-sess`` variants included.
ALGORITHMS: tuple[str, ...] = tuple(
    name for base in ("SHA-512-256", "SHA-256", "MD5") if base in _HASHES for name in (base, base + "-SESS")
)


class DigestError(SipError):
    """No usable challenge, or unusable credentials (answered with 401/407 by a server)."""

    status_code = 401


def _hash_for(algorithm: str) -> Callable[[bytes], str]:
    base = algorithm.upper()
    if base.endswith("-SESS"):
        base = base[:-5]
    try:
        return _HASHES[base]
    except KeyError:
        raise DigestError(f"unsupported digest algorithm {algorithm!r}") from None


def compute_ha1(algorithm: str, username: str, realm: str, password: str, nonce: str = "",
                cnonce: str = "") -> str:
    """``H(A1)`` (RFC 2617 §3.2.2.2): also what a registrar may store instead of the password."""
    h = _hash_for(algorithm)
    ha1 = h(f"{username}:{realm}:{password}".encode())
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}".encode())
    return ha1


def compute_response(*, algorithm: str = "MD5", username: str, realm: str, password: str | None = None,
                     method: str, uri: str, nonce: str, qop: str | None = None, nc: str | None = None,
                     cnonce: str | None = None, body: bytes = b"", ha1: str | None = None) -> str:
    """The ``response`` value (RFC 2617 §3.2.2.1). Pass ``password`` or a precomputed plain ``ha1``."""
    h = _hash_for(algorithm)
    if ha1 is None:
        if password is None:
            raise DigestError("a password or H(A1) is needed")
        ha1 = compute_ha1(algorithm, username, realm, password, nonce, cnonce or "")
    elif algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce or ''}".encode())
    if qop == "auth-int":
        ha2 = h(f"{method}:{uri}:{h(body)}".encode())
    else:
        ha2 = h(f"{method}:{uri}".encode())
    if qop:
        if nc is None or cnonce is None:
            raise DigestError("qop needs nc and cnonce")
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())
    return h(f"{ha1}:{nonce}:{ha2}".encode())


# ---------------------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class DigestClient:
    """UAC credentials for one account; answers 401/407 challenges (RFC 3261 §22.2, §22.3).

    ``cnonce_factory`` returns a fresh client nonce (random by default; fixed in tests). The nonce
    count of each (realm, nonce) is remembered, so reusing a nonce sends ``nc=00000002`` and so on.
    """

    username: str
    password: str
    algorithms: tuple[str, ...] = ALGORITHMS
    cnonce_factory: Callable[[], str] = field(default=lambda: secrets.token_hex(8))
    _counts: dict[tuple[str, str], int] = field(default_factory=dict, init=False, repr=False)

    def choose(self, challenges: Iterable[Challenge]) -> Challenge:
        """The challenge to answer: Digest, first supported algorithm per RFC 8760 §2.4 (server order)."""
        supported = {a.upper() for a in self.algorithms}
        for challenge in challenges:
            if challenge.scheme.lower() == "digest" and challenge.algorithm.upper() in supported:
                return challenge
        raise DigestError("no Digest challenge with a supported algorithm")

    def authorize(self, challenges: Challenge | Iterable[Challenge], method: str, uri: str,
                  body: bytes = b"") -> Credentials:
        """Credentials answering ``challenges`` for a request ``method`` to ``uri`` (the Request-URI)."""
        challenge = self.choose([challenges] if isinstance(challenges, Challenge) else challenges)
        realm = challenge.realm or ""
        nonce = challenge.nonce or ""
        offered = challenge.qop_options
        qop = "auth" if "auth" in offered else ("auth-int" if "auth-int" in offered else None)
        params: dict[str, str] = {"username": self.username, "realm": realm, "nonce": nonce, "uri": uri}
        nc = cnonce = None
        if qop is not None or challenge.algorithm.upper().endswith("-SESS"):
            cnonce = self.cnonce_factory()
        if qop is not None:
            count = self._counts.get((realm, nonce), 0) + 1
            self._counts[(realm, nonce)] = count
            nc = f"{count:08x}"
        params["response"] = compute_response(
            algorithm=challenge.algorithm, username=self.username, realm=realm, password=self.password,
            method=method, uri=uri, nonce=nonce, qop=qop, nc=nc, cnonce=cnonce, body=body)
        if "algorithm" in challenge.params:
            params["algorithm"] = challenge.params["algorithm"]
        if cnonce is not None:
            params["cnonce"] = cnonce
        if challenge.opaque is not None:
            params["opaque"] = challenge.opaque
        if qop is not None and nc is not None:
            params["qop"] = qop
            params["nc"] = nc
        return Credentials("Digest", params)

    def forget(self, realm: str | None = None) -> None:
        """Drop the nonce counts (all, or one realm's) after a stale nonce or a new registration."""
        if realm is None:
            self._counts.clear()
        else:
            for key in [k for k in self._counts if k[0] == realm]:
                del self._counts[key]


class Verdict(enum.Enum):
    """Outcome of :meth:`DigestServer.verify`."""

    OK = "ok"
    STALE = "stale"  # right password, expired nonce: challenge again with stale=true
    BAD = "bad"  # wrong response, realm, user or a nonce we never issued
    REPLAY = "replay"  # nonce count not above the last one seen


@dataclass(slots=True)
class DigestServer:
    """Issues challenges and checks credentials (a registrar or UAS; RFC 2617 §3.2.1, §3.2.2, §3.3).

    Nonces are ``<issue time hex>.<HMAC(secret, time:realm)>``: stateless, unforgeable and dated.
    ``nonce_ttl`` seconds later they are stale. The highest ``nc`` seen per nonce is kept to refuse
    replays.
    """

    realm: str
    secret: bytes
    algorithm: str = "MD5"
    qop: str | None = "auth"
    nonce_ttl: float = 300.0
    opaque: str | None = None
    _last_nc: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def _nonce_mac(self, stamp: str) -> str:
        return hmac.new(self.secret, f"{stamp}:{self.realm}".encode(), hashlib.sha256).hexdigest()[:32]

    def make_nonce(self, now: float) -> str:
        stamp = f"{int(now * 1000):x}"
        return f"{stamp}.{self._nonce_mac(stamp)}"

    def challenge(self, now: float, *, stale: bool = False) -> Challenge:
        """A WWW-Authenticate / Proxy-Authenticate challenge with a fresh nonce."""
        params = {"realm": self.realm, "nonce": self.make_nonce(now), "algorithm": self.algorithm}
        if self.qop:
            params["qop"] = self.qop
        if self.opaque is not None:
            params["opaque"] = self.opaque
        if stale:
            params["stale"] = "true"
        return Challenge("Digest", params)

    def verify(self, credentials: Credentials, method: str, now: float, *, password: str | None = None,
               ha1: str | None = None, body: bytes = b"") -> Verdict:
        """Check ``credentials`` for a request ``method`` (RFC 2617 §3.2.2); give ``password`` or ``ha1``."""
        p = credentials.params
        if credentials.scheme.lower() != "digest" or p.get("realm") != self.realm:
            return Verdict.BAD
        nonce = p.get("nonce", "")
        stamp, dot, mac = nonce.partition(".")
        if not dot or not hmac.compare_digest(mac, self._nonce_mac(stamp)):
            return Verdict.BAD
        try:
            issued = int(stamp, 16) / 1000
        except ValueError:
            return Verdict.BAD
        algorithm = p.get("algorithm", "MD5")
        if algorithm.upper() != self.algorithm.upper():
            return Verdict.BAD
        qop = p.get("qop")
        if self.qop and qop not in (self.qop.split(",") if self.qop else ()):
            return Verdict.BAD
        nc_text = p.get("nc")
        try:
            expected = compute_response(
                algorithm=algorithm, username=p.get("username", ""), realm=self.realm, password=password,
                ha1=ha1, method=method, uri=p.get("uri", ""), nonce=nonce, qop=qop, nc=nc_text,
                cnonce=p.get("cnonce"), body=body)
        except DigestError:
            return Verdict.BAD
        if not hmac.compare_digest(expected, p.get("response", "")):
            return Verdict.BAD
        if now - issued > self.nonce_ttl:
            return Verdict.STALE
        if qop:
            try:
                nc = int(nc_text or "", 16)
            except ValueError:
                return Verdict.BAD
            if nc <= self._last_nc.get(nonce, 0):
                return Verdict.REPLAY
            self._last_nc[nonce] = nc
        return Verdict.OK

    def expire(self, now: float) -> None:
        """Forget nonce counts of nonces past their lifetime (keeps the table bounded)."""
        for nonce in list(self._last_nc):
            try:
                issued = int(nonce.partition(".")[0], 16) / 1000
            except ValueError:
                issued = 0
            if now - issued > self.nonce_ttl:
                del self._last_nc[nonce]

"""SipEp registrations (RFC 3261 §10): one per endpoint of ``SipEp.UserAgent`` with ``Register`` = Enable and
a ``Username`` (on its ``GatewayName``, ``all`` = every gateway), plus ``SipEp.UnitRegistrations``.

* REGISTER to the target in use of the registrar — of the outbound proxy when one is set — with digest
  credentials from ``SipEp.Authentication`` (one challenge answered, a stale nonce once more), moving on to
  the next resolved target while the gateway's failover conditions say so, each target once.
* Refresh ``…RegistrationRefreshTime`` seconds before expiry (half-way for short grants), retry after
  ``…RegistrationRetryTime``. Each refresh or retry is due at one time and fires once for it
  (:mod:`emulator.runtime.timers`): a timer that wakes early goes back to sleep.
* The binding is the Contact the registrar accepted: refreshes and the un-REGISTER name exactly that
  Contact (§10.2.2: a binding is removed by its own Contact), whatever changed since — a changed
  ``SipEp.TransportConfig.ContactEnable`` or port takes effect at the next new registration, after a
  restart, so that the old binding is removed and never left to fork calls for up to an hour.
* States (``SipEp.RegistrationStatus``): Registering, Registered, Refreshing, Unregistering, Unregistered,
  Unreachable (no answer, link down), AuthFailed, Rejected (other final responses), ConfigError,
  InvalidResponse. Notifications: 9004 registered, 9005 rejected, 9006 authentication failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.engines.sipep.links import Links
from emulator.engines.sipep.servers import ServerSelection
from emulator.engines.sipep.settings import GatewayRuntime, ServerAddr, Settings
from emulator.engines.sipep.ua import UserAgent
from emulator.protocols.sip.dialog import build_request, new_call_id, new_tag
from emulator.protocols.sip.digest import DigestClient, DigestError
from emulator.protocols.sip.headers import Address
from emulator.protocols.sip.message import Request, Response
from emulator.protocols.sip.target import Target
from emulator.protocols.sip.uri import Uri
from emulator.protocols.sip.validate import DGW_METHODS
from emulator.runtime.timers import Deadline, sleep_until

__all__ = ["Registration", "Registrations"]


@dataclass(slots=True)
class Registration:
    """One registration (a ``SipEp.RegistrationStatus`` row) and its binding."""

    index: int
    gateway: str
    endpoint: str
    username: str
    state: str = "Unregistered"
    registrar: str = ""
    call_id: str = field(default_factory=new_call_id)
    from_tag: str = field(default_factory=new_tag)
    cseq: int = 0
    expires: int = 0
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_status: int | None = None
    contact: Address | None = None  # the Contact the registrar bound (None: no binding known)


class Registrations:
    """The registrations of one unit's SipEp service (see the module docstring)."""

    def __init__(self, unit: Any, settings: Settings, ua: UserAgent, servers: ServerSelection, links: Links, *,
                 now: Callable[[], float], unregister_timeout: float = 2.0) -> None:
        self.unit, self.settings, self.ua, self.servers, self.links = unit, settings, ua, servers, links
        self.now = now  # the clock refreshes are due on (the loop's; tests inject one that wakes early)
        self.unregister_timeout = unregister_timeout
        self.items: list[Registration] = []

    # ------------------------------------------------------------------ configuration and status
    def read(self, gateways: dict[str, GatewayRuntime]) -> list[Registration]:
        """The registrations the configuration asks for (not started)."""
        regs: list[Registration] = []
        for row in self.settings.endpoint_rows():
            if row.get("Register") != "Enable" or not row.get("Username"):
                continue
            wanted = str(row.get("GatewayName") or "all")
            for gw in gateways.values():
                if wanted.lower() in ("all", gw.name.lower()):
                    regs.append(Registration(len(regs) + 1, gw.name, str(row["EpId"]), str(row["Username"])))
        for row in self.settings.rows("SipEp.UnitRegistrations"):
            gw_name = str(row.get("GatewayName") or "")
            if row.get("Username") and gw_name in gateways:
                regs.append(Registration(len(regs) + 1, gw_name, "", str(row["Username"])))
        return regs

    def rows(self) -> list[dict[str, Any]]:
        """``SipEp.RegistrationStatus``."""
        return [{"Index": r.index, "Gateway": r.gateway, "Endpoint": r.endpoint, "State": r.state,
                 "Registrar": r.registrar, "Username": r.username} for r in self.items]

    def find(self, endpoint: str) -> Registration | None:
        return next((r for r in self.items if r.endpoint == endpoint), None)

    def credentials(self, reg: Registration, realm: str) -> tuple[str, str] | None:
        """The first ``SipEp.Authentication`` row that applies to ``reg`` and ``realm``: (user, password)."""
        return self.settings.credentials_for(reg.endpoint, reg.gateway, reg.username, realm)

    # ------------------------------------------------------------------ lifecycle
    def start(self, regs: list[Registration]) -> None:
        self.items = regs

    def run(self) -> None:
        """Start every registration's loop (once the gateways are up)."""
        for reg in self.items:
            reg.task = self.ua.spawn(self._loop(reg))

    async def stop(self) -> None:
        """Un-register what is registered (within ``unregister_timeout``), then stop."""
        registered = [r for r in self.items if r.state in ("Registered", "Refreshing")]
        for reg in self.items:
            if reg.task is not None:
                reg.task.cancel()
        if registered:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*(self.register_once(r, expires=0) for r in registered),
                                                      return_exceptions=True), self.unregister_timeout)

    def stopped(self) -> None:
        for reg in self.items:
            reg.state = "Unregistered"

    def wake(self, gateway: str, *, unreachable_only: bool = False) -> None:
        """Register the gateway's registrations again now (those Unreachable only, when asked)."""
        for reg in self.items:
            if reg.gateway == gateway and (reg.state == "Unreachable" or not unreachable_only):
                reg.wake.set()

    async def _loop(self, reg: Registration) -> None:
        due = Deadline()
        while self.ua.running:
            reg.wake.clear()
            try:
                delay = await self.register_once(reg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the registration for good
                self.unit.log.exception("sip_registration_failed", endpoint=reg.endpoint, error=repr(exc))
                reg.state = "InvalidResponse"
                delay = float(self.ua.gateways[reg.gateway].retry_time)
            due.arm(self.now() + delay)
            while True:  # a refresh due at T fires once for T; a wake event (a link back up) comes at once
                woken = await sleep_until(self.now, due.due, reg.wake)
                if woken or due.poll(self.now()):
                    break

    # ------------------------------------------------------------------ one REGISTER
    def _request(self, reg: Registration, gw: GatewayRuntime, registrar: ServerAddr, expires: int,
                 auth: tuple[str, str] | None = None) -> Request:
        params: dict[str, str | None] = {}
        if self.settings.transport_in_registration(gw.name):
            params["transport"] = self.ua.transport_kind.lower()
        ruri = Uri("sip", host=registrar.host, port=registrar.port or None, params=params)
        aor = Uri("sip", user=reg.username, host=gw.domain)
        reg.cseq += 1
        headers = [("Expires", str(expires)), ("Allow", ", ".join(sorted(DGW_METHODS))), *self.ua.ua_headers()]
        if auth is not None:
            headers.insert(0, auth)
        # the binding stands: refresh or remove exactly the Contact the registrar bound (§10.2.1, §10.2.2)
        contact = reg.contact or Address(self.ua.contact_uri(gw.name, reg.username))
        return build_request("REGISTER", ruri, from_=Address(aor).with_tag(reg.from_tag), to=Address(aor),
                             call_id=reg.call_id, cseq=reg.cseq, via=self.ua.via(gw.name), contact=contact,
                             max_forwards=self.settings.max_forwards(), headers=headers)

    async def _exchange(self, reg: Registration, gw: GatewayRuntime, registrar: ServerAddr, target: Target,
                        wanted: int) -> tuple[Request, Response | None]:
        """REGISTER to ``target``, answering one digest challenge (twice for a stale nonce)."""
        request = self._request(reg, gw, registrar, wanted)
        response = await self.ua.request(request, target, gw.name)
        tried_auth = False
        while response is not None and response.status in (401, 407) and not tried_auth:
            challenges = response.www_authenticate if response.status == 401 else response.proxy_authenticate
            realm = next((c.realm for c in challenges if c.realm), "") or ""
            creds = self.credentials(reg, realm)
            if creds is None:
                break
            try:
                value = DigestClient(*creds).authorize(challenges, "REGISTER", str(request.uri))
            except DigestError:
                break
            header = "Authorization" if response.status == 401 else "Proxy-Authorization"
            request = self._request(reg, gw, registrar, wanted, (header, str(value)))
            response = await self.ua.request(request, target, gw.name)
            tried_auth = True
            if response is not None and response.status in (401, 407):
                again = response.www_authenticate if response.status == 401 else response.proxy_authenticate
                if any(c.stale for c in again):
                    tried_auth = False  # a stale nonce: answer the fresh challenge once more
        return request, response

    async def register_once(self, reg: Registration, expires: int | None = None) -> float:
        """One registration attempt (see the module docstring); the delay to the next one (refresh or retry)."""
        gw = self.ua.gateways[reg.gateway]
        registrar = gw.registrar
        if registrar is None:
            reg.state = "ConfigError"
            return float(gw.retry_time)
        hop = gw.outbound or registrar  # DGW: registrations follow the outbound proxy when one is set
        wanted = expires if expires is not None else (gw.proposed or gw.expiration)
        unregister = wanted == 0
        state, chosen = await self.servers.target(gw, hop)
        if chosen is None:  # the server's name does not resolve (SipEp 9010)
            reg.state = "Unreachable"
            reg.last_status = None
            return float(gw.retry_time)
        reg.state = "Unregistering" if unregister else ("Refreshing" if reg.state == "Registered" else "Registering")
        conditions = self.servers.conditions(gw.name)
        tried: set[tuple[str, str, int]] = set()
        while True:
            tried.add(chosen.key)
            target = chosen.target(hop.host)
            self.links.ensure(gw, target)
            request, response = await self._exchange(reg, gw, registrar, target, wanted)
            if response is None:
                self.servers.reachable(gw.name, target, False)
            if unregister or not self.ua.running or not conditions.fails_over(
                    "REGISTER", None if response is None else response.status):
                break
            reason = "no answer" if response is None else f"{response.status} {response.reason}"
            nxt = self.servers.failover(gw, state, chosen, reason)
            if nxt is None or nxt.key in tried:
                break
            chosen = nxt
        previous, reg.registrar = reg.registrar, str(chosen)
        if response is None:
            reg.state = "Unreachable"
            reg.last_status = None
            return float(gw.retry_time)
        reg.last_status = response.status
        self.servers.reachable(gw.name, target, True)
        return self._outcome(reg, gw, request, response, wanted, previous)

    def _outcome(self, reg: Registration, gw: GatewayRuntime, request: Request, response: Response, wanted: int,
                 previous: str) -> float:
        """The state a final response leaves the registration in, and the delay to the next attempt."""
        if wanted == 0:
            reg.state = "Unregistered"
            if 200 <= response.status < 300:
                reg.contact = None  # the binding is gone
            return float(gw.retry_time)
        if response.status in (401, 407):
            reg.state = "AuthFailed"
            self.unit.notify("SipEp", 9006, endpoint=reg.endpoint or "unit", username=reg.username,
                             registrar=reg.registrar, gateway=gw.name)
            return float(gw.retry_time)
        if response.status >= 300:
            reg.state = "Rejected"
            self.unit.notify("SipEp", 9005, endpoint=reg.endpoint or "unit", username=reg.username,
                             registrar=reg.registrar, gateway=gw.name, status=response.status,
                             reason=response.reason)
            return float(gw.retry_time)
        if not 200 <= response.status < 300:
            reg.state = "InvalidResponse"
            return float(gw.retry_time)
        granted = granted_expiry(response, request, wanted)
        was = reg.state
        reg.expires = granted
        reg.state = "Registered"
        reg.contact = request.contact[0] if request.contact and granted > 0 else None
        if was == "Registering" or previous != reg.registrar:  # a new registration, or one on another server
            self.unit.notify("SipEp", 9004, endpoint=reg.endpoint or "unit", username=reg.username,
                             registrar=reg.registrar, gateway=gw.name)
        if granted <= 0:
            return float(gw.retry_time)
        refresh = granted - gw.refresh_time if granted > 2 * gw.refresh_time else granted / 2
        return max(1.0, float(refresh))


def granted_expiry(response: Response, request: Request, wanted: int) -> int:
    """The expiry the registrar granted our Contact (its ``expires`` parameter, else ``Expires``, §10.2.4)."""
    mine = request.contact[0].uri if request.contact else None
    with contextlib.suppress(Exception):
        for contact in response.contact:
            if mine is not None and contact.uri.host == mine.host and contact.uri.port == mine.port \
                    and contact.uri.user == mine.user and contact.expires is not None:
                return contact.expires
    with contextlib.suppress(Exception):
        if response.expires is not None:
            return int(response.expires)
    return wanted

"""SipEp's parameters as its objects read them: gateways and their servers, the transport, credentials and
the User-Agent header — reads only, no I/O (every change still goes through ``Config.set``).

* **Transport** — ``SipEp.TransportConfig``, first row for the whole unit (TLS is all or nothing):
  ``TlsEnable`` = Enable makes every gateway use TLS; otherwise UDP (``UdpEnable``) and/or TCP (``TcpEnable``).
  ``RegistrationEnable`` / ``ContactEnable`` of a gateway's row add ``;transport=`` to the REGISTER
  Request-URI / the Contact ("Add SIP Transport in Registration / in Contact Header").
* **Servers** per gateway — registrar ``GwSpecificRegistration[gw].ServerHost`` when its ``EnableConfig``
  is Enable, else ``DefaultStaticRegistrarServerHost``; home-domain proxy ``GwSpecificProxy`` /
  ``DefaultStaticProxyHomeDomainHost``; outbound proxy ``…OutboundHost``. ``host:0`` = the transport's
  default port; ``0.0.0.0`` / empty = none.
* **Registration timing** — ``…RefreshTime``, ``…ExpirationValue``, ``…ProposedExpirationValue``,
  ``…RetryTime``, gateway-specific when enabled.
* **Credentials** — the first ``SipEp.Authentication`` row that applies (``CriteriaSelection`` Unit /
  Endpoint / Gateway / Username, ``Realm`` when ``ValidateRealm``); an empty user name means the
  registration's own.
* **User-Agent** — ``InteropUaHeaderFormat`` (``%product%``, ``%version%``, ``%profile%``, ``%mac%``,
  ``%serial%``, ``%%``) when ``InteropSendUaHeaderEnable``.
* **URIs and Contact of a call** — ``InteropSipUriUserParameterValue`` (``;user=`` on the INVITE's Request-URI, To
  and From), ``InteropSipContactDisplayNamePresence`` (the endpoint's FriendlyName in the INVITE's Contact),
  ``InteropSiemensTransportHeaderEnable`` (``x-Siemens-Call-Type: ST-secure`` in an INVITE over TLS offering SRTP).
* **Failover conditions** — ``SipEp.GwSpecificFailover`` when enabled for the gateway, else
  ``DefaultSipFailoverConditions`` (:mod:`emulator.protocols.sip.failover`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.protocols.sip.failover import FailoverConditions, parse_conditions
from emulator.protocols.sip.target import DEFAULT_PORTS, Target
from emulator.protocols.sip.uri import Uri
from firmware_model.settings_cache import settings_cache

__all__ = ["GatewayRuntime", "ServerAddr", "Settings", "parse_host_port", "user_agent"]

_PLACEHOLDERS = {"", "0.0.0.0", "0.0.0.0:0"}


def parse_host_port(text: str) -> tuple[str, int]:
    """``host[:port]`` (IPv6 in brackets) -> (host, port); port 0 when absent."""
    text = (text or "").strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 0
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return text, 0


def user_agent(fmt: str, macros: Mapping[str, str]) -> str:
    """``SipEp.InteropUaHeaderFormat`` with its ``%macro%`` values (``%%`` is a percent sign)."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        return "%" if name == "" else macros.get(name.lower(), m.group(0))
    return re.sub(r"%([A-Za-z]*)%", sub, fmt)


@dataclass(frozen=True, slots=True)
class ServerAddr:
    """A server as configured: host (IP or name) and port (0 = the transport's default)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ServerAddr | None:
        if (text or "").strip() in _PLACEHOLDERS:
            return None
        host, port = parse_host_port(text)
        if not host or host == "0.0.0.0":
            return None
        return cls(host, port)

    def target(self, transport: str) -> Target:
        return Target(transport, self.host, self.port or DEFAULT_PORTS[transport])


@dataclass(slots=True)
class GatewayRuntime:
    """One SIP gateway (``SipEp.Gateway`` row) as running: its servers, bound ports and state."""

    name: str
    type: str
    domain: str
    registrar: ServerAddr | None
    proxy: ServerAddr | None
    outbound: ServerAddr | None
    ports: dict[str, int] = field(default_factory=dict)  # transport -> bound port
    configured_port: int = 0
    configured_secure_port: int = 0
    network_interface: str = ""
    media_networks: str = ""
    state: str = "Restarting"
    refresh_time: int = 60
    expiration: int = 3600
    proposed: int = 0
    retry_time: int = 120
    hop: Target | None = None  # the resolved target calls go to now (server selection moves it)

    def hop_server(self) -> ServerAddr | None:
        """The server requests go to first: the outbound proxy, else the proxy, else the registrar."""
        return self.outbound or self.proxy or self.registrar

    def next_hop(self, transport: str) -> Target | None:
        if self.hop is not None and self.hop.transport == transport:
            return self.hop
        server = self.hop_server()
        return server.target(transport) if server else None


class Settings:
    """Read access to the SipEp parameters of one unit (see the module docstring)."""

    def __init__(self, config: Any, host: str, macros: Callable[[], Mapping[str, str]]) -> None:
        self.config = config
        self.host = host
        self._macros = macros
        # what each call reads of whole tables (the Contact's display name, the transport row), kept until a SipEp
        # parameter changes: reading the 100-row UserAgent table per INVITE was ~5 % of a call's CPU
        self._cache = settings_cache(config, ("SipEp",))

    def get(self, name: str, default: Any = None) -> Any:
        value = self.config.get(name)
        return default if value is None else value

    def rows(self, table: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.config.rows(table)
        return rows

    # ------------------------------------------------------------------ transport
    def transport_row(self, gateway: str | None = None) -> dict[str, Any]:
        """The gateway's ``SipEp.TransportConfig`` row, else the first (a kept row: do not change it)."""
        rows = self._cache.get(("settings.rows", "SipEp.TransportConfig"), lambda: self.rows("SipEp.TransportConfig"))
        for row in rows:
            if gateway is not None and row.get("GatewayName") == gateway:
                return row
        return rows[0] if rows else {}

    def transport_kind(self) -> str:
        row = self.transport_row()  # the first row applies to the whole unit
        if row.get("TlsEnable") == "Enable":
            return "TLS"
        if row.get("UdpEnable", "Enable") == "Enable":
            return "UDP"
        if row.get("TcpEnable") == "Enable":
            return "TCP"
        return "UDP"

    def transport_in_contact(self, gateway: str) -> bool:
        return self.transport_row(gateway).get("ContactEnable") == "Enable"

    def transport_in_registration(self, gateway: str) -> bool:
        return self.transport_row(gateway).get("RegistrationEnable") == "Enable"

    # ------------------------------------------------------------------ gateways
    def gateways(self) -> dict[str, GatewayRuntime]:
        gsr = {r["GatewayName"]: r for r in self.rows("SipEp.GwSpecificRegistration")}
        gsp = {r["GatewayName"]: r for r in self.rows("SipEp.GwSpecificProxy")}
        out: dict[str, GatewayRuntime] = {}
        for row in self.rows("SipEp.Gateway"):
            name = str(row["Name"])
            reg = gsr.get(name, {})
            prx = gsp.get(name, {})
            reg_on = reg.get("EnableConfig") == "Enable"
            prx_on = prx.get("EnableConfig") == "Enable"
            registrar = ServerAddr.parse(str(reg.get("ServerHost") if reg_on else
                                             self.get("SipEp.DefaultStaticRegistrarServerHost", "")))
            proxy = ServerAddr.parse(str(prx.get("HomeDomainHost") if prx_on else
                                         self.get("SipEp.DefaultStaticProxyHomeDomainHost", "")))
            outbound = ServerAddr.parse(str(prx.get("OutboundHost") if prx_on else
                                            self.get("SipEp.DefaultStaticProxyOutboundHost", "")))
            domain = str(row.get("Domain") or self.get("SipEp.InteropRegisterHomeDomainOverride", "") or
                         (proxy.host if proxy else registrar.host if registrar else self.host))
            gw = GatewayRuntime(
                name=name, type=str(row.get("Type")), domain=domain, registrar=registrar, proxy=proxy,
                outbound=outbound, configured_port=int(row.get("Port") or 0),
                configured_secure_port=int(row.get("SecurePort") or 0),
                network_interface=str(row.get("NetworkInterface") or ""),
                media_networks=str(row.get("MediaNetworks") or ""),
            )
            if reg_on:
                gw.refresh_time = int(reg.get("RefreshTime") or 60)
                gw.expiration = int(reg.get("ExpirationValue") or 3600)
                gw.proposed = int(reg.get("ProposedExpirationValue") or 0)
                gw.retry_time = int(reg.get("RetryTime") or 120)
            else:
                gw.refresh_time = int(self.get("SipEp.DefaultRegistrationRefreshTime", 60))
                gw.expiration = int(self.get("SipEp.DefaultRegistrationExpirationValue", 3600))
                gw.proposed = int(self.get("SipEp.DefaultRegistrationProposedExpirationValue", 0))
                gw.retry_time = int(self.get("SipEp.DefaultRegistrationRetryTime", 120))
            out[name] = gw
        return out

    def conditions(self, gateway: str) -> FailoverConditions:
        """``SipEp.GwSpecificFailover`` (when enabled for the gateway), else ``DefaultSipFailoverConditions``."""
        for row in self.rows("SipEp.GwSpecificFailover"):
            if str(row.get("GatewayName")) == gateway and row.get("EnableConfig") == "Enable":
                return parse_conditions(str(row.get("SipFailoverConditions") or ""))
        return parse_conditions(str(self.get("SipEp.DefaultSipFailoverConditions", "5xxOnRegistration")))

    # ------------------------------------------------------------------ endpoints
    def endpoint_rows(self) -> list[dict[str, Any]]:
        """``SipEp.UserAgent``: one row per endpoint (EpId, Username, GatewayName, Register)."""
        return self.rows("SipEp.UserAgent")

    def credentials_for(self, endpoint: str, gateway: str, username: str, realm: str) -> tuple[str, str] | None:
        """The first ``SipEp.Authentication`` row for an endpoint (or "" for the unit), gateway, user
        name and realm (by ``CriteriaSelection``, ``ValidateRealm``): (user, password)."""
        for row in sorted(self.rows("SipEp.Authentication"), key=lambda r: int(r["Index"])):
            crit = row.get("CriteriaSelection")
            if crit == "Endpoint" and str(row.get("EpId")) != endpoint:
                continue
            if crit == "Gateway" and str(row.get("GatewayName")) != gateway:
                continue
            if crit == "Username" and str(row.get("UsernameCriteria")) != username:
                continue
            if row.get("ValidateRealm") == "Enable" and row.get("Realm") and row.get("Realm") != realm:
                continue
            return str(row.get("Username") or username), str(row.get("Password") or "")
        return None

    # ------------------------------------------------------------------ headers
    def user_agent(self) -> str | None:
        if self.get("SipEp.InteropSendUaHeaderEnable", "Enable") != "Enable":
            return None
        return user_agent(str(self.get("SipEp.InteropUaHeaderFormat", "")), self._macros())

    def max_forwards(self) -> int:
        return int(self.get("SipEp.InteropMaxForwardsValue", 70) or 70)

    def with_user_parameter(self, uri: Uri) -> Uri:
        """A SIP URI of ours with ``;user=`` ``InteropSipUriUserParameterValue`` (empty, factory: none; a URI that
        has one keeps it)."""
        value = str(self.get("SipEp.InteropSipUriUserParameterValue", "") or "")
        if not value or not uri.is_sip or "user" in uri.params:
            return uri
        return uri.copy(params={**uri.params, "user": value})

    def siemens_headers(self, transport: str, body: bytes) -> list[tuple[str, str]]:
        """``x-Siemens-Call-Type: ST-secure`` when ``InteropSiemensTransportHeaderEnable`` is Enable and the request
        goes over TLS with secure media (an RTP/SAVP offer); else none."""
        if self.get("SipEp.InteropSiemensTransportHeaderEnable", "Disable") != "Enable":
            return []
        return [("x-Siemens-Call-Type", "ST-secure")] if transport == "TLS" and b"RTP/SAVP" in body else []

    def contact_display_name(self, endpoint: str) -> str | None:
        """The display name of our Contact: the endpoint's ``UserAgent`` FriendlyName when
        ``InteropSipContactDisplayNamePresence`` is Enable (factory), none when Disable or no name."""
        def read() -> str | None:
            if self.get("SipEp.InteropSipContactDisplayNamePresence", "Enable") != "Enable":
                return None
            for row in self.endpoint_rows():
                if str(row.get("EpId")) == endpoint:
                    return str(row.get("FriendlyName") or "") or None
            return None
        return self._cache.get(("settings.contact_display_name", endpoint), read)

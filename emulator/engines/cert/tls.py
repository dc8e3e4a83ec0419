"""TLS policy of a unit: SSLContexts built from each service's DGW parameters, and peer checks.

Who uses it — every TLS user of a unit (SIP, web, TR-069, file transfers)::

    policy = tls_policy(unit, "SipEp")                  # or "Web", "Cwmp", "Conf", "Fpu", "Nlm", "Cert"...
    await policy.ready()                                # the Cert store (first boot makes the host cert)
    reader, writer = await policy.connect(host, port, local_port=16000)   # validated, or PeerRefused
    server = await policy.serve(handler, port)          # TLS server on unit.host (mutual TLS if enabled)
    ctx = policy.server_context()                       # e.g. aiohttp web.TCPSite(ssl_context=ctx)
    connector = policy.aiohttp_connector()              # aiohttp client whose peers are validated

The contexts themselves (version floor, cipher sets, mutual TLS) are :mod:`emulator.engines.cert.context`;
this module adds what needs the unit: its parameters read live, its clock, its Cert store, notifications.

* **Capabilities**: a cipher set with suites this OpenSSL cannot offer, or a version floor it had to
  raise (no SSLv3 in OpenSSL 3), raises a warning notification once per service and setting.
* **Validation** (``firmware_model.cert_validation``): done by us after the handshake, on the UNIT's
  clock (labs skew it), against the unit's Cert store; OpenSSL's own verification is off on the
  client side. A refusal closes the link and raises the Cert notification naming the peer and the
  reason. As a server asking for client certificates, OpenSSL must verify (Python offers no verify
  callback): it checks signatures and issuers against the store with time checks disabled, and the
  dates are then checked on the unit clock.
* **Trust level** ``...CertificateTrustLevel``: an OCSP query (RFC 6960) POSTed over HTTP from the
  unit's address, under ``OcspOptional``/``OcspMandatory``.
* **Key log** (emulator addition, off by default): NSS key-log lines for Wireshark in
  ``<state_dir>/tls/keylog.txt``.

The policy reads the store through :class:`CertStore` (what :class:`~emulator.engines.cert.engine.CertEngine`
offers), so the store may import the policy and not the other way round.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import Awaitable, Callable, Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from cryptography import x509

from emulator.engines.cert.context import (
    HTTPS_CIPHER_SETS,
    IANA_TO_OPENSSL,
    MAX_VERSION,
    SERVICES,
    SIP_CIPHER_SETS,
    CipherPlan,
    ServiceTls,
    TlsSettings,
    build_context,
    cipher_plan,
    handshake_refusal,
    openssl_capabilities,
    peer_chain,
    read_settings,
    version_plan,
)
from emulator.engines.cert.errors import PeerRefused, TlsError, TlsHandshakeError, TlsSetupError
from emulator.engines.cert.tls_server import TlsServerProtocol
from firmware_model.cert_validation import (
    Level,
    OcspResult,
    Reason,
    Refusal,
    TrustLevel,
    Verdict,
    apply_trust_level,
    check_ocsp_response,
    notification_for,
    ocsp_request,
    ocsp_url,
    validate,
)
from firmware_model.certs import display_name

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = [
    "HTTPS_CIPHER_SETS",
    "IANA_TO_OPENSSL",
    "MAX_VERSION",
    "SERVICES",
    "SIP_CIPHER_SETS",
    "CertStore",
    "CipherPlan",
    "PeerRefused",
    "ServiceTls",
    "TlsError",
    "TlsHandshakeError",
    "TlsPolicy",
    "TlsSettings",
    "TlsSetupError",
    "build_context",
    "cipher_plan",
    "openssl_capabilities",
    "peer_chain",
    "read_settings",
    "tls_policy",
    "version_plan",
]


class CertStore(Protocol):
    """What a TLS policy reads of the unit's Cert store (``Cert`` service; CertEngine implements it)."""

    @property
    def generation(self) -> int:
        """Bumped on every change that can alter a TLS context (the policy's cache key)."""
        ...

    async def ready(self) -> None: ...

    def keylog_path(self) -> Path | None: ...

    def host_credentials(self, association: str, usage: str) -> tuple[Path, Path] | None: ...

    def trust_anchors(self) -> tuple[x509.Certificate, ...]: ...

    def anchors_pem(self) -> str: ...

    def dh_params_path(self) -> Path: ...

    def ocsp_override(self, issuer: x509.Certificate) -> str | None: ...

    def warn_once(self, key: Hashable, msg_id: int, **fields: Any) -> None: ...


def _hostport(host: str, port: int | None) -> str:
    h = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{h}:{port}" if port is not None else h


class TlsPolicy:
    """TLS for one service of one unit; contexts are cached until its parameters or the Cert
    store change (a restarted engine calling ``client_context()`` again picks up the change)."""

    def __init__(self, unit: Unit, key: str, certs: CertStore) -> None:
        if key not in SERVICES:
            raise KeyError(f"no TLS parameters known for {key!r} (one of {', '.join(SERVICES)})")
        self.unit = unit
        self.spec = SERVICES[key]
        self.certs = certs
        self.handshake_timeout = 10.0
        self.ocsp_timeout = 3.0
        self._contexts: dict[tuple[bool, TlsSettings, int], ssl.SSLContext] = {}

    # -- settings & contexts ----------------------------------------------------------------------
    async def ready(self) -> None:
        """Wait for the unit's Cert store (its factory certificate is made at first boot). Call it
        before ``server_context()``/``client_context()`` from an engine's start."""
        await self.certs.ready()

    def settings(self) -> TlsSettings:
        keylog = self.certs.keylog_path()
        return read_settings(self.unit.config, self.spec, str(keylog) if keylog else None)

    def client_context(self) -> ssl.SSLContext:
        return self._context(server=False)

    def server_context(self) -> ssl.SSLContext:
        return self._context(server=True)

    def deferred_server_context(self) -> ssl.SSLContext:
        """A server context that takes its credentials at the first handshake: loading a host key costs ~1.3 ms,
        a unit whose web interface nobody opens never pays it (a 1,000-unit lab's start). The context has the
        service's versions, suites, DH parameters and client authentication; its SNI callback (called for every
        ClientHello, with or without a server name) swaps in the credentials of :meth:`server_context` (the versions
        and suites stay this context's). The host certificate must exist now (TlsSetupError)."""
        settings = self.settings()
        self._warn_capabilities(settings)
        generation = self.certs.generation
        if self.certs.host_credentials(self.spec.association, "TlsServer") is None:
            raise TlsSetupError(
                f"{self.spec.key}: no host certificate with usage TlsServer is associated with "
                f"{self.spec.association} (Cert.HostCertificateAssociation)"
            )
        front = build_context(settings, server=True,
                              anchors_pem=self.certs.anchors_pem() if settings.client_auth else "",
                              dh_params=self.certs.dh_params_path())
        chosen: list[ssl.SSLContext] = []

        def credentials(ssl_object: ssl.SSLObject, _name: str | None, _front: ssl.SSLContext) -> None:
            if not chosen:  # the first handshake; later ones keep it, as a context made at start was kept
                chosen.append(self._contexts.get((True, settings, generation)) or self._context(server=True))
            ssl_object.context = chosen[0]

        front.sni_callback = credentials
        return front

    def _context(self, server: bool) -> ssl.SSLContext:
        settings = self.settings()
        key = (server, settings, self.certs.generation)
        ctx = self._contexts.get(key)
        if ctx is not None:
            return ctx
        self._warn_capabilities(settings)
        usage = "TlsServer" if server else "TlsClient"
        chain = self.certs.host_credentials(self.spec.association, usage)
        if server and chain is None:
            raise TlsSetupError(
                f"{self.spec.key}: no host certificate with usage TlsServer is associated with "
                f"{self.spec.association} (Cert.HostCertificateAssociation)"
            )
        ctx = build_context(
            settings,
            server=server,
            cert_chain=chain,
            anchors_pem=self.certs.anchors_pem() if server and settings.client_auth else "",
            dh_params=self.certs.dh_params_path() if server else None,
        )
        self._contexts = {k: v for k, v in self._contexts.items() if k[2] == self.certs.generation}
        self._contexts[key] = ctx
        return ctx

    def _warn_capabilities(self, settings: TlsSettings) -> None:
        plan = cipher_plan(settings.family, settings.cipher_set)
        if plan.dropped:
            self.certs.warn_once(
                ("suites", self.spec.key, settings.cipher_set), 9008,
                service_name=self.spec.key, cipher_set=settings.cipher_set, suites=", ".join(plan.dropped),
            )
        _floor, raised = version_plan(settings.floor)
        if raised:
            self.certs.warn_once(
                ("floor", self.spec.key, settings.floor), 9009,
                service_name=self.spec.key, floor=settings.floor, effective=raised,
            )

    # -- time ---------------------------------------------------------------------------------------
    def unit_time(self) -> dt.datetime | None:
        """The unit's UTC time, or None when it has never been synchronised."""
        clock = self.unit.clock
        if not clock.synchronized:
            hoc = getattr(self.unit, "hoc", None)
            if hoc is not None:
                hoc.require_time()  # Hoc 9003 "time not synchronized", once per streak
            return None
        return dt.datetime.fromtimestamp(clock.now(), dt.UTC)

    def require_time(self, peer: str) -> None:
        """Refuse `peer` (Cert notification, :class:`PeerRefused`) when the service validates
        certificates and the unit has no time to check their dates against."""
        if self.settings().level is not Level.NO_VALIDATION and self.unit_time() is None:
            raise self._refuse(peer, Refusal(Reason.NO_TIME, "the system time is not synchronized"))

    # -- refusals -----------------------------------------------------------------------------------
    def _refuse(self, peer: str, refusal: Refusal) -> PeerRefused:
        service, msg_id, fields = notification_for(refusal, peer)
        self.unit.log.warning("tls_peer_refused", service=self.spec.key, peer=peer, reason=str(refusal.reason),
                              detail=refusal.detail)
        self.unit.notify(service, msg_id, **fields)
        return PeerRefused(peer, refusal)

    # -- unit as client -----------------------------------------------------------------------------
    async def connect(
        self,
        host: str,
        port: int,
        *,
        local_port: int = 0,
        srv_names: Sequence[str] = (),
        names: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a validated TLS connection from the unit's address (``local_port`` 0 = any).

        ``host`` is what the configuration names (IP or FQDN): it is both where to connect and the
        name the certificate must carry (HostName); ``names`` overrides the latter, ``srv_names``
        adds the DNS SRV targets (DnsSrvResponse). Raises PeerRefused (after the notification),
        TlsHandshakeError, TlsSetupError or OSError."""
        peer = _hostport(host, port)
        await self.certs.ready()
        self.require_time(peer)
        ctx = self.client_context()
        sni = host if _is_dns_name(host) else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host.strip("[]"), port, ssl=ctx, server_hostname=sni or "",
                    local_addr=(self.unit.host, local_port),
                    ssl_handshake_timeout=timeout or self.handshake_timeout,
                ),
                timeout=(timeout or self.handshake_timeout) + 1,
            )
        except ssl.SSLError as e:
            raise TlsHandshakeError(peer, e.reason or str(e)) from e
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            await self.verify_server(ssl_object, host, port, srv_names=srv_names, names=names)
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def verify_server(
        self,
        ssl_object: ssl.SSLObject | ssl.SSLSocket,
        host: str,
        port: int | None,
        *,
        srv_names: Sequence[str] = (),
        names: Sequence[str] | None = None,
    ) -> Verdict:
        """Check the certificate of a server the unit connected to (after the handshake)."""
        peer = _hostport(host, port)
        settings = self.settings()
        verdict = validate(
            peer_chain(ssl_object), self.certs.trust_anchors(), at=self.unit_time(), level=settings.level,
            names=list(names) if names is not None else [host.strip("[]")], srv_names=srv_names,
        )
        if verdict.refusal is not None:
            raise self._refuse(peer, verdict.refusal)
        if settings.level is not Level.NO_VALIDATION:
            await self._check_revocation(verdict, settings.trust, peer)
        return verdict

    # -- unit as server -----------------------------------------------------------------------------
    async def verify_client(self, ssl_object: ssl.SSLObject | ssl.SSLSocket, peer: str) -> Verdict:
        """Mutual TLS: the client certificate at TrustedCertificate level on the unit clock."""
        settings = self.settings()
        verdict = validate(peer_chain(ssl_object), self.certs.trust_anchors(), at=self.unit_time(),
                           level=Level.TRUSTED_CERTIFICATE)
        if verdict.refusal is not None:
            raise self._refuse(peer, verdict.refusal)
        await self._check_revocation(verdict, settings.trust, peer)
        return verdict

    def handshake_refusal(self, error: ssl.SSLError) -> Refusal | None:
        """What a server-side handshake error says about the client's certificate (None: nothing)."""
        return handshake_refusal(error)

    async def serve(
        self,
        handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        port: int,
        *,
        host: str | None = None,
        **kwargs: Any,
    ) -> asyncio.Server:
        """A TLS server on the unit's address: the handshake (:mod:`~emulator.engines.cert.tls_server`),
        mutual TLS per the service's parameter, then ``handler``. Refused clients are closed before
        ``handler`` runs, with the Cert notification saying why."""
        await self.certs.ready()
        self.server_context()  # fails now, not per connection, when there is no host certificate
        loop = asyncio.get_running_loop()

        def failed(addr: tuple[Any, ...] | None, error: Exception) -> None:
            peer = _hostport(str(addr[0]), addr[1]) if addr else "?"
            refusal = self.handshake_refusal(error) if isinstance(error, ssl.SSLError) else None
            if refusal is not None:
                self._refuse(peer, refusal)
            else:
                self.unit.log.info("tls_handshake_failed", service=self.spec.key, peer=peer,
                                   error=str(error) or error.__class__.__name__)

        async def ready(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self.settings().client_auth:
                addr = writer.get_extra_info("peername") or ("?", None)
                try:
                    await self.verify_client(writer.get_extra_info("ssl_object"), _hostport(str(addr[0]), addr[1]))
                except PeerRefused:
                    writer.close()
                    return
            await handler(reader, writer)

        def protocol() -> TlsServerProtocol:
            return TlsServerProtocol(self.server_context, ready, failed, handshake_timeout=self.handshake_timeout,
                                     loop=loop)

        return await loop.create_server(protocol, host or self.unit.host, port, **kwargs)

    # -- OCSP ---------------------------------------------------------------------------------------
    async def _check_revocation(self, verdict: Verdict, trust: TrustLevel, peer: str) -> None:
        if trust is TrustLevel.LOCALLY_TRUSTED or not verdict.path:
            return
        leaf, issuer = verdict.path[0], verdict.issuer
        subject = display_name(leaf.subject)
        if issuer is None:
            result = _unavailable("the certificate is trusted as such: there is no issuer to ask about it")
        else:
            url = self.certs.ocsp_override(issuer) or ocsp_url(leaf)
            if not url:
                result = _unavailable("no OCSP responder is known for it")
            else:
                result = await self.query_ocsp(url, leaf, issuer)
        refusal = apply_trust_level(trust, result, subject)
        self.unit.log.info("ocsp_checked", service=self.spec.key, peer=peer, status=result.status,
                           detail=result.detail, trust=str(trust))
        if refusal is not None:
            raise self._refuse(peer, refusal)

    async def query_ocsp(self, url: str, cert: x509.Certificate, issuer: x509.Certificate) -> OcspResult:
        """POST an OCSP request from the unit's address; any failure is "unavailable"."""
        body = ocsp_request(cert, issuer)
        at = self.unit_time() or dt.datetime.fromtimestamp(self.unit.clock.now(), dt.UTC)
        connector = aiohttp.TCPConnector(local_addr=(self.unit.host, 0), force_close=True)
        try:
            async with aiohttp.ClientSession(connector=connector) as session, session.post(
                url, data=body, headers={"Content-Type": "application/ocsp-request"},
                timeout=aiohttp.ClientTimeout(total=self.ocsp_timeout),
            ) as resp:
                if resp.status != 200:
                    return _unavailable(f"the OCSP responder {url} answered HTTP {resp.status}")
                data = await resp.content.read(1 << 16)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            return _unavailable(f"the OCSP responder {url} cannot be reached ({e.__class__.__name__})")
        return check_ocsp_response(data, cert, issuer, at)

    # -- aiohttp ------------------------------------------------------------------------------------
    def aiohttp_connector(self, **kwargs: Any) -> aiohttp.TCPConnector:
        """An aiohttp connector from the unit's address whose HTTPS peers are validated by this
        policy right after the handshake, before any request byte is sent."""
        kwargs.setdefault("local_addr", (self.unit.host, 0))
        return _ValidatingConnector(self, ssl=self.client_context(), **kwargs)


def _unavailable(detail: str) -> OcspResult:
    return OcspResult("unavailable", detail)


def _is_dns_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return bool(host)
    return False


class _ValidatingConnector(aiohttp.TCPConnector):
    """aiohttp's connector with the unit's validation after each TLS handshake. It overrides
    ``_wrap_create_connection`` (aiohttp 3.x internal, stable since 3.0)."""

    def __init__(self, policy: TlsPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._policy = policy

    async def _wrap_create_connection(self, *args: Any, req: Any, **kwargs: Any) -> Any:
        transport, proto = await super()._wrap_create_connection(*args, req=req, **kwargs)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            try:
                self._policy.require_time(_hostport(req.url.host, req.url.port))
                await self._policy.verify_server(ssl_object, req.url.host, req.url.port)
            except BaseException:
                transport.close()
                raise
        return transport, proto


def tls_policy(unit: Unit, key: str) -> TlsPolicy:
    """The TLS policy of one service of a unit (the unit must have its Cert engine attached)."""
    state = unit.services.get("Cert")
    engine = getattr(state, "engine", None)
    if engine is None or not hasattr(engine, "policy"):
        raise TlsSetupError(f"unit {unit.name} has no Cert engine: attach emulator.engines.cert.engine.CertEngine")
    policy: TlsPolicy = engine.policy(key)
    return policy

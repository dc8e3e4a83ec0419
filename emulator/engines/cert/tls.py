"""TLS policy of a unit: SSLContexts built from each service's DGW parameters, and peer checks.

Who uses it — every TLS user of a unit (SIP, web, TR-069, file transfers)::

    policy = tls_policy(unit, "SipEp")                  # or "Web", "Cwmp", "Conf", "Fpu", "Nlm", "Cert"...
    await policy.ready()                                # the Cert store (first boot makes the host cert)
    reader, writer = await policy.connect(host, port, local_port=16000)   # validated, or PeerRefused
    server = await policy.serve(handler, port)          # TLS server on unit.host (mutual TLS if enabled)
    ctx = policy.server_context()                       # e.g. aiohttp web.TCPSite(ssl_context=ctx)
    connector = policy.aiohttp_connector()              # aiohttp client whose peers are validated

What the parameters decide (fact sheet §1):

* **Version floor** ``*TlsVersion``: ``SSLv3``/``TLSv1``/``TLSv1_1``/``TLSv1_2`` is the lowest
  version accepted; the highest is TLS 1.2, as on the hardware (its MIB stops at ``TLSv1_2``) —
  which also keeps every connection under the configured cipher set, TLS 1.3 suites being outside
  CS1/CS2/CS3. This machine's OpenSSL 3 has no SSLv3 at all: a ``SSLv3`` floor becomes ``TLSv1``
  and a warning notification says so. TLS 1.0/1.1 exist but OpenSSL 3 refuses them at its default
  security level, so every context runs at ``@SECLEVEL=0``: the DGW parameters, not OpenSSL's
  defaults, decide what is allowed (the 2019 hardware accepted the same).
* **Cipher set** ``*CipherSuite``: CS1/CS2/CS3 exactly as listed in the fact sheet, SIP and HTTPS
  lists differing in CS1. Suites this OpenSSL cannot offer (RC4, 3DES, static ECDH) are dropped
  with a warning notification (once per service and set); the rest keep their order.
* **Mutual TLS** ``SipEp.InteropTlsClientAuthenticationEnable``: the unit as server requires a
  client certificate and validates it at ``TrustedCertificate`` level, whatever the validation
  level says (that one applies when the unit is the client).
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
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from cryptography import x509

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
    from emulator.engines.cert.engine import CertEngine
    from emulator.runtime.unit import Unit

__all__ = [
    "HTTPS_CIPHER_SETS",
    "IANA_TO_OPENSSL",
    "MAX_VERSION",
    "SERVICES",
    "SIP_CIPHER_SETS",
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

# ------------------------------------------------------------------ facts: cipher sets (fact sheet §1.4)
SIP_CIPHER_SETS: dict[str, tuple[str, ...]] = {
    "CS1": (
        "TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        "TLS_RSA_WITH_RC4_128_SHA",
    ),
    "CS2": (
        "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
    ),
    "CS3": (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384", "TLS_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_RSA_WITH_AES_256_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256",
        "TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA256",
    ),
}
HTTPS_CIPHER_SETS: dict[str, tuple[str, ...]] = {
    "CS1": (
        "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA",
        "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA",
        "TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_RC4_128_MD5",
    ),
    "CS2": SIP_CIPHER_SETS["CS2"],
    "CS3": SIP_CIPHER_SETS["CS3"],
}

# IANA (RFC) names -> OpenSSL names, for every suite of the sets above.
IANA_TO_OPENSSL: dict[str, str] = {
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_RSA_WITH_RC4_128_MD5": "RC4-MD5",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA": "DHE-RSA-AES128-SHA",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA": "DHE-RSA-AES256-SHA",
    "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA": "EDH-RSA-DES-CBC3-SHA",
    "TLS_DHE_DSS_WITH_AES_256_CBC_SHA": "DHE-DSS-AES256-SHA",
    "TLS_DHE_DSS_WITH_AES_128_CBC_SHA": "DHE-DSS-AES128-SHA",
    "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA": "EDH-DSS-DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": "ECDHE-RSA-AES256-SHA384",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256": "DHE-RSA-AES256-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384": "ECDH-RSA-AES256-GCM-SHA384",
    "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384": "ECDH-RSA-AES256-SHA384",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_256_CBC_SHA256": "AES256-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256": "DHE-RSA-AES128-SHA256",
    "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256": "ECDH-RSA-AES128-GCM-SHA256",
    "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256": "ECDH-RSA-AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
}

_VERSIONS: dict[str, ssl.TLSVersion] = {
    "SSLv3": ssl.TLSVersion.SSLv3,
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1_1": ssl.TLSVersion.TLSv1_1,
    "TLSv1_2": ssl.TLSVersion.TLSv1_2,
}
_HAS_VERSION = {"SSLv3": ssl.HAS_SSLv3, "TLSv1": ssl.HAS_TLSv1, "TLSv1_1": ssl.HAS_TLSv1_1, "TLSv1_2": True}
MAX_VERSION = ssl.TLSVersion.TLSv1_2
SECLEVEL = "@SECLEVEL=0"

# RFC 7919 ffdhe2048 group: the DHE suites of CS1/CS2/CS3 need DH parameters on the server side
# (Python does not turn OpenSSL's automatic DH selection on).
FFDHE2048_PEM = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""

# OpenSSL X509_V_FLAG_NO_CHECK_TIME: dates are checked on the unit clock, not the host's.
_VERIFY_NO_CHECK_TIME = 0x200000

# OpenSSL verify codes (x509_vfy.h) -> refusal reasons, for the server that asked a client certificate.
_VERIFY_CODES: dict[int, Reason] = {
    2: Reason.UNKNOWN_ISSUER,  # unable to get issuer certificate
    18: Reason.UNKNOWN_ISSUER,  # self-signed certificate
    19: Reason.UNKNOWN_ISSUER,  # self-signed certificate in chain
    20: Reason.UNKNOWN_ISSUER,  # unable to get local issuer certificate
    21: Reason.UNKNOWN_ISSUER,  # unable to verify the first certificate
    4: Reason.BAD_SIGNATURE,  # unable to decrypt certificate's signature
    6: Reason.BAD_SIGNATURE,  # unable to decode issuer public key
    7: Reason.BAD_SIGNATURE,  # certificate signature failure
    9: Reason.NOT_YET_VALID,
    10: Reason.EXPIRED,
}


# ------------------------------------------------------------------ which parameters, per TLS user
@dataclass(frozen=True, slots=True)
class ServiceTls:
    """The DGW parameters that shape the TLS of one user of the Cert store."""

    key: str  # the name passed to tls_policy()
    service: str  # DGW service (notifications)
    version: str | None
    cipher_suite: str | None
    family: str  # "sip" | "https": which CS1 list applies
    validation: str | None  # None: the emulator's choice, HostName
    trust_level: str | None  # None: LocallyTrusted
    client_auth: str | None  # mutual TLS as a server
    association: str  # column of Cert.HostCertificateAssociation


SERVICES: dict[str, ServiceTls] = {
    s.key: s
    for s in (
        ServiceTls("SipEp", "SipEp", "SipEp.TransportTlsVersion", "SipEp.TransportTlsCipherSuite", "sip",
                   "SipEp.InteropTlsCertificateValidation", "SipEp.TransportTlsCertificateTrustLevel",
                   "SipEp.InteropTlsClientAuthenticationEnable", "Sip"),
        ServiceTls("Web", "Web", "Web.TlsVersion", "Web.HttpsCipherSuite", "https", None, None, None, "Web"),
        ServiceTls("Cwmp", "Cwmp", "Cwmp.TransportHttpsTlsVersion", "Cwmp.TransportHttpsCipherSuite", "https",
                   "Cwmp.TransportCertificateValidation", None, None, "Cwmp"),
        ServiceTls("Conf", "Conf", "Conf.ScriptsTransferTlsVersion", "Conf.ScriptsTransferCipherSuite", "https",
                   "Conf.ScriptsTransferCertificateValidation", "Conf.ScriptsTransferCertificateTrustLevel", None,
                   "Conf"),
        ServiceTls("ConfImage", "Conf", "Conf.ImageTransferTlsVersion", "Conf.ImageTransferCipherSuite", "https",
                   "Conf.ScriptsTransferCertificateValidation", "Conf.ScriptsTransferCertificateTrustLevel", None,
                   "Conf"),
        ServiceTls("Fpu", "Fpu", "Fpu.MfpTransferTlsVersion", "Fpu.MfpTransferCipherSuite", "https",
                   "Fpu.MfpTransferCertificateValidation", "Fpu.MfpTransferCertificateTrustLevel", None, "Fpu"),
        ServiceTls("Nlm", "Nlm", "Nlm.PCaptureTransferTlsVersion", "Nlm.PCaptureTransferCipherSuite", "https",
                   "Nlm.PCaptureTransferCertificateValidation", "Nlm.PCaptureTransferCertificateTrustLevel", None,
                   "Nlm"),
        ServiceTls("Cert", "Cert", "Cert.TransferHttpsTlsVersion", "Cert.TransferHttpsCipherSuite", "https",
                   None, None, None, "Cert"),
        ServiceTls("File", "File", "File.TransferHttpsTlsVersion", "File.TransferHttpsCipherSuite", "https",
                   None, None, None, "File"),
        ServiceTls("Sbc", "Sbc", "SipEp.TransportTlsVersion", "SipEp.TransportTlsCipherSuite", "sip",
                   "Sbc.CertificateValidation", None, None, "Sbc"),
    )
}


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """A snapshot of one service's TLS parameters (what a context is built from)."""

    key: str
    floor: str = "TLSv1"
    cipher_set: str = "CS1"
    family: str = "sip"
    level: Level = Level.HOST_NAME
    trust: TrustLevel = TrustLevel.LOCALLY_TRUSTED
    client_auth: bool = False
    keylog: str | None = None


def read_settings(config: Any, spec: ServiceTls, keylog: str | None = None) -> TlsSettings:
    """Read a service's TLS parameters from a unit's Config."""

    def get(name: str | None, default: str) -> str:
        if name is None:
            return default
        return str(config.get(name) or default)

    return TlsSettings(
        key=spec.key,
        floor=get(spec.version, "TLSv1"),
        cipher_set=get(spec.cipher_suite, "CS1"),
        family=spec.family,
        level=Level(get(spec.validation, "HostName")),
        trust=TrustLevel(get(spec.trust_level, "LocallyTrusted")),
        client_auth=get(spec.client_auth, "Disable") == "Enable",
        keylog=keylog,
    )


# ------------------------------------------------------------------ what this OpenSSL can do
@cache
def _openssl_has(suite: str) -> bool:
    name = IANA_TO_OPENSSL.get(suite)
    if name is None:
        return False
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.set_ciphers(f"{name}:{SECLEVEL}")
    except ssl.SSLError:
        return False
    return any(c["name"] == name for c in ctx.get_ciphers())


@dataclass(frozen=True, slots=True)
class CipherPlan:
    family: str
    cipher_set: str
    offered: tuple[str, ...]  # IANA names, in the set's order
    dropped: tuple[str, ...]  # IANA names this OpenSSL cannot offer
    openssl: str  # the cipher string given to OpenSSL


@cache
def cipher_plan(family: str, cipher_set: str) -> CipherPlan:
    sets = SIP_CIPHER_SETS if family == "sip" else HTTPS_CIPHER_SETS
    wanted = sets[cipher_set]
    offered = tuple(s for s in wanted if _openssl_has(s))
    dropped = tuple(s for s in wanted if s not in offered)
    return CipherPlan(family, cipher_set, offered, dropped,
                      ":".join(IANA_TO_OPENSSL[s] for s in offered) + ":" + SECLEVEL)


def version_plan(floor: str) -> tuple[ssl.TLSVersion, str | None]:
    """The minimum version really set, and the version name when the floor had to be raised."""
    order = list(_VERSIONS)
    for name in order[order.index(floor):]:
        if _HAS_VERSION[name]:
            return _VERSIONS[name], (name if name != floor else None)
    return MAX_VERSION, "TLSv1_2"


def openssl_capabilities() -> dict[str, Any]:
    """For docs and the report: the library, the versions it can still do, the suites it lacks."""
    missing = sorted({s for sets in (SIP_CIPHER_SETS, HTTPS_CIPHER_SETS) for v in sets.values() for s in v
                      if not _openssl_has(s)})
    return {
        "library": ssl.OPENSSL_VERSION,
        "versions": [n for n, ok in _HAS_VERSION.items() if ok],
        "missing_suites": missing,
    }


# ------------------------------------------------------------------ contexts
def build_context(
    settings: TlsSettings,
    *,
    server: bool,
    cert_chain: tuple[Path, Path] | None = None,
    anchors_pem: str = "",
    dh_params: Path | None = None,
) -> ssl.SSLContext:
    """An SSLContext for one service: version range, cipher set, credentials, client auth."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    floor, _raised = version_plan(settings.floor)
    with warnings.catch_warnings():  # TLSVersion.TLSv1/TLSv1_1 are deprecated names, not errors
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = floor
        ctx.maximum_version = MAX_VERSION
    plan = cipher_plan(settings.family, settings.cipher_set)
    if not plan.offered:
        raise TlsSetupError(
            f"{settings.key}: no suite of {settings.cipher_set} can be offered by {ssl.OPENSSL_VERSION}"
        )
    ctx.set_ciphers(plan.openssl)
    if cert_chain is not None:
        ctx.load_cert_chain(str(cert_chain[0]), str(cert_chain[1]))
    if server:
        if dh_params is not None:
            ctx.load_dh_params(str(dh_params))
        if settings.client_auth:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.verify_flags |= _VERIFY_NO_CHECK_TIME | ssl.VERIFY_X509_PARTIAL_CHAIN
            if anchors_pem:
                ctx.load_verify_locations(cadata=anchors_pem)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # validation is ours, on the unit clock (see module doc)
    if settings.keylog:
        ctx.keylog_filename = settings.keylog
    return ctx


@lru_cache(maxsize=1024)
def _load_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def peer_chain(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> list[x509.Certificate]:
    """The chain the peer sent, leaf first (the leaf alone when the Python build cannot say more)."""
    inner = getattr(ssl_object, "_sslobj", None)
    getter = getattr(inner, "get_unverified_chain", None)
    ders: list[bytes] = []
    if getter is not None:
        ders = [c.public_bytes(ssl._ssl.ENCODING_DER) for c in (getter() or [])]  # type: ignore[attr-defined]
    if not ders:
        leaf = ssl_object.getpeercert(binary_form=True)
        ders = [leaf] if leaf else []
    out = []
    for d in ders:
        try:
            out.append(_load_der(d))
        except ValueError:
            continue
    return out


# ------------------------------------------------------------------ errors
class TlsError(Exception):
    """Base of the TLS errors of a unit."""


class TlsSetupError(TlsError):
    """A context cannot be built (no host certificate for the service, nothing to offer...)."""


class TlsHandshakeError(TlsError):
    def __init__(self, peer: str, message: str) -> None:
        super().__init__(f"TLS handshake with {peer} failed: {message}")
        self.peer = peer
        self.message = message


class PeerRefused(TlsError):
    """The peer's certificate was refused; the Cert notification has been raised."""

    def __init__(self, peer: str, refusal: Refusal) -> None:
        super().__init__(f"certificate of {peer} refused ({refusal.reason}): {refusal.detail}")
        self.peer = peer
        self.refusal = refusal

    @property
    def reason(self) -> Reason:
        return self.refusal.reason


# ------------------------------------------------------------------ the policy of one service of one unit
def _hostport(host: str, port: int | None) -> str:
    h = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{h}:{port}" if port is not None else h


class TlsPolicy:
    """TLS for one service of one unit; contexts are cached until its parameters or the Cert
    store change (a restarted engine calling ``client_context()`` again picks up the change)."""

    def __init__(self, unit: Unit, key: str, certs: CertEngine) -> None:
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
        settings = self.settings()
        if settings.level is not Level.NO_VALIDATION and self.unit_time() is None:
            raise self._refuse(peer, Refusal(Reason.NO_TIME, "the system time is not synchronized"))
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
        if isinstance(error, ssl.SSLCertVerificationError):
            code = int(getattr(error, "verify_code", 0) or 0)
            message = str(getattr(error, "verify_message", "") or error.reason or error)
            reason = _VERIFY_CODES.get(code)
            if reason is None:
                return Refusal(Reason.BAD_SIGNATURE if "signature" in message else Reason.UNKNOWN_ISSUER, message)
            return Refusal(reason, f"the client certificate was refused: {message}")
        if (error.reason or "").upper() == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
            return Refusal(Reason.NO_CERTIFICATE, "the client presented no certificate")
        return None

    async def serve(
        self,
        handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        port: int,
        *,
        host: str | None = None,
        **kwargs: Any,
    ) -> asyncio.Server:
        """A TLS server on the unit's address: the handshake, mutual TLS per the service's
        parameter, then ``handler``. Refused clients are closed before ``handler`` runs."""
        await self.certs.ready()
        self.server_context()  # fails now, not per connection, when there is no host certificate

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            addr = writer.get_extra_info("peername") or ("?", None)
            peer = _hostport(str(addr[0]), addr[1])
            try:
                await writer.start_tls(self.server_context(), ssl_handshake_timeout=self.handshake_timeout)
            except ssl.SSLError as e:
                refusal = self.handshake_refusal(e)
                if refusal is not None:
                    self._refuse(peer, refusal)
                else:
                    self.unit.log.info("tls_handshake_failed", service=self.spec.key, peer=peer, error=str(e))
                writer.close()
                return
            except (OSError, TimeoutError) as e:
                self.unit.log.info("tls_handshake_failed", service=self.spec.key, peer=peer, error=str(e))
                writer.close()
                return
            if self.settings().client_auth:
                try:
                    await self.verify_client(writer.get_extra_info("ssl_object"), peer)
                except PeerRefused:
                    writer.close()
                    return
            await handler(reader, writer)

        return await asyncio.start_server(on_connect, host or self.unit.host, port, **kwargs)

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
            if self._policy.settings().level is not Level.NO_VALIDATION and self._policy.unit_time() is None:
                transport.close()
                raise self._policy._refuse(_hostport(req.url.host, req.url.port),
                                           Refusal(Reason.NO_TIME, "the system time is not synchronized"))
            try:
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


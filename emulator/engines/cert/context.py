"""SSLContexts from a service's DGW TLS parameters (pure: no unit, no event loop).

What the parameters decide (fact sheet §1):

* **Version floor** ``*TlsVersion``: ``SSLv3``/``TLSv1``/``TLSv1_1``/``TLSv1_2`` is the lowest
  version accepted; the highest is TLS 1.2, as on the hardware (its MIB stops at ``TLSv1_2``) —
  which also keeps every connection under the configured cipher set, TLS 1.3 suites being outside
  CS1/CS2/CS3. This machine's OpenSSL 3 has no SSLv3 at all: a ``SSLv3`` floor becomes ``TLSv1``
  (:func:`version_plan` says so, and the policy raises a warning notification). TLS 1.0/1.1 exist but
  OpenSSL 3 refuses them at its default security level, so every context runs at ``@SECLEVEL=0``: the
  DGW parameters, not OpenSSL's defaults, decide what is allowed (the 2019 hardware accepted the same).
* **Cipher set** ``*CipherSuite``: CS1/CS2/CS3 exactly as listed in the fact sheet, SIP and HTTPS
  lists differing in CS1. Suites this OpenSSL cannot offer (RC4, 3DES, static ECDH) are dropped
  (:func:`cipher_plan`); the rest keep their order.
* **Mutual TLS** ``SipEp.InteropTlsClientAuthenticationEnable``: a server context requires a client
  certificate, verified by OpenSSL against the store with time checks off (the dates are checked on
  the unit clock afterwards); :func:`handshake_refusal` reads what a failed handshake says about it.
* **Validation** as a client is ours, after the handshake (:mod:`emulator.engines.cert.tls`): client
  contexts do not verify.
"""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509

from emulator.engines.cert.errors import TlsSetupError
from firmware_model.cert_validation import Level, Reason, Refusal, TrustLevel

__all__ = [
    "FFDHE2048_PEM",
    "HTTPS_CIPHER_SETS",
    "IANA_TO_OPENSSL",
    "MAX_VERSION",
    "SERVICES",
    "SIP_CIPHER_SETS",
    "CipherPlan",
    "ServiceTls",
    "TlsSettings",
    "build_context",
    "cipher_plan",
    "handshake_refusal",
    "openssl_capabilities",
    "peer_chain",
    "read_settings",
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


def handshake_refusal(error: ssl.SSLError) -> Refusal | None:
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

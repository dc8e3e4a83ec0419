"""Peer-certificate validation as DGW does it — pure: chain, time and names passed in.

Levels (``SipEp.InteropTlsCertificateValidation``; ``NoValidation``/``HostName`` for Cwmp, Conf,
Fpu, Nlm, Sbc; fact sheet §1.1-1.2):

* ``NoValidation``: anything is accepted, but the peer must present a certificate.
* ``TrustedCertificate``: the chain is signed up to a certificate of the unit's store
  (``Cert.OthersCertificatesInfo``), or the peer's certificate itself is in the store; the
  validity dates are checked on the UNIT's clock.
* ``DnsSrvResponse``: trusted, and the CN/SAN matches the configured host or a name a DNS SRV
  answer gave.
* ``HostName``: trusted, and the CN/SAN matches the configured host (IP or FQDN) only.

A unit that has never synchronised its time cannot validate (reason ``no time``).

Trust levels (``...CertificateTrustLevel``): ``LocallyTrusted`` (store only), ``OcspOptional``
(also ask OCSP; unknown or unreachable = trusted), ``OcspMandatory`` (unknown or unreachable =
refused). A revoked certificate is refused under both OCSP levels. The OCSP request/response
handling (RFC 6960) lives here too; sending it is the glue's business.

Name matching (RFC 6125 §6.4, with DGW's "Common Name / Subject Alternative Name"): an IP host
matches an iPAddress SAN (or a CN/dNSName SAN spelling the same address, as lab certificates
often do); a DNS host matches a dNSName SAN or the CN, case-insensitively, a ``*`` being allowed
only as the whole left-most label and matching exactly one label.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from firmware_model.certs import display_name, is_ca

__all__ = [
    "OCSP_CLOCK_SKEW",
    "Level",
    "OcspResult",
    "Reason",
    "Refusal",
    "TrustLevel",
    "Verdict",
    "apply_trust_level",
    "build_path",
    "check_ocsp_response",
    "name_matches",
    "notification_for",
    "ocsp_request",
    "ocsp_url",
    "validate",
]

OCSP_CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_PATH = 8


class Level(StrEnum):
    NO_VALIDATION = "NoValidation"
    TRUSTED_CERTIFICATE = "TrustedCertificate"
    DNS_SRV_RESPONSE = "DnsSrvResponse"
    HOST_NAME = "HostName"


class TrustLevel(StrEnum):
    LOCALLY_TRUSTED = "LocallyTrusted"
    OCSP_OPTIONAL = "OcspOptional"
    OCSP_MANDATORY = "OcspMandatory"


class Reason(StrEnum):
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    UNKNOWN_ISSUER = "unknown issuer"
    NAME_MISMATCH = "name mismatch"
    REVOKED = "revoked"
    NO_TIME = "no time"
    BAD_SIGNATURE = "bad signature"
    NO_CERTIFICATE = "no certificate"
    REVOCATION_UNKNOWN = "revocation status unknown"


# Cert notification ids (firmware_model.notifications): one per reason, 9007 for the others.
_NOTIFICATION_IDS = {
    Reason.EXPIRED: 9001,
    Reason.NOT_YET_VALID: 9002,
    Reason.UNKNOWN_ISSUER: 9003,
    Reason.NAME_MISMATCH: 9004,
    Reason.REVOKED: 9005,
    Reason.NO_TIME: 9006,
}


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: Reason
    detail: str  # human text naming the certificate and what is wrong
    expected: str = ""  # NAME_MISMATCH: the names that were looked for


@dataclass(frozen=True, slots=True)
class Verdict:
    refusal: Refusal | None = None
    path: tuple[x509.Certificate, ...] = ()  # leaf first, up to the trusted certificate

    @property
    def ok(self) -> bool:
        return self.refusal is None

    @property
    def reason(self) -> Reason | None:
        return None if self.refusal is None else self.refusal.reason

    @property
    def issuer(self) -> x509.Certificate | None:
        """The certificate that issued the leaf, when the path has one (OCSP needs it)."""
        return self.path[1] if len(self.path) > 1 else None


def notification_for(refusal: Refusal, peer: str) -> tuple[str, int, dict[str, Any]]:
    """``(service, msg_id, fields)`` of the Cert notification that reports a refusal."""
    msg_id = _NOTIFICATION_IDS.get(refusal.reason, 9007)
    fields: dict[str, Any] = {"peer": peer}
    if refusal.reason is Reason.NAME_MISMATCH:
        fields["expected"] = refusal.expected
    if msg_id == 9007:
        fields["reason"] = refusal.detail
    return "Cert", msg_id, fields


# ------------------------------------------------------------------ names
def _norm_dns(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _dns_match(pattern: str, host: str) -> bool:
    pattern, host = _norm_dns(pattern), _norm_dns(host)
    if not pattern or not host:
        return False
    if pattern == host:
        return True
    p_labels, h_labels = pattern.split("."), host.split(".")
    if p_labels[0] != "*" or "*" in ".".join(p_labels[1:]) or len(p_labels) < 3:
        return False  # a wildcard only as the whole left-most label, and not for a bare TLD (*.com)
    return len(h_labels) == len(p_labels) and h_labels[1:] == p_labels[1:] and h_labels[0] != ""


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def name_matches(cert: x509.Certificate, host: str) -> bool:
    """Does the certificate name ``host`` (an IP address or a DNS name)?"""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = san.get_values_for_type(x509.DNSName)
        ips = san.get_values_for_type(x509.IPAddress)
    except (x509.ExtensionNotFound, ValueError):
        dns_names, ips = [], []
    cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    ip = _ip(host)
    if ip is not None:
        if ip in ips:
            return True
        return any(_ip(n) == ip for n in [*dns_names, *cns])  # lab certificates: DNS:127.0.0.1, CN=10.0.0.1
    return any(_dns_match(n, host) for n in [*dns_names, *cns] if _ip(n) is None)


# ------------------------------------------------------------------ chain
@lru_cache(maxsize=4096)
def _signature_error(child: x509.Certificate, parent: x509.Certificate) -> str | None:
    """None when ``parent`` signed ``child`` (names and signature), else why not. Memoised: a
    pure function of two immutable certificates (handshake rate matters)."""
    try:
        child.verify_directly_issued_by(parent)
    except InvalidSignature:
        return "signature"
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        return f"name: {e}"
    return None


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def build_path(
    leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]
) -> tuple[tuple[x509.Certificate, ...], Refusal | None]:
    """From the leaf up to a trust anchor, through the intermediates the peer sent.

    The leaf itself in the store is trusted (DGW's "Trusted Certificate": the peer's certificate is
    in the unit's store). Issuers must be CA certificates and must have signed their child."""
    leaf_der = _der(leaf)
    if any(_der(a) == leaf_der for a in anchors):
        return (leaf,), None
    path = [leaf]
    current = leaf
    bad_signer: x509.Certificate | None = None
    for _ in range(MAX_PATH):
        found = None
        for a in anchors:
            if a.subject == current.issuer and is_ca(a):
                err = _signature_error(current, a)
                if err is None:
                    return (*path, a), None
                if err == "signature":
                    bad_signer = a
        for cand in intermediates:
            if cand.subject == current.issuer and is_ca(cand) and cand not in path:
                err = _signature_error(current, cand)
                if err is None:
                    found = cand
                    break
                if err == "signature":
                    bad_signer = cand
        if found is None:
            break
        path.append(found)
        current = found
    if bad_signer is not None:
        return tuple(path), Refusal(
            Reason.BAD_SIGNATURE,
            f"the signature of {display_name(current.subject)} does not verify with the key of "
            f"{display_name(bad_signer.subject)}",
        )
    return tuple(path), Refusal(
        Reason.UNKNOWN_ISSUER,
        f"the issuer {display_name(current.issuer)} of {display_name(current.subject)} is not a trusted certificate",
    )


def validate(
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    at: dt.datetime | None,
    level: Level | str,
    names: Sequence[str] = (),
    srv_names: Sequence[str] = (),
) -> Verdict:
    """Validate the chain a peer presented (leaf first) at time ``at`` (the unit's clock, UTC;
    None when the unit has never synchronised its time)."""
    level = Level(level)
    if not chain:
        return Verdict(Refusal(Reason.NO_CERTIFICATE, "the peer presented no certificate"))
    leaf = chain[0]
    if level is Level.NO_VALIDATION:
        return Verdict(None, (leaf,))
    if at is None:
        return Verdict(Refusal(Reason.NO_TIME, "the system time is not synchronized"))
    path, refusal = build_path(leaf, chain[1:], anchors)
    if refusal is not None:
        return Verdict(refusal, path)
    for cert in path:
        if at < cert.not_valid_before_utc:
            return Verdict(Refusal(
                Reason.NOT_YET_VALID,
                f"{display_name(cert.subject)} is valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC",
            ), path)
        if at > cert.not_valid_after_utc:
            return Verdict(Refusal(
                Reason.EXPIRED,
                f"{display_name(cert.subject)} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC",
            ), path)
    if level in (Level.HOST_NAME, Level.DNS_SRV_RESPONSE):
        wanted = [n for n in names if n]
        if level is Level.DNS_SRV_RESPONSE:
            wanted += [n for n in srv_names if n and n not in wanted]
        if not any(name_matches(leaf, n) for n in wanted):
            expected = " or ".join(wanted) or "(no configured host)"
            return Verdict(Refusal(
                Reason.NAME_MISMATCH,
                f"{display_name(leaf.subject)} does not name {expected}",
                expected=expected,
            ), path)
    return Verdict(None, path)


# ------------------------------------------------------------------ OCSP (RFC 6960)
@dataclass(frozen=True, slots=True)
class OcspResult:
    status: str  # "good" | "revoked" | "unknown" | "unavailable"
    detail: str = ""
    revoked_at: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def ocsp_url(cert: x509.Certificate) -> str | None:
    """The OCSP responder named by the certificate's Authority Information Access extension."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            desc.access_location, x509.UniformResourceIdentifier
        ):
            return str(desc.access_location.value)
    return None


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """DER OCSPRequest for one certificate (CertID with SHA-1, what every responder accepts)."""
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    return req.public_bytes(serialization.Encoding.DER)


def _verify_signature(public_key: Any, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None) -> bool:
    try:
        if isinstance(public_key, rsa.RSAPublicKey) and algorithm is not None:
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm is not None:
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _responder_key(resp: ocsp.OCSPResponse, issuer: x509.Certificate, at: dt.datetime) -> tuple[Any, str]:
    """The key that must have signed the response: the issuer's, or a delegated responder
    certificate (EKU OCSPSigning) the issuer signed (RFC 6960 §4.2.2.2)."""
    issuer_key_hash = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest  # type: ignore[arg-type]
    if resp.responder_name == issuer.subject or resp.responder_key_hash == issuer_key_hash:
        return issuer.public_key(), ""
    for cert in resp.certificates:
        named = resp.responder_name == cert.subject or (
            resp.responder_key_hash is not None
            and resp.responder_key_hash
            == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest  # type: ignore[arg-type]
        )
        if not named:
            continue
        if _signature_error(cert, issuer) is not None:
            return None, "the responder certificate is not issued by the certificate's issuer"
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            return None, "the responder certificate is not authorised for OCSP signing"
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            return None, "the responder certificate is not authorised for OCSP signing"
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            return None, "the responder certificate is outside its validity period"
        return cert.public_key(), ""
    return None, "the response is signed by an unknown responder"


def check_ocsp_response(
    data: bytes, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime
) -> OcspResult:
    """Interpret an OCSP response for ``cert`` at the unit's time ``at``."""
    try:
        resp = ocsp.load_der_ocsp_response(data)
    except ValueError as e:
        return OcspResult("unavailable", f"the OCSP response is not valid: {e}")
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return OcspResult("unavailable", f"the OCSP responder answered {resp.response_status.name}")
    key, why = _responder_key(resp, issuer, at)
    if key is None:
        return OcspResult("unavailable", why)
    if not _verify_signature(key, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm):
        return OcspResult("unavailable", "the OCSP response signature does not verify")
    for single in resp.responses:
        if single.serial_number != cert.serial_number:
            continue
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, single.hash_algorithm).build()
        if single.issuer_key_hash != req.issuer_key_hash or single.issuer_name_hash != req.issuer_name_hash:
            continue
        if single.this_update_utc > at + OCSP_CLOCK_SKEW:
            return OcspResult("unavailable", "the OCSP response is dated in the future")
        if single.next_update_utc is not None and single.next_update_utc < at - OCSP_CLOCK_SKEW:
            return OcspResult("unavailable", "the OCSP response is out of date")
        status = single.certificate_status
        if status == ocsp.OCSPCertStatus.GOOD:
            return OcspResult("good")
        if status == ocsp.OCSPCertStatus.REVOKED:
            when = single.revocation_time_utc
            return OcspResult("revoked", f"revoked on {when:%Y-%m-%d %H:%M:%S} UTC" if when else "revoked", when)
        return OcspResult("unknown", "the OCSP responder does not know the certificate")
    return OcspResult("unavailable", "the OCSP response does not cover the certificate")


def apply_trust_level(trust: TrustLevel | str, result: OcspResult, subject: str = "the certificate") -> Refusal | None:
    """The decision a trust level takes on an OCSP result (None = accepted)."""
    trust = TrustLevel(trust)
    if trust is TrustLevel.LOCALLY_TRUSTED or result.status == "good":
        return None
    if result.status == "revoked":
        return Refusal(Reason.REVOKED, f"{subject} was {result.detail}")
    if trust is TrustLevel.OCSP_OPTIONAL:
        return None
    return Refusal(Reason.REVOCATION_UNKNOWN, f"the revocation status of {subject} is unknown: {result.detail}")

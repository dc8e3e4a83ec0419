"""A test PKI generated at test time with ``cryptography``: CAs, leaf certificates with chosen
names, usages, dates and OCSP URLs, PEM/DER/PKCS#12 encodings, and OCSP responses.

RSA keys cost ~80 ms each, so a :class:`Pki` makes a handful once and reuses them (one key for all
the leaves of a CA is fine for tests); ``kind="ec"`` gives P-256 keys for pure tests.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

__all__ = ["Issued", "Pki", "der", "pem", "utcnow"]

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
DAY = dt.timedelta(days=1)
BOTH_EKU = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True, slots=True)
class Issued:
    cert: x509.Certificate
    key: Key

    def key_pem(self, password: bytes | None = None) -> bytes:
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)

    def pem(self) -> bytes:
        return pem(self.cert)

    def p12(self, password: bytes | None, chain: Sequence[x509.Certificate] = ()) -> bytes:
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return pkcs12.serialize_key_and_certificates(b"test", self.key, self.cert, list(chain) or None, enc)

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        c, k = directory / f"{stem}.crt", directory / f"{stem}.key"
        c.write_bytes(self.pem())
        k.write_bytes(self.key_pem())
        k.chmod(0o600)
        return c, k


class Pki:
    def __init__(self, kind: str = "rsa") -> None:
        self.kind = kind
        self._keys = [self.new_key() for _ in range(3)]  # CA keys come from here; leaves share one

    def new_key(self) -> Key:
        if self.kind == "ec":
            return ec.generate_private_key(ec.SECP256R1())
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def leaf_key(self) -> Key:
        return self._keys[0]

    def ca(
        self,
        name: str = "Test Root CA",
        *,
        key_index: int = 1,
        issuer: Issued | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key: Key | None = None,
    ) -> Issued:
        key = key or self._keys[key_index]
        now = utcnow()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - DAY)
            .not_valid_after(not_after or now + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        return Issued(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)

    def leaf(
        self,
        issuer: Issued | None,
        cn: str | None = "127.0.0.1",
        *,
        dns: Sequence[str] = ("localhost",),
        ips: Sequence[str] = ("127.0.0.1",),
        eku: Sequence[x509.ObjectIdentifier] | None = BOTH_EKU,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        ocsp_url: str | None = None,
        ca: bool = False,
        key: Key | None = None,
        serial: int | None = None,
    ) -> Issued:
        """A certificate signed by ``issuer`` (None: self-signed)."""
        key = key or self.leaf_key
        now = utcnow()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "No Name Inc")
        ])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(not_before or now - DAY)
            .not_valid_after(not_after or now + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        if ocsp_url:
            builder = builder.add_extension(x509.AuthorityInformationAccess([
                x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))
            ]), critical=False)
        signer = issuer.key if issuer else key
        return Issued(builder.sign(signer, hashes.SHA256()), key)

    @staticmethod
    def ocsp_response(
        cert: x509.Certificate,
        issuer: Issued,
        status: ocsp.OCSPCertStatus,
        *,
        responder: Issued | None = None,
        this_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
        include_responder: bool = True,
    ) -> bytes:
        now = utcnow()
        signer = responder or issuer
        revoked_at = now - DAY if status == ocsp.OCSPCertStatus.REVOKED else None
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=cert, issuer=issuer.cert, algorithm=hashes.SHA1(), cert_status=status,
                this_update=this_update or now - dt.timedelta(minutes=1),
                next_update=next_update or now + DAY,
                revocation_time=revoked_at, revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
        )
        if responder is not None and include_responder:
            builder = builder.certificates([responder.cert])
        return builder.sign(signer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

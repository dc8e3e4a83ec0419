"""X.509 certificates as the Cert service (``Cert``, numkey 2300) sees them — pure, no I/O.

* Parsing what a user uploads: PEM (one or many blocks) or DER certificates for
  ``Cert.OthersCertificatesInfo``; a host certificate with its private key (PEM bundle or PKCS#12)
  for ``Cert.HostCertificatesInfo``. Every refusal is a :class:`CertError` whose ``kind`` and
  message say precisely what is wrong (garbage, truncated PEM, key mismatch, encrypted key without
  a password, too large, no CN/SAN...).
* Describing a certificate with the columns of those tables (:class:`CertInfo`): IssuedTo,
  IssuedBy, validity, ``Usage`` (``TlsClient``/``TlsServer`` from the extended key usage) and
  ``CertificateAuthority``.
* Building the emulator's own certificates (factory CA, a unit's factory host certificate) with
  the time and keys passed in.

Private keys only ever leave this module as PKCS#8 PEM for the Cert store's own files.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from firmware_model.errors import KindError

__all__ = [
    "MAX_UPLOAD_BYTES",
    "CertError",
    "CertInfo",
    "HostBundle",
    "PrivateKey",
    "build_ca_certificate",
    "build_host_certificate",
    "certificate_pem",
    "describe",
    "display_name",
    "fingerprint",
    "has_name",
    "is_ca",
    "key_matches",
    "key_pem",
    "load_certificates",
    "load_host_bundle",
    "safe_file_name",
    "usage_of",
]

MAX_UPLOAD_BYTES = 1 << 20  # 1 MiB: far above any certificate chain, far below a 10 MB mistake

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.*?)-----END \1-----", re.DOTALL)
_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----")
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_KEY_LABELS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"}
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")  # 1.2.840.113549.1.7.1, inside every PKCS#12


class CertError(KindError):
    """A refused certificate operation.

    ``kind``: too-large, empty, garbage, truncated, not-certificate, no-key, several-keys,
    key-mismatch, encrypted-key, bad-password, unsupported-key, no-name, unsecure-transfer,
    no-file, transfer."""


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The columns of ``Cert.HostCertificatesInfo`` / ``Cert.OthersCertificatesInfo``."""

    issued_to: str
    issued_by: str
    valid_from: dt.datetime  # UTC
    valid_to: dt.datetime  # UTC
    usage: str  # "TlsClient", "TlsServer", "TlsClient, TlsServer" or "None"
    certificate_authority: bool
    fingerprint: str  # SHA-256, hex


@dataclass(frozen=True, slots=True)
class HostBundle:
    """A host certificate, its private key and the rest of its chain (issuers, leaf first)."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()


# ------------------------------------------------------------------ describing
def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if not values:
        return None
    v = values[0].value
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # a malformed extension: treated as absent
        return None


def display_name(name: x509.Name) -> str:
    """How a subject/issuer is shown: its Common Name, else the RFC 4514 string."""
    return _attr(name, NameOID.COMMON_NAME) or name.rfc4514_string()


def _issued_to(cert: x509.Certificate) -> str:
    cn = _attr(cert.subject, NameOID.COMMON_NAME)
    if cn:
        return cn
    san = _san(cert)
    if san is not None:
        for gn in san:
            if isinstance(gn, x509.DNSName | x509.IPAddress | x509.RFC822Name | x509.UniformResourceIdentifier):
                return str(gn.value)
    return cert.subject.rfc4514_string()


def has_name(cert: x509.Certificate) -> bool:
    """True when the certificate names something: a Common Name or a DNS/IP alternative name."""
    if _attr(cert.subject, NameOID.COMMON_NAME):
        return True
    san = _san(cert)
    return san is not None and any(isinstance(gn, x509.DNSName | x509.IPAddress) for gn in san)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def usage_of(cert: x509.Certificate) -> str:
    """``Usage`` from the extended key usage: serverAuth -> TlsServer, clientAuth -> TlsClient.

    No EKU extension means no restriction (RFC 5280 §4.2.1.12): both usages."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return "TlsClient, TlsServer"
    out = []
    if ExtendedKeyUsageOID.CLIENT_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        out.append("TlsClient")
    if ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        out.append("TlsServer")
    return ", ".join(out) or "None"


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def describe(cert: x509.Certificate) -> CertInfo:
    return CertInfo(
        issued_to=_issued_to(cert),
        issued_by=display_name(cert.issuer),
        valid_from=cert.not_valid_before_utc,
        valid_to=cert.not_valid_after_utc,
        usage=usage_of(cert),
        certificate_authority=is_ca(cert),
        fingerprint=fingerprint(cert),
    )


def certificate_pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: only for the Cert store's own 0600 files."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def key_matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt))


# ------------------------------------------------------------------ parsing uploads
def _check_size(data: bytes) -> None:
    if len(data) > MAX_UPLOAD_BYTES:
        raise CertError(
            "too-large",
            f"the file is too large: {len(data)} bytes, the most a certificate file may hold is "
            f"{MAX_UPLOAD_BYTES} bytes",
        )
    if not data.strip():
        raise CertError("empty", "the file is empty")


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


@dataclass(frozen=True, slots=True)
class _Block:
    label: bytes
    text: bytes  # the whole block, BEGIN to END
    line: int


def _pem_blocks(data: bytes) -> list[_Block]:
    """Every complete PEM block; a BEGIN line without its END line is a truncated file."""
    blocks = [_Block(m.group(1), m.group(0), _line_of(data, m.start())) for m in _PEM_BLOCK.finditer(data)]
    covered = [(m.start(), m.end()) for m in _PEM_BLOCK.finditer(data)]
    for m in _PEM_BEGIN.finditer(data):
        if not any(a <= m.start() < b for a, b in covered):
            label = m.group(1).decode()
            raise CertError(
                "truncated",
                f"truncated PEM: the {label} block that begins on line {_line_of(data, m.start())} "
                f"has no '-----END {label}-----' line",
            )
    return blocks


def _pem_body_ok(block: _Block) -> bool:
    lines = [ln.strip() for ln in block.text.splitlines()[1:-1]]
    body = b"".join(ln for ln in lines if ln and b":" not in ln)
    try:
        base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _load_pem_cert(block: _Block, n: int) -> x509.Certificate:
    text = block.text
    if block.label != b"CERTIFICATE":  # X509 CERTIFICATE / TRUSTED CERTIFICATE: same DER inside
        text = text.replace(block.label, b"CERTIFICATE")
    if not _pem_body_ok(block):
        raise CertError("garbage", f"certificate #{n} (line {block.line}) is damaged: its base64 text is not valid")
    try:
        return x509.load_pem_x509_certificate(text)
    except ValueError as e:
        raise CertError("garbage", f"certificate #{n} (line {block.line}) is not a valid X.509 certificate: {e}") \
            from None


def _looks_pkcs12(data: bytes) -> bool:
    return data[:1] == b"\x30" and _PKCS7_DATA_OID in data[:64]


def _check_named(cert: x509.Certificate, n: int | None = None) -> None:
    if not has_name(cert):
        which = "the certificate" if n is None else f"certificate #{n}"
        raise CertError(
            "no-name",
            f"{which} ({cert.subject.rfc4514_string() or 'empty subject'}) names nothing: it has no Common Name "
            "and no DNS or IP Subject Alternative Name",
        )


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates of an "Other" upload: PEM (one or more blocks: a chain) or one DER certificate."""
    _check_size(data)
    if _PEM_BEGIN.search(data):
        blocks = _pem_blocks(data)
        certs = [_load_pem_cert(b, i) for i, b in enumerate((b for b in blocks if b.label in _CERT_LABELS), 1)]
        if not certs:
            found = ", ".join(sorted({b.label.decode() for b in blocks})) or "nothing"
            raise CertError("not-certificate", f"no certificate in the PEM data (found: {found})")
        if any(b.label in _KEY_LABELS for b in blocks):
            raise CertError(
                "not-certificate",
                "the file holds a private key: import it as a host certificate (the key stays secret)",
            )
    else:
        if _looks_pkcs12(data):
            raise CertError("not-certificate", "this is a PKCS#12 file: import it as a host certificate")
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            if data[:1] == b"\x30":
                raise CertError("garbage", "not a valid DER certificate (damaged or another kind of ASN.1 file)") \
                    from None
            raise CertError("garbage", "not a certificate: neither PEM text nor a DER certificate") from None
    for i, c in enumerate(certs, 1):
        _check_named(c, i if len(certs) > 1 else None)
    return certs


def _password_bytes(password: str | bytes | None) -> bytes | None:
    if password is None or password == "" or password == b"":
        return None
    return password.encode() if isinstance(password, str) else password


def _check_key(key: object) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 1024:
            raise CertError("unsupported-key", f"the RSA key is too small ({key.key_size} bits; at least 1024)")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key
    raise CertError("unsupported-key", f"unsupported private key type {type(key).__name__}: use RSA or ECDSA")


def _load_pem_key(block: _Block, password: bytes | None) -> PrivateKey:
    encrypted = block.label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in block.text
    if encrypted and password is None:
        raise CertError("encrypted-key", "the private key is encrypted: give its password")
    if not _pem_body_ok(block):
        raise CertError("garbage", f"the private key (line {block.line}) is damaged: its base64 text is not valid")
    try:
        key = serialization.load_pem_private_key(block.text, password if encrypted else None)
    except ValueError as e:
        if encrypted:
            raise CertError("bad-password", "the password does not decrypt the private key") from None
        raise CertError("garbage", f"the private key (line {block.line}) is not valid: {e}") from None
    except (TypeError, UnsupportedAlgorithm) as e:
        raise CertError("unsupported-key", f"the private key cannot be used: {e}") from None
    return _check_key(key)


def _bundle(key: PrivateKey, certs: Sequence[x509.Certificate]) -> HostBundle:
    if not certs:
        raise CertError("no-file", "the bundle has a private key but no certificate")
    leaf = next((c for c in certs if key_matches(key, c)), None)
    if leaf is None:
        names = ", ".join(_issued_to(c) for c in certs)
        raise CertError("key-mismatch", f"the private key does not match the certificate ({names})")
    _check_named(leaf)
    chain = tuple(c for c in certs if c is not leaf)
    return HostBundle(leaf, key, chain)


def load_host_bundle(data: bytes, password: str | bytes | None = None) -> HostBundle:
    """A host certificate with its private key: a PEM bundle (certificate[s] + key, the key
    optionally encrypted) or a PKCS#12 file (optionally password-protected)."""
    _check_size(data)
    pw = _password_bytes(password)
    if _PEM_BEGIN.search(data):
        blocks = _pem_blocks(data)
        keys = [b for b in blocks if b.label in _KEY_LABELS]
        if not keys:
            raise CertError(
                "no-key",
                "the file has no private key: a host certificate needs its key (PEM bundle or PKCS#12)",
            )
        if len(keys) > 1:
            raise CertError("several-keys", f"the file holds {len(keys)} private keys: give exactly one")
        certs = [_load_pem_cert(b, i) for i, b in enumerate((b for b in blocks if b.label in _CERT_LABELS), 1)]
        return _bundle(_load_pem_key(keys[0], pw), certs)
    if not _looks_pkcs12(data):
        raise CertError("garbage", "not a host certificate: neither a PEM bundle nor a PKCS#12 file")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, pw)
    except ValueError:
        if pw is None:
            raise CertError("encrypted-key", "the PKCS#12 file is protected by a password: give it") from None
        raise CertError("bad-password", "cannot open the PKCS#12 file: wrong password or damaged file") from None
    except (TypeError, UnsupportedAlgorithm) as e:
        raise CertError("unsupported-key", f"the PKCS#12 file cannot be used: {e}") from None
    if key is None:
        raise CertError("no-key", "the PKCS#12 file has no private key")
    certs = ([cert] if cert is not None else []) + list(extra)
    return _bundle(_check_key(key), certs)


# ------------------------------------------------------------------ file names
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(wanted: str, taken: Iterable[str], ext: str = ".pem") -> str:
    """A store file name from a user's file name or a certificate's name: no path, no odd
    characters, unique among ``taken`` (``name-2.pem``...)."""
    base = wanted.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".pem", ".crt", ".cer", ".der", ".p12", ".pfx", ".key"):
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    base = _UNSAFE.sub("_", base).strip("._-")[:60] or "certificate"
    low = {t.lower() for t in taken}
    name = base + ext
    n = 2
    while name.lower() in low:
        name = f"{base}-{n}{ext}"
        n += 1
    return name


# ------------------------------------------------------------------ building (emulator certificates)
def build_ca_certificate(key: PrivateKey, common_name: str, now: dt.datetime, days: int = 365 * 30) -> x509.Certificate:
    """A self-signed CA certificate (the emulator installation's "factory CA")."""
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dgw-emulator"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def build_host_certificate(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    host_key: PrivateKey,
    common_name: str,
    ips: Sequence[str],
    dns_names: Sequence[str],
    now: dt.datetime,
    days: int = 365 * 20,
) -> x509.Certificate:
    """A unit's factory host certificate: SAN = its IP address(es) and name(s), EKU serverAuth +
    clientAuth (Usage ``TlsClient, TlsServer``), signed by the factory CA."""
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    sans += [x509.DNSName(d) for d in dns_names]
    rsa_key = isinstance(host_key, rsa.RSAPrivateKey)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dgw-emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]))
        .issuer_name(ca_cert.subject)
        .public_key(host_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=rsa_key, data_encipherment=False,
                key_agreement=not rsa_key, key_cert_sign=False, crl_sign=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(host_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

"""The emulator's firmware pack (MFP) file: a signed manifest and a payload (``Fpu`` service, ``Fpu.MfpUrl``).

The vendor's MFP format is not public; this one is the emulator's (an emulator choice, documented in README).
One file, big-endian::

    0   8  magic         b"DGW-MFP\\x01"
    8   4  manifest length M
    12  M  manifest      UTF-8 JSON object, see below
    .   8  payload length P
    .   P  payload       the "firmware image" (any bytes: the emulator keeps it in its bank, runs nothing from it)
    .  64  signature     Ed25519 (RFC 8032) over every byte before it

Manifest keys: ``format`` (1), ``name`` (``Fpu.MfpInstalledInfo.MfpName``, e.g. ``DGW 49.12.3001``), ``version``
(``MfpVersion`` and the ``%version%`` macro), ``profile`` (``MfpProfileName``, ``%profile%``), ``products`` (the
``Dcm.UnitInfoProductName`` values it installs on, e.g. ``["Mediatrix 4102"]``), ``payload_sha256`` (hex).

A unit trusts the **emulator's signing key** (:data:`EMULATOR_SIGNING_SEED`, public on purpose: packs prove their
integrity and that the emulator's tool made them, not a secret vendor origin) and any public key its lab adds.
:func:`read_mfp` refuses, naming the reason (:class:`MfpError` ``kind``): ``corrupt`` (bad magic, manifest or
lengths), ``truncated`` (shorter than its lengths say), ``unsigned`` (no signature), ``signature`` (a signature no
trusted key made, or bytes changed after signing), ``product`` (not for this unit's product).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from firmware_model.errors import KindError

__all__ = [
    "EMULATOR_SIGNING_SEED",
    "MAGIC",
    "Manifest",
    "MfpError",
    "build_mfp",
    "emulator_signing_key",
    "read_mfp",
]

MAGIC = b"DGW-MFP\x01"
SIGNATURE_SIZE = 64
MAX_MANIFEST = 64 * 1024
# The emulator's signing key: Ed25519 from this public seed (RFC 8032 §5.1.5), so `dgw-emulator mfp build` signs
# packs every emulated unit accepts. Public by design: see the module docstring.
EMULATOR_SIGNING_SEED = hashlib.sha256(b"dgw-emulator MFP signing key, version 1").digest()
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")


class MfpError(KindError):
    """A refused firmware pack. ``kind``: corrupt, truncated, unsigned, signature, product."""


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    version: str
    profile: str
    products: tuple[str, ...]
    payload_sha256: str = ""

    def to_json(self) -> bytes:
        return json.dumps({
            "format": 1, "name": self.name, "version": self.version, "profile": self.profile,
            "products": list(self.products), "payload_sha256": self.payload_sha256,
        }, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise MfpError("corrupt", "the manifest is not JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != 1:
            raise MfpError("corrupt", "the manifest is not a format-1 MFP manifest")
        try:
            m = cls(str(doc["name"]), str(doc["version"]), str(doc["profile"]),
                    tuple(str(p) for p in doc["products"]), str(doc["payload_sha256"]))
        except (KeyError, TypeError):
            raise MfpError("corrupt", "the manifest lacks name, version, profile, products or payload_sha256") from None
        m.check()
        return m

    def check(self) -> None:
        if not _VERSION.match(self.version):
            raise MfpError("corrupt", f"version {self.version!r}: letters, digits and . _ - only, at most 64")
        if not self.name or len(self.name) > 255 or not self.profile or len(self.profile) > 255:
            raise MfpError("corrupt", "name and profile are 1 to 255 characters")
        if not self.products:
            raise MfpError("corrupt", "the manifest names no product")


def emulator_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(EMULATOR_SIGNING_SEED)


def build_mfp(manifest: Manifest, payload: bytes, key: Ed25519PrivateKey | None = None, *,
              signed: bool = True) -> bytes:
    """A pack; ``signed=False`` leaves the signature out (an unsigned pack, which every unit refuses)."""
    manifest = Manifest(manifest.name, manifest.version, manifest.profile, manifest.products,
                        hashlib.sha256(payload).hexdigest())
    manifest.check()
    raw = manifest.to_json()
    body = MAGIC + struct.pack("!I", len(raw)) + raw + struct.pack("!Q", len(payload)) + payload
    if not signed:
        return body
    return body + (key or emulator_signing_key()).sign(body)


def read_mfp(data: bytes, *, product: str | None = None,
             trusted: Iterable[Ed25519PublicKey] = ()) -> tuple[Manifest, bytes]:
    """The manifest and payload of a pack, checked (see the module docstring); ``product``: the unit's."""
    if not data.startswith(MAGIC):
        raise MfpError("corrupt", "not a firmware pack (no DGW-MFP header)")
    if len(data) < len(MAGIC) + 4:
        raise MfpError("truncated", "the firmware pack is truncated (header)")
    (m_len,) = struct.unpack_from("!I", data, len(MAGIC))
    if m_len > MAX_MANIFEST:
        raise MfpError("corrupt", f"the manifest says {m_len} bytes, more than {MAX_MANIFEST}")
    at = len(MAGIC) + 4
    if len(data) < at + m_len + 8:
        raise MfpError("truncated", "the firmware pack is truncated (manifest)")
    raw_manifest = data[at:at + m_len]
    at += m_len
    (p_len,) = struct.unpack_from("!Q", data, at)
    at += 8
    end = at + p_len
    if len(data) < end:
        raise MfpError("truncated", f"the firmware pack is truncated: {len(data) - at} of {p_len} payload bytes")
    if len(data) == end:
        raise MfpError("unsigned", "the firmware pack is not signed")
    if len(data) != end + SIGNATURE_SIZE:
        raise MfpError("corrupt" if len(data) > end + SIGNATURE_SIZE else "truncated",
                       f"the signature is {len(data) - end} bytes, not {SIGNATURE_SIZE}")
    body, signature = data[:end], data[end:]
    keys = [emulator_signing_key().public_key(), *trusted]
    if not any(_verifies(k, signature, body) for k in keys):  # before reading anything the pack says
        raise MfpError("signature", "the firmware pack's signature is not valid (altered, or signed by an "
                                    "untrusted key)")
    manifest = Manifest.from_json(raw_manifest)
    payload = data[at:end]
    if hashlib.sha256(payload).hexdigest() != manifest.payload_sha256:
        raise MfpError("corrupt", "the payload does not match the manifest's digest")
    if product is not None and product not in manifest.products:
        raise MfpError("product", f"the firmware pack is for {', '.join(manifest.products)}, not {product}")
    return manifest, payload


def _verifies(key: Ed25519PublicKey, signature: bytes, body: bytes) -> bool:
    try:
        key.verify(signature, body)
    except InvalidSignature:
        return False
    return True

"""The emulator's encrypted-file format, for configuration scripts (``Conf.ScriptsSecretKey``,
``Conf.ScriptExportSecretKey``) and configuration images (``Conf.ImageSecretKey``).

The vendor's format (its MxCryptFile tool) is not public, so the emulator defines its own — an emulator choice,
documented in README — from standard parts of ``cryptography``, nothing home-made:

* the key is what the DGW parameters hold: hexadecimal text (``A36CB299``), 1 to 56 bytes once decoded. Such a
  key may be short, so it is stretched with **scrypt** (RFC 7914; N = 2^14, r = 8, p = 1, a 16-byte random
  salt per file) into a 32-byte master key;
* **HKDF-SHA256** (RFC 5869) derives from the master key an AES key and a key-check value (two ``info`` labels);
* the content is sealed with **AES-256-GCM** (NIST SP 800-38D; 12-byte random nonce, 16-byte tag) and the whole
  header is its associated data, so a changed header byte, a flipped content bit or a cut file all fail.

Layout (big-endian)::

    0   8  magic            b"DGWCRYPT"  (how an encrypted script is detected)
    8   1  format version   1
    9   1  KDF              1 = scrypt
    10  1  log2(N)          14
    11  1  r                8
    12  1  p                1
    13 16  salt
    29 12  nonce
    41  8  key check        HKDF(master, "dgw-emulator key check")[:8]
    49  .  ciphertext || GCM tag (16)

The key check tells "wrong key" apart from "file altered" (:class:`CryptError` ``kind``): with the right key the
check matches and only the tag can still fail. It gives an attacker nothing the tag did not already give (both
need the scrypt work per guess).
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from firmware_model.errors import KindError

__all__ = ["MAGIC", "MAX_KEY_BYTES", "CryptError", "decrypt", "encrypt", "is_encrypted", "parse_key"]

MAGIC = b"DGWCRYPT"
VERSION = 1
KDF_SCRYPT = 1
MAX_KEY_BYTES = 56  # Conf.ScriptsSecretKey: up to 112 hex characters
_HEADER = struct.Struct("!8sBBBBB16s12s8s")
_TAG = 16
_LOG2_N, _R, _P = 14, 8, 1
_MAX_LOG2_N = 20  # a header asking for more memory than this is refused, not obeyed


class CryptError(KindError):
    """``kind``: ``key`` (the key is not hexadecimal or too long), ``wrong-key``, ``tampered`` (the key is right but
    the content or header changed), ``format`` (not this format, truncated, unknown version)."""


def parse_key(text: str) -> bytes:
    """The key bytes of a DGW hexadecimal key (``A36CB299``)."""
    t = text.strip()
    if not t:
        raise CryptError("key", "no key is set")
    if len(t) % 2:
        t = "0" + t  # an odd number of hex digits: the high nibble is 0
    try:
        key = bytes.fromhex(t)
    except ValueError:
        raise CryptError("key", "the key is not hexadecimal (0-9, A-F)") from None
    if len(key) > MAX_KEY_BYTES:
        raise CryptError("key", f"the key is longer than {MAX_KEY_BYTES} bytes ({2 * MAX_KEY_BYTES} hex digits)")
    return key


def is_encrypted(data: bytes) -> bool:
    """Whether ``data`` is a file in this format (detection of encrypted scripts)."""
    return data.startswith(MAGIC)


def _keys(key: bytes, salt: bytes, log2_n: int, r: int, p: int) -> tuple[bytes, bytes]:
    master = Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(key)

    def hkdf(label: bytes, length: int) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label).derive(master)

    return hkdf(b"dgw-emulator encryption", 32), hkdf(b"dgw-emulator key check", 8)


def encrypt(data: bytes, key_hex: str, *, salt: bytes | None = None, nonce: bytes | None = None) -> bytes:
    """``data`` sealed under the hexadecimal key (``salt``/``nonce`` are for test vectors only)."""
    key = parse_key(key_hex)
    salt = salt if salt is not None else os.urandom(16)
    nonce = nonce if nonce is not None else os.urandom(12)
    enc, check = _keys(key, salt, _LOG2_N, _R, _P)
    header = _HEADER.pack(MAGIC, VERSION, KDF_SCRYPT, _LOG2_N, _R, _P, salt, nonce, check)
    return header + AESGCM(enc).encrypt(nonce, data, header)


def decrypt(blob: bytes, key_hex: str) -> bytes:
    """The content of an encrypted file; :class:`CryptError` saying why it cannot be opened."""
    if not is_encrypted(blob):
        raise CryptError("format", "not an encrypted file (no DGWCRYPT header)")
    if len(blob) < _HEADER.size + _TAG:
        raise CryptError("format", "the encrypted file is truncated")
    _magic, version, kdf, log2_n, r, p, salt, nonce, check = _HEADER.unpack_from(blob)
    if version != VERSION or kdf != KDF_SCRYPT:
        raise CryptError("format", f"unknown encrypted-file version {version} (KDF {kdf})")
    if not (1 <= log2_n <= _MAX_LOG2_N and 1 <= r <= 32 and 1 <= p <= 16):
        raise CryptError("format", "the encrypted file asks for key-stretching settings out of bounds")
    key = parse_key(key_hex)
    enc, want = _keys(key, salt, log2_n, r, p)
    if want != check:
        raise CryptError("wrong-key", "the decryption key does not match this file")
    header = blob[:_HEADER.size]
    try:
        return AESGCM(enc).decrypt(nonce, blob[_HEADER.size:], header)
    except InvalidTag:
        raise CryptError("tampered", "the encrypted file was altered or damaged (authentication failed)") from None

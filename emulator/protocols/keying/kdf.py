"""SRTP key derivation (RFC 3711 §4.3) and the AES counter-mode keystream (RFC 3711 §4.1.1).

Implemented with `cryptography` so that it is independent of libsrtp: the tests check it against the
RFC 3711 Appendix B.2/B.3 vectors, then feed keys derived here into a pure-Python SRTP transform and
compare its bytes with pylibsrtp's output — proof that our keying (SDES inline keys, MIKEY-derived keys)
is what libsrtp uses on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "LABEL_RTCP_AUTH",
    "LABEL_RTCP_ENCRYPTION",
    "LABEL_RTCP_SALT",
    "LABEL_RTP_AUTH",
    "LABEL_RTP_ENCRYPTION",
    "LABEL_RTP_SALT",
    "SessionKeys",
    "aes_cm_keystream",
    "derive_session_key",
    "derive_session_keys",
    "srtp_iv",
]

# RFC 3711 §4.3.1 / §4.3.2 key derivation labels.
LABEL_RTP_ENCRYPTION = 0x00
LABEL_RTP_AUTH = 0x01
LABEL_RTP_SALT = 0x02
LABEL_RTCP_ENCRYPTION = 0x03
LABEL_RTCP_AUTH = 0x04
LABEL_RTCP_SALT = 0x05

_MASK_112 = (1 << 112) - 1


def aes_cm_keystream(key: bytes, iv: bytes, length: int) -> bytes:
    """AES in counter mode (RFC 3711 §4.1.1): `length` bytes of keystream from the 128-bit initial counter `iv`.

    The counter is incremented per 16-byte block. SRTP never needs more than 2^16 blocks per IV, so the
    full-width increment of `cryptography`'s CTR mode is the RFC's "IV + i mod 2^128".
    """
    if len(iv) != 16:
        raise ValueError(f"AES-CM IV must be 16 bytes, got {len(iv)}")
    if length < 0:
        raise ValueError("keystream length must be >= 0")
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(bytes(length)) + enc.finalize()


def derive_session_key(
    master_key: bytes, master_salt: bytes, label: int, length: int, *, index: int = 0, kdr: int = 0
) -> bytes:
    """One session key by the AES-CM PRF of RFC 3711 §4.3.1 and §4.3.3.

    r = index DIV kdr (0 when kdr is 0); key_id = label || r (8 + 48 bits); x = key_id XOR master_salt;
    the key is the first `length` bytes of AES-CM(master_key, IV = x * 2^16).
    """
    if len(master_salt) != 14:
        raise ValueError(f"master salt must be 14 bytes (112 bits), got {len(master_salt)}")
    if len(master_key) not in (16, 24, 32):
        raise ValueError(f"master key must be 16, 24 or 32 bytes, got {len(master_key)}")
    if not 0 <= label <= 0xFF:
        raise ValueError(f"label out of range: {label}")
    if kdr and (kdr & (kdr - 1) or kdr > 1 << 24):
        raise ValueError(f"key derivation rate must be 0 or a power of 2 up to 2^24, got {kdr}")
    r = (index // kdr) & 0xFFFFFFFFFFFF if kdr else 0
    key_id = (label << 48) | r
    x = (int.from_bytes(master_salt, "big") ^ key_id) & _MASK_112
    return aes_cm_keystream(master_key, (x << 16).to_bytes(16, "big"), length)


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """Session keys of one direction, RTP or RTCP (RFC 3711 §4.3)."""

    encryption: bytes  # k_e, 16 bytes for AES_CM_128
    authentication: bytes  # k_a, 20 bytes for HMAC-SHA1 (RFC 3711 §8.2 n_a = 160)
    salt: bytes  # k_s, 14 bytes


def derive_session_keys(
    master_key: bytes,
    master_salt: bytes,
    *,
    rtcp: bool = False,
    index: int = 0,
    kdr: int = 0,
    encryption_length: int = 16,
    auth_length: int = 20,
    salt_length: int = 14,
) -> SessionKeys:
    """The three SRTP (labels 0,1,2) or SRTCP (labels 3,4,5) session keys, RFC 3711 §4.3.1/§4.3.2."""
    base = LABEL_RTCP_ENCRYPTION if rtcp else LABEL_RTP_ENCRYPTION
    return SessionKeys(
        encryption=derive_session_key(master_key, master_salt, base, encryption_length, index=index, kdr=kdr),
        authentication=derive_session_key(master_key, master_salt, base + 1, auth_length, index=index, kdr=kdr),
        salt=derive_session_key(master_key, master_salt, base + 2, salt_length, index=index, kdr=kdr),
    )


def srtp_iv(session_salt: bytes, ssrc: int, index: int) -> bytes:
    """The AES-CM IV of one packet, RFC 3711 §4.1.1: (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16).

    For SRTP i is the 48-bit packet index ROC * 2^16 + SEQ; for SRTCP it is the 31-bit SRTCP index.
    """
    iv = (int.from_bytes(session_salt, "big") << 16) ^ ((ssrc & 0xFFFFFFFF) << 64) ^ (index << 16)
    return iv.to_bytes(16, "big")

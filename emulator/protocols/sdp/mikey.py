"""MIKEY (RFC 3830) in its pre-shared-key method, carried in SDP as ``a=key-mgmt:mikey <base64>`` (RFC 4567).

The DGW keys SRTP with MIKEY-PS (fact sheet §8: "MIKEY with pre-shared keys"); where the key comes from is
not documented, so the emulator reads it from an emulator-addition parameter (see the issue 5 report).

Messages (RFC 3830 §3.1, §5)::

    I_MESSAGE = HDR(data type 0, V), T, RAND, SP, KEMAC        initiator -> responder (the SDP offer)
    R_MESSAGE = HDR(data type 1), T, V                          responder -> initiator (answer), if V was set

Two KEMAC flavours:

* ``KemacMode.PSK`` — key data encrypted with AES-CM-128 and the message MACed with HMAC-SHA-1-160, both
  keys derived from the PSK with the MIKEY PRF (§4.1.2) and the labels of §4.1.4
  (``constant || 0xFF || CSB ID || RAND``); IV = (S XOR (0x0000 || CSB ID || T)) || 0x0000 (§4.2.3). The key
  data is a TGK+SALT: each crypto session's SRTP master key is the TEK derived from the TGK (§4.1.3,
  ``0x2AD01C64 || CS ID || CSB ID || RAND``, CS ID = 1-based position in the CS ID map) and its master salt
  is the transported salt (or, for a plain TGK, the salting key derived with ``0x39A2C14B``).
* ``KemacMode.NULL`` — NULL encryption and NULL MAC (RFC 3830 §4.2.3/§6.2 allow it when the transport is
  secured, e.g. SIP over TLS). This is all GStreamer's libgstsdp builds and reads: one TEK key-data whose
  value is the 30-octet SRTP key||salt, an SP whose "auth key length" parameter holds the *tag* length
  (4 or 10). The parser understands that convention; the builder uses it in NULL mode (``gstreamer_compat``).

All parsing is bounds-checked: truncated or garbage input raises :class:`MikeyParseError`, a wrong PSK
:class:`MikeyAuthError`, a method or algorithm we do not implement :class:`MikeyUnsupportedError`.
Time is injected (``now``, Unix seconds) as in every core of this project.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import math
import os
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from emulator.protocols.keying.kdf import aes_cm_keystream
from emulator.protocols.keying.suites import SrtpKeying, SrtpSuite
from emulator.protocols.sntp import ntp_to_unix, unix_to_ntp

__all__ = [
    "CONST_AUTH_FROM_PSK",
    "CONST_ENCR_FROM_PSK",
    "CONST_SALT_FROM_PSK",
    "CONST_SALT_FROM_TGK",
    "CONST_TEK_FROM_TGK",
    "CryptoSession",
    "ErrorPayload",
    "GeneralExtension",
    "Header",
    "IdPayload",
    "Kemac",
    "KemacMode",
    "KeyData",
    "MikeyAuthError",
    "MikeyError",
    "MikeyKeys",
    "MikeyMessage",
    "MikeyParseError",
    "MikeyTimestampError",
    "MikeyUnsupportedError",
    "RandPayload",
    "SecurityPolicy",
    "SrtpPolicy",
    "Timestamp",
    "Verification",
    "build_initiation",
    "build_response",
    "derive_psk_keys",
    "derive_tgk_key",
    "key_mgmt_value",
    "parse_key_mgmt",
    "parse_message",
    "prf",
    "srtp_master_from_tgk",
    "verify_initiation",
    "verify_response",
]

VERSION = 1

# Common header data types (§6.1)
DT_PSK_INIT = 0
DT_PSK_RESP = 1
DT_PK_INIT = 2
DT_PK_RESP = 3
DT_DH_INIT = 4
DT_DH_RESP = 5
DT_ERROR = 6

# Next-payload values (§6.1, table 6.1.b)
PT_LAST = 0
PT_KEMAC = 1
PT_PKE = 2
PT_DH = 3
PT_SIGN = 4
PT_T = 5
PT_ID = 6
PT_CERT = 7
PT_CHASH = 8
PT_V = 9
PT_SP = 10
PT_RAND = 11
PT_ERR = 12
PT_KEY_DATA = 20
PT_GEN_EXT = 21

PRF_MIKEY_1 = 0
MAP_TYPE_SRTP = 0
TS_NTP_UTC = 0
TS_NTP = 1
TS_COUNTER = 2
ENC_NULL = 0
ENC_AES_CM_128 = 1
ENC_AES_KW_128 = 2
MAC_NULL = 0
MAC_HMAC_SHA1_160 = 1
KD_TGK = 0
KD_TGK_SALT = 1
KD_TEK = 2
KD_TEK_SALT = 3
KV_NULL = 0
KV_SPI = 1
KV_INTERVAL = 2
PROTO_SRTP = 0

# SRTP policy parameter types (§6.10.1)
SP_ENC_ALG = 0
SP_ENC_KEY_LEN = 1
SP_AUTH_ALG = 2
SP_AUTH_KEY_LEN = 3
SP_SALT_LEN = 4
SP_PRF = 5
SP_KDR = 6
SP_SRTP_ENC = 7
SP_SRTCP_ENC = 8
SP_FEC_ORDER = 9
SP_SRTP_AUTH = 10
SP_TAG_LEN = 11
SP_PREFIX_LEN = 12

# Error payload codes (§6.12)
ERR_AUTH_FAILURE = 0
ERR_INVALID_TS = 1
ERR_INVALID_PRF = 2
ERR_INVALID_MAC = 3
ERR_INVALID_EA = 4
ERR_INVALID_HA = 5
ERR_INVALID_DT = 11
ERR_INVALID_SP = 9
ERR_INVALID_SPPAR = 10
ERR_UNSPECIFIED = 12

# PRF label constants (§4.1.3 from a TGK, §4.1.4 from a pre-shared/envelope key)
CONST_TEK_FROM_TGK = 0x2AD01C64
CONST_AUTH_FROM_TGK = 0x1B5C7973
CONST_ENCR_FROM_TGK = 0x15798CEF
CONST_SALT_FROM_TGK = 0x39A2C14B
CONST_ENCR_FROM_PSK = 0x150533E1
CONST_AUTH_FROM_PSK = 0x2D22AC75
CONST_SALT_FROM_PSK = 0x29B88916

_SHA1_LEN = 20
_MAX_MESSAGE = 8192


# --------------------------------------------------------------------------------------- errors


class MikeyError(ValueError):
    """A MIKEY message we cannot use. `error_code` is the §6.12 code; `status_code` the SIP answer."""

    status_code = 488

    def __init__(self, message: str, error_code: int = ERR_UNSPECIFIED) -> None:
        super().__init__(message)
        self.reason = message
        self.error_code = error_code


class MikeyParseError(MikeyError):
    """Truncated, garbage or structurally invalid message (or a=key-mgmt value)."""


class MikeyAuthError(MikeyError):
    """The KEMAC or V MAC does not verify: the pre-shared keys differ (or the message was altered)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ERR_INVALID_MAC)


class MikeyUnsupportedError(MikeyError):
    """Valid MIKEY we do not implement: public-key/DH methods, AES-KW, other PRFs, policies beyond AES_CM_128."""


class MikeyTimestampError(MikeyError):
    """The T payload is outside the allowed clock skew (RFC 3830 §5.4 replay protection)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ERR_INVALID_TS)


# ------------------------------------------------------------------------------------------ PRF


def _hmac_sha1(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha1).digest()


def _p(s: bytes, label: bytes, m: int) -> bytes:
    """P(s, label, m) = HMAC(s, A_1 || label) || ... || HMAC(s, A_m || label), A_0 = label, A_i = HMAC(s, A_i-1)."""
    out = []
    a = label
    for _ in range(m):
        a = _hmac_sha1(s, a)
        out.append(_hmac_sha1(s, a + label))
    return b"".join(out)


def prf(inkey: bytes, label: bytes, length: int) -> bytes:
    """The MIKEY-1 PRF (RFC 3830 §4.1.2): XOR of P(s_i, label, m) over the 256-bit pieces s_i of `inkey`,
    truncated to `length` octets (m = ceil(length / 20))."""
    if not inkey:
        raise ValueError("PRF input key is empty")
    m = math.ceil(length / _SHA1_LEN)
    acc = 0
    for i in range(0, len(inkey), 32):
        acc ^= int.from_bytes(_p(inkey[i : i + 32], label, m), "big")
    return acc.to_bytes(m * _SHA1_LEN, "big")[:length]


def _label(constant: int, cs_id: int, csb_id: int, rand: bytes) -> bytes:
    return struct.pack("!IBI", constant, cs_id, csb_id) + rand


def derive_psk_keys(psk: bytes, csb_id: int, rand: bytes) -> tuple[bytes, bytes, bytes]:
    """(encryption key 16, authentication key 20, salting key 14) for the KEMAC, from the PSK (§4.1.4)."""
    return (
        prf(psk, _label(CONST_ENCR_FROM_PSK, 0xFF, csb_id, rand), 16),
        prf(psk, _label(CONST_AUTH_FROM_PSK, 0xFF, csb_id, rand), 20),
        prf(psk, _label(CONST_SALT_FROM_PSK, 0xFF, csb_id, rand), 14),
    )


def derive_tgk_key(tgk: bytes, constant: int, cs_id: int, csb_id: int, rand: bytes, length: int) -> bytes:
    """A key of a crypto session derived from the TGK (§4.1.3): PRF(TGK, constant || CS ID || CSB ID || RAND)."""
    return prf(tgk, _label(constant, cs_id, csb_id, rand), length)


def srtp_master_from_tgk(
    tgk: bytes, cs_id: int, csb_id: int, rand: bytes, salt: bytes | None = None, suite: SrtpSuite | None = None
) -> bytes:
    """SRTP master key || master salt of crypto session `cs_id` (1-based): the TEK derived from the TGK and
    the transported salt if any, else the salting key derived from the TGK (§4.1.3)."""
    suite = suite or SrtpSuite.AES_CM_128_HMAC_SHA1_80
    key = derive_tgk_key(tgk, CONST_TEK_FROM_TGK, cs_id, csb_id, rand, suite.key_length)
    if salt is None:
        salt = derive_tgk_key(tgk, CONST_SALT_FROM_TGK, cs_id, csb_id, rand, suite.salt_length)
    if len(salt) != suite.salt_length:
        raise MikeyUnsupportedError(
            f"SRTP master salt must be {suite.salt_length} octets, got {len(salt)}", ERR_INVALID_SPPAR
        )
    return key + salt


# -------------------------------------------------------------------------------------- payloads


@dataclass(frozen=True, slots=True)
class CryptoSession:
    """One entry of the SRTP-ID CS ID map (§6.1.1): policy number, SSRC, ROC (SSRC 0 = not known yet)."""

    ssrc: int = 0
    roc: int = 0
    policy_no: int = 0


@dataclass(frozen=True, slots=True)
class Header:
    """Common header HDR (§6.1)."""

    data_type: int
    csb_id: int
    crypto_sessions: tuple[CryptoSession, ...] = ()
    v_flag: bool = False
    prf: int = PRF_MIKEY_1
    map_type: int = MAP_TYPE_SRTP
    version: int = VERSION

    def encode(self, next_payload: int) -> bytes:
        if len(self.crypto_sessions) > 255:
            raise ValueError("at most 255 crypto sessions")
        out = struct.pack(
            "!BBBBIBB",
            self.version,
            self.data_type,
            next_payload,
            (0x80 if self.v_flag else 0) | (self.prf & 0x7F),
            self.csb_id & 0xFFFFFFFF,
            len(self.crypto_sessions),
            self.map_type,
        )
        return out + b"".join(struct.pack("!BII", cs.policy_no, cs.ssrc, cs.roc) for cs in self.crypto_sessions)


@dataclass(frozen=True, slots=True)
class Timestamp:
    """T payload (§6.6): NTP-UTC/NTP (64 bits) or COUNTER (32 bits)."""

    ts_type: int
    value: int

    @property
    def value_bytes(self) -> bytes:
        return self.value.to_bytes(4 if self.ts_type == TS_COUNTER else 8, "big")

    def encode(self, next_payload: int) -> bytes:
        return bytes((next_payload, self.ts_type)) + self.value_bytes

    def unix(self) -> float | None:
        return ntp_to_unix(self.value) if self.ts_type in (TS_NTP_UTC, TS_NTP) else None


@dataclass(frozen=True, slots=True)
class RandPayload:
    """RAND payload (§6.11)."""

    data: bytes

    def encode(self, next_payload: int) -> bytes:
        if not 1 <= len(self.data) <= 255:
            raise ValueError("RAND must be 1..255 octets")
        return bytes((next_payload, len(self.data))) + self.data


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    """SP payload (§6.10): policy number, protocol type (0 = SRTP), (type, value) parameters."""

    policy_no: int
    prot_type: int
    params: tuple[tuple[int, bytes], ...]

    def encode(self, next_payload: int) -> bytes:
        body = b"".join(bytes((t, len(v))) + v for t, v in self.params)
        return struct.pack("!BBBH", next_payload, self.policy_no, self.prot_type, len(body)) + body

    def get(self, param_type: int) -> int | None:
        for t, v in self.params:
            if t == param_type:
                return int.from_bytes(v, "big") if v else 0
        return None


@dataclass(frozen=True, slots=True)
class KeyData:
    """Key data sub-payload of the KEMAC (§6.13)."""

    key_type: int
    key: bytes = field(repr=False)
    salt: bytes | None = field(default=None, repr=False)
    kv_type: int = KV_NULL
    kv_data: bytes = b""  # raw KV data (SPI or interval), kept as received

    def encode(self, next_payload: int) -> bytes:
        out = struct.pack("!BBH", next_payload, ((self.key_type & 0xF) << 4) | (self.kv_type & 0xF), len(self.key))
        out += self.key
        if self.key_type in (KD_TGK_SALT, KD_TEK_SALT):
            salt = self.salt or b""
            out += struct.pack("!H", len(salt)) + salt
        return out + self.kv_data


@dataclass(frozen=True, slots=True)
class Kemac:
    """KEMAC payload (§6.2): encrypted key data sub-payloads and the MAC over the whole message."""

    enc_alg: int
    encr_data: bytes
    mac_alg: int
    mac: bytes = b""


@dataclass(frozen=True, slots=True)
class Verification:
    """V payload (§6.9): MAC of the verification message."""

    auth_alg: int
    mac: bytes = b""


@dataclass(frozen=True, slots=True)
class IdPayload:
    """ID payload (§6.7)."""

    id_type: int
    data: bytes

    def encode(self, next_payload: int) -> bytes:
        return struct.pack("!BBH", next_payload, self.id_type, len(self.data)) + self.data


@dataclass(frozen=True, slots=True)
class ErrorPayload:
    """ERR payload (§6.12)."""

    code: int

    def encode(self, next_payload: int) -> bytes:
        return struct.pack("!BBH", next_payload, self.code, 0)


@dataclass(frozen=True, slots=True)
class GeneralExtension:
    """General extension payload (§6.15)."""

    ext_type: int
    data: bytes

    def encode(self, next_payload: int) -> bytes:
        return struct.pack("!BBH", next_payload, self.ext_type, len(self.data)) + self.data


Payload = Timestamp | RandPayload | SecurityPolicy | Kemac | Verification | IdPayload | ErrorPayload | GeneralExtension

_PAYLOAD_TYPE: dict[type, int] = {
    Timestamp: PT_T,
    RandPayload: PT_RAND,
    SecurityPolicy: PT_SP,
    Kemac: PT_KEMAC,
    Verification: PT_V,
    IdPayload: PT_ID,
    ErrorPayload: PT_ERR,
    GeneralExtension: PT_GEN_EXT,
}


@dataclass(frozen=True, slots=True)
class MikeyMessage:
    """A parsed message: header, payloads in order, and the raw bytes (MACs are computed over them)."""

    header: Header
    payloads: tuple[Payload, ...]
    raw: bytes = field(repr=False)

    def find(self, kind: type) -> Payload | None:
        return next((p for p in self.payloads if isinstance(p, kind)), None)

    def find_all(self, kind: type) -> list[Payload]:
        return [p for p in self.payloads if isinstance(p, kind)]


# ------------------------------------------------------------------------------------- parsing


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise MikeyParseError(
                f"truncated {what}: need {n} octets at offset {self.pos}, {len(self.data) - self.pos} left"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big")

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "big")


def parse_message(data: bytes) -> MikeyMessage:
    """Parse the structure of a MIKEY message (no decryption, no MAC check)."""
    if not isinstance(data, bytes | bytearray):
        raise MikeyParseError("MIKEY message must be bytes")
    data = bytes(data)
    if len(data) > _MAX_MESSAGE:
        raise MikeyParseError(f"MIKEY message longer than {_MAX_MESSAGE} octets")
    r = _Reader(data)
    version = r.u8("HDR")
    if version != VERSION:
        raise MikeyParseError(f"MIKEY version {version} (expected 1)")
    data_type = r.u8("HDR")
    next_payload = r.u8("HDR")
    vp = r.u8("HDR")
    csb_id = r.u32("HDR")
    n_cs = r.u8("HDR")
    map_type = r.u8("HDR")
    sessions: list[CryptoSession] = []
    if map_type == MAP_TYPE_SRTP:
        for _ in range(n_cs):
            policy_no = r.u8("CS ID map")
            ssrc = r.u32("CS ID map")
            roc = r.u32("CS ID map")
            sessions.append(CryptoSession(ssrc, roc, policy_no))
    elif n_cs:
        raise MikeyUnsupportedError(f"CS ID map type {map_type} (only SRTP-ID, 0)", ERR_UNSPECIFIED)
    header = Header(data_type, csb_id, tuple(sessions), bool(vp & 0x80), vp & 0x7F, map_type, version)
    payloads: list[Payload] = []
    while next_payload != PT_LAST:
        kind = next_payload
        start = r.pos
        if kind == PT_T:
            next_payload = r.u8("T")
            ts_type = r.u8("T")
            if ts_type in (TS_NTP_UTC, TS_NTP):
                payloads.append(Timestamp(ts_type, int.from_bytes(r.take(8, "T value"), "big")))
            elif ts_type == TS_COUNTER:
                payloads.append(Timestamp(ts_type, int.from_bytes(r.take(4, "T value"), "big")))
            else:
                raise MikeyParseError(f"unknown timestamp type {ts_type}")
        elif kind == PT_RAND:
            next_payload = r.u8("RAND")
            n = r.u8("RAND")
            if n == 0:
                raise MikeyParseError("empty RAND")
            payloads.append(RandPayload(r.take(n, "RAND")))
        elif kind == PT_SP:
            next_payload = r.u8("SP")
            policy_no = r.u8("SP")
            prot = r.u8("SP")
            body = _Reader(r.take(r.u16("SP"), "SP parameters"))
            params = []
            while body.pos < len(body.data):
                t = body.u8("SP parameter")
                params.append((t, body.take(body.u8("SP parameter"), "SP parameter value")))
            payloads.append(SecurityPolicy(policy_no, prot, tuple(params)))
        elif kind == PT_KEMAC:
            next_payload = r.u8("KEMAC")
            enc_alg = r.u8("KEMAC")
            encr = r.take(r.u16("KEMAC"), "KEMAC encrypted data")
            mac_alg = r.u8("KEMAC")
            mac = r.take(_mac_length(mac_alg), "KEMAC MAC")
            payloads.append(Kemac(enc_alg, encr, mac_alg, mac))
        elif kind == PT_V:
            next_payload = r.u8("V")
            alg = r.u8("V")
            payloads.append(Verification(alg, r.take(_mac_length(alg), "V MAC")))
        elif kind == PT_ID:
            next_payload = r.u8("ID")
            id_type = r.u8("ID")
            payloads.append(IdPayload(id_type, r.take(r.u16("ID"), "ID data")))
        elif kind == PT_ERR:
            next_payload = r.u8("ERR")
            code = r.u8("ERR")
            r.take(2, "ERR")
            payloads.append(ErrorPayload(code))
        elif kind == PT_GEN_EXT:
            next_payload = r.u8("general extension")
            ext_type = r.u8("general extension")
            payloads.append(GeneralExtension(ext_type, r.take(r.u16("general extension"), "general extension data")))
        elif kind in (PT_PKE, PT_DH, PT_SIGN, PT_CERT, PT_CHASH):
            raise MikeyUnsupportedError(f"payload type {kind}: only the pre-shared-key method is supported")
        else:
            raise MikeyParseError(f"unknown payload type {kind} at offset {start}")
    if r.pos != len(data):
        raise MikeyParseError(f"{len(data) - r.pos} trailing octets after the last payload")
    return MikeyMessage(header, tuple(payloads), data)


def _mac_length(alg: int) -> int:
    if alg == MAC_NULL:
        return 0
    if alg == MAC_HMAC_SHA1_160:
        return _SHA1_LEN
    raise MikeyUnsupportedError(f"MAC algorithm {alg}", ERR_INVALID_HA)


def _parse_key_data(data: bytes) -> list[KeyData]:
    r = _Reader(data)
    out = []
    next_payload = PT_KEY_DATA
    if not data:
        raise MikeyParseError("KEMAC holds no key data")
    while next_payload != PT_LAST:
        if next_payload != PT_KEY_DATA:
            raise MikeyParseError(f"KEMAC sub-payload type {next_payload} is not key data")
        next_payload = r.u8("key data")
        tk = r.u8("key data")
        key_type, kv_type = tk >> 4, tk & 0x0F
        if key_type > KD_TEK_SALT:
            raise MikeyParseError(f"unknown key data type {key_type}")
        key = r.take(r.u16("key data"), "key")
        salt = None
        if key_type in (KD_TGK_SALT, KD_TEK_SALT):
            salt = r.take(r.u16("salt"), "salt")
        kv_start = r.pos
        if kv_type == KV_SPI:
            r.take(r.u8("SPI"), "SPI")
        elif kv_type == KV_INTERVAL:
            r.take(r.u8("valid from"), "valid from")
            r.take(r.u8("valid to"), "valid to")
        elif kv_type != KV_NULL:
            raise MikeyParseError(f"unknown key validity type {kv_type}")
        out.append(KeyData(key_type, key, salt, kv_type, data[kv_start : r.pos]))
    if r.pos != len(data):
        raise MikeyParseError(f"{len(data) - r.pos} trailing octets in the KEMAC key data")
    return out


# ---------------------------------------------------------------------------------- SRTP policy


@dataclass(frozen=True, slots=True)
class SrtpPolicy:
    """The SRTP parameters of an SP payload (§6.10.1) reduced to what our media engine can do."""

    suite: SrtpSuite
    auth_key_length: int = 20

    @classmethod
    def from_payload(cls, sp: SecurityPolicy | None) -> SrtpPolicy:
        """Read an SP payload; defaults (AES-CM-128, HMAC-SHA1, 80-bit tag) for what is absent (§6.10.1)."""
        if sp is None:
            return cls(SrtpSuite.AES_CM_128_HMAC_SHA1_80)
        if sp.prot_type != PROTO_SRTP:
            raise MikeyUnsupportedError(f"security protocol {sp.prot_type} (only SRTP, 0)", ERR_INVALID_SP)

        def want(param: int, allowed: tuple[int, ...], what: str) -> int | None:
            v = sp.get(param)
            if v is not None and v not in allowed:
                raise MikeyUnsupportedError(f"SRTP policy: {what} = {v} not supported", ERR_INVALID_SPPAR)
            return v

        enc = sp.get(SP_ENC_ALG)
        if enc == 0:
            raise MikeyUnsupportedError(
                "SRTP policy: NULL encryption is not supported by the media engine", ERR_INVALID_SPPAR
            )
        want(SP_ENC_ALG, (1,), "encryption algorithm (1 = AES-CM)")
        want(SP_ENC_KEY_LEN, (16,), "session encryption key length")
        want(SP_AUTH_ALG, (1,), "authentication algorithm (1 = HMAC-SHA-1)")
        want(SP_SALT_LEN, (14,), "session salt length")
        want(SP_PRF, (0,), "SRTP PRF (0 = AES-CM)")
        want(SP_KDR, (0,), "key derivation rate")
        want(SP_SRTP_ENC, (1,), "SRTP encryption off")
        want(SP_SRTCP_ENC, (1,), "SRTCP encryption off")
        want(SP_SRTP_AUTH, (1,), "SRTP authentication off")
        want(SP_FEC_ORDER, (0,), "FEC order")
        want(SP_PREFIX_LEN, (0,), "SRTP prefix length")
        tag = sp.get(SP_TAG_LEN)
        auth_len = sp.get(SP_AUTH_KEY_LEN)
        if auth_len in (4, 10) and tag in (None, auth_len):
            tag = auth_len  # GStreamer's convention: the "auth key length" holds the tag length
            auth_len = 20
        if tag is None:
            tag = 10
        if tag not in (4, 10):
            raise MikeyUnsupportedError(
                f"SRTP policy: authentication tag length {tag} not supported", ERR_INVALID_SPPAR
            )
        if auth_len not in (None, 20):
            raise MikeyUnsupportedError(f"SRTP policy: auth key length {auth_len} not supported", ERR_INVALID_SPPAR)
        suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80 if tag == 10 else SrtpSuite.AES_CM_128_HMAC_SHA1_32
        return cls(suite)

    def to_payload(self, policy_no: int = 0, *, gstreamer_compat: bool = False) -> SecurityPolicy:
        """SP for this suite with every SRTP parameter spelled out (RFC values; GStreamer's if asked)."""
        tag = self.suite.rtp_tag_length
        params = [
            (SP_ENC_ALG, 1),
            (SP_ENC_KEY_LEN, self.suite.key_length),
            (SP_AUTH_ALG, 1),
            (SP_AUTH_KEY_LEN, tag if gstreamer_compat else self.auth_key_length),
            (SP_SALT_LEN, self.suite.salt_length),
            (SP_PRF, 0),
            (SP_SRTP_ENC, 1),
            (SP_SRTCP_ENC, 1),
            (SP_SRTP_AUTH, 1),
            (SP_TAG_LEN, tag),
        ]
        return SecurityPolicy(policy_no, PROTO_SRTP, tuple((t, bytes((v,))) for t, v in params))


# ----------------------------------------------------------------------------- key management


class KemacMode(enum.Enum):
    """PSK: AES-CM-128 + HMAC-SHA-1-160 with keys from the pre-shared key. NULL: no encryption, no MAC."""

    PSK = "psk"
    NULL = "null"


@dataclass(frozen=True, slots=True)
class MikeyKeys:
    """The outcome of an I_MESSAGE (built or verified): everything both sides need, and the SRTP keys."""

    suite: SrtpSuite
    mode: KemacMode
    csb_id: int
    rand: bytes = field(repr=False)
    timestamp: Timestamp
    crypto_sessions: tuple[CryptoSession, ...]
    masters: tuple[bytes, ...] = field(repr=False)  # SRTP key||salt per crypto session (one if the map is empty)
    v_flag: bool = False
    key_type: int = KD_TGK_SALT
    id_payloads: tuple[IdPayload, ...] = ()

    def keying(self, index: int = 0) -> SrtpKeying:
        """SRTP keying of crypto session `index` (0-based; CS ID index + 1)."""
        return SrtpKeying(self.suite, self.masters[min(index, len(self.masters) - 1)])

    def roc(self, index: int = 0) -> int:
        """Initial ROC the map gives for crypto session `index` (0 when there is no map)."""
        return self.crypto_sessions[index].roc if index < len(self.crypto_sessions) else 0


def _kemac_iv(salt_key: bytes, csb_id: int, ts: Timestamp) -> bytes:
    """IV = (S XOR (0x0000 || CSB ID || T)) || 0x0000, T right-aligned in 64 bits (§4.2.3)."""
    block = bytearray(14)
    block[2:6] = csb_id.to_bytes(4, "big")
    t = ts.value_bytes
    block[14 - len(t) :] = t
    return bytes(a ^ b for a, b in zip(salt_key, block, strict=True)) + b"\x00\x00"


def _apply_aes_cm(key: bytes, iv: bytes, data: bytes) -> bytes:
    ks = aes_cm_keystream(key, iv, len(data))
    return (int.from_bytes(data, "big") ^ int.from_bytes(ks, "big")).to_bytes(len(data), "big")


def build_initiation(
    *,
    suite: SrtpSuite = SrtpSuite.AES_CM_128_HMAC_SHA1_80,
    mode: KemacMode = KemacMode.PSK,
    psk: bytes | None = None,
    now: float,
    rng: Callable[[int], bytes] = os.urandom,
    crypto_sessions: Sequence[CryptoSession] = (CryptoSession(),),
    csb_id: int | None = None,
    key_type: int | None = None,
    v_flag: bool | None = None,
    gstreamer_compat: bool | None = None,
) -> tuple[bytes, MikeyKeys]:
    """Build an I_MESSAGE (PSK init, RFC 3830 §5.2) and return it with the keys it conveys.

    PSK mode (default): TGK+SALT key data (16-octet TGK, 14-octet salt) encrypted with AES-CM and the
    message MACed, V flag set (a verification message is expected in the answer). NULL mode: one TEK
    key data holding the SRTP key||salt, NULL encryption and MAC, V flag clear — GStreamer's form.
    `gstreamer_compat` (default: on in NULL mode) puts the tag length in the SP "auth key length"
    parameter as GStreamer expects; the RFC tag-length parameter is sent either way.
    """
    if gstreamer_compat is None:
        gstreamer_compat = mode is KemacMode.NULL
    if mode is KemacMode.PSK and not psk:
        raise ValueError("PSK mode needs a pre-shared key")
    if key_type is None:
        key_type = KD_TGK_SALT if mode is KemacMode.PSK else KD_TEK
    if v_flag is None:
        v_flag = mode is KemacMode.PSK
    csb = int.from_bytes(rng(4), "big") if csb_id is None else csb_id & 0xFFFFFFFF
    header = Header(DT_PSK_INIT, csb, tuple(crypto_sessions), v_flag)
    ts = Timestamp(TS_NTP_UTC, unix_to_ntp(now))
    rand = rng(16)
    # key material and the SRTP keys it yields
    if key_type in (KD_TGK, KD_TGK_SALT):
        tgk = rng(16)
        salt = rng(suite.salt_length) if key_type == KD_TGK_SALT else None
        key_data = KeyData(key_type, tgk, salt)
        count = max(1, len(crypto_sessions))
        masters = tuple(srtp_master_from_tgk(tgk, i + 1, csb, rand, salt, suite) for i in range(count))
    else:
        master = rng(suite.master_length)
        if key_type == KD_TEK:
            key_data = KeyData(KD_TEK, master)
        else:
            key_data = KeyData(KD_TEK_SALT, master[: suite.key_length], master[suite.key_length :])
        masters = (master,)
    plain = key_data.encode(PT_LAST)
    policy = SrtpPolicy(suite).to_payload(
        crypto_sessions[0].policy_no if crypto_sessions else 0, gstreamer_compat=gstreamer_compat
    )
    head = header.encode(PT_T) + ts.encode(PT_RAND) + RandPayload(rand).encode(PT_SP) + policy.encode(PT_KEMAC)
    if mode is KemacMode.PSK:
        assert psk is not None
        encr_key, auth_key, salt_key = derive_psk_keys(psk, csb, rand)
        encr = _apply_aes_cm(encr_key, _kemac_iv(salt_key, csb, ts), plain)
        body = head + struct.pack("!BBH", PT_LAST, ENC_AES_CM_128, len(encr)) + encr + bytes((MAC_HMAC_SHA1_160,))
        message = body + _hmac_sha1(auth_key, body)
    else:
        message = head + struct.pack("!BBH", PT_LAST, ENC_NULL, len(plain)) + plain + bytes((MAC_NULL,))
    keys = MikeyKeys(suite, mode, csb, rand, ts, tuple(crypto_sessions), masters, v_flag, key_type)
    return message, keys


def verify_initiation(
    data: bytes | MikeyMessage,
    *,
    psk: bytes | None,
    now: float | None = None,
    max_skew: float = 3600.0,
    accept_null: bool = True,
) -> MikeyKeys:
    """Parse, authenticate and decrypt an I_MESSAGE; derive the SRTP keys (RFC 3830 §5.3).

    `now` enables the timestamp check (|now - T| <= `max_skew`). `accept_null` allows the NULL KEMAC
    (only reasonable when SIP runs over TLS).
    """
    msg = data if isinstance(data, MikeyMessage) else parse_message(data)
    hdr = msg.header
    if hdr.data_type in (DT_PK_INIT, DT_PK_RESP, DT_DH_INIT, DT_DH_RESP):
        raise MikeyUnsupportedError(f"MIKEY data type {hdr.data_type}: only the pre-shared-key method", ERR_INVALID_DT)
    if hdr.data_type != DT_PSK_INIT:
        raise MikeyParseError(f"expected an I_MESSAGE (data type 0), got data type {hdr.data_type}", ERR_INVALID_DT)
    if hdr.prf != PRF_MIKEY_1:
        raise MikeyUnsupportedError(f"PRF function {hdr.prf} (only MIKEY-1, 0)", ERR_INVALID_PRF)
    ts = msg.find(Timestamp)
    rand = msg.find(RandPayload)
    kemac = msg.find(Kemac)
    if not isinstance(ts, Timestamp):
        raise MikeyParseError("I_MESSAGE without T payload")
    if not isinstance(rand, RandPayload):
        raise MikeyParseError("I_MESSAGE without RAND payload")
    if len(rand.data) < 16:
        raise MikeyParseError(f"RAND of {len(rand.data)} octets (at least 128 bits required)")
    if not isinstance(kemac, Kemac) or msg.payloads[-1] is not kemac:
        raise MikeyParseError("I_MESSAGE must end with a KEMAC payload")
    policy = SrtpPolicy.from_payload(msg.find(SecurityPolicy))  # type: ignore[arg-type]
    null = kemac.enc_alg == ENC_NULL and kemac.mac_alg == MAC_NULL
    if null and not accept_null:
        raise MikeyUnsupportedError("NULL-encrypted, unauthenticated KEMAC refused", ERR_INVALID_EA)
    if kemac.enc_alg not in (ENC_NULL, ENC_AES_CM_128):
        raise MikeyUnsupportedError(
            f"KEMAC encryption algorithm {kemac.enc_alg} (AES-KW not supported)", ERR_INVALID_EA
        )
    encr_key = auth_key = salt_key = b""
    if not null:
        if not psk:
            raise MikeyAuthError("the KEMAC is protected with a pre-shared key and none is configured")
        encr_key, auth_key, salt_key = derive_psk_keys(psk, hdr.csb_id, rand.data)
    if kemac.mac_alg == MAC_HMAC_SHA1_160:
        if not hmac.compare_digest(_hmac_sha1(auth_key, msg.raw[: len(msg.raw) - _SHA1_LEN]), kemac.mac):
            raise MikeyAuthError("KEMAC MAC mismatch: the pre-shared keys differ")
    if kemac.enc_alg == ENC_AES_CM_128:
        plain = _apply_aes_cm(encr_key, _kemac_iv(salt_key, hdr.csb_id, ts), kemac.encr_data)
    else:
        plain = kemac.encr_data
    if now is not None:
        sent = ts.unix()
        if sent is not None and abs(now - sent) > max_skew:
            raise MikeyTimestampError(f"MIKEY timestamp {sent - now:+.0f} s away from our clock (max {max_skew:.0f} s)")
    key_data = _parse_key_data(plain)
    kd = key_data[0]
    suite = policy.suite
    if kd.key_type in (KD_TGK, KD_TGK_SALT):
        if not kd.key:
            raise MikeyParseError("empty TGK")
        count = max(1, len(hdr.crypto_sessions))
        masters = tuple(
            srtp_master_from_tgk(kd.key, i + 1, hdr.csb_id, rand.data, kd.salt, suite) for i in range(count)
        )
    else:  # a TEK is the SRTP master key itself; with no salt field it carries key||salt (GStreamer)
        master = kd.key + (kd.salt or b"")
        if len(master) != suite.master_length:
            raise MikeyUnsupportedError(
                f"TEK key data of {len(kd.key)}+{len(kd.salt or b'')} octets; {suite.value} needs "
                f"{suite.key_length} key + {suite.salt_length} salt",
                ERR_INVALID_SPPAR,
            )
        masters = (master,)
    mode = KemacMode.NULL if null else KemacMode.PSK
    ids = tuple(p for p in msg.payloads if isinstance(p, IdPayload))
    return MikeyKeys(suite, mode, hdr.csb_id, rand.data, ts, hdr.crypto_sessions, masters, hdr.v_flag, kd.key_type, ids)


def _verification_input(message_without_mac: bytes, initiation: MikeyKeys) -> bytes:
    """V MAC input: the R_MESSAGE up to the MAC || IDi || IDr || T of the I_MESSAGE (§5.2)."""
    ids = b"".join(p.encode(PT_LAST) for p in initiation.id_payloads)
    return message_without_mac + ids + initiation.timestamp.value_bytes


def build_response(initiation: MikeyKeys, *, psk: bytes | None, now: float) -> bytes:
    """The R_MESSAGE (verification message, §5.2) answering a verified I_MESSAGE with the V flag set.

    PSK mode: V with HMAC-SHA-1-160 under the PSK-derived authentication key; NULL mode: V with NULL MAC.
    """
    header = Header(DT_PSK_RESP, initiation.csb_id, initiation.crypto_sessions, False)
    ts = Timestamp(TS_NTP_UTC, unix_to_ntp(now))
    if initiation.mode is KemacMode.PSK:
        if not psk:
            raise ValueError("PSK mode needs the pre-shared key")
        _, auth_key, _ = derive_psk_keys(psk, initiation.csb_id, initiation.rand)
        body = header.encode(PT_T) + ts.encode(PT_V) + bytes((PT_LAST, MAC_HMAC_SHA1_160))
        return body + _hmac_sha1(auth_key, _verification_input(body, initiation))
    return header.encode(PT_T) + ts.encode(PT_V) + bytes((PT_LAST, MAC_NULL))


def verify_response(data: bytes, initiation: MikeyKeys, *, psk: bytes | None) -> MikeyMessage:
    """Initiator side: check the R_MESSAGE of the answer (data type, CSB ID, V MAC)."""
    msg = parse_message(data)
    if msg.header.data_type == DT_ERROR:
        err = msg.find(ErrorPayload)
        code = err.code if isinstance(err, ErrorPayload) else ERR_UNSPECIFIED
        raise MikeyError(f"the responder sent a MIKEY error message (code {code})", code)
    if msg.header.data_type != DT_PSK_RESP:
        raise MikeyParseError(f"expected an R_MESSAGE (data type 1), got {msg.header.data_type}", ERR_INVALID_DT)
    if msg.header.csb_id != initiation.csb_id:
        raise MikeyParseError(f"R_MESSAGE CSB ID {msg.header.csb_id:#x} does not match {initiation.csb_id:#x}")
    v = msg.find(Verification)
    if not isinstance(v, Verification) or msg.payloads[-1] is not v:
        raise MikeyParseError("R_MESSAGE must end with a V payload")
    if v.auth_alg == MAC_HMAC_SHA1_160:
        if not psk:
            raise MikeyAuthError("the R_MESSAGE is MACed with a pre-shared key and none is configured")
        _, auth_key, _ = derive_psk_keys(psk, initiation.csb_id, initiation.rand)
        expect = _hmac_sha1(auth_key, _verification_input(msg.raw[: len(msg.raw) - _SHA1_LEN], initiation))
        if not hmac.compare_digest(expect, v.mac):
            raise MikeyAuthError("V payload MAC mismatch: the pre-shared keys differ")
    elif initiation.mode is KemacMode.PSK:
        raise MikeyAuthError("unauthenticated R_MESSAGE for a PSK-protected I_MESSAGE")
    return msg


def build_error(csb_id: int, code: int, crypto_sessions: Sequence[CryptoSession] = ()) -> bytes:
    """An (unauthenticated) error message, HDR(data type 6) + ERR (§5.1.2, §6.12)."""
    return Header(DT_ERROR, csb_id, tuple(crypto_sessions)).encode(PT_ERR) + ErrorPayload(code).encode(PT_LAST)


# ------------------------------------------------------------------------------------- SDP glue

_KEY_MGMT = re.compile(r"^\s*([A-Za-z0-9_.-]+)[ \t]+([A-Za-z0-9+/=]+)\s*$")


def key_mgmt_value(message: bytes) -> str:
    """The value of ``a=key-mgmt`` for a MIKEY message (RFC 4567 §3): ``mikey <base64>``."""
    return "mikey " + base64.b64encode(message).decode()


def parse_key_mgmt(value: str) -> bytes:
    """The MIKEY message in an ``a=key-mgmt`` value (an ``a=key-mgmt:`` prefix is tolerated)."""
    text = value.strip()
    for prefix in ("a=key-mgmt:", "key-mgmt:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    m = _KEY_MGMT.match(text)
    if m is None:
        raise MikeyParseError(f"a=key-mgmt value is not '<prtcl-id> <base64>': {value[:80]!r}")
    if m.group(1).lower() != "mikey":
        raise MikeyUnsupportedError(f"key management protocol {m.group(1)!r} (only mikey)")
    try:
        data = base64.b64decode(m.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise MikeyParseError("a=key-mgmt data is not valid base64") from None
    if not data:
        raise MikeyParseError("empty MIKEY message")
    return data

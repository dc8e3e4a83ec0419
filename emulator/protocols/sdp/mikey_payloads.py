"""MIKEY messages on the wire (RFC 3830 §6): the payloads, their codes, a bounds-checked parser, and the SRTP
security policy (§6.10.1) reduced to the suites the media engine carries.

The key management itself (PRF, pre-shared-key KEMAC, I/R messages) is :mod:`emulator.protocols.sdp.mikey`;
this module knows octets only. All parsing is bounds-checked: truncated or garbage input raises
:class:`MikeyParseError`, a method or algorithm we do not implement :class:`MikeyUnsupportedError`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from emulator.protocols.keying.suites import SrtpSuite
from emulator.protocols.sntp import ntp_to_unix

__all__ = [
    "SHA1_MAC_LENGTH",
    "CryptoSession",
    "ErrorPayload",
    "GeneralExtension",
    "Header",
    "IdPayload",
    "Kemac",
    "KeyData",
    "MikeyAuthError",
    "MikeyError",
    "MikeyMessage",
    "MikeyParseError",
    "MikeyTimestampError",
    "MikeyUnsupportedError",
    "Payload",
    "RandPayload",
    "SecurityPolicy",
    "SrtpPolicy",
    "Timestamp",
    "Verification",
    "build_error",
    "parse_key_data",
    "parse_message",
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

SHA1_MAC_LENGTH = 20  # HMAC-SHA-1-160 (§6.2, §6.9)
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
class _TypedPayload:
    """A payload of a type octet, a 16-bit length and the data: ID (§6.7) and general extension (§6.15)."""

    kind: int  # ID type / extension type
    data: bytes

    def encode(self, next_payload: int) -> bytes:
        return struct.pack("!BBH", next_payload, self.kind, len(self.data)) + self.data


@dataclass(frozen=True, slots=True)
class IdPayload(_TypedPayload):
    """ID payload (§6.7): ``kind`` is the ID type."""


@dataclass(frozen=True, slots=True)
class ErrorPayload:
    """ERR payload (§6.12)."""

    code: int

    def encode(self, next_payload: int) -> bytes:
        return struct.pack("!BBH", next_payload, self.code, 0)


@dataclass(frozen=True, slots=True)
class GeneralExtension(_TypedPayload):
    """General extension payload (§6.15): ``kind`` is the extension type."""

Payload = Timestamp | RandPayload | SecurityPolicy | Kemac | Verification | IdPayload | ErrorPayload | GeneralExtension

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
        return SHA1_MAC_LENGTH
    raise MikeyUnsupportedError(f"MAC algorithm {alg}", ERR_INVALID_HA)


def parse_key_data(data: bytes) -> list[KeyData]:
    """The key data sub-payloads of a KEMAC once decrypted (§6.13), bounds-checked."""
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


def build_error(csb_id: int, code: int, crypto_sessions: Sequence[CryptoSession] = ()) -> bytes:
    """An (unauthenticated) error message, HDR(data type 6) + ERR (§5.1.2, §6.12)."""
    return Header(DT_ERROR, csb_id, tuple(crypto_sessions)).encode(PT_ERR) + ErrorPayload(code).encode(PT_LAST)

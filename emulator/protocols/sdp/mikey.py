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

The messages' octets (payloads, codes, the bounds-checked parser) are
:mod:`emulator.protocols.sdp.mikey_payloads`; this module is the key management. Truncated or garbage input
raises :class:`MikeyParseError`, a wrong PSK :class:`MikeyAuthError`, a method or algorithm we do not
implement :class:`MikeyUnsupportedError`. Time is injected (``now``, Unix seconds) as in every core of this project.
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
from emulator.protocols.sdp.mikey_payloads import (
    DT_DH_INIT,
    DT_DH_RESP,
    DT_ERROR,
    DT_PK_INIT,
    DT_PK_RESP,
    DT_PSK_INIT,
    DT_PSK_RESP,
    ENC_AES_CM_128,
    ENC_NULL,
    ERR_INVALID_DT,
    ERR_INVALID_EA,
    ERR_INVALID_PRF,
    ERR_INVALID_SPPAR,
    ERR_UNSPECIFIED,
    KD_TEK,
    KD_TEK_SALT,
    KD_TGK,
    KD_TGK_SALT,
    MAC_HMAC_SHA1_160,
    MAC_NULL,
    PRF_MIKEY_1,
    PT_KEMAC,
    PT_LAST,
    PT_RAND,
    PT_SP,
    PT_T,
    PT_V,
    SHA1_MAC_LENGTH,
    TS_NTP_UTC,
    CryptoSession,
    ErrorPayload,
    Header,
    IdPayload,
    Kemac,
    KeyData,
    MikeyAuthError,
    MikeyError,
    MikeyMessage,
    MikeyParseError,
    MikeyTimestampError,
    MikeyUnsupportedError,
    RandPayload,
    SecurityPolicy,
    SrtpPolicy,
    Timestamp,
    Verification,
    parse_key_data,
    parse_message,
)
from emulator.protocols.sntp import unix_to_ntp

__all__ = [
    "CONST_AUTH_FROM_PSK",
    "CONST_ENCR_FROM_PSK",
    "CONST_SALT_FROM_PSK",
    "CONST_SALT_FROM_TGK",
    "CONST_TEK_FROM_TGK",
    "CryptoSession",
    "KemacMode",
    "MikeyAuthError",
    "MikeyError",
    "MikeyKeys",
    "MikeyParseError",
    "MikeyTimestampError",
    "MikeyUnsupportedError",
    "build_initiation",
    "build_response",
    "derive_psk_keys",
    "derive_tgk_key",
    "key_mgmt_value",
    "parse_key_mgmt",
    "prf",
    "srtp_master_from_tgk",
    "verify_initiation",
    "verify_response",
]

# PRF label constants (§4.1.3 from a TGK, §4.1.4 from a pre-shared/envelope key)
CONST_TEK_FROM_TGK = 0x2AD01C64
CONST_AUTH_FROM_TGK = 0x1B5C7973
CONST_ENCR_FROM_TGK = 0x15798CEF
CONST_SALT_FROM_TGK = 0x39A2C14B
CONST_ENCR_FROM_PSK = 0x150533E1
CONST_AUTH_FROM_PSK = 0x2D22AC75
CONST_SALT_FROM_PSK = 0x29B88916


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
    m = math.ceil(length / SHA1_MAC_LENGTH)
    acc = 0
    for i in range(0, len(inkey), 32):
        acc ^= int.from_bytes(_p(inkey[i : i + 32], label, m), "big")
    return acc.to_bytes(m * SHA1_MAC_LENGTH, "big")[:length]


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
        if not hmac.compare_digest(_hmac_sha1(auth_key, msg.raw[: len(msg.raw) - SHA1_MAC_LENGTH]), kemac.mac):
            raise MikeyAuthError("KEMAC MAC mismatch: the pre-shared keys differ")
    if kemac.enc_alg == ENC_AES_CM_128:
        plain = _apply_aes_cm(encr_key, _kemac_iv(salt_key, hdr.csb_id, ts), kemac.encr_data)
    else:
        plain = kemac.encr_data
    if now is not None:
        sent = ts.unix()
        if sent is not None and abs(now - sent) > max_skew:
            raise MikeyTimestampError(f"MIKEY timestamp {sent - now:+.0f} s away from our clock (max {max_skew:.0f} s)")
    key_data = parse_key_data(plain)
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
        expect = _hmac_sha1(auth_key, _verification_input(msg.raw[: len(msg.raw) - SHA1_MAC_LENGTH], initiation))
        if not hmac.compare_digest(expect, v.mac):
            raise MikeyAuthError("V payload MAC mismatch: the pre-shared keys differ")
    elif initiation.mode is KemacMode.PSK:
        raise MikeyAuthError("unauthenticated R_MESSAGE for a PSK-protected I_MESSAGE")
    return msg


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

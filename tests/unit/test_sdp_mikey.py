"""MIKEY-PS (RFC 3830) in a=key-mgmt (RFC 4567): the PRF, PSK and NULL KEMACs, R_MESSAGE, SRTP keys,
errors for wrong PSK / truncation / garbage, a GStreamer-shaped message built byte by byte, fuzzing."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.protocols.media.rtp import ntp_from_unix
from emulator.protocols.media.srtp import SrtpContext, SrtpSession, SrtpSuite
from emulator.protocols.sdp import mikey
from emulator.protocols.sdp import mikey_payloads as wire
from emulator.protocols.sdp.mikey import (
    CryptoSession,
    KemacMode,
    MikeyAuthError,
    MikeyError,
    MikeyParseError,
    MikeyTimestampError,
    MikeyUnsupportedError,
)
from tests.helpers.fuzz import accepted_or_refused

NOW = 1_700_000_000.0
PSK = b"dgw-lab-pre-shared-key"


def rng_from(seed: int):  # type: ignore[no-untyped-def]
    """Deterministic byte source (tests only)."""
    counter = itertools.count()

    def rng(n: int) -> bytes:
        return hashlib.sha256(f"{seed}:{next(counter)}".encode()).digest()[:n].ljust(n, b"\x00")

    return rng


# ------------------------------------------------------------------------------------ PRF (§4.1.2)


def rfc3830_prf(inkey: bytes, label: bytes, outkey_len: int) -> bytes:
    """Written straight from RFC 3830 §4.1.2, independently of emulator.protocols.sdp.mikey.prf."""

    def h(key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, hashlib.sha1).digest()

    def p(s: bytes, m: int) -> bytes:
        a = [label]
        out = b""
        for i in range(1, m + 1):
            a.append(h(s, a[i - 1]))
            out += h(s, a[i] + label)
        return out

    n = math.ceil(len(inkey) * 8 / 256)
    m = math.ceil(outkey_len * 8 / 160)
    pieces = [inkey[32 * i : 32 * (i + 1)] for i in range(n)]
    result = bytes(20 * m)
    for s in pieces:
        result = bytes(x ^ y for x, y in zip(result, p(s, m), strict=True))
    return result[:outkey_len]


@pytest.mark.parametrize("key_len", [1, 16, 20, 32, 33, 64, 70])
@pytest.mark.parametrize("out_len", [14, 16, 20, 21, 40, 64])
def test_prf_matches_rfc_definition(key_len: int, out_len: int) -> None:
    key = bytes(range(1, key_len + 1))
    label = bytes.fromhex("2AD01C64") + b"\x01" + bytes.fromhex("DEADBEEF") + bytes(16)
    assert mikey.prf(key, label, out_len) == rfc3830_prf(key, label, out_len)


def test_prf_structure() -> None:
    label = b"label"
    # outputs of different lengths are prefixes of each other (P is a stream)
    assert mikey.prf(b"k" * 20, label, 40)[:16] == mikey.prf(b"k" * 20, label, 16)
    # a key longer than 256 bits is split and the P outputs XORed: both halves matter
    long_key = b"\xa5" * 32 + b"\x5a" * 12
    assert mikey.prf(long_key, label, 20) != mikey.prf(long_key[:32], label, 20)
    p1, p2 = mikey.prf(long_key[:32], label, 20), mikey.prf(long_key[32:], label, 20)
    assert mikey.prf(long_key, label, 20) == bytes(a ^ b for a, b in zip(p1, p2, strict=True))
    with pytest.raises(ValueError):
        mikey.prf(b"", label, 16)


def test_psk_and_tgk_labels() -> None:
    rand = bytes(range(16))
    csb = 0x01020304
    encr, auth, salt = mikey.derive_psk_keys(PSK, csb, rand)
    assert encr == rfc3830_prf(PSK, bytes.fromhex("150533E1") + b"\xff" + bytes.fromhex("01020304") + rand, 16)
    assert auth == rfc3830_prf(PSK, bytes.fromhex("2D22AC75") + b"\xff" + bytes.fromhex("01020304") + rand, 20)
    assert salt == rfc3830_prf(PSK, bytes.fromhex("29B88916") + b"\xff" + bytes.fromhex("01020304") + rand, 14)
    tgk = bytes(range(100, 116))
    tek = rfc3830_prf(tgk, bytes.fromhex("2AD01C64") + b"\x01" + bytes.fromhex("01020304") + rand, 16)
    derived_salt = rfc3830_prf(tgk, bytes.fromhex("39A2C14B") + b"\x01" + bytes.fromhex("01020304") + rand, 14)
    assert mikey.srtp_master_from_tgk(tgk, 1, csb, rand) == tek + derived_salt
    assert mikey.srtp_master_from_tgk(tgk, 1, csb, rand, salt=b"S" * 14) == tek + b"S" * 14
    assert mikey.srtp_master_from_tgk(tgk, 2, csb, rand)[:16] != tek  # each crypto session its own TEK


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("suite", list(SrtpSuite))
@pytest.mark.parametrize("mode", list(KemacMode))
def test_build_parse_round_trip(mode: KemacMode, suite: SrtpSuite) -> None:
    message, sent = mikey.build_initiation(suite=suite, mode=mode, psk=PSK, now=NOW, rng=rng_from(1))
    value = mikey.key_mgmt_value(message)
    assert value.startswith("mikey AQA")  # version 1, data type 0 (PSK init)
    got = mikey.verify_initiation(mikey.parse_key_mgmt("a=key-mgmt:" + value), psk=PSK, now=NOW + 5)
    assert got.masters == sent.masters and len(got.masters[0]) == 30
    assert got.suite is suite and got.mode is mode
    assert got.csb_id == sent.csb_id and got.rand == sent.rand
    assert got.timestamp == sent.timestamp and got.timestamp.unix() == pytest.approx(NOW)
    assert got.v_flag is (mode is KemacMode.PSK)
    assert got.key_type == (wire.KD_TGK_SALT if mode is KemacMode.PSK else wire.KD_TEK)
    msg = wire.parse_message(message)
    assert [type(p).__name__ for p in msg.payloads] == ["Timestamp", "RandPayload", "SecurityPolicy", "Kemac"]
    kemac = msg.find(wire.Kemac)
    assert isinstance(kemac, wire.Kemac)
    if mode is KemacMode.PSK:
        assert (kemac.enc_alg, kemac.mac_alg, len(kemac.mac)) == (wire.ENC_AES_CM_128, wire.MAC_HMAC_SHA1_160, 20)
        assert sent.masters[0] not in message  # the key material travels encrypted
    else:
        assert (kemac.enc_alg, kemac.mac_alg, kemac.mac) == (wire.ENC_NULL, wire.MAC_NULL, b"")
        assert sent.masters[0] in message


def test_psk_ciphertext_is_rfc_aes_cm_with_derived_iv() -> None:
    message, sent = mikey.build_initiation(psk=PSK, now=NOW, rng=rng_from(2))
    msg = wire.parse_message(message)
    kemac = msg.find(wire.Kemac)
    assert isinstance(kemac, wire.Kemac)
    encr_key, _, salt_key = mikey.derive_psk_keys(PSK, sent.csb_id, sent.rand)
    # IV = (S XOR (0x0000 || CSB ID || T)) || 0x0000 (§4.2.3)
    block = b"\x00\x00" + sent.csb_id.to_bytes(4, "big") + ntp_from_unix(NOW).to_bytes(8, "big")
    iv = bytes(a ^ b for a, b in zip(salt_key, block, strict=True)) + b"\x00\x00"
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    dec = Cipher(algorithms.AES(encr_key), modes.CTR(iv)).decryptor()
    plain = dec.update(kemac.encr_data) + dec.finalize()
    # key data sub-payload: next 0, type TGK+SALT (1) | KV null, 16-octet TGK, 14-octet salt
    assert plain[:4] == bytes((0, 0x10, 0, 16)) and plain[20:22] == b"\x00\x0e" and len(plain) == 36
    assert sent.masters[0][16:] == plain[22:]  # the transported salt is the SRTP master salt


@pytest.mark.parametrize("suite", list(SrtpSuite))
def test_psk_message_decoded_from_the_rfc_alone(suite: SrtpSuite) -> None:
    """A PSK I_MESSAGE taken apart with nothing of emulator.protocols.sdp.mikey: octets walked by the §6 layouts, MAC
    checked and key data decrypted with keys from the §4.1.2 PRF (`rfc3830_prf`) and the §4.1.4 labels, the
    IV of §4.2.3, then each crypto session's SRTP master key derived from the TGK with the §4.1.3 label.
    (GStreamer, the interop peer, has no MIKEY encryption, so this is the independent check of that mode.)"""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    sessions = (CryptoSession(ssrc=0x11111111, roc=1), CryptoSession(ssrc=0x22222222, roc=0))
    message, sent = mikey.build_initiation(suite=suite, psk=PSK, now=NOW, rng=rng_from(4), crypto_sessions=sessions)
    # HDR (§6.1): version 1, data type 0 (PSK init), next payload, V|PRF, CSB ID, #CS, map type 0, map
    version, data_type, next_payload, v_prf, csb_id, n_cs, map_type = struct.unpack_from("!BBBBIBB", message)
    assert (version, data_type, v_prf >> 7, v_prf & 0x7F, n_cs, map_type) == (1, 0, 1, 0, 2, 0)
    cs_map = [struct.unpack_from("!BII", message, 10 + 9 * i) for i in range(n_cs)]
    assert cs_map == [(0, 0x11111111, 1), (0, 0x22222222, 0)]
    pos = 10 + 9 * n_cs
    t_value = rand = encr = mac = b""
    tag_len = None
    while next_payload != 0:
        kind, next_payload = next_payload, message[pos]
        if kind == 5:  # T (§6.6): type 0 = NTP-UTC, 64 bits
            assert message[pos + 1] == 0
            t_value, pos = message[pos + 2 : pos + 10], pos + 10
        elif kind == 11:  # RAND (§6.11)
            n = message[pos + 1]
            rand, pos = message[pos + 2 : pos + 2 + n], pos + 2 + n
        elif kind == 10:  # SP (§6.10): policy no, prot type 0 = SRTP, length, (type, len, value)*
            (plen,) = struct.unpack_from("!H", message, pos + 3)
            params, i = {}, pos + 5
            while i < pos + 5 + plen:
                params[message[i]] = message[i + 2 : i + 2 + message[i + 1]]
                i += 2 + message[i + 1]
            tag_len, pos = params[11][0], pos + 5 + plen  # type 11: SRTP auth tag length (octets)
        elif kind == 1:  # KEMAC (§6.2): encr alg 1 = AES-CM-128, length, data, MAC alg 1 = HMAC-SHA-1-160
            assert message[pos + 1] == 1
            (n,) = struct.unpack_from("!H", message, pos + 2)
            encr = message[pos + 4 : pos + 4 + n]
            assert message[pos + 4 + n] == 1
            mac, pos = message[pos + 5 + n : pos + 25 + n], pos + 25 + n
        else:
            pytest.fail(f"unexpected payload {kind}")
    assert pos == len(message) and len(rand) == 16 and len(mac) == 20
    assert tag_len == suite.rtp_tag_length

    def label(constant: str, cs_id: int) -> bytes:
        return bytes.fromhex(constant) + bytes((cs_id,)) + csb_id.to_bytes(4, "big") + rand

    encr_key = rfc3830_prf(PSK, label("150533E1", 0xFF), 16)
    auth_key = rfc3830_prf(PSK, label("2D22AC75", 0xFF), 20)
    salt_key = rfc3830_prf(PSK, label("29B88916", 0xFF), 14)
    # the MAC covers the whole message up to the MAC field (§5.2, §6.2)
    assert hmac.new(auth_key, message[:-20], hashlib.sha1).digest() == mac
    iv = bytes(a ^ b for a, b in zip(salt_key, bytes(2) + csb_id.to_bytes(4, "big") + t_value, strict=True))
    dec = Cipher(algorithms.AES(encr_key), modes.CTR(iv + bytes(2))).decryptor()
    plain = dec.update(encr) + dec.finalize()
    # key data sub-payload (§6.13): next 0, type 1 (TGK+SALT) | KV 0, key length, TGK, salt length, salt
    assert plain[:2] == b"\x00\x10"
    (tgk_len,) = struct.unpack_from("!H", plain, 2)
    tgk = plain[4 : 4 + tgk_len]
    (salt_len,) = struct.unpack_from("!H", plain, 4 + tgk_len)
    salt = plain[6 + tgk_len : 6 + tgk_len + salt_len]
    assert len(plain) == 6 + tgk_len + salt_len and (tgk_len, salt_len) == (16, 14)
    # SRTP master key of CS i = PRF(TGK, 0x2AD01C64 || CS ID i || CSB ID || RAND); master salt: the one sent
    expected = tuple(rfc3830_prf(tgk, label("2AD01C64", i), 16) + salt for i in (1, 2))
    assert sent.masters == expected
    assert mikey.verify_initiation(message, psk=PSK, now=NOW).masters == expected
    # a wrong PSK yields another MAC: what the receiver's MikeyAuthError rests on
    assert hmac.new(rfc3830_prf(b"other", label("2D22AC75", 0xFF), 20), message[:-20], hashlib.sha1).digest() != mac


def test_r_message_round_trip_and_wrong_psk() -> None:
    message, sent = mikey.build_initiation(psk=PSK, now=NOW, rng=rng_from(3))
    got = mikey.verify_initiation(message, psk=PSK, now=NOW)
    response = mikey.build_response(got, psk=PSK, now=NOW + 1)
    msg = mikey.verify_response(response, sent, psk=PSK)
    assert msg.header.data_type == wire.DT_PSK_RESP and msg.header.csb_id == sent.csb_id
    assert mikey.key_mgmt_value(response).startswith("mikey AQE")  # version 1, data type 1
    with pytest.raises(MikeyAuthError):
        mikey.verify_response(response, sent, psk=b"other")
    forged = mikey.build_response(got, psk=b"other", now=NOW + 1)
    with pytest.raises(MikeyAuthError):
        mikey.verify_response(forged, sent, psk=PSK)
    null_r = mikey.build_response(
        mikey.verify_initiation(mikey.build_initiation(mode=KemacMode.NULL, now=NOW)[0], psk=None), psk=None, now=NOW
    )
    with pytest.raises(MikeyAuthError, match="unauthenticated"):
        mikey.verify_response(null_r.replace(null_r[4:8], sent.csb_id.to_bytes(4, "big"), 1), sent, psk=PSK)


def test_error_message_is_reported() -> None:
    _, sent = mikey.build_initiation(psk=PSK, now=NOW)
    with pytest.raises(MikeyError) as err:
        mikey.verify_response(wire.build_error(sent.csb_id, wire.ERR_INVALID_MAC), sent, psk=PSK)
    assert err.value.error_code == wire.ERR_INVALID_MAC


def test_wrong_psk_is_a_mac_failure() -> None:
    message, _ = mikey.build_initiation(psk=PSK, now=NOW)
    with pytest.raises(MikeyAuthError) as err:
        mikey.verify_initiation(message, psk=b"not-the-same-key")
    assert "pre-shared keys differ" in str(err.value) and err.value.error_code == wire.ERR_INVALID_MAC
    with pytest.raises(MikeyAuthError, match="none is configured"):
        mikey.verify_initiation(message, psk=None)


def test_tampering_breaks_the_mac() -> None:
    message, _ = mikey.build_initiation(psk=PSK, now=NOW)
    for pos in range(len(message) - 20):  # every octet the MAC covers
        bad = bytearray(message)
        bad[pos] ^= 0x01
        with pytest.raises(MikeyError):
            mikey.verify_initiation(bytes(bad), psk=PSK)


def test_truncated_messages_are_parse_errors() -> None:
    for mode in KemacMode:
        message, _ = mikey.build_initiation(mode=mode, psk=PSK, now=NOW)
        for cut in range(len(message)):
            with pytest.raises(MikeyParseError):
                mikey.verify_initiation(message[:cut], psk=PSK)
        with pytest.raises(MikeyParseError, match="trailing"):
            wire.parse_message(message + b"\x00")


def test_timestamp_skew() -> None:
    message, _ = mikey.build_initiation(psk=PSK, now=NOW)
    mikey.verify_initiation(message, psk=PSK, now=NOW + 3599)
    with pytest.raises(MikeyTimestampError) as err:
        mikey.verify_initiation(message, psk=PSK, now=NOW + 7200)
    assert err.value.error_code == wire.ERR_INVALID_TS
    with pytest.raises(MikeyTimestampError):
        mikey.verify_initiation(message, psk=PSK, now=NOW - 120, max_skew=60)


def test_null_kemac_can_be_refused() -> None:
    message, _ = mikey.build_initiation(mode=KemacMode.NULL, now=NOW)
    with pytest.raises(MikeyUnsupportedError, match="NULL"):
        mikey.verify_initiation(message, psk=PSK, accept_null=False)


def test_crypto_session_map_ssrc_and_roc() -> None:
    sessions = (CryptoSession(ssrc=0x11111111, roc=3), CryptoSession(ssrc=0x22222222, roc=0))
    message, sent = mikey.build_initiation(psk=PSK, now=NOW, crypto_sessions=sessions)
    got = mikey.verify_initiation(message, psk=PSK)
    assert got.crypto_sessions == sessions and len(got.masters) == 2
    assert got.masters[0] != got.masters[1] and got.masters == sent.masters
    assert got.roc(0) == 3 and got.roc(1) == 0 and got.roc(5) == 0
    # the ROC in the map starts the initiator's stream mid-way: the answerer's context follows it
    tx = SrtpContext(got.suite, got.masters[0], outbound=True, ssrc=0x11111111, roc=got.roc(0))
    rx = SrtpContext(sent.suite, sent.masters[0], outbound=False, roc=sent.roc(0))
    pkt = struct.pack("!BBHII", 0x80, 0, 7, 0, 0x11111111) + b"\xff" * 160
    assert rx.unprotect(tx.protect(pkt)) == pkt


def test_mikey_keys_drive_srtp_both_ways() -> None:
    message, sent = mikey.build_initiation(suite=SrtpSuite.AES_CM_128_HMAC_SHA1_32, psk=PSK, now=NOW)
    got = mikey.verify_initiation(message, psk=PSK)
    initiator = SrtpSession(sent.keying(), sent.keying())  # one crypto session keys both directions
    responder = SrtpSession(got.keying(), got.keying())
    pkt = struct.pack("!BBHII", 0x80, 8, 1, 0, 0xABCDEF01) + b"\xd5" * 160
    assert responder.unprotect(initiator.protect(pkt)) == pkt
    back = struct.pack("!BBHII", 0x80, 8, 1, 0, 0x10FEDCBA) + b"\xd5" * 160
    assert initiator.unprotect(responder.protect(back)) == back


def test_gstreamer_shaped_message() -> None:
    """A message laid out like libgstsdp's gst_mikey_message_new_from_caps builds it, octet by octet:
    HDR with no CS map, T, RAND(16), SP whose 'auth key length' (type 3) holds the tag length, NULL
    KEMAC with one TEK key data of 30 octets (key||salt), NULL MAC."""
    key = bytes(range(30))
    hdr = bytes((1, 0, wire.PT_T, 0)) + (0x12345678).to_bytes(4, "big") + bytes((0, 0))
    t = bytes((wire.PT_RAND, 0)) + ntp_from_unix(NOW).to_bytes(8, "big")
    rand = bytes((wire.PT_SP, 16)) + bytes(range(16))
    params = bytes((0, 1, 1, 1, 1, 16, 2, 1, 1, 3, 1, 4, 7, 1, 1, 8, 1, 1, 10, 1, 1))
    sp = bytes((wire.PT_KEMAC, 0, 0)) + len(params).to_bytes(2, "big") + params
    kd = bytes((0, 0x20)) + (30).to_bytes(2, "big") + key
    kemac = bytes((0, 0)) + len(kd).to_bytes(2, "big") + kd + b"\x00"
    got = mikey.verify_initiation(hdr + t + rand + sp + kemac, psk=None, now=NOW)
    assert got.mode is KemacMode.NULL and got.masters == (key,)
    assert got.suite is SrtpSuite.AES_CM_128_HMAC_SHA1_32  # from type 3 = 4 (GStreamer's convention)
    assert got.crypto_sessions == () and got.roc() == 0
    # and what we build in NULL mode uses the same convention and key layout
    ours, _ = mikey.build_initiation(suite=SrtpSuite.AES_CM_128_HMAC_SHA1_32, mode=KemacMode.NULL, now=NOW)
    sp_ours = wire.parse_message(ours).find(wire.SecurityPolicy)
    assert isinstance(sp_ours, wire.SecurityPolicy)
    assert sp_ours.get(wire.SP_AUTH_KEY_LEN) == 4 and sp_ours.get(wire.SP_TAG_LEN) == 4
    kemac_ours = wire.parse_message(ours).find(wire.Kemac)
    assert isinstance(kemac_ours, wire.Kemac) and kemac_ours.encr_data[1] == 0x20  # TEK, KV null


@pytest.mark.parametrize(
    ("mutate", "error", "fragment"),
    [
        (lambda m: b"\x02" + m[1:], MikeyParseError, "version 2"),
        (lambda m: m[:1] + b"\x02" + m[2:], MikeyUnsupportedError, "pre-shared-key"),
        (lambda m: m[:1] + b"\x07" + m[2:], MikeyParseError, "data type 7"),
        (lambda m: m[:2] + b"\x02" + m[3:], MikeyUnsupportedError, "payload type 2"),
        (lambda m: m[:2] + b"\x63" + m[3:], MikeyParseError, "unknown payload type 99"),
        (lambda m: m[:3] + b"\x01" + m[4:], MikeyUnsupportedError, "PRF"),
    ],
)
def test_precise_errors(mutate, error: type[MikeyError], fragment: str) -> None:  # type: ignore[no-untyped-def]
    message, _ = mikey.build_initiation(mode=KemacMode.NULL, now=NOW)
    with pytest.raises(error) as err:
        mikey.verify_initiation(mutate(message), psk=None)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (bytes((0, 1, 0)), "NULL encryption"),
        (bytes((0, 1, 2)), "encryption algorithm"),
        (bytes((1, 1, 32)), "encryption key length"),
        (bytes((11, 1, 8)), "tag length 8"),
        (bytes((7, 1, 0)), "SRTP encryption off"),
        (bytes((6, 1, 4)), "key derivation rate"),
    ],
)
def test_unsupported_srtp_policies(params: bytes, fragment: str) -> None:
    sp = wire.SecurityPolicy(
        0, wire.PROTO_SRTP, tuple((params[i], params[i + 2 : i + 3]) for i in range(0, len(params), 3))
    )
    with pytest.raises(MikeyUnsupportedError, match=fragment) as err:
        wire.SrtpPolicy.from_payload(sp)
    assert err.value.error_code == wire.ERR_INVALID_SPPAR


def test_key_mgmt_attribute_errors() -> None:
    with pytest.raises(MikeyUnsupportedError, match="sdes"):
        mikey.parse_key_mgmt("sdes AAAA")
    for bad in ("mikey", "mikey !!!!", "mikey AQ=A", "", "mikey  "):
        with pytest.raises(MikeyParseError):
            mikey.parse_key_mgmt(bad)


# ---------------------------------------------------------------------------------- fuzzing


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_parser_fuzz_bytes(data: bytes) -> None:
    accepted_or_refused(MikeyError, mikey.verify_initiation, data, psk=PSK, now=NOW)


_VALID = [mikey.build_initiation(mode=mode, psk=PSK, now=NOW, rng=rng_from(9))[0] for mode in KemacMode]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_VALID), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=4))
def test_parser_fuzz_mutations(message: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(message)
    for pos, val in edits:
        data[pos % len(data)] = val
    keys = accepted_or_refused(MikeyError, mikey.verify_initiation, bytes(data), psk=PSK, now=NOW)
    if keys is not None:
        assert all(len(m) == 30 for m in keys.masters)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_key_mgmt_fuzz(value: str) -> None:
    accepted_or_refused(MikeyError, mikey.parse_key_mgmt, value)

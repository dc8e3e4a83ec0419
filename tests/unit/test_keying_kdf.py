"""RFC 3711 key derivation and AES-CM keystream against the RFC's own test vectors (Appendix B.2, B.3)."""

from __future__ import annotations

import pytest

from emulator.protocols.keying import kdf

# RFC 3711 Appendix B.3
MASTER_KEY = bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE4139")
MASTER_SALT = bytes.fromhex("0EC675AD498AFEEBB6960B3AABE6")
CIPHER_KEY = bytes.fromhex("C61E7A93744F39EE10734AFE3FF7A087")
CIPHER_SALT = bytes.fromhex("30CBBC08863D8C85D49DB34A9AE1")
AUTH_KEYSTREAM = bytes.fromhex(
    "CEBE321F6FF7716B6FD4AB49AF256A15"
    "6D38BAA48F0A0ACF3C34E2359E6CDBCE"
    "E049646C43D9327AD175578EF7227098"
    "6371C10C9A369AC2F94A8C5FBCDDDC25"
    "6D6E919A48B610EF17C2041E47403576"
    "6B68642C59BBFC2F34DB60DBDFB2"
)


def test_rfc3711_b3_cipher_key() -> None:
    assert kdf.derive_session_key(MASTER_KEY, MASTER_SALT, kdf.LABEL_RTP_ENCRYPTION, 16) == CIPHER_KEY


def test_rfc3711_b3_cipher_salt() -> None:
    assert kdf.derive_session_key(MASTER_KEY, MASTER_SALT, kdf.LABEL_RTP_SALT, 14) == CIPHER_SALT


def test_rfc3711_b3_auth_key_full_keystream() -> None:
    # B.3 lists 94 octets of keystream for the authentication key label; HMAC-SHA1 uses the first 20
    assert kdf.derive_session_key(MASTER_KEY, MASTER_SALT, kdf.LABEL_RTP_AUTH, 94) == AUTH_KEYSTREAM


def test_session_keys_bundle() -> None:
    keys = kdf.derive_session_keys(MASTER_KEY, MASTER_SALT)
    assert keys.encryption == CIPHER_KEY
    assert keys.salt == CIPHER_SALT
    assert keys.authentication == AUTH_KEYSTREAM[:20]
    rtcp = kdf.derive_session_keys(MASTER_KEY, MASTER_SALT, rtcp=True)
    assert rtcp.encryption != CIPHER_KEY  # labels 3, 4, 5 give other keys (RFC 3711 §4.3.2)
    assert len(rtcp.encryption) == 16 and len(rtcp.authentication) == 20 and len(rtcp.salt) == 14


def test_rfc3711_b2_aes_cm_keystream() -> None:
    key = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
    iv = bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")
    ks = kdf.aes_cm_keystream(key, iv, 16 * 0xFF02)
    expected = {
        0x0000: "E03EAD0935C95E80E166B16DD92B4EB4",
        0x0001: "D23513162B02D0F72A43A2FE4A5F97AB",
        0x0002: "41E95B3BB0A2E8DD477901E4FCA894C0",
        0xFEFF: "EC8CDF7398607CB0F2D21675EA9EA1E4",
        0xFF00: "362B7C3C6773516318A077D7FC5073AE",
        0xFF01: "6A2CC3787889374FBEB4C81B17BA6C44",
    }
    for block, hexval in expected.items():
        assert ks[16 * block : 16 * block + 16] == bytes.fromhex(hexval), hex(block)


def test_srtp_iv_layout() -> None:
    # RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)
    iv = kdf.srtp_iv(bytes(14), 0x11223344, 0x0000AABBCCDD)
    assert iv == bytes.fromhex("00000000112233440000AABBCCDD0000")
    iv = kdf.srtp_iv(bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"), 0, 0)
    assert iv == bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")


def test_key_derivation_rate_changes_keys_per_r() -> None:
    # r = index DIV kdr: same key within one kdr window, different key in the next (RFC 3711 §4.3.1)
    k0 = kdf.derive_session_key(MASTER_KEY, MASTER_SALT, 0, 16, index=0, kdr=1 << 16)
    k1 = kdf.derive_session_key(MASTER_KEY, MASTER_SALT, 0, 16, index=(1 << 16) - 1, kdr=1 << 16)
    k2 = kdf.derive_session_key(MASTER_KEY, MASTER_SALT, 0, 16, index=1 << 16, kdr=1 << 16)
    assert k0 == k1 == CIPHER_KEY  # r = 0 is the kdr = 0 key
    assert k2 != k0


@pytest.mark.parametrize(
    ("key", "salt", "kdr"),
    [(bytes(15), bytes(14), 0), (bytes(16), bytes(13), 0), (bytes(16), bytes(14), 3), (bytes(16), bytes(14), 1 << 25)],
)
def test_bad_inputs_refused(key: bytes, salt: bytes, kdr: int) -> None:
    with pytest.raises(ValueError):
        kdf.derive_session_key(key, salt, 0, 16, kdr=kdr)

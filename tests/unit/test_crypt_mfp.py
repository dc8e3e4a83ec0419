"""The emulator's encrypted-file format (scrypt + HKDF + AES-256-GCM) and its firmware pack (signed manifest):
round trips, the header layout, and every refusal with its kind."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emulator.command import run_command
from firmware_model.crypt import MAGIC, CryptError, decrypt, encrypt, is_encrypted, parse_key
from firmware_model.mfp import Manifest, MfpError, build_mfp, emulator_signing_key, read_mfp

KEY = "A36CB299"  # the vendor's example key (Conf.ScriptsSecretKey)
SCRIPT = b"Cli.InactivityTimeOut = 30\n"


# ---------------------------------------------------------------------------------------------- crypt
def test_round_trip_and_layout() -> None:
    blob = encrypt(SCRIPT, KEY, salt=bytes(16), nonce=bytes(12))
    assert is_encrypted(blob) and blob[:8] == MAGIC
    assert blob[8:13] == bytes([1, 1, 14, 8, 1])  # version, scrypt, log2 N, r, p
    assert len(blob) == 49 + len(SCRIPT) + 16
    assert decrypt(blob, KEY) == SCRIPT
    assert decrypt(blob, KEY.lower()) == SCRIPT  # hex digits in either case
    assert encrypt(SCRIPT, KEY, salt=bytes(16), nonce=bytes(12)) == blob  # deterministic given salt and nonce
    assert encrypt(SCRIPT, KEY) != encrypt(SCRIPT, KEY)  # random salt and nonce otherwise


def test_wrong_key_tampered_truncated() -> None:
    blob = encrypt(SCRIPT, KEY)
    with pytest.raises(CryptError) as e:
        decrypt(blob, "A36CB298")
    assert e.value.kind == "wrong-key"
    flipped = bytearray(blob)
    flipped[60] ^= 1
    with pytest.raises(CryptError) as e:
        decrypt(bytes(flipped), KEY)
    assert e.value.kind == "tampered"
    with pytest.raises(CryptError) as e:
        decrypt(blob[:-1], KEY)
    assert e.value.kind == "tampered"
    with pytest.raises(CryptError) as e:
        decrypt(blob[:40], KEY)
    assert e.value.kind == "format"
    with pytest.raises(CryptError) as e:
        decrypt(SCRIPT, KEY)
    assert e.value.kind == "format"
    hungry = bytearray(blob)
    hungry[10] = 30  # 2^30 scrypt rounds: refused, not obeyed
    with pytest.raises(CryptError) as e:
        decrypt(bytes(hungry), KEY)
    assert e.value.kind == "format"


@pytest.mark.parametrize(("key", "kind"), [("", "key"), ("XYZ", "key"), ("ab" * 57, "key")])
def test_bad_keys(key: str, kind: str) -> None:
    with pytest.raises(CryptError) as e:
        parse_key(key)
    assert e.value.kind == kind


def test_key_forms() -> None:
    assert parse_key("abc") == b"\x0a\xbc"
    assert len(parse_key("ab" * 56)) == 56  # 112 hex digits: the longest Conf.ScriptsSecretKey


# ---------------------------------------------------------------------------------------------- MFP
MANIFEST = Manifest("DGW 49.12.3001", "49.12.3001", "SIP", ("Mediatrix 4102", "Mediatrix C740"))


def test_mfp_round_trip() -> None:
    pack = build_mfp(MANIFEST, b"image")
    m, payload = read_mfp(pack, product="Mediatrix 4102")
    assert payload == b"image"
    assert (m.name, m.version, m.profile, m.products) == (MANIFEST.name, MANIFEST.version, "SIP", MANIFEST.products)
    assert len(m.payload_sha256) == 64


def _kind(data: bytes, **kw: object) -> str:
    with pytest.raises(MfpError) as e:
        read_mfp(data, **kw)  # type: ignore[arg-type]
    return e.value.kind


def test_mfp_refusals() -> None:
    pack = build_mfp(MANIFEST, b"image" * 100)
    assert _kind(b"PK\x03\x04 a zip") == "corrupt"
    assert _kind(pack[:30]) == "truncated"
    assert _kind(pack[:200]) == "truncated"
    assert _kind(pack[:-64]) == "unsigned"
    assert _kind(build_mfp(MANIFEST, b"image", signed=False)) == "unsigned"
    assert _kind(pack[:-10]) == "truncated"
    tampered = bytearray(pack)
    tampered[-100] ^= 0xFF  # a payload byte
    assert _kind(bytes(tampered)) == "signature"
    other = Ed25519PrivateKey.generate()
    foreign = build_mfp(MANIFEST, b"image", other)
    assert _kind(foreign) == "signature"
    assert read_mfp(foreign, trusted=[other.public_key()])[1] == b"image"  # a lab may trust its own key
    assert _kind(pack, product="Mediatrix 3621") == "product"


def test_mfp_bad_manifests() -> None:
    def forged(manifest: bytes) -> bytes:
        body = b"DGW-MFP\x01" + struct.pack("!I", len(manifest)) + manifest + struct.pack("!Q", 0)
        return body + emulator_signing_key().sign(body)

    assert _kind(forged(b"not json")) == "corrupt"
    assert _kind(forged(b'{"format": 2}')) == "corrupt"
    assert _kind(forged(b'{"format": 1, "name": "x"}')) == "corrupt"
    bad_version = Manifest("n", "1.0/../x", "SIP", ("p",)).to_json()
    assert _kind(forged(bad_version)) == "corrupt"
    with pytest.raises(MfpError):
        build_mfp(Manifest("n", "1.0", "SIP", ()), b"")


# ---------------------------------------------------------------------------------------------- the commands
def test_crypt_and_mfp_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "s.cfg"
    script.write_bytes(SCRIPT)
    enc, out = tmp_path / "s.enc", tmp_path / "s.out"
    assert run_command(["crypt", "encrypt", "--key", KEY, str(script), str(enc)]) == 0
    assert is_encrypted(enc.read_bytes())
    assert run_command(["crypt", "decrypt", "--key", KEY, str(enc), str(out)]) == 0
    assert out.read_bytes() == SCRIPT
    assert run_command(["crypt", "decrypt", "--key", "00", str(enc), str(out)]) == 1
    assert "does not match" in capsys.readouterr().err
    pack = tmp_path / "fw.mfp"
    assert run_command(["mfp", "build", "--version", "49.12.3001", "--product", "Mediatrix 4102", str(pack)]) == 0
    m, _ = read_mfp(pack.read_bytes(), product="Mediatrix 4102")
    assert (m.name, m.version) == ("DGW 49.12.3001", "49.12.3001")
    assert run_command(["mfp", "show", str(pack), "--product", "Mediatrix C740"]) == 1
    assert run_command(["mfp", "build", "--version", "1.0", "--unsigned", str(pack)]) == 0
    assert run_command(["mfp", "show", str(pack)]) == 1
    assert "not signed" in capsys.readouterr().err

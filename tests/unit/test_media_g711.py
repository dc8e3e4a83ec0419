"""G.711 µ-law / A-law: known code points, whole-range round-trip error bounds, frame sizes."""

from __future__ import annotations

import math
import struct

import pytest

from emulator.protocols.media import g711
from emulator.protocols.media.tones import ToneGenerator, pcm_samples


def _pcm(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


ALL = list(range(-32768, 32768))


def test_known_ulaw_code_points() -> None:
    assert g711.ulaw_encode_sample(0) == 0xFF == g711.ULAW_SILENCE
    assert g711.ulaw_encode_sample(32767) == 0x80
    assert g711.ulaw_encode_sample(-32768) == 0x00
    assert g711.ulaw_encode_sample(-1) == 0x7F
    assert g711.ulaw_decode_sample(0x00) == -32124
    assert g711.ulaw_decode_sample(0x80) == 32124
    assert g711.ulaw_decode_sample(0xFF) == 0 == g711.ulaw_decode_sample(0x7F)
    # the G.711 digital milliwatt (0 dBm0, 1 kHz): 1E 0B 0B 1E 9E 8B 8B 9E
    dmw = g711.ulaw_decode(bytes.fromhex("1E0B0B1E9E8B8B9E"))
    values = pcm_samples(dmw)
    assert list(values) == [-8828, -20860, -20860, -8828, 8828, 20860, 20860, 8828]


def test_known_alaw_code_points() -> None:
    assert g711.alaw_encode_sample(0) == 0xD5 == g711.ALAW_SILENCE
    assert g711.alaw_encode_sample(-1) == 0x55
    assert g711.alaw_encode_sample(32767) == 0xAA
    assert g711.alaw_encode_sample(-32768) == 0x2A
    assert g711.alaw_decode_sample(0xD5) == 8
    assert g711.alaw_decode_sample(0x55) == -8
    assert g711.alaw_decode_sample(0xAA) == 32256
    assert g711.alaw_decode_sample(0x2A) == -32256


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)],
    ids=["ulaw", "alaw"],
)
def test_whole_range_round_trip_error_bound(encode, decode) -> None:  # type: ignore[no-untyped-def]
    back = pcm_samples(decode(encode(_pcm(ALL))))
    worst_small = max(abs(b - x) for x, b in zip(ALL, back, strict=True) if abs(x) < 256)
    worst_rel = max(abs(b - x) / abs(x) for x, b in zip(ALL, back, strict=True) if 1024 <= abs(x) <= 32000)
    assert worst_small <= 8  # first segments: steps of 8 (µ-law) / 16 (A-law) -> at most half a step
    # logarithmic companding: 16 steps per segment, so at most half a step = 1/32 of the segment's base
    # (plus µ-law's bias of 132 at the bottom of a segment)
    assert worst_rel < 0.035
    assert max(abs(b - x) for x, b in zip(ALL, back, strict=True)) <= 644  # top segment incl. clipping


def test_code_round_trip_is_identity() -> None:
    codes = bytes(range(256))
    u = g711.ulaw_encode(g711.ulaw_decode(codes))
    assert [c for c in range(256) if u[c] != c] == [0x7F]  # -0 and +0 both decode to 0, encoded as +0
    assert g711.alaw_encode(g711.alaw_decode(codes)) == codes


def test_tables_match_sample_functions() -> None:
    pcm = _pcm(ALL[::37])
    assert g711.ulaw_encode(pcm) == bytes(g711.ulaw_encode_sample(x) for x in ALL[::37])
    assert g711.alaw_encode(pcm) == bytes(g711.alaw_encode_sample(x) for x in ALL[::37])
    codes = bytes(range(256))
    assert list(pcm_samples(g711.ulaw_decode(codes))) == [g711.ulaw_decode_sample(c) for c in range(256)]
    assert list(pcm_samples(g711.alaw_decode(codes))) == [g711.alaw_decode_sample(c) for c in range(256)]


@pytest.mark.parametrize("codec", ["PCMU", "PCMA", 0, 8])
def test_20ms_frame_and_tone_snr(codec: str | int) -> None:
    pcm = ToneGenerator((1000.0,), level_dbm0=-10.0).read(g711.SAMPLES_PER_FRAME)
    assert len(pcm) == 320
    encoded = g711.encode(codec, pcm)
    assert len(encoded) == g711.FRAME_BYTES == 160
    x = pcm_samples(pcm)
    y = pcm_samples(g711.decode(codec, encoded))
    signal = sum(v * v for v in x)
    noise = sum((a - b) ** 2 for a, b in zip(x, y, strict=True))
    assert 10 * math.log10(signal / noise) > 33  # G.711 SNR at -10 dBm0 is about 37-38 dB


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        g711.ulaw_encode(b"\x00\x01\x02")
    with pytest.raises(ValueError):
        g711.encode("G729", b"")
    with pytest.raises(ValueError):
        g711.decode(18, b"")

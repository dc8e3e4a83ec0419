"""G.711 µ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8) codecs, table driven.

PCM is 16-bit signed little-endian (WAV's sample format), 8 kHz; 20 ms = 160 samples = 320 PCM bytes =
160 G.711 bytes (RFC 3551 §4.5.14, §5: PCMU/PCMA, ptime 20).

Encoding maps every 16-bit sample through a 65536-entry table (``bytes(map(table.__getitem__, samples))``,
one C loop, ~8 µs per 20 ms frame); decoding builds the low and high bytes with two ``bytes.translate``
calls (~3 µs). Periodic sources (tones) encode one period once and slice it. The tables follow the
segment/quantisation rules of ITU-T G.711 (§3 µ-law, §2 A-law) in their classic 16-bit formulation (the one of
Sun's reference g711.c: µ-law with bias 0x84 and the G.711 even-bit inversion 0x55 for A-law), so code points
match every other implementation: µ-law silence is 0xFF, A-law silence 0xD5.
"""

from __future__ import annotations

import functools
import sys

__all__ = [
    "ALAW_SILENCE",
    "FRAME_BYTES",
    "PT_PCMA",
    "PT_PCMU",
    "SAMPLES_PER_FRAME",
    "SAMPLE_RATE",
    "ULAW_SILENCE",
    "alaw_decode",
    "alaw_decode_sample",
    "alaw_encode",
    "alaw_encode_sample",
    "codec_name",
    "decode",
    "encode",
    "ulaw_decode",
    "ulaw_decode_sample",
    "ulaw_encode",
    "ulaw_encode_sample",
]

SAMPLE_RATE = 8000
SAMPLES_PER_FRAME = 160  # 20 ms
FRAME_BYTES = 160
PT_PCMU = 0
PT_PCMA = 8
ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5

_BIG_ENDIAN = sys.byteorder == "big"

# --------------------------------------------------------------------------------- sample functions

_ULAW_BIAS = 0x84
_ULAW_SEG_END = (0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF)
_ALAW_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for i, end in enumerate(ends):
        if value <= end:
            return i
    return len(ends)


def ulaw_encode_sample(pcm: int) -> int:
    """One 16-bit linear sample -> µ-law code (G.711 §3)."""
    if pcm < 0:
        value, mask = _ULAW_BIAS - pcm, 0x7F
    else:
        value, mask = pcm + _ULAW_BIAS, 0xFF
    seg = _segment(value, _ULAW_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 3)) & 0x0F)) ^ mask


def ulaw_decode_sample(code: int) -> int:
    """µ-law code -> 16-bit linear sample."""
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return _ULAW_BIAS - t if u & 0x80 else t - _ULAW_BIAS


def alaw_encode_sample(pcm: int) -> int:
    """One 16-bit linear sample -> A-law code (G.711 §2, even bits inverted)."""
    value = pcm >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        value = -value - 1
    seg = _segment(value, _ALAW_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (value >> 1 if seg < 2 else value >> seg) & 0x0F
    return aval ^ mask


def alaw_decode_sample(code: int) -> int:
    """A-law code -> 16-bit linear sample."""
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


# ------------------------------------------------------------------------------------------- tables


def _signed(u: int) -> int:
    return u - 0x10000 if u & 0x8000 else u


# Encode tables are lists (list.__getitem__ through map() is ~40 % faster than bytes.__getitem__) built on
# first use (~40 ms for µ-law), not at import.


@functools.cache
def _ulaw_encode_table() -> list[int]:
    """µ-law code for every unsigned 16-bit value (the sample's two's complement)."""
    return [ulaw_encode_sample(_signed(u)) for u in range(0x10000)]


@functools.cache
def _alaw_encode_table() -> list[int]:
    """A-law depends only on sample >> 3: 8192 codes, each repeated for its 8 samples."""
    codes = [alaw_encode_sample(_signed(u << 3)) for u in range(0x2000)]
    return [c for c in codes for _ in range(8)]


def _decode_tables(decode_sample: object) -> tuple[bytes, bytes]:
    values = [decode_sample(c) & 0xFFFF for c in range(256)]  # type: ignore[operator]
    return bytes(v & 0xFF for v in values), bytes(v >> 8 for v in values)


_ULAW_LO, _ULAW_HI = _decode_tables(ulaw_decode_sample)
_ALAW_LO, _ALAW_HI = _decode_tables(alaw_decode_sample)


# ------------------------------------------------------------------------------------------ buffers


def _samples(pcm: bytes) -> memoryview:
    if len(pcm) % 2:
        raise ValueError(f"16-bit PCM has an even number of bytes, got {len(pcm)}")
    if _BIG_ENDIAN:  # pragma: no cover - host dependent
        import array

        a = array.array("H", pcm)
        a.byteswap()
        return memoryview(a)
    return memoryview(pcm).cast("H")


def ulaw_encode(pcm: bytes) -> bytes:
    """16-bit LE PCM -> µ-law bytes (one byte per sample)."""
    return bytes(map(_ulaw_encode_table().__getitem__, _samples(pcm)))


def alaw_encode(pcm: bytes) -> bytes:
    """16-bit LE PCM -> A-law bytes."""
    return bytes(map(_alaw_encode_table().__getitem__, _samples(pcm)))


def _decode(data: bytes, lo: bytes, hi: bytes) -> bytes:
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    return bytes(out)


def ulaw_decode(data: bytes) -> bytes:
    """µ-law bytes -> 16-bit LE PCM."""
    return _decode(data, _ULAW_LO, _ULAW_HI)


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes -> 16-bit LE PCM."""
    return _decode(data, _ALAW_LO, _ALAW_HI)


def codec_name(codec: str | int) -> str:
    """'PCMU' or 'PCMA' for an rtpmap encoding name ('PCMU'/'pcmu', 'PCMA'/'pcma') or payload type 0/8."""
    if codec in (PT_PCMU, "PCMU", "pcmu"):
        return "PCMU"
    if codec in (PT_PCMA, "PCMA", "pcma"):
        return "PCMA"
    raise ValueError(f"not a G.711 codec: {codec!r}")


def encode(codec: str | int, pcm: bytes) -> bytes:
    """Encode with 'PCMU'/'PCMA' (rtpmap encoding names) or payload type 0/8."""
    return ulaw_encode(pcm) if codec_name(codec) == "PCMU" else alaw_encode(pcm)


def decode(codec: str | int, data: bytes) -> bytes:
    """Decode with 'PCMU'/'PCMA' or payload type 0/8."""
    return ulaw_decode(data) if codec_name(codec) == "PCMU" else alaw_decode(data)

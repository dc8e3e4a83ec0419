"""Mixing 8 kHz 16-bit PCM for a local conference, and the level of given frequencies in a block: pure.

A local three-way conference (EpServ ``DefaultConferenceType`` Local) sends each far end the line's own audio plus
what the other far ends send, never its own (no echo); the line hears the sum of the far ends. Audio arrives
from each far end in bursts (a jitter buffer's batches) while each leg sends one packet per ptime, so every leg's
received audio waits in a :class:`LegBuffer` (bounded: a leg that falls behind drops its oldest audio; one that
runs dry reads silence).
"""

from __future__ import annotations

import array
import math
import sys
from collections import deque
from collections.abc import Iterable, Sequence

from emulator.protocols.media.tones import DBM0_OFFSET, FULL_SCALE, pcm_samples

__all__ = ["LegBuffer", "levels_dbm0", "mix"]

_BIG_ENDIAN = sys.byteorder == "big"
_FLOOR = -100.0


def mix(blocks: Sequence[bytes]) -> bytes:
    """The sample-by-sample sum of 16-bit LE PCM blocks (as long as the longest; saturated at full scale)."""
    if not blocks:
        return b""
    if len(blocks) == 1:
        return bytes(blocks[0])
    arrays = [pcm_samples(b) for b in blocks]
    n = max(len(a) for a in arrays)
    total = [0] * n
    for a in arrays:
        for i, v in enumerate(a):
            total[i] += v
    out = array.array("h", (32767 if v > 32767 else -32768 if v < -32768 else v for v in total))
    if _BIG_ENDIAN:  # pragma: no cover
        out.byteswap()
    return out.tobytes()


class LegBuffer:
    """Audio received from one far end, waiting to be mixed into the other legs' packets."""

    def __init__(self, max_ms: int = 200, rate: int = 8000) -> None:
        self.max_bytes = 2 * rate * max_ms // 1000
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self.dropped = 0  # bytes dropped because the buffer was full

    def __len__(self) -> int:
        return self._size

    def push(self, pcm: bytes) -> None:
        self._chunks.append(bytes(pcm))
        self._size += len(pcm)
        while self._size > self.max_bytes and self._chunks:
            old = self._chunks.popleft()
            self._size -= len(old)
            self.dropped += len(old)

    def take(self, nbytes: int) -> bytes:
        """The next ``nbytes`` of audio; silence where none is left."""
        out = bytearray()
        while len(out) < nbytes and self._chunks:
            chunk = self._chunks.popleft()
            want = nbytes - len(out)
            out += chunk[:want]
            if len(chunk) > want:
                self._chunks.appendleft(chunk[want:])
        self._size -= len(out)
        return bytes(out) + bytes(nbytes - len(out))


def levels_dbm0(pcm: bytes, frequencies: Iterable[float], rate: int = 8000) -> dict[float, float]:
    """The level (dBm0) of a sine at each of ``frequencies`` in the block (Hann-windowed Goertzel): what a
    listener measures of each tone in a mix."""
    x = pcm_samples(pcm)
    n = len(x)
    out: dict[float, float] = {}
    if n < 2:
        return {f: _FLOOR for f in frequencies}
    window = [0.5 - 0.5 * math.cos(2.0 * math.pi * i / (n - 1)) for i in range(n)]
    wx = [a * w for a, w in zip(x, window, strict=True)]
    gain = sum(window)
    for f in frequencies:
        omega = 2.0 * math.pi * f / rate
        re = sum(v * math.cos(omega * i) for i, v in enumerate(wx))
        im = sum(v * math.sin(omega * i) for i, v in enumerate(wx))
        amplitude = 2.0 * math.hypot(re, im) / gain
        rms = amplitude / math.sqrt(2.0)
        full_scale_rms = FULL_SCALE / math.sqrt(2.0)
        out[f] = max(_FLOOR, 20.0 * math.log10(rms / full_scale_rms) + DBM0_OFFSET) if rms > 0 else _FLOOR
    return out

"""Tone generation and the measurement of received audio (level and dominant frequency), pure Python.

Levels. dBFS is relative to a full-scale sine (amplitude 32767: RMS 23170 is 0 dBFS). dBm0 follows the
G.711 convention that the µ-law full-scale sine is +3.17 dBm0 (ITU-T G.711 §4 / Table 5; the digital
milliwatt, 0 dBm0, peaks at about 22.7k in 16-bit PCM): ``dBm0 = dBFS + 3.17``. A-law's +3.14 is treated the
same (0.03 dB, below what any test here resolves).

Frequency. A Hann-windowed single-bin DFT (the Goertzel quantity |X(f)|², computed as two dot products
with cached cos/sin tables so the inner loops run in C) over candidate frequencies: either the caller's
candidates (e.g. 440 vs 1000 Hz, DTMF rows/columns) or a coarse scan at the bin width of a 20 ms block
followed by a fine scan and parabolic interpolation on the full analysis block. numpy is not used.
"""

from __future__ import annotations

import array
import functools
import math
import operator
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from emulator.protocols.media import g711

__all__ = [
    "DBM0_OFFSET",
    "FULL_SCALE",
    "ToneGenerator",
    "ToneMeasurement",
    "ToneMeter",
    "amplitude_for_dbm0",
    "measure",
    "pcm_samples",
]

FULL_SCALE = 32767
DBM0_OFFSET = 3.17  # dBm0 = dBFS + 3.17 (G.711 µ-law full-scale sine = +3.17 dBm0)
_FULL_SCALE_RMS = FULL_SCALE / math.sqrt(2.0)
_FLOOR_DB = -100.0
_BIG_ENDIAN = sys.byteorder == "big"


def amplitude_for_dbm0(level_dbm0: float) -> float:
    """Peak amplitude (16-bit PCM) of a sine at `level_dbm0`."""
    return FULL_SCALE * 10.0 ** ((level_dbm0 - DBM0_OFFSET) / 20.0)


def pcm_samples(pcm: bytes | bytearray | memoryview) -> array.array[int]:
    """16-bit LE PCM bytes -> array('h') of samples."""
    a = array.array("h")
    a.frombytes(pcm[: len(pcm) & ~1])
    if _BIG_ENDIAN:  # pragma: no cover
        a.byteswap()
    return a


# ------------------------------------------------------------------------------------------ generator


@dataclass(slots=True)
class ToneGenerator:
    """A continuous tone (one or several summed sines, e.g. a DTMF pair), `level_dbm0` per component.

    Frequencies are used to 0.1 Hz. The generator precomputes one exact period of the signal (at most a
    few seconds of samples) as PCM and as G.711, so reading a 20 ms frame is a slice — no per-frame math and
    no per-frame encoding on the media path.
    """

    frequencies: tuple[float, ...]
    level_dbm0: float = -10.0
    sample_rate: int = 8000
    _pcm: bytes = field(default=b"", init=False, repr=False)
    _encoded: dict[str, bytes] = field(default_factory=dict, init=False, repr=False)
    _period: int = field(default=0, init=False, repr=False)
    _pos: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.frequencies:
            raise ValueError("a tone needs at least one frequency")
        for f in self.frequencies:
            if not 0 < f < self.sample_rate / 2:
                raise ValueError(f"frequency {f} Hz outside 0..{self.sample_rate / 2} Hz")
        scale = 10
        rate = self.sample_rate * scale
        g = rate
        for f in self.frequencies:
            g = math.gcd(g, round(f * scale))
        period = rate // g  # samples in one exact period of the sum
        if period > 16 * self.sample_rate:
            raise ValueError("tone period too long (use frequencies on a coarser grid)")
        amp = amplitude_for_dbm0(self.level_dbm0)
        samples = array.array("h", bytes(2 * period))
        for i in range(period):
            v = 0.0
            for f in self.frequencies:
                v += math.sin(2.0 * math.pi * (round(f * scale) / scale) * i / self.sample_rate)
            samples[i] = max(-32768, min(32767, round(amp * v)))
        if _BIG_ENDIAN:  # pragma: no cover
            samples.byteswap()
        # store whole periods covering at least half a second, so a 20 ms read is one slice (two at the end)
        repeat = max(1, -(-self.sample_rate // 2 // period))
        self._pcm = samples.tobytes() * repeat
        self._period = period * repeat

    @property
    def period_samples(self) -> int:
        """Length of the stored (whole-period) signal in samples."""
        return self._period

    @property
    def position(self) -> int:
        """The sample the next read starts at, within the stored signal (0: from the start)."""
        return self._pos

    def _slice(self, data: bytes, width: int, samples: int) -> bytes:
        period = self._period
        pos = self._pos
        out = []
        while samples:
            k = min(samples, period - pos)
            out.append(data[pos * width : (pos + k) * width])
            pos = (pos + k) % period
            samples -= k
        self._pos = pos
        return out[0] if len(out) == 1 else b"".join(out)

    def read(self, samples: int = g711.SAMPLES_PER_FRAME) -> bytes:
        """The next `samples` samples as 16-bit LE PCM."""
        return self._slice(self._pcm, 2, samples)

    def read_encoded(self, codec: str | int, samples: int = g711.SAMPLES_PER_FRAME) -> bytes:
        """The next `samples` samples already G.711-encoded ('PCMU'/'PCMA' or 0/8)."""
        key = g711.codec_name(codec)
        enc = self._encoded.get(key)
        if enc is None:
            enc = self._encoded[key] = g711.encode(key, self._pcm)
        return self._slice(enc, 1, samples)


# ---------------------------------------------------------------------------------------- measure


@dataclass(frozen=True, slots=True)
class ToneMeasurement:
    """What a block of received audio contains."""

    rms_dbfs: float  # -100.0 for digital silence
    level_dbm0: float
    frequency: float | None  # dominant frequency in Hz; None for silence
    tone_ratio: float  # share of the block's power in that sine (≈1.0 for a clean tone, small for noise)
    samples: int


@functools.lru_cache(maxsize=2048)
def _basis(freq: float, n: int, rate: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    w = 2.0 * math.pi * freq / rate
    return tuple(math.cos(w * i) for i in range(n)), tuple(math.sin(w * i) for i in range(n))


@functools.lru_cache(maxsize=64)
def _hann(n: int) -> tuple[float, ...]:
    if n == 1:
        return (1.0,)
    return tuple(0.5 - 0.5 * math.cos(2.0 * math.pi * i / (n - 1)) for i in range(n))


def _power(windowed: Sequence[float], freq: float, rate: int) -> float:
    """|X(freq)|² of the windowed block: the Goertzel output, as two C-speed dot products."""
    c, s = _basis(round(freq, 3), len(windowed), rate)
    re = sum(map(operator.mul, windowed, c))
    im = sum(map(operator.mul, windowed, s))
    return re * re + im * im


def measure(
    pcm: bytes | Sequence[int],
    *,
    sample_rate: int = 8000,
    candidates: Sequence[float] | None = None,
    max_analysis_samples: int = 800,
) -> ToneMeasurement:
    """Level (over the whole block) and dominant frequency (over at most `max_analysis_samples`, the
    most recent ones) of 16-bit PCM bytes or a sequence of samples.

    With `candidates`, the answer is the candidate with the most energy; otherwise a scan from 50 Hz to
    just under Nyquist. Accuracy of the scan: well under 1 Hz for a clean
    tone over a 100 ms block.
    """
    x = pcm_samples(pcm) if isinstance(pcm, bytes | bytearray | memoryview) else pcm
    n = len(x)
    if n == 0:
        return ToneMeasurement(_FLOOR_DB, _FLOOR_DB + DBM0_OFFSET, None, 0.0, 0)
    mean_square = sum(map(operator.mul, x, x)) / n
    rms = math.sqrt(mean_square)
    dbfs = 20.0 * math.log10(rms / _FULL_SCALE_RMS) if rms > 0 else _FLOOR_DB
    dbfs = max(dbfs, _FLOOR_DB)
    if rms < 1.0:
        return ToneMeasurement(dbfs, dbfs + DBM0_OFFSET, None, 0.0, n)
    block = x[-max_analysis_samples:] if n > max_analysis_samples else x
    m = len(block)
    windowed = list(map(operator.mul, block, _hann(m)))
    nyquist = sample_rate / 2.0
    if candidates:
        freq = max(candidates, key=lambda f: _power(windowed, f, sample_rate))
    else:
        # coarse: bin width of a short sub-block (Hann main lobe ±2 bins, so the peak cannot hide)
        short = min(m, 160)
        sub = list(map(operator.mul, block[-short:], _hann(short)))
        step = sample_rate / short
        grid = [step * k for k in range(1, int((nyquist - step) / step) + 1)]
        coarse = max(grid, key=lambda f: _power(sub, f, sample_rate))
        # fine: half-bin grid (aligned, so repeated measures hit the basis cache) around the coarse peak on
        # the full block, then a parabola through the log-magnitudes of the best three points (exact for a
        # Gaussian main lobe, within a fraction of a hertz for Hann)
        fine_step = sample_rate / m / 2.0
        first = max(1, math.ceil((coarse - step) / fine_step))
        last = min(int((nyquist - fine_step) / fine_step), math.floor((coarse + step) / fine_step))
        fine = [fine_step * k for k in range(first, last + 1)]
        powers = [_power(windowed, f, sample_rate) for f in fine]
        k = max(range(len(fine)), key=powers.__getitem__)
        freq = fine[k]
        if 0 < k < len(fine) - 1 and min(powers[k - 1 : k + 2]) > 0:
            a, b, c = (math.log(p) for p in powers[k - 1 : k + 2])
            denom = a - 2.0 * b + c
            if denom < 0:
                freq += 0.5 * (a - c) / denom * fine_step
    amp = 4.0 * math.sqrt(_power(windowed, freq, sample_rate)) / m  # Hann coherent gain 0.5
    block_ms = sum(map(operator.mul, block, block)) / m
    ratio = min(1.0, (amp * amp / 2.0) / block_ms) if block_ms else 0.0
    return ToneMeasurement(dbfs, dbfs + DBM0_OFFSET, float(freq), ratio, n)


class ToneMeter:
    """A live measure of a received stream: feed decoded PCM frames, ask for a measurement of the last
    `window_ms` at any time. Also counts what it was fed (for "did audio arrive at all")."""

    __slots__ = ("_frames", "_samples", "frames_fed", "sample_rate", "samples_fed", "window")

    def __init__(self, window_ms: int = 200, sample_rate: int = 8000) -> None:
        self.sample_rate = sample_rate
        self.window = window_ms * sample_rate // 1000
        self._frames: deque[bytes] = deque()
        self._samples = 0
        self.frames_fed = 0
        self.samples_fed = 0

    def feed(self, pcm: bytes) -> None:
        """Append one block of decoded 16-bit PCM."""
        k = len(pcm) // 2
        self._frames.append(pcm)
        self._samples += k
        self.frames_fed += 1
        self.samples_fed += k
        while self._frames and self._samples - len(self._frames[0]) // 2 >= self.window:
            self._samples -= len(self._frames.popleft()) // 2

    def feed_encoded(self, codec: str | int, payload: bytes) -> None:
        """Append one G.711 payload (decoded here)."""
        self.feed(g711.decode(codec, payload))

    def measure(self, candidates: Sequence[float] | None = None) -> ToneMeasurement:
        return measure(
            b"".join(self._frames),
            sample_rate=self.sample_rate,
            candidates=candidates,
            max_analysis_samples=self.window,
        )

    def clear(self) -> None:
        self._frames.clear()
        self._samples = 0

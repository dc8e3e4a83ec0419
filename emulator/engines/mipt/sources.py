"""What a media stream sends, and the recording of what it receives.

Sources: a :class:`~emulator.protocols.media.tones.ToneGenerator`, a WAV file (8 kHz mono 16-bit, stdlib
``wave``; looped) or silence — each turned once into a list of encoded 20 ms frames
(:func:`frame_cycle`), so sending indexes a list. Streams playing the same tone (or silence) from its
start share one cycle: hundreds of calls read a few kilobytes of frames that stay in the CPU's cache.

:class:`WavRecorder`: the received audio decoded into a WAV file, per packet, only while recording.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import Any

from emulator.engines.mipt.user_gain import scale_pcm
from emulator.protocols.media import codecs, g711
from emulator.protocols.media.tones import ToneGenerator

__all__ = ["Silence", "Source", "WavRecorder", "WavSource", "frame_cycle", "pcm_source"]


class WavSource:
    """A WAV file (8 kHz, mono, 16-bit PCM) played in a loop; encoded once per codec. ``factor`` scales its samples
    once, when loaded (a line's input gain: :mod:`.user_gain`)."""

    __slots__ = ("_encoded", "_pos", "path", "pcm")

    def __init__(self, path: str | Path, factor: float = 1.0) -> None:
        self.path = Path(path)
        with wave.open(str(self.path), "rb") as w:
            if w.getframerate() != g711.SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise ValueError(
                    f"{self.path}: need 8000 Hz mono 16-bit PCM, got {w.getframerate()} Hz "
                    f"{w.getnchannels()} ch {8 * w.getsampwidth()}-bit"
                )
            pcm = w.readframes(w.getnframes())
        if len(pcm) < 2 * g711.SAMPLES_PER_FRAME:
            raise ValueError(f"{self.path}: shorter than one 20 ms frame")
        self.pcm = scale_pcm(pcm, factor)
        self._encoded: dict[str, bytes] = {}
        self._pos = 0

    def read(self, samples: int = g711.SAMPLES_PER_FRAME) -> bytes:
        """The next `samples` samples as 16-bit LE PCM (looping)."""
        pcm, pos, want = self.pcm, self._pos, 2 * samples
        out = bytearray()
        while len(out) < want:
            take = min(want - len(out), len(pcm) - 2 * pos)
            out += pcm[2 * pos : 2 * pos + take]
            pos = (pos + take // 2) % (len(pcm) // 2)
        self._pos = pos
        return bytes(out)

    def read_encoded(self, codec: str, samples: int = g711.SAMPLES_PER_FRAME) -> bytes:
        enc = self._encoded.get(codec)
        if enc is None:
            enc = self._encoded[codec] = g711.encode(codec, self.pcm)
        n = len(enc)
        pos = self._pos
        end = pos + samples
        if end <= n:
            self._pos = end % n
            return enc[pos:end]
        self._pos = end - n
        return enc[pos:] + enc[: end - n]


def pcm_source(pcm: bytes, name: str) -> WavSource:
    """A looping source over 8 kHz 16-bit PCM already in memory (a rendered call progress tone), as a WAV file's."""
    if len(pcm) < 2 * g711.SAMPLES_PER_FRAME:
        raise ValueError(f"{name}: shorter than one 20 ms frame")
    source = WavSource.__new__(WavSource)
    source.path, source.pcm, source._encoded, source._pos = Path(name), pcm, {}, 0
    return source


class Silence:
    """The G.711 code of silence, for a stream that plays nothing."""

    __slots__ = ()

    @staticmethod
    def read_encoded(codec: str, samples: int = g711.SAMPLES_PER_FRAME) -> bytes:
        return bytes((g711.ULAW_SILENCE if codec == "PCMU" else g711.ALAW_SILENCE,)) * samples

    @staticmethod
    def read(samples: int = g711.SAMPLES_PER_FRAME) -> bytes:
        return bytes(2 * samples)


Source = ToneGenerator | WavSource | Silence

_MAX_FRAMES = 3000  # 60 s of 20 ms frames
_LEAD_IN = 200  # ms encoded (and dropped) before a stateful encoder's cycle of a periodic source


def frame_cycle(source: Source, codec: str, ptime: int = 20, vad: bool = False) -> list[bytes]:
    """The source's packets (`ptime` ms each, encoded with `codec`, an rtpmap encoding name) for one full cycle,
    pre-encoded: the send path then indexes a list, whatever the codec costs.

    A tone cycle is the smallest whole number of packets covering whole periods (25 for 1 kHz at 20 ms); a
    WAV file is cut into its packets (the last one wrapping to the start); longer cycles are capped at 60 s.
    Silence is 2 s of packets (with G.729 VAD: a SID frame, then empty payloads — nothing sent). A stateful codec
    encodes the cycle once, in order, so only the wrap joins two encoder states. Streams playing the same tone
    (or silence) from its start share one cycle: hundreds of calls then read a few kilobytes of packets that stay
    in the CPU's cache rather than a copy each.
    """
    if isinstance(source, Silence):
        return _shared_cycle(("silence",), codec, ptime, vad, source)
    if isinstance(source, ToneGenerator):
        if source.position == 0:  # not read yet: the cycle depends on the tone's parameters only
            return _shared_cycle((source.frequencies, source.level_dbm0, source.sample_rate), codec, ptime, vad,
                                 source)
        return _read_cycle(source, codec, ptime, vad)
    return _read_cycle(source, codec, ptime, vad)


_shared_cycles: dict[tuple[Any, ...], list[bytes]] = {}  # immutable packets, keyed by what determines them


def _shared_cycle(key: tuple[Any, ...], codec: str, ptime: int, vad: bool, source: Source) -> list[bytes]:
    key = (*key, codec, ptime, vad)
    frames = _shared_cycles.get(key)
    if frames is None:
        if len(_shared_cycles) >= 64:  # a lab playing many distinct tones: forget the oldest
            del _shared_cycles[next(iter(_shared_cycles))]
        frames = _shared_cycles[key] = _read_cycle(source, codec, ptime, vad)
    return frames


def _read_cycle(source: Source, codec: str, ptime: int, vad: bool) -> list[bytes]:
    spp = 8 * ptime  # samples per packet
    if isinstance(source, Silence):
        count = 2000 // ptime if vad else 1  # with VAD: one SID frame, then nothing, every 2 s
    elif isinstance(source, ToneGenerator):
        period = source.period_samples
        count = period // math.gcd(period, spp)
    elif isinstance(source, WavSource):
        count = -(-len(source.pcm) // (2 * spp))
    else:
        count = 1
    count = max(1, min(count, 60_000 // ptime))
    fmt = codecs.by_encoding(codec)
    if fmt is None:
        raise ValueError(f"unknown codec {codec!r}")
    if fmt.stem in ("G711Mulaw", "G711Alaw") and not isinstance(source, Silence):
        return [source.read_encoded(codec, spp) for _ in range(count)]  # the sources' own encoded periods
    encoder = codecs.encoder_for(fmt, vad=vad)
    if isinstance(source, ToneGenerator):  # periodic: the encoder settles on a lead-in, the cycle continues it
        for _ in range(_LEAD_IN // ptime):
            encoder.encode(source.read(spp))
    return [encoder.encode(source.read(spp)) for _ in range(count)]


class WavRecorder:
    """Received audio to a WAV file (8 kHz mono 16-bit PCM), decoded from G.711 packet by packet; ``factor`` scales
    what is written (a line's output gain: :mod:`.user_gain`; 1.0 writes the decoded audio as it is)."""

    __slots__ = ("_factor", "_wave")

    def __init__(self, path: str | Path, factor: float = 1.0) -> None:
        w = wave.open(str(path), "wb")
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(g711.SAMPLE_RATE)
        self._wave = w
        self._factor = factor

    def write(self, codec: str, payload: bytes) -> None:
        self.write_pcm(g711.decode(codec, payload))

    def write_pcm(self, pcm: bytes) -> None:
        self._wave.writeframesraw(pcm if self._factor == 1.0 else scale_pcm(pcm, self._factor))

    def close(self) -> None:
        self._wave.close()

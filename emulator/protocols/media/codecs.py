"""The voice codecs a unit carries (Media/Codecs): their RTP names, payload sizes, and encoders/decoders over kept
libraries — G.711 (our tables), G.722 (PyPI ``G722``, ITU-T G.722 in 8 kHz mode, RFC 3551 §4.5.2), G.726 at 16/24/32/40
kbit/s (libspandsp), G.729 Annex A/B (libbcg729), and the transparent 64 kbit/s formats (clear mode, RFC 4040;
clear channel; X-CCD) that carry the line's octets unchanged.

Every encoder takes and every decoder gives 16-bit LE PCM at 8 kHz (the endpoint's audio); encoders are stateful
(ADPCM, CELP) and take a whole number of 10 ms frames. G.723.1 is in the catalog but has no kept implementation in
Debian or on PyPI the project may use (libavcodec's is reachable only through a whole FFmpeg binding), so
:data:`FORMATS` lists it as never carried: it is never offered and never accepted (README, emulator choices).

The names of the transparent formats other than RFC 4040's CLEARMODE are an emulator choice (``X-CLEAR-CHANNEL``,
``X-CCD``): the vendor does not document them. Their octets are the line's µ-law PCM.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import G722

from emulator.protocols.media import bcg729, g711, spandsp

__all__ = [
    "FORMATS",
    "AudioFormat",
    "Decoder",
    "Encoder",
    "by_encoding",
    "by_stem",
    "carried",
    "decoder_for",
    "encoder_for",
]


class Encoder(Protocol):
    def encode(self, pcm: bytes) -> bytes: ...


class Decoder(Protocol):
    def decode(self, payload: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """One codec of Media/Codecs: its parameter stem (``Mipt.DefaultCodec<stem>...``), RTP encoding name and static
    payload type (None: dynamic, from ``...PayloadType``), octets per 10 ms, the ptime step (its frame length)."""

    stem: str
    encoding: str
    static_pt: int | None
    octets_per_10ms: int
    frame_ms: int = 10
    bitrate: int = 64000
    library: str = ""  # "" (ours), "G722", "spandsp", "bcg729", "none" (never carried)

    def octets(self, ptime_ms: int) -> int:
        return self.octets_per_10ms * ptime_ms // 10


FORMATS: tuple[AudioFormat, ...] = (
    AudioFormat("G711Mulaw", "PCMU", 0, 80),
    AudioFormat("G711Alaw", "PCMA", 8, 80),
    AudioFormat("G722", "G722", 9, 80, library="G722"),
    AudioFormat("G723", "G723", 4, 0, frame_ms=30, bitrate=6300, library="none"),
    AudioFormat("G726r16kbps", "G726-16", None, 20, bitrate=16000, library="spandsp"),
    AudioFormat("G726r24kbps", "G726-24", None, 30, bitrate=24000, library="spandsp"),
    AudioFormat("G726r32kbps", "G726-32", None, 40, bitrate=32000, library="spandsp"),
    AudioFormat("G726r40kbps", "G726-40", None, 50, bitrate=40000, library="spandsp"),
    AudioFormat("G729", "G729", 18, 10, bitrate=8000, library="bcg729"),
    AudioFormat("ClearMode", "CLEARMODE", None, 80),
    AudioFormat("ClearChannel", "X-CLEAR-CHANNEL", None, 80),
    AudioFormat("XCCD", "X-CCD", None, 80),
)
_BY_ENCODING = {f.encoding.upper(): f for f in FORMATS}
_BY_STEM = {f.stem: f for f in FORMATS}


def by_encoding(name: str) -> AudioFormat | None:
    """The format of an rtpmap encoding name (case-insensitive), None if unknown."""
    return _BY_ENCODING.get(name.upper())


def by_stem(stem: str) -> AudioFormat:
    return _BY_STEM[stem]


@functools.cache
def _library_ok(library: str) -> bool:
    if library == "none":
        return False
    if library == "bcg729":
        return bcg729.available()
    if library == "spandsp":
        return spandsp.available()
    return True


def carried(fmt: AudioFormat) -> bool:
    """Whether this machine can carry `fmt` (its library is installed); a format that is not is never offered."""
    return _library_ok(fmt.library)


# ----------------------------------------------------------------------------------------------- adapters


class _G711:
    __slots__ = ("decode", "encode")

    def __init__(self, ulaw: bool) -> None:
        self.encode: Callable[[bytes], bytes] = g711.ulaw_encode if ulaw else g711.alaw_encode
        self.decode: Callable[[bytes], bytes] = g711.ulaw_decode if ulaw else g711.alaw_decode


class _G722:
    """PyPI ``G722`` in 8 kHz mode: 8 kHz PCM in and out (the codec's 16 kHz band split inside), 64 kbit/s."""

    __slots__ = ("_codec",)

    def __init__(self) -> None:
        self._codec = G722.G722(8000, 64000)

    def encode(self, pcm: bytes) -> bytes:
        return bytes(self._codec.encode(memoryview(pcm).cast("h")))

    def decode(self, payload: bytes) -> bytes:
        return bytes(self._codec.decode(payload).tobytes())


def encoder_for(fmt: AudioFormat, *, vad: bool = False) -> Encoder:
    """A new encoder for `fmt` (`vad`: G.729 Annex B)."""
    if fmt.library == "bcg729":
        return bcg729.G729Encoder(vad)
    return _codec(fmt)


def decoder_for(fmt: AudioFormat) -> Decoder:
    """A new decoder for `fmt`."""
    if fmt.library == "bcg729":
        return bcg729.G729Decoder()
    return _codec(fmt)


def _codec(fmt: AudioFormat) -> _G711 | _G722 | spandsp.G726Codec:
    if fmt.library == "spandsp":
        return spandsp.G726Codec(fmt.bitrate)
    if fmt.library == "G722":
        return _G722()
    if fmt.library == "none":
        raise ValueError(f"{fmt.encoding} is not carried (no kept implementation)")
    return _G711(fmt.encoding != "PCMA")

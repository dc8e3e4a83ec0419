"""DTMF digits as RTP telephone events (RFC 4733 §2.3, the ``telephone-event`` payload the SDP offers).

Pure: :class:`DtmfSender` says, tick by tick (one tick = one 20 ms packet period), what the stream sends while
digits are queued — an event packet or audio — and :class:`DtmfReceiver` turns received event packets back
into digits, once per event however many retransmissions arrive.

Sending one digit (§2.5.1): the event's packets share the RTP timestamp of its start and carry a growing
duration (160, 320, ... samples at 8 kHz); the first has the marker bit; the last has the E bit and is sent
three times (§2.5.1.4). The audio timestamp keeps running meanwhile, so audio after the event continues at the
right time. Between digits, audio packets fill the inter-digit gap.
"""

from __future__ import annotations

import array
import math
import struct
import sys
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache

from emulator.protocols.media import g711
from emulator.protocols.media.tones import amplitude_for_dbm0

__all__ = [
    "EVENTS",
    "DtmfError",
    "DtmfReceiver",
    "DtmfSender",
    "EventPacket",
    "InbandDtmf",
    "dtmf_frequencies",
    "inband_frames",
    "inband_pcm",
    "parse_digits",
]

EVENTS = "0123456789*#ABCD"  # event codes 0..15 (RFC 4733 §3.2)
TICK_SAMPLES = 160  # 20 ms at 8 kHz
MIN_MS, MAX_MS = 40, 2000
MAX_DIGITS = 64
END_REPEATS = 3
_PAYLOAD = struct.Struct("!BBH")


class DtmfError(ValueError):
    """Digits or timings that cannot be sent; nothing was queued."""


def parse_digits(text: str) -> str:
    """The digits of `text` in upper case; only 0-9 * # A-D, at most 64 of them."""
    digits = text.strip().upper()
    if not digits:
        raise DtmfError("no digits (0-9, *, #, A-D)")
    bad = sorted({c for c in digits if c not in EVENTS})
    if bad:
        raise DtmfError(f"not DTMF digits: {' '.join(repr(c) for c in bad)} (0-9, *, #, A-D)")
    if len(digits) > MAX_DIGITS:
        raise DtmfError(f"{len(digits)} digits: at most {MAX_DIGITS} at a time")
    return digits


def _ticks(ms: int, what: str, tick_ms: int = 20) -> int:
    if isinstance(ms, bool) or not isinstance(ms, int) or not MIN_MS <= ms <= MAX_MS:
        raise DtmfError(f"{what}: {ms!r} ms is outside {MIN_MS}..{MAX_MS} ms")
    return max(1, round(ms / tick_ms))


@dataclass(frozen=True, slots=True)
class EventPacket:
    payload: bytes  # the 4-octet event payload
    marker: bool
    timestamp: int  # the event's start timestamp (every packet of one event carries it)


@dataclass
class DtmfSender:
    """Queued digits, stepped once per packet period. ``step(ts)`` -> an :class:`EventPacket` to send in place
    of audio, or None (send audio). `ts` is the audio timestamp of this tick."""

    volume: int = 10  # -dBm0 (RFC 4733 §2.3.4): 10 = -10 dBm0
    tick_samples: int = TICK_SAMPLES  # one packet period (the stream's ptime) in samples
    _queue: deque[tuple[int, int, int]] = field(default_factory=deque)  # (event, duration ticks, gap ticks)
    _event: int = -1
    _start_ts: int = 0
    _tick: int = 0
    _length: int = 0
    _gap: int = 0
    _ends_sent: int = 0
    _gap_left: int = 0

    def queue(self, digits: str, duration_ms: int = 100, gap_ms: int = 60) -> None:
        ds = parse_digits(digits)
        tick_ms = self.tick_samples // 8
        dur, gap = _ticks(duration_ms, "duration_ms", tick_ms), _ticks(gap_ms, "gap_ms", tick_ms)
        for d in ds:
            self._queue.append((EVENTS.index(d), dur, gap))

    @property
    def busy(self) -> bool:
        return self._event >= 0 or self._gap_left > 0 or bool(self._queue)

    def step(self, ts: int) -> EventPacket | None:
        if self._event < 0:
            if self._gap_left > 0:
                self._gap_left -= 1
                return None
            if not self._queue:
                return None
            self._event, self._length, self._gap = self._queue.popleft()
            self._start_ts, self._tick, self._ends_sent = ts, 0, 0
        first = self._tick == 0
        if self._tick < self._length:
            self._tick += 1
        end = self._tick >= self._length
        duration = min(self._tick * self.tick_samples, 0xFFFF)
        payload = _PAYLOAD.pack(self._event, (0x80 if end else 0) | (self.volume & 0x3F), duration)
        packet = EventPacket(payload, first, self._start_ts)
        if end:
            self._ends_sent += 1
            if self._ends_sent >= END_REPEATS:
                self._event, self._gap_left = -1, self._gap
        return packet


@dataclass
class DtmfReceiver:
    """Digits out of received event packets: one per event (a new event timestamp), retransmissions and the
    end packets of an event already counted ignored; unknown event codes (> 15) ignored."""

    digits: str = ""
    limit: int = 256
    _last_ts: int | None = None

    def feed(self, payload: bytes, timestamp: int) -> str | None:
        if len(payload) < 4 or timestamp == self._last_ts:
            return None
        event = payload[0]
        if event >= len(EVENTS):
            return None
        self._last_ts = timestamp
        digit = EVENTS[event]
        self.digits = (self.digits + digit)[-self.limit:]
        return digit


# In-band DTMF (Mipt.DefaultDtmfTransportMethod InBand, the factory setting): the digit's two tones in the audio.
ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")


def dtmf_frequencies(digit: str) -> tuple[float, float]:
    """The (row, column) frequencies of a keypad digit (ITU-T Q.23)."""
    for r, keys in enumerate(KEYPAD):
        c = keys.find(digit.upper())
        if c >= 0:
            return ROWS[r], COLUMNS[c]
    raise DtmfError(f"not a DTMF digit: {digit!r}")


@lru_cache(maxsize=64)
def inband_pcm(digit: str, samples: int, level_dbm0: float = -7.0) -> bytes:
    """`samples` of a digit's two tones, `level_dbm0` each, as 16-bit LE PCM (cached)."""
    low, high = dtmf_frequencies(digit)
    amp = amplitude_for_dbm0(level_dbm0)
    pcm = array.array("h", (
        max(-32768, min(32767, round(amp * (math.sin(2 * math.pi * low * i / 8000)
                                             + math.sin(2 * math.pi * high * i / 8000)))))
        for i in range(samples)))
    if sys.byteorder == "big":  # pragma: no cover
        pcm.byteswap()
    return pcm.tobytes()


@lru_cache(maxsize=128)
def inband_frames(digit: str, codec: str, ticks: int, level_dbm0: float = -7.0) -> tuple[bytes, ...]:
    """`ticks` G.711-encoded 20 ms frames of a digit's two tones, `level_dbm0` each (cached: a digit string does
    not stall the event loop; a whole-period tone generator would take ~20 ms per pair)."""
    n = ticks * TICK_SAMPLES
    encoded = g711.encode(codec, inband_pcm(digit, n, level_dbm0))
    return tuple(encoded[k:k + TICK_SAMPLES] for k in range(0, n, TICK_SAMPLES))


@dataclass
class InbandDtmf:
    """Queued digits as audio: ``step()`` -> the encoded 20 ms frame to send instead of the source's, or None
    (the source's audio: gaps and after). `frames_for(digit)` gives a digit's encoded frames (the stream's
    codec); built by the caller so this stays free of codecs."""

    _queue: deque[tuple[tuple[bytes, ...], int]] = field(default_factory=deque)
    _frames: list[bytes] = field(default_factory=list)
    _gap_left: int = 0

    def queue(self, frames_per_digit: list[tuple[bytes, ...]], gap_ticks: int) -> None:
        for frames in frames_per_digit:
            self._queue.append((frames, gap_ticks))

    @property
    def busy(self) -> bool:
        return bool(self._frames) or self._gap_left > 0 or bool(self._queue)

    def step(self) -> bytes | None:
        if not self._frames:
            if self._gap_left > 0:
                self._gap_left -= 1
                return None
            if not self._queue:
                return None
            frames, self._gap_left = self._queue.popleft()
            self._frames = list(reversed(frames))
        return self._frames.pop()

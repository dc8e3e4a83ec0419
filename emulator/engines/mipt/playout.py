"""The receive side of a stream past the packet path: jitter buffer, decoding, the measure window, recording, in-band
DTMF and fax tone detection — all done in batches (the stream's housekeeping, every 100 ms, and on demand).

The packet path only appends ``(arrival, timestamp, payload)`` to :attr:`Playout.arrivals` (one tuple and one
``list.append`` per packet: no Python call). :meth:`Playout.process` then pushes the batch through the
:class:`~emulator.protocols.media.jitter.JitterBuffer`, takes the frames whose playout time has come (in timestamp
order, ``None`` where one is missing) and:

* keeps the last 200 ms (plus a decoder warm-up) of *encoded* frames for :meth:`Playout.measure`, which decodes them
  only when asked — a stream nobody measures, records or listens to is never decoded;
* decodes continuously only while it must: recording to a WAV file, detecting in-band DTMF
  (``TelIf.InteropDtmfDetection`` thresholds, spandsp's receiver; on when the call carries no RFC 4733 events), or
  watching for fax tones (CNG/CED, the fax machine's switch to T.38), or feeding :attr:`Playout.pcm_sink` (the fax
  machine's modem in G.711 pass-through).

Missing frames are concealed by repeating the last frame played (G.729: the decoder's own erasure concealment) —
an emulator choice, simpler than G.711 Appendix I; after 60 ms of missing frames, silence.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.engines.mipt.quality import Measured
from emulator.engines.mipt.sources import WavRecorder
from emulator.protocols.media import codecs
from emulator.protocols.media.bcg729 import G729Decoder
from emulator.protocols.media.jitter import JitterBuffer, JitterSettings
from emulator.protocols.media.rtp import ReceptionStats
from emulator.protocols.media.spandsp import ConnectToneDetector, DtmfDetector
from emulator.protocols.media.tones import ToneMeasurement, ToneMeter

__all__ = ["DtmfThresholds", "Playout"]

MEASURE_MS = 200
_WARMUP_MS = 60  # frames decoded before the measure window, so a fresh ADPCM/CELP decoder has settled
_CONCEAL_MS = 60  # a gap longer than this plays silence


@dataclass(frozen=True, slots=True)
class DtmfThresholds:
    """``TelIf.InteropDtmfDetection`` of the endpoint's interface (the columns spandsp's receiver has)."""

    positive_twist: int = 6
    negative_twist: int = 9
    min_power: int = -30


class Playout:
    """One stream's received audio after the network (see the module docstring)."""

    __slots__ = (
        "_decoder", "_detector", "_frames", "_last_heard", "_pcm", "_prev", "_recorder", "_tones", "arrivals", "fmt",
        "jb", "jitter_ms", "octets_received", "on_digit", "on_tone", "pcm_sink", "ptime",
    )

    def __init__(self, fmt: codecs.AudioFormat, ptime: int, settings: JitterSettings | None = None) -> None:
        self.fmt = fmt
        self.ptime = ptime
        self.jb = JitterBuffer(settings, step=8 * ptime)
        self.arrivals: list[tuple[float, int, bytes]] = []
        self._frames: deque[bytes | None] = deque(maxlen=self._window_frames())
        self._pcm: deque[bytes] = deque(maxlen=self._window_frames())
        self._decoder: codecs.Decoder | None = None  # the continuous one (recording, detection)
        self._recorder: WavRecorder | None = None
        self._detector: DtmfDetector | None = None
        self._tones: list[ConnectToneDetector] = []
        self._last_heard = -1.0
        self._prev: tuple[bytes, int] = (b"", 0)  # the last frame decoded, and how many times it was repeated
        self.octets_received = 0
        self.jitter_ms = Measured()  # RFC 3550 interarrival jitter, sampled at every batch while audio arrives
        self.on_digit: Callable[[str], None] | None = None
        self.on_tone: Callable[[int], None] | None = None
        self.pcm_sink: Callable[[bytes], None] | None = None  # every block played (the fax modem in pass-through)

    def _window_frames(self) -> int:
        return max(2, -(-(MEASURE_MS + _WARMUP_MS) // max(10, self.ptime)) + 1)

    def set_format(self, fmt: codecs.AudioFormat, ptime: int) -> None:
        """The call changed codec or packetization (a re-INVITE): decoders restart."""
        if fmt == self.fmt and ptime == self.ptime:
            return
        self.fmt, self.ptime = fmt, ptime
        self.jb.step = 8 * ptime  # the buffer only learns shorter packets by itself: longer ones were played twice
        self._frames = deque(maxlen=self._window_frames())
        self._pcm = deque(maxlen=self._window_frames())
        self._decoder = None

    # -- what decodes continuously

    @property
    def continuous(self) -> bool:
        return (self._recorder is not None or self._detector is not None or bool(self._tones)
                or self.pcm_sink is not None)

    def record(self, recorder: WavRecorder | None) -> None:
        if self._recorder is not None:
            self._recorder.close()
        self._recorder = recorder

    def detect_dtmf(self, thresholds: DtmfThresholds | None) -> None:
        """Detect in-band digits (None: stop), each reported to :attr:`on_digit`."""
        self._detector = None if thresholds is None else DtmfDetector(
            twist=thresholds.positive_twist, reverse_twist=thresholds.negative_twist,
            threshold_dbm0=thresholds.min_power)

    def detect_tones(self, kinds: tuple[int, ...]) -> None:
        """Watch for modem connect tones (spandsp kinds), each found reported to :attr:`on_tone`."""
        self._tones = [ConnectToneDetector(k) for k in kinds]

    # -- batches

    def _silence(self) -> bytes:
        return bytes(16 * self.ptime)

    def _decode(self, decoder: codecs.Decoder, frame: bytes | None, prev: list[Any]) -> bytes:
        """A frame decoded; a missing one concealed (`prev`: [last pcm, repeats], updated)."""
        if frame is not None:
            pcm = decoder.decode(frame)
            prev[0], prev[1] = pcm, 0
            return pcm
        if isinstance(decoder, G729Decoder):
            return decoder.conceal(max(1, self.ptime // 10))
        prev[1] += 1
        if prev[0] and prev[1] * self.ptime <= _CONCEAL_MS and len(prev[0]) == 16 * self.ptime:
            return bytes(prev[0])
        return self._silence()

    def process(self, now: float, reception: ReceptionStats | None = None) -> None:
        """Push what arrived through the jitter buffer and play what is due; sample the interarrival jitter."""
        jb = self.jb
        batch = self.arrivals
        if batch:
            self.arrivals = []
            jb.push_many(batch)
            self.octets_received += sum(map(len, (p for _, _, p in batch)))
            if reception is not None and reception.received > 16:  # the estimator has settled (gain 1/16)
                self.jitter_ms.add(reception.jitter * 1000.0 / reception.clock_rate)
        frames = jb.pull(now)
        if not frames:
            return
        if any(f is not None for f in frames):
            self._last_heard = now
        self._frames.extend(frames)
        if not self.continuous:
            return
        if self._decoder is None:
            self._decoder = codecs.decoder_for(self.fmt)
        prev: list[Any] = list(self._prev)
        pcm = [self._decode(self._decoder, f, prev) for f in frames]
        self._prev = (bytes(prev[0]), int(prev[1]))
        self._pcm.extend(pcm)
        block = b"".join(pcm)
        if self._recorder is not None:
            self._recorder.write_pcm(block)
        if self.pcm_sink is not None:
            self.pcm_sink(block)
        if self._detector is not None:
            digits = self._detector.feed(block)
            if digits and self.on_digit is not None:
                for d in digits:
                    self.on_digit(d)
        for det in self._tones:
            found = det.feed(block)
            if found and self.on_tone is not None:
                self.on_tone(found)

    def measure(self, candidates: tuple[float, ...] | None = None) -> ToneMeasurement:
        """Level and dominant frequency of the last 200 ms played (nothing heard lately: silence)."""
        now = time.monotonic()
        self.process(now)
        meter = ToneMeter(MEASURE_MS)
        if now - self._last_heard <= (MEASURE_MS + self.ptime) / 1000.0:  # the last audio played (its playout time)
            if self.continuous:
                pcm = list(self._pcm)
            else:
                decoder = codecs.decoder_for(self.fmt)
                prev: list[Any] = [b"", 0]
                pcm = [self._decode(decoder, f, prev) for f in self._frames]
            keep = -(-MEASURE_MS // max(10, self.ptime))
            for block in pcm[-keep:]:
                meter.feed(block)
        return meter.measure(candidates)

    def close(self) -> None:
        self.record(None)
        self._detector = None
        self._tones = []

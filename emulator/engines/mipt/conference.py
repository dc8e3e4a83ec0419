"""What a line hears and sends beyond one call: the local three-way conference's mixing, and the call progress
tones played to the line alone (the call-waiting tone). ``CallMedia.lines``; the call layer reaches it through
its ``LineMedia`` protocol (engines/sipep/line_actions.py).

**Conference** (EpServ conference type Local): each leg's stream sends the line's phone (what the endpoint
plays: its tone, WAV file or silence) mixed with what the other legs receive (:mod:`emulator.protocols.media.mixer`),
encoded with the leg's codec: so each far end hears the line and the other far end, never itself. Each leg's
received audio is taken at its playout (the jitter buffer's output, ``Playout.pcm_sink``). The line hears the sum
of the legs (:meth:`LineAudio.heard`), also written, when the endpoint's phone records (``record``), to
``<name>-conference.wav`` beside its file while the conference lasts (emulator choice: each call's own stream
keeps recording what it receives). When the conference ends, each stream goes back to its own source.

**Line tones**: the country's pattern (``TelIf.CountrySelection``) played to the line, not to the far end: the
line's hearing is the tone (at its cadence since it started) over the legs' audio.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.engines.mipt.call_tones import CallTones
from emulator.engines.mipt.endpoint_audio import EndpointAudio
from emulator.engines.mipt.sources import Silence, WavRecorder, WavSource
from emulator.protocols.media import codecs
from emulator.protocols.media.mixer import LegBuffer, levels_dbm0, mix
from emulator.protocols.media.tones import ToneGenerator

__all__ = ["Conference", "LineAudio"]

HEARD_MS = 200  # what a measure of the line's hearing covers


def _phone_source(audio: EndpointAudio, audio_dir: Any) -> ToneGenerator | WavSource | Silence:
    """A fresh reader of what the endpoint's phone plays (each leg reads its own, at its own pace)."""
    if audio.tones:
        return ToneGenerator(tuple(audio.tones), audio.level_dbm0)
    if audio.wav and audio_dir is not None:
        try:
            return WavSource(audio_dir / audio.wav)
        except (OSError, ValueError):
            return Silence()
    return Silence()


@dataclass
class _Leg:
    stream: Any  # MediaStream
    phone: ToneGenerator | WavSource | Silence
    received: LegBuffer = field(default_factory=LegBuffer)
    heard: deque[bytes] = field(default_factory=lambda: deque(maxlen=HEARD_MS // 10))
    encoder: Any = None
    previous_sink: Callable[[bytes], None] | None = None
    for_line: LegBuffer = field(default_factory=LegBuffer)  # waiting to be mixed into the line's recording


class Conference:
    """One line's local conference over its calls' streams. ``recorder``: where the line's hearing (the legs'
    audio summed) is written while the conference lasts, paced by the first leg's audio; None: not recorded."""

    def __init__(self, streams: Sequence[Any], phones: Sequence[ToneGenerator | WavSource | Silence],
                 recorder: WavRecorder | None = None) -> None:
        self.legs = [_Leg(s, p) for s, p in zip(streams, phones, strict=True)]
        self.recorder = recorder
        for leg in self.legs:
            leg.encoder = codecs.encoder_for(leg.stream.fmt)
            leg.previous_sink = leg.stream.playout.pcm_sink
            leg.stream.playout.pcm_sink = self._sink(leg)
            leg.stream.set_live(self._live(leg))

    def _sink(self, leg: _Leg) -> Callable[[bytes], None]:
        def received(pcm: bytes) -> None:
            leg.received.push(pcm)
            leg.heard.append(pcm)
            if self.recorder is not None:
                if leg is self.legs[0]:
                    others = [other.for_line.take(len(pcm)) for other in self.legs[1:]]
                    self.recorder.write_pcm(mix([pcm, *others]))
                else:
                    leg.for_line.push(pcm)
            if leg.previous_sink is not None:
                leg.previous_sink(pcm)
        return received

    def _live(self, leg: _Leg) -> Callable[[], bytes]:
        def payload() -> bytes:
            samples = 8 * leg.stream.ptime
            own = leg.phone.read(samples)
            others = [other.received.take(2 * samples) for other in self.legs if other is not leg]
            return leg.encoder.encode(mix([own, *others]))
        return payload

    def heard(self) -> bytes:
        """The last audio the legs brought the line, summed."""
        return mix([b"".join(leg.heard) for leg in self.legs])

    def stop(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
        for leg in self.legs:
            leg.stream.set_live(None)
            leg.stream.playout.pcm_sink = leg.previous_sink


class LineAudio:
    """The lines' conferences and line tones of one unit (``CallMedia.lines``)."""

    def __init__(self, tones: CallTones, audio_of: Callable[[str], EndpointAudio], audio_dir: Any,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tones = tones
        self.audio_of = audio_of
        self.audio_dir = audio_dir
        self.clock = clock
        self.conferences: dict[str, Conference] = {}
        self.playing: dict[str, tuple[str, bytes, float]] = {}  # endpoint -> (tone, its PCM cycle, started)

    # -- LineMedia (the call layer's protocol)
    def line_tone(self, endpoint: str, tone: str | None) -> bool:
        source = self.tones.source(tone) if tone else None
        if source is None:
            self.playing.pop(endpoint, None)
            return tone is None
        self.playing[endpoint] = (str(tone), source.pcm, self.clock())
        return True

    def conference(self, endpoint: str, calls: Sequence[Any]) -> None:
        self.conference_ended(endpoint)
        streams = [c.media.stream for c in calls if getattr(c.media, "stream", None) is not None]
        audio = self.audio_of(endpoint)
        recorder = None
        if audio.record and self.audio_dir is not None:  # the line's hearing: <name>-conference.wav beside its file
            path = Path(self.audio_dir) / audio.record
            path.parent.mkdir(parents=True, exist_ok=True)
            recorder = WavRecorder(path.with_name(f"{path.stem}-conference{path.suffix}"))
        self.conferences[endpoint] = Conference(streams, [_phone_source(audio, self.audio_dir) for _ in streams],
                                                recorder)

    def conference_ended(self, endpoint: str) -> None:
        conf = self.conferences.pop(endpoint, None)
        if conf is not None:
            conf.stop()

    # -- what the line hears
    def tone_playing(self, endpoint: str) -> str | None:
        playing = self.playing.get(endpoint)
        return playing[0] if playing else None

    def heard(self, endpoint: str) -> bytes:
        """The last :data:`HEARD_MS` the line heard: its tone (at its cadence) over its conference's legs."""
        blocks: list[bytes] = []
        playing = self.playing.get(endpoint)
        if playing is not None:
            _, pcm, started = playing
            n = 2 * 8 * HEARD_MS
            end = int((self.clock() - started) * 8000) * 2 % len(pcm)
            doubled = pcm + pcm
            start = (end - n) % len(pcm)
            blocks.append(doubled[start:start + n])
        conf = self.conferences.get(endpoint)
        if conf is not None:
            blocks.append(conf.heard())
        return mix(blocks)

    def hears(self, endpoint: str, frequencies: Sequence[float]) -> dict[float, float]:
        """Level (dBm0) of each frequency in what the line hears now."""
        return levels_dbm0(self.heard(endpoint), frequencies)

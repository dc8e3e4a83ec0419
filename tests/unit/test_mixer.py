"""The local conference's mixing (protocols/media/mixer.py, engines/mipt/conference.py): sums saturate, each leg's
received audio waits bounded, tones are measured in a mix, and a conference sends each leg the line and the other
legs, never its own audio."""

from __future__ import annotations

import array
import wave
from pathlib import Path
from typing import Any

from emulator.engines.mipt.conference import Conference, LineAudio
from emulator.engines.mipt.endpoint_audio import EndpointAudio
from emulator.engines.mipt.sources import Silence, WavRecorder
from emulator.protocols.media import codecs, g711
from emulator.protocols.media.mixer import LegBuffer, levels_dbm0, mix
from emulator.protocols.media.tones import ToneGenerator


def pcm(*samples: int) -> bytes:
    return array.array("h", samples).tobytes()


def test_mix_sums_and_saturates() -> None:
    assert mix([pcm(1, -2, 30000), pcm(10, -20, 30000)]) == pcm(11, -22, 32767)
    assert mix([pcm(-30000), pcm(-30000, 5)]) == pcm(-32768, 5)  # as long as the longest
    assert mix([pcm(7)]) == pcm(7) and mix([]) == b""


def test_leg_buffer_drops_the_oldest_and_pads_with_silence() -> None:
    buf = LegBuffer(max_ms=1)  # 8 samples
    buf.push(pcm(1, 2, 3, 4))
    buf.push(pcm(5, 6, 7, 8, 9, 10))
    assert len(buf) == 12 and buf.dropped == 8  # the first chunk went
    assert buf.take(4) == pcm(5, 6)
    assert buf.take(12) == pcm(7, 8, 9, 10, 0, 0)
    assert buf.take(4) == pcm(0, 0)


def test_levels_of_the_tones_in_a_mix() -> None:
    a, b = ToneGenerator((600.0,), -10.0), ToneGenerator((1400.0,), -20.0)
    block = mix([a.read(1600), b.read(1600)])
    levels = levels_dbm0(block, [600.0, 1400.0, 1000.0])
    assert abs(levels[600.0] + 10.0) < 1.0 and abs(levels[1400.0] + 20.0) < 1.0
    assert levels[1000.0] < -50.0


class FakePlayout:
    def __init__(self) -> None:
        self.pcm_sink: Any = None


class FakeStream:
    def __init__(self) -> None:
        self.fmt = codecs.by_encoding("PCMU")
        self.ptime = 20
        self.playout = FakePlayout()
        self.live: Any = None

    def set_live(self, live: Any) -> None:
        self.live = live


def sent(stream: FakeStream, packets: int) -> bytes:
    return b"".join(g711.decode("PCMU", stream.live()) for _ in range(packets))


def test_each_leg_sends_the_line_and_the_other_legs_never_its_own() -> None:
    legs = [FakeStream(), FakeStream()]
    conf = Conference(legs, [ToneGenerator((1000.0,), -10.0), ToneGenerator((1000.0,), -10.0)])
    far_b, far_c = ToneGenerator((600.0,), -10.0), ToneGenerator((1400.0,), -10.0)
    for _ in range(10):  # 200 ms received from each far end
        legs[0].playout.pcm_sink(far_b.read(160))
        legs[1].playout.pcm_sink(far_c.read(160))
    to_b, to_c = levels_dbm0(sent(legs[0], 10), [600.0, 1000.0, 1400.0]), \
        levels_dbm0(sent(legs[1], 10), [600.0, 1000.0, 1400.0])
    assert to_b[1000.0] > -14 and to_b[1400.0] > -14 and to_b[600.0] < -40, to_b
    assert to_c[1000.0] > -14 and to_c[600.0] > -14 and to_c[1400.0] < -40, to_c
    heard = levels_dbm0(conf.heard(), [600.0, 1000.0, 1400.0])  # the line hears both far ends
    assert heard[600.0] > -14 and heard[1400.0] > -14 and heard[1000.0] < -40
    conf.stop()
    assert legs[0].live is None and legs[0].playout.pcm_sink is None


class FakeTones:
    def source(self, tone: str) -> Any:
        return None if tone != "CallWaiting" else type("S", (), {"pcm": ToneGenerator((440.0,), -13.0).read(8000)})()


def test_a_line_tone_is_heard_by_the_line_until_stopped() -> None:
    now = [100.0]
    lines = LineAudio(FakeTones(), lambda ep: EndpointAudio(), None, clock=lambda: now[0])  # type: ignore[arg-type]
    assert lines.line_tone("Phone-Fax1", "CallWaiting") and lines.tone_playing("Phone-Fax1") == "CallWaiting"
    now[0] += 0.5
    assert lines.hears("Phone-Fax1", [440.0])[440.0] > -16
    assert not lines.line_tone("Phone-Fax1", "NoSuchTone") and lines.tone_playing("Phone-Fax1") is None
    assert lines.hears("Phone-Fax1", [440.0])[440.0] < -90


def test_the_line_recording_holds_both_far_ends(tmp_path: Path) -> None:
    legs = [FakeStream(), FakeStream()]
    conf = Conference(legs, [Silence(), Silence()], WavRecorder(tmp_path / "line.wav"))
    far_b, far_c = ToneGenerator((600.0,), -10.0), ToneGenerator((1400.0,), -10.0)
    for _ in range(25):  # half a second from each far end, the second leg a packet ahead
        legs[1].playout.pcm_sink(far_c.read(160))
        legs[0].playout.pcm_sink(far_b.read(160))
    conf.stop()
    with wave.open(str(tmp_path / "line.wav"), "rb") as w:
        pcm = w.readframes(w.getnframes())
    assert len(pcm) == 2 * 25 * 160  # paced by the first leg
    levels = levels_dbm0(pcm, [600.0, 1400.0])
    assert levels[600.0] > -14 and levels[1400.0] > -14, levels

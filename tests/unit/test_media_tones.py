"""Tone generator and the received-audio measure (level, dominant frequency), through G.711."""

from __future__ import annotations

import math
import random

import pytest

from emulator.protocols.media import g711, tones
from emulator.protocols.media.tones import ToneGenerator, ToneMeter


def _through(codec: str, gen: ToneGenerator, frames: int) -> bytes:
    return g711.decode(codec, b"".join(gen.read_encoded(codec) for _ in range(frames)))


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
@pytest.mark.parametrize(("freq", "level"), [(1000.0, -10.0), (440.0, -20.0), (1000.0, -3.0), (440.0, -30.0)])
def test_measure_identifies_frequency_and_level(codec: str, freq: float, level: float) -> None:
    m = tones.measure(_through(codec, ToneGenerator((freq,), level_dbm0=level), 10))
    assert m.frequency == pytest.approx(freq, abs=1.0)
    assert m.level_dbm0 == pytest.approx(level, abs=1.0)
    assert m.tone_ratio > 0.95
    other = 440.0 if freq == 1000.0 else 1000.0
    assert (
        tones.measure(_through(codec, ToneGenerator((freq,), level_dbm0=level), 5), candidates=[other, freq]).frequency
        == freq
    )


def test_level_scale() -> None:
    # a full-scale sine is 0 dBFS = +3.17 dBm0; 0 dBm0 peaks near the digital milliwatt's 22.7k
    assert tones.amplitude_for_dbm0(tones.DBM0_OFFSET) == pytest.approx(32767)
    assert 22000 < tones.amplitude_for_dbm0(0.0) < 23000
    m = tones.measure(ToneGenerator((1000.0,), level_dbm0=0.0).read(800))
    assert m.rms_dbfs == pytest.approx(-3.17, abs=0.05)


def test_generator_is_continuous_across_frames() -> None:
    gen = ToneGenerator((440.0,), level_dbm0=-10.0)
    assert gen.period_samples % 200 == 0  # whole periods of 8000 / gcd(8000, 440) samples
    joined = b"".join(gen.read(160) for _ in range(5))
    ref = ToneGenerator((440.0,), level_dbm0=-10.0).read(800)
    assert joined == ref
    amp = tones.amplitude_for_dbm0(-10.0)
    samples = tones.pcm_samples(ref)
    assert all(abs(s - amp * math.sin(2 * math.pi * 440 * i / 8000)) <= 1 for i, s in enumerate(samples))


def test_encoded_read_matches_encoding_pcm() -> None:
    a = ToneGenerator((697.0, 1209.0), level_dbm0=-10.0)
    b = ToneGenerator((697.0, 1209.0), level_dbm0=-10.0)
    for _ in range(3):
        assert a.read_encoded("PCMA") == g711.alaw_encode(b.read())


def test_dtmf_pair_with_candidates() -> None:
    pcm = _through("PCMU", ToneGenerator((852.0, 1477.0), level_dbm0=-10.0), 5)
    rows = [697.0, 770.0, 852.0, 941.0]
    cols = [1209.0, 1336.0, 1477.0, 1633.0]
    assert tones.measure(pcm, candidates=rows).frequency == 852.0
    assert tones.measure(pcm, candidates=cols).frequency == 1477.0
    assert tones.measure(pcm).tone_ratio < 0.6  # two equal sines: neither holds all the power


def test_silence_and_noise() -> None:
    silent = tones.measure(g711.ulaw_decode(bytes([g711.ULAW_SILENCE]) * 160))
    assert silent.frequency is None and silent.rms_dbfs == -100.0
    rnd = random.Random(7)
    noise = bytes(rnd.getrandbits(8) for _ in range(1600))
    assert tones.measure(noise).tone_ratio < 0.2
    assert tones.measure(b"").samples == 0


def test_tone_meter_window() -> None:
    meter = ToneMeter(window_ms=100)
    gen440 = ToneGenerator((440.0,), level_dbm0=-10.0)
    gen1k = ToneGenerator((1000.0,), level_dbm0=-20.0)
    for _ in range(20):
        meter.feed_encoded("PCMU", gen440.read_encoded("PCMU"))
    assert meter.measure().frequency == pytest.approx(440.0, abs=1.0)
    for _ in range(5):  # 100 ms of the new tone replaces the window
        meter.feed_encoded("PCMU", gen1k.read_encoded("PCMU"))
    m = meter.measure()
    assert m.frequency == pytest.approx(1000.0, abs=1.0)
    assert m.level_dbm0 == pytest.approx(-20.0, abs=1.0)
    assert meter.frames_fed == 25 and meter.samples_fed == 4000


@pytest.mark.parametrize("freqs", [(), (0.0,), (4000.0,), (5000.0,)])
def test_bad_tones(freqs: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        ToneGenerator(freqs)


def test_measure_speed_is_reasonable() -> None:
    import time

    pcm = _through("PCMU", ToneGenerator((1000.0,), level_dbm0=-10.0), 10)
    tones.measure(pcm)
    t = time.perf_counter()
    for _ in range(5):
        tones.measure(pcm)
    assert (time.perf_counter() - t) / 5 < 0.05  # a live measure must not stall the media loop

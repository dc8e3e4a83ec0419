"""Call progress tones heard in a recording (8 kHz mono 16-bit WAV): frequencies and cadence, measured in 50 ms
blocks with the tests' tone measurement (testkit.baresip.tone_blocks)."""

from __future__ import annotations

from pathlib import Path

from testkit.baresip import read_wav_pcm, tone_blocks

__all__ = ["BLOCK_MS", "ON_LEVEL", "assert_tone_heard", "cadence_matches", "runs"]

BLOCK_MS = 50
ON_LEVEL = -35.0  # dBm0: a block louder than this hears the tone


def runs(on: list[bool], block_ms: int = BLOCK_MS) -> list[tuple[bool, int]]:
    """Consecutive blocks merged: (tone on?, milliseconds)."""
    out: list[tuple[bool, int]] = []
    for flag in on:
        if out and out[-1][0] == flag:
            out[-1] = (flag, out[-1][1] + block_ms)
        else:
            out.append((flag, block_ms))
    return out


def cadence_matches(measured: list[tuple[bool, int]], cadence: list[int], phase: int) -> bool:
    """Whether the measured runs follow the cadence (on, off, on, off... ms) from ``phase``, each within 100 ms."""
    for i, (on, ms) in enumerate(measured):
        k = (phase + i) % len(cadence)
        if on != (k % 2 == 0) or abs(ms - cadence[k]) > 100:
            return False
    return True


def assert_tone_heard(wav: Path, freqs: tuple[float, ...], cadence: list[int], *, first_s: float | None = None,
                      skip_s: float = 0.0) -> None:
    """The recording (or its ``first_s`` seconds after ``skip_s``) holds the tone: its loud blocks at one of
    ``freqs`` (within 12 Hz), and on/off runs following ``cadence`` (on, off... ms; empty: continuous) — the first
    and last runs may be cut by the recording's ends."""
    _, _, _, pcm = read_wav_pcm(wav)
    start = int(skip_s * 8000) * 2
    pcm = pcm[start:] if first_s is None else pcm[start:start + int(first_s * 8000) * 2]
    blocks = tone_blocks(pcm, block_ms=BLOCK_MS)
    on = [m.level_dbm0 > ON_LEVEL for m in blocks]
    heard = [m for m, flag in zip(blocks, on, strict=True) if flag]
    assert heard, f"{wav.name}: nothing heard"
    inside = [m for i, m in enumerate(blocks[1:-1], 1) if on[i - 1] and on[i] and on[i + 1]]  # not a burst's edge
    assert len(inside) >= 0.5 * len(heard), f"{wav.name}: too few steady blocks"
    for m in inside:
        assert m.frequency is not None and min(abs(m.frequency - f) for f in freqs) < 12, (wav.name, m)
    pattern = runs(on)
    while pattern and not pattern[0][0]:  # silence before the audio flowed
        pattern.pop(0)
    while pattern and not pattern[-1][0]:
        pattern.pop()
    if not cadence:
        assert len(pattern) == 1, (wav.name, "a continuous tone", pattern)
        return
    inner = pattern[1:-1]
    assert len(inner) >= len(cadence), (wav.name, pattern)
    assert any(cadence_matches(inner, cadence, k) for k in range(len(cadence))), (wav.name, pattern, cadence)

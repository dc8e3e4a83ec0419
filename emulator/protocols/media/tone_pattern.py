"""Call progress tone patterns in the DGW's syntax (``TelIf.CountryToneStatus`` / ``CountryCustomizationTone``
Pattern), parsed and rendered to 16-bit PCM; pure.

Syntax (MX-TELIF-MIB): up to four frequencies ``f1=<Hz>:<dBm>`` (10 to 4000 Hz, -99 to 3 dBm), then up to eight
states ``sN=<on|off|CID>[:fK...][:<ms>][:l][:sM]`` — an action, the frequencies it plays, its duration (10 to
56000 ms; none: continuous), an end-of-loop mark and the next state — and loops: ``l=<2..128>`` before the state
that starts one, the state with ``:l`` ends it (its next state is the loop's start; once the count is done the
pattern goes on with the state written after it). Example, a recall dial tone: three 100 ms bursts then a
continuous tone: ``f1=350:-17,f2=440:-17,l=3,s1=on:f1:f2:100:s2,s2=off:100:l:s1,s3=on:f1:f2``.

A ``CID`` state (the caller-ID slot of call waiting tones) renders as silence here.

:func:`render` plays the pattern from its first state for one cycle (until it comes back to where it started
with no loop under way), or up to ``max_ms`` for a pattern that ends on a continuous state or never repeats: the
sound a :class:`~emulator.engines.mipt.sources.WavSource`-style looping source then repeats.
"""

from __future__ import annotations

import array
import math
import re
from dataclasses import dataclass, field

from emulator.protocols.media.tones import amplitude_for_dbm0

__all__ = ["PatternError", "State", "TonePattern", "parse", "render", "segments"]

RATE = 8000
_FREQ = re.compile(r"^f([1-4])=(\d+(?:\.\d+)?):(-?\d+(?:\.\d+)?)$")
_LOOP = re.compile(r"^l=(\d+)$")
_STATE = re.compile(r"^s([1-8])=(.*)$")


class PatternError(ValueError):
    """A pattern the syntax refuses; the message says where."""


@dataclass(frozen=True, slots=True)
class State:
    action: str  # on | off | cid
    frequencies: tuple[str, ...]  # f1..f4 names
    duration_ms: int | None  # None: continuous
    loop_end: bool
    next: str | None  # s1..s8, None: the state written after this one
    loop_count: int = 0  # > 0: a loop starts at this state


@dataclass(frozen=True, slots=True)
class TonePattern:
    frequencies: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (Hz, dBm)
    states: dict[str, State] = field(default_factory=dict)  # in written order
    text: str = ""


def parse(text: str) -> TonePattern:
    """Parse a pattern (see the module docstring); :class:`PatternError` names what is wrong."""
    freqs: dict[str, tuple[float, float]] = {}
    states: dict[str, State] = {}
    pending_loop = 0
    for raw in (p.strip() for p in text.replace(" ", "").split(",")):
        if not raw:
            continue
        if m := _FREQ.match(raw):
            hz, dbm = float(m.group(2)), float(m.group(3))
            if not 10 <= hz <= 4000 or not -99 <= dbm <= 3:
                raise PatternError(f"{raw}: frequency 10..4000 Hz and power -99..3 dBm")
            freqs[f"f{m.group(1)}"] = (hz, dbm)
        elif m := _LOOP.match(raw):
            pending_loop = int(m.group(1))
            if not 2 <= pending_loop <= 128:
                raise PatternError(f"{raw}: a loop counts 2 to 128")
        elif m := _STATE.match(raw):
            states[f"s{m.group(1)}"] = _state(raw, m.group(2), freqs, pending_loop)
            pending_loop = 0
        else:
            raise PatternError(f"{raw!r}: not fN=, l= or sN=")
    if not freqs or not states:
        raise PatternError("a pattern needs at least one frequency and one state")
    for name, st in states.items():
        if st.next is not None and st.next not in states:
            raise PatternError(f"{name}: next state {st.next} is not defined")
    return TonePattern(freqs, states, text)


def _state(raw: str, body: str, freqs: dict[str, tuple[float, float]], loop: int) -> State:
    parts = body.split(":")
    action = parts[0].lower()
    if action not in ("on", "off", "cid"):
        raise PatternError(f"{raw}: the action is on, off or CID")
    names: list[str] = []
    duration: int | None = None
    loop_end = False
    nxt: str | None = None
    for part in parts[1:]:
        low = part.lower()
        if re.fullmatch(r"f[1-4]", low):
            if low not in freqs:
                raise PatternError(f"{raw}: {low} is not defined before")
            names.append(low)
        elif low.isdigit():
            duration = int(low)
            if not 10 <= duration <= 56000:
                raise PatternError(f"{raw}: a duration is 10 to 56000 ms")
        elif low == "l":
            loop_end = True
        elif re.fullmatch(r"s[1-8]", low):
            nxt = low
        else:
            raise PatternError(f"{raw}: {part!r} is not a frequency, duration, l or state")
    if action == "on" and not names:
        raise PatternError(f"{raw}: an on state plays at least one frequency")
    return State(action, tuple(names), duration, loop_end, nxt, loop)


def segments(pattern: TonePattern, max_ms: int = 30000) -> list[tuple[tuple[tuple[float, float], ...], int]]:
    """The pattern as played: (frequencies (Hz, dBm) sounding — empty for silence, milliseconds) in order, for one
    cycle or up to ``max_ms`` (see the module docstring)."""
    names = list(pattern.states)
    current = names[0]
    counters: dict[str, int] = {}  # loop start -> passes left
    loop_start: str | None = None
    out: list[tuple[tuple[tuple[float, float], ...], int]] = []
    total = 0
    seen_start = False
    while total < max_ms:
        st = pattern.states[current]
        if current == names[0] and seen_start and not counters:
            break  # one whole cycle
        seen_start = True
        if st.loop_count:
            loop_start = current
            counters.setdefault(current, st.loop_count)
        sound = tuple(pattern.frequencies[f] for f in st.frequencies) if st.action == "on" else ()
        ms = st.duration_ms if st.duration_ms is not None else max_ms - total
        ms = min(ms, max_ms - total)
        out.append((sound, ms))
        total += ms
        if st.duration_ms is None:
            break
        if st.loop_end and loop_start is not None:
            counters[loop_start] -= 1
            if counters[loop_start] > 0:
                current = st.next or loop_start
                continue
            del counters[loop_start]
            loop_start = None
            index = names.index(current)
            if index + 1 >= len(names):
                break
            current = names[index + 1]
            continue
        if st.next is not None:
            current = st.next
        else:
            index = names.index(current)
            if index + 1 >= len(names):
                break
            current = names[index + 1]
    return out


def render(pattern: TonePattern, max_ms: int = 30000) -> bytes:
    """16-bit LE PCM at 8 kHz of :func:`segments` (each frequency at its own power, dBm taken as dBm0)."""
    pcm = array.array("h")
    t = 0  # phase runs on across states, as one oscillator per frequency would
    for sound, ms in segments(pattern, max_ms):
        n = ms * RATE // 1000
        if not sound:
            pcm.extend([0] * n)
            t += n
            continue
        comps = [(2 * math.pi * hz / RATE, amplitude_for_dbm0(dbm)) for hz, dbm in sound]
        for i in range(t, t + n):
            v = sum(a * math.sin(w * i) for w, a in comps)
            pcm.append(max(-32768, min(32767, round(v))))
        t += n
    return pcm.tobytes()

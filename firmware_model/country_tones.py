"""The call progress tones of each ``TelIf.CountrySelection`` value, in the DGW's pattern syntax
(:mod:`emulator.protocols.media.tone_pattern` reads them): what ``TelIf.CountryToneStatus`` shows.

Emulator choice: the hardware's own tables are not published, so the frequencies and cadences here follow each
country's national tone plan as ITU-T E.180 (and its supplement) lists it, at -17 dBm per frequency (-13 for a
single frequency); levels, and the tones not listed (Hold, Intercept, Sit...), are not the hardware's.
"""

from __future__ import annotations

__all__ = ["COUNTRY_TONES", "TONES", "tones_of"]

#: the tones a country defines here, in the CountryToneStatus enum's spelling
TONES = ("Busy", "CallWaiting", "Congestion", "Dial", "Reorder", "Ringback", "Stutter")


def _one(hz: int, level: int = -13) -> str:
    return f"f1={hz}:{level}"


def _two(a: int, b: int, level: int = -17) -> str:
    return f"f1={a}:{level},f2={b}:{level}"


def _continuous(freqs: str) -> str:
    names = ":".join(f"f{i + 1}" for i in range(freqs.count("=")))
    return f"{freqs},s1=on:{names}"


def _cadence(freqs: str, *on_off: int) -> str:
    """``on_off`` = on, off, on, off... ms; the last off goes back to s1."""
    names = ":".join(f"f{i + 1}" for i in range(freqs.count("=")))
    states = []
    for i, ms in enumerate(on_off):
        nxt = f"s{i + 2}" if i + 1 < len(on_off) else "s1"
        states.append(f"s{i + 1}=on:{names}:{ms}:{nxt}" if i % 2 == 0 else f"s{i + 1}=off:{ms}:{nxt}")
    return f"{freqs},{','.join(states)}"


def _stutter(freqs: str) -> str:
    """Message-waiting dial tone: ten 100 ms bursts, then continuous."""
    names = ":".join(f"f{i + 1}" for i in range(freqs.count("=")))
    return f"{freqs},l=10,s1=on:{names}:100:s2,s2=off:100:l:s1,s3=on:{names}"


def _plan(dial: str, ringback: str, busy: str, congestion: str, call_waiting: str) -> dict[str, str]:
    return {"Busy": busy, "CallWaiting": call_waiting, "Congestion": congestion, "Dial": dial,
            "Reorder": congestion, "Ringback": ringback, "Stutter": _stutter(dial.split(",s1=")[0])}


def _european(hz: int = 425, *, ring: tuple[int, ...] = (1000, 4000), busy: tuple[int, ...] = (500, 500),
              congestion: tuple[int, ...] = (250, 250), dial: str | None = None) -> dict[str, str]:
    f = _one(hz)
    return _plan(dial or _continuous(f), _cadence(f, *ring), _cadence(f, *busy), _cadence(f, *congestion),
                 _cadence(f, 200, 200, 200, 9400))


_NA = _plan(_continuous(_two(350, 440)), _cadence(_two(440, 480, -19), 2000, 4000), _cadence(_two(480, 620, -24), 500,
            500), _cadence(_two(480, 620, -24), 250, 250), _cadence(_one(440), 300, 9700))
_UK = _plan(_continuous(_two(350, 440)), _cadence(_two(400, 450, -19), 400, 200, 400, 2000), _cadence(_one(400), 375,
            375), _cadence(_one(400), 400, 350, 225, 525), _cadence(_one(400), 100, 2900))
_AU = _plan(_continuous(_two(425, 400)), _cadence("f1=425:-17,f2=400:-5,f3=450:-5", 400, 200, 400, 2000),
            _cadence(_one(425), 375, 375), _cadence(_one(425, -23), 375, 375), _cadence(_one(425), 200, 200, 200,
                                                                                          4400))

COUNTRY_TONES: dict[str, dict[str, str]] = {
    "NorthAmerica1": _NA,
    "Mexico1": _european(425, ring=(1000, 4000), busy=(250, 250)),
    "Argentina1": _european(425, ring=(1000, 4000), busy=(300, 200), congestion=(200, 200)),
    "Australia1": _AU,
    "Australia2": _AU,
    "NewZealand1": _plan(_continuous(_one(400)), _cadence(_two(400, 450, -19), 400, 200, 400, 2000),
                         _cadence(_one(400), 500, 500), _cadence(_one(400), 250, 250), _cadence(_one(400), 200, 3000)),
    "Austria1": _european(420, ring=(1000, 5000), busy=(400, 400), congestion=(200, 200)),
    "Brazil1": _european(425, ring=(1000, 4000), busy=(250, 250), congestion=(750, 250, 250, 250)),
    "China1": _european(450, ring=(1000, 4000), busy=(350, 350), congestion=(700, 700)),
    "CzechRepublic1": _european(425, ring=(1000, 4000), busy=(330, 330), congestion=(165, 165)),
    "Denmark1": _european(425, ring=(1000, 4000), busy=(250, 250), congestion=(250, 250)),
    "France1": _european(440, ring=(1500, 3500), busy=(500, 500), congestion=(250, 250)),
    "Germany1": _european(425, ring=(1000, 4000), busy=(480, 480), congestion=(240, 240)),
    "Germany2": _european(425, ring=(1000, 4000), busy=(480, 480), congestion=(240, 240)),
    "Israel2": _european(400, ring=(1000, 3000), busy=(500, 500), congestion=(250, 250)),
    "Italy1": _european(425, ring=(1000, 4000), busy=(500, 500), congestion=(200, 200),
                        dial=_cadence(_one(425), 200, 200, 600, 1000)),
    "Japan2": _plan(_continuous(_one(400)), _cadence(_one(400), 1000, 2000), _cadence(_one(400), 500, 500),
                    _cadence(_one(400), 500, 500), _cadence(_one(400), 100, 100, 100, 3000)),
    "Netherlands1": _european(425, ring=(1000, 4000), busy=(500, 500), congestion=(250, 250)),
    "Russia1": _european(425, ring=(800, 3200), busy=(400, 400), congestion=(200, 200)),
    "Spain1": _european(425, ring=(1500, 3000), busy=(200, 200), congestion=(200, 200, 200, 200, 200, 600)),
    "Sweden1": _european(425, ring=(1000, 5000), busy=(250, 250), congestion=(250, 750)),
    "Switzerland1": _european(425, ring=(1000, 4000), busy=(500, 500), congestion=(200, 200)),
    "Uae2": _UK,
    "Uae3": _european(425, ring=(1000, 4000), busy=(500, 500), congestion=(250, 250)),
    "Uae4": _european(425, ring=(1000, 4000), busy=(500, 500), congestion=(250, 250)),
    "Uk1": _UK,
}


def tones_of(country: str) -> dict[str, str]:
    """The tone patterns of ``country`` (a TelIf.CountrySelection value); North America's for an unknown one."""
    return COUNTRY_TONES.get(country, _NA)

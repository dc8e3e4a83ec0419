"""Country tones: the DGW tone-pattern syntax parsed and rendered (frequencies, cadence, loops), refused with the
reason when malformed, every TelIf.CountrySelection value with its tones, and the CountryToneStatus rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.engines.mipt.call_tones import CallTones, country_tone_rows
from emulator.protocols.media import tone_pattern as tp
from emulator.protocols.media.tones import measure
from emulator.runtime.unit import Unit
from firmware_model.country_tones import COUNTRY_TONES, TONES
from firmware_model.profiles import get_profile
from firmware_model.schema import load_catalog


def test_recall_dial_tone_loops_then_stays_on() -> None:
    pattern = tp.parse("f1=350:-17,f2=440:-17,l=3,s1=on:f1:f2:100:s2,s2=off:100:l:s1,s3=on:f1:f2")
    segs = tp.segments(pattern, max_ms=1000)
    assert [ms for _, ms in segs] == [100, 100, 100, 100, 100, 100, 400]
    assert [bool(sound) for sound, _ in segs] == [True, False, True, False, True, False, True]
    assert segs[0][0] == ((350.0, -17.0), (440.0, -17.0))


def test_a_cadenced_tone_renders_one_cycle_at_its_frequency_and_level() -> None:
    pattern = tp.parse("f1=425:-13,s1=on:f1:1000:s2,s2=off:4000:s1")
    pcm = tp.render(pattern)
    assert len(pcm) == 2 * 8000 * 5  # one 5 s cycle
    on, off = pcm[: 2 * 8000], pcm[2 * 8000 : 2 * 8000 * 5]
    m = measure(on[:3200])
    assert m.frequency is not None and abs(m.frequency - 425) < 2 and abs(m.level_dbm0 + 13) < 0.5
    assert off == bytes(len(off))


def test_the_three_frequency_ringback_plays_its_states_in_order() -> None:
    pattern = tp.parse("f1=425:-17,f2=400:-5,f3=450:-5,s1=on:f1:f2:f3:400:s2,s2=off:200:s3,s3=on:f1:f2:f3:400:s4,"
                       "s4=off:2000:s1")
    assert [ms for _, ms in tp.segments(pattern)] == [400, 200, 400, 2000]


@pytest.mark.parametrize(("text", "reason"), [
    ("", "at least one frequency"),
    ("f1=5000:-10,s1=on:f1", "10..4000 Hz"),
    ("f1=440:-10,s1=on:f2", "f2 is not defined"),
    ("f1=440:-10,s1=on:f1:5:s1", "10 to 56000 ms"),
    ("f1=440:-10,l=1,s1=on:f1", "2 to 128"),
    ("f1=440:-10,s1=on:f1:100:s3", "s3 is not defined"),
    ("f1=440:-10,s1=buzz:f1", "on, off or CID"),
    ("f1=440:-10,s1=off:100,x=1", "not fN="),
])
def test_malformed_patterns_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(tp.PatternError, match=reason):
        tp.parse(text)


def test_every_country_of_the_catalog_has_its_tones() -> None:
    param = load_catalog().param("TelIf.CountrySelection")
    assert param is not None
    assert set(param.type.labels()) == set(COUNTRY_TONES)
    for country, tones in COUNTRY_TONES.items():
        assert set(tones) == set(TONES), country
        for tone, text in tones.items():
            assert tp.segments(tp.parse(text)), (country, tone)


def test_status_rows_and_sources_follow_the_country(tmp_path: Path) -> None:
    unit = Unit(name="t", profile=get_profile("4102"), state_dir=tmp_path, host="127.0.0.9")
    config = unit.config
    assert {r["Tone"] for r in country_tone_rows(config)} == set(TONES)
    config.set("TelIf.CountrySelection", "Germany1")
    rows = {r["Tone"]: r["Pattern"] for r in country_tone_rows(config)}
    assert rows["Ringback"] == "f1=425:-13,s1=on:f1:1000:s2,s2=off:4000:s1"
    assert rows["Dial"] == "f1=425:-13,s1=on:f1"
    source = CallTones(config).source("Busy")
    assert source is not None and len(source.pcm) == 2 * 8 * 960  # one 960 ms cycle (480 on, 480 off)
    assert CallTones(config).source("Hold") is None  # a tone the country does not define here

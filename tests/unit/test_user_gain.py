"""TelIf user gains (emulator/engines/mipt/user_gain.py): which offsets are in force, and the scaling of PCM."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path

from emulator.engines.mipt.sources import WavRecorder, WavSource
from emulator.engines.mipt.user_gain import UserGain, db_factor, scale_pcm, user_gain
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile


def unit(tmp_path: Path) -> Unit:
    return Unit(name="g", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)


def test_defaults_then_the_enabled_specific_row(tmp_path: Path) -> None:
    c = unit(tmp_path).config
    assert user_gain(c, "Phone-Fax1") == UserGain(0, 0)
    c.set("TelIf.DefaultCountryCustomizationUserGainInputOffset", 3)
    c.set("TelIf.DefaultCountryCustomizationUserGainOutputOffset", -2)
    c.set("TelIf.SpecificCountryCustomizationUserGain[Phone-Fax2].InputOffset", -12)
    c.set("TelIf.SpecificCountryCustomizationUserGain[Phone-Fax2].OutputOffset", 4)
    assert user_gain(c, "Phone-Fax2") == UserGain(3, -2)  # the row is not enabled: the defaults
    c.set("TelIf.SpecificCountryCustomizationUserGain[Phone-Fax2].EnableConfig", "Enable")
    assert user_gain(c, "Phone-Fax2") == UserGain(-12, 4)
    assert user_gain(c, "Phone-Fax1") == UserGain(3, -2)
    assert user_gain(None, "Phone-Fax1") == UserGain()


def test_tone_level_moves_by_the_input_offset_up_to_plus_3_dbm0() -> None:
    assert UserGain(-6, 0).tone_level(-10.0) == -16.0
    assert UserGain(12, 0).tone_level(-5.0) == 3.0
    assert UserGain(0, 5).tone_level(-10.0) == -10.0


def test_scale_pcm_is_the_same_object_at_0_db_and_clips() -> None:
    pcm = array("h", [1000, -1000, 30000, -30000]).tobytes()
    assert scale_pcm(pcm, db_factor(0)) is pcm
    assert list(array("h", scale_pcm(pcm, 2.0))) == [2000, -2000, 32767, -32768]
    assert abs(20 * math.log10(db_factor(-6)) - -6) < 1e-9


def test_recorder_and_wav_source_apply_their_factor(tmp_path: Path) -> None:
    pcm = array("h", [4000] * 160).tobytes()
    rec = WavRecorder(tmp_path / "r.wav", db_factor(-6))
    rec.write_pcm(pcm)
    rec.close()
    with wave.open(str(tmp_path / "r.wav"), "rb") as w:
        got = array("h", w.readframes(w.getnframes()))
    assert set(got) == {round(4000 * db_factor(-6))}
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    assert WavSource(tmp_path / "s.wav").pcm == pcm
    assert set(array("h", WavSource(tmp_path / "s.wav", 0.5).pcm)) == {2000}

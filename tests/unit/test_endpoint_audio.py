"""The endpoint phone's audio settings: validation all or nothing, precise messages, no path escapes."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from emulator.engines.mipt.endpoint_audio import AudioError, EndpointAudio, parse_media_request


def test_tone_wav_record_and_sequence(tmp_path: Path) -> None:
    a = parse_media_request({"source": {"tone": [1000, 440], "level_dbm0": -20}}, EndpointAudio(), tmp_path)
    assert a.tones == (1000.0, 440.0) and a.level_dbm0 == -20.0 and a.wav is None
    with wave.open(str(tmp_path / "prompt.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(640))
    b = parse_media_request({"source": {"wav": "prompt.wav"}, "record": "in.wav", "initial_sequence": 65500}, a,
                            tmp_path)
    assert b.tones == () and b.wav == "prompt.wav" and b.record == "in.wav" and b.initial_sequence == 65500
    assert b.to_json() == {"source": {"wav": "prompt.wav"}, "record": "in.wav", "initial_sequence": 65500,
                           "impair": None}
    c = parse_media_request({"record": None}, b, tmp_path)  # absent fields keep their value
    assert c.wav == "prompt.wav" and c.record is None and c.initial_sequence == 65500
    assert parse_media_request({"source": None}, c, tmp_path).source_json() is None
    assert parse_media_request({"source": {"silence": True}}, c, tmp_path).source_json() is None


@pytest.mark.parametrize(("body", "message"), [
    ({"source": {"tone": [5000]}}, "5000 Hz is outside 20..3990 Hz"),
    ({"source": {"tone": []}}, "1 to 4 frequencies"),
    ({"source": {"tone": ["x"]}}, "a number is needed"),
    ({"source": {"tone": [1000], "level_dbm0": 9}}, "outside -60..3 dBm0"),
    ({"source": {"tone": [1000], "wav": "a.wav"}}, "either tone or wav"),
    ({"source": {"wav": "../../etc/passwd"}}, "no directory"),
    ({"source": {"wav": "/etc/x.wav"}}, "no directory"),
    ({"source": {"wav": "missing.wav"}}, "no file missing.wav"),
    ({"source": "loud"}, "an object such as"),
    ({"source": {"volume": 3}}, "unknown field(s) volume"),
    ({"record": "sub/x.wav"}, "no directory"),
    ({"initial_sequence": 70000}, "0..65535"),
    ({"initial_sequence": True}, "0..65535"),
    ({"speed": 2}, "unknown field(s) speed"),
    ([1], "must be a JSON object"),
])
def test_refusals_name_the_problem(tmp_path: Path, body: object, message: str) -> None:
    with pytest.raises(AudioError, match=None) as exc:
        parse_media_request(body, EndpointAudio(), tmp_path)
    assert message in str(exc.value)

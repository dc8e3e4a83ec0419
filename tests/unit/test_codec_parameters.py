"""Media/Codecs, parameter by parameter: each codec's Default settings (``Mipt.DefaultCodec<stem>VoiceEnable``,
``VoicePriority``, ``PayloadType``, ``MinPTime``, ``MaxPTime``, G.729's ``VoiceActivityDetection``) and the
endpoint's own rows (``Mipt.EpSpecificCodec<stem>[EpId]``, in force once ``Mipt.EpSpecificCodec[EpId].EnableConfig``
is Enable) shape the codecs an endpoint offers (emulator/protocols/media/codec_policy.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.protocols.media.codec_policy import policy_from_config
from emulator.protocols.media.codecs import by_stem, carried
from tests.helpers.units import configured

# every stem the emulator carries (G.723 is never offered: no kept implementation)
STEMS = ["G711Mulaw", "G711Alaw", "G722", "G726r16kbps", "G726r24kbps", "G726r32kbps", "G726r40kbps", "G729",
         "ClearMode", "ClearChannel", "XCCD"]
DYNAMIC = {"G726r16kbps", "G726r24kbps", "G726r32kbps", "G726r40kbps", "ClearMode", "ClearChannel", "XCCD"}
PTIMES = {"G722": (20, 20), "G729": (20, 40)}  # the others take 10..30 ms
EP = "Phone-Fax1"


def _ptimes(stem: str) -> tuple[int, int]:
    return PTIMES.get(stem, (20, 30))


def _partner(stem: str) -> str:
    return "G711Alaw" if stem == "G711Mulaw" else "G711Mulaw"


def _stems(config: Any, endpoint: str | None = None) -> list[str]:
    return [e.fmt.stem for e in policy_from_config(config, endpoint).voice]


def _name(stem: str, column: str, endpoint: str | None = None) -> str:
    """The parameter of a codec's setting: the Default one, or the endpoint's own row."""
    if endpoint is None:
        return f"Mipt.DefaultCodec{stem}{column}"
    return f"Mipt.EpSpecificCodec{stem}[{endpoint}].{column}"


def _enable(config: Any, stem: str, payload_type: int, endpoint: str | None = None) -> tuple[int, int]:
    """The codec enabled with the ptimes it takes (and ``payload_type`` when dynamic); those ptimes."""
    lo, hi = _ptimes(stem)
    config.set(_name(stem, "VoiceEnable", endpoint), "Enable")
    config.set(_name(stem, "MinPTime", endpoint), lo)
    config.set(_name(stem, "MaxPTime", endpoint), hi)
    if stem in DYNAMIC:
        config.set(_name(stem, "PayloadType", endpoint), payload_type)
    return lo, hi


def _check_alone(config: Any, stem: str, ptimes: tuple[int, int], payload_type: int,
                 endpoint: str | None = None) -> None:
    """The codec is the only one offered, with its settings; then the higher VoicePriority goes first."""
    (entry,) = policy_from_config(config, endpoint).voice
    assert entry.fmt.stem == stem and (entry.min_ptime, entry.max_ptime) == ptimes
    assert entry.payload_type == (payload_type if stem in DYNAMIC else by_stem(stem).static_pt)
    partner = _partner(stem)
    config.set(_name(partner, "VoiceEnable", endpoint), "Enable")
    config.set(_name(stem, "VoicePriority", endpoint), 9)
    assert _stems(config, endpoint) == [stem, partner]
    config.set(_name(stem, "VoicePriority", endpoint), 0)
    config.set(_name(partner, "VoicePriority", endpoint), 9)
    assert _stems(config, endpoint) == [partner, stem]


@pytest.mark.parametrize("stem", STEMS)
def test_default_codec_settings_shape_the_offer(tmp_path: Path, stem: str) -> None:
    assert carried(by_stem(stem)), f"{stem}: its codec library is missing"
    c = configured(tmp_path)
    for other in STEMS:
        c.set(_name(other, "VoiceEnable"), "Disable")
    assert _stems(c) == []
    ptimes = _enable(c, stem, 110)
    _check_alone(c, stem, ptimes, 110)


def test_g729_voice_activity_detection_is_annex_b(tmp_path: Path) -> None:
    c = configured(tmp_path)
    assert policy_from_config(c).entry("G729") is not None
    assert policy_from_config(c).entry("G729").codec().fmtp == "annexb=yes"  # type: ignore[union-attr]
    c.set("Mipt.DefaultCodecG729VoiceActivityDetection", "Disable")
    assert policy_from_config(c).entry("G729").codec().fmtp == "annexb=no"  # type: ignore[union-attr]
    c.set(f"Mipt.EpSpecificCodec[{EP}].EnableConfig", "Enable")
    assert policy_from_config(c, EP).entry("G729").codec().fmtp == "annexb=yes"  # type: ignore[union-attr]
    c.set(f"Mipt.EpSpecificCodecG729[{EP}].VoiceActivityDetection", "Disable")
    assert policy_from_config(c, EP).entry("G729").codec().fmtp == "annexb=no"  # type: ignore[union-attr]


def test_g723_is_never_offered(tmp_path: Path) -> None:
    c = configured(tmp_path)
    c.set("Mipt.DefaultCodecG723VoiceEnable", "Enable")
    c.set("Mipt.DefaultCodecG723VoicePriority", 10)
    assert "G723" not in _stems(c) and "G711Mulaw" in _stems(c)


@pytest.mark.parametrize("stem", STEMS)
def test_endpoint_codec_rows_apply_once_the_endpoint_enables_them(tmp_path: Path, stem: str) -> None:
    c = configured(tmp_path)
    defaults = _stems(c)
    for other in STEMS:
        c.set(_name(other, "VoiceEnable", EP), "Disable")
    ptimes = _enable(c, stem, 111, EP)
    assert _stems(c, EP) == defaults  # not in force yet
    c.set(f"Mipt.EpSpecificCodec[{EP}].EnableConfig", "Enable")
    _check_alone(c, stem, ptimes, 111, EP)
    assert _stems(c, "Phone-Fax2") == defaults  # the other endpoint keeps the Default settings

"""Call progress tones played into a call's audio (TelIf): the unit's country (``TelIf.CountrySelection``, the
patterns of :mod:`firmware_model.country_tones`) rendered by :mod:`emulator.protocols.media.tone_pattern` and
sent in the call's stream in place of what the endpoint's phone plays, until the tone is stopped.
``TelIf.CountryToneStatus`` lists the patterns in force. Not acted on yet: ``TelIf.CountryCustomizationTone``
(the catalog gives that table no rows, and none can be added).

Which tone plays when is the call layer's decision (the ringback a ringing line sends as early media:
:mod:`emulator.engines.sipep.early_media`).
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

from emulator.engines.mipt.sources import WavSource, pcm_source
from emulator.protocols.media.tone_pattern import PatternError, parse, render
from firmware_model.country_tones import tones_of

__all__ = ["CallTones", "country_tone_rows", "tone_patterns"]


class _Stream(Protocol):
    def set_source(self, source: Any) -> None: ...


def tone_patterns(config: Any) -> dict[str, str]:
    """Tone -> pattern in force: the country's."""
    return dict(tones_of(str(config.get("TelIf.CountrySelection"))))


def country_tone_rows(config: Any) -> list[dict[str, Any]]:
    """The ``TelIf.CountryToneStatus`` rows."""
    return [{"Tone": tone, "Pattern": pattern} for tone, pattern in sorted(tone_patterns(config).items())]


@functools.lru_cache(maxsize=64)
def _rendered(pattern: str) -> bytes:
    return render(parse(pattern))


class CallTones:
    """Plays the unit's call progress tones into calls' streams."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.playing: dict[int, str] = {}  # call id -> tone

    def source(self, tone: str) -> WavSource | None:
        """The looping source of ``tone`` in the unit's country, None when it has no (valid) pattern."""
        pattern = tone_patterns(self.config).get(tone) if self.config is not None else None
        if not pattern:
            return None
        try:
            return pcm_source(_rendered(pattern), f"{tone}.tone")
        except (PatternError, ValueError):
            return None

    def play(self, call_id: int, stream: _Stream, tone: str | None) -> bool:
        """Send ``tone`` in the stream; False (nothing changed) for None or a tone the country does not have: the
        caller then puts back what the endpoint's phone plays."""
        source = self.source(tone) if tone else None
        if source is None:
            self.playing.pop(call_id, None)
            return False
        stream.set_source(source)
        self.playing[call_id] = str(tone)
        return True

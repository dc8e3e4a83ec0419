"""What an endpoint's phone plays and records, and the lab's media knobs (emulator additions).

A real line has a person or a test set behind it; the emulator puts an audio source and sink there instead,
set per endpoint and applied to every call of that endpoint (also to the call in progress):

* ``source`` — ``{"tone": [f1, f2...], "level_dbm0": -10}`` (1 to 4 frequencies, 20 to 3,990 Hz — under the
  4 kHz Nyquist limit of G.711 — at -60 to +3 dBm0), ``{"wav": "name.wav"}`` (8 kHz mono 16-bit, looped), or
  ``null``/``{"silence": true}``;
* ``record`` — ``"name.wav"``: received audio of each call is written there (8 kHz mono 16-bit), ``null`` stops;
* ``initial_sequence`` — 0..65535: the first RTP sequence number of the next streams (``null``: random, as
  RFC 3550 asks). A lab starts a stream near 65535 to reach the sequence rollover within seconds, the case
  where two peers with different "Crypto Context Behavior" lose audio.
* ``impair`` — ``{"loss_percent", "jitter_ms", "reorder_percent", "duplicate_percent"}``: a bad network on what
  the endpoint's streams send (:mod:`emulator.protocols.media.impair`), so the far end's statistics move;
  ``null`` (or all zero) for a clean one.

WAV files live in the unit's audio directory (``<state dir>/audio``): names only, no path, so no face can
read or write a file elsewhere. :func:`parse_media_request` validates a request (API JSON body, CLI words)
all or nothing and says precisely what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.protocols.media.impair import Impairment, ImpairmentError, parse_impairment

__all__ = ["AudioError", "EndpointAudio", "parse_media_request"]

_WAV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.wav$")
MIN_FREQ, MAX_FREQ = 20.0, 3990.0
MIN_LEVEL, MAX_LEVEL = -60.0, 3.0
MAX_TONES = 4
_KEYS = frozenset({"source", "record", "initial_sequence", "impair"})


class AudioError(ValueError):
    """A media request that cannot be applied; nothing was changed."""


@dataclass(slots=True)
class EndpointAudio:
    """An endpoint's audio settings (see the module docstring)."""

    tones: tuple[float, ...] = ()
    level_dbm0: float = -10.0
    wav: str | None = None
    record: str | None = None
    initial_sequence: int | None = None
    impair: Impairment | None = None

    def impairment(self) -> Impairment | None:
        """A fresh impairment with these knobs (each stream draws its own)."""
        if self.impair is None:
            return None
        i = self.impair
        return Impairment(i.loss_percent, i.jitter_ms, i.reorder_percent, i.duplicate_percent)

    def source_json(self) -> dict[str, Any] | None:
        if self.tones:
            return {"tone": list(self.tones), "level_dbm0": self.level_dbm0}
        if self.wav:
            return {"wav": self.wav}
        return None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source_json(), "record": self.record, "initial_sequence": self.initial_sequence,
                "impair": None if self.impair is None else self.impair.to_json()}


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise AudioError(f"{what}: a number is needed, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise AudioError(f"{what}: a number is needed, got {value!r}") from None


def _wav_name(value: Any, what: str, audio_dir: Path, *, must_exist: bool) -> str:
    if not isinstance(value, str) or not _WAV_NAME.match(value):
        raise AudioError(f"{what}: a file name ending in .wav (letters, digits, '.', '_', '-'; no directory), "
                         f"got {value!r}")
    if must_exist and not (audio_dir / value).is_file():
        raise AudioError(f"{what}: no file {value} in the unit's audio directory {audio_dir}")
    return value


def _source(value: Any, current: EndpointAudio, audio_dir: Path) -> tuple[tuple[float, ...], float, str | None]:
    if value is None or value == {"silence": True}:
        return (), current.level_dbm0, None
    if not isinstance(value, dict):
        raise AudioError(f"source: an object such as {{\"tone\": [1000]}} or {{\"wav\": \"name.wav\"}}, got {value!r}")
    unknown = set(value) - {"tone", "level_dbm0", "wav", "silence"}
    if unknown:
        raise AudioError(f"source: unknown field(s) {', '.join(sorted(unknown))} (tone, level_dbm0, wav, silence)")
    if ("tone" in value) == ("wav" in value):
        raise AudioError("source: give either tone or wav")
    if "wav" in value:
        return (), current.level_dbm0, _wav_name(value["wav"], "source.wav", audio_dir, must_exist=True)
    raw = value["tone"]
    freqs = raw if isinstance(raw, list) else [raw]
    if not 1 <= len(freqs) <= MAX_TONES:
        raise AudioError(f"source.tone: 1 to {MAX_TONES} frequencies, got {len(freqs)}")
    tones = tuple(_number(f, "source.tone") for f in freqs)
    for f in tones:
        if not MIN_FREQ <= f <= MAX_FREQ:
            raise AudioError(f"source.tone: {f:g} Hz is outside {MIN_FREQ:g}..{MAX_FREQ:g} Hz (8 kHz sampling)")
    level = _number(value.get("level_dbm0", -10.0), "source.level_dbm0")
    if not MIN_LEVEL <= level <= MAX_LEVEL:
        raise AudioError(f"source.level_dbm0: {level:g} is outside {MIN_LEVEL:g}..{MAX_LEVEL:g} dBm0")
    return tones, level, None


def parse_media_request(body: Any, current: EndpointAudio, audio_dir: Path) -> EndpointAudio:
    """The settings after applying `body` (fields absent keep their value); raises :class:`AudioError`."""
    if not isinstance(body, dict):
        raise AudioError("the body must be a JSON object with source, record, initial_sequence and/or impair")
    unknown = set(body) - _KEYS
    if unknown:
        raise AudioError(f"unknown field(s) {', '.join(sorted(unknown))} (source, record, initial_sequence, impair)")
    tones, level, wav = current.tones, current.level_dbm0, current.wav
    if "source" in body:
        tones, level, wav = _source(body["source"], current, audio_dir)
    record = current.record
    if "record" in body:
        rec = body["record"]
        record = None if rec is None else _wav_name(rec, "record", audio_dir, must_exist=False)
    initial = current.initial_sequence
    if "initial_sequence" in body:
        seq = body["initial_sequence"]
        if seq is None:
            initial = None
        elif isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= 0xFFFF:
            raise AudioError(f"initial_sequence: an integer 0..65535 or null, got {seq!r}")
        else:
            initial = seq
    impair = current.impair
    if "impair" in body:
        try:
            impair = parse_impairment(body["impair"], current.impair)
        except ImpairmentError as exc:
            raise AudioError(str(exc)) from None
    return EndpointAudio(tones, level, wav, record, initial, impair)

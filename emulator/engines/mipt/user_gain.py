"""TelIf user gains: the line's input and output gain offsets applied to the endpoint phone's audio.

``TelIf.DefaultCountryCustomizationUserGainInputOffset`` / ``OutputOffset`` (dB, -12..12), overridden for one line by
its ``TelIf.SpecificCountryCustomizationUserGain`` row (``InterfaceId`` = the EpId) when that row's ``EnableConfig`` is
``Enable``. As the vendor MIB says, the offset is added to the line's base gain, in dB:

* **input** — what the line's microphone sends toward the network: raising it raises the volume the SIP side hears.
  Here: the phone's source before it is encoded (a tone's level, a WAV file's samples), so the far end measures it;
* **output** — what the line's earpiece plays: the received audio after decoding, as the phone's recording hears it.

Cheap by construction: an offset of 0 changes nothing anywhere (same objects, no per-packet work); a tone's offset
moves its level once (the pre-encoded frame cycle is built at the new level; a tone is never set above +3 dBm0, the
G.711 full scale of a sine — emulator choice), a WAV file is scaled once when loaded, and the recording scales each
decoded packet by a factor computed once per call. Read when a call's audio starts (every call; no restart).
Emulator choices: the conference mixer's legs and the EpServ local tones (dial tone...) heard in the earpiece are
not scaled; the offsets do not change the stream's own level measure (``stats``), which is the network side's.
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass
from typing import Any

from emulator.engines.mipt.endpoint_audio import MAX_LEVEL

__all__ = ["UserGain", "db_factor", "scale_pcm", "user_gain"]

_DEFAULT = "TelIf.DefaultCountryCustomizationUserGain"
_SPECIFIC = "TelIf.SpecificCountryCustomizationUserGain"
_PCM_MIN, _PCM_MAX = -32768, 32767


@dataclass(frozen=True, slots=True)
class UserGain:
    """A line's offsets in dB (0: unchanged)."""

    input_db: int = 0
    output_db: int = 0

    @property
    def input_factor(self) -> float:
        return db_factor(self.input_db)

    @property
    def output_factor(self) -> float:
        return db_factor(self.output_db)

    def tone_level(self, level_dbm0: float) -> float:
        """A tone's level once the input offset is added (never above the +3 dBm0 a phone's tone may have)."""
        return level_dbm0 if self.input_db == 0 else min(MAX_LEVEL, level_dbm0 + self.input_db)


def user_gain(config: Any, endpoint: str) -> UserGain:
    """The offsets in force for ``endpoint``: its specific row when enabled, else the unit's defaults."""
    if config is None:
        return UserGain()
    rows = [r for r in config.rows(_SPECIFIC) if r.get("InterfaceId") == endpoint]
    if rows and rows[0].get("EnableConfig") == "Enable":
        return UserGain(int(rows[0].get("InputOffset") or 0), int(rows[0].get("OutputOffset") or 0))
    return UserGain(int(config.get(f"{_DEFAULT}InputOffset") or 0), int(config.get(f"{_DEFAULT}OutputOffset") or 0))


def db_factor(db: float) -> float:
    """The amplitude factor of a gain in dB."""
    return 1.0 if db == 0 else 10.0 ** (db / 20.0)


def scale_pcm(pcm: bytes, factor: float) -> bytes:
    """16-bit little-endian PCM times ``factor``, clipped to the 16-bit range (``pcm`` itself when factor is 1)."""
    if factor == 1.0:
        return pcm
    samples = array("h", pcm)
    if sys.byteorder == "big":  # the PCM is little-endian (WAV, the G.711 decoder)
        samples.byteswap()
    out = array("h", (min(_PCM_MAX, max(_PCM_MIN, round(s * factor))) for s in samples))
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()

"""The parts of Debian's ``libspandsp`` (Steve Underwood's kept telephony DSP library) the media engine uses, by ctypes:
G.726 ADPCM (ITU-T G.726 at 16/24/32/40 kbit/s), the DTMF receiver (ITU-T Q.24 detection with twist and level
thresholds) and the modem connect tone detector (fax CNG 1100 Hz, CED/ANS 2100 Hz, V.21 preamble).

spandsp has no Python binding, so this is the thin one: opaque states made by ``*_init(NULL, ...)`` and released
by ``*_free``; audio is 16-bit signed 8 kHz PCM. The library is loaded on first use.

G.726 octet packing: spandsp offers both orders; RFC 3551 §4.5.4 puts the first code word in the least
significant bits (``PACKING_RIGHT``), ITU-T I.366.2 (AAL2) in the most significant ones (``PACKING_LEFT``).
The emulator uses the AAL2 order for every G.726 payload (an emulator choice, documented in the README: it is
what spandsp-based peers such as baresip send under the names ``G726-16/24/32/40``).
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

from emulator.protocols.media.native import NativeState, load, loadable

__all__ = [
    "PACKING_LEFT",
    "PACKING_RIGHT",
    "TONE_ANS",
    "TONE_FAX_CED_OR_PREAMBLE",
    "TONE_FAX_CNG",
    "TONE_FAX_PREAMBLE",
    "ConnectToneDetector",
    "DtmfDetector",
    "G726Codec",
    "SpandspMissing",
    "available",
    "lib",
]

PACKING_NONE, PACKING_LEFT, PACKING_RIGHT = 0, 1, 2
_LINEAR = 0  # G726_ENCODING_LINEAR
TONE_FAX_CNG = 1
TONE_ANS = 2  # also CED
TONE_FAX_PREAMBLE = 6
TONE_FAX_CED_OR_PREAMBLE = 7
_LIBRARY = "libspandsp.so.2"


class SpandspMissing(RuntimeError):
    """libspandsp is not installed (Debian package ``libspandsp2``)."""


@functools.cache
def lib() -> Any:
    """The loaded library with the prototypes this module uses."""
    p, i, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    return load("spandsp", _LIBRARY, (
        ("g726_init", p, [p, i, i, i]),
        ("g726_free", i, [p]),
        ("g726_encode", i, [p, p, c, i]),
        ("g726_decode", i, [p, p, c, i]),
        ("dtmf_rx_init", p, [p, p, p]),
        ("dtmf_rx_parms", None, [p, i, i, i, i]),
        ("dtmf_rx", i, [p, c, i]),
        ("dtmf_rx_fillin", i, [p, i]),
        ("dtmf_rx_get", ctypes.c_size_t, [p, p, i]),
        ("dtmf_rx_free", i, [p]),
        ("modem_connect_tones_rx_init", p, [p, i, p, p]),
        ("modem_connect_tones_rx", i, [p, c, i]),
        ("modem_connect_tones_rx_get", i, [p]),
        ("modem_connect_tones_rx_free", i, [p]),
    ), SpandspMissing, "libspandsp2")


def available() -> bool:
    """True when the library can be loaded here."""
    return loadable(lib, SpandspMissing)


class G726Codec(NativeState):
    """One G.726 encoder or decoder state at `bit_rate` (16000, 24000, 32000 or 40000 bit/s)."""

    __slots__ = ("_buf", "_lib", "bit_rate", "bits")

    def __init__(self, bit_rate: int, packing: int = PACKING_LEFT) -> None:
        if bit_rate not in (16000, 24000, 32000, 40000):
            raise ValueError(f"G.726 runs at 16, 24, 32 or 40 kbit/s, not {bit_rate}")
        self._lib = lib()
        self.bit_rate = bit_rate
        self.bits = bit_rate // 8000
        super().__init__(self._lib.g726_init(None, bit_rate, _LINEAR, packing), self._lib.g726_free)
        self._buf = ctypes.create_string_buffer(1920)

    def encode(self, pcm: bytes) -> bytes:
        """16-bit LE PCM -> G.726 octets (`bits` per sample; 20 ms of G.726-32 is 80 octets)."""
        samples = len(pcm) // 2
        buf = self._buf if samples <= 960 else ctypes.create_string_buffer(samples)
        n = self._lib.g726_encode(self._s, buf, pcm, samples)
        return buf.raw[:n]

    def decode(self, data: bytes) -> bytes:
        """G.726 octets -> 16-bit LE PCM."""
        need = 2 * (len(data) * 8 // self.bits + 1)
        buf = self._buf if need <= len(self._buf) else ctypes.create_string_buffer(need)
        n = self._lib.g726_decode(self._s, buf, data, len(data))
        return buf.raw[: 2 * n]


class DtmfDetector(NativeState):
    """spandsp's DTMF receiver: feed 16-bit PCM, read the digits it recognised.

    ``TelIf.InteropDtmfDetection``: PositiveTwist / NegativeTwist (dB) are spandsp's twist and reverse twist,
    MinPowerThreshold (dBm0) its minimum level. spandsp has no maximum level, break level or rise-time
    criterion: those columns stay catalog-only (README).
    """

    __slots__ = ("_digits", "_lib")

    def __init__(self, *, twist: int = 6, reverse_twist: int = 9, threshold_dbm0: int = -30) -> None:
        self._lib = lib()
        super().__init__(self._lib.dtmf_rx_init(None, None, None), self._lib.dtmf_rx_free)
        self._lib.dtmf_rx_parms(self._s, 0, twist, reverse_twist, threshold_dbm0)
        self._digits = ctypes.create_string_buffer(129)

    def feed(self, pcm: bytes) -> str:
        """Process a block of audio; the digits completed in it (each once, when its tone ends or holds)."""
        self._lib.dtmf_rx(self._s, pcm, len(pcm) // 2)
        n = self._lib.dtmf_rx_get(self._s, self._digits, 128)
        return self._digits.raw[:n].decode("ascii", "replace") if n else ""

    def gap(self, samples: int) -> None:
        """Audio that is missing (a lost packet)."""
        self._lib.dtmf_rx_fillin(self._s, samples)


class ConnectToneDetector(NativeState):
    """spandsp's modem connect tone detector for one tone type (``TONE_FAX_CNG`` or ``TONE_FAX_CED_OR_PREAMBLE``):
    :meth:`feed` answers the tone found (``TONE_FAX_CNG``, ``TONE_ANS``, ``TONE_FAX_PREAMBLE``), else 0."""

    __slots__ = ("_lib", "kind")

    def __init__(self, kind: int) -> None:
        self._lib = lib()
        self.kind = kind
        super().__init__(self._lib.modem_connect_tones_rx_init(None, kind, None, None),
                         self._lib.modem_connect_tones_rx_free)

    def feed(self, pcm: bytes) -> int:
        self._lib.modem_connect_tones_rx(self._s, pcm, len(pcm) // 2)
        return int(self._lib.modem_connect_tones_rx_get(self._s))

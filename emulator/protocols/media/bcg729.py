"""G.729 Annex A (and Annex B VAD/DTX) through Debian's ``libbcg729`` (Belledonne's kept implementation), by ctypes.

No Python binding of libbcg729 is kept in Debian or on PyPI beside an unmaintained one, so this is the thin
binding the project allows: four C functions (``encoder.h``/``decoder.h`` of bcg729 1.1), opaque channel
contexts, 10 ms frames of 80 16-bit samples. A voice frame is 10 octets; with VAD (Annex B) the encoder
also gives 2-octet SID frames and 0-octet "untransmitted" frames (RFC 3551 §4.5.6: a SID frame ends the RTP
payload; nothing is sent while the noise does not change).

The library is loaded on first use (:func:`available` says whether this machine has it), so importing this
module costs nothing on a unit that never carries G.729.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any

from emulator.protocols.media.native import NativeState, load, loadable

__all__ = ["FRAME_BYTES", "FRAME_SAMPLES", "SID_BYTES", "Bcg729Missing", "G729Decoder", "G729Encoder", "available"]

FRAME_SAMPLES = 80  # 10 ms at 8 kHz
FRAME_BYTES = 10  # a voice frame, 80 bits
SID_BYTES = 2  # an Annex B silence insertion descriptor
_LIBRARY = "libbcg729.so.0"


class Bcg729Missing(RuntimeError):
    """libbcg729 is not installed (Debian package ``libbcg729-0``): G.729 cannot be carried."""


@functools.cache
def _lib() -> Any:
    p, u8 = ctypes.c_void_p, ctypes.c_uint8
    return load("bcg729", _LIBRARY, (
        ("initBcg729EncoderChannel", p, [u8]),
        ("closeBcg729EncoderChannel", None, [p]),
        ("bcg729Encoder", None, [p, ctypes.c_char_p, p, p]),
        ("initBcg729DecoderChannel", p, []),
        ("closeBcg729DecoderChannel", None, [p]),
        ("bcg729Decoder", None, [p, ctypes.c_char_p, u8, u8, u8, u8, p]),
    ), Bcg729Missing, "libbcg729-0")


def available() -> bool:
    """True when the library can be loaded here."""
    return loadable(_lib, Bcg729Missing)


class G729Encoder(NativeState):
    """One G.729A encoder channel; `vad` switches Annex B (VAD, DTX, SID frames) on."""

    __slots__ = ("_len", "_lib", "_out", "vad")

    def __init__(self, vad: bool = False) -> None:
        self._lib = lib = _lib()
        self.vad = vad
        super().__init__(lib.initBcg729EncoderChannel(1 if vad else 0), lib.closeBcg729EncoderChannel)
        self._out = ctypes.create_string_buffer(FRAME_BYTES)
        self._len = ctypes.c_uint8(0)

    def encode(self, pcm: bytes) -> bytes:
        """16-bit LE PCM, a whole number of 10 ms frames -> the frames' octets concatenated (10 per voice frame;
        with VAD a SID frame is 2 octets and an untransmitted one none)."""
        if sys.byteorder != "little":  # pragma: no cover - host dependent
            raise RuntimeError("G.729 binding expects a little-endian host")
        step = 2 * FRAME_SAMPLES
        if len(pcm) % step:
            raise ValueError(f"G.729 encodes 10 ms frames ({step} PCM octets), got {len(pcm)}")
        out = []
        lib, ctx, buf, n = self._lib, self._s, self._out, self._len
        ref = ctypes.byref(n)
        for i in range(0, len(pcm), step):
            lib.bcg729Encoder(ctx, pcm[i : i + step], buf, ref)
            out.append(buf.raw[: n.value])
        return b"".join(out)


class G729Decoder(NativeState):
    """One G.729A decoder channel (Annex B SID frames understood); missing frames are concealed (erasure)."""

    __slots__ = ("_lib", "_pcm")

    def __init__(self) -> None:
        self._lib = lib = _lib()
        super().__init__(lib.initBcg729DecoderChannel(), lib.closeBcg729DecoderChannel)
        self._pcm = ctypes.create_string_buffer(2 * FRAME_SAMPLES)

    def decode(self, payload: bytes) -> bytes:
        """An RTP payload (voice frames of 10 octets, optionally ending with a 2-octet SID frame, RFC 3551
        §4.5.6) -> 16-bit LE PCM, 80 samples per frame. Trailing octets that make no frame are ignored."""
        out = []
        lib, ctx, pcm = self._lib, self._s, self._pcm
        i, n = 0, len(payload)
        while n - i >= FRAME_BYTES:
            lib.bcg729Decoder(ctx, payload[i : i + FRAME_BYTES], FRAME_BYTES, 0, 0, 0, pcm)
            out.append(pcm.raw)
            i += FRAME_BYTES
        if n - i == SID_BYTES:
            lib.bcg729Decoder(ctx, payload[i:], SID_BYTES, 0, 1, 0, pcm)
            out.append(pcm.raw)
        return b"".join(out)

    def conceal(self, frames: int = 1) -> bytes:
        """`frames` 10 ms frames that never arrived: the decoder's erasure concealment (G.729 §4.4)."""
        out = []
        for _ in range(frames):
            self._lib.bcg729Decoder(self._s, bytes(FRAME_BYTES), FRAME_BYTES, 1, 0, 0, self._pcm)
            out.append(self._pcm.raw)
        return b"".join(out)

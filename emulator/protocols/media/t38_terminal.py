"""The endpoint's fax machine: libspandsp's T.38 terminal (a T.30 fax engine speaking T.38 IFP packets) and its
audio fax terminal (the same T.30 engine over V.21/V.27ter/V.29/V.17 modems, for G.711 pass-through) by ctypes,
sending a TIFF-F file or receiving into one — no I/O of its own, time passed in (as samples).

libspandsp (Debian ``libspandsp2``) has no Python binding; this is the thin one, beside
:mod:`~emulator.protocols.media.spandsp`. The terminal hands each IFP it wants sent to `transmit` (with the
number of copies it asks for: indicators are repeated) and takes the IFPs received with their UDPTL sequence
numbers; :meth:`T38Terminal.advance` moves its clock by a number of 8 kHz samples (the glue calls it every 20 ms).
Its T.30 result (phase E) ends the job: ``result`` 0 is success (``T30_ERR_OK``), anything else one of spandsp's
T.30 completion codes, named by :meth:`T38Terminal.result_text`. Pages are counted at each end-of-page (phase D).

Pacing: a real fax machine behind a gateway sends at its modem's rate, and the terminal paces its IFPs so
(``paced=True``, the default, about 25 s for a page and its T.30 exchange). Unpaced, two terminals finish a page
in as long as their packets take — the emulator keeps the machine's pace (an emulator choice).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from emulator.protocols.media.native import NativeState, load
from emulator.protocols.media.spandsp import SpandspMissing

__all__ = ["AudioFaxTerminal", "T38Terminal", "tiff_pages"]

_TX = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int,
                       ctypes.c_int)
_PHASE_E = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
_PHASE_D = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
_NO_PACING = 1  # t38_terminal_set_config: send without the modem's timing


@functools.cache
def _lib() -> Any:
    p, i, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    return load("spandsp", "libspandsp.so.2", (
        ("t38_terminal_init", p, [p, i, _TX, p]),
        ("t38_terminal_free", i, [p]),
        ("t38_terminal_get_t30_state", p, [p]),
        ("t38_terminal_get_t38_core_state", p, [p]),
        ("t38_terminal_send_timeout", i, [p, i]),
        ("t38_terminal_set_config", None, [p, i]),
        ("t38_core_rx_ifp_packet", i, [p, c, i, ctypes.c_uint16]),
        ("t30_set_tx_file", None, [p, c, i, i]),
        ("t30_set_rx_file", None, [p, c, i]),
        ("t30_set_tx_ident", i, [p, c]),
        ("t30_set_phase_e_handler", None, [p, _PHASE_E, p]),
        ("t30_set_phase_d_handler", None, [p, _PHASE_D, p]),
        ("t30_completion_code_to_str", c, [i]),
        ("fax_init", p, [p, i]),
        ("fax_free", i, [p]),
        ("fax_get_t30_state", p, [p]),
        ("fax_rx", i, [p, c, i]),
        ("fax_tx", i, [p, p, i]),
        ("fax_set_transmit_on_idle", None, [p, i]),
    ), SpandspMissing, "libspandsp2")


def tiff_pages(path: str | Path) -> int:
    """How many pages (image directories) a TIFF file holds; 0 when it is not a readable TIFF."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return 0
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return 0
    order: Literal["little", "big"] = "little" if data[:2] == b"II" else "big"
    offset, pages, seen = int.from_bytes(data[4:8], order), 0, set()
    while 8 <= offset < len(data) - 2 and offset not in seen:
        seen.add(offset)
        count = int.from_bytes(data[offset : offset + 2], order)
        end = offset + 2 + 12 * count
        if end + 4 > len(data):
            break
        pages += 1
        offset = int.from_bytes(data[end : end + 4], order)
    return pages


class _FaxJob(NativeState):
    """What both terminals share: the T.30 engine's file, its result (phase E) and its pages (phase D)."""

    __slots__ = ("_callbacks", "_lib", "_t30", "pages", "result")

    def __init__(self, state: Any, free: Any, lib: Any, t30: Any, ident: str,
                 tx: Any = None) -> None:
        super().__init__(state, free)
        self._lib = lib
        self.result: int | None = None
        self.pages = 0
        self._callbacks = (tx, _PHASE_E(self._on_phase_e), _PHASE_D(self._on_phase_d))
        self._t30 = t30(self._s) if self._s else None
        if not self._s or not self._t30:
            raise SpandspMissing("libspandsp did not make its fax terminal")
        lib.t30_set_phase_e_handler(self._t30, self._callbacks[1], None)
        lib.t30_set_phase_d_handler(self._t30, self._callbacks[2], None)
        if ident:
            lib.t30_set_tx_ident(self._t30, ident.encode("ascii", "replace")[:20])

    # -- callbacks from C (exceptions must not cross into the library)
    def _on_phase_e(self, t30: Any, user: Any, code: int) -> None:
        self.result = int(code)

    def _on_phase_d(self, t30: Any, user: Any, msg: int) -> int:
        self.pages += 1
        return 0

    # -- the job
    def send_file(self, path: str | Path) -> None:
        """Send every page of the TIFF-F file at `path`."""
        self._lib.t30_set_tx_file(self._t30, str(path).encode(), -1, -1)

    def receive_file(self, path: str | Path) -> None:
        """Write the pages received to the TIFF file at `path`."""
        self._lib.t30_set_rx_file(self._t30, str(path).encode(), -1)

    @property
    def done(self) -> bool:
        return self.result is not None

    def result_text(self) -> str:
        if self.result is None:
            return "in progress"
        text = self._lib.t30_completion_code_to_str(self.result)
        return text.decode("ascii", "replace") if text else f"T.30 code {self.result}"


class T38Terminal(_FaxJob):
    """One fax job's T.38 terminal (see the module docstring). `calling`: the side that dialled the fax (it sends
    CNG); either side may send or receive the page."""

    __slots__ = ("_core", "transmit")

    def __init__(self, calling: bool, transmit: Callable[[bytes, int], None], *, paced: bool = True,
                 ident: str = "") -> None:
        lib = _lib()
        self.transmit = transmit
        tx = _TX(self._on_tx)
        super().__init__(lib.t38_terminal_init(None, int(calling), tx, None), lib.t38_terminal_free, lib,
                         lib.t38_terminal_get_t30_state, ident, tx)
        if not paced:
            lib.t38_terminal_set_config(self._s, _NO_PACING)
        self._core = lib.t38_terminal_get_t38_core_state(self._s)

    def _on_tx(self, core: Any, user: Any, buf: Any, length: int, count: int) -> int:
        try:
            self.transmit(ctypes.string_at(buf, length), count)
        except Exception:  # a send that failed is a lost packet: T.30 retries or fails on its own
            return -1
        return 0

    def feed(self, seq: int, ifp: bytes) -> None:
        """An IFP received (in order, each once: the UDPTL receiver's work)."""
        if self._s:
            self._lib.t38_core_rx_ifp_packet(self._core, ifp, len(ifp), seq & 0xFFFF)

    def advance(self, samples: int) -> None:
        """`samples` of 8 kHz time went by: timers run, paced data goes out."""
        if self._s and self.result is None:
            self._lib.t38_terminal_send_timeout(self._s, samples)



class AudioFaxTerminal(_FaxJob):
    """One fax job over audio (G.711 pass-through): :meth:`transmit` gives the next samples of the modem's signal,
    :meth:`receive` takes the samples heard; both move the T.30 engine's clock."""

    __slots__ = ("_buf",)

    def __init__(self, calling: bool, *, ident: str = "") -> None:
        lib = _lib()
        super().__init__(lib.fax_init(None, int(calling)), lib.fax_free, lib, lib.fax_get_t30_state, ident)
        lib.fax_set_transmit_on_idle(self._s, 1)  # silence between signals: the line never runs dry
        self._buf = (ctypes.c_int16 * 1600)()

    def transmit(self, samples: int) -> bytes:
        """The next `samples` (at most 1,600) of 16-bit PCM to send."""
        if not self._s or self.result is not None:
            return bytes(2 * samples)
        n = self._lib.fax_tx(self._s, self._buf, min(samples, 1600))
        data = bytes(self._buf)[: 2 * n]
        return data + bytes(2 * samples - len(data))

    def receive(self, pcm: bytes) -> None:
        """16-bit PCM heard on the line."""
        if self._s and self.result is None:
            self._lib.fax_rx(self._s, pcm, len(pcm) // 2)

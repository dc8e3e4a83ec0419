"""The endpoint's fax machine (an emulator addition, like its phone) and the T.38 sessions of its calls.

* :class:`FaxJob` — what the endpoint's fax machine does: send a TIFF-F file, or receive into one (in
  ``<state dir>/fax``), with its state (``armed``, ``tones``, ``t38``, ``passthrough``, ``done``, ``failed``),
  the T.30 result and the pages.
* :class:`ToneStage` — before the switch, the machine's tone on the line (CNG 1,100 Hz from a sender, CED
  2,100 Hz from a receiver, played in the call's audio) and the unit's machine detection on its telephony side
  (``TelIf`` ``CngToneDetection``/``CedToneDetection``): spandsp's connect tone detector listens to the
  machine's signal, as the hardware's DSP listens to its analog port, and says when the tone is recognised.
* :class:`FaxSession` — a call's image stream: one UDP socket on the unit's address from
  ``Mipt.IpTransportT38BasePort`` (even ports upwards, an emulator choice mirroring RTP's pairs), the UDPTL
  sender and receiver (:mod:`~emulator.protocols.media.udptl`) and the T.38 terminal
  (:mod:`~emulator.protocols.media.t38_terminal`) run every 20 ms on the event loop. Datagrams from another
  address than the peer's are dropped, garbage is counted and dropped. With ``NoSignalEnable`` the session sends
  a no-signal indicator when it sent nothing for ``NoSignalTimeout`` seconds (T.38 §7.4).
* :class:`VbdSession` — the fallback: the job over the call's audio (G.711 pass-through, voice-band data), with
  libspandsp's audio fax terminal as the stream's live source and the listener of what it plays (its V.21, V.27ter,
  V.29 and V.17 modems through the codec, the jitter buffer at its ``Mipt.*Vbd*`` settings).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from emulator.protocols.media import codecs
from emulator.protocols.media.spandsp import TONE_FAX_CED_OR_PREAMBLE, TONE_FAX_CNG, ConnectToneDetector
from emulator.protocols.media.t38_ifp import is_final
from emulator.protocols.media.t38_setup import FaxPlan
from emulator.protocols.media.t38_terminal import AudioFaxTerminal, T38Terminal, tiff_pages
from emulator.protocols.media.tones import ToneGenerator
from emulator.protocols.media.udptl import UdptlReceiver, UdptlSender

__all__ = ["FaxJob", "FaxPorts", "FaxSession", "ToneStage", "VbdSession"]

log = structlog.get_logger("dgw.fax")

TICK = 0.02  # the terminal's clock step (160 samples at 8 kHz)
CNG_HZ, CED_HZ = 1100.0, 2100.0
TONE_LEVEL = -10.0  # dBm0: a fax machine's usual level
JOB_TIMEOUT = 180.0  # a T.38 job that has not ended by then fails (T.30's own timers end most before)
_NO_SIGNAL = b"\x00"  # the IFP of the t30-indicator no-signal


@dataclass(slots=True)
class FaxJob:
    """What an endpoint's fax machine does (see the module docstring)."""

    mode: str  # "send" | "receive"
    path: Path
    state: str = "armed"
    result: str = ""
    code: int | None = None  # the T.30 completion code (0: success)
    pages: int = 0
    call: int | None = None
    updated: float = field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def row(self) -> dict[str, Any]:
        return {"mode": self.mode, "file": self.path.name, "state": self.state, "result": self.result,
                "code": self.code, "pages": self.pages, "call": self.call}


class FaxPorts:
    """UDP ports for image streams from `base` upwards on `host` (even ones), skipping those in use."""

    def __init__(self, host: str, base: int, limit: int = 65534) -> None:
        self.host, self.base, self.limit = host, base & ~1, limit
        self._next = self.base

    def bind(self) -> socket.socket:
        for _ in range((self.limit - self.base) // 2 + 1):
            port = self._next
            self._next = port + 2 if port + 2 <= self.limit else self.base
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((self.host, port))
            except OSError as exc:
                sock.close()
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            sock.setblocking(False)
            return sock
        raise OSError(errno.EADDRINUSE, f"no free T.38 port from {self.base} on {self.host}")


class ToneStage:
    """The fax machine's tone before the switch and the unit's detection of it (see the module docstring).
    :meth:`step` answers True once the detector has recognised the tone (never when detection is off)."""

    __slots__ = ("_detector", "_generator", "detected", "frequency")

    def __init__(self, sending: bool, detect: bool) -> None:
        self.frequency = CNG_HZ if sending else CED_HZ
        self._generator = ToneGenerator((self.frequency,), TONE_LEVEL)
        self._detector = ConnectToneDetector(TONE_FAX_CNG if sending else TONE_FAX_CED_OR_PREAMBLE) if detect else None
        self.detected = False

    def step(self, samples: int) -> bool:
        if self._detector is None or self.detected:
            return False
        self.detected = bool(self._detector.feed(self._generator.read(samples)))
        return self.detected

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None


def _ended(job: FaxJob, t: T38Terminal | AudioFaxTerminal) -> None:
    """The job's outcome from its terminal (a terminal without a T.30 result timed out)."""
    job.code = t.result
    job.result = t.result_text() if t.done else "timeout"
    job.pages = t.pages if job.mode == "send" else max(t.pages, tiff_pages(job.path))
    job.state = "done" if t.result == 0 else "failed"
    job.updated = time.time()


def _terminal_file(terminal: T38Terminal | AudioFaxTerminal, job: FaxJob) -> None:
    if job.mode == "send":
        terminal.send_file(job.path)
    else:
        job.path.parent.mkdir(parents=True, exist_ok=True)
        terminal.receive_file(job.path)


def _close_once(session: FaxSession | VbdSession) -> bool:
    """Mark a session closed and stop its timer; False when it was closed already."""
    if session.closed:
        return False
    session.closed = True
    if session._timer is not None:
        session._timer.cancel()
    return True


class FaxSession:
    """One call's T.38 session (see the module docstring); `on_done` is told once the job ended."""

    def __init__(self, sock: socket.socket, plan: FaxPlan, job: FaxJob, *, on_done: Callable[[FaxSession], None],
                 paced: bool = True, ident: str = "") -> None:
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.plan = plan
        self.job = job
        self.on_done = on_done
        self.sender = UdptlSender(plan.redundancy, plan.final_redundancy)
        self.receiver = UdptlReceiver()
        self.foreign = 0  # datagrams from another address than the peer's
        self.terminal = T38Terminal(job.mode == "send", self._transmit, paced=paced, ident=ident)
        _terminal_file(self.terminal, job)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._started = self._last_tick = self._last_sent = 0.0
        self.closed = False

    @property
    def remote(self) -> tuple[str, int]:
        return (self.plan.remote_host, self.plan.remote_port)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started = self._last_tick = self._last_sent = time.monotonic()
        self.job.state = "t38"
        self._loop.add_reader(self.sock.fileno(), self._readable)
        self._timer = self._loop.call_later(TICK, self._tick)

    def update(self, plan: FaxPlan) -> None:
        """A new answer for the same image stream (the peer's address may change)."""
        self.plan = plan

    def _transmit(self, ifp: bytes, count: int) -> None:
        for datagram in self.sender.send(ifp, final=is_final(ifp), repeat=count):
            self.sock.sendto(datagram, self.remote)
        self._last_sent = time.monotonic()

    def _readable(self) -> None:
        for _ in range(64):
            try:
                data, source = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error of an earlier send: the peer's port is not open yet
                continue
            if source[0] != self.plan.remote_host:
                self.foreign += 1
                continue
            for seq, ifp in self.receiver.receive(data):
                self.terminal.feed(seq, ifp)

    def _tick(self) -> None:
        if self.closed:
            return
        now = time.monotonic()
        samples = int((now - self._last_tick) * 8000)
        if samples > 0:
            self._last_tick += samples / 8000
            self.terminal.advance(min(samples, 8000))  # after a stall, at most a second at once
        timeout = self.plan.no_signal_timeout
        if timeout and now - self._last_sent >= timeout and not self.terminal.done:
            self._transmit(_NO_SIGNAL, 1)
        if self.terminal.done or now - self._started > JOB_TIMEOUT:
            self._finish()
            return
        assert self._loop is not None
        self._timer = self._loop.call_later(TICK, self._tick)

    def _finish(self) -> None:
        _ended(self.job, self.terminal)
        log.info("fax_ended", mode=self.job.mode, result=self.job.result, pages=self.job.pages, udptl=self.stats())
        self.close()
        self.on_done(self)

    def stats(self) -> dict[str, Any]:
        r = self.receiver
        return {"port": self.port, "remote": list(self.remote), "sent": self.sender.sent, "received": r.received,
                "recovered": r.recovered, "redundant": r.redundant, "lost": r.lost, "duplicates": r.duplicates,
                "malformed": r.malformed,
                "foreign": self.foreign, "redundancy": self.sender.redundancy}

    def close(self) -> None:
        if not _close_once(self):
            return
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.terminal.close()


class VbdSession:
    """A fax job over the call's audio stream (see the module docstring); `on_done` is told once it ended."""

    def __init__(self, stream: Any, job: FaxJob, *, on_done: Callable[[VbdSession], None], ident: str = "") -> None:
        self.stream = stream
        self.job = job
        self.on_done = on_done
        self.terminal = AudioFaxTerminal(job.mode == "send", ident=ident)
        _terminal_file(self.terminal, job)
        self._encoder: tuple[Any, Any] | None = None  # (format, encoder): the call's codec may change
        self._timer: asyncio.TimerHandle | None = None
        self._started = 0.0
        self.closed = False

    def _payload(self) -> bytes:
        """The stream's next packet: the modem's signal encoded in the call's codec."""
        fmt = self.stream.fmt
        if self._encoder is None or self._encoder[0] is not fmt:
            self._encoder = (fmt, codecs.encoder_for(fmt))
        return bytes(self._encoder[1].encode(self.terminal.transmit(8 * self.stream.ptime)))

    def start(self) -> None:
        self._started = time.monotonic()
        self.job.state = "passthrough"
        self.stream.set_live(self._payload)
        self.stream.playout.pcm_sink = self.terminal.receive
        self._timer = asyncio.get_running_loop().call_later(0.1, self._check)

    def _check(self) -> None:
        if self.closed:
            return
        if self.terminal.done or time.monotonic() - self._started > JOB_TIMEOUT:
            _ended(self.job, self.terminal)
            log.info("fax_ended", mode=self.job.mode, result=self.job.result, pages=self.job.pages, vbd=True)
            self.close()
            self.on_done(self)
            return
        self._timer = asyncio.get_running_loop().call_later(0.1, self._check)

    def close(self) -> None:
        if not _close_once(self):
            return
        self.stream.set_live(None)
        self.stream.playout.pcm_sink = None
        self.terminal.close()

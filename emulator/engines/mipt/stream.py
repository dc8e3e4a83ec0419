"""The asyncio media engine of one unit: RTP/SRTP streams on the unit's address, thin glue over the pure cores.

Shape (chosen for scale; task-per-stream and ``DatagramProtocol`` designs top out at 150-250 calls — see
``bench/media.py`` for what this one sustains on the machine at hand):

* :class:`MediaEngine` — one per unit. A port allocator from ``Mipt.IpTransportRtpBasePort`` (plain
  streams) and ``Mipt.IpTransportSrtpBasePort`` (secure offers; 0 = the RTP base), even RTP / odd RTCP
  (RFC 3550 §11), bound on ``unit.host``; its streams spread over the 20 slots of a 20 ms packet period.
* one **media clock per event loop**, shared by every engine on it (all the units of a lab): a single
  ticker (``loop.call_later`` every 1 ms) that has each engine send the streams of the current slot, and one
  ``epoll`` of all their sockets that it polls (no wait) after each round of sends, with exactly one ``recv``
  per ready socket. No task, no timer, no asyncio reader per stream, and one wake-up per millisecond for the
  whole process rather than per unit (on a VM each wake-up costs tens of µs of CPU before any work); receive
  work is batched per millisecond (at most 1 ms of added latency) and sends keep priority under load. Where
  ``select.epoll`` does not exist the sockets go to ``loop.add_reader`` instead (same one-recv callbacks;
  measured on Linux, that costs more CPU per packet than the polled epoll).
* :class:`MediaStream` — one call leg: one *connected* UDP socket for RTP and one for RTCP (the kernel drops
  what does not come from the peer), G.711 PCMU/PCMA at 20 ms from a pre-encoded frame cycle, optional SRTP
  through :class:`~emulator.protocols.media.srtp.SrtpSession`.

Packet path: a secure stream never makes a ``bytes`` object for its packet but the one it hands to
``send``: the RTP header and payload are packed straight into the SRTP context's buffer, libsrtp protects
them there (:meth:`~emulator.protocols.media.srtp.SrtpContext.protect_in_place`); a datagram is received into the
receiving context's buffer (``recv_into``) and decrypted there. The per-packet work is two calls into
the cores and a handful of attribute updates (``__slots__`` everywhere on that path; streams playing the same
tone share one pre-encoded frame cycle, so hundreds of calls read a few kilobytes of frames).

Receive path: SRTP unprotect -> :class:`SrtpAuthError` (or any ``crypto_error``) counts *undecryptable* and
raises **Mipt 110** once per call with the call number and endpoint name the caller gave; parse errors and
replays are counted and dropped; then :class:`ReceptionStats` (RFC 3550 A.1/A.3/A.8) and the audio sinks.
The audio measure keeps the last 200 ms of *encoded* payloads and decodes them into a
:class:`~emulator.protocols.media.tones.ToneMeter` only when asked (:meth:`MediaStream.measure`), so measuring costs
nothing per packet. Optional WAV recording (decoded per packet, only while recording).

Sources: :class:`~emulator.protocols.media.tones.ToneGenerator`, a WAV file (8 kHz mono 16-bit, stdlib ``wave``;
looped) or silence — each turned once into a list of encoded 20 ms frames, so sending indexes a list.

RTCP (RFC 3550 §6): SR when we sent since the last report, else RR, with a report block for the peer and an
SDES CNAME; every 5 s randomised over [0.5, 1.5] x 5 s (§6.3.1 simplified: no bandwidth scaling; the
stream checks at its send slot whether a report is due, no timer per stream). SRTCP when the stream is secure.

Send timing: each engine records, per slot, how late its last packet left against the ideal schedule; the
engine's lateness histogram (:meth:`MediaEngine.send_lateness`) is what the bench reports as send jitter
(an upper bound: every packet of a slot is counted with the slot's last one).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import random
import select
import socket
import struct
import time
import wave
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from emulator.protocols.media import g711
from emulator.protocols.media.dtmf import DtmfReceiver, DtmfSender, InbandDtmf, inband_frames, parse_digits
from emulator.protocols.media.rtp import (
    Bye,
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    RtcpError,
    RtpError,
    RtpSender,
    SenderReport,
    SourceDescription,
    build_compound,
    ntp_from_unix,
    parse_rtcp,
    rtp_fields,
)
from emulator.protocols.media.session_setup import MediaPlan
from emulator.protocols.media.srtp import ContextBehaviour, SrtpContext, SrtpError, SrtpReplayError, SrtpSession
from emulator.protocols.media.tones import ToneGenerator, ToneMeasurement, ToneMeter
from emulator.protocols.sdp.sdp import Direction

__all__ = ["MediaEngine", "MediaStream", "PortAllocator", "WavSource"]

SLOT = 0.001  # ticker period, seconds
PERIOD_SLOTS = 20  # 20 ms packetisation
SLOT_FILL = 8  # streams a slot takes before the next one is opened (a few calls: a few wake-ups per period)
RTCP_INTERVAL = 5.0
REKEY_GRACE = 0.5  # seconds during which the peer's previous key still decrypts (packets in flight)
MEASURE_WINDOW_MS = 200
_RECV_SIZE = 2048
_RECV_ROUNDS = 8  # epoll rounds per tick (one recv per ready socket each)
_HIST_BINS = 1001  # 0.1 ms bins, last one = 100 ms and more
_CATCH_UP_LIMIT = 0.2  # a loop stalled longer than this skips the missed slots instead of bursting

Notify = Callable[..., Any]
log = structlog.get_logger("dgw.media")
_RTP_HEAD = struct.Struct("!BBHII")
_USE_EPOLL = hasattr(select, "epoll")


# ------------------------------------------------------------------------------------------- ports


class PortAllocator:
    """Even/odd port pairs from `base` upwards on `host` (RFC 3550 §11), skipping pairs in use."""

    def __init__(self, host: str, base: int, limit: int = 65534) -> None:
        self.host = host
        self.base = base & ~1
        self.limit = limit
        self._next = self.base
        self.in_use: set[int] = set()

    def bind_pair(self) -> tuple[socket.socket, socket.socket]:
        """Bound, non-blocking (RTP, RTCP) sockets on the next free even port."""
        span = (self.limit - self.base) // 2 + 1
        for _ in range(span):
            port = self._next
            self._next = port + 2 if port + 2 <= self.limit else self.base
            if port in self.in_use:
                continue
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtp.bind((self.host, port))
                rtcp.bind((self.host, port + 1))
            except OSError as exc:
                rtp.close()
                rtcp.close()
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            rtp.setblocking(False)
            rtcp.setblocking(False)
            self.in_use.add(port)
            return rtp, rtcp
        raise OSError(errno.EADDRINUSE, f"no free RTP port pair from {self.base} on {self.host}")

    def release(self, port: int) -> None:
        self.in_use.discard(port)


# ---------------------------------------------------------------------------------------- sources


class WavSource:
    """A WAV file (8 kHz, mono, 16-bit PCM) played in a loop; encoded once per codec."""

    __slots__ = ("_encoded", "_pos", "path", "pcm")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with wave.open(str(self.path), "rb") as w:
            if w.getframerate() != g711.SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise ValueError(
                    f"{self.path}: need 8000 Hz mono 16-bit PCM, got {w.getframerate()} Hz "
                    f"{w.getnchannels()} ch {8 * w.getsampwidth()}-bit"
                )
            pcm = w.readframes(w.getnframes())
        if len(pcm) < 2 * g711.SAMPLES_PER_FRAME:
            raise ValueError(f"{self.path}: shorter than one 20 ms frame")
        self.pcm = pcm
        self._encoded: dict[str, bytes] = {}
        self._pos = 0

    def read_encoded(self, codec: str, samples: int = g711.SAMPLES_PER_FRAME) -> bytes:
        enc = self._encoded.get(codec)
        if enc is None:
            enc = self._encoded[codec] = g711.encode(codec, self.pcm)
        n = len(enc)
        pos = self._pos
        end = pos + samples
        if end <= n:
            self._pos = end % n
            return enc[pos:end]
        self._pos = end - n
        return enc[pos:] + enc[: end - n]


def _read_one(loop: asyncio.AbstractEventLoop, on_ready: Callable[[float], None]) -> None:  # pragma: no cover
    """``loop.add_reader`` callback where there is no epoll (non-Linux): the stream's reader, one ``recv``."""
    on_ready(time.monotonic())


class _Silence:
    __slots__ = ()

    @staticmethod
    def read_encoded(codec: str, samples: int = g711.SAMPLES_PER_FRAME) -> bytes:
        return bytes((g711.ULAW_SILENCE if codec == "PCMU" else g711.ALAW_SILENCE,)) * samples


_MAX_FRAMES = 3000  # 60 s of 20 ms frames


def _frame_cycle(source: Any, codec: str) -> list[bytes]:
    """The source's 20 ms frames for one full cycle, pre-encoded: the send path then indexes a list.

    A tone cycle is the smallest whole number of frames covering whole periods (25 frames for 1 kHz); a
    WAV file is cut into its frames (the last one wrapping to the start); longer cycles are capped at 60 s.
    Streams playing the same tone (or silence) from its start share one cycle: hundreds of calls then read
    a few kilobytes of frames that stay in the CPU's cache rather than a copy each.
    """
    if isinstance(source, _Silence):
        return _shared_cycle(("silence",), codec, source)
    if isinstance(source, ToneGenerator):
        if source._pos == 0:  # not read yet: the cycle depends on the tone's parameters only
            return _shared_cycle((source.frequencies, source.level_dbm0, source.sample_rate), codec, source)
        return _read_cycle(source, codec)
    return _read_cycle(source, codec)


_shared_cycles: dict[tuple[Any, ...], list[bytes]] = {}  # immutable frames, keyed by what determines them


def _shared_cycle(key: tuple[Any, ...], codec: str, source: Any) -> list[bytes]:
    key = (*key, codec)
    frames = _shared_cycles.get(key)
    if frames is None:
        if len(_shared_cycles) >= 64:  # a lab playing many distinct tones: forget the oldest
            del _shared_cycles[next(iter(_shared_cycles))]
        frames = _shared_cycles[key] = _read_cycle(source, codec)
    return frames


def _read_cycle(source: Any, codec: str) -> list[bytes]:
    if isinstance(source, _Silence):
        return [source.read_encoded(codec)]
    if isinstance(source, ToneGenerator):
        period = source.period_samples
        count = period // math.gcd(period, g711.SAMPLES_PER_FRAME)
    elif isinstance(source, WavSource):
        count = -(-len(source.pcm) // (2 * g711.SAMPLES_PER_FRAME))
    else:
        count = 1
    return [source.read_encoded(codec) for _ in range(max(1, min(count, _MAX_FRAMES)))]


# ------------------------------------------------------------------------------------------ clock


class _MediaClock:
    """The media ticker of one event loop, shared by every engine on it (a lab's units): one ``call_at``
    timer every 1 ms and one ``epoll`` of all their media sockets.

    Per tick: each active engine sends the streams of the current slot (:meth:`MediaEngine._send_slot`),
    then one ``epoll.poll(0)`` and one ``recv`` per ready socket. A lab of many units wakes the process at
    most 1,000 times a second, not 1,000 times per unit; every wake-up costs (loop iteration, context switch,
    caches refilled after the sleep: ~60-150 µs of CPU on a VM) whatever work it brings. So a new stream goes
    to the first slot holding fewer than :data:`SLOT_FILL` streams of the whole loop (a few calls wake the
    process a few times per 20 ms, not 20), then to the least loaded slot, and the ticker sleeps through
    empty slots.
    """

    __slots__ = ("closed", "engines", "epoll", "handlers", "loop", "next_tick", "occupancy", "slot", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.engines: list[MediaEngine] = []  # engines with streams in their slots
        self.epoll = select.epoll() if _USE_EPOLL else None
        self.handlers: dict[int, Callable[[float], None]] = {}  # fd -> a stream's reader (one recv)
        self.slot = 0
        self.next_tick = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.occupancy = [0] * PERIOD_SLOTS  # streams per slot, all engines
        self.closed = False  # released: engines still holding it take the loop's current clock

    @staticmethod
    def of(loop: asyncio.AbstractEventLoop) -> _MediaClock:
        clock = _clocks.get(loop)
        if clock is None:
            clock = _clocks[loop] = _MediaClock(loop)
        return clock

    def take_slot(self) -> int:
        """A slot for a new stream: the first one holding fewer than SLOT_FILL streams, else the least loaded."""
        occ = self.occupancy
        slot = next((i for i in range(PERIOD_SLOTS) if occ[i] < SLOT_FILL), -1)
        if slot < 0:
            slot = min(range(PERIOD_SLOTS), key=occ.__getitem__)
        occ[slot] += 1
        return slot

    def free_slot(self, slot: int) -> None:
        if self.occupancy[slot] > 0:
            self.occupancy[slot] -= 1

    def start(self, engine: MediaEngine) -> None:
        if engine not in self.engines:
            self.engines.append(engine)
        if self.timer is None:
            self.next_tick = time.monotonic() + SLOT
            self.timer = self.loop.call_later(SLOT, self._tick)

    def stop(self, engine: MediaEngine) -> None:
        if engine in self.engines:
            self.engines.remove(engine)
        if not self.engines and self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self._release()

    def watch(self, fd: int, on_ready: Callable[[float], None]) -> None:
        if self.epoll is not None:
            self.epoll.register(fd, select.EPOLLIN)
            self.handlers[fd] = on_ready
        else:  # pragma: no cover - non-Linux
            self.loop.add_reader(fd, _read_one, self.loop, on_ready)

    def unwatch(self, fd: int) -> None:
        if self.epoll is not None:
            if self.handlers.pop(fd, None) is not None:
                self.epoll.unregister(fd)
        else:  # pragma: no cover - non-Linux
            self.loop.remove_reader(fd)
        self._release()

    def _release(self) -> None:
        """Nothing left to tick or watch: close the epoll and forget this loop."""
        if not self.engines and not self.handlers and self.timer is None:
            self.closed = True
            if self.epoll is not None:
                self.epoll.close()
                self.epoll = None
            if _clocks.get(self.loop) is self:
                del _clocks[self.loop]

    def _tick(self) -> None:
        loop = self.loop
        now = time.monotonic()  # not loop.time(): uvloop's is the cached millisecond of the loop iteration
        due = self.next_tick
        engines = self.engines
        if now - due > _CATCH_UP_LIMIT:  # the loop stalled: do not burst, realign
            missed = int((now - due) / SLOT)
            for e in engines:
                e.skipped_slots += missed
            due += missed * SLOT
            self.slot = (self.slot + missed) % PERIOD_SLOTS
        while due <= now + 0.0002:
            slot = self.slot
            for e in tuple(engines):  # an engine whose last stream closes from a callback leaves the list
                e._send_slot(slot, now, due)
            self.slot = (slot + 1) % PERIOD_SLOTS
            due += SLOT
        occ = self.occupancy
        for _ in range(PERIOD_SLOTS - 1):  # sleep through empty slots
            if occ[self.slot]:
                break
            self.slot = (self.slot + 1) % PERIOD_SLOTS
            due += SLOT
        self._receive(now)
        self.next_tick = due
        # a stream may have been closed (or another started) from a callback above: one timer, and none
        # once no engine is active
        if self.timer is not None:
            self.timer.cancel()  # this very handle (harmless) or one start() made meanwhile
        # a delay in whole milliseconds, rounded up: what asyncio's epoll wait does anyway, and uvloop (libuv
        # timers in ms, rounded to nearest) would otherwise call a sub-millisecond delay at once, spinning
        # through empty ticks until the slot is due
        delay = math.ceil((due - time.monotonic()) * 1000.0) / 1000.0
        self.timer = loop.call_later(delay if delay > 0.0 else 0.0, self._tick) if engines else None
        if not engines:
            self._release()

    def _receive(self, now: float) -> None:
        """One ``recv`` per ready socket (level-triggered epoll, no wait): the stream's reader receives
        straight into its SRTP context's buffer and decrypts there. Then the epoll again, up to
        :data:`_RECV_ROUNDS` rounds while it has something: a socket holding a burst (garbage, a peer catching
        up) drains several datagrams per tick, so the queue never outgrows the 20 ms arrivals — ticks can be
        20 ms apart with few calls. In the steady state the second poll finds nothing (one syscall per tick)."""
        ep = self.epoll
        if ep is None:
            return
        handlers = self.handlers
        for _ in range(_RECV_ROUNDS):
            ready = ep.poll(0)
            if not ready:
                return
            for fd, _ev in ready:
                h = handlers.get(fd)
                if h is not None:
                    try:
                        h(now)
                    except Exception as exc:  # a bug in one stream must not stop the other calls
                        _reader_failed(h, exc)


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _MediaClock] = weakref.WeakKeyDictionary()


def _reader_failed(reader: Callable[[float], None], exc: Exception) -> None:
    stream = getattr(reader, "__self__", None)
    if isinstance(stream, MediaStream):
        stream.engine._failed(exc)
    else:  # pragma: no cover - every reader is a stream's bound method
        log.error("media_reader_error", error=repr(exc))


# ----------------------------------------------------------------------------------------- engine


class MediaEngine:
    """All media streams of one unit, one port allocator per base port; ticked by its loop's media clock."""

    def __init__(
        self,
        host: str,
        *,
        rtp_base_port: int = 5004,
        srtp_base_port: int = 0,
        notify: Notify | None = None,
        cname: str | None = None,
        rtcp_interval: float = RTCP_INTERVAL,
    ) -> None:
        self.host = host
        self.rtcp_interval = rtcp_interval
        self.notify = notify
        self.cname = cname or f"dgw@{host}"
        self.rtp_ports = PortAllocator(host, rtp_base_port)
        self.srtp_ports = (
            self.rtp_ports
            if not srtp_base_port or (srtp_base_port & ~1) == self.rtp_ports.base
            else PortAllocator(host, srtp_base_port)
        )
        self.streams: set[MediaStream] = set()
        self._slots: list[list[MediaStream]] = [[] for _ in range(PERIOD_SLOTS)]
        self._active = 0  # streams in the slots
        self._clock: _MediaClock | None = None
        self.lateness_hist = [0] * _HIST_BINS
        self.interval_hist = [0] * _HIST_BINS
        self._slot_late = [0.0] * PERIOD_SLOTS
        self.ticks = 0  # slots sent
        self.errors = 0  # exceptions caught in stream callbacks (bugs; counted, first ones logged)
        self.skipped_slots = 0

    @classmethod
    def for_unit(cls, unit: Any) -> MediaEngine:
        """An engine on ``unit.host`` with the unit's Mipt base ports, raising notifications on the unit."""
        cfg = unit.config
        return cls(
            unit.host,
            rtp_base_port=int(cfg.get("Mipt.IpTransportRtpBasePort") or 5004),
            srtp_base_port=int(cfg.get("Mipt.IpTransportSrtpBasePort") or 0),
            notify=unit.notify,
            cname=f"{unit.name}@{unit.host}",
        )

    # -- streams

    def open_stream(
        self, *, secure: bool = False, call: int | str = 0, endpoint: str = "", codec: str = "PCMU"
    ) -> MediaStream:
        """Bind a stream's port pair (from the SRTP base when the offer/answer is secure): put
        ``stream.port`` in the SDP, then :meth:`MediaStream.apply` the negotiated plan."""
        alloc = self.srtp_ports if secure else self.rtp_ports
        rtp, rtcp = alloc.bind_pair()
        stream = MediaStream(self, rtp, rtcp, alloc, call=call, endpoint=endpoint, codec=codec)
        self.streams.add(stream)
        return stream

    def _media_clock(self) -> _MediaClock:
        clock = self._clock
        loop = asyncio.get_running_loop()
        if clock is None or clock.closed or clock.loop is not loop:
            clock = self._clock = _MediaClock.of(loop)
        return clock

    def _activate(self, stream: MediaStream) -> None:
        clock = self._media_clock()
        slot = clock.take_slot()
        self._slots[slot].append(stream)
        stream._slot = slot
        self._active += 1
        clock.start(self)

    def _deactivate(self, stream: MediaStream) -> None:
        if stream._slot >= 0:
            with contextlib.suppress(ValueError):
                self._slots[stream._slot].remove(stream)
                self._active -= 1
                if self._clock is not None:
                    self._clock.free_slot(stream._slot)
            stream._slot = -1
        if not self._active and self._clock is not None:
            self._clock.stop(self)

    def _watch(self, sock: socket.socket, on_ready: Callable[[float], None]) -> None:
        """Call ``on_ready(now)`` when `sock` is readable; it does exactly one ``recv``."""
        self._media_clock().watch(sock.fileno(), on_ready)

    def _unwatch(self, fd: int) -> None:
        if self._clock is not None:
            self._clock.unwatch(fd)

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        if self.errors <= 10:  # first ones only: a systematic failure would flood the log 50 times a second
            log.error("media_stream_error", host=self.host, error=repr(exc))

    def _forget(self, stream: MediaStream) -> None:
        self._deactivate(stream)
        self.streams.discard(stream)

    def close(self) -> None:
        """Close every stream and stop ticking."""
        for s in list(self.streams):
            s.close()
        if self._clock is not None:
            self._clock.stop(self)

    # -- ticker

    def _send_slot(self, slot: int, now: float, due: float) -> None:
        """The media clock's turn for `slot` (ideally at `due`): every stream of the slot sends its packet."""
        streams = self._slots[slot]
        if not streams:
            return
        for s in streams:
            try:
                s._send(now)
            except Exception as exc:  # a bug in one stream must not stop the engine's other calls
                self._failed(exc)
        self.ticks += 1
        late = time.monotonic() - due
        n = len(streams)
        b = int(late * 10000.0)
        self.lateness_hist[b if 0 <= b < _HIST_BINS else (_HIST_BINS - 1 if b > 0 else 0)] += n
        # interval jitter: the change of this slot's lateness since its previous turn 20 ms ago, i.e. how far
        # a stream's packet interval strayed from 20 ms
        d = int(abs(late - self._slot_late[slot]) * 10000.0)
        self._slot_late[slot] = late
        self.interval_hist[d if d < _HIST_BINS else _HIST_BINS - 1] += n

    def send_lateness(self, percentile: float) -> float:
        """Send lateness (seconds) against the ideal 20 ms schedule at `percentile` (0..100) over the packets
        sent since the last reset. A stall shifts every later packet until the ticker has caught up."""
        return _percentile(self.lateness_hist, percentile)

    def interval_jitter(self, percentile: float) -> float:
        """|packet interval - 20 ms| (seconds) at `percentile`: the send jitter a receiver's buffer sees."""
        return _percentile(self.interval_hist, percentile)

    def reset_lateness(self) -> None:
        self.lateness_hist = [0] * _HIST_BINS
        self.interval_hist = [0] * _HIST_BINS


def _percentile(hist: list[int], percentile: float) -> float:
    total = sum(hist)
    if not total:
        return 0.0
    want = total * percentile / 100.0
    acc = 0
    for i, n in enumerate(hist):
        acc += n
        if acc >= want:
            return (i + 1) / 10000.0
    return _HIST_BINS / 10000.0


# ----------------------------------------------------------------------------------------- stream


class MediaStream:
    """One call leg's RTP/RTCP (and SRTP) on a bound port pair. Created by :meth:`MediaEngine.open_stream`."""

    # slots: 46 attributes are past CPython's shared-keys limit (30), so without them every attribute read on
    # the packet path would be a dict lookup in a per-stream dict
    __slots__ = (
        "_alloc",
        "_dtmf",
        "_dtmf_rx",
        "_frame",
        "_frames",
        "_last_audio",
        "_mipt110_raised",
        "_next_rtcp",
        "_peer_ssrc",
        "_prev_rx",
        "_prev_rx_until",
        "_receives",
        "_recent",
        "_recorder",
        "_reported_sent",
        "_rtcp_sock",
        "_rx",
        "_sends",
        "_slot",
        "_sock",
        "_source",
        "_te_pt",
        "_tx",
        "_watched",
        "call",
        "closed",
        "codec",
        "direction",
        "dropped",
        "endpoint",
        "engine",
        "key_management",
        "last_peer_report",
        "packets_received",
        "packets_sent",
        "payload_type",
        "peer_bye",
        "plan",
        "port",
        "reception",
        "rekey_pending",
        "remote",
        "remote_rtcp",
        "replayed",
        "rtcp_dropped",
        "rtcp_port",
        "rtcp_received",
        "rtcp_sent",
        "send_errors",
        "sender",
        "srtp",
        "undecryptable",
    )

    def __init__(
        self,
        engine: MediaEngine,
        rtp: socket.socket,
        rtcp: socket.socket,
        allocator: PortAllocator,
        *,
        call: int | str,
        endpoint: str,
        codec: str,
    ) -> None:
        self.engine = engine
        self.call = call
        self.endpoint = endpoint
        self._sock = rtp
        self._rtcp_sock = rtcp
        self._alloc = allocator
        self.port: int = rtp.getsockname()[1]
        self.rtcp_port: int = rtcp.getsockname()[1]
        self.codec = codec
        self.payload_type = g711.PT_PCMU if codec == "PCMU" else g711.PT_PCMA
        self.sender = RtpSender.create(self.payload_type)
        self.reception = ReceptionStats(probation=0)
        self.direction = Direction.SENDRECV
        self.remote: tuple[str, int] | None = None
        self.remote_rtcp: tuple[str, int] | None = None
        self.srtp: SrtpSession | None = None
        self.key_management: str | None = None
        self.plan: MediaPlan | None = None
        self._source: Any = _Silence()
        self._frames: list[bytes] = _frame_cycle(self._source, codec)
        self._frame = 0
        self._tx: SrtpContext | None = None  # srtp.tx when it protects in place (the fast send path), else None
        self._rx: SrtpContext | None = None  # srtp.rx likewise (the fast receive path)
        self._sends = True
        self._receives = True
        self._recent: deque[bytes] = deque(maxlen=MEASURE_WINDOW_MS // 20)
        self._recorder: wave.Wave_write | None = None
        self._slot = -1
        self._watched = False
        self._prev_rx: SrtpContext | None = None  # the peer's previous key, for REKEY_GRACE after a rekey
        self._prev_rx_until = 0.0
        self._last_audio = -1.0  # loop time of the last audio packet heard
        self._peer_ssrc: int | None = None  # SSRC of the last RTP packet received (our report block's)
        self._next_rtcp = 0.0
        self._reported_sent = 0  # sender.packets_sent at the last RTCP report: SR if it moved, else RR
        self._mipt110_raised = False
        # A re-offer of ours is out: the peer may already send under the key of its answer, which we cannot
        # know before the answer arrives (RFC 4568 §7.1.4) — such packets are dropped, not crypto errors.
        self.rekey_pending = False
        self._dtmf: DtmfSender | InbandDtmf | None = None  # digits being sent, None otherwise
        self._dtmf_rx = DtmfReceiver()
        self._te_pt = -1  # the negotiated telephone-event payload type (-1: none)
        self.closed = False
        # counters
        self.packets_sent = 0
        self.packets_received = 0
        self.undecryptable = 0
        self.replayed = 0
        self.dropped = 0  # garbage, truncated, wrong payload type for audio
        self.send_errors = 0
        self.rtcp_sent = 0
        self.rtcp_received = 0
        self.rtcp_dropped = 0
        self.last_peer_report: ReportBlock | None = None
        self.peer_bye = False

    # -- control

    def apply(
        self,
        plan: MediaPlan,
        *,
        behaviour: ContextBehaviour = ContextBehaviour.KEEP,
        initial_sequence: int | None = None,
    ) -> None:
        """Start the stream with a negotiated plan, or update it (re-INVITE: new remote, direction, keys).

        On an update of a secure stream, `behaviour` (``SecuritySettings.context_behaviour``) keeps or
        regenerates the SRTP contexts (:meth:`SrtpSession.update`); a regenerated sending context restarts
        the RTP sequence number and timestamp. `initial_sequence` lets a lab start near 65535.
        """
        first = self.plan is None
        self.rekey_pending = False
        codec = plan.codec.upper()
        if codec not in ("PCMU", "PCMA"):
            raise ValueError(f"unsupported codec {plan.codec!r}")
        if codec != self.codec:
            self.codec = codec
            self._frames = _frame_cycle(self._source, codec)
            self._frame = 0
        self.payload_type = plan.payload_type
        self.sender.payload_type = plan.payload_type
        self._te_pt = -1 if plan.telephone_event_pt is None else plan.telephone_event_pt
        self.set_direction(plan.direction)
        if initial_sequence is not None:
            self.sender.sequence = initial_sequence & 0xFFFF
        reachable = bool(plan.remote_port) and plan.remote_host not in ("0.0.0.0", "::")
        if not reachable:  # rejected stream or RFC 2543 hold address: receive only
            self._sends = False
        remote = (plan.remote_host, plan.remote_port)
        if remote != self.remote and reachable:
            self._sock.connect(remote)
            self.remote = remote
        rtcp_remote = (plan.remote_host, plan.remote_rtcp_port)
        if rtcp_remote != self.remote_rtcp and reachable and plan.remote_rtcp_port:
            self._rtcp_sock.connect(rtcp_remote)
            self.remote_rtcp = rtcp_remote
        if plan.secure and plan.local is not None and plan.remote is not None:
            if self.srtp is None or first:
                self.srtp = SrtpSession(
                    plan.local,
                    plan.remote,
                    local_ssrc=self.sender.ssrc if plan.tx_roc else None,
                    tx_roc=plan.tx_roc,
                    rx_roc=plan.rx_roc,
                )
            else:
                old_rx = self.srtp.rx
                upd = self.srtp.update(plan.local, plan.remote, behaviour)
                if upd.tx_regenerated and initial_sequence is None:
                    self.sender.reset()
                if upd.rx_regenerated:
                    # a new receive context (new key, or the same key at ROC 0): packets the peer sent under
                    # the old one may still be on the way
                    self._prev_rx = old_rx
                    self._prev_rx_until = time.monotonic() + REKEY_GRACE
        else:
            self.srtp = None
        self.key_management = plan.key_management if self.srtp is not None else None
        self.plan = plan
        self._fast_paths()
        if not self._watched:
            self.engine._watch(self._sock, self._read_rtp)
            self.engine._watch(self._rtcp_sock, self._read_rtcp)
            self._watched = True
            self._next_rtcp = time.monotonic() + self.engine.rtcp_interval * random.uniform(0.5, 1.5)
        if self._slot < 0:
            self.engine._activate(self)

    def _fast_paths(self) -> None:
        """The SRTP contexts the packet paths use in place (None: the general path), after any change."""
        srtp = self.srtp
        self._tx = srtp.tx if srtp is not None and srtp.tx.inplace else None
        self._rx = srtp.rx if srtp is not None and srtp.rx.inplace else None

    def set_direction(self, direction: Direction) -> None:
        self.direction = direction
        self._sends = direction.sends
        self._receives = direction.receives

    def set_source(self, source: ToneGenerator | WavSource | None) -> None:
        """What we send: a tone, a WAV file, or silence (None)."""
        self._source = _Silence() if source is None else source
        self._frames = _frame_cycle(self._source, self.codec)
        self._frame = 0

    def play_tone(self, *frequencies: float, level_dbm0: float = -10.0) -> None:
        self.set_source(ToneGenerator(tuple(frequencies), level_dbm0))

    def play_wav(self, path: str | Path) -> None:
        self.set_source(WavSource(path))

    def record(self, path: str | Path | None) -> None:
        """Record the received audio to a WAV file (8 kHz mono 16-bit); None stops recording."""
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        if path is not None:
            w = wave.open(str(path), "wb")
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(g711.SAMPLE_RATE)
            self._recorder = w

    def send_raw(self, data: bytes) -> None:
        """Send arbitrary bytes to the peer's RTP port (labs: garbage, truncated or replayed packets)."""
        with contextlib.suppress(OSError):
            self._sock.send(data)

    def close(self) -> None:
        """Send an RTCP BYE, stop, release the ports."""
        if self.closed:
            return
        self.closed = True
        if self.remote_rtcp is not None and self.plan is not None:
            with contextlib.suppress(Exception):
                self._send_rtcp(time.monotonic(), bye=True)
        self.engine._forget(self)
        if self._watched:
            self.engine._unwatch(self._sock.fileno())
            self.engine._unwatch(self._rtcp_sock.fileno())
            self._watched = False
        self.record(None)
        self._sock.close()
        self._rtcp_sock.close()
        self._alloc.release(self.port)

    # -- measure and stats

    def measure(self, candidates: tuple[float, ...] | None = None) -> ToneMeasurement:
        """Level and dominant frequency of the last 200 ms received (decoded, decrypted)."""
        meter = ToneMeter(MEASURE_WINDOW_MS)
        if time.monotonic() - self._last_audio <= MEASURE_WINDOW_MS / 1000.0:  # else: nothing heard lately
            for payload in list(self._recent):
                meter.feed_encoded(self.codec, payload)
        return meter.measure(candidates)

    def stats(self, *, measure: bool = True) -> dict[str, Any]:
        """Counters and state of this stream (the automation API's per-call media status)."""
        r = self.reception
        out: dict[str, Any] = {
            "call": self.call,
            "endpoint": self.endpoint,
            "local": f"{self.engine.host}:{self.port}",
            "remote": None if self.remote is None else f"{self.remote[0]}:{self.remote[1]}",
            "codec": self.codec,
            "direction": self.direction.value,
            "packets_sent": self.packets_sent,
            "packets_received": self.packets_received,
            "undecryptable": self.undecryptable,
            "replayed": self.replayed,
            "dropped": self.dropped,
            "lost": max(0, r.lost) if r.received else 0,
            "jitter_ms": round(r.jitter * 1000.0 / r.clock_rate, 3),
            "srtp": self.srtp is not None,
            "key_management": self.key_management,
            "suite": None if self.srtp is None else self.srtp.local.suite.value,
            "tx_roc": None if self.srtp is None else self.srtp.tx.roc,
            "rx_roc": None if self.srtp is None else self.srtp.rx.roc,
            "rtcp_sent": self.rtcp_sent,
            "rtcp_received": self.rtcp_received,
            "dtmf_received": self._dtmf_rx.digits,
        }
        if measure:
            m = self.measure()
            out["level_dbm0"] = round(m.level_dbm0, 1)
            out["frequency"] = None if m.frequency is None else round(m.frequency, 1)
        return out

    # -- hot paths (one call each per packet from the engine; see the module docstring)

    def _send(self, now: float) -> None:
        """Called by the engine's ticker once per 20 ms: build, protect and send the next packet, if sending.
        RTCP goes out here when due. A secure stream writes the packet into its SRTP context's buffer and
        libsrtp protects it there (:meth:`SrtpContext.protect_in_place`): no intermediate ``bytes``."""
        if now >= self._next_rtcp:
            self._rtcp_due(now)
        if not self._sends:
            self.sender.skip(g711.SAMPLES_PER_FRAME)
            return
        frames = self._frames  # shared by the streams playing the same tone: stays in the CPU's cache
        i = self._frame
        payload = frames[i]
        i += 1
        self._frame = i if i < len(frames) else 0
        if self._dtmf is not None:
            digit_frame = self._dtmf_tick()
            if digit_frame is True:
                return
            if digit_frame:
                payload = digit_frame
        tx = self._tx
        try:
            if tx is not None:
                sender = self.sender
                buf = tx.buffer
                seq = sender.sequence
                pkt = buf[0 : tx.protect_in_place(sender.pack_next(buf, payload), seq)]
            elif self.srtp is not None:
                pkt = self.srtp.tx.protect(self.sender.next_packet(payload))
            else:
                pkt = self.sender.next_packet(payload)
            self._sock.send(pkt)
            self.packets_sent += 1
        except (OSError, SrtpError):
            self.send_errors += 1

    def _dtmf_tick(self) -> bytes | bool | None:
        """A tick while digits are queued: True when an RFC 4733 event packet went out in place of audio, the
        encoded frame of an in-band digit to send instead of the source's, or None (the source's audio)."""
        dtmf = self._dtmf
        assert dtmf is not None
        if isinstance(dtmf, InbandDtmf):
            frame = dtmf.step()
            if not dtmf.busy:
                self._dtmf = None
            return frame
        sender = self.sender
        ev = dtmf.step(sender.timestamp)
        if not dtmf.busy:
            self._dtmf = None
        if ev is None:
            return None
        pkt = sender.packet_at(self._te_pt, ev.payload, marker=ev.marker, timestamp=ev.timestamp)
        sender.skip(g711.SAMPLES_PER_FRAME)  # audio time runs on under the event
        try:
            self._sock.send(self.srtp.tx.protect(pkt) if self.srtp is not None else pkt)
            self.packets_sent += 1
        except (OSError, SrtpError):
            self.send_errors += 1
        return True

    def send_dtmf(self, digits: str, duration_ms: int = 100, gap_ms: int = 60) -> str:
        """Queue DTMF digits (0-9 * # A-D): RFC 4733 events when the call negotiated telephone-event, else the
        digits' tones in the audio (in band). Returns "rfc4733" or "inband"; raises
        :class:`~emulator.protocols.media.dtmf.DtmfError` for invalid digits or timings (nothing queued)."""
        if self._te_pt >= 0:
            events = self._dtmf if isinstance(self._dtmf, DtmfSender) else DtmfSender()
            events.queue(digits, duration_ms, gap_ms)
            self._dtmf = events
            return "rfc4733"
        probe = DtmfSender()
        probe.queue(digits, duration_ms, gap_ms)  # the same checks, nothing sent
        ticks = max(1, round(duration_ms / 20))
        frames = [inband_frames(d, self.codec, ticks) for d in parse_digits(digits)]
        inband = self._dtmf if isinstance(self._dtmf, InbandDtmf) else InbandDtmf()
        inband.queue(frames, max(1, round(gap_ms / 20)))
        self._dtmf = inband
        return "inband"

    @property
    def dtmf_received(self) -> str:
        return self._dtmf_rx.digits

    def note_dtmf(self, digit: str) -> None:
        """A digit received outside RTP (SIP INFO)."""
        self._dtmf_rx.digits = (self._dtmf_rx.digits + digit)[-self._dtmf_rx.limit :]

    def _read_rtp(self, now: float) -> None:
        """The RTP socket is readable: one ``recv`` (the engine calls this once per ready socket and tick).
        A secure stream receives into its SRTP context's buffer and libsrtp decrypts there."""
        rx = self._rx
        if rx is None:
            try:
                data = self._sock.recv(_RECV_SIZE)
            except OSError:  # EAGAIN, ECONNREFUSED (ICMP from a peer not listening yet)
                return
            self._on_rtp(data, now)
            if self.srtp is not None and self.srtp.rx.inplace:  # libsrtp bound to the first SSRC (initial ROC)
                self._fast_paths()
            return
        buf = rx.buffer
        try:
            n = self._sock.recv_into(buf)
        except OSError:
            return
        try:
            b0, b1, seq, ts, ssrc = rx.unprotect_in_place(n)
        except SrtpError as exc:
            plain = self._old_key(buf[0:n]) if exc.crypto_error and self._prev_rx is not None else b""
            if plain:
                self._on_plain(plain, now)
            else:
                self._unprotect_failed(exc)
            return
        if b0 & 0x3F:  # CSRCs, extension or padding: the full parse
            self._on_plain(buf[0 : n - rx.rtp_tag_length], now)
            return
        self.packets_received += 1
        self._peer_ssrc = ssrc
        self.reception.update(seq, ts, now)
        if b1 & 0x7F == self.payload_type and self._receives:
            payload = buf[12 : n - rx.rtp_tag_length]
            self._recent.append(payload)
            self._last_audio = now
            if self._recorder is not None:
                self._recorder.writeframesraw(g711.decode(self.codec, payload))
        elif b1 & 0x7F == self._te_pt:
            self._dtmf_rx.feed(buf[12 : n - rx.rtp_tag_length], ts)

    def _on_rtp(self, data: bytes, now: float) -> None:
        """A datagram received as ``bytes`` (plain RTP, or SRTP with an MKI / without the in-place pair)."""
        srtp = self.srtp
        if srtp is not None:
            try:
                data = srtp.rx.unprotect(data)
            except SrtpError as exc:
                plain = self._old_key(data) if exc.crypto_error and self._prev_rx is not None else b""
                if not plain:
                    self._unprotect_failed(exc)
                    return
                data = plain
        self._on_plain(data, now)

    def _on_plain(self, data: bytes, now: float) -> None:
        """A plain RTP packet: parse (garbage dropped), account (RFC 3550 A.1/A.8), keep the audio."""
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            self.dropped += 1
            return
        if data[0] & 0x3F:  # CSRCs, extension or padding: the full parse
            try:
                pt, _m, seq, ts, ssrc, payload = rtp_fields(data)
            except RtpError:
                self.dropped += 1
                return
        else:
            _b0, pt, seq, ts, ssrc = _RTP_HEAD.unpack_from(data)
            pt &= 0x7F
            payload = data[12:]
        self.packets_received += 1
        self._peer_ssrc = ssrc
        self.reception.update(seq, ts, now)
        if pt == self.payload_type and self._receives:
            self._recent.append(payload)
            self._last_audio = now
            if self._recorder is not None:
                self._recorder.writeframesraw(g711.decode(self.codec, payload))
        elif pt == self._te_pt:
            self._dtmf_rx.feed(payload, ts)

    def _unprotect_failed(self, exc: SrtpError) -> None:
        if exc.crypto_error and self.rekey_pending:
            self.dropped += 1
        elif exc.crypto_error:
            self.undecryptable += 1
            if not self._mipt110_raised:
                self._mipt110_raised = True
                self._raise_crypto_error()
        elif isinstance(exc, SrtpReplayError):
            self.replayed += 1
        else:
            self.dropped += 1

    def _old_key(self, data: bytes) -> bytes:
        """A packet the new remote key cannot decrypt, tried with the previous one during the grace period
        after a rekey (in-flight packets are not crypto errors); b"" if that fails too."""
        prev = self._prev_rx
        if prev is None or time.monotonic() > self._prev_rx_until:
            self._prev_rx = None
            return b""
        try:
            return prev.unprotect(data)
        except SrtpError:
            return b""

    def _raise_crypto_error(self) -> None:
        notify = self.engine.notify
        if notify is not None:
            notify("Mipt", 110, call=self.call, endpoint=self.endpoint)

    # -- RTCP

    def _rtcp_due(self, now: float) -> None:
        self._next_rtcp = now + self.engine.rtcp_interval * random.uniform(0.5, 1.5)
        if self.remote_rtcp is not None:
            with contextlib.suppress(OSError, SrtpError, RtcpError):
                self._send_rtcp(now)

    def _send_rtcp(self, now: float, *, bye: bool = False) -> None:
        wall = time.time()
        blocks: tuple[ReportBlock, ...] = ()
        if self.reception.received:
            if self._peer_ssrc is not None:
                self.reception.ssrc = self._peer_ssrc
            blocks = (self.reception.report_block(now),)
        s = self.sender
        first: SenderReport | ReceiverReport
        if s.packets_sent != self._reported_sent:
            first = s.sender_report(ntp_from_unix(wall), s.timestamp, blocks)
        else:
            first = ReceiverReport(s.ssrc, blocks)
        self._reported_sent = s.packets_sent
        parts: list[Any] = [first, SourceDescription.cname(s.ssrc, self.engine.cname)]
        if bye:
            parts.append(Bye((s.ssrc,)))
        pkt = build_compound(parts)
        if self.srtp is not None:
            pkt = self.srtp.tx.protect_rtcp(pkt)
        self._rtcp_sock.send(pkt)
        self.rtcp_sent += 1

    def _read_rtcp(self, now: float) -> None:
        try:
            data = self._rtcp_sock.recv(_RECV_SIZE)
        except OSError:
            return
        self._on_rtcp(data, now)

    def _on_rtcp(self, data: bytes, now: float) -> None:
        try:
            if self.srtp is not None:
                data = self.srtp.rx.unprotect_rtcp(data)
            packets = parse_rtcp(data)
        except (SrtpError, RtcpError):
            self.rtcp_dropped += 1
            return
        self.rtcp_received += 1
        for p in packets:
            if isinstance(p, SenderReport):
                self.reception.ssrc = p.ssrc
                self.reception.on_sender_report(p.ntp_timestamp, now)
            if isinstance(p, SenderReport | ReceiverReport):
                for b in p.reports:
                    if b.ssrc == self.sender.ssrc:
                        self.last_peer_report = b
            elif isinstance(p, Bye):
                self.peer_bye = True

    def __repr__(self) -> str:
        return f"<MediaStream call={self.call} {self.engine.host}:{self.port} -> {self.remote} srtp={bool(self.srtp)}>"

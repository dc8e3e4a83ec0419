"""The asyncio media engine of one unit: RTP/SRTP streams on the unit's address, thin glue over the pure cores.

Shape (chosen for scale; task-per-stream and ``DatagramProtocol`` designs top out at 150-250 calls — see
``bench/media.py`` for what this one sustains on the machine at hand):

* :class:`MediaEngine` — one per unit. A port allocator from ``Mipt.IpTransportRtpBasePort`` (plain
  streams) and ``Mipt.IpTransportSrtpBasePort`` (secure offers; 0 = the RTP base), even RTP / odd RTCP
  (RFC 3550 §11), bound on ``unit.host``; a **single ticker** (``loop.call_at`` every 1 ms) that spreads
  the streams' sends over the 20 slots of a 20 ms packet period; and one ``epoll`` of the engine's sockets
  that the ticker polls (no wait) after each round of sends, with exactly one ``recv`` per ready socket.
  No task, no timer, no asyncio reader per stream: the asyncio loop sees one timer per engine, receive work
  is batched per millisecond (at most 1 ms of added latency) and sends keep priority under load. Where
  ``select.epoll`` does not exist the sockets go to ``loop.add_reader`` instead (same one-recv callbacks).
* :class:`MediaStream` — one call leg: one *connected* UDP socket for RTP and one for RTCP (the kernel drops
  what does not come from the peer), G.711 PCMU/PCMA at 20 ms from a pre-encoded frame cycle, optional SRTP
  through :class:`~emulator.media.srtp.SrtpSession`.

Receive path: SRTP unprotect -> :class:`SrtpAuthError` (or any ``crypto_error``) counts *undecryptable* and
raises **Mipt 110** once per call with the call number and endpoint name the caller gave; parse errors and
replays are counted and dropped; then :class:`ReceptionStats` (RFC 3550 A.1/A.3/A.8) and the audio sinks.
The audio measure keeps the last 200 ms of *encoded* payloads and decodes them into a
:class:`~emulator.media.tones.ToneMeter` only when asked (:meth:`MediaStream.measure`), so measuring costs
nothing per packet. Optional WAV recording (decoded per packet, only while recording).

Sources: :class:`~emulator.media.tones.ToneGenerator`, a WAV file (8 kHz mono 16-bit, stdlib ``wave``;
looped) or silence — each turned once into a list of encoded 20 ms frames, so sending indexes a list.

RTCP (RFC 3550 §6): SR when we sent since the last report, else RR, with a report block for the peer and an
SDES CNAME; every 5 s randomised over [0.5, 1.5] x 5 s (§6.3.1 simplified: no bandwidth scaling; the
engine's ticker checks due reports, no timer per stream). SRTCP when the stream is secure.

Send timing: the ticker records, per slot, how late its last packet left against the ideal schedule; the
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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from emulator.media import g711
from emulator.media.endpoint_audio import EndpointAudio
from emulator.media.rtp import (
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
from emulator.media.session_setup import (
    AnswerState,
    MediaPlan,
    OfferState,
    Refusal,
    RtpSecurityMode,
    SecuritySettings,
    SetupRefused,
    accept_answer,
    answer_offer,
    build_offer,
)
from emulator.media.srtp import ContextBehaviour, SrtpContext, SrtpError, SrtpReplayError, SrtpSession
from emulator.media.tones import ToneGenerator, ToneMeasurement, ToneMeter
from emulator.sdp.sdp import Direction

__all__ = ["CallMedia", "CallMediaState", "MediaEngine", "MediaStream", "PortAllocator", "WavSource"]

SLOT = 0.001  # ticker period, seconds
PERIOD_SLOTS = 20  # 20 ms packetisation
RTCP_INTERVAL = 5.0
REKEY_GRACE = 0.5  # seconds during which the peer's previous key still decrypts (packets in flight)
MEASURE_WINDOW_MS = 200
_RECV_SIZE = 2048
_HIST_BINS = 1001  # 0.1 ms bins, last one = 100 ms and more
_CATCH_UP_LIMIT = 0.2  # a loop stalled longer than this skips the missed slots instead of bursting

Notify = Callable[..., Any]
log = structlog.get_logger("dgw.media")
_RTP_HEAD = struct.Struct("!BBHI")
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


def _read_one(sock: socket.socket, on_data: Callable[[bytes], None]) -> None:  # pragma: no cover - non-Linux
    """``loop.add_reader`` callback where there is no epoll: one ``recv`` per wake-up."""
    try:
        data = sock.recv(_RECV_SIZE)
    except OSError:
        return
    on_data(data)


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
    """
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


# ----------------------------------------------------------------------------------------- engine


class MediaEngine:
    """All media streams of one unit, one ticker, one port allocator per base port."""

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
        self._slot = 0
        self._next_tick = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lateness_hist = [0] * _HIST_BINS
        self.interval_hist = [0] * _HIST_BINS
        self._slot_late = [0.0] * PERIOD_SLOTS
        self._epoll = select.epoll() if _USE_EPOLL else None
        self._handlers: dict[int, tuple[socket.socket, Callable[[bytes], None]]] = {}
        self.ticks = 0
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

    def _activate(self, stream: MediaStream) -> None:
        slot = min(range(PERIOD_SLOTS), key=lambda i: len(self._slots[i]))
        self._slots[slot].append(stream)
        stream._slot = slot
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._loop = loop
            self._next_tick = loop.time() + SLOT
            self._timer = loop.call_at(self._next_tick, self._tick)

    def _deactivate(self, stream: MediaStream) -> None:
        if stream._slot >= 0:
            with contextlib.suppress(ValueError):
                self._slots[stream._slot].remove(stream)
            stream._slot = -1
        if self._timer is not None and not any(self._slots):
            self._timer.cancel()
            self._timer = None

    def _watch(self, sock: socket.socket, on_data: Callable[[bytes], None]) -> None:
        fd = sock.fileno()
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
            self._handlers[fd] = (sock, on_data)
        else:  # pragma: no cover - non-Linux
            asyncio.get_running_loop().add_reader(fd, _read_one, sock, on_data)

    def _unwatch(self, fd: int) -> None:
        if self._epoll is not None:
            if self._handlers.pop(fd, None) is not None:
                self._epoll.unregister(fd)
        else:  # pragma: no cover - non-Linux
            asyncio.get_running_loop().remove_reader(fd)

    def _receive(self) -> None:
        """One ``recv`` per ready socket (level-triggered epoll, no wait); called at every tick.

        Two phases — every ``recv`` first, then every packet's processing — so the kernel's code and the
        decrypt/parse code each run while their instructions are in cache (measured: ~25 % less CPU per
        packet than interleaving them)."""
        ep = self._epoll
        if ep is None or not self._handlers:
            return
        handlers = self._handlers
        got = []
        for fd, _ev in ep.poll(0):
            h = handlers.get(fd)
            if h is not None:
                try:
                    got.append((h[1], h[0].recv(_RECV_SIZE)))
                except OSError:  # EAGAIN, ECONNREFUSED (ICMP from a peer not listening yet)
                    pass
        for on_data, data in got:
            try:
                on_data(data)
            except Exception as exc:  # a bug in one stream must not stop the engine's other calls
                self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        if self.errors <= 10:  # first ones only: a systematic failure would flood the log 50 times a second
            log.error("media_stream_error", host=self.host, error=repr(exc))

    def _forget(self, stream: MediaStream) -> None:
        self._deactivate(stream)
        self.streams.discard(stream)

    def close(self) -> None:
        """Close every stream and stop the ticker."""
        for s in list(self.streams):
            s.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
            self._handlers.clear()

    # -- ticker

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        due = self._next_tick
        if now - due > _CATCH_UP_LIMIT:  # the loop stalled: do not burst, realign
            missed = int((now - due) / SLOT)
            self.skipped_slots += missed
            due += missed * SLOT
            self._slot = (self._slot + missed) % PERIOD_SLOTS
        slots = self._slots
        hist = self.lateness_hist
        clock = time.monotonic
        while due <= now + 0.0002:
            streams = slots[self._slot]
            if streams:
                out = []  # build and protect every packet of the slot, then send them (see _receive)
                for s in streams:
                    try:
                        pkt = s._tick(now)
                    except Exception as exc:  # see _receive
                        self._failed(exc)
                        continue
                    if pkt is not None:
                        out.append((s, pkt))
                for s, pkt in out:
                    try:
                        s._sock.send(pkt)
                        s.packets_sent += 1
                    except OSError:
                        s.send_errors += 1
                late = clock() - due
                b = int(late * 10000.0)
                hist[b if 0 <= b < _HIST_BINS else (_HIST_BINS - 1 if b > 0 else 0)] += len(streams)
                # interval jitter: the change of this slot's lateness since its previous turn 20 ms ago,
                # i.e. how far a stream's packet interval strayed from 20 ms
                slot = self._slot
                d = int(abs(late - self._slot_late[slot]) * 10000.0)
                self._slot_late[slot] = late
                self.interval_hist[d if d < _HIST_BINS else _HIST_BINS - 1] += len(streams)
            self._slot = (self._slot + 1) % PERIOD_SLOTS
            due += SLOT
            self.ticks += 1
        self._receive()
        self._next_tick = due
        # a stream may have been closed (or another started) from a callback above: one timer, and none
        # once nothing is active
        if self._timer is not None:
            self._timer.cancel()  # this very handle (harmless) or one _activate made meanwhile
        self._timer = loop.call_at(due, self._tick) if any(slots) else None

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
        self._sends = True
        self._receives = True
        self._recent: deque[bytes] = deque(maxlen=MEASURE_WINDOW_MS // 20)
        self._recorder: wave.Wave_write | None = None
        self._slot = -1
        self._watched = False
        self._prev_rx: SrtpContext | None = None  # the peer's previous key, for REKEY_GRACE after a rekey
        self._prev_rx_until = 0.0
        self._last_audio = 0.0
        self._last_rtp = b""
        self._next_rtcp = 0.0
        self._sent_since_report = False
        self._mipt110_raised = False
        # A re-offer of ours is out: the peer may already send under the key of its answer, which we cannot
        # know before the answer arrives (RFC 4568 §7.1.4) — such packets are dropped, not crypto errors.
        self.rekey_pending = False
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
        if not self._watched:
            self.engine._watch(self._sock, self._on_rtp)
            self.engine._watch(self._rtcp_sock, self._on_rtcp)
            self._watched = True
            self._next_rtcp = time.monotonic() + self.engine.rtcp_interval * random.uniform(0.5, 1.5)
        if self._slot < 0:
            self.engine._activate(self)

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
        }
        if measure:
            m = self.measure()
            out["level_dbm0"] = round(m.level_dbm0, 1)
            out["frequency"] = None if m.frequency is None else round(m.frequency, 1)
        return out

    # -- hot paths

    def _tick(self, now: float) -> bytes | None:
        """Called by the engine's ticker once per 20 ms: the next (protected) packet to send, if sending;
        the engine sends it. RTCP goes out here when due."""
        if now >= self._next_rtcp and self.remote_rtcp is not None:
            self._next_rtcp = now + self.engine.rtcp_interval * random.uniform(0.5, 1.5)
            with contextlib.suppress(OSError, SrtpError, RtcpError):
                self._send_rtcp(now)
        if not self._sends:
            self.sender.skip(g711.SAMPLES_PER_FRAME)
            return None
        frames = self._frames
        i = self._frame
        payload = frames[i]
        self._frame = i + 1 if i + 1 < len(frames) else 0
        pkt = self.sender.next_packet(payload)
        self._sent_since_report = True
        srtp = self.srtp
        if srtp is not None:
            try:
                return srtp.tx.protect(pkt)
            except SrtpError:
                self.send_errors += 1
                return None
        return pkt

    def _on_rtp(self, data: bytes) -> None:
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
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            self.dropped += 1
            return
        if data[0] & 0x3F:  # CSRCs, extension or padding: the full parse
            try:
                pt, _m, seq, ts, _ssrc, payload = rtp_fields(data)
            except RtpError:
                self.dropped += 1
                return
        else:
            _b0, pt, seq, ts = _RTP_HEAD.unpack_from(data)
            pt &= 0x7F
            payload = data[12:]
        self.packets_received += 1
        self._last_rtp = data
        now = time.monotonic()
        self.reception.update(seq, ts, now)
        if pt == self.payload_type and self._receives:
            self._recent.append(payload)
            self._last_audio = now
            if self._recorder is not None:
                self._recorder.writeframesraw(g711.decode(self.codec, payload))

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

    def _send_rtcp(self, now: float, *, bye: bool = False) -> None:
        wall = time.time()
        blocks: tuple[ReportBlock, ...] = ()
        if self.reception.received:
            if len(self._last_rtp) >= 12:
                self.reception.ssrc = int.from_bytes(self._last_rtp[8:12], "big")
            blocks = (self.reception.report_block(now),)
        s = self.sender
        first: SenderReport | ReceiverReport
        if self._sent_since_report:
            first = s.sender_report(ntp_from_unix(wall), s.timestamp, blocks)
        else:
            first = ReceiverReport(s.ssrc, blocks)
        self._sent_since_report = False
        parts: list[Any] = [first, SourceDescription.cname(s.ssrc, self.engine.cname)]
        if bye:
            parts.append(Bye((s.ssrc,)))
        pkt = build_compound(parts)
        if self.srtp is not None:
            pkt = self.srtp.tx.protect_rtcp(pkt)
        self._rtcp_sock.send(pkt)
        self.rtcp_sent += 1

    def _on_rtcp(self, data: bytes) -> None:
        try:
            if self.srtp is not None:
                data = self.srtp.rx.unprotect_rtcp(data)
            packets = parse_rtcp(data)
        except (SrtpError, RtcpError):
            self.rtcp_dropped += 1
            return
        self.rtcp_received += 1
        now = time.monotonic()
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


# ------------------------------------------------------------------------------------- SipEp hook


@dataclass(slots=True)
class CallMediaState:
    """What :class:`CallMedia` keeps per call (in ``Call.media``): the stream and the offer/answer state."""

    stream: MediaStream
    settings: SecuritySettings
    session_id: int
    endpoint: str = ""
    version: int = 0
    offer: OfferState | None = None
    answer: AnswerState | None = None
    withdrawable: OfferState | None = None  # the offer before the one in flight (restored if it is refused)


class CallMedia:
    """The SipEp offer/answer hook (``emulator.services.sipcalls.OfferAnswer``) over :mod:`session_setup` and
    a :class:`MediaEngine`: secure or plain audio per the endpoint's Media/Security settings.

    ``CallManager(engine, media=CallMedia.for_unit(unit, media_engine))``. A refused offer raises the call
    layer's ``MediaRefused`` with the status (415/488) after raising the refusal's notification (Mipt 9001
    for the wrong key management); a refused answer raises it too (the call layer then sends BYE). The
    call's stream (``call.media.stream``) is where the API sets the source and reads the measure/stats.
    """

    def __init__(
        self,
        engine: MediaEngine,
        settings_for: Callable[[str], SecuritySettings],
        *,
        clock: Callable[[], float] = time.time,
        audio_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.settings_for = settings_for
        self.clock = clock
        self.audio_dir = audio_dir
        self.audio: dict[str, EndpointAudio] = {}  # per endpoint: what its phone plays and records
        self._open: dict[int, CallMediaState] = {}  # call id -> state, while the call has a stream

    @classmethod
    def for_unit(cls, unit: Any, engine: MediaEngine | None = None) -> CallMedia:
        return cls(
            engine or MediaEngine.for_unit(unit),
            lambda ep: SecuritySettings.from_config(unit.config, ep),
            clock=unit.clock.now,
            audio_dir=Path(unit.state_dir) / "audio",
        )

    # -- the endpoint's phone (emulator addition; see emulator.media.endpoint_audio)

    def audio_of(self, endpoint: str) -> EndpointAudio:
        return self.audio.get(endpoint) or EndpointAudio()

    def set_audio(self, endpoint: str, audio: EndpointAudio) -> None:
        """Keep `audio` for the endpoint's next calls and apply it to its calls in progress."""
        self.audio[endpoint] = audio
        for st in self._open.values():
            if st.endpoint == endpoint:
                self._apply_audio(st.stream, audio)

    def _apply_audio(self, stream: MediaStream, audio: EndpointAudio) -> None:
        if audio.tones:
            stream.play_tone(*audio.tones, level_dbm0=audio.level_dbm0)
        elif audio.wav and self.audio_dir is not None:
            stream.play_wav(self.audio_dir / audio.wav)
        else:
            stream.set_source(None)
        if audio.record and self.audio_dir is not None:
            self.audio_dir.mkdir(parents=True, exist_ok=True)
            stream.record(self.audio_dir / audio.record)
        else:
            stream.record(None)

    def _state(self, call: Any) -> CallMediaState:
        st = getattr(call, "media", None)
        if isinstance(st, CallMediaState):
            return st
        settings = self.settings_for(call.endpoint)
        stream = self.engine.open_stream(secure=settings.secure, call=call.id, endpoint=call.endpoint)
        st = CallMediaState(stream, settings, session_id=int(self.clock()) & 0x7FFFFFFF or 1, endpoint=call.endpoint)
        call.media = st
        call.media_port = stream.port
        self._open[call.id] = st
        audio = self.audio.get(call.endpoint)
        if audio is not None:
            try:
                self._apply_audio(stream, audio)
            except (OSError, ValueError) as exc:  # a WAV file removed or spoilt since it was chosen: silence
                log.warning("endpoint_audio_failed", endpoint=call.endpoint, error=str(exc))
        return st

    def _start(self, st: CallMediaState, plan: MediaPlan) -> None:
        first = st.stream.plan is None
        audio = self.audio.get(st.endpoint)
        initial = audio.initial_sequence if audio is not None and first else None
        st.stream.apply(plan, behaviour=st.settings.context_behaviour, initial_sequence=initial)

    @staticmethod
    def _refused(status: int, reason: str) -> Exception:
        from emulator.services.sipcalls import MediaRefused  # the call layer's exception (no import cycle)

        return MediaRefused(status, reason)

    def _new_offer(self, st: CallMediaState, *, hold: bool, secure: bool | None = None) -> bytes:
        st.version += 1
        st.offer = build_offer(
            st.settings,
            address=self.engine.host,
            port=st.stream.port,
            session_id=st.session_id,
            session_version=st.session_id + st.version - 1,
            direction=Direction.SENDONLY if hold else Direction.SENDRECV,
            previous=st.offer if secure is None else None,
            secure=secure,
            now=self.clock(),
        )
        return bytes(st.offer.sdp)

    def offer(self, call: Any, hold: bool) -> bytes:
        st = self._state(call)
        st.stream.rekey_pending = st.stream.plan is not None and st.stream.srtp is not None
        st.withdrawable = st.offer
        return self._new_offer(st, hold=hold)

    def offer_withdrawn(self, call: Any) -> None:
        """Our re-offer was refused (or unanswered): the session stays as the last answer made it."""
        st = self._state(call)
        st.stream.rekey_pending = False
        if st.withdrawable is not None:
            st.offer = st.withdrawable

    def fallback_offer(self, call: Any) -> bytes | None:
        """SecureWithFallback: a plain RTP offer to retry with after the peer refused our secure one (415/488);
        None when the endpoint's mode does not fall back (Secure) or the refused offer was already plain."""
        st = self._state(call)
        if st.settings.mode is not RtpSecurityMode.SECURE_WITH_FALLBACK or st.offer is None or not st.offer.secure:
            return None
        return self._new_offer(st, hold=False, secure=False)

    def answered(self, call: Any, answer: bytes) -> None:
        st = self._state(call)
        if st.offer is None:
            raise self._refused(488, "no offer of ours to answer")
        try:
            plan = accept_answer(st.settings, st.offer, answer)
        except SetupRefused as exc:
            raise self._refused(exc.status_code, exc.refusal.detail) from None
        self._start(st, plan)

    def check(self, call: Any, offer: bytes) -> None:
        """Refuse an incoming offer before the phone rings (415/488 and the notification), as a unit
        does: it never alerts for a call whose media it cannot accept. Opens no stream."""
        result = answer_offer(
            self.settings_for(call.endpoint), offer, address=self.engine.host, port=9, session_id=1,
            session_version=1, local_direction=Direction.SENDRECV, previous=None, now=self.clock(),
        )
        if isinstance(result, Refusal):
            if result.notification is not None and self.engine.notify is not None:
                self.engine.notify(*result.notification, **result.fields)
            raise self._refused(result.status_code, result.reason)

    def answer(self, call: Any, offer: bytes, hold: bool) -> bytes:
        st = self._state(call)
        st.version += 1
        result = answer_offer(
            st.settings,
            offer,
            address=self.engine.host,
            port=st.stream.port,
            session_id=st.session_id,
            session_version=st.session_id + st.version - 1,
            local_direction=Direction.SENDONLY if hold else Direction.SENDRECV,
            previous=st.answer,
            now=self.clock(),
        )
        if isinstance(result, Refusal):
            if result.notification is not None and self.engine.notify is not None:
                self.engine.notify(*result.notification, **result.fields)
            raise self._refused(result.status_code, result.reason)
        st.answer = result.state
        self._start(st, result.plan)
        return bytes(result.sdp)

    def ended(self, call: Any) -> None:
        st = getattr(call, "media", None)
        if isinstance(st, CallMediaState):
            self._open.pop(call.id, None)
            st.stream.close()

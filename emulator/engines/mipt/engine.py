"""The media engine of one unit: its RTP/SRTP streams on the unit's address, sent in the slots of the media clock.

Shape (chosen for scale; task-per-stream and ``DatagramProtocol`` designs top out at 150-250 calls — see
``bench/media.py`` for what this one sustains on the machine at hand):

* :class:`MediaEngine` — one per unit. A port allocator (:mod:`~emulator.engines.mipt.ports`) from
  ``Mipt.IpTransportRtpBasePort`` (plain streams) and ``Mipt.IpTransportSrtpBasePort`` (secure offers; 0 = the
  RTP base); its streams spread over the 20 slots of a 20 ms packet period.
* one **media clock per event loop** (:mod:`~emulator.engines.mipt.clock`), shared by every engine on it (all
  the units of a lab): one 1 ms timer that has each engine send the streams of the current slot
  (:meth:`MediaEngine.send_slot`), and one ``epoll`` of all their sockets.
* :class:`~emulator.engines.mipt.stream.MediaStream` — one call leg. A 20 ms stream is called once per period in
  its slot (the common case: nothing else on its path); another packetization (10 to 80 ms in steps of 10) is
  visited every 20 ms in one slot, or every 10 ms in two slots 10 ms apart, and sends when its ptime has passed.

Send timing: each engine records, per slot, how late its last packet left against the ideal schedule; the
engine's lateness histogram (:meth:`MediaEngine.send_lateness`) is what the bench reports as send jitter
(an upper bound: every packet of a slot is counted with the slot's last one).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any

import structlog

from emulator.engines.mipt.clock import PERIOD_SLOTS, MediaClock
from emulator.engines.mipt.ports import PortAllocator
from emulator.engines.mipt.stream import RTCP_INTERVAL, MediaStream, Notify

__all__ = ["MediaEngine"]

_HIST_BINS = 1001  # 0.1 ms bins, last one = 100 ms and more

log = structlog.get_logger("dgw.media")


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
        # streams whose ptime is not 20 ms, with the step (ms) between two visits: [(stream, 10 or 20)]
        self._every: list[list[tuple[MediaStream, int]]] = [[] for _ in range(PERIOD_SLOTS)]
        self._every_slots: dict[MediaStream, tuple[int, ...]] = {}
        self._active = 0  # streams in the slots
        self._clock: MediaClock | None = None
        self.lateness_hist = [0] * _HIST_BINS
        self.interval_hist = [0] * _HIST_BINS
        self._slot_late = [0.0] * PERIOD_SLOTS
        self.ticks = 0  # slots sent
        self.errors = 0  # exceptions caught in stream callbacks (bugs; counted, first ones logged)
        self.skipped_slots = 0
        # told with the stream each time one is keyed or rekeyed (SDES/MIKEY): the Nlm packet capture exports and
        # decrypts SRTP with what the stream really uses; empty unless a capture asks for keys (no cost otherwise)
        self.key_listeners: list[Callable[[MediaStream], None]] = []

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
        stream = MediaStream(self, alloc, call=call, endpoint=endpoint, codec=codec)
        self.streams.add(stream)
        return stream

    def _media_clock(self) -> MediaClock:
        clock = self._clock
        loop = asyncio.get_running_loop()
        if clock is None or clock.closed or clock.loop is not loop:
            clock = self._clock = MediaClock.of(loop)
        return clock

    def activate(self, stream: MediaStream) -> None:
        """Give `stream` a send slot of the media clock (its first :meth:`MediaStream.apply`)."""
        clock = self._media_clock()
        self._place(stream, stream.ptime, clock)
        self._active += 1
        clock.start(self)

    def _place(self, stream: MediaStream, ptime: int, clock: MediaClock) -> None:
        slot = clock.take_slot()
        stream.slot = slot
        if ptime == PERIOD_SLOTS:
            self._slots[slot].append(stream)
            return
        step = 20 if ptime % 20 == 0 else 10
        slots: tuple[int, ...] = (slot,) if step == 20 else (slot, (slot + 10) % PERIOD_SLOTS)
        for k in slots[1:]:
            clock.occupy(k)
        for k in slots:
            self._every[k].append((stream, step))
        self._every_slots[stream] = slots

    def _unplace(self, stream: MediaStream) -> None:
        clock = self._clock
        slots = self._every_slots.pop(stream, None)
        if slots is None:
            with contextlib.suppress(ValueError):
                self._slots[stream.slot].remove(stream)
            slots = (stream.slot,)
        else:
            for k in slots:
                self._every[k] = [e for e in self._every[k] if e[0] is not stream]
        if clock is not None:
            for k in slots:
                clock.free_slot(k)
        stream.slot = -1

    def reschedule(self, stream: MediaStream, ptime: int) -> None:
        """`stream` now sends every `ptime` ms (a re-INVITE changed its packetization)."""
        if stream.slot < 0:
            return
        self._unplace(stream)
        self._place(stream, ptime, self._media_clock())

    def _deactivate(self, stream: MediaStream) -> None:
        if stream.slot >= 0:
            self._unplace(stream)
            self._active -= 1
        if not self._active and self._clock is not None:
            self._clock.stop(self)

    def watch(self, sock: socket.socket, on_ready: Callable[[float], None]) -> None:
        """Call ``on_ready(now)`` when `sock` is readable; it does exactly one ``recv``."""
        self._media_clock().watch(sock.fileno(), on_ready, self.failed)

    def unwatch(self, fd: int) -> None:
        if self._clock is not None:
            self._clock.unwatch(fd)

    def failed(self, exc: Exception) -> None:
        """An exception out of a stream's callback: a bug, counted; the other streams go on."""
        self.errors += 1
        if self.errors <= 10:  # first ones only: a systematic failure would flood the log 50 times a second
            log.error("media_stream_error", host=self.host, error=repr(exc))

    def keyed(self, stream: MediaStream) -> None:
        """`stream` has its (new) plan: its SRTP keys, if any, are those of :attr:`key_listeners`' interest."""
        if stream.srtp is not None:
            for fn in list(self.key_listeners):
                fn(stream)

    def forget(self, stream: MediaStream) -> None:
        """`stream` closed: out of its slot and of the engine."""
        self._deactivate(stream)
        self.streams.discard(stream)

    def close(self) -> None:
        """Close every stream and stop ticking."""
        for s in list(self.streams):
            s.close()
        if self._clock is not None:
            self._clock.stop(self)

    # -- ticker

    def send_slot(self, slot: int, now: float, due: float) -> None:
        """The media clock's turn for `slot` (ideally at `due`): every stream of the slot sends its packet."""
        streams = self._slots[slot]
        every = self._every[slot]
        if not streams and not every:
            return
        for s in streams:
            try:
                s.tick(now)
            except Exception as exc:  # a bug in one stream must not stop the engine's other calls
                self.failed(exc)
        for s, step in every:
            try:
                s.tick_every(now, step)
            except Exception as exc:
                self.failed(exc)
        self.ticks += 1
        late = time.monotonic() - due
        n = len(streams) + len(every)
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

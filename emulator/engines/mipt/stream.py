"""One call leg's media: RTP/RTCP and SRTP on a bound port pair, thin glue over the pure cores.

:class:`MediaStream` — one *connected* UDP socket for RTP and one for RTCP (the kernel drops what does not come
from the peer), G.711 PCMU/PCMA at 20 ms from a pre-encoded frame cycle (:mod:`~emulator.engines.mipt.sources`),
optional SRTP through :class:`~emulator.protocols.media.srtp.SrtpSession`. Its engine
(:class:`~emulator.engines.mipt.engine.MediaEngine`, seen here as a :class:`StreamOwner`) opens it, calls
:meth:`MediaStream.tick` once per 20 ms from the media clock and its readers when its sockets are readable.

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

Codecs: whatever the call negotiated (:mod:`~emulator.protocols.media.codecs`), at its packetization (``plan.ptime``):
the source is pre-encoded per codec and ptime (:func:`~emulator.engines.mipt.sources.frame_cycle`), so sending
costs the same for every codec; an empty payload (G.729 Annex B between SID frames) is not sent. What arrives is
kept as ``(arrival, timestamp, payload)`` for the stream's :class:`~emulator.engines.mipt.playout.Playout` (jitter
buffer, decoding, recording, in-band DTMF and fax tones), processed every 100 ms by :meth:`MediaStream._housekeeping`,
which also sends RTCP when due (:mod:`~emulator.engines.mipt.rtcp`, RFC 3550 §6.3 intervals) — no timer per stream.

A lab may impair what the stream sends (:class:`~emulator.protocols.media.impair.Impairment`: loss, jitter,
reordering, duplication); an impaired packet leaves from a loop timer at its delay. Without one the packet path
is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from emulator.engines.mipt.playout import DtmfThresholds, Playout
from emulator.engines.mipt.ports import PortAllocator
from emulator.engines.mipt.quality import StreamQuality
from emulator.engines.mipt.rtcp import T_MIN, RtcpSession
from emulator.engines.mipt.sources import Silence, Source, WavRecorder, WavSource, frame_cycle
from emulator.protocols.media import codecs
from emulator.protocols.media.dtmf import DtmfReceiver, DtmfSender, InbandDtmf, inband_pcm, parse_digits
from emulator.protocols.media.impair import Impairment
from emulator.protocols.media.jitter import JitterSettings
from emulator.protocols.media.rtp import ReceptionStats, RtpError, RtpSender, rtp_fields
from emulator.protocols.media.session_setup import MediaPlan
from emulator.protocols.media.srtp import ContextBehaviour, SrtpContext, SrtpError, SrtpReplayError, SrtpSession
from emulator.protocols.media.tones import ToneGenerator, ToneMeasurement
from emulator.protocols.sdp.sdp import Direction

__all__ = ["MEASURE_WINDOW_MS", "REKEY_GRACE", "RTCP_INTERVAL", "MediaStream", "Notify", "StreamOwner"]

RTCP_INTERVAL = T_MIN
REKEY_GRACE = 0.5  # seconds during which the peer's previous key still decrypts (packets in flight)
MEASURE_WINDOW_MS = 200
HOUSEKEEPING = 0.1  # seconds between two batches of the receive side (jitter buffer, decoding, detection)
_RECV_SIZE = 2048
_RTP_HEAD = struct.Struct("!BBHII")

Notify = Callable[..., Any]


class StreamOwner(Protocol):
    """What a stream needs of its engine (:class:`~emulator.engines.mipt.engine.MediaEngine`)."""

    host: str
    cname: str  # RTCP SDES CNAME
    rtcp_interval: float
    notify: Notify | None  # raises Mipt 110

    def watch(self, sock: socket.socket, on_ready: Callable[[float], None]) -> None:
        """Call ``on_ready(now)`` when `sock` is readable (one ``recv`` each time)."""
        ...

    def unwatch(self, fd: int) -> None: ...

    def activate(self, stream: MediaStream) -> None:
        """Give the stream a send slot: :meth:`MediaStream.tick` every packet period (its ptime) from now on."""
        ...

    def reschedule(self, stream: MediaStream, ptime: int) -> None:
        """The stream's packetization changes to `ptime` ms (a re-INVITE)."""
        ...

    def forget(self, stream: MediaStream) -> None:
        """The stream is closed: no more ticks."""
        ...


class MediaStream:
    """One call leg's RTP/RTCP (and SRTP) on a port pair it binds from its allocator (and gives back when closed).
    Created by :meth:`MediaEngine.open_stream`."""

    # slots: past CPython's shared-keys limit (30) every attribute read on the packet path would otherwise be a
    # dict lookup in a per-stream dict
    __slots__ = (
        "_alloc",
        "_countdown",
        "_dtmf",
        "_dtmf_rx",
        "_frame",
        "_frames",
        "_impair",
        "_live",
        "_mipt110_raised",
        "_next_house",
        "_peer_ssrc",
        "_prev_rx",
        "_prev_rx_until",
        "_receives",
        "_rx",
        "_sends",
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
        "fmt",
        "key_management",
        "packets_received",
        "packets_sent",
        "payload_type",
        "plan",
        "playout",
        "port",
        "ptime",
        "reception",
        "rekey_pending",
        "remote",
        "replayed",
        "rtcp",
        "rtcp_port",
        "send_errors",
        "sender",
        "slot",
        "srtp",
        "undecryptable",
        "vad",
    )

    def __init__(
        self,
        engine: StreamOwner,
        allocator: PortAllocator,
        *,
        call: int | str,
        endpoint: str,
        codec: str,
    ) -> None:
        self.engine = engine
        self.call = call
        self.endpoint = endpoint
        self._alloc = allocator
        self._sock, rtcp_sock = allocator.bind_pair()  # given back by close()
        self.port: int = self._sock.getsockname()[1]
        self.rtcp_port: int = rtcp_sock.getsockname()[1]
        self.rtcp = RtcpSession(rtcp_sock, engine.cname, engine.rtcp_interval)
        self.codec = codec
        fmt = codecs.by_encoding(codec)
        if fmt is None:
            raise ValueError(f"unknown codec {codec!r}")
        self.fmt = fmt
        self.ptime = 20
        self.vad = False
        self.payload_type = fmt.static_pt if fmt.static_pt is not None else 96
        self.sender = RtpSender.create(self.payload_type)
        self.reception = ReceptionStats(probation=0)
        self.playout = Playout(fmt, self.ptime)
        self.playout.on_digit = self.note_dtmf
        self.direction = Direction.SENDRECV
        self.remote: tuple[str, int] | None = None
        self.srtp: SrtpSession | None = None
        self.key_management: str | None = None
        self.plan: MediaPlan | None = None
        self._source: Source = Silence()
        self._frames: list[bytes] = frame_cycle(self._source, codec)
        self._frame = 0
        self._tx: SrtpContext | None = None  # srtp.tx when it protects in place (the fast send path), else None
        self._rx: SrtpContext | None = None  # srtp.rx likewise (the fast receive path)
        self._sends = True
        self._receives = True
        self._impair: Impairment | None = None
        self.slot = -1  # the engine's send slot (-1: not sending yet)
        self._countdown = 0  # ms to the next packet when the ptime is not 20 ms (ticked every 10 or 20 ms)
        self._watched = False
        self._prev_rx: SrtpContext | None = None  # the peer's previous key, for REKEY_GRACE after a rekey
        self._prev_rx_until = 0.0
        self._peer_ssrc: int | None = None  # SSRC of the last RTP packet received (our report block's)
        self._next_house = 0.0
        self._mipt110_raised = False
        # A re-offer of ours is out: the peer may already send under the key of its answer, which we cannot
        # know before the answer arrives (RFC 4568 §7.1.4) — such packets are dropped, not crypto errors.
        self.rekey_pending = False
        self._dtmf: DtmfSender | InbandDtmf | None = None  # digits being sent, None otherwise
        self._live: Callable[[], bytes] | None = None  # a live source's next payload (the fax modem), else None
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

    # -- control

    def apply(
        self,
        plan: MediaPlan,
        *,
        behaviour: ContextBehaviour = ContextBehaviour.KEEP,
        initial_sequence: int | None = None,
    ) -> None:
        """Start the stream with a negotiated plan, or update it (re-INVITE: new remote, direction, keys, codec).

        On an update of a secure stream, `behaviour` (``SecuritySettings.context_behaviour``) keeps or
        regenerates the SRTP contexts (:meth:`SrtpSession.update`); a regenerated sending context restarts
        the RTP sequence number and timestamp. `initial_sequence` lets a lab start near 65535.
        """
        first = self.plan is None
        self.rekey_pending = False
        codec = plan.codec.upper()
        fmt = codecs.by_encoding(codec)
        if fmt is None or not codecs.carried(fmt):
            raise ValueError(f"unsupported codec {plan.codec!r}")
        ptime = max(10, plan.ptime // 10 * 10)
        if (codec, ptime, plan.vad) != (self.codec, self.ptime, self.vad):
            self.codec, self.fmt, self.vad = codec, fmt, plan.vad
            if ptime != self.ptime and self.slot >= 0:
                self.engine.reschedule(self, ptime)
            self.ptime = ptime
            self._frames = frame_cycle(self._source, codec, ptime, plan.vad)
            self._frame = 0
            self.playout.set_format(fmt, ptime)
        self.sender.samples_per_packet = 8 * ptime
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
        if reachable and plan.remote_rtcp_port:
            self.rtcp.connect((plan.remote_host, plan.remote_rtcp_port))
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
            self.engine.watch(self._sock, self._read_rtp)
            self.engine.watch(self.rtcp.sock, self._read_rtcp)
            self._watched = True
            self.rtcp.start(time.monotonic())
        if self.slot < 0:
            self.engine.activate(self)

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
        self._source = Silence() if source is None else source
        self._frames = frame_cycle(self._source, self.codec, self.ptime, self.vad)
        self._frame = 0

    def set_live(self, live: Callable[[], bytes] | None) -> None:
        """A live source, called once per packet for its encoded payload in place of the source's frames (the fax
        machine's modem in G.711 pass-through); None goes back to the source."""
        self._live = live

    def play_tone(self, *frequencies: float, level_dbm0: float = -10.0) -> None:
        self.set_source(ToneGenerator(tuple(frequencies), level_dbm0))

    def play_wav(self, path: str | Path) -> None:
        self.set_source(WavSource(path))

    def record(self, path: str | Path | None) -> None:
        """Record the received audio to a WAV file (8 kHz mono 16-bit, after the jitter buffer); None stops."""
        self.playout.record(None if path is None else WavRecorder(path))

    def detect_inband_dtmf(self, thresholds: DtmfThresholds | None) -> None:
        """Count the digits heard in the received audio (``TelIf.InteropDtmfDetection``); None stops."""
        self.playout.detect_dtmf(thresholds)

    def set_jitter_buffer(self, settings: JitterSettings) -> None:
        self.playout.jb.settings = settings

    def impair(self, impairment: Impairment | None) -> None:
        """Impair what this stream sends from now on (lab knob); None: a clean network again."""
        if impairment is not None:
            impairment.period = self.ptime / 1000.0
        self._impair = impairment

    def send_raw(self, data: bytes) -> None:
        """Send arbitrary bytes to the peer's RTP port (labs: garbage, truncated or replayed packets)."""
        with contextlib.suppress(OSError):
            self._sock.send(data)

    def close(self) -> None:
        """Send an RTCP BYE, stop, release the ports."""
        if self.closed:
            return
        self.closed = True
        if self.rtcp.remote is not None and self.plan is not None:
            with contextlib.suppress(Exception):
                self.rtcp.send(time.monotonic(), self.sender, self.reception, self._peer_ssrc, self.srtp, bye=True)
        self.engine.forget(self)
        if self._watched:
            self.engine.unwatch(self._sock.fileno())
            self.engine.unwatch(self.rtcp.sock.fileno())
            self._watched = False
        self.playout.close()
        self._sock.close()
        self.rtcp.sock.close()
        self._alloc.release(self.port)

    # -- measure and stats

    def measure(self, candidates: tuple[float, ...] | None = None) -> ToneMeasurement:
        """Level and dominant frequency of the last 200 ms played out (decoded, decrypted, after the jitter buffer)."""
        return self.playout.measure(candidates)

    def quality(self) -> StreamQuality:
        """This connection's figures so far (the Mipt statistics' row; jitter and latency sampled by RTCP)."""
        q = StreamQuality(
            packets_sent=self.packets_sent,
            packets_received=self.packets_received,
            octets_sent=self.sender.octets_sent,
            octets_received=self.playout.octets_received,
            packets_lost=max(0, self.reception.lost) if self.reception.received else 0,
        )
        q.jitter, q.latency = self.playout.jitter_ms, self.rtcp.latency_ms
        return q

    def stats(self, *, measure: bool = True) -> dict[str, Any]:
        """Counters and state of this stream (the automation API's per-call media status)."""
        r = self.reception
        jb = self.playout.jb
        out: dict[str, Any] = {
            "call": self.call,
            "endpoint": self.endpoint,
            "local": f"{self.engine.host}:{self.port}",
            "remote": None if self.remote is None else f"{self.remote[0]}:{self.remote[1]}",
            "codec": self.codec,
            "payload_type": self.payload_type,
            "ptime": self.ptime,
            "direction": self.direction.value,
            "packets_sent": self.packets_sent,
            "packets_received": self.packets_received,
            "undecryptable": self.undecryptable,
            "replayed": self.replayed,
            "dropped": self.dropped,
            "lost": max(0, r.lost) if r.received else 0,
            "jitter_ms": round(r.jitter * 1000.0 / r.clock_rate, 3),
            "jitter_buffer": {"level": jb.settings.level, "delay_ms": round(jb.delay_ms, 1), "late": jb.late,
                              "concealed": jb.concealed, "duplicates": jb.duplicates},
            "round_trip_ms": None if self.rtcp.rtt is None else round(self.rtcp.rtt * 1000.0, 1),
            "srtp": self.srtp is not None,
            "key_management": self.key_management,
            "suite": None if self.srtp is None else self.srtp.local.suite.value,
            "tx_roc": None if self.srtp is None else self.srtp.tx.roc,
            "rx_roc": None if self.srtp is None else self.srtp.rx.roc,
            "rtcp_sent": self.rtcp.sent,
            "rtcp_received": self.rtcp.received,
            "dtmf_received": self._dtmf_rx.digits,
            "impair": None if self._impair is None else self._impair.to_json(),
        }
        if measure:
            m = self.measure()
            out["level_dbm0"] = round(m.level_dbm0, 1)
            out["frequency"] = None if m.frequency is None else round(m.frequency, 1)
        return out

    # -- hot paths (one call each per packet from the engine; see the module docstring)

    def tick(self, now: float) -> None:
        """Called by the engine's ticker once per packet period: build, protect and send the next packet, if
        sending. Housekeeping (receive batch, RTCP) goes here when due. A secure stream writes the packet into its
        SRTP context's buffer and libsrtp protects it there (:meth:`SrtpContext.protect_in_place`)."""
        if now >= self._next_house:
            self._housekeeping(now)
        if not self._sends:
            self.sender.skip(self.sender.samples_per_packet)
            return
        frames = self._frames  # shared by the streams playing the same tone: stays in the CPU's cache
        i = self._frame
        payload = frames[i]
        i += 1
        self._frame = i if i < len(frames) else 0
        if self._live is not None:
            payload = self._live()
        if self._dtmf is not None:
            digit_frame = self._dtmf_tick()
            if digit_frame is True:
                return
            if digit_frame:
                payload = digit_frame
        if not payload:  # G.729 Annex B: nothing to send while the noise does not change
            self.sender.skip(self.sender.samples_per_packet)
            return
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
            if self._impair is None:
                self._sock.send(pkt)
            else:
                self._send_impaired(pkt)
            self.packets_sent += 1
        except (OSError, SrtpError):
            self.send_errors += 1

    def tick_every(self, now: float, step_ms: int) -> None:
        """The engine's visit every `step_ms` (10 or 20) to a stream whose ptime is not 20 ms: a packet when due."""
        self._countdown -= step_ms
        if self._countdown > 0:
            return
        self._countdown += self.ptime
        self.tick(now)

    def _send_impaired(self, pkt: bytes) -> None:
        """A packet through the lab's bad network: dropped, delayed, reordered or duplicated."""
        assert self._impair is not None
        fate = self._impair.fate()
        if not fate:
            return
        data = bytes(pkt)
        loop = asyncio.get_running_loop()
        for delay in fate:
            if delay <= 0.0:
                self.send_raw(data)
            else:
                loop.call_later(delay, self.send_raw, data)

    def _housekeeping(self, now: float) -> None:
        """Every 100 ms: the receive batch through the playout, then RTCP if due."""
        self._next_house = now + HOUSEKEEPING
        self.playout.process(now, self.reception)
        self.rtcp.due(now, self.sender, self.reception, self._peer_ssrc, self.srtp)

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
        sender.skip(sender.samples_per_packet)  # audio time runs on under the event
        try:
            self._sock.send(self.srtp.tx.protect(pkt) if self.srtp is not None else pkt)
            self.packets_sent += 1
        except (OSError, SrtpError):
            self.send_errors += 1
        return True

    def send_dtmf(self, digits: str, duration_ms: int = 100, gap_ms: int = 60) -> str:
        """Queue DTMF digits (0-9 * # A-D): RFC 4733 events when the call negotiated telephone-event, else the
        digits' tones in the audio (in band, in the call's codec). Returns "rfc4733" or "inband"; raises
        :class:`~emulator.protocols.media.dtmf.DtmfError` for invalid digits or timings (nothing queued)."""
        if self._te_pt >= 0:
            events = self._dtmf if isinstance(self._dtmf, DtmfSender) else DtmfSender(tick_samples=8 * self.ptime)
            events.queue(digits, duration_ms, gap_ms)
            self._dtmf = events
            return "rfc4733"
        probe = DtmfSender(tick_samples=8 * self.ptime)
        probe.queue(digits, duration_ms, gap_ms)  # the same checks, nothing sent
        ticks = max(1, round(duration_ms / self.ptime))
        spp = 8 * self.ptime
        frames = []
        for d in parse_digits(digits):
            encoder = codecs.encoder_for(self.fmt)
            pcm = inband_pcm(d, ticks * spp)
            frames.append(tuple(encoder.encode(pcm[2 * k * spp : 2 * (k + 1) * spp]) for k in range(ticks)))
        inband = self._dtmf if isinstance(self._dtmf, InbandDtmf) else InbandDtmf()
        inband.queue(frames, max(1, round(gap_ms / self.ptime)))
        self._dtmf = inband
        return "inband"

    @property
    def dtmf_received(self) -> str:
        return self._dtmf_rx.digits

    def note_dtmf(self, digit: str) -> None:
        """A digit received outside RFC 4733 events (SIP INFO, or detected in band)."""
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
            self.playout.arrivals.append((now, ts, buf[12 : n - rx.rtp_tag_length]))
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
            self.playout.arrivals.append((now, ts, payload))
        elif pt == self._te_pt:
            self._dtmf_rx.feed(payload, ts)
        else:
            self.dropped += 1  # a payload type the call did not negotiate: not audio

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

    def _read_rtcp(self, now: float) -> None:
        self.rtcp.read(now, self.sender, self.reception, self.srtp)

    def __repr__(self) -> str:
        return f"<MediaStream call={self.call} {self.engine.host}:{self.port} -> {self.remote} srtp={bool(self.srtp)}>"

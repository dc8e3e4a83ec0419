"""A stream's RTCP (RFC 3550 §6): the report schedule, the compound reports it sends, what it learns from the peer's.

* Schedule (§6.3, A.7, for a two-party call): the first report 2.5 s (T_min / 2) times a random factor in
  [0.5, 1.5] after the stream starts, then every T_min = 5 s times the same factor; each interval divided by
  e - 3/2 (the compensation of §6.3.1). So a peer hears from us 1-3 s after the start and every 2-6 s after.
  The RTCP bandwidth of a two-party voice call never makes the deterministic interval exceed T_min.
* Reports: SR when we sent since the last report, else RR; a report block for the peer's source; SDES CNAME;
  BYE on close. SRTCP when the stream is secure.
* From the peer: its SR (our next block's LSR/DLSR), its report block about us (``last_peer_report``) and, with
  its LSR/DLSR, the round-trip time (§6.4.1) — the latency the Mipt statistics show.
"""

from __future__ import annotations

import math
import random
import socket
import time
from collections.abc import Callable
from typing import Any

from emulator.engines.mipt.quality import Measured
from emulator.protocols.media.rtp import (
    Bye,
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    RtcpError,
    RtpSender,
    SenderReport,
    SourceDescription,
    build_compound,
    ntp_from_unix,
    ntp_middle32,
    parse_rtcp,
)
from emulator.protocols.media.srtp import SrtpError, SrtpSession

__all__ = ["T_MIN", "RtcpSession", "next_interval"]

T_MIN = 5.0  # RFC 3550 §6.2: the minimum report interval
_COMPENSATION = math.e - 1.5
_RECV_SIZE = 2048


def next_interval(t_min: float = T_MIN, *, initial: bool = False, rng: Callable[[], float] = random.random) -> float:
    """Seconds to the next report (RFC 3550 §6.3.1, A.7): T_min (half of it before the first report) times a
    factor uniform in [0.5, 1.5], divided by e - 3/2."""
    td = t_min / 2.0 if initial else t_min
    return td * (0.5 + rng()) / _COMPENSATION


class RtcpSession:
    """One stream's RTCP socket and its bookkeeping."""

    __slots__ = (
        "_reported_sent", "cname", "dropped", "last_peer_report", "latency_ms", "next_due", "peer_bye", "received",
        "remote", "rtt", "sent", "sock", "t_min",
    )

    def __init__(self, sock: socket.socket, cname: str, t_min: float = T_MIN) -> None:
        self.sock = sock
        self.cname = cname
        self.t_min = t_min
        self.remote: tuple[str, int] | None = None
        self.next_due = float("inf")
        self._reported_sent = 0
        self.sent = self.received = self.dropped = 0
        self.last_peer_report: ReportBlock | None = None
        self.peer_bye = False
        self.rtt: float | None = None  # seconds, from the peer's last report block about us
        self.latency_ms = Measured()  # half of each round trip measured, ms

    def start(self, now: float) -> None:
        self.next_due = now + next_interval(self.t_min, initial=True)

    def connect(self, remote: tuple[str, int]) -> None:
        if remote != self.remote:
            self.sock.connect(remote)
            self.remote = remote

    def due(self, now: float, sender: RtpSender, reception: ReceptionStats, peer_ssrc: int | None,
            srtp: SrtpSession | None) -> None:
        """The housekeeping's turn: send a report if one is due."""
        if now < self.next_due:
            return
        self.next_due = now + next_interval(self.t_min)
        if self.remote is not None:
            try:
                self.send(now, sender, reception, peer_ssrc, srtp)
            except (OSError, SrtpError, RtcpError):
                pass

    def send(self, now: float, sender: RtpSender, reception: ReceptionStats, peer_ssrc: int | None,
             srtp: SrtpSession | None, *, bye: bool = False) -> None:
        blocks: tuple[ReportBlock, ...] = ()
        if reception.received:
            if peer_ssrc is not None:
                reception.ssrc = peer_ssrc
            blocks = (reception.report_block(now),)
        first: SenderReport | ReceiverReport
        if sender.packets_sent != self._reported_sent:
            first = sender.sender_report(ntp_from_unix(time.time()), sender.timestamp, blocks)
        else:
            first = ReceiverReport(sender.ssrc, blocks)
        self._reported_sent = sender.packets_sent
        parts: list[Any] = [first, SourceDescription.cname(sender.ssrc, self.cname)]
        if bye:
            parts.append(Bye((sender.ssrc,)))
        pkt = build_compound(parts)
        if srtp is not None:
            pkt = srtp.tx.protect_rtcp(pkt)
        self.sock.send(pkt)
        self.sent += 1

    def read(self, now: float, sender: RtpSender, reception: ReceptionStats, srtp: SrtpSession | None) -> None:
        """The RTCP socket is readable: one datagram."""
        try:
            data = self.sock.recv(_RECV_SIZE)
        except OSError:
            return
        try:
            if srtp is not None:
                data = srtp.rx.unprotect_rtcp(data)
            packets = parse_rtcp(data)
        except (SrtpError, RtcpError):
            self.dropped += 1
            return
        self.received += 1
        for p in packets:
            if isinstance(p, SenderReport):
                reception.ssrc = p.ssrc
                reception.on_sender_report(p.ntp_timestamp, now)
            if isinstance(p, SenderReport | ReceiverReport):
                for b in p.reports:
                    if b.ssrc == sender.ssrc:
                        self.last_peer_report = b
                        self._round_trip(b)
            elif isinstance(p, Bye):
                self.peer_bye = True

    def _round_trip(self, block: ReportBlock) -> None:
        """RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in units of 1/65536 s of the NTP middle 32 bits."""
        if not block.last_sr:
            return
        arrival = ntp_middle32(ntp_from_unix(time.time()))
        rtt = ((arrival - block.last_sr - block.delay_since_last_sr) & 0xFFFFFFFF) / 65536.0
        if rtt < 60.0:  # a wrapped or bogus value is not a round trip
            self.rtt = rtt
            self.latency_ms.add(rtt * 500.0)

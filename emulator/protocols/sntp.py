"""SNTP version 4 (RFC 4330), sans-IO: the client request, reply validation, offset and delay,
plus the pure bookkeeping of the Hoc time service (which servers, which notifications).

Wire format (RFC 4330 §4): 48 octets — LI (2 bits), VN (3), Mode (3), Stratum, Poll, Precision,
Root Delay and Root Dispersion (16.16 fixed point), Reference Identifier, then four 64-bit
timestamps (32-bit seconds since 1900-01-01 and a 32-bit fraction): Reference, Originate,
Receive, Transmit.

Timestamps and eras (RFC 4330 §3): the 32-bit seconds field wraps on 2036-02-07 06:28:16 UTC.
A timestamp whose most significant bit is set is in 1968-2036 (era 0, counted from 1900); one
whose bit is clear is in 2036-2104 (era 1, counted from 2036-02-07). :func:`ntp_to_unix` applies
that rule and :func:`unix_to_ntp` is its inverse, so the client works across the 2036 wrap.

Reply checks (RFC 4330 §5, in this order): at least 48 octets; the Originate Timestamp echoes the
Transmit Timestamp of our request (otherwise the datagram is not an answer to us —
:class:`BogusReply`, which a client ignores while it keeps waiting); Mode 4 (server); Version 3 or
4; Stratum 0 is a kiss-o'-death whose Reference Identifier carries the kiss code
(:class:`KissOfDeath`; ``DENY`` and ``RSTR`` mean "never ask this server again"); Stratum above 15
is unsynchronised; Leap Indicator 3 means the server clock is not synchronised; a zero Transmit
Timestamp is invalid.

Offset and delay (RFC 4330 §5) from T1 (our transmit), T2 (server receive), T3 (server transmit),
T4 (our receive): ``offset = ((T2 - T1) + (T3 - T4)) / 2`` and ``delay = (T4 - T1) - (T3 - T2)``.
"""

from __future__ import annotations

import ipaddress
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from firmware_model.schema import split_host_port

__all__ = [
    "ERA_SECONDS",
    "KISS_STOP_CODES",
    "NTP_PORT",
    "NTP_UNIX_DELTA",
    "PACKET_SIZE",
    "BogusReply",
    "KissOfDeath",
    "NtpPacket",
    "SntpError",
    "SntpQuery",
    "SntpResult",
    "SyncTracker",
    "build_request",
    "ntp_short_to_seconds",
    "ntp_to_unix",
    "offset_delay",
    "parse_reply",
    "parse_server",
    "sntp_servers",
    "unix_to_ntp",
]

NTP_PORT = 123
NTP_UNIX_DELTA = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
ERA_SECONDS = 1 << 32
PACKET_SIZE = 48
MODE_CLIENT = 3
MODE_SERVER = 4
LEAP_UNSYNCHRONIZED = 3
KISS_STOP_CODES = frozenset({"DENY", "RSTR"})  # RFC 4330 §8: stop sending to this server
MAX_SERVERS = 8  # Hoc.SntpServersInfo.Priority is 1..8

_HEADER = struct.Struct("!BBbbII4sQQQQ")


class SntpError(Exception):
    """A reply that cannot set the clock; ``reason`` is the text shown in notification Hoc 9002."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BogusReply(SntpError):
    """Not an answer to our request (wrong originate timestamp, or too short to tell)."""


class KissOfDeath(SntpError):
    """Stratum 0 reply (RFC 4330 §8); ``code`` is the ASCII kiss code (``DENY``, ``RSTR``, ``RATE``...)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"kiss-o'-death {code or '(no code)'}")
        self.code = code

    @property
    def stop(self) -> bool:
        """True when the client must stop querying this server (access denied or restricted)."""
        return self.code in KISS_STOP_CODES


# ---------------------------------------------------------------------------------- timestamps
def unix_to_ntp(t: float) -> int:
    """Unix time -> 64-bit NTP timestamp (seconds modulo 2**32, so 2036 and later wrap to era 1)."""
    whole = math.floor(t)
    frac = int((t - whole) * ERA_SECONDS)
    if frac >= ERA_SECONDS:  # rounding of t very close to the next second
        whole, frac = whole + 1, 0
    return (((whole + NTP_UNIX_DELTA) % ERA_SECONDS) << 32) | frac


def ntp_to_unix(ts: int) -> float:
    """64-bit NTP timestamp -> Unix time, with the RFC 4330 §3 era rule (valid 1968-2104)."""
    seconds, frac = ts >> 32, ts & 0xFFFFFFFF
    if not seconds & 0x80000000:  # MSB clear: era 1, after 2036-02-07 06:28:16
        seconds += ERA_SECONDS
    return seconds - NTP_UNIX_DELTA + frac / ERA_SECONDS


def ntp_short_to_seconds(value: int) -> float:
    """16.16 fixed point (Root Delay, Root Dispersion) -> seconds."""
    return value / 65536.0


def offset_delay(t1: float, t2: float, t3: float, t4: float) -> tuple[float, float]:
    """RFC 4330 §5: (clock offset, round-trip delay) from the four timestamps, in seconds."""
    return ((t2 - t1) + (t3 - t4)) / 2.0, (t4 - t1) - (t3 - t2)


# ---------------------------------------------------------------------------------- packets
@dataclass(frozen=True, slots=True)
class NtpPacket:
    """One NTP datagram header (RFC 4330 §4); timestamps are raw 64-bit values."""

    leap: int = 0
    version: int = 4
    mode: int = MODE_CLIENT
    stratum: int = 0
    poll: int = 0
    precision: int = 0
    root_delay: int = 0  # 16.16 fixed point, raw
    root_dispersion: int = 0
    ref_id: bytes = b"\0\0\0\0"
    reference: int = 0
    originate: int = 0
    receive: int = 0
    transmit: int = 0

    def pack(self) -> bytes:
        first = ((self.leap & 3) << 6) | ((self.version & 7) << 3) | (self.mode & 7)
        return _HEADER.pack(
            first, self.stratum, self.poll, self.precision, self.root_delay, self.root_dispersion,
            self.ref_id[:4].ljust(4, b"\0"), self.reference, self.originate, self.receive, self.transmit,
        )

    @classmethod
    def unpack(cls, data: bytes) -> NtpPacket:
        """Parse the first 48 octets (extension fields and MAC after them are ignored)."""
        if len(data) < PACKET_SIZE:
            raise BogusReply(f"short datagram ({len(data)} octets)")
        first, stratum, poll, precision, rdelay, rdisp, ref_id, ref, orig, recv, xmit = _HEADER.unpack_from(data)
        return cls(first >> 6, (first >> 3) & 7, first & 7, stratum, poll, precision, rdelay, rdisp, ref_id,
                   ref, orig, recv, xmit)

    @property
    def ref_id_text(self) -> str:
        """Reference identifier as shown: ASCII for stratum 0-1 (kiss code, ``GPS``...), else an IPv4 address."""
        if self.stratum <= 1:
            return self.ref_id.rstrip(b"\0").decode("ascii", "replace")
        return str(ipaddress.IPv4Address(self.ref_id))


def build_request(transmit: float, version: int = 4) -> tuple[bytes, int]:
    """Client request (RFC 4330 §5): mode 3, every field zero but VN and the Transmit Timestamp.
    Returns the datagram and the raw transmit timestamp the reply's Originate must echo."""
    ts = unix_to_ntp(transmit)
    return NtpPacket(version=version, mode=MODE_CLIENT, transmit=ts).pack(), ts


@dataclass(frozen=True, slots=True)
class SntpResult:
    """A valid server reply."""

    offset: float  # seconds to add to our clock to get the server's
    delay: float  # round-trip delay, seconds
    server_time: float  # T3 (server transmit), Unix time
    stratum: int
    leap: int
    version: int
    ref_id: str
    root_delay: float
    root_dispersion: float


def parse_reply(data: bytes, *, originate: int, t1: float, t4: float) -> SntpResult:
    """Validate a server reply to the request whose raw transmit timestamp was ``originate``
    (sent at ``t1``, received at ``t4``, both our clock) and compute offset and delay.
    Raises BogusReply, KissOfDeath or SntpError (see the module docstring for the checks)."""
    p = NtpPacket.unpack(data)
    if p.originate != originate:
        raise BogusReply("originate timestamp does not echo our request")
    if p.mode != MODE_SERVER:
        raise SntpError(f"not a server reply (mode {p.mode})")
    if p.version not in (3, 4):
        raise SntpError(f"unsupported NTP version {p.version}")
    if p.stratum == 0:
        raise KissOfDeath(p.ref_id.rstrip(b"\0").decode("ascii", "replace"))
    if p.stratum > 15:
        raise SntpError(f"server not synchronised (stratum {p.stratum})")
    if p.leap == LEAP_UNSYNCHRONIZED:
        raise SntpError("server clock not synchronised (leap indicator 3)")
    if p.transmit == 0:
        raise SntpError("zero transmit timestamp")
    t2, t3 = ntp_to_unix(p.receive), ntp_to_unix(p.transmit)
    offset, delay = offset_delay(t1, t2, t3, t4)
    return SntpResult(
        offset=offset, delay=delay, server_time=t3, stratum=p.stratum, leap=p.leap, version=p.version,
        ref_id=p.ref_id_text, root_delay=ntp_short_to_seconds(p.root_delay),
        root_dispersion=ntp_short_to_seconds(p.root_dispersion),
    )


@dataclass(slots=True)
class SntpQuery:
    """One request/response exchange, fed with datagrams and the current (unit) time.

    >>> q = SntpQuery(now)          # q.datagram goes to the server
    >>> q.receive(reply, later)     # SntpResult, or raises (BogusReply: keep waiting)
    """

    t1: float
    version: int = 4
    datagram: bytes = field(init=False)
    originate: int = field(init=False)

    def __post_init__(self) -> None:
        self.datagram, self.originate = build_request(self.t1, self.version)

    def receive(self, data: bytes, t4: float) -> SntpResult:
        return parse_reply(data, originate=self.originate, t1=self.t1, t4=t4)


# ---------------------------------------------------------------------------------- Hoc servers
def parse_server(text: str) -> tuple[str, int] | None:
    """``host[:port]`` (``Hoc.StaticSntpServerHost`` and friends) -> (host, port); no port or 0 -> 123.
    Empty or malformed -> None."""
    text = text.strip()
    if not text:
        return None
    try:
        host, port = split_host_port(text)
    except ValueError:
        return None
    host = host.strip("[]")
    if not host:
        return None
    return host, port or NTP_PORT


def sntp_servers(
    source: str,
    static_host: str,
    static_rows: Iterable[Mapping[str, Any]],
    dhcp_servers: Sequence[str] = (),
) -> list[str]:
    """The SNTP servers in effect, in priority order (``Hoc.SntpServersInfo``), as configured texts.

    ``Static``: ``Hoc.StaticSntpServerHost`` first, then ``Hoc.StaticSntpServers`` by Priority.
    ``Automatic`` / ``AutomaticIpv6``: the servers DHCP provided (``dhcp_servers``; the emulator
    has no DHCP client, a lab can give the list a DHCP server would offer). ``AutomaticWithFallback``:
    the DHCP servers, or the static ones when DHCP provided none. Empty and duplicate entries are
    dropped; at most 8."""
    dhcp = [s.strip() for s in dhcp_servers if s.strip()]
    if source in ("Automatic", "AutomaticIpv6"):
        chosen = dhcp
    else:
        static = [static_host.strip()] + [
            str(r.get("HostName") or "").strip()
            for r in sorted(static_rows, key=lambda r: int(r.get("Priority") or 0))
        ]
        chosen = dhcp if (source == "AutomaticWithFallback" and dhcp) else static
    out: list[str] = []
    seen: set[tuple[str, int]] = set()
    for text in chosen:
        target = parse_server(text)
        if target is None or target in seen:
            continue
        seen.add(target)
        out.append(text)
    return out[:MAX_SERVERS]


@dataclass(slots=True)
class SyncTracker:
    """Which Hoc notifications a sync outcome raises: 9001 when sync is gained or regained, 9002
    once per failure streak, 9003 once per unsynchronised streak when a user needs the time.
    A new configuration starts a new failure streak (its failure is reported again)."""

    synchronized: bool = False  # SNTP has set the clock at least once
    source: str = ""  # server of the last successful sync
    last_error: str = ""
    successes: int = 0
    failures: int = 0
    _failing: bool = False
    _failure_reported: bool = False
    _no_time_reported: bool = False

    def succeeded(self, server: str) -> bool:
        """Record a sync; True when notification 9001 is due (first sync, or first after failures)."""
        due = not self.synchronized or self._failing or server != self.source
        self.synchronized = True
        self.source = server
        self.successes += 1
        self._failing = self._failure_reported = self._no_time_reported = False
        self.last_error = ""
        return due

    def failed(self, reason: str) -> bool:
        """Record a failed attempt (every server failed); True when notification 9002 is due."""
        self.failures += 1
        self.last_error = reason
        self._failing = True
        if self._failure_reported:
            return False
        self._failure_reported = True
        return True

    def time_required(self, clock_synchronized: bool) -> bool:
        """A user needs the time; True when notification 9003 is due (the clock is unsynchronised
        and this streak has not been reported yet)."""
        if clock_synchronized:
            self._no_time_reported = False
            return False
        if self._no_time_reported:
            return False
        self._no_time_reported = True
        return True

    def reconfigured(self) -> None:
        self._failure_reported = False

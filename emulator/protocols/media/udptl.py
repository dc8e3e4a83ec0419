"""UDPTL, the UDP transport of T.38 fax (ITU-T T.38 §9.1): packets, the sender's redundancy and the receiver's
recovery — pure, no I/O.

A UDPTL packet is ASN.1 aligned PER::

    UDPTLPacket ::= SEQUENCE {
        seq-number          INTEGER (0..65535),           -- 2 octets
        primary-ifp-packet  open type (IFPPacket),        -- length determinant + octets
        error-recovery      CHOICE {                      -- 1 octet: 0x00 redundancy, 0x80 FEC
            secondary-ifp-packets SEQUENCE OF open type,  -- count, then each (newest first)
            fec-info SEQUENCE { fec-npackets INTEGER, fec-data SEQUENCE OF OCTET STRING } } }

* :class:`UdptlSender` numbers the IFPs it is given and carries the last `redundancy` ones after each
  (``Mipt.DefaultCodecT38RedundancyLevel`` / ``EpSpecificCodecT38.RedundancyLevel``, 1..5). An IFP that ends a
  fax phase (:func:`~emulator.protocols.media.t38_ifp.is_final`) is sent ``final_redundancy`` more times
  with its sequence number (``Mipt.DefaultCodecT38FinalFramesRedundancy``, 0..3) — an emulator reading of
  "redundancy for final frames": a lost last frame is what stalls a T.30 exchange.
* :class:`UdptlReceiver` hands the IFPs on in sequence order, each once: a gap is filled from the redundancy
  of the next packet that arrives; duplicates and packets older than the window are dropped. FEC packets
  (never sent by the emulator) deliver their primary IFP only.
* Garbage (a truncated or inconsistent packet) raises :class:`UdptlError` from :func:`decode`; the receiver
  counts it and drops it — the fax goes on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["UdptlError", "UdptlPacket", "UdptlReceiver", "UdptlSender", "decode", "encode"]

_MAX_IFP = 16383  # a PER length determinant in two octets; far above T38FaxMaxDatagram
_MAX_SECONDARY = 16  # no sender carries more (T.38 gateways use 0..7)
_WINDOW = 256  # sequence numbers behind the newest that still count as late, not as a restart


class UdptlError(ValueError):
    """A datagram that is not a well-formed UDPTL packet."""


@dataclass(frozen=True, slots=True)
class UdptlPacket:
    seq: int
    primary: bytes
    secondary: tuple[bytes, ...] = ()  # the IFPs of seq-1, seq-2, ... (newest first)
    fec: bool = False  # the FEC form of error recovery (its data is not used)


def _length(n: int) -> bytes:
    """A PER length determinant (X.691 §10.9): one octet below 128, else two with the top bit set."""
    if n < 0x80:
        return bytes((n,))
    if n <= _MAX_IFP:
        return bytes((0x80 | n >> 8, n & 0xFF))
    raise UdptlError(f"an IFP of {n} octets is too long for UDPTL")


def encode(packet: UdptlPacket) -> bytes:
    """The datagram of `packet` (redundancy form)."""
    out = bytearray(((packet.seq >> 8) & 0xFF, packet.seq & 0xFF))
    out += _length(len(packet.primary)) + packet.primary
    out.append(0x00)
    out += _length(len(packet.secondary))
    for ifp in packet.secondary:
        out += _length(len(ifp)) + ifp
    return bytes(out)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def octet(self) -> int:
        if self.pos >= len(self.data):
            raise UdptlError(f"truncated at octet {self.pos}")
        self.pos += 1
        return self.data[self.pos - 1]

    def length(self) -> int:
        first = self.octet()
        if not first & 0x80:
            return first
        if first & 0x40:  # a fragmented length (X.691 §10.9.3.8): never in a datagram this size
            raise UdptlError("fragmented PER length")
        return (first & 0x3F) << 8 | self.octet()

    def octets(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise UdptlError(f"{n} octets announced at {self.pos}, {len(self.data) - self.pos} left")
        self.pos += n
        return self.data[self.pos - n : self.pos]


def decode(data: bytes) -> UdptlPacket:
    """Parse a datagram; :class:`UdptlError` when it is not a complete, well-formed UDPTL packet."""
    r = _Reader(data)
    seq = r.octet() << 8 | r.octet()
    primary = r.octets(r.length())
    if not primary:
        raise UdptlError("empty primary IFP")
    choice = r.octet()
    if choice & 0x80:  # fec-info: read it through to check the packet is whole, keep nothing
        r.octets(r.length())  # fec-npackets, an unconstrained INTEGER (length + octets)
        for _ in range(r.length()):
            r.octets(r.length())
        secondary: tuple[bytes, ...] = ()
        fec = True
    else:
        count = r.length()
        if count > _MAX_SECONDARY:
            raise UdptlError(f"{count} secondary IFPs")
        secondary = tuple(r.octets(r.length()) for _ in range(count))
        fec = False
    if r.pos != len(data):
        raise UdptlError(f"{len(data) - r.pos} octets after the packet")
    return UdptlPacket(seq, primary, secondary, fec)


@dataclass(slots=True)
class UdptlSender:
    """Numbers IFPs and adds the redundancy (see the module docstring). :meth:`send` returns the datagrams."""

    redundancy: int = 3
    final_redundancy: int = 0
    seq: int = 0
    _history: deque[bytes] = field(default_factory=lambda: deque(maxlen=8))
    sent: int = 0

    def send(self, ifp: bytes, *, final: bool = False, repeat: int = 1) -> list[bytes]:
        """The datagrams for one IFP: `repeat` copies (what the T.38 terminal asks), plus ``final_redundancy``
        for a final frame, all with the IFP's sequence number."""
        secondary = tuple(list(self._history)[: self.redundancy])
        datagram = encode(UdptlPacket(self.seq, ifp, secondary))
        self._history.appendleft(ifp)
        self.seq = (self.seq + 1) & 0xFFFF
        copies = max(1, repeat) + (self.final_redundancy if final else 0)
        self.sent += copies
        return [datagram] * copies


@dataclass(slots=True)
class UdptlReceiver:
    """Received datagrams -> IFPs in order, each once (see the module docstring)."""

    expected: int | None = None
    received: int = 0
    recovered: int = 0  # IFPs taken from a later packet's redundancy
    lost: int = 0  # IFPs neither received nor recovered
    duplicates: int = 0
    malformed: int = 0
    redundant: int = 0  # secondary IFPs carried by the packets received (the sender's redundancy at work)

    def receive(self, datagram: bytes) -> list[tuple[int, bytes]]:
        """The (sequence number, IFP) pairs this datagram makes available, in order; [] for a duplicate, a late
        packet or garbage (counted in :attr:`malformed`)."""
        try:
            packet = decode(datagram)
        except UdptlError:
            self.malformed += 1
            return []
        self.received += 1
        self.redundant += len(packet.secondary)
        if self.expected is None:
            self.expected = packet.seq
        behind = (self.expected - packet.seq) & 0xFFFF
        if 0 < behind <= _WINDOW:  # already delivered or given up
            self.duplicates += 1
            return []
        gap = (packet.seq - self.expected) & 0xFFFF
        if gap > _WINDOW:  # the sender started again (a new session on the same port): follow it
            gap = 0
        out: list[tuple[int, bytes]] = []
        for k in range(gap, 0, -1):  # the missing ones, oldest first: secondary[k-1] is seq-k
            seq = (packet.seq - k) & 0xFFFF
            if k <= len(packet.secondary):
                out.append((seq, packet.secondary[k - 1]))
                self.recovered += 1
            else:
                self.lost += 1
        out.append((packet.seq, packet.primary))
        self.expected = (packet.seq + 1) & 0xFFFF
        return out

"""TFTP client (RFC 1350) with option negotiation (RFC 2347), ``blksize`` (RFC 2348), ``timeout`` and ``tsize``
(RFC 2349): sans-IO — datagrams and the current time in, datagrams, events and the next deadline out.

One :class:`TftpClient` is one transfer: a read (RRQ, the Conf scripts and the Fpu packs the unit fetches) or a
write (WRQ, the script export and the configuration backup). The adapter owns one UDP socket, sends what
:meth:`TftpClient.start`, :meth:`~TftpClient.receive` and :meth:`~TftpClient.handle_timer` return, and reads
:meth:`~TftpClient.next_event` until it gives :class:`Completed` or :class:`Failed`.

Wire format (RFC 1350 §5, RFC 2347 §2): a 2-octet opcode, then

* RRQ (1) / WRQ (2): ``filename 0 mode 0 [option 0 value 0]...`` — mode is always ``octet`` here (the unit
  moves files byte for byte; ``netascii`` is not offered);
* DATA (3): block number (2 octets), 0..blksize octets; a block shorter than blksize ends the transfer;
* ACK (4): block number;
* ERROR (5): error code (2 octets), message, 0;
* OACK (6): ``[option 0 value 0]...`` — the options the server accepts, with its values.

Transfer identifiers (RFC 1350 §4): the request goes to the server's well-known port; the server answers from a
port of its own, the transfer's TID, and every later packet must come from it. A packet from another port is
answered with ERROR 5 "Unknown transfer ID" and otherwise ignored; the transfer goes on.

Options (RFC 2347 §3-§5): the client asks; the OACK may only hold options the client asked for, ``blksize`` no
larger than asked (RFC 2348: 8..65464), ``timeout`` exactly as asked (RFC 2349: 1..255 s) and, for a read,
``tsize`` the file's size. An OACK that breaks these is refused with ERROR 8 and ends the transfer. A server
that ignores options answers a read with DATA 1 (or a write with ACK 0): the defaults apply (512-octet blocks).
A server that refuses options with ERROR 8 is asked again once without them (RFC 2347 §5 leaves the choice to
the client).

Retransmission (RFC 1350 §2, RFC 1123 §4.2.3.2): the last packet sent is sent again after ``timeout`` seconds
without an answer, ``retries`` times, then the transfer fails (:attr:`Failed.answered` tells whether the
server ever answered: an unreachable server and one that went silent mid-transfer differ to the caller). A
duplicate ACK never makes a writer resend its DATA — the "Sorcerer's Apprentice" fix of RFC 1123 §4.2.3.1 — and
a duplicate DATA is acknowledged again (the server did not get our ACK).

Block numbers wrap from 65535 to 0, as tftp-hpa and most servers do for files above 32 MiB at 512 octets.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_BLKSIZE",
    "MAX_BLKSIZE",
    "MIN_BLKSIZE",
    "TFTP_PORT",
    "Ack",
    "Completed",
    "Data",
    "Datagram",
    "ErrorCode",
    "ErrorPacket",
    "Failed",
    "OAck",
    "Opcode",
    "Packet",
    "PacketError",
    "Request",
    "TftpClient",
    "TftpEvent",
    "TransferState",
    "encode",
    "parse",
]

TFTP_PORT = 69
DEFAULT_BLKSIZE = 512  # RFC 1350 §2
MIN_BLKSIZE, MAX_BLKSIZE = 8, 65464  # RFC 2348
MIN_TIMEOUT, MAX_TIMEOUT = 1, 255  # RFC 2349 §3, seconds
MODE = "octet"


class Opcode(enum.IntEnum):
    RRQ = 1
    WRQ = 2
    DATA = 3
    ACK = 4
    ERROR = 5
    OACK = 6  # RFC 2347


class ErrorCode(enum.IntEnum):
    """RFC 1350 §5 (Appendix "Error Codes") and RFC 2347 §2 (8)."""

    NOT_DEFINED = 0
    FILE_NOT_FOUND = 1
    ACCESS_VIOLATION = 2
    DISK_FULL = 3
    ILLEGAL_OPERATION = 4
    UNKNOWN_TID = 5
    FILE_EXISTS = 6
    NO_SUCH_USER = 7
    OPTION_REFUSED = 8


class PacketError(ValueError):
    """A datagram that is not a well-formed TFTP packet."""


@dataclass(frozen=True, slots=True)
class Request:
    opcode: Opcode  # RRQ or WRQ
    filename: str
    mode: str = MODE
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Data:
    block: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    block: int


@dataclass(frozen=True, slots=True)
class ErrorPacket:
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class OAck:
    options: dict[str, str]


Packet = Request | Data | Ack | ErrorPacket | OAck

_U16 = struct.Struct("!H")
_HEAD = struct.Struct("!HH")


def _strings(*items: str) -> bytes:
    return b"".join(s.encode("ascii") + b"\0" for s in items)


def encode(packet: Packet) -> bytes:
    """The datagram of ``packet`` (RFC 1350 §5, RFC 2347 §2)."""
    if isinstance(packet, Request):
        opts = [x for k, v in packet.options.items() for x in (k, v)]
        return _U16.pack(packet.opcode) + _strings(packet.filename, packet.mode, *opts)
    if isinstance(packet, Data):
        return _HEAD.pack(Opcode.DATA, packet.block) + packet.payload
    if isinstance(packet, Ack):
        return _HEAD.pack(Opcode.ACK, packet.block)
    if isinstance(packet, ErrorPacket):
        return _HEAD.pack(Opcode.ERROR, packet.code) + packet.message.encode("ascii", "replace") + b"\0"
    return _U16.pack(Opcode.OACK) + _strings(*(x for k, v in packet.options.items() for x in (k, v)))


def _split_strings(body: bytes, what: str) -> list[str]:
    if not body.endswith(b"\0"):
        raise PacketError(f"{what}: a string is not NUL-terminated")
    try:
        return body[:-1].decode("ascii").split("\0")
    except UnicodeDecodeError:
        raise PacketError(f"{what}: non-ASCII text") from None


def _option_pairs(items: list[str], what: str) -> dict[str, str]:
    if len(items) % 2:
        raise PacketError(f"{what}: an option without a value")
    out: dict[str, str] = {}
    for name, value in zip(items[::2], items[1::2], strict=True):
        key = name.lower()  # RFC 2347 §2: option names are case-insensitive
        if key in out:
            raise PacketError(f"{what}: option {name} given twice")
        out[key] = value
    return out


def parse(data: bytes) -> Packet:
    """One TFTP packet; :class:`PacketError` when it is malformed."""
    if len(data) < 2:
        raise PacketError("shorter than an opcode")
    (op,) = _U16.unpack_from(data)
    if op in (Opcode.RRQ, Opcode.WRQ):
        items = _split_strings(data[2:], "request")
        if len(items) < 2 or not items[0]:
            raise PacketError("request: filename and mode are required")
        return Request(Opcode(op), items[0], items[1].lower(), _option_pairs(items[2:], "request"))
    if op == Opcode.DATA:
        if len(data) < 4:
            raise PacketError("DATA shorter than its header")
        return Data(_U16.unpack_from(data, 2)[0], bytes(data[4:]))
    if op == Opcode.ACK:
        if len(data) != 4:
            raise PacketError("ACK is not 4 octets")
        return Ack(_U16.unpack_from(data, 2)[0])
    if op == Opcode.ERROR:
        if len(data) < 4:
            raise PacketError("ERROR shorter than its header")
        text = data[4:]
        text = text[: text.index(b"\0")] if b"\0" in text else text  # servers in the wild omit the NUL
        return ErrorPacket(_U16.unpack_from(data, 2)[0], text.decode("ascii", "replace"))
    if op == Opcode.OACK:
        return OAck(_option_pairs(_split_strings(data[2:], "OACK"), "OACK") if len(data) > 2 else {})
    raise PacketError(f"unknown opcode {op}")


# ---------------------------------------------------------------------------------------------- the client
@dataclass(frozen=True, slots=True)
class Datagram:
    """Send ``payload`` to the server's ``port`` (its well-known port for a request, else the transfer's TID)."""

    payload: bytes
    port: int


@dataclass(frozen=True, slots=True)
class Completed:
    data: bytes  # the file read (b"" for a write)
    blksize: int
    tsize: int | None  # the size the server announced (read) or we announced (write), when negotiated


@dataclass(frozen=True, slots=True)
class Failed:
    """The transfer ended without the file. ``kind``: ``timeout`` (no answer after the retries), ``remote``
    (the server sent ERROR ``code``), ``protocol`` (the server broke the protocol), ``too-large`` (above the
    client's ``max_size``)."""

    kind: str
    message: str
    code: int | None = None
    answered: bool = False  # the server answered at least once

    def __str__(self) -> str:
        return self.message


TftpEvent = Completed | Failed


class TransferState(enum.Enum):
    IDLE = "idle"
    REQUESTED = "requested"  # RRQ/WRQ sent, waiting for OACK, DATA 1 / ACK 0, or ERROR
    TRANSFERRING = "transferring"
    DONE = "done"
    FAILED = "failed"


class TftpClient:
    """One read or write (see the module docstring). Times are seconds on any monotonic clock."""

    def __init__(
        self,
        filename: str,
        *,
        data: bytes | None = None,
        blksize: int | None = None,
        timeout: float = 1.0,
        negotiate_timeout: bool = False,
        tsize: bool = True,
        retries: int = 5,
        max_size: int = 64 * 1024 * 1024,
        server_port: int = TFTP_PORT,
    ) -> None:
        if not filename or "\0" in filename:
            raise ValueError("a TFTP file name is not empty and holds no NUL")
        filename.encode("ascii")  # RFC 1350 §5: netascii strings (UnicodeEncodeError is a ValueError)
        if blksize is not None and not MIN_BLKSIZE <= blksize <= MAX_BLKSIZE:
            raise ValueError(f"blksize must be {MIN_BLKSIZE}..{MAX_BLKSIZE}")
        if negotiate_timeout and not (MIN_TIMEOUT <= timeout <= MAX_TIMEOUT and timeout == int(timeout)):
            raise ValueError(f"a negotiated timeout is a whole number of seconds, {MIN_TIMEOUT}..{MAX_TIMEOUT}")
        self.filename = filename
        self.writing = data is not None
        self._out = data or b""
        self.timeout = timeout
        self.retries = retries
        self.max_size = max_size
        self.server_port = server_port
        self.state = TransferState.IDLE
        self.blksize = DEFAULT_BLKSIZE
        self.tsize: int | None = None
        self.options = self._options(blksize, negotiate_timeout, tsize)
        self.answered = False
        self.tid: int | None = None  # the server's port for this transfer
        self.retransmissions = 0
        self._block = 0  # read: last block received; write: block in flight
        self._received: list[bytes] = []
        self._size = 0
        self._last: Datagram | None = None
        self._tries = 0
        self._deadline: float | None = None
        self._events: list[TftpEvent] = []
        self._asked_without_options = False

    def _options(self, blksize: int | None, negotiate_timeout: bool, tsize: bool) -> dict[str, str]:
        opts: dict[str, str] = {}
        if blksize is not None:
            opts["blksize"] = str(blksize)
        if negotiate_timeout:
            opts["timeout"] = str(int(self.timeout))
        if tsize:
            opts["tsize"] = str(len(self._out)) if self.writing else "0"
        return opts

    # ------------------------------------------------------------------ interface
    def start(self, now: float) -> list[Datagram]:
        """The request (RRQ or WRQ) to the server's well-known port."""
        if self.state is not TransferState.IDLE:
            raise RuntimeError("a TftpClient runs one transfer")
        self.state = TransferState.REQUESTED
        return self._request(now)

    def receive(self, payload: bytes, port: int, now: float) -> list[Datagram]:
        """A datagram from the server's address, sent from ``port``."""
        if self.state not in (TransferState.REQUESTED, TransferState.TRANSFERRING):
            return []
        if self.tid is not None and port != self.tid:
            return [Datagram(encode(ErrorPacket(ErrorCode.UNKNOWN_TID, "Unknown transfer ID")), port)]
        try:
            packet = parse(payload)
        except PacketError as e:
            if self.tid is None:
                return []  # not our server (yet): nothing to answer
            return self._fail_sending(now, ErrorCode.ILLEGAL_OPERATION, f"malformed packet: {e}", "protocol")
        if self.tid is None:
            self.tid = port
        self.answered = True
        if isinstance(packet, ErrorPacket):
            return self._on_error(packet, now)
        if isinstance(packet, OAck):
            if self.state is TransferState.REQUESTED:
                return self._on_oack(packet, now)
            if not self.writing and self._block == 0:  # the OACK again: our ACK 0 was lost
                return self._send(Datagram(encode(Ack(0)), self._port()), now)
            if self.writing and self._block == 1:
                return []  # the OACK again while DATA 1 is in flight: never resend on a duplicate
        if self.writing and isinstance(packet, Ack):
            return self._on_ack(packet.block, now)
        if not self.writing and isinstance(packet, Data):
            return self._on_data(packet, now)
        return self._fail_sending(now, ErrorCode.ILLEGAL_OPERATION, f"unexpected {type(packet).__name__}",
                                  "protocol")

    def handle_timer(self, now: float) -> list[Datagram]:
        """Retransmit the last packet, or fail once the retries are spent."""
        if self._deadline is None or now < self._deadline or self._last is None:
            return []
        if self._tries >= self.retries:
            what = "no answer from the server" if not self.answered else "the server stopped answering"
            self._finish(Failed("timeout", f"{what} after {self._tries + 1} tries", answered=self.answered))
            return []
        self._tries += 1
        self.retransmissions += 1
        self._deadline = now + self.timeout
        return [self._last]

    def next_deadline(self) -> float | None:
        return self._deadline

    def next_event(self) -> TftpEvent | None:
        return self._events.pop(0) if self._events else None

    @property
    def done(self) -> bool:
        return self.state in (TransferState.DONE, TransferState.FAILED)

    # ------------------------------------------------------------------ steps
    def _request(self, now: float) -> list[Datagram]:
        op = Opcode.WRQ if self.writing else Opcode.RRQ
        return self._send(Datagram(encode(Request(op, self.filename, MODE, dict(self.options))), self.server_port),
                          now)

    def _send(self, dgram: Datagram, now: float) -> list[Datagram]:
        self._last = dgram
        self._tries = 0
        self._deadline = now + self.timeout
        return [dgram]

    def _on_error(self, packet: ErrorPacket, now: float) -> list[Datagram]:
        if (self.state is TransferState.REQUESTED and packet.code == ErrorCode.OPTION_REFUSED and self.options
                and not self._asked_without_options):
            self._asked_without_options = True  # RFC 2347 §5: ask again, plainly
            self.options = {}
            self.tid = None
            return self._request(now)
        self._finish(Failed("remote", packet.message or _describe(packet.code), packet.code, answered=True))
        return []

    def _on_oack(self, packet: OAck, now: float) -> list[Datagram]:
        refusal = self._check_oack(packet.options)
        if refusal is not None:
            return self._fail_sending(now, ErrorCode.OPTION_REFUSED, refusal, "protocol")
        if self.tsize is not None and self.tsize > self.max_size:
            return self._fail_sending(now, ErrorCode.DISK_FULL, f"the file is {self.tsize} bytes, more than "
                                      f"{self.max_size}", "too-large")
        self.state = TransferState.TRANSFERRING
        if self.writing:
            return self._send_block(1, now)
        return self._send(Datagram(encode(Ack(0)), self._port()), now)

    def _check_oack(self, got: dict[str, str]) -> str | None:
        for name, value in got.items():
            if name not in self.options:
                return f"option {name} was not requested"
            if not value.isdigit():
                return f"option {name}: {value!r} is not a number"
            n = int(value)
            if name == "blksize":
                if not MIN_BLKSIZE <= n <= int(self.options["blksize"]):
                    return f"blksize {n} is outside {MIN_BLKSIZE}..{self.options['blksize']}"
                self.blksize = n
            elif name == "timeout":
                if value != self.options["timeout"]:  # RFC 2349 §3: the server may not change it
                    return f"timeout {value} differs from the {self.options['timeout']} asked"
            elif name == "tsize":
                self.tsize = n
        return None

    def _on_data(self, packet: Data, now: float) -> list[Datagram]:
        expected = (self._block + 1) & 0xFFFF
        if packet.block == self._block and self.state is TransferState.TRANSFERRING:
            return self._send(Datagram(encode(Ack(packet.block)), self._port()), now)  # our ACK was lost
        if packet.block != expected:
            return []  # an old block: ignored
        if len(packet.payload) > self.blksize:
            return self._fail_sending(now, ErrorCode.ILLEGAL_OPERATION,
                                      f"block {packet.block} holds {len(packet.payload)} octets, more than "
                                      f"the block size {self.blksize}", "protocol")
        self._size += len(packet.payload)
        if self._size > self.max_size:
            return self._fail_sending(now, ErrorCode.DISK_FULL, f"the file is more than {self.max_size} bytes",
                                      "too-large")
        self.state = TransferState.TRANSFERRING
        self._block = packet.block
        self._received.append(packet.payload)
        ack = Datagram(encode(Ack(packet.block)), self._port())
        if len(packet.payload) < self.blksize:
            self._finish(Completed(b"".join(self._received), self.blksize, self.tsize))
            return [ack]
        return self._send(ack, now)

    def _on_ack(self, block: int, now: float) -> list[Datagram]:
        if self.state is TransferState.REQUESTED:
            if block != 0:
                return self._fail_sending(now, ErrorCode.ILLEGAL_OPERATION, f"ACK {block} before ACK 0", "protocol")
            self.state = TransferState.TRANSFERRING
            return self._send_block(1, now)
        if block != self._block & 0xFFFF:
            return []  # a duplicate ACK: never resend on it (RFC 1123 §4.2.3.1)
        sent = (self._block - 1) * self.blksize
        if len(self._out) - sent < self.blksize:  # that block was the last, short one
            self._finish(Completed(b"", self.blksize, len(self._out) if "tsize" in self.options else None))
            return []
        return self._send_block(self._block + 1, now)

    def _send_block(self, n: int, now: float) -> list[Datagram]:
        """DATA ``n`` (counted from 1, unwrapped; the wire number wraps at 65536)."""
        self._block = n
        start = (n - 1) * self.blksize
        chunk = self._out[start:start + self.blksize]
        return self._send(Datagram(encode(Data(n & 0xFFFF, chunk)), self._port()), now)

    def _port(self) -> int:
        assert self.tid is not None
        return self.tid

    def _fail_sending(self, now: float, code: ErrorCode, message: str, kind: str) -> list[Datagram]:
        """End the transfer and tell the server why (RFC 1350 §7: an error packet ends it)."""
        port = self.tid
        self._finish(Failed(kind, message, int(code), answered=self.answered))
        return [] if port is None else [Datagram(encode(ErrorPacket(code, message)), port)]

    def _finish(self, event: TftpEvent) -> None:
        self.state = TransferState.DONE if isinstance(event, Completed) else TransferState.FAILED
        self._deadline = None
        self._last = None
        self._events.append(event)


def _describe(code: int) -> str:
    try:
        return ErrorCode(code).name.replace("_", " ").lower()
    except ValueError:
        return f"error {code}"

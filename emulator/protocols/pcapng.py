"""pcapng (the PCAP Next Generation capture file format, draft-ietf-opsawg-pcapng): the blocks a unit's packet
capture writes, built as bytes, and a small reader for checks.

Sans-IO: every function returns the bytes of one block; the capture glue writes them to its file. Blocks are
little-endian (the byte-order magic tells readers so) and padded to 32 bits:

* Section Header Block (SHB, §4.1): one per file, with ``shb_hardware``/``shb_os``/``shb_userappl`` options;
* Interface Description Block (IDB, §4.2): one per interface, link type and ``if_tsresol`` (9: nanoseconds, the
  resolution every Enhanced Packet Block of the file uses here);
* Enhanced Packet Block (EPB, §4.3): one captured frame with its 64-bit timestamp;
* Decryption Secrets Block (DSB, §4.7): secrets for the packets that follow, e.g. a TLS key log
  (:data:`SECRETS_TLS_KEY_LOG`, NSS key-log lines), which Wireshark uses with no extra file.

The EPB header is one precompiled :class:`struct.Struct`, since the capture writes one per packet.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "BYTE_ORDER_MAGIC",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_RAW",
    "SECRETS_TLS_KEY_LOG",
    "Block",
    "PcapngError",
    "decryption_secrets",
    "enhanced_packet",
    "enhanced_packets",
    "interface_description",
    "read_blocks",
    "section_header",
]

SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 0x00000001
EPB_TYPE = 0x00000006
DSB_TYPE = 0x0000000A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
LINKTYPE_ETHERNET = 1  # what a Linux packet socket on an Ethernet-like device (loopback included) gives
LINKTYPE_RAW = 101  # a bare IPv4/IPv6 packet
SECRETS_TLS_KEY_LOG = 0x544C534B  # "TLSK": NSS key-log lines (pcapng §4.7)

_OPT_END = 0
_OPT_COMMENT = 1
_SHB_HARDWARE, _SHB_OS, _SHB_USERAPPL = 2, 3, 4
_IF_NAME, _IF_DESCRIPTION, _IF_TSRESOL = 2, 3, 9

_U32 = struct.Struct("<I")
_EPB_HEAD = struct.Struct("<IIIIIII")  # type, total length, interface, ts high, ts low, captured, original


class PcapngError(ValueError):
    """Bytes that are not the pcapng this module writes (a truncated block, an unknown byte order)."""


def _pad(n: int) -> int:
    return -n & 3


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * _pad(len(value))


def _options(options: list[tuple[int, bytes]]) -> bytes:
    if not options:
        return b""
    return b"".join(_option(code, value) for code, value in options) + struct.pack("<HH", _OPT_END, 0)


def _block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return _U32.pack(block_type) + _U32.pack(total) + body + _U32.pack(total)


def _text(options: list[tuple[int, bytes]], code: int, text: str | None) -> None:
    if text:
        options.append((code, text.encode("utf-8")))


def section_header(*, application: str = "", os: str = "", hardware: str = "", comment: str = "") -> bytes:
    """The Section Header Block that opens a file (section length unknown: -1)."""
    options: list[tuple[int, bytes]] = []
    _text(options, _OPT_COMMENT, comment)
    _text(options, _SHB_HARDWARE, hardware)
    _text(options, _SHB_OS, os)
    _text(options, _SHB_USERAPPL, application)
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(options)
    return _block(SHB_TYPE, body)


def interface_description(linktype: int = LINKTYPE_ETHERNET, *, snaplen: int = 262144, name: str = "",
                          description: str = "", tsresol: int = 9) -> bytes:
    """An Interface Description Block; ``tsresol`` 9 = timestamps in nanoseconds (6 = microseconds)."""
    options: list[tuple[int, bytes]] = []
    _text(options, _IF_NAME, name)
    _text(options, _IF_DESCRIPTION, description)
    options.append((_IF_TSRESOL, bytes([tsresol])))
    return _block(IDB_TYPE, struct.pack("<HHI", linktype, 0, snaplen) + _options(options))


def enhanced_packet(interface: int, timestamp: int, data: bytes | memoryview, original_length: int | None = None,
                    comment: str = "") -> bytes:
    """One frame: ``timestamp`` in the interface's resolution (nanoseconds since the epoch here)."""
    n = len(data)
    opts = _options([(_OPT_COMMENT, comment.encode("utf-8"))]) if comment else b""
    pad = _pad(n)
    total = 32 + n + pad + len(opts)
    head = _EPB_HEAD.pack(EPB_TYPE, total, interface, (timestamp >> 32) & 0xFFFFFFFF, timestamp & 0xFFFFFFFF, n,
                          n if original_length is None else original_length)
    return b"".join((head, bytes(data), b"\0" * pad, opts, _U32.pack(total)))


_TAILS = tuple(b"\0" * pad for pad in range(4))


def enhanced_packets(interface: int, frames: list[tuple[int, bytes]], offset: int = 0) -> bytes:
    """Many frames at once, as :func:`enhanced_packet` writes each (no comment): ``(timestamp, frame)`` pairs,
    ``offset`` added to every timestamp. One join for the batch — a capture's hot path."""
    parts: list[bytes] = []
    add = parts.append
    head, u32, tails = _EPB_HEAD.pack, _U32.pack, _TAILS
    for ts, data in frames:
        n = len(data)
        pad = -n & 3
        total = 32 + n + pad
        ts += offset
        add(head(EPB_TYPE, total, interface, (ts >> 32) & 0xFFFFFFFF, ts & 0xFFFFFFFF, n, n))
        add(data)
        add(tails[pad] + u32(total))
    return b"".join(parts)


def decryption_secrets(secrets: bytes, secrets_type: int = SECRETS_TLS_KEY_LOG) -> bytes:
    """A Decryption Secrets Block: ``secrets`` (e.g. NSS key-log lines) for the packets after it."""
    body = struct.pack("<II", secrets_type, len(secrets)) + secrets + b"\0" * _pad(len(secrets))
    return _block(DSB_TYPE, body)


# ---------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True, slots=True)
class Block:
    """One block as read back: its type and body (between the two length fields)."""

    type: int
    body: bytes

    @property
    def packet(self) -> tuple[int, int, bytes]:
        """An EPB's (interface, timestamp, captured bytes)."""
        if self.type != EPB_TYPE:
            raise PcapngError(f"block type {self.type:#x} is not an Enhanced Packet Block")
        interface, high, low, captured, _original = struct.unpack_from("<IIIII", self.body)
        return interface, (high << 32) | low, self.body[20:20 + captured]

    @property
    def secrets(self) -> tuple[int, bytes]:
        """A DSB's (secrets type, secrets)."""
        if self.type != DSB_TYPE:
            raise PcapngError(f"block type {self.type:#x} is not a Decryption Secrets Block")
        kind, length = struct.unpack_from("<II", self.body)
        return kind, self.body[8:8 + length]


def read_blocks(data: bytes) -> Iterator[Block]:
    """The blocks of a little-endian pcapng file, in order."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            raise PcapngError(f"truncated block at offset {pos}")
        block_type, total = struct.unpack_from("<II", data, pos)
        if block_type == SHB_TYPE and _U32.unpack_from(data, pos + 8)[0] != BYTE_ORDER_MAGIC:
            raise PcapngError("not a little-endian section")
        if total < 12 or total % 4 or pos + total > len(data):
            raise PcapngError(f"bad block length {total} at offset {pos}")
        if _U32.unpack_from(data, pos + total - 4)[0] != total:
            raise PcapngError(f"block at offset {pos}: trailing length differs")
        yield Block(block_type, data[pos + 8:pos + total - 4])
        pos += total

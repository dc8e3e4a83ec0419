"""HEP version 3 (the Homer Encapsulation Protocol of SIPCAPTURE / Homer), encoder: one SIP message as it was
sent or received, with its addresses, transport and time, for a capture server (Homer, Kamailio's sipcapture).

A packet is ``"HEP3"``, its total length (16 bits, big-endian), then chunks; a chunk is vendor id (0 = generic),
type, length (6-byte chunk header included) and value, all big-endian. The generic chunk types used here:

====  =====================  ===========================================
0x01  IP protocol family     2 = IPv4, 10 = IPv6
0x02  IP protocol id         17 = UDP, 6 = TCP (SIP over TCP and TLS)
0x03  IPv4 source address    (0x05 for IPv6)
0x04  IPv4 destination       (0x06 for IPv6)
0x07  source port
0x08  destination port
0x09  timestamp, seconds
0x0a  timestamp, microseconds
0x0b  protocol type          1 = SIP
0x0c  capture agent id
0x0e  authentication key     (only when one is set)
0x0f  payload                the SIP message as on the wire (TLS: in clear)
0x11  correlation id         the Call-ID, when known
====  =====================  ===========================================

Pure: :func:`encode` returns the datagram's bytes.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

__all__ = ["PROTO_SIP", "HepMessage", "encode"]

PROTO_SIP = 1
_FAMILY = {4: 2, 6: 10}
_IP_PROTO = {"UDP": 17, "TCP": 6, "TLS": 6}
_CHUNK = struct.Struct("!HHH")


@dataclass(frozen=True, slots=True)
class HepMessage:
    """One captured message: where it went, how, when, and its bytes."""

    src: tuple[str, int]
    dst: tuple[str, int]
    transport: str  # UDP | TCP | TLS
    time: float  # seconds since the epoch (the unit's clock)
    payload: bytes
    capture_id: int = 0
    correlation_id: str = ""
    auth_key: str = ""
    protocol: int = PROTO_SIP


def _chunk(kind: int, value: bytes) -> bytes:
    return _CHUNK.pack(0, kind, 6 + len(value)) + value


def encode(message: HepMessage) -> bytes:
    """The HEP3 datagram for ``message``. ValueError when the two addresses are not of one IP version or the
    packet would pass 65535 bytes."""
    src = ipaddress.ip_address(message.src[0].strip("[]"))
    dst = ipaddress.ip_address(message.dst[0].strip("[]"))
    if src.version != dst.version:
        raise ValueError(f"HEP: {src} and {dst} are not of one IP version")
    seconds = int(message.time)
    micros = min(999_999, round((message.time - seconds) * 1_000_000))
    v6 = src.version == 6
    chunks = [
        _chunk(0x01, bytes([_FAMILY[src.version]])),
        _chunk(0x02, bytes([_IP_PROTO.get(message.transport.upper(), 17)])),
        _chunk(0x05 if v6 else 0x03, src.packed),
        _chunk(0x06 if v6 else 0x04, dst.packed),
        _chunk(0x07, struct.pack("!H", message.src[1])),
        _chunk(0x08, struct.pack("!H", message.dst[1])),
        _chunk(0x09, struct.pack("!I", seconds & 0xFFFFFFFF)),
        _chunk(0x0A, struct.pack("!I", micros)),
        _chunk(0x0B, bytes([message.protocol])),
        _chunk(0x0C, struct.pack("!I", message.capture_id & 0xFFFFFFFF)),
    ]
    if message.auth_key:
        chunks.append(_chunk(0x0E, message.auth_key.encode("utf-8")))
    if message.correlation_id:
        chunks.append(_chunk(0x11, message.correlation_id.encode("utf-8")))
    chunks.append(_chunk(0x0F, message.payload))
    body = b"".join(chunks)
    total = 6 + len(body)
    if total > 0xFFFF:
        raise ValueError(f"HEP: a packet of {total} bytes is over 65535")
    return b"HEP3" + struct.pack("!H", total) + body

"""The few frame layouts a unit's packet capture reads and writes: Ethernet II (what a Linux packet socket gives on
loopback and Ethernet devices) carrying IPv4 or IPv6, and UDP inside.

* :func:`udp_of` reads a captured frame's UDP 4-tuple and payload (None for anything else: TCP, ARP, fragments);
* :func:`udp_frame` builds an Ethernet/IPv4/UDP frame (RFC 791 header checksum; UDP checksum 0, "none", which
  RFC 768 allows over IPv4) — the capture adds decrypted RTP beside the SRTP it saw this way.

Pure: bytes in, bytes out.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

__all__ = ["ETH_P_IP", "ETH_P_IPV6", "UdpDatagram", "ipv4_checksum", "udp_frame", "udp_of"]

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
_IPPROTO_UDP = 17
_ETH = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")


@dataclass(frozen=True, slots=True)
class UdpDatagram:
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def ipv4_checksum(header: bytes) -> int:
    """RFC 791 §3.1 / RFC 1071: ones' complement of the ones' complement sum of the 16-bit words."""
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_of(frame: bytes | memoryview) -> UdpDatagram | None:
    """The UDP datagram an Ethernet frame carries, or None (not UDP, a non-first fragment, truncated)."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == ETH_P_IP:
        if len(frame) < 34:
            return None
        ver_ihl = frame[14]
        ihl = (ver_ihl & 0x0F) * 4
        if ver_ihl >> 4 != 4 or ihl < 20 or frame[23] != _IPPROTO_UDP:
            return None
        if struct.unpack_from("!H", frame, 20)[0] & 0x1FFF:  # a later fragment: no UDP header in it
            return None
        total = struct.unpack_from("!H", frame, 16)[0]
        src = str(ipaddress.IPv4Address(bytes(frame[26:30])))
        dst = str(ipaddress.IPv4Address(bytes(frame[30:34])))
        start = 14 + ihl
        end = min(len(frame), 14 + total)
    elif ethertype == ETH_P_IPV6:
        if len(frame) < 62 or frame[20] != _IPPROTO_UDP:  # extension headers are not followed
            return None
        src = str(ipaddress.IPv6Address(bytes(frame[22:38])))
        dst = str(ipaddress.IPv6Address(bytes(frame[38:54])))
        start = 54
        end = min(len(frame), start + struct.unpack_from("!H", frame, 18)[0])
    else:
        return None
    if end - start < 8:
        return None
    sport, dport, length, _ = _UDP.unpack_from(frame, start)
    payload = bytes(frame[start + 8:min(end, start + length)])
    return UdpDatagram((src, sport), (dst, dport), payload)


def udp_frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes, *, ident: int = 0, ttl: int = 64) -> bytes:
    """An Ethernet II / IPv4 / UDP frame (zero MAC addresses, as on loopback)."""
    udp = _UDP.pack(src[1], dst[1], 8 + len(payload), 0) + payload
    head = _IPV4.pack(0x45, 0, 20 + len(udp), ident & 0xFFFF, 0x4000, ttl, _IPPROTO_UDP, 0,
                      ipaddress.IPv4Address(src[0]).packed, ipaddress.IPv4Address(dst[0]).packed)
    head = head[:10] + struct.pack("!H", ipv4_checksum(head)) + head[12:]
    return _ETH.pack(b"\0" * 6, b"\0" * 6, ETH_P_IP) + head + udp

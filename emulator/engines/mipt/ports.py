"""RTP port pairs of a unit's media streams (``Mipt.IpTransportRtpBasePort`` for plain streams,
``Mipt.IpTransportSrtpBasePort`` for secure ones): an even RTP port and the odd RTCP port above it
(RFC 3550 §11), bound on the unit's address."""

from __future__ import annotations

import errno
import socket

__all__ = ["PortAllocator"]


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

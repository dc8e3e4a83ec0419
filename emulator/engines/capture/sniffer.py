"""The capture's socket: a Linux packet socket (AF_PACKET, raw frames with their link header) on the device that
carries the unit's address, running the capture's BPF program (:mod:`~emulator.engines.capture.bpf`) in the kernel.

Why a packet socket rather than taps in each engine: the kernel gives every protocol of the unit — SIP over
UDP/TCP/TLS records, RTP/SRTP, RTCP, UDPTL, DNS, SNTP, syslog, TR-069, SNMP, the web — with its real IP/UDP/TCP
framing and no engine changes. It needs CAP_NET_RAW (root, or the capability given to the Python binary): without
it, opening fails with PermissionError and the capture ends in UndefinedFailure with a notification saying so
(an emulator choice, documented in docs/diagnostics.md).

Frames and their kernel timestamps (the host's real-time clock, nanoseconds; the capture adds the unit's clock
offset) come through the socket's receive ring (:mod:`~emulator.engines.capture.ring`: no system call per frame),
a block of frames at a time. Where the kernel refuses a ring, one ``recvmsg_into`` per frame with an SO_TIMESTAMPNS
control message, up to :data:`BATCH` frames per readiness callback. Either way the capture gets lists of frames
(it writes each list with one join), and keeps up however rarely a loaded event loop runs (measured with 200 SRTP
calls on a busy 2-core machine: every 50-100 ms, 10,000 frames/s). Closing reads what the kernel holds first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import socket
import struct
import time
from collections.abc import Callable

from emulator.engines.capture.bpf import Instruction, attach
from emulator.engines.capture.ring import RETIRE_MS, RxRing

__all__ = ["BATCH", "CaptureSocket", "OnFrames", "interface_of"]

BATCH = 4096
_FRAME_MAX = 65536 + 64  # the loopback MTU, its link header and some
_ETH_P_ALL = 0x0003
_SO_TIMESTAMPNS = 35
_SO_RCVBUFFORCE = 33
_SIOCGIFADDR = 0x8915
_RCVBUF = 8 << 20
_TIMESPEC = struct.Struct("qq")
_CMSG_SPACE = 64

OnFrames = Callable[[list[tuple[int, bytes]]], None]  # [(kernel time in ns since the epoch, frame)]


def interface_of(host: str) -> str | None:
    """The host's network device that carries ``host`` (every 127.0.0.0/8 address is on ``lo``), or None."""
    ip = ipaddress.ip_address(host.strip("[]"))
    if ip.is_loopback:
        return "lo"
    if ip.version != 4:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            try:
                raw = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            if socket.inet_ntoa(raw[20:24]) == str(ip):
                return name
    return None


class CaptureSocket:
    """A packet socket on ``interface`` with ``insns`` attached, calling ``on_frames([(ns, frame), ...])`` per
    batch of frames read."""

    def __init__(self, interface: str, insns: list[Instruction], on_frames: OnFrames) -> None:
        self.interface = interface
        self.on_frames = on_frames
        self._buf = bytearray(_FRAME_MAX)
        self._view = memoryview(self._buf)
        self.dropped_reads = 0
        # protocol 0: the socket receives nothing until bound to the device with ETH_P_ALL, after its filter is
        # attached — so no frame of another unit (or of the machine) is ever queued on it
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # PermissionError without CAP_NET_RAW
        self._ring: RxRing | None = None
        try:
            attach(sock, insns)
            try:
                self._ring = RxRing(sock)
            except OSError:  # no ring: frame by frame, with the timestamp as a control message
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF)
                except OSError:  # not allowed past rmem_max without CAP_NET_ADMIN: the default size will do
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.bind((interface, _ETH_P_ALL))
            sock.setblocking(False)
        except BaseException:
            if self._ring is not None:
                self._ring.close()
            sock.close()
            raise
        self._sock: socket.socket | None = sock
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        assert self._sock is not None
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._readable)

    @property
    def ring(self) -> bool:
        """Whether frames come through the receive ring."""
        return self._ring is not None

    @property
    def kernel_drops(self) -> int:
        """Frames the kernel dropped because the ring was full (0 without a ring: not counted)."""
        if self._ring is None or self._ring.map is None:
            return self._ring.drops if self._ring is not None else 0
        return self._ring.count_drops()

    def _readable(self) -> None:
        if self._ring is not None:
            self._ring.read(self.on_frames)
        else:
            self._read(BATCH)

    def _read(self, limit: int) -> int:
        """Read up to ``limit`` frames (fewer when the socket is empty) and hand them over; how many were read."""
        sock = self._sock
        if sock is None:
            return 0
        batch: list[tuple[int, bytes]] = []
        add = batch.append
        recv, view = sock.recvmsg_into, self._view
        buffers = [view]
        unpack = _TIMESPEC.unpack_from
        while len(batch) < limit:
            try:
                n, ancillary, _flags, _addr = recv(buffers, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.dropped_reads += 1
                break
            # the one control message asked for is SO_TIMESTAMPNS
            if ancillary:
                sec, nsec = unpack(ancillary[0][2])
                add((sec * 1_000_000_000 + nsec, view[:n].tobytes()))
            else:
                add((0, view[:n].tobytes()))
        if batch:
            self.on_frames(batch)
        return len(batch)

    def close(self) -> None:
        """Stop reading; the frames already queued are read first (nothing the kernel accepted is lost)."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(sock.fileno())
        self._sock = sock
        ring = self._ring
        if ring is not None:
            # the block being filled is handed over on the kernel's timer (one or two RETIRE_MS): when it holds
            # frames, wait for it (this blocks the loop that long, once per capture; bounded)
            ring.read(self.on_frames)
            deadline = time.monotonic() + 10 * RETIRE_MS / 1000
            while ring.pending() and time.monotonic() < deadline:
                time.sleep(0.002)
                ring.read(self.on_frames)
            if ring.map is not None:
                ring.count_drops()
            ring.close()
        else:
            for _ in range(64):  # bounded: another process flooding the address cannot keep this going
                if self._sock is None or self._read(BATCH) < BATCH:
                    break
        self._sock = None
        sock.close()

"""A packet socket's receive ring (Linux ``PACKET_RX_RING``, ``TPACKET_V3``): the kernel writes the frames the
socket's filter passes, each with its timestamp, into blocks of memory shared with the process, and hands a block
over when it is full or on a timer (:data:`RETIRE_MS`). Reading costs no system call and no ancillary
data per frame — measured on the project's machine, ``recvmsg_into`` with the SO_TIMESTAMPNS control message cost
3.7 µs a frame, about as much as a loaded event loop has for a whole media packet.

Layout (linux/if_packet.h): a block starts with ``tpacket_block_desc`` — version, offset to private data, then
``tpacket_hdr_v1``: block status (offset 8), number of frames (12), offset of the first frame (16). Each frame
starts with ``tpacket3_hdr``: offset of the next frame, seconds, nanoseconds, captured length, wire length, status,
then the offset of the link header (24). The process gives a block back by writing ``TP_STATUS_KERNEL`` (0) into
its status.
"""

from __future__ import annotations

import mmap
import socket
import struct
from collections.abc import Callable

__all__ = ["BLOCKS", "BLOCK_SIZE", "RETIRE_MS", "RxRing"]

SOL_PACKET = 263
_PACKET_RX_RING = 5
_PACKET_VERSION = 10
_PACKET_STATISTICS = 6
_TPACKET_V3 = 2
_TP_STATUS_KERNEL = 0
_TP_STATUS_USER = 1

BLOCK_SIZE = 1 << 17  # 128 KiB: a power of two pages, larger than any frame (loopback's 64 KiB included)
BLOCKS = 64  # 8 MiB in all (kernel memory, taken while a capture runs): the receive buffer it had without a ring
RETIRE_MS = 16  # a block with frames is handed over within about this long
# The kernel hands a block over on its timer even when the block is far from full, so the ring holds about
# BLOCKS * RETIRE_MS of traffic for a reader that does not come (1 s here; with 8 blocks of 8 ms, a loaded event
# loop, 50-100 ms between reads, lost frames), or 8 MiB of it when the traffic is heavy (25,000 media frames).
_FRAME_SIZE = 2048  # only for the kernel's bookkeeping (frames are packed, whatever their size)

_REQ3 = struct.Struct("IIIIIII")
_BLOCK_HDR = struct.Struct("<III")  # block status, number of frames, offset of the first frame (at offset 8)
_FRAME_HDR = struct.Struct("<IIIIIIH")  # next offset, sec, nsec, captured length, length, status, link offset
_STATUS = struct.Struct("<I")
_STATS = struct.Struct("III")  # tpacket_stats_v3: packets, drops, queue freezes


class RxRing:
    """The ring of one packet socket, set up before the socket is bound. OSError when the kernel refuses it."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setsockopt(SOL_PACKET, _PACKET_VERSION, _TPACKET_V3)
        req = _REQ3.pack(BLOCK_SIZE, BLOCKS, _FRAME_SIZE, BLOCK_SIZE * BLOCKS // _FRAME_SIZE, RETIRE_MS, 0, 0)
        sock.setsockopt(SOL_PACKET, _PACKET_RX_RING, req)
        self.sock = sock
        self.map: mmap.mmap | None = mmap.mmap(sock.fileno(), BLOCK_SIZE * BLOCKS, mmap.MAP_SHARED,
                                               mmap.PROT_READ | mmap.PROT_WRITE)
        self.block = 0  # the next block to read, in the kernel's order
        self.drops = 0

    def read(self, on_frames: Callable[[list[tuple[int, bytes]]], None], max_blocks: int = BLOCKS) -> int:
        """Hand over the frames of every block the kernel gave back (at most ``max_blocks``), one list per block;
        the blocks go back to the kernel. How many frames."""
        ring = self.map
        if ring is None:
            return 0
        total = 0
        block_hdr, frame_hdr, status = _BLOCK_HDR.unpack_from, _FRAME_HDR.unpack_from, _STATUS.pack_into
        for _ in range(max_blocks):
            base = self.block * BLOCK_SIZE
            state, count, offset = block_hdr(ring, base + 8)
            if not state & _TP_STATUS_USER:
                break
            frames: list[tuple[int, bytes]] = []
            add = frames.append
            at = base + offset
            for _ in range(count):
                nxt, sec, nsec, snap, _len, _st, mac = frame_hdr(ring, at)
                start = at + mac
                add((sec * 1_000_000_000 + nsec, ring[start:start + snap]))
                at += nxt
            status(ring, base + 8, _TP_STATUS_KERNEL)
            self.block = (self.block + 1) % BLOCKS
            total += count
            if frames:
                on_frames(frames)
            if self.map is None:  # closed from on_frames (a limit was reached)
                break
        return total

    def pending(self) -> int:
        """Frames already in the block the kernel is filling (not handed over yet): 0 when there are none."""
        if self.map is None:
            return 0
        state, count, _offset = _BLOCK_HDR.unpack_from(self.map, self.block * BLOCK_SIZE + 8)
        return count if not state & _TP_STATUS_USER else 0

    def count_drops(self) -> int:
        """Frames the kernel could not put in the ring since the last call (the ring was full), added up."""
        packets, drops, _freezes = _STATS.unpack(self.sock.getsockopt(SOL_PACKET, _PACKET_STATISTICS, _STATS.size))
        del packets
        self.drops += drops
        return self.drops

    def close(self) -> None:
        ring, self.map = self.map, None
        if ring is not None:
            ring.close()

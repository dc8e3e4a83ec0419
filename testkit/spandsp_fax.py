"""Fax peers for the tests: TIFF-F pages made and compared with libtiff's tools (Debian ``libtiff-tools``), and an
independent T.38 terminal — libspandsp's own, driven through ctypes here (not through the emulator's binding) with
a UDPTL framing of its own — that sends or receives a page over UDP.

:class:`T38Peer` is one end of a T.38 session: bind it, tell it the unit's UDPTL address (from the SDP), then
:meth:`T38Peer.run` it until its T.30 result arrives. It sends its UDPTL packets with one redundant IFP and reads
the unit's, using the secondary IFPs to fill gaps.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["FaxSipPeer", "T38Peer", "make_page", "make_pdf", "same_page", "sdp_image"]

_TX = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int,
                       ctypes.c_int)
_DONE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is missing: install the Debian package libtiff-tools")
    return path


def make_page(path: Path, *, stripes: int = 20, height: int = 400) -> Path:
    """A one-page TIFF-F file (1728 pixels wide, 204x196 dpi, G3): a check pattern of `stripes`-line bands."""
    width = 1728
    rows = []
    for y in range(height):
        rows.append(bytes(0xF0 if (y // stripes + x // 10) % 2 == 0 and 40 < y < height - 40 else 0
                          for x in range(width // 8)))
    pbm = path.with_suffix(".pbm")
    pbm.write_bytes(b"P4\n%d %d\n" % (width, height) + b"".join(rows))
    subprocess.run([_tool("ppm2tiff"), "-c", "g3", "-R", "204", str(pbm), str(path)], check=True)
    subprocess.run([_tool("tiffset"), "-s", "283", "196", str(path)], check=True)  # YResolution: fine mode
    subprocess.run([_tool("tiffset"), "-s", "296", "2", str(path)], check=True)  # ResolutionUnit: inch
    pbm.unlink()
    return path


def make_pdf(path: Path) -> Path:
    """A one-page A4 PDF (a 150 dpi raster made with Pillow): white paper with black bars across, 30 px high every
    80 px from y = 100."""
    from PIL import Image, ImageDraw

    page = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(page)
    for y in range(100, 1600, 80):
        draw.rectangle((100, y, 1100, y + 30), fill=0)
    page.save(path, resolution=150)
    return path


def same_page(a: Path, b: Path) -> bool:
    """Do the two TIFF files hold the same pixels? (``tiffcmp -t``: the decoded image data, tags aside.)"""
    done = subprocess.run([_tool("tiffcmp"), "-t", str(a), str(b)], capture_output=True, check=False)
    return done.returncode == 0


def sdp_image(sdp: bytes) -> tuple[str, int] | None:
    """The address and port of the ``m=image`` stream of an SDP body (None: none active)."""
    host, port = "", 0
    for line in sdp.decode(errors="replace").splitlines():
        if line.startswith("c=IN IP4 "):
            host = line.split()[2]
        elif line.startswith("m=image "):
            port = int(line.split()[1])
    return (host, port) if host and port else None


class _Spandsp:
    def __init__(self) -> None:
        lib = ctypes.CDLL(ctypes.util.find_library("spandsp") or "libspandsp.so.2")
        p, i = ctypes.c_void_p, ctypes.c_int
        for name, res, args in (
            ("t38_terminal_init", p, [p, i, _TX, p]), ("t38_terminal_free", i, [p]),
            ("t38_terminal_get_t30_state", p, [p]), ("t38_terminal_get_t38_core_state", p, [p]),
            ("t38_terminal_send_timeout", i, [p, i]), ("t38_core_rx_ifp_packet", i, [p, ctypes.c_char_p, i,
                                                                                   ctypes.c_uint16]),
            ("t30_set_tx_file", None, [p, ctypes.c_char_p, i, i]), ("t30_set_rx_file", None, [p, ctypes.c_char_p, i]),
            ("t30_set_phase_e_handler", None, [p, _DONE, p]),
        ):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        self.lib = lib


def _per_length(n: int) -> bytes:
    return bytes((n,)) if n < 128 else bytes((0x80 | n >> 8, n & 0xFF))


class T38Peer:
    """An independent T.38 fax terminal on `host` (see the module docstring)."""

    def __init__(self, host: str, *, send: Path | None = None, receive: Path | None = None) -> None:
        self.spandsp = _Spandsp().lib
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.remote: tuple[str, int] | None = None
        self.result: int | None = None
        self.seq = 0
        self.last: bytes = b""
        self.received = 0
        self.next_in: int | None = None
        self._tx = _TX(self._on_tx)
        self._done = _DONE(self._on_done)
        self.term = self.spandsp.t38_terminal_init(None, 1 if send else 0, self._tx, None)
        t30 = self.spandsp.t38_terminal_get_t30_state(self.term)
        self.core = self.spandsp.t38_terminal_get_t38_core_state(self.term)
        self.spandsp.t30_set_phase_e_handler(t30, self._done, None)
        if send is not None:
            self.spandsp.t30_set_tx_file(t30, str(send).encode(), -1, -1)
        if receive is not None:
            self.spandsp.t30_set_rx_file(t30, str(receive).encode(), -1)

    def _on_done(self, t30: Any, user: Any, code: int) -> None:
        self.result = code

    def _on_tx(self, core: Any, user: Any, buf: Any, length: int, count: int) -> int:
        ifp = ctypes.string_at(buf, length)
        packet = bytes((self.seq >> 8 & 0xFF, self.seq & 0xFF)) + _per_length(len(ifp)) + ifp + b"\x00"
        packet += b"\x01" + _per_length(len(self.last)) + self.last if self.last else b"\x00"
        self.last, self.seq = ifp, (self.seq + 1) & 0xFFFF
        if self.remote is not None:
            for _ in range(max(1, count)):
                self.sock.sendto(packet, self.remote)
        return 0

    def _datagram(self, data: bytes) -> None:
        """Our own reading of a UDPTL packet: the primary IFP, and the first secondary to fill a gap of one."""
        seq = data[0] << 8 | data[1]
        pos = 2
        n = data[pos]
        if n & 0x80:
            n, pos = (n & 0x3F) << 8 | data[pos + 1], pos + 1
        primary = data[pos + 1 : pos + 1 + n]
        pos += 1 + n
        secondary = b""
        if pos < len(data) and data[pos] == 0 and pos + 1 < len(data) and data[pos + 1] > 0:
            m = data[pos + 2]
            secondary = data[pos + 3 : pos + 3 + m] if not m & 0x80 else b""
        if self.next_in is not None and (seq - self.next_in) & 0xFFFF > 1000:
            return  # a duplicate or an old packet
        if self.next_in is not None and seq == (self.next_in + 1) & 0xFFFF and secondary:
            self.spandsp.t38_core_rx_ifp_packet(self.core, secondary, len(secondary), self.next_in)
        self.spandsp.t38_core_rx_ifp_packet(self.core, primary, len(primary), seq)
        self.next_in = (seq + 1) & 0xFFFF
        self.received += 1

    async def run(self, timeout: float = 120.0) -> int:
        """Exchange packets until the T.30 result (returned: 0 is success) or `timeout` seconds."""
        last = time.monotonic()
        end = last + timeout
        while self.result is None and time.monotonic() < end:
            await asyncio.sleep(0.02)
            while True:
                try:
                    data, _ = self.sock.recvfrom(2048)
                except BlockingIOError:
                    break
                try:
                    self._datagram(data)
                except IndexError:
                    continue
            now = time.monotonic()
            self.spandsp.t38_terminal_send_timeout(self.term, int((now - last) * 8000))
            last += int((now - last) * 8000) / 8000
        return -1 if self.result is None else self.result

    def close(self) -> None:
        if self.term:
            self.spandsp.t38_terminal_free(self.term)
            self.term = None
        self.sock.close()


def _headers(head: str) -> tuple[str, list[tuple[str, str]]]:
    lines = head.split("\r\n")
    out = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        out.append((name.strip().lower(), value.strip()))
    return lines[0], out


class FaxSipPeer(asyncio.DatagramProtocol):
    """A small SIP user agent over UDP in front of a :class:`T38Peer`: the unit's registrar and proxy (it answers
    REGISTER 200), the called party of the unit's calls (INVITE answered 200 at once with G.711), and the T.38 end
    of the call: it takes the unit's re-INVITE to ``m=image`` (or refuses it with ``refuse``), or sends one itself
    (:meth:`switch_to_t38`)."""

    def __init__(self, t38: T38Peer, host: str = "127.0.0.1", refuse: int | None = None) -> None:
        self.t38 = t38
        self.host = host
        self.refuse = refuse
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.requests: list[tuple[str, str]] = []  # (method, body) of every request received
        self.dialog: dict[str, str] = {}
        self.version = 1
        self.cseq = 100
        self._waiting: asyncio.Future[tuple[int, str]] | None = None

    async def start(self) -> FaxSipPeer:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, 0))
        self.port = self.transport.get_extra_info("sockname")[1]
        return self

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _sdp(self, image: bool) -> str:
        self.version += 1
        media = (f"m=image {self.t38.port} udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\n"
                 "a=T38FaxRateManagement:transferredTCF\r\na=T38FaxMaxDatagram:400\r\na=T38FaxUdpEC:t38UDPRedundancy\r\n"
                 if image else f"m=audio {self.t38.port + 1} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
        return (f"v=0\r\no=- 7 {self.version} IN IP4 {self.host}\r\ns=-\r\nc=IN IP4 {self.host}\r\nt=0 0\r\n"
                + media)

    def _send(self, text: str, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(text.encode(), addr)

    def _respond(self, headers: list[tuple[str, str]], status: str, addr: tuple[str, int], body: str = "") -> None:
        keep = [f"{n.title()}: {v}" for n, v in headers if n in ("via", "from", "call-id", "cseq")]
        to = next(v for n, v in headers if n == "to")
        if ";tag=" not in to:
            to += ";tag=faxpeer"
        lines = [f"SIP/2.0 {status}", *keep, f"To: {to}", f"Contact: <sip:fax@{self.address}>"]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        self._send("\r\n".join(lines) + "\r\n\r\n" + body, addr)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head, _, body_bytes = data.partition(b"\r\n\r\n")
        first, headers = _headers(head.decode(errors="replace"))
        body = body_bytes.decode(errors="replace")
        if first.startswith("SIP/2.0 "):
            if self._waiting is not None and not self._waiting.done() and int(first.split()[1]) >= 200:
                self._waiting.set_result((int(first.split()[1]), body))
            return
        method = first.split()[0]
        self.requests.append((method, body))
        get = dict(headers)
        if method == "REGISTER":
            self._respond(headers, "200 OK", addr)
        elif method == "INVITE":
            image = sdp_image(body_bytes)
            if ";tag=" not in get.get("to", ""):  # a new call: keep what our requests in its dialog need
                contact = get.get("contact", "").strip("<>").split(">")[0]
                self.dialog = {"from": get.get("to", "") + ";tag=faxpeer", "to": get.get("from", ""),
                               "call-id": get.get("call-id", ""), "target": contact.split("@")[-1].split(";")[0]}
            if image is not None and self.refuse is not None:
                self._respond(headers, f"{self.refuse} Not Acceptable Here", addr)
                return
            if image is not None:
                self.t38.remote = image
            self._respond(headers, "200 OK", addr, self._sdp(image is not None))
        elif method in ("BYE", "CANCEL", "OPTIONS", "INFO"):
            self._respond(headers, "200 OK", addr)

    async def switch_to_t38(self, extra: str = "") -> int:
        """Send a re-INVITE offering our image stream in the call (with `extra` lines after ours); the status of its
        answer (2xx: T.38 runs)."""
        return await self.reinvite(self._sdp(True) + extra)

    async def reinvite(self, body: str) -> int:
        """Send a re-INVITE with `body` as its SDP; the status of its answer (the ACK sent for a 2xx)."""
        host, _, port = self.dialog["target"].partition(":")
        target = (host, int(port or 5060))
        self.cseq += 1
        common = [f"Via: SIP/2.0/UDP {self.address};branch=z9hG4bKfax{self.cseq};rport", "Max-Forwards: 70",
                  f"From: {self.dialog['from']}", f"To: {self.dialog['to']}", f"Call-ID: {self.dialog['call-id']}"]
        invite = [f"INVITE sip:{self.dialog['target']} SIP/2.0", *common, f"CSeq: {self.cseq} INVITE",
                  f"Contact: <sip:fax@{self.address}>", "Content-Type: application/sdp",
                  f"Content-Length: {len(body.encode())}"]
        self._waiting = asyncio.get_running_loop().create_future()
        self._send("\r\n".join(invite) + "\r\n\r\n" + body, target)
        status, answer = await asyncio.wait_for(self._waiting, 10)
        if 200 <= status < 300:
            ack = [f"ACK sip:{self.dialog['target']} SIP/2.0", *common, f"CSeq: {self.cseq} ACK", "Content-Length: 0"]
            self._send("\r\n".join(ack).replace("z9hG4bKfax", "z9hG4bKack") + "\r\n\r\n", target)
            self.t38.remote = sdp_image(answer.encode())
        return status

"""SRTP keys of the unit's calls, as the packet capture exports them and uses them (emulator additions, off by
default: ``Nlm.PCaptureSrtpKeysEnable``, ``Nlm.PCaptureSrtpDecryptedEnable``).

The media engine tells the capture each time a stream is keyed or rekeyed (SDES or MIKEY alike: what the stream
really protects and unprotects with); the capture keeps one :class:`StreamKey` per direction and protocol (RTP,
RTCP), by the 4-tuple the packets carry.

* **Export** (:func:`export_text`): one line per direction, then the command lines of two independent decoders —
  libsrtp's ``rtp_decoder`` (``-s <suite> -b <base64 key||salt> -f <pcap filter>``) and GStreamer's ``srtpdec``
  (its caps) — so a capture and its key file decode without the emulator. The key is the SDES ``inline:`` form
  (RFC 4568 §6.1: base64 of master key || master salt), which MIKEY-keyed streams also get.
* **Decryption** (:class:`Decryptor`): the capture adds each SRTP/SRTCP packet it saw, decrypted, beside it (on a
  second pcapng interface) — libsrtp through :mod:`emulator.protocols.media.srtp`, one receiving context per
  direction, starting at the rollover counter the stream had when the capture learnt its key.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from emulator.protocols.keying.suites import SrtpSuite
from emulator.protocols.media.srtp import SrtpContext, SrtpError
from emulator.protocols.netframe import UdpDatagram

__all__ = ["Decryptor", "KeyBook", "KeySource", "StreamKey", "export_text", "keys_of_stream"]

Addr = tuple[str, int]


class KeySource(Protocol):
    """The media engine as the capture sees it (:class:`~emulator.engines.mipt.engine.MediaEngine`)."""

    host: str
    streams: Any  # the open streams (MediaStream: port, rtcp_port, remote, remote_rtcp, srtp, key_management)
    key_listeners: list[Any]  # called with a stream each time it is keyed


@dataclass(frozen=True, slots=True)
class StreamKey:
    """The key of one direction of one stream, as the packets it protects are addressed."""

    src: Addr
    dst: Addr
    rtcp: bool
    suite: SrtpSuite
    master: bytes = field(repr=False)
    roc: int = 0
    ssrc: int | None = None
    key_management: str = "sdes"

    @property
    def inline(self) -> str:
        return base64.b64encode(self.master).decode("ascii")

    @property
    def pcap_filter(self) -> str:
        return (f"udp and src host {self.src[0]} and src port {self.src[1]} and dst host {self.dst[0]} "
                f"and dst port {self.dst[1]}")


def keys_of_stream(host: str, stream: Any) -> list[StreamKey]:
    """The keys of one keyed media stream: what we send (our key) and what the peer sends (its key), for RTP and
    RTCP. Nothing for a plain stream or one without a peer yet."""
    srtp = getattr(stream, "srtp", None)
    remote = getattr(stream, "remote", None)
    if srtp is None or remote is None:
        return []
    km = str(getattr(stream, "key_management", None) or "sdes").lower()
    local, local_rtcp = (host, int(stream.port)), (host, int(stream.rtcp_port))
    remote_rtcp = getattr(stream, "remote_rtcp", None) or (remote[0], remote[1] + 1)
    tx, rx = srtp.tx, srtp.rx
    ssrc = getattr(getattr(stream, "sender", None), "ssrc", None)
    out = [
        StreamKey(local, tuple(remote), False, tx.suite, tx.master, tx.roc, ssrc, km),
        StreamKey(tuple(remote), local, False, rx.suite, rx.master, rx.roc, None, km),
        StreamKey(local_rtcp, tuple(remote_rtcp), True, tx.suite, tx.master, 0, ssrc, km),
        StreamKey(tuple(remote_rtcp), local_rtcp, True, rx.suite, rx.master, 0, None, km),
    ]
    return out


class KeyBook:
    """Every key learnt during one capture, by (source, destination); a rekeyed direction keeps its older keys
    (packets under the old key may still be in the capture)."""

    def __init__(self) -> None:
        self.keys: dict[tuple[Addr, Addr], list[StreamKey]] = {}

    def add(self, keys: Iterable[StreamKey]) -> None:
        for k in keys:
            known = self.keys.setdefault((k.src, k.dst), [])
            if all(k.master != old.master for old in known):
                known.append(k)

    def __len__(self) -> int:
        return sum(len(v) for v in self.keys.values())

    def all(self) -> list[StreamKey]:
        return [k for keys in self.keys.values() for k in keys]


def export_text(book: KeyBook, capture_name: str = "capture.pcapng") -> str:
    """The key file: a header, one line per key, then each RTP key's decoder command lines."""
    lines = [
        "# SRTP keys of the streams in " + capture_name + " (dgw-emulator; one line per direction)",
        "# source -> destination protocol suite inline:<base64 master key||salt> roc=<rollover counter at the "
        "capture> ssrc=<ssrc|any> km=<sdes|mikey>",
    ]
    keys = book.all()
    for k in keys:
        ssrc = f"{k.ssrc:#010x}" if k.ssrc is not None else "any"
        lines.append(f"{k.src[0]}:{k.src[1]} -> {k.dst[0]}:{k.dst[1]} {'RTCP' if k.rtcp else 'RTP'} "
                     f"{k.suite.value} inline:{k.inline} roc={k.roc} ssrc={ssrc} km={k.key_management}")
    for k in keys:
        if k.rtcp:
            continue
        lines.append(f"# libsrtp: rtp_decoder -s {k.suite.value} -b {k.inline} -f '{k.pcap_filter}' "
                     f"< {capture_name}")
        auth = "hmac-sha1-80" if k.suite is SrtpSuite.AES_CM_128_HMAC_SHA1_80 else "hmac-sha1-32"
        ssrc = f"ssrc=(uint){k.ssrc}," if k.ssrc is not None else ""
        # pcapparse reads pcap (not pcapng); the identity element matters: srtpdec straight behind pcapparse
        # let some packets through still encrypted and garbled others (GStreamer 1.22)
        lines.append(f"# GStreamer: gst-launch-1.0 filesrc location=<capture as pcap> ! pcapparse src-ip={k.src[0]} "
                     f"src-port={k.src[1]} dst-ip={k.dst[0]} dst-port={k.dst[1]} ! 'application/x-srtp,{ssrc}"
                     f"srtp-key=(buffer){k.master.hex()},srtp-cipher=(string)aes-128-icm,srtp-auth=(string){auth},"
                     f"srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80,roc=(uint){k.roc}' "
                     "! identity ! srtpdec ! <depayloader of the stream's codec> ! filesink location=<file>")
    return "\n".join(lines) + "\n"


class Decryptor:
    """SRTP/SRTCP packets of a capture, decrypted with the keys of a :class:`KeyBook`."""

    def __init__(self, book: KeyBook) -> None:
        self.book = book
        self._contexts: dict[tuple[Addr, Addr, bytes], SrtpContext] = {}
        self.decrypted = 0
        self.failed = 0

    def decrypt(self, datagram: UdpDatagram) -> bytes | None:
        """The clear packet, or None (not a stream we hold a key for, or no key of it authenticates it)."""
        keys = self.book.keys.get((datagram.src, datagram.dst))
        if not keys:
            return None
        for k in reversed(keys):  # the newest key first
            ctx = self._context(k)
            try:
                clear = ctx.unprotect_rtcp(datagram.payload) if k.rtcp else ctx.unprotect(datagram.payload)
            except (SrtpError, ValueError):
                continue
            self.decrypted += 1
            return clear
        self.failed += 1
        return None

    def _context(self, k: StreamKey) -> SrtpContext:
        key = (k.src, k.dst, k.master)
        ctx = self._contexts.get(key)
        if ctx is None:
            # a receiving context, as the far end would hold: the sender's ROC when the key was learnt
            ctx = self._contexts[key] = SrtpContext(k.suite, k.master, outbound=False, roc=k.roc,
                                                    ssrc=k.ssrc if k.roc else None)
        return ctx

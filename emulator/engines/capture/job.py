"""The Nlm service's packet capture (MX-NLM-MIB ``PCapture*``): start on command, stop on command or at a limit,
write pcapng, upload it to ``Nlm.PCaptureFileUrl``.

* **Start** (``Nlm.StartPCapture``, every face): the URL (empty: ``UrlFailure``; macros ``%mac%`` ``%date%``
  ``%time%`` — the capture's start in the unit's local time, ``YYYYMMDD`` and ``hhmmss``), the link
  (``PCaptureLinkName``; empty: the device that carries the unit's address — an emulator choice; an unknown
  device: ``LinkFailure``), the filter (``PCaptureFilter``, pcap-filter(7) compiled by libpcap: ``FilterFailure``),
  then the packet socket (:mod:`~emulator.engines.capture.sniffer`: no CAP_NET_RAW → ``UndefinedFailure`` and Nlm
  9007). ``PCaptureState`` is ``Requested`` while it runs; it is ``None`` again whenever Nlm starts.
* **What is captured**: every frame the unit's address sends or receives on that device that passes the filter,
  with the kernel's timestamp shifted by the unit's clock offset (so a lab's skewed unit shows its own time).
* **Stop**: ``Nlm.StopPCapture``, ``PCaptureNbFrames`` frames, ``PCaptureNbSecs`` seconds (0: no limit), or
  :data:`MAX_BYTES` of capture (the rest is not kept: ``SizeLimitFailure`` after the part is saved).
* **The file** (pcapng, :mod:`emulator.protocols.pcapng`): a section header, the device's interface, with
  ``Nlm.PCaptureTlsSecretsEnable`` a Decryption Secrets Block holding the unit's TLS key log (needs
  ``Cert.TlsKeyLogEnable``), the frames, and with ``Nlm.PCaptureSrtpDecryptedEnable`` each SRTP/SRTCP packet
  decrypted beside it on a second interface. With ``Nlm.PCaptureSrtpKeysEnable`` a key file
  (:func:`~emulator.engines.capture.keys.export_text`) goes beside the capture (``<name>.srtp-keys.txt``).
* **Upload**: HTTP/HTTPS ``PUT`` (the method is not documented: an emulator choice) through the Nlm TLS policy
  (``PCaptureTransfer*``, the Cert store, the unit's clock), or ``file://`` into the unit's File storage. The file
  is written to ``<state dir>/pcapture/`` first and removed once uploaded: a refused upload keeps it, and
  ``Nlm.UploadPCapture`` sends the kept file again (to the URL configured then). Refusals map to
  ``AuthenticationFailure``, ``HostUnreachableFailure``, ``TlsCertificateFailure`` (with the Cert notification
  naming the reason) or ``UndefinedFailure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from emulator.engines.capture.bpf import FilterError, LibpcapMissing, program
from emulator.engines.capture.keys import Decryptor, KeyBook, KeySource, export_text, keys_of_stream
from emulator.engines.capture.sniffer import CaptureSocket, interface_of
from emulator.engines.cert.tls import tls_policy
from emulator.engines.conf.transfer import Transferer, TransferError
from emulator.engines.conf.url import Target, UrlError, expand, parse_url
from emulator.protocols import pcapng
from emulator.protocols.netframe import udp_frame, udp_of
from firmware_model.config import ConfigError

__all__ = ["COMMANDS", "MAX_BYTES", "PacketCapture"]

MAX_BYTES = 64 * 1024 * 1024  # the largest capture kept (the largest file a unit transfers)
STATE = "Nlm.PCaptureState"
COMMANDS = ("Nlm.StartPCapture", "Nlm.StopPCapture", "Nlm.UploadPCapture")
_FAILURE_OF_TRANSFER = {
    "auth": "AuthenticationFailure",
    "unreachable": "HostUnreachableFailure",
    "refused": "HostUnreachableFailure",
    "tls": "TlsCertificateFailure",
    "too-large": "SizeLimitFailure",
    "local": "UrlFailure",
    "not-found": "UndefinedFailure",
}


@dataclass(slots=True)
class _Kept:
    """A capture file waiting for its upload: where it is, when its capture started (the URL's macros)."""

    path: Path
    started: float
    keys: KeyBook | None = None  # the SRTP keys to export beside it (Nlm.PCaptureSrtpKeysEnable)


class PacketCapture:
    """One unit's packet capture job (see the module docstring). Owned by the Nlm engine."""

    def __init__(self, unit: Any, *, media: KeySource | None = None) -> None:
        self.unit = unit
        self.config = unit.config
        self.media = media  # set by the composition: the SRTP keys' source
        self.state = "None"
        self.frames = 0
        self.size = 0
        self.kernel_drops = 0  # frames the kernel could not queue for the last capture (its reader was behind)
        self.reason = ""  # why the last capture failed ("" when it did not)
        self.interface = ""
        self.kept: _Kept | None = None
        self.dir = Path(unit.state_dir) / "pcapture"
        self._sock: CaptureSocket | None = None
        self._out: BinaryIO | None = None
        self._started = 0.0
        self._offset_ns = 0
        self._limit = 0
        self._timer: asyncio.TimerHandle | None = None
        self._job: asyncio.Task[str] | None = None
        self._book = KeyBook()
        self._end = ""  # why the running capture ended
        self._full = False  # the size limit was reached: nothing more is written
        self.config.provide(STATE, lambda: self.state)

    # ------------------------------------------------------------------ lifecycle (the Nlm service)
    def reset(self) -> None:
        """Nlm started: the state goes back to None (MX-NLM-MIB)."""
        self.state = "None"

    async def shutdown(self) -> None:
        """Nlm stops: a running capture ends, its file is kept (no upload); an upload in progress is cancelled."""
        if self._sock is not None:
            self._close("service stopped")
            with contextlib.suppress(Exception):
                self._assemble(self._kept_path())
        if self._job is not None and not self._job.done():
            self._job.cancel()
            with contextlib.suppress(BaseException):
                await self._job

    @property
    def running(self) -> bool:
        return self._sock is not None

    @property
    def job(self) -> asyncio.Task[str] | None:
        """The last save-and-upload (or upload) task; its result is the state it ended in."""
        return self._job

    def commands(self) -> dict[str, Callable[[], Any]]:
        return {"Nlm.StartPCapture": self.start, "Nlm.StopPCapture": self.stop, "Nlm.UploadPCapture": self.upload}

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """``Nlm.StartPCapture``; the outcome is ``PCaptureState`` (a capture in progress is refused)."""
        if self.running or (self._job is not None and not self._job.done()):
            raise ConfigError("invalid", "Nlm.StartPCapture", "Nlm.StartPCapture: a packet capture is in progress")
        self.frames = self.size = self.kernel_drops = 0
        self.reason = ""
        self._full = False
        self._started = self.unit.clock.now()
        url = self.config.get_text("Nlm.PCaptureFileUrl").strip()
        if not url:
            return self._failed("UrlFailure", "Nlm.PCaptureFileUrl is empty")
        try:
            self._target(url, self._started)
        except UrlError as e:
            return self._failed("UrlFailure", str(e))
        link = self.config.get_text("Nlm.PCaptureLinkName").strip()
        interface = interface_of(self.unit.host) if not link else link
        if interface is None or interface not in {name for _, name in socket.if_nameindex()}:
            return self._failed("LinkFailure", f"no link {link or 'carries ' + self.unit.host}")
        try:
            insns = program(self.unit.host, self.config.get_text("Nlm.PCaptureFilter"), loopback=interface == "lo")
        except FilterError as e:
            return self._failed("FilterFailure", f"Nlm.PCaptureFilter: {e}")
        except LibpcapMissing as e:
            return self._failed("UndefinedFailure", str(e))
        try:
            sock = CaptureSocket(interface, insns, self._frames)
        except PermissionError:
            self.unit.notify("Nlm", 9007)
            return self._failed("UndefinedFailure", "a packet socket needs CAP_NET_RAW")
        except OSError as e:
            return self._failed("LinkFailure", f"{interface}: {e.strerror or e}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._out = open(self.dir / "frames.tmp", "wb", buffering=1 << 20)
        self._sock = sock
        self.interface = interface
        self._offset_ns = int(self.unit.clock.offset * 1_000_000_000)
        self._limit = int(self.config.get("Nlm.PCaptureNbFrames") or 0)
        self._book = KeyBook()
        if self.media is not None and self._wants_keys():
            self.media.key_listeners.append(self._keyed)
            for stream in list(self.media.streams):
                self._keyed(stream)
        sock.start()
        seconds = int(self.config.get("Nlm.PCaptureNbSecs") or 0)
        if seconds:
            self._timer = asyncio.get_running_loop().call_later(seconds, self._finish, "time limit")
        self.state = "Requested"
        self.unit.notify("Nlm", 9002, interface=interface, filter=self.config.get_text("Nlm.PCaptureFilter") or "none")

    def _wants_keys(self) -> bool:
        return "Enable" in (self.config.get_text("Nlm.PCaptureSrtpKeysEnable"),
                            self.config.get_text("Nlm.PCaptureSrtpDecryptedEnable"))

    def _keyed(self, stream: Any) -> None:
        if self.media is not None:
            self._book.add(keys_of_stream(self.media.host, stream))

    def _failed(self, state: str, reason: str) -> None:
        self.state = state
        self.reason = reason
        self.unit.log.warning("pcapture_failed", state=state, reason=reason)
        self.unit.notify("Nlm", 9005, state=state, reason=reason)

    # ------------------------------------------------------------------ frames (the hot path)
    def _frames(self, batch: list[tuple[int, bytes]]) -> None:
        """A batch of frames read: written as one string of pcapng blocks, up to the frame and size limits."""
        out = self._out
        if out is None or self._full:
            return
        if self._limit:
            room = self._limit - self.frames
            if room <= 0:  # the limit was reached: the frames the socket still held are not kept
                return
            if len(batch) > room:
                batch = batch[:room]
        blocks = pcapng.enhanced_packets(0, batch, self._offset_ns)
        if self.size + len(blocks) > MAX_BYTES:
            self._full = True
            for ns, data in batch:  # keep what fits, frame by frame (once per capture)
                block = pcapng.enhanced_packet(0, ns + self._offset_ns, data)
                if self.size + len(block) > MAX_BYTES:
                    break
                out.write(block)
                self.size += len(block)
                self.frames += 1
            self._finish("size limit")
            return
        out.write(blocks)
        self.size += len(blocks)
        self.frames += len(batch)
        if self.frames == self._limit:
            self._finish("frame limit")

    # ------------------------------------------------------------------ stop, assemble, upload
    def stop(self) -> asyncio.Task[str] | None:
        """``Nlm.StopPCapture``: the capture ends and its upload starts (the task ends with the state)."""
        if not self.running:
            raise ConfigError("invalid", "Nlm.StopPCapture", "Nlm.StopPCapture: no packet capture is in progress")
        return self._finish("command")

    def _close(self, why: str) -> None:
        self._end = why
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()  # reads what the kernel still holds
            self.kernel_drops = sock.kernel_drops
        if self.media is not None and self._keyed in self.media.key_listeners:
            self.media.key_listeners.remove(self._keyed)
        out, self._out = self._out, None
        if out is not None:
            out.close()

    def _finish(self, why: str) -> asyncio.Task[str] | None:
        if self._sock is None:
            return self._job
        self._close(why)
        self.unit.notify("Nlm", 9003, reason=why, frames=self.frames)
        if self.kernel_drops:  # the reader fell more than the ring's worth behind (a stalled process)
            self.unit.log.warning("pcapture_frames_dropped", frames=self.frames, dropped=self.kernel_drops)
        started = self._started
        self._job = asyncio.get_running_loop().create_task(self._save_and_upload(started, why))
        return self._job

    def _kept_path(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self._started))
        return self.dir / f"capture-{stamp}.pcapng"

    async def _save_and_upload(self, started: float, why: str) -> str:
        path = self._kept_path()
        keys = await asyncio.to_thread(self._assemble, path)
        self.kept = _Kept(path, started, keys)
        state = await self._upload(self.kept)
        if why == "size limit" and state == "Completed":
            state = "SizeLimitFailure"
            self.reason = f"the capture reached {MAX_BYTES} bytes; what came after was not kept"
        self.state = state
        return state

    def _assemble(self, path: Path) -> KeyBook | None:
        """Write the pcapng file (headers, secrets, the frames, decrypted SRTP); returns the keys to export."""
        frames = self.dir / "frames.tmp"
        decrypt = self.config.get_text("Nlm.PCaptureSrtpDecryptedEnable") == "Enable" and len(self._book) > 0
        header = [
            pcapng.section_header(application=f"dgw-emulator {self.unit.version}", hardware=self.unit.profile.product,
                                  comment=f"unit {self.unit.name} ({self.unit.host})"),
            pcapng.interface_description(pcapng.LINKTYPE_ETHERNET, name=self.interface,
                                         description=f"the unit's link ({self.unit.host})"),
        ]
        if decrypt:
            header.append(pcapng.interface_description(pcapng.LINKTYPE_ETHERNET, name="srtp-decrypted",
                                                       description="SRTP/SRTCP packets decrypted (emulator addition)"))
        secrets = self._tls_secrets()
        if secrets:
            header.append(pcapng.decryption_secrets(secrets))
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(b"".join(header))
            data = frames.read_bytes() if frames.exists() else b""
            if decrypt:
                self._write_with_clear(out, data)
            else:
                out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        frames.unlink(missing_ok=True)
        return self._book if self.config.get_text("Nlm.PCaptureSrtpKeysEnable") == "Enable" else None

    def _write_with_clear(self, out: BinaryIO, data: bytes) -> None:
        decryptor = Decryptor(self._book)
        ident = 0
        for block in pcapng.read_blocks(data):
            out.write(_raw_epb(block))
            _interface, ts, frame = block.packet
            datagram = udp_of(frame)
            if datagram is None:
                continue
            clear = decryptor.decrypt(datagram)
            if clear is not None:
                ident += 1
                out.write(pcapng.enhanced_packet(1, ts, udp_frame(datagram.src, datagram.dst, clear, ident=ident)))

    def _tls_secrets(self) -> bytes:
        if self.config.get_text("Nlm.PCaptureTlsSecretsEnable") != "Enable":
            return b""
        cert = getattr(self.unit, "cert", None)
        path = cert.keylog_path() if cert is not None else None
        if path is None:
            self.unit.notify("Nlm", 9006, what="TLS secrets", reason="Cert.TlsKeyLogEnable is Disable")
            return b""
        try:
            return Path(path).read_bytes()
        except OSError as e:
            self.unit.notify("Nlm", 9006, what="TLS secrets", reason=e.strerror or str(e))
            return b""

    # ------------------------------------------------------------------ upload
    def _target(self, url: str, started: float) -> Target:
        local = self.unit.local_time(started)  # "YYYY-MM-DD hh:mm:ss" or similar: digits only are kept
        digits = "".join(c for c in local if c.isdigit())
        macros = {"mac": self.unit.identity.mac.replace(":", "").lower(), "date": digits[:8], "time": digits[8:14]}
        return parse_url(expand(url, macros, ("mac", "date", "time")), allowed=("http", "https", "file"))

    def upload(self) -> asyncio.Task[str]:
        """``Nlm.UploadPCapture``: send the kept capture file again, to the URL configured now."""
        if self.kept is None or not self.kept.path.exists():
            raise ConfigError("invalid", "Nlm.UploadPCapture", "Nlm.UploadPCapture: no capture file is kept")
        if self._job is not None and not self._job.done():
            raise ConfigError("invalid", "Nlm.UploadPCapture", "Nlm.UploadPCapture: a capture is in progress")
        kept = self.kept

        async def again() -> str:
            self.state = await self._upload(kept)
            return self.state

        self._job = asyncio.get_running_loop().create_task(again())
        return self._job

    async def _upload(self, kept: _Kept) -> str:
        try:
            target = self._target(self.config.get_text("Nlm.PCaptureFileUrl").strip(), kept.started)
        except UrlError as e:
            self._failed("UrlFailure", str(e))
            return "UrlFailure"
        transfer = Transferer(self.unit.host, Path(self.unit.state_dir), tls=lambda: tls_policy(self.unit, "Nlm"),
                              user_agent=f"DGW/{self.unit.version}")
        data = kept.path.read_bytes()
        try:
            await transfer.put(target, data)
            if kept.keys is not None:
                keys = export_text(kept.keys, target.file_name)
                await transfer.put(_beside(target, ".srtp-keys.txt"), keys.encode())
        except TransferError as e:
            state = _FAILURE_OF_TRANSFER.get(e.kind, "UndefinedFailure")
            self._failed(state, f"{target.shown}: {e} (the file is kept: {kept.path.name})")
            return state
        kept.path.unlink(missing_ok=True)
        if self.kept is kept:
            self.kept = None
        self.unit.notify("Nlm", 9004, url=target.shown, size=len(data))
        return "Completed"


def _raw_epb(block: pcapng.Block) -> bytes:
    """A block read back, as its bytes again."""
    total = 12 + len(block.body)
    return b"".join((block.type.to_bytes(4, "little"), total.to_bytes(4, "little"), block.body,
                     total.to_bytes(4, "little")))


def _beside(target: Target, suffix: str) -> Target:
    return Target(target.scheme, target.host, target.port, target.path + suffix, target.username, target.password)

"""A real baresip (Debian's ``baresip-core``) as a headless SIP phone on 127.0.0.1, for interop tests.

Our own configuration, written per test into a directory (``baresip -f DIR``): no sound card — the audio
source is ``aufile`` playing an 8 kHz mono 16-bit WAV (``ausine`` in 1.0.0 only does 48 kHz, which PCMU
cannot start), the player is ``aubridge`` to nowhere, and the ``sndfile`` filter dumps what baresip encoded
and decoded as WAV files (``dump-<time>-enc.wav`` / ``dump-<time>-dec.wav``) into ``rec/``, so a test can
measure the far side's tone as baresip heard it. ``net_interface 127.0.0.1`` (any 127.0.0.x) keeps the
SDP ``c=`` and the Contact on loopback; ``sip_listen`` is a free port (baresip adds TLS on port + 1); the
account's ``outbound=`` sends every request (REGISTER, INVITE) through the proxy's TLS port.

Certificates: ``sip_certificate`` (certificate and key in one PEM) is needed for the TLS transport;
``sip_cafile`` is loaded ("ua: adding SIP CA"), but baresip 1.0.0 does not verify the proxy's certificate
(it has no ``sip_verify_server`` yet): it registers just as well to a proxy whose certificate another CA
issued. Tests here therefore prove TLS signalling and SRTP media, not baresip's certificate checks.
Outgoing TLS connections are not bound to ``net_interface``: they leave from 127.0.0.1.

baresip is driven through its ``ctrl_tcp`` module: netstring-framed JSON, ``{"command", "params",
"token"}`` answered by ``{"response": true, "ok", "data", "token"}``, with events (``{"event": true,
"class": "call", "type": "CALL_ESTABLISHED", "peeruri": ...}``) interleaved. :class:`BaresipCtrl` is an
asyncio client (the units under test share the event loop, so the test must never block it).

baresip runs in the foreground, its log in ``baresip.log``; it is stopped by SIGTERM to its PID (graceful:
un-REGISTER, BYE), a second SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import re
import socket
import subprocess
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.protocols.media.dtmf import dtmf_frequencies, inband_pcm
from emulator.protocols.media.tones import ToneGenerator, ToneMeasurement, measure
from testkit.peers import free_port, require_peer
from testkit.process import Peer, accepts, spawn

__all__ = [
    "Baresip", "BaresipCtrl", "read_wav_pcm", "start_baresip", "tone_blocks", "write_dtmf_wav", "write_tone_wav",
]

_MODULES = "/usr/lib/baresip/modules"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # reginfo colours its status

_CONFIG = """\
# baresip {version} headless, loopback only, no sound card (written by testkit/baresip.py)
poll_method		epoll
sip_listen		{host}:{sip_port}
sip_certificate		{certificate}
sip_cafile		{cafile}
call_local_timeout	120
call_max_calls		4
audio_path		/usr/share/baresip
audio_player		aubridge,nil
audio_source		aufile,{source}
audio_alert		aubridge,nil
ausrc_format		s16
auplay_format		s16
auenc_format		s16
audec_format		s16
audio_buffer		20-160
rtp_ports		{rtp_low}-{rtp_high}
rtcp_mux		no
jitter_buffer_delay	5-10
rtp_stats		no
net_interface		{host}
dns_server		{host}:53
module_path		{modules}
module			g711.so
{codec_modules}module			aubridge.so
module			aufile.so
module			sndfile.so
snd_path		{rec}
module			srtp.so
module_tmp		uuid.so
module_tmp		account.so
module_app		contact.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		{host}:{ctrl_port}
"""

_ACCOUNT = (
    '<sip:{user}@{domain};transport=tls>;auth_pass={password};outbound="sip:{proxy};transport=tls";'
    "answermode={answermode};mediaenc=srtp-mand;audio_codecs={codecs};regint=300\n"
)


def write_tone_wav(path: Path, frequency: float, seconds: float, *, level_dbm0: float = -10.0,
                   rate: int = 8000) -> Path:
    """A mono 16-bit WAV holding one continuous tone (baresip's ``aufile`` source; 16 kHz for G.722, whose
    codec rate baresip's aufile must match)."""
    gen = ToneGenerator((frequency,), level_dbm0=level_dbm0, sample_rate=rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(gen.read(int(rate * seconds)))
    return path


def write_dtmf_wav(path: Path, digits: str, *, on_ms: int = 120, off_ms: int = 120, tail_ms: int = 2000,
                   level_dbm0: float | Sequence[float] = -7.0, twist_db: float | Sequence[float] = 0.0) -> Path:
    """An 8 kHz mono 16-bit WAV of DTMF digits (Q.23 pairs, `on_ms` each, `off_ms` apart) then `tail_ms` of
    silence: baresip's ``aufile`` source for in-band digits. `level_dbm0` is the low (row) tone's level, the high
    (column) tone is `twist_db` above it (below when negative); each a number for every digit or one per digit."""
    levels = [level_dbm0] * len(digits) if isinstance(level_dbm0, (int, float)) else list(level_dbm0)
    twists = [twist_db] * len(digits) if isinstance(twist_db, (int, float)) else list(twist_db)
    if len(levels) != len(digits) or len(twists) != len(digits):
        raise ValueError("level_dbm0 and twist_db: one number, or one per digit")
    pcm = b"".join(_dtmf_pcm(d, 8 * on_ms, lv, tw) + bytes(16 * off_ms)
                   for d, lv, tw in zip(digits, levels, twists, strict=True)) + bytes(16 * tail_ms)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    return path


def _dtmf_pcm(digit: str, samples: int, level_dbm0: float, twist_db: float) -> bytes:
    if twist_db == 0:
        return inband_pcm(digit, samples, level_dbm0)
    low, high = dtmf_frequencies(digit)
    a = array.array("h", ToneGenerator((low,), level_dbm0).read(samples))
    b = array.array("h", ToneGenerator((high,), level_dbm0 + twist_db).read(samples))
    return array.array("h", (max(-32768, min(32767, x + y)) for x, y in zip(a, b, strict=True))).tobytes()


def read_wav_pcm(path: Path) -> tuple[int, int, int, bytes]:
    """(rate, channels, bits, PCM) of a WAV, tolerant of a header whose sizes were never updated
    (a dump still being written): the data is whatever follows the ``data`` chunk header."""
    raw = path.read_bytes()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path.name}: not a WAV file ({len(raw)} bytes)")
    pos, fmt = 12, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], int.from_bytes(raw[pos + 4 : pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            fmt = raw[body : body + size]
        elif cid == b"data":
            if fmt is None:
                break
            channels = int.from_bytes(fmt[2:4], "little")
            rate = int.from_bytes(fmt[4:8], "little")
            bits = int.from_bytes(fmt[14:16], "little")
            return rate, channels, bits, raw[body:]
        pos = body + size + (size & 1)
    raise ValueError(f"{path.name}: no fmt/data chunk")


def tone_blocks(pcm: bytes, *, rate: int = 8000, block_ms: int = 100) -> list[ToneMeasurement]:
    """One measurement per `block_ms` of 16-bit mono PCM (the last partial block dropped)."""
    step = rate * block_ms // 1000 * 2
    return [measure(pcm[i : i + step], sample_rate=rate) for i in range(0, len(pcm) - step + 1, step)]


@dataclass
class BaresipCtrl:
    """asyncio client of baresip's ``ctrl_tcp``: commands answered by token, events buffered."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    events: list[dict[str, Any]] = field(default_factory=list)  # every event seen, in order
    _responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _task: asyncio.Task[None] | None = None
    _tokens: int = 0
    closed: str = ""

    @classmethod
    async def connect(cls, host: str, port: int, *, timeout: float = 5.0) -> BaresipCtrl:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            try:
                reader, writer = await asyncio.open_connection(host, port)
                break
            except OSError:
                if loop.time() > end:
                    raise
                await asyncio.sleep(0.05)
        ctrl = cls(reader, writer)
        ctrl._task = asyncio.create_task(ctrl._read_loop())
        return ctrl

    async def _read_loop(self) -> None:
        try:
            while True:
                length = int((await self.reader.readuntil(b":"))[:-1])
                payload = await self.reader.readexactly(length + 1)  # the JSON and the trailing ','
                msg = json.loads(payload[:-1])
                async with self._changed:
                    if msg.get("response"):
                        self._responses[str(msg.get("token"))] = msg
                    elif msg.get("event"):
                        self.events.append(msg)
                    self._changed.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            async with self._changed:
                self.closed = repr(exc) or "closed"
                self._changed.notify_all()

    async def _wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        async def until() -> Any:
            async with self._changed:
                while not (found := predicate()):
                    if self.closed:
                        raise ConnectionError(f"baresip ctrl_tcp closed ({self.closed}) waiting for {what}")
                    await self._changed.wait()
                return found

        try:
            return await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            raise TimeoutError(f"baresip: no {what} within {timeout} s (events: {self.events})") from None

    async def command(self, command: str, params: str = "", *, timeout: float = 5.0) -> dict[str, Any]:
        """Run one command (the menu's long names: dial, hangup, accept, reginfo, quit...)."""
        self._tokens += 1
        token = str(self._tokens)
        js = json.dumps({"command": command, "params": params, "token": token}).encode()
        self.writer.write(b"%d:%s," % (len(js), js))
        await self.writer.drain()
        msg: dict[str, Any] = await self._wait(
            lambda: self._responses.pop(token, None), timeout, f"response to {command!r}"
        )
        return msg

    async def wait_event(
        self,
        etype: str,
        *,
        timeout: float = 10.0,
        since: int = 0,
        pred: Callable[[dict[str, Any]], bool] = lambda m: True,
    ) -> dict[str, Any]:
        """The first event of type `etype` (e.g. CALL_ESTABLISHED) from index `since` of :attr:`events`."""

        def find() -> dict[str, Any] | None:
            return next((m for m in self.events[since:] if m.get("type") == etype and pred(m)), None)

        msg: dict[str, Any] = await self._wait(find, timeout, f"event {etype}")
        return msg

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self.writer.wait_closed()


@dataclass
class Baresip(Peer):
    directory: Path
    host: str
    user: str
    domain: str
    sip_port: int  # UDP/TCP; TLS is sip_port + 1
    ctrl_port: int

    STOP_TERMS = 2  # SIGTERM (graceful: un-REGISTER, BYE), a second SIGTERM (forced), then SIGKILL
    STOP_GRACE = 2.0
    LOG_TAIL = 6000

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"

    @property
    def rec_dir(self) -> Path:
        return self.directory / "rec"

    def dumps(self, kind: str = "dec") -> list[Path]:
        """The sndfile dumps (``dec``: what baresip decoded from the peer; ``enc``: what it sent)."""
        return sorted(self.rec_dir.glob(f"dump-*-{kind}.wav"))


def _free_port_pair(host: str) -> int:
    """A port p with UDP p, TCP p and TCP p + 1 (baresip's TLS) free at the time of asking."""
    for _ in range(50):
        p = free_port(host)
        if p >= 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
                u.bind((host, p))
                t.bind((host, p + 1))
            return p
        except OSError:
            continue
    raise RuntimeError("no free port pair for baresip's SIP listeners")


def _codec_modules(codecs: str) -> list[str]:
    """baresip modules for the codecs named (g711 is always loaded); a missing one fails (or skips) the test."""
    wanted = {c.split("-")[0].split("/")[0].lower() for c in codecs.split(",")} & {"g722", "g726"}
    for m in sorted(wanted):
        if not Path(_MODULES, f"{m}.so").exists():
            require_peer(f"baresip-{m}-module-missing")
    return sorted(wanted)


def _version(binary: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([binary, "-h"], capture_output=True, timeout=5).stdout.decode(errors="replace")
        if out.startswith("baresip v"):
            return out.split()[1]
    return "?"


def start_baresip(
    directory: Path,
    *,
    user: str,
    password: str,
    proxy: str,
    cafile: Path,
    certificate: Path,
    source: Path,
    answermode: str = "auto",
    host: str = "127.0.0.1",
    domain: str | None = None,
    rtp_ports: tuple[int, int] | None = None,
    codecs: str = "PCMU",
    sip_trace: bool = False,
) -> Baresip:
    """Write the configuration and start baresip; its ctrl_tcp port accepts connections when this returns
    (registration is still under way: see :func:`wait_registered`).

    ``proxy`` is ``host:port`` of the proxy's TLS listener; ``domain`` the AOR's domain (default: the
    proxy's host); ``host`` the address baresip binds and advertises (SIP, RTP, ctrl_tcp) — any 127.0.0.x
    works. ``certificate`` is a PEM holding baresip's certificate and key, ``source`` the 8 kHz WAV it
    sends in calls. ``codecs`` is the account's ``audio_codecs`` list (``PCMU``, ``G722``, ``G726-32``...): the
    modules of Debian's baresip-core they need (g722, g726) are loaded. ``sip_trace``: the SIP messages in the log."""
    binary = require_peer("baresip")["baresip"]
    if not Path(_MODULES, "srtp.so").exists() or not Path(_MODULES, "sndfile.so").exists():
        require_peer("baresip-srtp-or-sndfile-module-missing")  # fails (or skips) with the reason
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rec").mkdir(exist_ok=True)
    sip_port = _free_port_pair(host)
    ctrl_port = free_port(host)
    if rtp_ports is None:
        low = min(free_port(host, socket.SOCK_DGRAM) & ~1, 65534 - 100)  # baresip picks pairs in the range
        rtp_ports = (low, low + 100)
    (directory / "config").write_text(
        _CONFIG.format(
            version=_version(binary),
            host=host,
            sip_port=sip_port,
            certificate=certificate,
            cafile=cafile,
            source=source,
            rtp_low=rtp_ports[0],
            rtp_high=rtp_ports[1],
            modules=_MODULES,
            rec=directory / "rec",
            ctrl_port=ctrl_port,
            codec_modules="".join(f"module\t\t\t{m}.so\n" for m in _codec_modules(codecs)),
        )
    )
    domain = domain or proxy.rsplit(":", 1)[0]
    (directory / "accounts").write_text(
        _ACCOUNT.format(user=user, domain=domain, password=password, proxy=proxy, answermode=answermode,
                        codecs=codecs)
    )
    (directory / "contacts").write_text("")
    log = directory / "baresip.log"
    # -s: baresip writes every SIP message it sends and receives to its log (a test reads the headers it got)
    proc = spawn([binary, "-f", str(directory), *(["-s"] if sip_trace else [])], log, cwd=directory)
    b = Baresip(proc, log, directory, host, user, domain, sip_port, ctrl_port)
    return b.wait_until(lambda: accepts(host, ctrl_port), "baresip did not start", timeout=10)


async def wait_registered(b: Baresip, ctrl: BaresipCtrl, *, timeout: float = 8.0) -> str:
    """Poll ``reginfo`` until the account shows OK; returns the reginfo text."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    data = ""
    while loop.time() < end:
        data = _ANSI.sub("", str((await ctrl.command("reginfo")).get("data", "")))
        if re.search(r"^> \S+ +OK ", data, re.M):
            return data
        await asyncio.sleep(0.1)
    raise AssertionError(f"baresip did not register within {timeout} s: {data!r}\n--- baresip log ---\n{b.log()}")

"""Nlm: the notification engine of a unit — severity filter, Nlm.Events routing and the sinks.

Flow of :meth:`NlmEngine.notify`:
  1. the catalog entry and its text (``firmware_model.notifications``);
  2. ``<Svc>.MinSeverity`` (Disable = nothing) — a filtered notification returns None;
  3. every remaining notification goes to the emulator's own outputs: a structlog JSON line
     (``notification``) and ``Unit._published`` (API list and stream);
  4. the enabled, valid ``Nlm.Events`` rules choose the DGW actions: SendViaSyslog (remote
     syslog, RFC 3164 over UDP), LogLocally (``Nlm.LocalLogMessages``), LogToFile (files under
     ``<state_dir>/logs`` named from ``Nlm.LogFileBaseName``, rotated at ``LogFileMaxSize`` KB,
     ``LogFileMaxNb`` files).

While the Nlm service is stopped nothing is delivered through step 4 (on the hardware the Nlm
service is the deliverer); steps 1-3 still happen so automation sees every notification.
Notifications raised while the unit boots, before Nlm first starts, wait in a small buffer
(100) and are delivered when it starts, as services start before Nlm in the boot order.

Configuration applies at once (no restart): ``Nlm.Events`` rows are recompiled on every change
and their ``ConfigStatus`` updated; ``Nlm.SyslogRemoteHost`` re-targets the sender immediately.
The syslog HOSTNAME is ``Hoc.HostName`` when set, else the unit's name (emulator choice).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.engines.capture.job import PacketCapture
from firmware_model.config import Address, ChangeEvent, ConfigError
from firmware_model.nlm_rules import (
    ACTIONS_SUPPORTED,
    LOCAL_LOG_MAX_ENTRIES,
    EventRule,
    LocalLog,
    compile_rules,
    file_logging_supported,
    log_file_names,
    parse_remote_host,
    passes_min_severity,
    route,
    syslog_packet,
)
from firmware_model.notifications import (
    NotificationEvent,
    format_line,
    get_notification,
    render_message,
)

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["NlmEngine", "RotatingFileLog", "SyslogSender"]

BOOT_BUFFER = 100
RESOLVE_RETRY_S = 30.0


class SyslogSender:
    """UDP syslog to one destination from a socket bound to the unit's address.

    IP literals are used at once; host names are resolved with the loop's ``getaddrinfo``
    (datagrams wait, up to 100, meanwhile). A destination the unit cannot reach fails quietly:
    ``errors`` counts, and the first failure after each re-targeting is logged and reported
    through ``on_unreachable(destination, reason)``."""

    def __init__(self, bind_host: str, log: Any, on_unreachable: Callable[[str, str], None]) -> None:
        self.bind_host = bind_host
        self.family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        self.log = log
        self.on_unreachable = on_unreachable
        self.sent = 0
        self.errors = 0
        self.dropped = 0
        self.destination = ""  # Nlm.SyslogRemoteHost as configured
        self._target: tuple[str, int] | None = None
        self._addr: tuple[Any, ...] | None = None
        self._fail_reason = ""
        self._reported = False
        self._pending: deque[bytes] = deque()
        self._resolving: asyncio.Task[None] | None = None
        self._retry_at = 0.0
        self._sock: socket.socket | None = None

    # ------------------------------------------------------------------ configuration
    def configure(self, text: str) -> None:
        """(Re)target: empty = no remote syslog."""
        self._cancel_resolution()
        self.destination = text.strip()
        self._addr, self._fail_reason, self._reported, self._retry_at = None, "", False, 0.0
        self.dropped += len(self._pending)
        self._pending.clear()
        try:
            self._target = parse_remote_host(text)
        except ValueError:
            self._target = None
        if self._target is None:
            return
        host, port = self._target
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return  # a name: resolved on first use
        if (ip.version == 6) != (self.family == socket.AF_INET6):
            self._fail_reason = "address family differs from the unit's address"
        else:
            self._addr = (str(ip), port, 0, 0) if ip.version == 6 else (str(ip), port)

    def close(self) -> None:
        self._cancel_resolution()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _cancel_resolution(self) -> None:
        if self._resolving is not None and not self._resolving.done():
            self._resolving.cancel()
        self._resolving = None

    # ------------------------------------------------------------------ sending
    def send(self, data: bytes) -> None:
        if self._target is None:
            return
        if self._addr is not None:
            self._sendto(data, self._addr)
        elif self._fail_reason:
            self._failed(self._fail_reason)
        elif self._start_resolution():
            if len(self._pending) >= BOOT_BUFFER:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(data)
        else:
            self.dropped += 1

    def _sendto(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            if self._sock is None:
                sock = socket.socket(self.family, socket.SOCK_DGRAM)
                try:
                    sock.setblocking(False)
                    sock.bind((self.bind_host, 0))
                except OSError:
                    sock.close()
                    raise
                self._sock = sock
            self._sock.sendto(data, addr)
            self.sent += 1
        except BlockingIOError:
            self.dropped += 1
        except OSError as e:
            self._failed(e.strerror or str(e))

    def _failed(self, reason: str) -> None:
        self.errors += 1
        if self._reported:
            return
        self._reported = True
        self.log.warning("syslog_unreachable", destination=self.destination, error=reason)
        self.on_unreachable(self.destination, reason)

    def _start_resolution(self) -> bool:
        """True when a resolution is running (or was just started) for the current target."""
        if self._resolving is not None and not self._resolving.done():
            return True
        if time.monotonic() < self._retry_at:
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._resolving = loop.create_task(self._resolve(loop))
        return True

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._target is not None
        host, port = self._target
        try:
            infos = await loop.getaddrinfo(host, port, family=self.family, type=socket.SOCK_DGRAM)
            if not infos:
                raise socket.gaierror(socket.EAI_NONAME, "no address")
        except OSError as e:
            self.dropped += len(self._pending)
            self._pending.clear()
            self._retry_at = time.monotonic() + RESOLVE_RETRY_S
            self._failed(f"cannot resolve {host}: {e.strerror or e}")
            return
        self._addr = infos[0][4]
        while self._pending and self._addr is not None:
            self._sendto(self._pending.popleft(), self._addr)


class RotatingFileLog:
    """LogToFile: append lines to ``<dir>/<base>.log``; past the size limit the files shift
    (``<base>.log`` -> ``<base>.1.log`` ...) and the oldest beyond ``max_nb`` is removed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, base: str, max_kb: int, max_nb: int, line: str) -> None:
        names = log_file_names(base, max_nb)
        self.directory.mkdir(parents=True, exist_ok=True)
        current = self.directory / names[0]
        data = (line + "\n").encode()
        size = current.stat().st_size if current.exists() else 0
        if size and size + len(data) > max(1, max_kb) * 1024:
            self._rotate(names)
        with open(current, "ab") as f:
            f.write(data)

    def _rotate(self, names: list[str]) -> None:
        paths = [self.directory / n for n in names]
        stem = names[0][: -len(".log")]
        for extra in self.directory.glob(f"{stem}.*.log"):  # left over from a larger LogFileMaxNb
            if extra not in paths and extra.name[len(stem) + 1 : -4].isdigit():
                extra.unlink(missing_ok=True)
        if len(paths) == 1:
            paths[0].unlink(missing_ok=True)
            return
        paths[-1].unlink(missing_ok=True)
        for newer, older in zip(reversed(paths[:-1]), reversed(paths[1:]), strict=True):
            if newer.exists():
                os.replace(newer, older)


class NlmEngine:
    """The Nlm service of one unit. See the module docstring."""

    name = "Nlm"

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.config = unit.config
        self.running = False
        self._ever_started = False
        self._boot_buffer: deque[NotificationEvent] = deque(maxlen=BOOT_BUFFER)
        self.local_log = LocalLog(LOCAL_LOG_MAX_ENTRIES)
        self.syslog = SyslogSender(unit.host, unit.log, self._syslog_unreachable)
        self.files = RotatingFileLog(Path(unit.state_dir) / "logs")
        self.file_errors = 0
        self._file_error_reported = False
        self.rules: list[EventRule] = []
        self._services = {s.numkey for s in unit.catalog.services.values()}
        supported = set(ACTIONS_SUPPORTED)
        if not file_logging_supported(unit.profile.series, unit.profile.product):
            supported.discard("LogToFile")
        self._supported = frozenset(supported)
        self._min_severity: dict[str, Address | None] = {}
        self._addr_cache: dict[str, Address] = {}
        c = self.config
        c.provide("Nlm.LocalLogMaxNbEntries", lambda: self.local_log.max_entries)
        c.provide("Nlm.LocalLogNbErrorEntries", lambda: self.local_log.count("Error"))
        c.provide("Nlm.LocalLogNbCriticalEntries", lambda: self.local_log.count("Critical"))
        c.provide_rows("Nlm.LocalLogMessages", self.local_log.rows)
        c.subscribe(self._on_change)
        self.compile_rules()
        # the packet capture (Nlm.PCapture*): its commands on every face that runs unit commands
        self.capture = PacketCapture(unit)
        unit.commands.update({
            "Nlm.StartPCapture": self._start_capture,
            "Nlm.StopPCapture": self._stop_capture,
            "Nlm.UploadPCapture": self._upload_capture,
        })

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.syslog.configure(self._text("Nlm.SyslogRemoteHost"))
        self.compile_rules()
        self.running = True
        self._ever_started = True
        self.capture.reset()
        while self._boot_buffer:
            self._deliver(self._boot_buffer.popleft())

    async def stop(self) -> None:
        self.running = False
        self.syslog.close()
        await self.capture.shutdown()

    # ------------------------------------------------------------------ packet capture commands (CLI, scripts)
    def _start_capture(self) -> str:
        self._require_running("Nlm.StartPCapture")
        self.capture.start()
        why = f" ({self.capture.reason})" if self.capture.reason else ""
        return f"Packet capture: {self.capture.state}{why}\n"

    def _stop_capture(self) -> str:
        self.capture.stop()
        return f"Packet capture stopped after {self.capture.frames} frames; saving and uploading\n"

    def _upload_capture(self) -> str:
        self._require_running("Nlm.UploadPCapture")
        self.capture.upload()
        return "Packet capture upload started\n"

    def _require_running(self, command: str) -> None:
        if not self.running:
            raise ConfigError("invalid", command, f"{command}: the Nlm service is not running")

    @property
    def stats(self) -> dict[str, int]:
        return {
            "syslog_sent": self.syslog.sent,
            "syslog_errors": self.syslog.errors,
            "syslog_dropped": self.syslog.dropped,
            "file_errors": self.file_errors,
            "local_log_entries": len(self.local_log),
        }

    # ------------------------------------------------------------------ raising
    def notify(self, service: str, msg_id: int, /, **fields: Any) -> NotificationEvent | None:
        """Raise a notification; None when ``<Svc>.MinSeverity`` filters it out.
        ``KeyError`` for an unknown (service, msg_id) or a missing template field."""
        defn = get_notification(service, msg_id)
        message = render_message(defn, fields)
        if not passes_min_severity(self._min_severity_of(defn.service), defn.severity):
            return None
        svc = self.unit.catalog.services[defn.service]
        ev = NotificationEvent(
            service=svc.name,
            numkey=svc.numkey,
            service_name=svc.display,
            msg_id=defn.msg_id,
            severity=defn.severity,
            message=message,
            time=self.unit.clock.now(),
            fields=dict(fields),
        )
        self.unit.log.info(
            "notification", service=ev.service, msg_id=ev.msg_id, severity=ev.severity, message=ev.message
        )
        self.unit._published(ev)
        if self.running:
            self._deliver(ev)
        elif not self._ever_started:
            self._boot_buffer.append(ev)
        return ev

    def _min_severity_of(self, service: str) -> str:
        if service not in self._min_severity:
            try:
                self._min_severity[service] = self.config.resolve(f"{service}.MinSeverity")
            except ConfigError:
                self._min_severity[service] = None
        addr = self._min_severity[service]
        return "Warning" if addr is None else str(self.config.get(addr) or "Warning")

    # ------------------------------------------------------------------ delivery
    def _deliver(self, ev: NotificationEvent) -> None:
        actions = route(self.rules, ev)
        if not actions:
            return
        line = ""
        if "SendViaSyslog" in actions or "LogToFile" in actions:
            line = format_line(self._text("Nlm.SyslogMessageFormat"), ev, self.unit.macros())
        local_time = self.unit.local_time(ev.time)
        for action in actions:
            if action == "LogLocally":
                self.local_log.add(ev, local_time)
            elif action == "SendViaSyslog":
                host = self._text("Hoc.HostName") or self.unit.name
                self.syslog.send(syslog_packet(ev.severity, local_time, host, line))
            elif action == "LogToFile":
                self._write_file(f"{local_time} {line}")

    def _write_file(self, text: str) -> None:
        try:
            self.files.write(
                self._text("Nlm.LogFileBaseName"),
                int(self.config.get(self._addr("Nlm.LogFileMaxSize")) or 200),
                int(self.config.get(self._addr("Nlm.LogFileMaxNb")) or 2),
                text,
            )
        except OSError as e:
            self.file_errors += 1
            if not self._file_error_reported:
                self._file_error_reported = True
                self.unit.log.warning("nlm_log_file_error", error=e.strerror or str(e))

    def _syslog_unreachable(self, destination: str, reason: str) -> None:
        self.notify("Nlm", 9001, host=destination, reason=reason)

    # ------------------------------------------------------------------ configuration
    def _addr(self, name: str) -> Address:
        a = self._addr_cache.get(name)
        if a is None:
            a = self._addr_cache[name] = self.config.resolve(name)
        return a

    def _text(self, name: str) -> str:
        return self.config.get_text(self._addr(name))

    def compile_rules(self) -> None:
        """Recompile ``Nlm.Events`` and show each row's ConfigStatus."""
        rows = self.config.rows("Nlm.Events")
        self.rules = compile_rules(rows, self._services, self._supported)
        for rule in self.rules:
            self.config.set_status(f"Nlm.Events[{rule.index}].ConfigStatus", rule.status)

    def _on_change(self, ev: ChangeEvent) -> None:
        if ev.kind == "reset" or ev.param.table == "Nlm.Events":
            self.compile_rules()
        if ev.kind == "reset" or ev.param.name == "Nlm.SyslogRemoteHost":
            self.syslog.configure(self._text("Nlm.SyslogRemoteHost"))
        elif ev.param.name in ("Nlm.LogFileBaseName", "Nlm.LogFileMaxSize", "Nlm.LogFileMaxNb"):
            self._file_error_reported = False

"""One emulated unit: its configuration, clock, identity, notifications and service engines.

The Unit owns no global state: its configuration file lives in its own state directory, its
sockets bind to its own address, and its clock is its own. Many units can live in one process.

Service lifecycle (the Scm service): every DGW service of the catalog appears in
``Scm.ServicesInfo``; those with an engine (``ServiceEngine``) really start and stop, the others
are configuration-only and are "Started" once the unit is up. A parameter flagged "restart" marks
its service in ``<Svc>.NeedRestartInfo``; ``Scm.RestartRequiredServices`` restarts them all.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import structlog

from emulator.runtime.clock import UnitClock
from firmware_model.behaviour import load_behaviour
from firmware_model.config import ChangeEvent, Config, Index
from firmware_model.notifications import NotificationEvent
from firmware_model.profiles import FIRMWARE_VERSION, Identity, Profile, factory_for, identity_for
from firmware_model.schema import Catalog, load_catalog
from firmware_model.script import ScriptResult, run_script, strip_comment
from firmware_model.store import JsonStore
from firmware_model.timezone import format_local_time

__all__ = ["Listening", "PortPolicy", "ServiceEngine", "Unit", "port_of"]

log = structlog.get_logger("dgw.unit")
T = TypeVar("T")


class ServiceEngine(Protocol):
    """A running engine behind a DGW service (Cli, Nlm, Hoc...)."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(slots=True)
class PortPolicy:
    """Where a face really binds, given the port its parameter holds (documented in README).

    mode "hardware": the parameter's port; a privileged port (< 1024) that the process may not
    bind becomes ``privileged_offset + port`` (22 -> 10022, 161 -> 10161, 443 -> 10443).
    mode "auto": the kernel picks a free port (tests; many units on one address) the first time a face
    listens; the face gets that port again when its service restarts (or its worker process is restarted
    with ``remembered`` from before), so a unit's addresses stay put. A face names itself to be remembered
    (``real_port(configured, "cwmp")``); the unit's :class:`Listening` map records the port it got.
    """

    mode: str = "hardware"
    privileged_offset: int = 10000
    remembered: dict[str, int] = field(default_factory=dict)  # face -> port it got (auto mode)

    def real_port(self, configured: int, face: str | None = None) -> int:
        if self.mode == "auto":
            return self.remembered.get(face, 0) if face else 0
        if configured < 1024 and not _can_bind_privileged():
            return self.privileged_offset + configured
        return configured

    def remember(self, face: str, port: int) -> None:
        if self.mode == "auto" and port:
            self.remembered[face] = port


def port_of(address: str) -> int | None:
    """The port of a face's address as the ready file shows it (``host:port`` or a URL)."""
    rest = address.split("://", 1)[1].split("/", 1)[0] if "://" in address else address
    head, _, port = rest.rpartition(":")
    return int(port) if head and port.isdigit() else None


class Listening(MutableMapping[str, str]):
    """A unit's faces and where they listen (face -> ``host:port`` or URL), as the ready file lists them.

    Faces set and pop their entry as they open and close; every change remembers the face's port in the
    unit's :class:`PortPolicy` and calls the unit's ``on_listening`` subscribers (the ready file is
    rewritten), so a face opened by a service restart is listed without a process restart."""

    def __init__(self, changed: Callable[[str, str | None], None]) -> None:
        self._faces: dict[str, str] = {}
        self._changed = changed

    def __getitem__(self, face: str) -> str:
        return self._faces[face]

    def __setitem__(self, face: str, address: str) -> None:
        if self._faces.get(face) != address:
            self._faces[face] = address
            self._changed(face, address)

    def __delitem__(self, face: str) -> None:
        del self._faces[face]
        self._changed(face, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._faces)

    def __len__(self) -> int:
        return len(self._faces)

    def __repr__(self) -> str:
        return f"Listening({self._faces!r})"


def _can_bind_privileged() -> bool:
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read().strip()) == 0
    except OSError:
        return False


@dataclass(slots=True)
class ServiceState:
    name: str
    engine: ServiceEngine | None = None
    state: str = "Stopped"  # Started | Starting | Stopped | Stopping | NotResponding
    comment: str = ""


@dataclass
class Unit:
    name: str
    profile: Profile
    state_dir: Path
    host: str = "127.0.0.1"
    ports: PortPolicy = field(default_factory=PortPolicy)
    clock: UnitClock = field(default_factory=UnitClock)
    catalog: Catalog = field(default_factory=load_catalog)
    fsync: bool = True
    # Emulator addition: the port the unit's DNS queries go to (53 on the hardware); a lab's ``dns_port``
    # lets tests run their DNS server on an unprivileged port.
    dns_port: int = 53
    stop_timeout: float = 10.0  # seconds an engine's stop may take (then it is cancelled; see stop_service)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.identity: Identity = identity_for(self.profile, self.name)
        self.version = FIRMWARE_VERSION
        self.config = Config(
            self.catalog,
            factory_for(self.catalog, self.profile),
            JsonStore(self.state_dir / "config.json", fsync=self.fsync),
        )
        self.log = log.bind(unit=self.name)
        self.listening = Listening(self._listening_changed)  # face -> "host:port" or URL (ready file)
        self._listening_listeners: list[Callable[[str, str | None], None]] = []
        self.services: dict[str, ServiceState] = {
            s: ServiceState(s) for s in self.catalog.services if s != "Hardware"
        }
        self.started_at = 0.0
        self.booting = False  # start() is starting its services: listeners may wait for ("", "Booted")
        self.commands: dict[str, Callable[[], Any]] = {
            "Scm.RestartRequiredServices": self._cmd_restart_required,
        }
        self._tasks: set[asyncio.Task[Any]] = set()
        self._service_listeners: list[Callable[[str, str], None]] = []
        self._notification_listeners: list[Callable[[NotificationEvent], None]] = []
        self.notifications: list[NotificationEvent] = []  # recent, for the API (bounded)
        self._stored_noticed: set[str] = set()  # stored parameters already announced (Conf 9030) this boot
        self._install_status()
        self.config.subscribe(self._on_change)
        # Engines are attached by emulator.lab.build_unit (keeps this module free of face imports).
        self.nlm: Any = None
        self.hoc: Any = None
        self.cert: Any = None

    # ------------------------------------------------------------------ identity & status
    def macros(self) -> dict[str, str]:
        """Values of the DGW %macros% (%mac%, %serial%, %version%, %product%, %profile%...)."""
        return {
            "mac": self.identity.mac,
            "serial": self.identity.serial,
            "version": self.version,
            "product": self.profile.product,
            "productseries": self.profile.series,
            "profile": self.profile.key,
            "mfpname": f"DGW {self.version}",
        }

    def local_time(self, utc: float | None = None) -> str:
        tz = str(self.config.get("Hoc.StaticTimeZone") or "")
        return format_local_time(self.clock.now() if utc is None else utc, tz)

    def _install_status(self) -> None:
        c = self.config
        c.provide("Hoc.SystemTime", lambda: self.local_time())
        c.provide("Hoc.SystemUptime", self._uptime_text)
        c.provide("Dcm.UnitInfoProductName", lambda: self.profile.product)
        c.provide("Dcm.UnitInfoSerialNumber", lambda: self.identity.serial)
        c.provide("Dcm.UnitInfoMacAddress", lambda: self.identity.mac)
        c.provide("Dcm.UnitInfoHardwareRevision", lambda: self.profile.hardware_revision)
        for svc in self.catalog.services.values():
            p = svc.params.get("NeedRestartInfo")
            if p is not None:
                c.provide(p.name, self._need_restart_info(svc.name))
        c.provide_rows("Scm.ServicesInfo", self._services_info_rows)
        c.on_command("Scm.ServiceCommands.Restart", lambda idx: self._spawn(self.restart_service(str(idx[0]))))
        c.on_command("Scm.ServiceCommands.Stop", lambda idx: self._spawn(self.stop_service(str(idx[0]))))
        c.on_command("Scm.ServiceCommands.Start", lambda idx: self._spawn(self.start_service(str(idx[0]))))

    def _need_restart_info(self, service: str) -> Callable[[], str]:
        return lambda: "Yes" if self.config.needs_restart(service) else "No"

    def _uptime_text(self) -> str:
        s = int(self.clock.uptime())
        d, s = divmod(s, 86400)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return f"{d}:{h:02d}:{m:02d}:{s:02d}"

    def _services_info_rows(self) -> list[dict[str, Any]]:
        rows = []
        for st in self.services.values():
            svc = self.catalog.services[st.name]
            startup = self.config.get(f"Scm.ServicesConfig[{st.name}].StartupType")
            rows.append({
                "Name": st.name,
                "Id": svc.numkey,
                "Class": "System" if st.name in ("Scm", "Conf", "Nlm", "Aaa", "Hoc", "Bni", "Pcm") else "User",
                "StartupType": startup or "Auto",
                "ExecState": st.state,
                "Comment": st.comment,
            })
        return rows

    # ------------------------------------------------------------------ notifications
    def notify(self, service: str, msg_id: int, /, **fields: Any) -> NotificationEvent | None:
        """Raise a numbered notification (catalog in firmware_model.notifications)."""
        if self.nlm is None:
            return None
        ev: NotificationEvent | None = self.nlm.notify(service, msg_id, **fields)
        return ev

    def on_service_state(self, fn: Callable[[str, str], None]) -> Callable[[], None]:
        """Call ``fn(service, state)`` after a service started or stopped (EpAdm follows SipEp so), and
        ``fn("", "Booted")`` once a start of the unit has started every service (``booting`` is True until then)."""
        self._service_listeners.append(fn)
        return lambda: self._service_listeners.remove(fn)

    def _service_state_changed(self, st: ServiceState) -> None:
        for fn in list(self._service_listeners):
            fn(st.name, st.state)

    def on_listening(self, fn: Callable[[str, str | None], None]) -> Callable[[], None]:
        """Call ``fn(face, address or None)`` when a face opens, moves or closes (the ready file follows)."""
        self._listening_listeners.append(fn)
        return lambda: self._listening_listeners.remove(fn)

    def _listening_changed(self, face: str, address: str | None) -> None:
        port = port_of(address) if address else None
        if port:
            self.ports.remember(face, port)
        for fn in list(self._listening_listeners):
            fn(face, address)

    def on_notification(self, fn: Callable[[NotificationEvent], None]) -> Callable[[], None]:
        self._notification_listeners.append(fn)
        return lambda: self._notification_listeners.remove(fn)

    def _published(self, ev: NotificationEvent) -> None:
        """Called by the Nlm engine for every notification that passed MinSeverity."""
        self.notifications.append(ev)
        if len(self.notifications) > 1000:
            del self.notifications[:100]
        for fn in list(self._notification_listeners):
            fn(ev)

    def _on_change(self, ev: ChangeEvent) -> None:
        self.log.info("config_changed", **ev.redacted())
        self._notice_stored(ev)

    def _notice_stored(self, ev: ChangeEvent) -> None:
        """Conf 9030 (emulator addition), once per parameter per boot: a value other than the default was given
        to a parameter the emulator only stores (``firmware_model/behaviour.py``), from any face or script."""
        p = ev.param
        if ev.kind != "set" or ev.new is None or ev.new == p.default or p.name in self._stored_noticed:
            return
        if load_behaviour().get(p.name) != "stored":
            return
        self._stored_noticed.add(p.name)
        self.notify("Conf", 9030, param=p.name)

    # ------------------------------------------------------------------ lifecycle
    def attach(self, engine: ServiceEngine) -> None:
        self.services[engine.name].engine = engine

    # Services the others rely on start first: notifications, users, time, certificates.
    BOOT_FIRST = ("Nlm", "Aaa", "Hoc", "Cert")

    def _boot_order(self) -> list[ServiceState]:
        first = [self.services[n] for n in self.BOOT_FIRST if n in self.services]
        return first + [st for st in self.services.values() if st.name not in self.BOOT_FIRST]

    async def start(self) -> None:
        self.started_at = time.monotonic()
        self._stored_noticed.clear()  # a new boot announces the stored parameters again
        self.booting = True
        try:
            for st in self._boot_order():
                startup = self.config.get(f"Scm.ServicesConfig[{st.name}].StartupType")
                if startup == "Manual":
                    continue
                await self.start_service(st.name, boot=True)
        finally:
            self.booting = False
        self.config._restart.clear()  # a fresh boot applies everything
        for fn in list(self._service_listeners):
            fn("", "Booted")

    async def stop(self) -> None:
        for st in reversed(self._boot_order()):
            if st.state == "Started":
                await self.stop_service(st.name, notify=False)
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def reboot(self) -> None:
        """A warm restart of the unit: every service stops and starts again; uptime starts from zero."""
        await self.stop()
        self.clock.boot_monotonic = time.monotonic()
        await self.start()

    def _canon(self, name: str) -> ServiceState:
        st = self.services.get(name)  # the exact name first: a boot asks for every service (1,000 units: 40,000)
        if st is not None:
            return st
        for k, st in self.services.items():
            if k.lower() == name.lower():
                return st
        raise KeyError(f"unknown service {name}")

    async def start_service(self, name: str, boot: bool = False) -> None:
        st = self._canon(name)
        if st.state == "Started":
            return
        st.state = "Starting"
        try:
            if st.engine is not None:
                await st.engine.start()
            st.state = "Started"
            st.comment = ""
            if not boot:
                self.notify("Scm", 9001, name=st.name)
        except Exception as e:
            st.state = "Stopped"
            st.comment = str(e)[:255]
            self.log.error("service_start_failed", service=st.name, error=str(e))
        self.config.clear_restart(st.name)
        self._service_state_changed(st)

    async def stop_service(self, name: str, notify: bool = True) -> None:
        st = self._canon(name)
        if st.state != "Started":
            return
        st.state = "Stopping"
        try:
            if st.engine is not None:
                await asyncio.wait_for(st.engine.stop(), self.stop_timeout)
        except TimeoutError:
            # An engine whose stop hangs (a task that swallowed its cancellation: asyncio.wait_for on Python
            # 3.11 does when its inner call ends as it is cancelled) is cancelled again by the timeout, and
            # never wedges its unit's stop, a restart or the process's exit.
            st.comment = f"stop took more than {self.stop_timeout:g} s"
            self.log.error("service_stop_timeout", service=st.name, seconds=self.stop_timeout)
        finally:
            st.state = "Stopped"
            self._service_state_changed(st)
        if notify:
            self.notify("Scm", 9002, name=st.name)

    async def restart_service(self, name: str) -> None:
        st = self._canon(name)
        await self.stop_service(st.name, notify=False)
        await self.start_service(st.name, boot=True)
        self.notify("Scm", 9003, name=st.name)

    def run_script(self, text: str, source: str = "api") -> ScriptResult:
        """Run a configuration script (all or nothing) with the unit's commands; notify the outcome.

        Service commands (``Scm.RestartRequiredServices``) are started, not waited for: a face that reports
        their outcome uses :meth:`run_script_waiting`."""
        result = run_script(self.config, text, commands=self.commands, source=source)
        self._script_notification(result, source)
        return result

    async def run_script_waiting(self, text: str, source: str = "api") -> tuple[ScriptResult, list[str]]:
        """Run a configuration script and wait for the service restarts it asked for; returns the result
        and the services restarted. A service that did not start again fails the command's line
        ("command failed after the configuration was applied: ..."), as ``POST /services/restart-required``
        reports it (the service's ``Comment`` in ``Scm.ServicesInfo`` says why)."""
        started: list[tuple[str, asyncio.Task[Any]]] = []

        def waited(name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> Any:
                out = fn()
                if isinstance(out, asyncio.Task):
                    started.append((name, out))
                return out

            return run

        commands = {name: waited(name, fn) for name, fn in self.commands.items()}
        result = run_script(self.config, text, commands=commands, source=source)
        lines = iter([ln for ln in result.lines if ln.ok and strip_comment(ln.text).strip().lower() in
                      {name.lower() for name, _ in started}])
        restarted: list[str] = []
        for _name, task in started:
            line = next(lines, None)
            try:
                names = await asyncio.shield(task)  # the restart goes on if the face's request is cancelled
            except Exception as e:
                names, error = [], f"{type(e).__name__}: {e}"
            else:
                failed = [f"{n} ({self.services[n].comment or self.services[n].state})" for n in names
                          if self.services[n].state != "Started"]
                error = f"did not start again: {', '.join(failed)}" if failed else ""
            restarted += [n for n in names if self.services[n].state == "Started"]
            if error and line is not None:
                line.ok, line.error = False, f"command failed after the configuration was applied: {error}"
        if started:
            result.ok = all(ln.ok for ln in result.lines)
            result.applied = sum(1 for ln in result.lines if ln.ok)
        self._script_notification(result, source)
        return result, restarted

    def _script_notification(self, result: ScriptResult, source: str) -> None:
        if result.ok:
            self.notify("Conf", 9001, source=source, applied=result.applied, total=len(result.lines))
        else:
            self.notify("Conf", 9002, source=source, failed=len(result.errors), total=len(result.lines))

    def factory_reset(self, source: str = "api") -> None:
        """Back to the model's factory configuration; every running service then needs a restart."""
        self.config.factory_reset(source=source)
        for name in self.config.restart_required():
            if name not in self.services:  # catalog-only (Hardware): nothing runs it
                self.config.clear_restart(name)
        self.notify("Conf", 9003)

    async def restart_required_services(self) -> list[str]:
        names = [n for n in self.config.restart_required() if n in self.services]
        for n in names:
            await self.restart_service(n)
        return names

    def _cmd_restart_required(self) -> asyncio.Task[list[str]]:
        """``Scm.RestartRequiredServices`` as a command (scripts, the CLI): the restarts run in a task of the
        unit, so a face that restarts itself does not cancel them; a caller reporting the outcome awaits it."""
        return self._task(self.restart_required_services())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._task(coro)

    def _task(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task of the unit (cancelled when the unit stops)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def run_row_command(self, fn: Callable[[Index], None], index: Index) -> None:
        fn(index)

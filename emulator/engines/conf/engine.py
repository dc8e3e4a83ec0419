"""Conf: the Configuration Manager service of a unit — configuration scripts fetched and run by the unit itself
(MX-CONF-MIB ``Scripts*``), the script export to a URL and the configuration images (:mod:`.images`).

Triggers (each runs "generic then specific", see :meth:`ConfEngine.transfer_and_run`):

* **on restart** (``ScriptsTransferOnRestartEnable``) at each unit boot (not at a restart of the Conf service
  alone). With DHCP scripts on (``ScriptsDhcpDownloadEnable``) and ``ScriptsTransferOnRestartDhcpScriptMaxDelay``
  above 0, it waits that many seconds and is cancelled when DHCP names a script meanwhile;
* **periodic** (``ScriptsTransferPeriodicEnable``; :mod:`.schedule`): Minutes/Hours from the service's start,
  Days at a random moment of ``ScriptsTransferTimeRange`` on the unit's local clock (only once the clock is
  synchronised, as the vendor requires);
* **DHCP** (options 66/67 or option 43 sub-options 66/67, :func:`.url.dhcp_targets`): each script on its own,
  option 66's first, never retried; a renewed lease naming the same scripts triggers nothing;
* **command** ``Conf.TransferScripts`` (scripts, CLI, API; :meth:`ConfEngine.begin`).

Retries (``ScriptsTransferRetriesNumber``, -1 forever): on-restart and periodic transfers only, only when the
server is unreachable (:attr:`.transfer.TransferError.retryable`), ``retry_spacing`` (30 s) apart.

Execution: both files are fetched first (state ``Transfering``), then each runs all or nothing through
``Unit.run_script_waiting`` (state ``Running``); an encrypted file (:mod:`firmware_model.crypt`, detected by its
header) is opened with ``ScriptsSecretKey``. ``ScriptsStatsLastTransferResult``: ``Success`` (every script ran or
was skipped as a repetition), ``ExecutionFailed`` (a script was refused: nothing of THAT script applied),
``TransferFailed`` (a file could not be fetched: nothing run). With ``ScriptsAllowRepeatedExecution`` off, a script
identical (SHA-256 of its text) to the last one executed is skipped; the service keeps only the last one, across
restarts, until a factory reset (which also resets the statistics to ``None``).

Emulator choices (the vendor documents none of them): the command names, fetching both files before running
either, "identical" meaning the same text, the state file ``<state dir>/conf-state.json``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import random
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from emulator.engines.cert.tls import TlsPolicy, tls_policy
from emulator.engines.conf.images import ImageJobs
from emulator.engines.conf.schedule import UNIT_SECONDS, daily_due, parse_time_range
from emulator.engines.conf.status import StatusBoard
from emulator.engines.conf.transfer import Transferer, TransferError
from emulator.engines.conf.url import Target, UrlError, dhcp_targets, script_targets
from emulator.runtime.logging import report_crash
from emulator.runtime.timers import Deadline, Periodic, sleep_until
from firmware_model.config import ChangeEvent, ConfigError
from firmware_model.crypt import CryptError, decrypt, is_encrypted
from firmware_model.timezone import PosixTz, TzError, parse_tz

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["ConfEngine", "dhcp_script_options"]

RETRY_SPACING_S = 30.0  # MX-CONF-MIB ScriptsTransferRetriesNumber: "The time interval between retries is 30 seconds"
PERIODIC_PARAMS = frozenset({
    "Conf.ScriptsTransferPeriodicEnable", "Conf.ScriptsTransferPeriodicTimeUnit", "Conf.ScriptsTransferInterval",
    "Conf.ScriptsTransferTimeRange", "Hoc.StaticTimeZone",
})
UNSYNCHRONIZED_POLL_S = 60.0  # how often a Days schedule looks again for a synchronised clock
# The service's commands (:meth:`ConfEngine.begin`) and what a script or the CLI running one reads once its job has
# begun: Conf.TransferScripts transfers and runs the configured scripts now (no retries), Conf.ExportScript exports
# the configuration script to Conf.ScriptExportUrl, Conf.ImageBackup and Conf.ImageRestore (Admin only) save, and
# load and apply, the configuration image.
COMMAND_STARTED: dict[str, str] = {
    "Conf.TransferScripts": "Configuration scripts transfer started\n",
    "Conf.ExportScript": "Configuration script export started\n",
    "Conf.ImageBackup": "Configuration backup started\n",
    "Conf.ImageRestore": "Configuration restore started\n",
}


def dhcp_script_options(lease: Any) -> list[str]:
    """The script options of a DHCP lease, in running order: options 66 and 67, else option 43's sub-options."""
    if lease is None:
        return []
    plain = [v for v in (lease.tftp_server, lease.bootfile) if v]
    return plain or [v for v in (lease.vendor_tftp_server, lease.vendor_bootfile) if v]


class ConfEngine:
    """The Conf service of one unit (see the module docstring)."""

    name = "Conf"

    def __init__(self, unit: Unit, *, retry_spacing: float = RETRY_SPACING_S,
                 unit_seconds: Mapping[str, float] | None = None, timeout: float = 30.0,
                 rnd: random.Random | None = None) -> None:
        self.unit = unit
        self.config = unit.config
        self.retry_spacing = retry_spacing
        self.unit_seconds = dict(unit_seconds or UNIT_SECONDS)  # tests shorten Minutes/Hours
        self.rnd = rnd or random.Random()
        self.status = StatusBoard(unit)
        self.transfers = 0  # transfer-and-run cycles finished (tests, benches)
        self.running = False
        self.last_refusal = ""  # why the last script was refused (Conf 9014), for the faces that ran it
        self.fetcher = self._make_transferer("Conf", timeout)
        self.images = ImageJobs(unit, self.status, self._make_transferer("ConfImage", timeout))
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._lock: asyncio.Lock | None = None
        self._boot_seen = 0.0
        self._dhcp_options: list[str] = []  # the last DHCP script options handled in this boot
        self._dhcp_pending: list[str] | None = None  # given before the service started
        self._dhcp_event: asyncio.Event | None = None
        self._unsubscribe: Callable[[], None] | None = None
        unit.commands.update({command: functools.partial(self.run_command, command) for command in COMMAND_STARTED})
        self.config.subscribe(self._on_config)

    def _make_transferer(self, tls_key: str, timeout: float) -> Transferer:
        u = self.unit

        def policy() -> TlsPolicy:
            return tls_policy(u, tls_key)

        return Transferer(u.host, u.state_dir, tls=policy, timeout=timeout, user_agent=self._user_agent())

    def _user_agent(self) -> str:
        return f"{self.unit.profile.product} DGW {self.unit.version}"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.running = True
        self.fetcher.user_agent = self.images.transfers.user_agent = self._user_agent()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._dhcp_event = asyncio.Event()
        boot = self.unit.clock.boot_monotonic != self._boot_seen
        self._boot_seen = self.unit.clock.boot_monotonic
        if boot:
            self._dhcp_options = []
        self._spawn(self._periodic(), "conf_periodic_crashed")
        if boot and self.config.get("Conf.ScriptsTransferOnRestartEnable") == "Enable":
            self._spawn(self._on_restart(), "conf_on_restart_crashed")
        pending, self._dhcp_pending = self._dhcp_pending, None
        if pending:
            self._dhcp_received(pending)

    async def stop(self) -> None:
        self.running = False
        tasks, self._tasks = list(self._tasks), set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.status.transfer_state = self.status.export_state = "Idle"

    def _spawn(self, coro: Coroutine[Any, Any, Any], crash_event: str = "conf_task_crashed") -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"conf-{self.unit.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(report_crash(self.unit.log, crash_event))
        return task

    def _require_running(self, command: str) -> None:
        if not self.running:
            raise ConfigError("invalid", command, f"{command}: the Conf service is not running")

    def _on_config(self, ev: ChangeEvent) -> None:
        if ev.kind == "reset":  # "None: nothing since the last reset to default settings"
            self.status.reset()
        if ev.kind == "reset" or ev.param.name in PERIODIC_PARAMS:
            self._wake.set()

    # ------------------------------------------------------------------ commands
    def begin(self, command: str) -> asyncio.Task[str]:
        """Start one of the service's commands as a job of the service (a Conf stop cancels it); the task's
        result is the new status value (``ScriptsStatsLastTransferResult``, ``...LastExportResult``,
        ``ImageBackupStatus`` or ``ImageRestoreStatus``). ``ConfigError`` when the service is not running.
        Faces that wait for the outcome shield the task, so a client that goes away does not cancel it."""
        jobs: dict[str, Callable[[], Coroutine[Any, Any, str]]] = {
            "Conf.TransferScripts": lambda: self.transfer_and_run("command"),
            "Conf.ExportScript": self.images.export_script,
            "Conf.ImageBackup": self.images.backup,
            "Conf.ImageRestore": self.images.restore,
        }
        self._require_running(command)
        return self._spawn(jobs[command]())

    def run_command(self, command: str) -> str:
        """A command of :data:`COMMAND_STARTED` as a script or the CLI runs it: its job begun, the line saying so."""
        self.begin(command)
        return COMMAND_STARTED[command]

    # ------------------------------------------------------------------ transfer and run
    async def transfer_and_run(self, trigger: str, targets: list[tuple[str, Target]] | None = None,
                               retries: int = 0) -> str:
        """Fetch then run the scripts (the configured generic and specific ones unless ``targets`` is given);
        ``retries`` as ``ScriptsTransferRetriesNumber``. Returns the new ``ScriptsStatsLastTransferResult``."""
        assert self._lock is not None, "the Conf service is not started"
        async with self._lock:
            try:
                return await self._transfer_and_run(trigger, targets, retries)
            finally:
                self.status.transfer_state = "Idle"
                self.transfers += 1

    async def _transfer_and_run(self, trigger: str, targets: list[tuple[str, Target]] | None, retries: int) -> str:
        self.status.transfer_state = "Transfering"
        try:
            targets = targets if targets is not None else script_targets(self.config, self.unit.macros())
        except UrlError as e:
            self.unit.notify("Conf", 9011, kind="configured", url="-", trigger=trigger, reason=str(e))
            return self._result("TransferFailed")
        if not targets:
            self.unit.notify("Conf", 9011, kind="configured", url="-", trigger=trigger,
                             reason="no script file name is set (Conf.ScriptGenericFileName, ScriptSpecificFileName)")
            return self._result("TransferFailed")
        fetched: list[tuple[str, Target, bytes]] = []
        for kind, target in targets:
            try:
                data = await self._fetch(target, retries)
            except TransferError as e:
                self.unit.log.warning("conf_transfer_failed", url=target.shown, kind=e.kind, reason=e.message)
                self.unit.notify("Conf", 9011, kind=kind, url=target.shown, trigger=trigger, reason=e.message)
                return self._result("TransferFailed")
            self.unit.notify("Conf", 9010, kind=kind, url=target.shown, size=len(data), trigger=trigger)
            fetched.append((kind, target, data))
        self.status.transfer_state = "Running"
        ok = True
        for kind, target, data in fetched:
            ok = await self._execute(kind, target.shown, data) and ok
        return self._result("Success" if ok else "ExecutionFailed")

    async def _fetch(self, target: Target, retries: int) -> bytes:
        attempt = 0
        while True:
            try:
                return await self.fetcher.get(target)
            except TransferError as e:
                if not e.retryable or (retries != -1 and attempt >= retries):
                    raise
                attempt += 1
                self.unit.notify("Conf", 9012, url=target.shown, reason=e.message, attempt=attempt,
                                 delay=f"{self.retry_spacing:g}")
                await asyncio.sleep(self.retry_spacing)

    async def _execute(self, kind: str, url: str, data: bytes, source: str = "provisioning") -> bool:
        """Run one script all or nothing; True when it ran (or was skipped as a repetition). ``source``: the
        configuration changes' source (``cwmp`` for a TR-069 Download, which is not notified back to the ACS)."""
        try:
            text = self._script_text(data)
        except (CryptError, UnicodeDecodeError) as e:
            self.last_refusal = str(e) if isinstance(e, CryptError) else "the script is not UTF-8 text"
            self.unit.notify("Conf", 9014, kind=kind, url=url, reason=self.last_refusal)
            return False
        digest = hashlib.sha256(text.encode()).hexdigest()
        repeated = digest == self.status.stats.last_sha256
        if repeated and self.config.get("Conf.ScriptsAllowRepeatedExecution") == "Disable":
            self.unit.notify("Conf", 9015, kind=kind, url=url)
            return True
        result, _restarted = await self.unit.run_script_waiting(text, source=source)
        if not result.ok:
            first = result.errors[0]
            self.last_refusal = f"line {first.number}: {first.error}" if first.number else str(first.error)
            self.unit.notify("Conf", 9014, kind=kind, url=url, reason=self.last_refusal)
            return False
        self.status.stats.last_sha256 = digest
        self.status.save()
        self.unit.notify("Conf", 9013, kind=kind, url=url, applied=result.applied)
        return True

    async def run_downloaded(self, data: bytes, url: str, trigger: str = "cwmp") -> str:
        """Run a script another face fetched (a TR-069 Download of a "3 Vendor Configuration File") as a transfer
        of this service: encrypted scripts opened, the repetition rule, ``ScriptsStats*`` and the notifications.
        Returns the new ``ScriptsStatsLastTransferResult`` (``Success`` or ``ExecutionFailed``)."""
        self._require_running("Conf.TransferScripts")
        assert self._lock is not None
        async with self._lock:
            self.unit.notify("Conf", 9010, kind="Download", url=url, size=len(data), trigger=trigger)
            self.status.transfer_state = "Running"
            try:
                ok = await self._execute("Download", url, data, source=trigger)
                return self._result("Success" if ok else "ExecutionFailed")
            finally:
                self.status.transfer_state = "Idle"
                self.transfers += 1

    def _script_text(self, data: bytes) -> str:
        if is_encrypted(data):
            data = decrypt(data, self.config.get_text("Conf.ScriptsSecretKey"))
        return data.decode("utf-8")

    def _result(self, result: str) -> str:
        # the date is "the last successful transfer AND execution"
        return self.status.record("last_result", result, dated="last_datetime" if result == "Success" else None)

    def _retries(self) -> int:
        return int(self.config.get("Conf.ScriptsTransferRetriesNumber") or 0)

    # ------------------------------------------------------------------ on restart
    async def _on_restart(self) -> None:
        c = self.config
        delay = int(c.get("Conf.ScriptsTransferOnRestartDhcpScriptMaxDelay") or 0)
        if delay and c.get("Conf.ScriptsDhcpDownloadEnable") == "Enable":
            assert self._dhcp_event is not None
            try:
                await asyncio.wait_for(self._dhcp_event.wait(), delay)
                self.unit.log.info("conf_on_restart_cancelled", reason="DHCP named a script")
                return
            except TimeoutError:
                pass
        await self.transfer_and_run("restart", retries=self._retries())

    # ------------------------------------------------------------------ periodic
    async def _periodic(self) -> None:
        periodic: Periodic | None = None
        daily = Deadline()
        daily_key: tuple[Any, ...] | None = None
        last_day: int | None = None
        clock = self.unit.clock
        while True:
            c = self.config
            due: float | None = None
            if c.get("Conf.ScriptsTransferPeriodicEnable") == "Enable":
                unit = str(c.get("Conf.ScriptsTransferPeriodicTimeUnit"))
                n = int(c.get("Conf.ScriptsTransferInterval") or 1)
                if unit == "Days":
                    periodic = None
                    key = (n, c.get_text("Conf.ScriptsTransferTimeRange"), c.get_text("Hoc.StaticTimeZone"))
                    if key != daily_key:
                        daily.cancel()
                        daily_key, last_day = key, None
                    if not daily.armed and clock.synchronized:
                        day = self._daily_next(n, last_day)
                        if day is not None:
                            daily.arm(day[0])
                            last_day = day[1]
                    due = daily.due if daily.armed else clock.now() + UNSYNCHRONIZED_POLL_S
                else:
                    daily.cancel()
                    daily_key = None
                    interval = n * self.unit_seconds[unit]
                    if periodic is None:
                        periodic = Periodic.start(interval, clock.now(), clock.now())
                    else:
                        periodic.reconfigure(interval, periodic.reference, clock.now())
                    due = periodic.due
            else:
                periodic, daily_key = None, None
                daily.cancel()
            if await sleep_until(clock.now, due, self._wake):
                self._wake.clear()
                continue
            fired = (periodic is not None and periodic.poll(clock.now())) or daily.poll(clock.now())
            if fired:
                await self.transfer_and_run("periodic", retries=self._retries())

    def _daily_next(self, days: int, last_day: int | None) -> tuple[float, int] | None:
        c = self.config
        try:
            window = parse_time_range(c.get_text("Conf.ScriptsTransferTimeRange"))
        except ValueError as e:
            self.unit.log.warning("conf_time_range_invalid", reason=str(e))
            return None
        tz_text = c.get_text("Hoc.StaticTimeZone")
        try:
            tz = parse_tz(tz_text) if tz_text else PosixTz("UTC", 0)
        except TzError:
            tz = PosixTz("UTC", 0)
        return daily_due(self.unit.clock.now(), days=days, window=window, utcoffset=lambda t: tz.utcoffset(t)[0],
                         rnd=self.rnd, last_day=last_day)

    # ------------------------------------------------------------------ DHCP
    def on_dhcp_lease(self, lease: Any) -> None:
        """The unit's DHCP client got (or renewed, or lost) a lease (``emulator.engines.bni``)."""
        options = dhcp_script_options(lease)
        if not options:
            return
        if not self.running:
            self._dhcp_pending = options
            return
        self._dhcp_received(options)

    def _dhcp_received(self, options: list[str]) -> None:
        if options == self._dhcp_options or self.config.get("Conf.ScriptsDhcpDownloadEnable") != "Enable":
            return
        self._dhcp_options = options
        try:
            targets = dhcp_targets(options, str(self.config.get("Conf.ScriptsDhcpOptionsFormat")), self.config,
                                   self.unit.macros())
        except UrlError as e:
            self.unit.notify("Conf", 9011, kind="DHCP", url=" ".join(options), trigger="dhcp", reason=str(e))
            return
        if self._dhcp_event is not None:
            self._dhcp_event.set()  # an on-restart transfer waiting for DHCP is cancelled
        self._spawn(self._dhcp_transfers(targets))

    async def _dhcp_transfers(self, targets: list[Target]) -> None:
        for target in targets:  # "both scripts are executed independently", option 66's first; never retried
            await self.transfer_and_run("dhcp", [("DHCP", target)])

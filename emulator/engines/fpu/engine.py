"""Fpu: the Firmware Pack Updater service of a unit — firmware packs (MFP, :mod:`firmware_model.mfp`) installed
into the bank that is not running, rollback, and the restart that finishes either (MX-FPU-MIB).

* ``Fpu.Install`` (or :meth:`FpuEngine.install`): ``Fpu.MfpUrl`` (HTTP, HTTPS, TFTP or FTP; macros ``%mac%
  %product% %productseries% %serial%``; credentials in the URL win over ``MfpTransferUsername/Password``) is
  fetched (HTTPS through the unit's Fpu TLS policy), checked — a corrupt, truncated, unsigned, wrongly signed or
  other product's pack is refused with the reason, the running bank untouched — and written to the other bank
  (:mod:`.banks`). ``MfpLastInstallationResult`` is ``Success`` or ``Fail``, ``MfpLastInstallationDateTime`` set.
* ``Fpu.Rollback`` (or :meth:`FpuEngine.rollback`): the next start runs the other bank, if it holds firmware.
* Then: with ``AutomaticRestartEnable`` the unit restarts by itself — after the telephony calls end, waiting at
  most ``AutomaticRestartGraceDelay`` minutes (0: at once) — else it waits for a manual restart.
  ``DefaultSettingsOnInstall`` resets the configuration to its factory values when the new firmware starts.
* After the restart the unit runs the new bank: ``unit.version`` (sysinfo, SNMP sysDescr, TR-069 SoftwareVersion,
  the web footer) is its version; ``Fpu.MfpInstalledInfo`` shows both banks (``MainInUse``/``Recovery``...).

``Fpu.Status``: ``WaitingSystemReady`` while the unit boots, ``Idle`` (commands accepted), ``Updating`` (download
and install), ``Rollbacking``, ``WaitingForGracefulRestart`` (calls still up), ``WaitingManualRestart``.

Emulator choices (not documented by the vendor): the command names, the MFP file, which status a rollback passes
through, and that a bank switch (with its factory reset) happens when the unit starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from emulator.engines.cert.tls import TlsPolicy, tls_policy
from emulator.engines.conf.transfer import Transferer, TransferError
from emulator.engines.conf.url import UrlError, expand, parse_url
from emulator.engines.fpu.banks import BankInfo, BankState, BankStore
from emulator.runtime.logging import report_crash
from firmware_model.config import ConfigError
from firmware_model.mfp import MfpError, read_mfp
from firmware_model.profiles import FIRMWARE_VERSION

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["FpuEngine"]

URL_MACROS = ("mac", "product", "productseries", "serial")  # MX-FPU-MIB MfpUrl
URL_PROTOCOLS = ("http", "https", "tftp", "ftp")  # no File for packs


class FpuEngine:
    """The Fpu service of one unit (see the module docstring)."""

    name = "Fpu"

    def __init__(self, unit: Unit, *, active_calls: Callable[[], int] = lambda: 0, poll_s: float = 1.0,
                 minute_s: float = 60.0, timeout: float = 120.0, trusted: Iterable[Ed25519PublicKey] = ()) -> None:
        self.unit = unit
        self.config = unit.config
        self.active_calls = active_calls  # telephony calls up (the lab wires SipEp's)
        self.poll_s = poll_s
        self.minute_s = minute_s  # length of a configured minute (tests shorten the grace delay)
        self.trusted = tuple(trusted)
        self.store = BankStore(unit.state_dir, BankInfo(f"DGW {FIRMWARE_VERSION}", FIRMWARE_VERSION,
                                                        unit.profile.key))
        self.banks: BankState = self.store.load()
        self.status = "WaitingSystemReady"
        self.running = False
        self.installs = 0
        self.restarts = 0  # restarts this engine asked for
        self._boot_seen = 0.0
        self._reset_done = False  # a factory reset happened in this boot: services restart once it is ready
        self._task: asyncio.Task[Any] | None = None
        self._outcome: asyncio.Future[Any] | None = None  # the result a face waits for (begin_install/rollback)
        self.last_reason = ""  # why the last install or rollback was refused
        self._restart_task: asyncio.Task[None] | None = None  # outlives the engine: it restarts the unit
        self._unsubscribe: Callable[[], None] | None = None

        def policy() -> TlsPolicy:
            return tls_policy(unit, "Fpu")

        self.transfers = Transferer(unit.host, unit.state_dir, tls=policy, timeout=timeout)
        c = self.config
        c.provide("Fpu.Status", lambda: self.status)
        c.provide("Fpu.MfpLastInstallationResult", lambda: self.banks.last_result)
        c.provide("Fpu.MfpLastInstallationDateTime", lambda: self.banks.last_datetime)
        c.provide("Fpu.MfpRollbackAvailable", lambda: "Yes" if self.rollback_available() else "No")
        c.provide_rows("Fpu.MfpInstalledInfo", self._installed_rows)
        unit.commands.update({"Fpu.Install": self.install_now, "Fpu.Rollback": self.rollback_now})
        self._boot()  # the process starts: the unit runs its bank from the first moment

    # ------------------------------------------------------------------ banks
    def _boot(self) -> None:
        """The unit starts: switch to the bank chosen for this start (with its factory reset) and run it."""
        self._boot_seen = self.unit.clock.boot_monotonic
        self._switch()

    def _switch(self) -> None:
        b = self.banks
        if b.next_boot != b.active or b.reset_on_switch:
            reset = b.reset_on_switch
            b.active, b.reset_on_switch = b.next_boot, False
            if reset:
                self.unit.factory_reset(source="fpu")
                self._reset_done = True
            self.store.save(b)
        info = b.banks[b.active]
        assert info is not None  # BankStore.load never leaves the running bank empty
        self.unit.version = info.version

    def rollback_available(self) -> bool:
        b = self.banks
        return b.next_boot == b.active and b.banks[b.other()] is not None

    def _installed_rows(self) -> list[dict[str, Any]]:
        rows = []
        for index, bank in enumerate(("Main", "Recovery"), start=1):
            info = self.banks.banks[bank]
            shown = "None" if info is None else f"{bank}InUse" if bank == self.banks.active else bank
            rows.append({"Index": index, "MfpName": info.name if info else "", "MfpVersion": info.version if info
                         else "", "MfpBank": shown, "MfpProfileName": info.profile if info else ""})
        return rows

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.running = True
        if self.unit.clock.boot_monotonic != self._boot_seen:  # the unit restarted: its next bank runs
            self.banks = self.store.load()
            self._boot()
            self.status = "WaitingSystemReady"
        elif self.status not in ("WaitingManualRestart", "WaitingForGracefulRestart"):
            self.status = "WaitingSystemReady"  # the Fpu service alone restarted: a pending restart stays pending
        info = self.banks.banks[self.banks.active]
        if info is not None:
            self.unit.notify("Fpu", 9007, version=info.version, name=info.name, bank=self.banks.active)
        self._unsubscribe = self.unit.on_service_state(lambda _name, _state: self._check_ready())
        self._check_ready()

    async def stop(self) -> None:
        self.running = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._settle(None)
        if self.status in ("Updating", "Rollbacking"):
            self.status = "Idle"  # a service restart ends the job; what was not saved did not happen

    def _check_ready(self) -> None:
        """``WaitingSystemReady`` ends when every service meant to run has started (or failed to)."""
        if self.status != "WaitingSystemReady" or self.unit.booting:
            return  # a unit's start is checked once, when it has started every service ("Booted")
        services = self.unit.services.values()
        # After a service restart: the cheap test first, and the StartupType looked up only for a service that
        # stopped without a reason.
        if any(st.state in ("Starting", "Stopping") for st in services):
            return
        for st in services:
            if st.state == "Stopped" and not st.comment and \
                    self.config.get(f"Scm.ServicesConfig[{st.name}].StartupType") != "Manual":
                return
        self.status = "Idle"
        if self._reset_done:  # the factory reset of DefaultSettingsOnInstall: the services take it now
            self._reset_done = False
            self._spawn(self.unit.restart_required_services())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"fpu-{self.unit.name}")
        task.add_done_callback(report_crash(self.unit.log, "fpu_task_crashed"))
        self._task = task

    def _require_idle(self, command: str) -> None:
        if not self.running:
            raise ConfigError("invalid", command, f"{command}: the Fpu service is not running")
        if self.status != "Idle":
            raise ConfigError("invalid", command, f"{command}: the Fpu service is busy (Fpu.Status is {self.status})")

    # ------------------------------------------------------------------ install
    def install_now(self) -> str:
        """``Fpu.Install``: download and install ``Fpu.MfpUrl`` (the job runs on; see ``Fpu.Status``)."""
        self.begin_install()
        return "Firmware installation started\n"

    def begin_install(self, url: str | None = None) -> asyncio.Future[str]:
        """Start an install (``url`` instead of ``Fpu.MfpUrl``) as the service's job; the future holds
        ``MfpLastInstallationResult`` as soon as it is known (before any restart). ``ConfigError`` when the
        service is not running or busy."""
        self._require_idle("Fpu.Install")
        self.status = "Updating"
        outcome = self._new_outcome()
        self._spawn(self.install(url))
        return outcome

    async def install(self, url: str | None = None) -> str:
        """Install now (``url`` instead of ``Fpu.MfpUrl``); returns ``MfpLastInstallationResult``."""
        self.status = "Updating"
        shown = "-"
        try:
            target = parse_url(expand(url if url is not None else self.config.get_text("Fpu.MfpUrl"),
                                      self.unit.macros(), URL_MACROS), allowed=URL_PROTOCOLS)
            if not target.username:
                target = replace(target, username=self.config.get_text("Fpu.MfpTransferUsername"),
                                 password=self.config.get_text("Fpu.MfpTransferPassword"))
            shown = target.shown
            self.unit.notify("Fpu", 9001, url=shown)
            self.transfers.user_agent = f"{self.unit.profile.product} DGW {self.unit.version}"
            pack = await self.transfers.get(target)
        except (UrlError, TransferError) as e:
            self.installs += 1
            return self._refused(shown, str(e))
        return await self.install_pack(pack, shown)

    async def install_downloaded(self, pack: bytes, url: str) -> str:
        """Install a pack another face fetched (a TR-069 Download of a "1 Firmware Upgrade Image"); on success the
        next start runs it and the caller restarts the unit (TR-069 reports the outcome after that boot).
        ``ConfigError`` when the service is not running or busy; the refusal's reason is :attr:`last_reason`."""
        self._require_idle("Fpu.Install")
        self.status = "Updating"
        self.unit.notify("Fpu", 9001, url=url)
        result = await self.install_pack(pack, url, restart=False)
        if result == "Success":
            self.prepare_restart()
        return result

    async def install_pack(self, pack: bytes, url: str, *, restart: bool = True) -> str:
        """Check a pack and write it to the bank that is not running; with ``restart``, then the restart policy
        (``AutomaticRestartEnable``). Returns ``MfpLastInstallationResult``."""
        self.installs += 1
        try:
            manifest, _payload = read_mfp(pack, product=self.unit.profile.product, trusted=self.trusted)
        except MfpError as e:
            return self._refused(url, str(e))
        b = self.banks
        bank = b.other()
        b.banks[bank] = None  # in memory first: a failure below leaves the bank empty, never half-named
        digest = self.store.write_pack(bank, pack)
        b.banks[bank] = BankInfo(manifest.name, manifest.version, manifest.profile, digest)
        b.next_boot = bank
        b.reset_on_switch = self.config.get("Fpu.DefaultSettingsOnInstall") == "Enable"
        result = self._installed("Success")  # banks.json: the install is complete from here on
        self.unit.notify("Fpu", 9002, name=manifest.name, version=manifest.version, bank=bank)
        if restart:
            await self._finish("installation")
        return result

    def _refused(self, url: str, reason: str) -> str:
        self.status = "Idle"
        self.last_reason = reason
        self.unit.log.warning("fpu_install_failed", url=url, reason=reason)
        self.unit.notify("Fpu", 9003, url=url, reason=reason)
        return self._installed("Fail")

    def _installed(self, result: str) -> str:
        self.banks.last_result = result
        self.banks.last_datetime = self.unit.local_time()
        self.store.save(self.banks)
        self._settle(result)
        return result

    def _new_outcome(self) -> asyncio.Future[Any]:
        self._settle(None)  # a previous job's waiter, if any, learns nothing more
        self._outcome = asyncio.get_running_loop().create_future()
        return self._outcome

    def _settle(self, value: Any) -> None:
        outcome, self._outcome = self._outcome, None
        if outcome is not None and not outcome.done():
            if value is None:
                outcome.cancel()
            else:
                outcome.set_result(value)

    # ------------------------------------------------------------------ rollback
    def rollback_now(self) -> str:
        """``Fpu.Rollback``: run the other bank from the next start."""
        self.begin_rollback()
        return "Firmware rollback started\n"

    def begin_rollback(self) -> asyncio.Future[bool]:
        """Start a rollback as the service's job; the future holds whether it was accepted (before any restart).
        ``ConfigError`` when the service is not running or busy."""
        self._require_idle("Fpu.Rollback")
        self.status = "Rollbacking"
        outcome = self._new_outcome()
        self._spawn(self.rollback())
        return outcome

    async def rollback(self) -> bool:
        """Switch banks for the next start; False (Fpu 9006) when the other bank holds no firmware."""
        b = self.banks
        if not self.rollback_available():
            self.last_reason = "an installation waits for its restart" if b.next_boot != b.active else \
                "the other bank holds no firmware"
            self.unit.notify("Fpu", 9006, reason=self.last_reason)
            self.status = "Idle"
            self._settle(False)
            return False
        self.status = "Rollbacking"
        target = b.other()
        b.next_boot = target
        self.store.save(b)
        info = b.banks[target]
        assert info is not None
        self.unit.notify("Fpu", 9005, version=info.version, bank=target)
        self._settle(True)
        await self._finish("rollback")
        return True

    # ------------------------------------------------------------------ the restart
    async def _finish(self, action: str) -> None:
        if self.config.get("Fpu.AutomaticRestartEnable") != "Enable":
            self.status = "WaitingManualRestart"
            return
        self.status = "WaitingForGracefulRestart"
        grace = float(self.config.get("Fpu.AutomaticRestartGraceDelay") or 0) * self.minute_s
        until = time.monotonic() + grace
        told = False
        while grace and self.active_calls() and time.monotonic() < until:
            if not told:
                self.unit.notify("Fpu", 9008, calls=self.active_calls(), minutes=self.config.get_text(
                    "Fpu.AutomaticRestartGraceDelay"))
                told = True
            await asyncio.sleep(min(self.poll_s, max(0.0, until - time.monotonic())))
        self.unit.notify("Fpu", 9004, action=action)
        self.restarts += 1
        # The restart stops this engine: it runs in a task of its own, which the engine's stop never cancels.
        self._restart_task = asyncio.get_running_loop().create_task(self._restart(), name=f"fpu-restart-{action}")
        self._restart_task.add_done_callback(report_crash(self.unit.log, "fpu_restart_crashed"))

    def prepare_restart(self) -> None:
        """The unit is about to restart into the bank chosen for the next start: switch now, before the services
        stop, not when Fpu starts again, so that every face that starts before Fpu already shows the new version
        (and a kill -9 from here on boots the new bank)."""
        self.status = "WaitingSystemReady"
        self._switch()

    async def _restart(self) -> None:
        self.prepare_restart()
        await self.unit.reboot()

"""The page buttons that are not a form's Apply: restart the required services, a service's Start / Stop /
Restart, an endpoint's Lock / Force Lock / Unlock, Reboot, the certificate stores (upload, activate the
unsecure transfer, delete), configuration scripts (import, export) and provisioning (script transfer and export,
configuration backup and restore, firmware install and rollback: :mod:`emulator.ops.provisioning`).

Each asks the access policy (``emulator.ops.policy``) first and lets its ``Forbidden`` go up: the face
shows the policy's message (the same words as the API's and the CLI's) and nothing is changed. A result
is a ``Flash`` for the next page. The Web service restarting itself (its own port, TLS settings) runs
after the answer went out (``later``), so the browser gets its page before the server goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from emulator.ops import provisioning
from emulator.ops import scripts as ops_scripts
from emulator.ops.errors import OpError
from emulator.ops.policy import Caller, check_command, check_script, check_write
from emulator.runtime.unit import Unit
from firmware_model import script as scripts
from firmware_model.certs import MAX_UPLOAD_BYTES, CertError
from firmware_model.config import ConfigError
from web_ui.auth import Flash
from web_ui.forms import BadForm, reason

__all__ = ["ENDPOINT_BUTTONS", "PROVISIONING_WAIT_S", "SERVICE_VERBS", "PageActions", "ScriptResult"]

# System/Endpoints: (EpAdm.Endpoint row command, the button's text)
ENDPOINT_BUTTONS = (("Lock", "Lock"), ("ForceLock", "Force Lock"), ("Unlock", "Unlock"))
SERVICE_VERBS = ("Start", "Stop", "Restart")  # System/Services, Services Status
CERT_KINDS = ("host", "other")  # the two stores: Host Certificates, Other Certificates
PROVISIONING_WAIT_S = 20.0  # how long a provisioning button waits for its job's result before showing the page
_JOBS = {  # (service, verb) -> (what the page calls it, the command the access policy knows)
    ("conf", "transfer"): ("Configuration scripts transfer", "Conf.TransferScripts"),
    ("conf", "export"): ("Configuration script export", "Conf.ExportScript"),
    ("conf", "backup"): ("Configuration backup", "Conf.ImageBackup"),
    ("conf", "restore"): ("Configuration restore", "Conf.ImageRestore"),
    ("fpu", "install"): ("Firmware installation", "Fpu.Install"),
    ("fpu", "rollback"): ("Firmware rollback", "Fpu.Rollback"),
}


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """What Management/Configuration Scripts shows under Import, and the HTTP status of that page."""

    message: str
    ok: bool
    status: int


class PageActions:
    """The buttons of one unit's pages. ``name`` is the Web service's own name (it restarts itself last)."""

    def __init__(self, unit: Unit, certs: Any, name: str) -> None:
        self.unit = unit
        self.certs = certs  # emulator.engines.cert.engine.CertEngine, or None
        self.name = name
        self.web_restart_pending = False  # the banner does not offer to restart Web while it restarts
        self._tasks: set[asyncio.Task[Any]] = set()

    def later(self, coro: Coroutine[Any, Any, Any], delay: float = 0.2) -> None:
        """Run after the current response went out (restarting the Web service from one of its requests)."""

        async def run() -> None:
            await asyncio.sleep(delay)
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ services, endpoints, reboot
    async def restart_required(self, caller: Caller) -> Flash:
        """The banner's "Restart Required Services" (``Scm.RestartRequiredServices``)."""
        check_command(caller, "Scm.RestartRequiredServices")
        names = [n for n in self.unit.config.restart_required() if n in self.unit.services]
        for n in names:
            if n != self.name:
                await self.unit.restart_service(n)
        if self.name in names:
            self.web_restart_pending = True
            self.later(self._restart_self())
        return Flash("Restarted: " + (", ".join(names) if names else "nothing needed a restart") + "."
                     + (" The web server restarts in a moment." if self.name in names else ""))

    async def _restart_self(self) -> None:
        try:
            await self.unit.restart_service(self.name)
        finally:
            self.web_restart_pending = False

    async def service_command(self, verb: str, name: str, caller: Caller) -> Flash:
        if verb not in SERVICE_VERBS or name not in self.unit.services:
            raise BadForm("unknown service command")
        check_command(caller, f"Scm.{verb}Service")
        run: Callable[[str], Coroutine[Any, Any, None]] = {
            "Start": self.unit.start_service, "Stop": self.unit.stop_service, "Restart": self.unit.restart_service,
        }[verb]
        if name == self.name:  # our own service: answer first
            self.later(run(name))
        else:
            await run(name)
        return Flash(f"{name}: {verb.lower()} requested.")

    def endpoint_command(self, verb: str, ep: str, caller: Caller) -> Flash:
        """System/Endpoints: Lock, Force Lock, Unlock — the EpAdm.Endpoint row commands."""
        cfg = self.unit.config
        label = dict(ENDPOINT_BUTTONS).get(verb)
        if label is None or ep not in {str(r["EpId"]) for r in cfg.rows("EpAdm.Endpoint")}:
            raise BadForm("unknown endpoint command")
        address = f"EpAdm.Endpoint[{ep}].{verb}"
        try:
            check_write(caller, cfg.resolve(address).param)
            cfg.set(address, verb, source="web")
        except ConfigError as e:
            return Flash(reason(e), ok=False)
        return Flash(f"{ep}: {label.lower()} requested.")

    def reboot(self, caller: Caller) -> None:
        check_command(caller, "Reboot")
        self.later(self._reboot(), delay=0.3)

    async def _reboot(self) -> None:
        self.unit.log.info("web_reboot")
        await self.unit.reboot()

    # ------------------------------------------------------------------ call router
    def apply_crout(self, caller: Caller) -> Flash:
        """The Call Router pages' "Apply Config": ``CRout.ApplyConfig`` puts the configuration in use, or refuses
        it with the engine's reason (the routing in use stays as it was)."""
        check_command(caller, "CRout.ApplyConfig")
        command = self.unit.commands.get("CRout.ApplyConfig")
        if command is None:
            return Flash("This unit has no call router.", ok=False)
        try:
            result = command()
        except ConfigError as e:
            return Flash(e.message, ok=False)
        return Flash(str(result or "Call routing configuration applied.").strip())

    # ------------------------------------------------------------------ provisioning
    def check_provisioning(self, service: str, verb: str, caller: Caller) -> str:
        """The policy's answer before anything is applied (``Forbidden``); the job's label."""
        job = _JOBS.get((service, verb))
        if job is None:
            raise BadForm("unknown provisioning action")
        check_command(caller, job[1])
        return job[0]

    async def provisioning(self, service: str, verb: str, caller: Caller) -> Flash:
        """Management/Configuration Scripts ("Transfer Now", "Export Now"), Backup/Restore ("Backup Now", "Restore
        Now") and Firmware Upgrade ("Install", "Rollback"): the job runs in its service and the page waits for its
        result (at most ``PROVISIONING_WAIT_S``: then it goes on, and the page's status section tells)."""
        label = self.check_provisioning(service, verb, caller)
        try:
            if service == "conf":
                result = await asyncio.wait_for(provisioning.run_conf(self.unit, caller, verb), PROVISIONING_WAIT_S)
                return Flash(f"{label}: {result}.", ok=result == "Success")
            if verb == "install":
                result, why = await asyncio.wait_for(provisioning.install(self.unit, caller), PROVISIONING_WAIT_S)
                return Flash(f"{label}: {result}" + (f" ({why})." if why else "."), ok=result == "Success")
            accepted, why = await asyncio.wait_for(provisioning.rollback(self.unit, caller), PROVISIONING_WAIT_S)
            return Flash(f"{label}: the other bank runs from the next start." if accepted else f"{label}: {why}.",
                         ok=accepted)
        except TimeoutError:
            return Flash(f"{label}: in progress; the status below shows its result.")
        except OpError as e:  # the service is stopped or busy, or the unit has no such engine
            return Flash(f"{label}: {e.message}.", ok=False)

    # ------------------------------------------------------------------ certificates
    def certificate(self, action: str, form: Any, secure: bool, caller: Caller) -> Flash:
        """Management/Certificates: ``cert-upload``, ``cert-activate``, ``cert-delete:<host|other>:<name>``."""
        certs = self.certs
        if certs is None:
            return Flash("This unit has no certificate store.", ok=False)
        if action == "cert-activate":
            check_command(caller, "Cert.ActivateUnsecureTransfer")
            certs.activate_unsecure_transfer()
            return Flash("Unsecure certificate transfer is activated for the next host certificate upload.")
        if action.startswith("cert-delete:"):
            _, kind, name = action.split(":", 2)
            if kind not in CERT_KINDS:
                raise BadForm("unknown certificate store")
            check_command(caller, "Cert.DeleteCertificate")
            try:
                certs.delete(kind, name)
            except (CertError, ValueError) as e:
                return Flash(str(e), ok=False)
            return Flash(f"Certificate {name} deleted.")
        if action != "cert-upload":
            raise BadForm("unknown certificate action")
        host = str(form.get("type", "Other")) == "Host"
        if host:
            check_command(caller, "Cert.ImportHost")
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            return Flash("Choose a certificate file first (Browse).", ok=False)
        data = upload.file.read(MAX_UPLOAD_BYTES + 1)
        try:
            if host:
                names = [certs.import_host(data, str(form.get("password", "")) or None, over_plain_http=not secure)]
            else:
                names = certs.import_other(data)
        except CertError as e:
            return Flash(f"Certificate refused: {e}", ok=False)
        return Flash("Certificate imported: " + ", ".join(names) + ".")

    # ------------------------------------------------------------------ configuration scripts
    def export_script(self, content: str, caller: Caller) -> str:
        """Management/Configuration Scripts, Export: secrets left out for a caller who may not read them."""
        if content not in scripts.EXPORT_CONTENTS:  # it names the downloaded file: the page's list only
            raise BadForm("unknown content")
        try:
            return ops_scripts.export(self.unit, caller, content, service="All")  # the page has no service list
        except OpError as e:
            raise BadForm(str(e)) from None

    def import_script(self, form: Any, caller: Caller) -> ScriptResult:
        """Import (a file) or Execute (the text box): all or nothing, refused whole by the access policy."""
        upload = form.get("file")
        if upload is not None and hasattr(upload, "file"):
            raw: bytes = upload.file.read(scripts.MAX_SCRIPT_BYTES + 1)
        else:
            raw = str(form.get("script", "")).encode()
        if len(raw) > scripts.MAX_SCRIPT_BYTES:
            return ScriptResult(f"Refused: a script may hold at most {scripts.MAX_SCRIPT_BYTES} bytes.", False, 400)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return ScriptResult("Refused: the script must be UTF-8 text.", False, 400)
        # Not ops.scripts.run, which answers once a script's restarts are over: a restart of Web itself
        # would stop this server while the request waits, and the browser would get no answer at all.
        check_script(caller, self.unit.config, text)
        result = self.unit.run_script(text, source="web")
        if result.ok:
            return ScriptResult(f"Script executed: {result.applied} line(s) applied.", True, 200)
        first = result.errors[0] if result.errors else None
        where = f" Line {first.number}: {first.error}" if first is not None else ""
        head = "Script applied with errors." if result.committed else "Script refused, nothing applied."
        return ScriptResult(head + where, False, 400)

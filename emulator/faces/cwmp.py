"""Cwmp engine (DGW service numkey 3900): the unit's TR-069 client, over the pure core of ``emulator.protocols.cwmp``.

asyncio glue only: it runs :class:`~emulator.protocols.cwmp.session.CwmpSession` objects over aiohttp (client sockets
bound to ``unit.host``), serves connection requests, keeps the periodic-inform schedule, watches
configuration changes for VALUE CHANGE, and performs what a session leaves to do (reboot, factory reset,
downloads, uploads, service restarts).

ACS URL (``Cwmp.AcsUrlConfigSource``): ``Static`` -> ``Cwmp.AcsStaticUrl``. ``Dhcp`` / ``DhcpWithFailover``
-> the URL a DHCP server gave in option 43: from the unit's DHCP client when it runs on a named interface
(``--dhcp-interface``; :meth:`CwmpEngine.set_dhcp_acs_url`), otherwise the ``dhcp_acs_url`` given to the engine
(from the lab file); ``DhcpWithFailover`` falls back to the static URL when there is none. ``Cwmp.AcsUrl``
shows the URL in use and ``Cwmp.AcsStatus`` the outcome of the last contact.

Connection requests (TR-069 §3.2.2): HTTP GET on ``(unit.host, real_port(Cwmp.ListeningPort or 7547))``,
path ``/<serial>``, digest authentication with ``Cwmp.ConnectionRequestUsername``/``Password``; the URL is
``unit.listening["cwmp"]`` and ``ManagementServer.ConnectionRequestURL``.

Downloads: a "3 Vendor Configuration File" is a configuration script the Conf service runs as one of its transfers
(encrypted scripts, the repetition rule, ``Conf.ScriptsStats*``); a "1 Firmware Upgrade Image" is a firmware pack
(:mod:`firmware_model.mfp`) the Fpu service installs into the bank that is not running, which the reboot that
follows runs (``SoftwareVersion`` is then the pack's version on every face). A file either service refuses is
fault 9018 "file corrupted" (9010 for a cwmp-1-0 ACS) in the TransferComplete.

Persistence (``<state_dir>/cwmp.json``, atomic): undelivered events and transfer results, ParameterKey,
notification attributes, instance numbers, the URL the bootstrap was done with, retry count.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import time
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from aiohttp import web
from yarl import URL

from emulator.engines.cert.tls import tls_policy
from emulator.engines.conf.engine import ConfEngine
from emulator.engines.fpu.engine import FpuEngine
from emulator.engines.sipep.engine import SipEpEngine
from emulator.protocols.cwmp import (
    DEFAULT_NS,
    MAX_BODY,
    Action,
    CwmpSession,
    DataModel,
    DigestServer,
    EventQueue,
    HttpRequest,
    ModelState,
    RpcHandler,
    SessionEnd,
    inform_body,
    iso_time,
    retry_wait,
    transfer_complete_body,
    transfer_fault,
)
from emulator.protocols.cwmp.session import CpeRequest, answer_challenges
from emulator.runtime.http import http_url, serve
from emulator.runtime.logging import report_crash
from emulator.runtime.timers import Periodic, sleep_until
from firmware_model.config import ChangeEvent, ConfigError
from firmware_model.script import export_script
from firmware_model.store import JsonStore

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["DEFAULT_CR_PORT", "CwmpEngine"]

DEFAULT_CR_PORT = 7547
MAX_DOWNLOAD = 16 * 1024 * 1024
E = TypeVar("E")


class CwmpEngine:
    """The TR-069 client of one unit."""

    name = "Cwmp"

    def __init__(self, unit: Unit, dhcp_acs_url: str | None = None, http_timeout: float = 30.0,
                 rnd: random.Random | None = None, retry_minimum: float = 5.0) -> None:
        self.unit = unit
        self.retry_minimum = retry_minimum  # TR-069 m (CWMPRetryMinimumWaitInterval), 5 s by default
        self.dhcp_acs_url = dhcp_acs_url
        self.http_timeout = http_timeout
        self.rnd = rnd or random.Random()
        self._store = JsonStore(unit.state_dir / "cwmp.json", fsync=unit.fsync)
        loaded = self._store.load()
        doc = loaded or {}
        self.model_state = ModelState.from_doc(doc.get("model", {}))
        self.queue = EventQueue.from_doc(doc.get("queue", {}))
        self.bootstrap_url: str = str(doc.get("bootstrap_url", ""))
        self.retry_count = int(doc.get("retry_count", 0))
        # What the file holds already: a start that changes nothing writes nothing (1,000 units starting: as many
        # fsyncs fewer, seconds on a busy disk).
        self._saved = "" if loaded is None else json.dumps(self._doc(), sort_keys=True)
        self.boot_pending = True  # the first start of the process is a boot
        self.model = DataModel(unit, self.model_state, self.connection_request_url)
        self.acs_status = "Starting"
        self.sessions_ok = 0
        self.sessions_failed = 0
        self.last_end: SessionEnd | None = None
        self._cr_url = ""
        self._runner: web.AppRunner | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._aux: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._unsubscribe: Any = None
        self._periodic_ref = time.time()
        self._in_session = False
        self._active_pending = False  # an active-notification change waits for its session
        self._digest = DigestServer(realm=f"Mediatrix {unit.identity.serial}")
        c = unit.config
        c.provide("Cwmp.AcsStatus", lambda: self.acs_status)
        c.provide("Cwmp.AcsUrl", lambda: self.acs_url())

    # ------------------------------------------------------------------ persistence
    def _doc(self) -> dict[str, Any]:
        return {
            "format": 1,
            "model": self.model_state.to_doc(),
            "queue": self.queue.to_doc(),
            "bootstrap_url": self.bootstrap_url,
            "retry_count": self.retry_count,
        }

    def save(self) -> None:
        """Persist the CWMP state when it changed (atomic write; skipped when identical to the file)."""
        doc = self._doc()
        text = json.dumps(doc, sort_keys=True)
        if text != self._saved:
            self._store.save(doc)
            self._saved = text
        self.model_state.dirty = False

    # ------------------------------------------------------------------ configuration
    def acs_url(self) -> str:
        c = self.unit.config
        source = c.get("Cwmp.AcsUrlConfigSource")
        static = c.get_text("Cwmp.AcsStaticUrl")
        if source == "Static":
            return static
        if self.dhcp_acs_url:
            return self.dhcp_acs_url
        return static if source == "DhcpWithFailover" else ""

    def set_dhcp_acs_url(self, url: str | None) -> None:
        """The DHCP client got (or lost) an ACS URL in option 43; a new URL means a new bootstrap."""
        if url != self.dhcp_acs_url:
            self.dhcp_acs_url = url
            self._wake.set()

    def connection_request_url(self) -> str:
        return self._cr_url

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        sipep = self.unit.services.get("SipEp")
        if sipep is not None and isinstance(sipep.engine, SipEpEngine):
            self.model.line_runtime = sipep.engine.lines  # TR-104 Line.CallState and Line.Stats
        if self.boot_pending:
            self.queue.on_boot()
            self.boot_pending = False
        self._periodic_ref = self.unit.clock.now()
        self._wake = asyncio.Event()
        await self._start_cr_server()
        self._unsubscribe = self.unit.config.subscribe(self._on_change)
        self.save()
        self._loop_task = asyncio.get_running_loop().create_task(self._run())
        self._loop_task.add_done_callback(report_crash(self.unit.log, "cwmp_engine_crashed"))
        self._wake.set()

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop_task
            self._loop_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.unit.listening.pop("cwmp", None)
        self._cr_url = ""
        self.save()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._aux.add(task)
        task.add_done_callback(self._aux.discard)
        task.add_done_callback(report_crash(self.unit.log, "cwmp_action_failed"))

    # ------------------------------------------------------------------ connection requests
    async def _start_cr_server(self) -> None:
        port_param = int(self.unit.config.get("Cwmp.ListeningPort") or 0) or DEFAULT_CR_PORT
        app = web.Application(client_max_size=4096)
        path = f"/{self.unit.identity.serial}"
        app.router.add_route("GET", path, self._connection_request)
        app.router.add_route("POST", path, self._connection_request)
        self._runner, port = await serve(app, self.unit.log.bind(server="cwmp"), self.unit.host,
                                         self.unit.ports.real_port(port_param, "cwmp"), reuse_address=True)
        self._cr_url = http_url(self.unit.host, port, path)
        self.unit.listening["cwmp"] = self._cr_url

    async def _connection_request(self, request: web.Request) -> web.Response:
        c = self.unit.config
        user = c.get_text("Cwmp.ConnectionRequestUsername")
        password = c.get_text("Cwmp.ConnectionRequestPassword")
        if not self._digest.verify(request.headers.get("Authorization"), request.method, user, password):
            if request.headers.get("Authorization"):
                self.unit.log.warning("cwmp_connection_request_refused", peer=request.remote)
            return web.Response(status=401, headers={"WWW-Authenticate": self._digest.challenge()})
        self.unit.log.info("cwmp_connection_request", peer=request.remote)
        self.queue.add("6 CONNECTION REQUEST")
        self.save()
        self._wake.set()
        return web.Response(status=200)

    # ------------------------------------------------------------------ value change
    def _on_change(self, ev: ChangeEvent) -> None:
        if ev.kind == "reset":
            self._forget_acs()
            self._wake.set()
            return
        if ev.param.service == "Cwmp":
            self._wake.set()
        if ev.kind != "set" or ev.source == "cwmp":
            return  # changes made by the ACS itself are not notified back (TR-069 A.3.2.4)
        notes = self.model_state.notifications
        if not notes:
            return
        active = False
        for path in self.model.paths_for_change(ev.address, ev.index, ev.param):
            note = notes.get(path, 0)
            if note:
                if path not in self.queue.changed:
                    self.queue.changed.append(path)
                self.queue.add("4 VALUE CHANGE")
                active = active or note == 2
        if active:
            self._active_pending = True
            self._wake.set()

    def _forget_acs(self) -> None:
        """Factory reset: the unit forgets its ACS relationship (a new bootstrap follows)."""
        self.model_state.parameter_key = ""
        self.model_state.notifications.clear()
        self.model_state.access.clear()
        self.model_state.provisioning_code = ""
        self.bootstrap_url = ""
        self.queue.add("0 BOOTSTRAP")
        self.save()

    # ------------------------------------------------------------------ the loop
    def _session_due(self) -> bool:
        """A session is started for any event except a passive "4 VALUE CHANGE" alone (TR-069 A.3.2.4:
        passive changes wait for the next session)."""
        if self.queue.transfers or self._active_pending:
            return True
        return any(code != "4 VALUE CHANGE" for code, _ in self.queue.events)

    def periodic_grid(self) -> tuple[float, float] | None:
        """(interval, reference time) of the periodic Informs (TR-069 §3.2.1.1: ``PeriodicInformInterval``
        seconds, in phase with ``PeriodicInformTime``; an unknown time, 0001-01-01, counts from the start of
        the engine); None when ``Cwmp.PeriodicInformEnable`` is off."""
        c = self.unit.config
        if c.get("Cwmp.PeriodicInformEnable") != "Enable":
            return None
        interval = max(1, int(c.get("Cwmp.PeriodicInformInterval") or 3600))
        ref_text = c.get_text("Cwmp.PeriodicInformTime")
        ref = self._periodic_ref
        if ref_text and not ref_text.startswith("0001-"):
            with contextlib.suppress(ValueError):
                ref = dt.datetime.fromisoformat(ref_text.replace("Z", "+00:00")).timestamp()
        return float(interval), ref

    def _periodic_schedule(self, schedule: Periodic | None, now: float) -> Periodic | None:
        """The schedule after a possible change of the periodic parameters (the same values keep it)."""
        grid = self.periodic_grid()
        if grid is None:
            return None
        if schedule is None:
            return Periodic.start(*grid, now)
        schedule.reconfigure(*grid, now)
        return schedule

    async def _run(self) -> None:
        clock = self.unit.clock
        next_attempt = 0.0  # unit-clock time before which no retry happens
        periodic = self._periodic_schedule(None, clock.now())
        while True:
            dues = [periodic.due] if periodic is not None else []
            if self.retry_count and self.queue.events and next_attempt > clock.now():
                dues.append(next_attempt)  # a retry time already passed is no reason to wake (it spun)
            # An early wake-up of the event loop goes back to sleep inside sleep_until, and the schedule fires
            # each due time once: a wake-up 0.7 ms early used to start a second periodic session at once.
            await sleep_until(clock.now, min(dues, default=None), self._wake)
            self._wake.clear()
            now = clock.now()
            if periodic is not None and periodic.poll(now):
                self.queue.add("2 PERIODIC")
            periodic = self._periodic_schedule(periodic, now)
            url = self.acs_url()
            if not url:
                self.acs_status = "NoUrl"
                continue
            if url != self.bootstrap_url and all(e[0] != "0 BOOTSTRAP" for e in self.queue.events):
                self.queue.add("0 BOOTSTRAP")
            if not self._session_due():
                continue
            if self.retry_count and now < next_attempt:
                continue
            ok = await self.run_session(url)
            if ok:
                self.retry_count = 0
                if self._session_due():
                    self._wake.set()
            else:
                self.retry_count += 1
                next_attempt = clock.now() + retry_wait(self.retry_count, self.retry_minimum, rnd=self.rnd)
            self.save()

    # ------------------------------------------------------------------ one session
    def _connector(self, url: str, service: str = "Cwmp") -> aiohttp.TCPConnector:
        if url.lower().startswith("https:"):
            return tls_policy(self.unit, service).aiohttp_connector(local_addr=(self.unit.host, 0), limit=1)
        return aiohttp.TCPConnector(local_addr=(self.unit.host, 0), limit=1)

    async def run_session(self, url: str) -> bool:
        """One session with the ACS; True when it ended normally."""
        events = list(self.queue.events)
        changed = list(self.queue.changed)
        was_active, self._active_pending = self._active_pending, False
        handler = RpcHandler(self.model)
        requests = [
            CpeRequest("TransferComplete", self._transfer_complete(t), self._transfer_acked(t["command_key"]))
            for t in self.queue.transfers
        ]
        body = inform_body(self.model, events, iso_time(self.unit.clock.now()), self.retry_count, changed)
        c = self.unit.config
        session = CwmpSession(url, body, handler.handle, username=c.get_text("Cwmp.Username"),
                              password=c.get_text("Cwmp.Password"), cpe_requests=requests, ns=DEFAULT_NS,
                              timeout=self.http_timeout, id_prefix=self.unit.identity.serial)
        self._in_session = True
        end: SessionEnd
        try:
            end = await self._drive(session)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a glue failure must not stop the engine
            end = session.transport_error(f"{type(e).__name__}: {e}")
        finally:
            self._in_session = False
        if session.inform_acknowledged:
            self.queue.delivered(events, changed)
            if any(e[0] == "0 BOOTSTRAP" for e in events):
                self.bootstrap_url = url
        self.last_end = end
        if end.ok:
            self.sessions_ok += 1
            self.acs_status = "Connected"
        else:
            self.sessions_failed += 1
            self._active_pending = self._active_pending or was_active  # retried with the back-off
            self.queue.on_failure()
            self.acs_status = self._status_of(end)
            self.unit.log.warning("cwmp_session_failed", reason=end.reason, retry=self.retry_count + 1)
        self.save()
        if handler.actions:
            self._spawn(self._after_session(handler.actions))
        return end.ok

    @staticmethod
    def _status_of(end: SessionEnd) -> str:
        if end.auth_failed:
            return "ErrorAuthFailure"
        r = end.reason
        if "Name or service not known" in r or "resolve" in r.lower() or "gaierror" in r:
            return "ErrorCannotResolve"
        if "timeout" in r.lower() or "ClientConnectorError" in r or "Connect" in r:
            return "ErrorNotResponding"
        return "ErrorOther"

    @staticmethod
    def _transfer_complete(t: dict[str, Any]) -> Any:
        def build(ns: str) -> str:
            code = transfer_fault(int(t["fault_code"]), ns, bool(t.get("upload")))
            return transfer_complete_body(t["command_key"], code, t["fault_string"], t["start"], t["end"])

        return build

    def _transfer_acked(self, key: str) -> Any:
        def cb(_env: Any) -> None:
            self.queue.transfer_acknowledged(key)

        return cb

    async def _drive(self, session: CwmpSession) -> SessionEnd:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.http_timeout, sock_read=self.http_timeout)
        async with aiohttp.ClientSession(connector=self._connector(session.url), timeout=timeout,
                                         cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True) as http:
            step: HttpRequest | SessionEnd = session.start(time.monotonic())
            while isinstance(step, HttpRequest):
                try:
                    async with http.post(step.url, data=step.body, headers=step.headers,
                                         allow_redirects=False) as resp:
                        data = await _read_limited(resp, MAX_BODY)
                        headers = list(resp.headers.items())
                        status = resp.status
                except (aiohttp.ClientError, OSError, TimeoutError) as e:
                    return session.transport_error(_describe(e))
                if data is None:
                    return session.transport_error("ACS message over the size limit")
                step = session.receive(status, headers, data, time.monotonic())
            return step

    # ------------------------------------------------------------------ after the session
    async def _after_session(self, actions: list[Action]) -> None:
        reboot = False
        for a in actions:
            if a.kind == "restart_services":
                if not any(x.kind in ("reboot", "factory_reset") for x in actions):
                    await self.unit.restart_required_services()
            elif a.kind == "reboot":
                self.queue.add("M Reboot", a.command_key)
                reboot = True
            elif a.kind == "factory_reset":
                self.unit.factory_reset(source="cwmp")
                reboot = True
            elif a.kind == "download":
                reboot = await self._download(a) or reboot
            elif a.kind == "upload":
                await self._upload(a)
        self.save()
        if reboot:
            await self.reboot()
        else:
            self._wake.set()

    async def reboot(self) -> None:
        """The unit restarts: every service stops and starts again; the next Inform says 1 BOOT."""
        self.boot_pending = True
        self.save()
        await self.unit.reboot()

    async def _fetch(self, a: Action) -> bytes:
        """GET the file of a Download; raises _TransferError(fault) on failure."""
        url, user, pw = a.args["url"], a.args["username"], a.args["password"]
        service = "Fpu" if a.args["file_type"].startswith("1 ") else "Conf"
        timeout = aiohttp.ClientTimeout(total=120, sock_connect=self.http_timeout)
        try:
            async with aiohttp.ClientSession(connector=self._connector(url, service), timeout=timeout) as http:
                headers: dict[str, str] = {}
                for _ in range(2):
                    async with http.get(url, headers=headers) as resp:
                        if resp.status == 401 and user and "Authorization" not in headers:
                            challenges = resp.headers.getall("WWW-Authenticate", [])
                            headers["Authorization"] = answer_challenges(challenges, "GET", url, user, pw)
                            continue
                        if resp.status == 401:
                            raise _TransferError(9012, "the file server refused the credentials")
                        if resp.status != 200:
                            raise _TransferError(9016, f"the file server answered HTTP {resp.status}")
                        data = await _read_limited(resp, MAX_DOWNLOAD)
                        if data is None:
                            raise _TransferError(9017, f"file larger than {MAX_DOWNLOAD} bytes")
                        return data
                raise _TransferError(9012, "authentication failed")
        except _TransferError:
            raise
        except Exception as e:
            raise _TransferError(9015, f"cannot reach the file server ({type(e).__name__})") from None

    async def _download(self, a: Action) -> bool:
        """Perform a Download; True when it needs a reboot (firmware)."""
        if a.args["delay"]:
            await asyncio.sleep(a.args["delay"])
        start = iso_time(self.unit.clock.now())
        code, message, reboot = 0, "", False
        try:
            data = await self._fetch(a)
            if a.args["file_size"] and len(data) != a.args["file_size"]:
                raise _TransferError(9018, f"file is {len(data)} bytes, FileSize said {a.args['file_size']}")
            shown = str(URL(a.args["url"]).with_user(None))  # the URL as notifications show it (no credentials)
            if a.args["file_type"] == "3 Vendor Configuration File":
                await self._run_config_file(data, shown)
            else:
                await self._install_firmware(data, shown)
                reboot = True
        except _TransferError as e:
            code, message = e.code, e.message
            self.unit.log.warning("cwmp_download_failed", fault=code, reason=message)
        self.queue.transfers.append({
            "command_key": a.command_key, "fault_code": code, "fault_string": message,
            "start": start, "end": iso_time(self.unit.clock.now()),
        })
        self.queue.add("7 TRANSFER COMPLETE")
        self.queue.add("M Download", a.command_key)
        self.save()
        return reboot and code == 0

    def _engine(self, service: str, cls: type[E]) -> E:
        st = self.unit.services.get(service)
        engine = st.engine if st is not None else None
        if not isinstance(engine, cls):
            raise _TransferError(9010, f"the unit has no {service} service to take the file")
        return engine

    async def _run_config_file(self, data: bytes, url: str) -> None:
        """A "3 Vendor Configuration File" is a configuration script run by the Conf service as one of its
        transfers (an encrypted script opened with Conf.ScriptsSecretKey, the repetition rule, ScriptsStats*);
        a refused script (nothing of it applied) is the corrupt-file fault 9018."""
        conf = self._engine("Conf", ConfEngine)
        try:
            result = await conf.run_downloaded(data, url, trigger="cwmp")
        except ConfigError as e:  # the Conf service is not running
            raise _TransferError(9010, e.message) from None
        if result != "Success":
            raise _TransferError(9018, f"configuration script refused: {conf.last_refusal}")
        if self.unit.config.restart_required():
            await self.unit.restart_required_services()

    async def _install_firmware(self, data: bytes, url: str) -> None:
        """A "1 Firmware Upgrade Image" is a firmware pack for the Fpu service: written to the bank that is not
        running, which the reboot that follows runs. A pack Fpu refuses (corrupt, truncated, unsigned, wrongly
        signed, another product's) leaves the running bank untouched and is the corrupt-file fault 9018."""
        fpu = self._engine("Fpu", FpuEngine)
        try:
            result = await fpu.install_downloaded(data, url)
        except ConfigError as e:  # the Fpu service is not running or busy with another job
            raise _TransferError(9010, e.message) from None
        if result != "Success":
            raise _TransferError(9018, f"firmware image refused: {fpu.last_reason}")

    async def _upload(self, a: Action) -> None:
        if a.args["delay"]:
            await asyncio.sleep(a.args["delay"])
        start = iso_time(self.unit.clock.now())
        if a.args["file_type"] == "1 Vendor Configuration File":
            data = export_script(self.unit.config, "AllConfig").encode()
        else:
            data = "\n".join(f"{n.time:.0f} {n.service} {n.msg_id} {n.message}"
                             for n in self.unit.notifications).encode()
        code, message = 0, ""
        url, user, pw = a.args["url"], a.args["username"], a.args["password"]
        try:
            timeout = aiohttp.ClientTimeout(total=120, sock_connect=self.http_timeout)
            async with aiohttp.ClientSession(connector=self._connector(url, "Conf"), timeout=timeout) as http:
                headers: dict[str, str] = {"Content-Type": "application/octet-stream"}
                for _ in range(2):
                    async with http.put(url, data=data, headers=headers) as resp:
                        if resp.status == 401 and user and "Authorization" not in headers:
                            challenges = resp.headers.getall("WWW-Authenticate", [])
                            headers["Authorization"] = answer_challenges(challenges, "PUT", url, user, pw)
                            continue
                        if resp.status == 401:
                            code, message = 9012, "the file server refused the credentials"
                        elif not 200 <= resp.status < 300:
                            code, message = 9011, f"the file server answered HTTP {resp.status}"
                        break
        except Exception as e:
            code, message = 9011, f"cannot reach the file server ({type(e).__name__})"
        self.queue.transfers.append({
            "command_key": a.command_key, "fault_code": code, "fault_string": message,
            "start": start, "end": iso_time(self.unit.clock.now()), "upload": True,
        })
        self.queue.add("7 TRANSFER COMPLETE")
        self.queue.add("M Upload", a.command_key)
        self.save()


def _describe(e: BaseException) -> str:
    """The reason of a transport failure, with the TLS refusal or OS error behind aiohttp's wrapper."""
    cause = getattr(e, "os_error", None) or e.__cause__ or e.__context__
    text = f"{type(e).__name__}: {e}"
    if cause is not None and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text


class _TransferError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def _read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None when it exceeds ``limit`` bytes."""
    if resp.content_length is not None and resp.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)

"""A pytest plugin for users' regression suites (entry point ``pytest11``: installed with the package, loaded by
pytest on its own; every fixture is idle until a test asks for it).

It drives units only through the automation contract: ``dgw-emulator run --lab ... --ready-file ...`` as a
subprocess, waited for through its ready file and stopped with SIGTERM, and the HTTP control API
(``/api/v1/...``). Nothing of the emulator is imported, so the plugin works the same against a lab in a
container (``--dgw-attach``).

Fixtures:

* ``dgw_lab`` (session): the lab, started once (``--dgw-lab FILE``, or ``--dgw-units N`` units of
  ``--dgw-profile``), or attached to (``--dgw-attach READY_FILE|URL[,URL...]``, env ``DGW_ATTACH``).
* ``dgw_unit``: the lab's first unit (or ``@pytest.mark.dgw_unit(name=...)``), reset to factory before the
  test, then given ``@pytest.mark.dgw_unit(script=...)`` (a configuration script: text or a file path).
* ``dgw_units``: every unit of the lab, each reset to factory before the test.
* ``dgw_new_unit``: a factory of extra units (``dgw_new_unit(profile="C740", settings={...})``), each its own
  process, stopped after the test.

A :class:`Unit` has the API calls a test needs and the common waits: :meth:`Unit.wait_registered`,
:meth:`Unit.wait_call` (a call in a state), :meth:`Unit.wait_tone` (a tone measured in a call's audio).
Every option is also an ini key (``dgw_lab``, ``dgw_attach``...): see ``pytest --help``.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

__all__ = ["DgwApiError", "DgwProcess", "DgwTimeout", "Lab", "Unit", "wait_for"]

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0
WAIT_S = 20.0
POLL_S = 0.1
STOP_TIMEOUT_S = 30.0
LAB_HOSTS = "127.0.0.{}"  # the generated lab's units: 127.0.0.150, .151, ...; extra units from .200
LAB_FIRST_HOST = 150
EXTRA_FIRST_HOST = 200
_OPTIONS: tuple[tuple[str, str, str | None], ...] = (
    # (name, help, default)
    ("lab", "lab file (TOML or JSON) the session lab runs (default: --dgw-units units of --dgw-profile)", None),
    ("attach", "use a running lab instead of starting one: its ready file, or the API URLs of its units "
               "(comma-separated); also env DGW_ATTACH", None),
    ("units", "units of the generated lab when no lab file is given (default 2)", "2"),
    ("profile", "model of the generated lab's units: 4102, C740, 3621 (default 4102)", "4102"),
    ("command", "the dgw-emulator command (default: the one beside this Python, else on PATH)", None),
    ("workers", "worker processes of the session lab (default 1)", "1"),
    ("port-mode", "port mode of the started labs: auto (default) or hardware", "auto"),
    ("timeout", "seconds to wait for a lab or a unit to be ready (default 60)", str(DEFAULT_TIMEOUT_S)),
    ("user", "API user (default public, the factory account)", "public"),
    ("password", "API password (default empty, the factory account's)", ""),
    ("log-level", "log level of the started labs (their log is in the lab's folder; default warning)", "warning"),
)


class DgwApiError(AssertionError):
    """The API refused a request: ``status`` and the JSON ``body`` (``{"error", "kind"}``)."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {url} -> {status}: {body}")
        self.status = status
        self.body = body


class DgwTimeout(AssertionError):
    """A wait ran out; the message says what was awaited and what was last seen."""


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str,
             seen: Callable[[], Any] | None = None) -> T:
    """Poll ``predicate`` until it returns something true; :class:`DgwTimeout` after ``timeout`` seconds, saying
    what ``seen()`` shows then (or the last error)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = predicate()
        except (DgwApiError, OSError) as e:  # a face restarting, a unit not up yet
            value, last = None, e
        if value:
            return value
        if time.monotonic() > deadline:
            if seen is not None:
                with contextlib.suppress(DgwApiError, OSError):
                    last = seen()
            raise DgwTimeout(f"timed out after {timeout:g} s waiting for {what} (last seen: {last!r})")
        time.sleep(POLL_S)


class Unit:
    """One unit, reached through its HTTP control API (the ``api`` URL of its ready-file entry)."""

    def __init__(self, entry: dict[str, Any], auth: tuple[str, str] = ("public", ""),
                 refresh: Callable[[], dict[str, Any]] | None = None) -> None:
        self.entry = dict(entry)
        self.name: str = str(entry["name"])
        self.profile: str = str(entry.get("profile", ""))
        self.auth = auth
        self._refresh = refresh
        self._endpoint: str | None = None
        self._past: set[str] = set()  # Call-IDs of the calls before the last reset: the waits ignore them

    def __repr__(self) -> str:
        return f"Unit({self.name!r}, {self.api!r})"

    # ------------------------------------------------------------------ addresses
    def face(self, face: str) -> str | None:
        """Where a face listens now (``"sip"``, ``"sip_tls"``, ``"snmp"``...): ``host:port`` or a URL."""
        if self._refresh is not None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self.entry = self._refresh()
        value = self.entry.get(face)
        return str(value) if value else None

    @property
    def api(self) -> str:
        return str(self.entry["api"])

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.api).hostname or ""

    def address(self, face: str, timeout: float = WAIT_S) -> str:
        """Where a face listens, waiting for it while it is not listed (e.g. during its service's restart)."""
        return wait_for(lambda: self.face(face), timeout, f"{self.name}'s {face} face")

    @property
    def sip(self) -> str:
        """``host:port`` of the unit's SIP listener (UDP/TCP), once it listens."""
        return self.address("sip")

    # ------------------------------------------------------------------ the API
    def request(self, method: str, path: str, body: Any = None, text: str | None = None,
                timeout: float = 30.0) -> Any:
        """One API call; the decoded answer, or :class:`DgwApiError` for a 4xx/5xx."""
        url = self.api + (path if path.startswith("/api/") else "/api/v1" + path)
        data, ctype = None, "application/json"
        if text is not None:
            data, ctype = text.encode(), "text/plain"
        elif body is not None:
            data = json.dumps(body).encode()
        token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"Basic {token}", "Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return json.loads(raw) if r.headers.get_content_type() == "application/json" else raw.decode()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                answer: Any = json.loads(raw)
            except ValueError:
                answer = raw.decode(errors="replace")
            raise DgwApiError(method, url, e.code, answer) from None

    def status(self) -> dict[str, Any]:
        return dict(self.request("GET", "/status"))

    def get(self, name: str) -> Any:
        """A parameter's value (``Service.Name`` or a cell ``Service.Table[Index].Column``)."""
        return self.request("GET", "/parameters/" + urllib.parse.quote(name, safe=""))["value"]

    def set(self, name: str, value: Any) -> Any:
        """Set a parameter; the value now in force. A refusal is a :class:`DgwApiError` (nothing changed)."""
        return self.request("PUT", "/parameters/" + urllib.parse.quote(name, safe=""), {"value": value})["value"]

    def table(self, name: str) -> list[dict[str, Any]]:
        return list(self.request("GET", "/tables/" + urllib.parse.quote(name, safe=""))["rows"])

    def script(self, text: str, restart: bool = True) -> dict[str, Any]:
        """Run a configuration script (all or nothing), then restart the services it left needing a restart."""
        result = dict(self.request("POST", "/scripts", text=text))
        if restart:
            self.restart_required()
        return result

    def restart_required(self) -> list[str]:
        return list(self.request("POST", "/services/restart-required")["restarted"])

    def factory_reset(self) -> None:
        """Every parameter back to its factory value (users too), the services restarted."""
        self.request("POST", "/factory-reset?restart=true")
        self.auth = ("public", "")  # the factory account

    def reset(self, script: str | Path | None = None) -> Unit:
        """Hang up its calls, reset it to factory, then run ``script`` (text, or a file) if given."""
        for ep in self.endpoints():
            if ep.get("call"):
                with contextlib.suppress(DgwApiError):
                    self.hangup(ep["endpoint"])
        self.factory_reset()
        self._past = {str(c.get("call_id")) for c in self.calls()}
        if script is not None:
            self.script(Path(script).read_text() if isinstance(script, Path) else script)
        return self

    # ------------------------------------------------------------------ endpoints and calls
    @property
    def endpoint(self) -> str:
        """The unit's first endpoint (``Phone-Fax1`` on a 4102), the default of the call helpers."""
        if self._endpoint is None:
            self._endpoint = str(self.endpoints()[0]["endpoint"])
        return self._endpoint

    def endpoints(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/endpoints")["endpoints"])

    def calls(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/calls")["calls"])

    def action(self, action: str, endpoint: str | None = None, body: Any = None) -> dict[str, Any]:
        return dict(self.request("POST", f"/endpoints/{endpoint or self.endpoint}/{action}", body))

    def dial(self, number: str | None = None, *, uri: str | None = None, endpoint: str | None = None) -> dict[str, Any]:
        """Dial a number (through the unit's proxy) or a ``sip:`` URI; the call as the API shows it."""
        return dict(self.action("dial", endpoint, {"uri": uri} if uri else {"number": number})["call"])

    def answer(self, endpoint: str | None = None) -> dict[str, Any]:
        return dict(self.action("answer", endpoint)["call"])

    def hangup(self, endpoint: str | None = None) -> dict[str, Any]:
        return self.action("hangup", endpoint)

    def play(self, *tones: float, level_dbm0: float | None = None, endpoint: str | None = None) -> dict[str, Any]:
        """What the endpoint's phone sends in its calls: tones (Hz), or silence without any."""
        source: dict[str, Any] | None = {"tone": list(tones)} if tones else None
        if source is not None and level_dbm0 is not None:
            source["level_dbm0"] = level_dbm0
        return dict(self.request("PUT", f"/endpoints/{endpoint or self.endpoint}/media", {"source": source}))

    def notifications(self, since: int | None = None, service: str | None = None) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({k: v for k, v in (("since", since), ("service", service)) if v is not None})
        return list(self.request("GET", "/notifications" + (f"?{query}" if query else ""))["notifications"])

    # ------------------------------------------------------------------ waits
    def wait_registered(self, timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """Until every row of ``SipEp.RegistrationStatus`` is Registered (at least one); the rows."""

        def registered() -> list[dict[str, Any]] | None:
            rows = self.table("SipEp.RegistrationStatus")
            return rows if rows and all(r.get("State") == "Registered" for r in rows) else None

        return wait_for(registered, timeout, f"{self.name} registered",
                        lambda: self.table("SipEp.RegistrationStatus"))

    def wait_call(self, state: str = "connected", endpoint: str | None = None, call_id: str | None = None,
                  timeout: float = WAIT_S) -> dict[str, Any]:
        """Until a call of the endpoint (default: any; or the call with this SIP ``call_id``) is in ``state``
        (ringing, connected, ended...); the call. Calls from before the unit's last reset do not count."""

        def found() -> dict[str, Any] | None:
            return next((c for c in reversed(self.calls()) if c.get("state") == state
                         and str(c.get("call_id")) not in self._past
                         and (endpoint is None or c.get("endpoint") == endpoint)
                         and (call_id is None or c.get("call_id") == call_id)), None)

        return wait_for(found, timeout, f"a {state} call on {self.name}" + (f" {endpoint}" if endpoint else ""),
                        self._calls_seen)

    def wait_tone(self, frequency: float, tolerance: float = 20.0, min_level_dbm0: float = -40.0,
                  endpoint: str | None = None, timeout: float = WAIT_S) -> dict[str, Any]:
        """Until a connected call's received audio measures a tone of ``frequency`` Hz (± ``tolerance``) at
        ``min_level_dbm0`` or louder; the call (its ``frequency`` and ``level_dbm0``)."""

        def heard() -> dict[str, Any] | None:
            for c in self.calls():
                if c.get("state") != "connected" or (endpoint is not None and c.get("endpoint") != endpoint):
                    continue
                f, level = c.get("frequency"), c.get("level_dbm0")
                if f is not None and abs(f - frequency) <= tolerance and level is not None and level >= min_level_dbm0:
                    return c
            return None

        return wait_for(heard, timeout, f"a {frequency:g} Hz tone in {self.name}'s call", self._calls_seen)

    def _calls_seen(self) -> list[dict[str, Any]]:
        keys = ("endpoint", "direction", "state", "end_reason", "call_id", "frequency", "level_dbm0")
        return [{k: c.get(k) for k in keys} for c in self.calls()]


class DgwProcess:
    """One ``dgw-emulator run`` process: started, waited for through its ready file, stopped with SIGTERM."""

    def __init__(self, command: list[str], args: list[str], folder: Path, timeout: float) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.ready_file = folder / "ready.json"
        self.log_file = folder / "run.log"
        argv = [*command, "run", "--ready-file", str(self.ready_file), *args]
        with self.log_file.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=folder)
        try:
            wait_for(self._ready, timeout, f"the ready file {self.ready_file}")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> dict[str, Any] | None:
        if self.proc.poll() is not None:
            tail = self.log_file.read_text(errors="replace")[-4000:]
            raise pytest.fail.Exception(f"dgw-emulator exited with {self.proc.returncode} before it was ready:\n"
                                        f"{tail}")
        return ready_document(self.ready_file)

    def document(self) -> dict[str, Any]:
        return dict(json.loads(self.ready_file.read_text()))

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not stopped within 30 s; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def ready_document(path: Path) -> dict[str, Any] | None:
    """The ready file once every unit listed has its API and no face still coming up."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    units = doc.get("units") or []
    return doc if units and all(u.get("api") and not u.get("coming_up") for u in units) else None


class Lab:
    """The session's units: started here (``process``), or attached to (a ready file, or API URLs)."""

    def __init__(self, units: list[Unit], process: DgwProcess | None = None, ready_file: Path | None = None) -> None:
        self.units = units
        self.process = process
        self.ready_file = ready_file

    def __getitem__(self, name: str) -> Unit:
        for unit in self.units:
            if unit.name == name:
                return unit
        raise KeyError(f"no unit {name!r} in the lab ({', '.join(u.name for u in self.units)})")

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.units)

    def __len__(self) -> int:
        return len(self.units)

    def stop(self) -> int | None:
        return self.process.stop() if self.process is not None else None


# ---------------------------------------------------------------------------------------------- options
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dgw-emulator", "dgw-emulator units (fixtures dgw_lab, dgw_unit, dgw_units, dgw_new_unit)")
    for name, text, default in _OPTIONS:
        group.addoption(f"--dgw-{name}", dest=f"dgw_{name.replace('-', '_')}", default=None, help=text)
        parser.addini(f"dgw_{name.replace('-', '_')}", text, default=default)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dgw_unit(name=None, script=None, reset=True): the lab unit the dgw_unit fixture gives, and "
                   "the configuration script (text or file) it runs after its reset to factory",
    )


def _option(config: pytest.Config, name: str) -> str | None:
    key = f"dgw_{name.replace('-', '_')}"
    value = config.getoption(key)
    if value is not None:
        return str(value)
    if name == "attach" and os.environ.get("DGW_ATTACH"):
        return os.environ["DGW_ATTACH"]
    ini = config.getini(key)
    return str(ini) if ini not in (None, "") else None


def _path(config: pytest.Config, name: str, value: str) -> Path:
    """A file named on the command line (or in DGW_ATTACH) is relative to where pytest runs; in the ini file,
    to the ini file's folder."""
    if config.getoption(f"dgw_{name}") is not None or (name == "attach" and os.environ.get("DGW_ATTACH")):
        base = Path(config.invocation_params.dir)
    else:
        base = config.inipath.parent if config.inipath else config.rootpath
    return (base / value).resolve()


def _command(config: pytest.Config) -> list[str]:
    given = _option(config, "command")
    if given:
        return given.split()
    beside = Path(sys.executable).parent / "dgw-emulator"
    found = str(beside) if beside.exists() else shutil.which("dgw-emulator")
    return [found] if found else [sys.executable, "-m", "emulator"]


def _auth(config: pytest.Config) -> tuple[str, str]:
    return _option(config, "user") or "public", _option(config, "password") or ""


def _timeout(config: pytest.Config) -> float:
    return float(_option(config, "timeout") or DEFAULT_TIMEOUT_S)


def _generated_lab(count: int, profile: str, first_host: int, prefix: str = "unit") -> dict[str, Any]:
    return {"defaults": {"profile": profile, "assume_time_synchronized": True},
            "unit": [{"name": f"{prefix}{i + 1}", "host": LAB_HOSTS.format(first_host + i)} for i in range(count)]}


def _attach(config: pytest.Config, target: str) -> Lab:
    auth = _auth(config)
    if target.startswith(("http://", "https://")):
        units = []
        for url in (u.strip().rstrip("/") for u in target.split(",") if u.strip()):
            probe = Unit({"name": url, "api": url}, auth)
            status = wait_for(probe.status, _timeout(config), f"the unit at {url}")
            entry = {"name": status["name"], "profile": status.get("profile", ""), "api": url}

            def listening(url: str = url, entry: dict[str, Any] = entry) -> dict[str, Any]:
                status = Unit(entry, auth).status()
                return {**entry, **(status.get("listening") or {}), "api": url}

            units.append(Unit(entry, auth, refresh=listening))
        return Lab(units)
    ready = _path(config, "attach", target)
    doc = wait_for(lambda: ready_document(ready), _timeout(config), f"the ready file {ready}")
    return Lab([_lab_unit(ready, entry, auth) for entry in doc["units"]], ready_file=ready)


def _lab_unit(ready: Path, entry: dict[str, Any], auth: tuple[str, str]) -> Unit:
    name = entry["name"]

    def current() -> dict[str, Any]:
        return dict(next(u for u in json.loads(ready.read_text())["units"] if u["name"] == name))

    return Unit(entry, auth, refresh=current)


def _start(config: pytest.Config, folder: Path, lab_file: Path, workers: str) -> DgwProcess:
    args = ["--lab", str(lab_file), "--state-dir", str(folder / "state"), "--workers", workers,
            "--port-mode", _option(config, "port-mode") or "auto", "--log-level",
            _option(config, "log-level") or "warning", "--log-format", "json"]
    return DgwProcess(_command(config), args, folder, _timeout(config))


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def dgw_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The session's lab: attached to (``--dgw-attach``), or started from ``--dgw-lab`` or generated."""
    config = request.config
    target = _option(config, "attach")
    if target:
        yield _attach(config, target)
        return
    folder = tmp_path_factory.mktemp("dgw-lab")
    given = _option(config, "lab")
    if given:
        lab_file = _path(config, "lab", given)
    else:
        lab_file = folder / "lab.json"
        lab_file.write_text(json.dumps(_generated_lab(int(_option(config, "units") or 2),
                                                      _option(config, "profile") or "4102", LAB_FIRST_HOST)))
    process = _start(config, folder, lab_file, _option(config, "workers") or "1")
    lab = Lab([_lab_unit(process.ready_file, e, _auth(config)) for e in process.document()["units"]], process,
              process.ready_file)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def dgw_unit(request: pytest.FixtureRequest, dgw_lab: Lab) -> Unit:
    """A lab unit (the first, or ``@pytest.mark.dgw_unit(name=...)``) reset to factory, then given the marker's
    ``script`` (configuration-script text, or a :class:`pathlib.Path`)."""
    marker = request.node.get_closest_marker("dgw_unit")
    kwargs = dict(marker.kwargs) if marker else {}
    unit = dgw_lab[kwargs["name"]] if kwargs.get("name") else dgw_lab.units[0]
    if kwargs.get("reset", True):
        unit.reset(kwargs.get("script"))
    elif kwargs.get("script") is not None:
        unit.script(kwargs["script"])
    return unit


@pytest.fixture
def dgw_units(dgw_lab: Lab) -> list[Unit]:
    """Every unit of the lab, each reset to factory."""
    return [unit.reset() for unit in dgw_lab.units]


@pytest.fixture
def dgw_new_unit(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        Callable[..., Unit]]:
    """A factory of extra units, each its own ``dgw-emulator run`` process, stopped after the test:
    ``dgw_new_unit(profile="4102", name=None, settings=None, script="", host=None)``. ``settings`` (a dict of
    parameters) and ``script`` are applied at its first boot, as a lab's unit settings are."""
    config = request.config
    processes: list[DgwProcess] = []
    counter = itertools.count(1)

    def make(profile: str = "4102", name: str | None = None, settings: dict[str, Any] | None = None,
             script: str = "", host: str | None = None) -> Unit:
        n = next(counter)
        folder = tmp_path_factory.mktemp("dgw-unit")
        unit: dict[str, Any] = {"name": name or f"extra{n}", "profile": profile,
                                "host": host or LAB_HOSTS.format(EXTRA_FIRST_HOST + (n - 1) % 50)}
        if settings:
            unit["settings"] = dict(settings)
        if script:
            (folder / "script.cfg").write_text(script)
            unit["settings_file"] = "script.cfg"
        lab_file = folder / "lab.json"
        lab_file.write_text(json.dumps({"defaults": {"assume_time_synchronized": True}, "unit": [unit]}))
        process = _start(config, folder, lab_file, "1")
        processes.append(process)
        return _lab_unit(process.ready_file, process.document()["units"][0], ("public", ""))

    try:
        yield make
    finally:
        for process in processes:
            process.stop()

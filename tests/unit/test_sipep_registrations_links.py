"""SipEp registrations and persistent-link keep-alives without a network (the registrar and the server are
functions that answer each request).

* The binding is the Contact the registrar accepted: a refresh and the un-REGISTER name exactly that Contact
  even after ``SipEp.TransportConfig.ContactEnable`` changed (before, the un-REGISTER at a restart named the
  new Contact, without ``;transport=tls``, and the old binding stayed at the registrar for up to an hour).
* A refresh or a keep-alive due at T fires once, at or after T, when every timer of the loop wakes 0.7 ms
  early (uvloop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.sipep.connection import Connection
from emulator.engines.sipep.engine import SipEpEngine
from emulator.engines.sipep.links import Link, Links
from emulator.engines.sipep.registrations import Registration, Registrations
from emulator.engines.sipep.transport import SipTransport
from emulator.protocols.sip.message import Request, Response, make_response
from emulator.protocols.sip.target import Target
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

REAL_SLEEP = asyncio.sleep
EARLY_S = 0.0007  # uvloop's timers were measured to wake up to ~0.7 ms before their deadline


def started_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str = "TLS") -> SipEpEngine:
    """A SipEp engine as if started (no socket): one endpoint to register at 127.0.0.1:5061, no links."""
    u = Unit(name="u", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    c = u.config
    c.set("SipEp.TransportConfig[default].TlsEnable", "Enable" if kind == "TLS" else "Disable")
    c.set("SipEp.TransportConfig[default].ContactEnable", "Enable")
    c.set("SipEp.DefaultStaticRegistrarServerHost", "127.0.0.1:5061")
    c.set("SipEp.UserAgent[Phone-Fax1].Username", "1001")
    c.set("SipEp.UserAgent[Phone-Fax1].Register", "Enable")
    eng = SipEpEngine(u)
    gateways = eng.settings.gateways()
    eng.ua.start(SipTransport(u.host, eng.ua.receive), gateways, kind)
    eng.servers.start(gateways, kind)
    eng.regs.start(eng.regs.read(gateways))
    monkeypatch.setattr(eng.link_set, "ensure", lambda gw, target: None)  # no persistent link in these tests
    return eng


def registrar(sent: list[Request], expires: int = 3600) -> Callable[..., Awaitable[Response | None]]:
    """A registrar that binds (or unbinds) the Contact of every REGISTER and answers 200 with it."""
    async def request(req: Request, target: Target, gateway: str | None = None, **_: Any) -> Response | None:
        sent.append(req)
        granted = int(req.headers.get("Expires") or expires)
        return make_response(req, 200, headers=[("Contact", f"{req.headers.get('Contact')};expires={granted}")])
    return request


async def test_unregister_names_the_contact_that_was_registered(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    eng = started_engine(tmp_path, monkeypatch)
    sent: list[Request] = []
    monkeypatch.setattr(eng.ua, "request", registrar(sent))
    [reg] = eng.registrations
    await eng.register_once(reg)
    assert reg.state == "Registered"
    bound = sent[-1].headers.get("Contact")
    assert bound is not None and "transport=tls" in bound
    eng.config.set("SipEp.TransportConfig[default].ContactEnable", "Disable")  # takes effect at a restart
    await eng.register_once(reg)  # a refresh keeps the binding
    assert sent[-1].headers.get("Contact") == bound
    await eng.regs.stop()  # the restart's un-REGISTER
    unregister = sent[-1]
    assert unregister.headers.get("Expires") == "0" and unregister.headers.get("Contact") == bound
    assert reg.contact is None and reg.state == "Unregistered"
    eng.regs.start(eng.regs.read(eng.gateways))  # the new start registers the new Contact
    [fresh] = eng.registrations
    await eng.register_once(fresh)
    assert "transport=tls" not in (sent[-1].headers.get("Contact") or "x;transport=tls")
    await eng.ua.stop()


async def test_a_rejected_refresh_keeps_the_binding_to_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eng = started_engine(tmp_path, monkeypatch)
    sent: list[Request] = []
    monkeypatch.setattr(eng.ua, "request", registrar(sent))
    [reg] = eng.registrations
    await eng.register_once(reg)
    bound = sent[-1].headers.get("Contact")

    async def refuse(req: Request, target: Target, gateway: str | None = None, **_: Any) -> Response | None:
        sent.append(req)
        return make_response(req, 403)

    monkeypatch.setattr(eng.ua, "request", refuse)
    eng.config.set("SipEp.TransportConfig[default].ContactEnable", "Disable")
    await eng.register_once(reg)
    assert reg.state == "Rejected" and reg.contact is not None
    await eng.register_once(reg, expires=0)
    assert sent[-1].headers.get("Contact") == bound
    await eng.ua.stop()


# ---------------------------------------------------------------------------------------------- timers
class EarlyTime:
    """Virtual time for the SipEp timers (their injected clock): a timed wait takes no real time and ends EARLY_S
    before its deadline (the early wake-up), or its whole length when shorter than 2 ms; a wait that would end
    past ``end`` lasts until cancelled. Installed as ``asyncio.sleep`` and ``asyncio.wait_for``."""

    def __init__(self, start: float, end: float) -> None:
        self.t, self.end = start, end

    def now(self) -> float:
        return self.t

    def _elapse(self, delay: float | None) -> bool:
        if delay is None or self.t + delay > self.end:
            return False
        self.t += delay - EARLY_S if delay > 0.002 else delay
        return True

    async def sleep(self, delay: float, result: Any = None) -> Any:
        if not self._elapse(delay):
            await asyncio.Event().wait()
        await REAL_SLEEP(0)
        return result

    async def wait_for(self, aw: Any, timeout: float | None) -> Any:
        task = asyncio.ensure_future(aw)
        await REAL_SLEEP(0)  # already set (a wake event): no time passes
        if task.done() or not self._elapse(timeout):
            return await task
        task.cancel()
        raise TimeoutError

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(asyncio, "sleep", self.sleep)
        monkeypatch.setattr(asyncio, "wait_for", self.wait_for)

    async def run_out(self) -> None:
        """Let the engine run until the virtual time stands still (every wait reaches past the end)."""
        still = 0
        while still < 20:
            t = self.t
            await REAL_SLEEP(0.001)
            still = still + 1 if self.t == t else 0


async def test_a_refresh_due_at_t_fires_once_never_before_t(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eng = started_engine(tmp_path, monkeypatch, kind="UDP")
    clock = EarlyTime(1000.0, end=1000.0 + 10 * 30 + 5)
    regs = Registrations(eng.unit, eng.settings, eng.ua, eng.servers, eng.link_set, now=clock.now)
    sent: list[float] = []

    async def register_once(reg: Registration, expires: int | None = None) -> float:
        sent.append(clock.now())
        return 30.0  # the next refresh in 30 s

    monkeypatch.setattr(regs, "register_once", register_once)
    clock.install(monkeypatch)
    regs.start(regs.read(eng.gateways))
    regs.run()
    await clock.run_out()
    await eng.ua.stop()
    due = [1000.0 + 30 * k for k in range(11)]
    assert len(sent) == len(due), sent  # one REGISTER per due time (none 0.7 ms apart)
    assert all(t >= d and t - d < 0.01 for t, d in zip(sent, due, strict=True)), sent  # never before its due time


class _Stream:
    """The byte stream of a persistent link that is up (nothing is written anywhere)."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5061), "sockname": ("127.0.0.1", 16000)}.get(name, default)


@pytest.mark.parametrize("method", ["SipOptions", "Ping"])
async def test_a_keepalive_due_at_t_fires_once_never_before_t(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              method: str) -> None:
    eng = started_engine(tmp_path, monkeypatch)
    eng.config.set("SipEp.SipKeepAliveMethod", method)
    eng.config.set("SipEp.SipKeepAliveInterval", 30)
    clock = EarlyTime(2000.0, end=2000.0 + 10 * 30 + 5)
    links = Links(eng.unit, eng.settings, eng.ua, eng.servers, now=clock.now)
    conn = Connection("TLS", _Stream(), outgoing=True, max_size=5120)
    sent: list[float] = []

    async def request(req: Request, target: Target, gateway: str | None = None, **_: Any) -> Response | None:
        sent.append(clock.now())
        return make_response(req, 200)

    def ping() -> None:  # the server answers the double CRLF at once
        sent.append(clock.now())
        conn.pong_received()

    monkeypatch.setattr(eng.ua, "request", request)
    monkeypatch.setattr(conn, "ping", ping)
    clock.install(monkeypatch)
    eng.ua.spawn(links.keep_alive(Link(1, "default", Target("TLS", "127.0.0.1", 5061)), conn))
    await clock.run_out()
    await eng.ua.stop()
    due = [2000.0 + 30 * k for k in range(1, 11)]
    assert len(sent) == len(due), sent  # one keep-alive per due time
    assert all(d <= t < d + 0.01 for t, d in zip(sent, due, strict=True)), sent  # on the grid, never before
    assert conn.is_open


async def test_stop_ends_a_task_that_swallowed_its_cancellation(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A task of the user agent that survives one cancellation (as Python 3.11's wait_for lets a task do when the
    cancellation meets its inner future's completion) is cancelled again: the stop does not wait out its next
    wait (here 30 s, as a transaction's Timer F would be)."""
    eng = started_engine(tmp_path, monkeypatch)
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            swallowed.set()  # goes on as if nothing happened
        await asyncio.sleep(30)

    task = eng.ua.spawn(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(eng.ua.stop(), 5)
    assert swallowed.is_set() and task.cancelled()

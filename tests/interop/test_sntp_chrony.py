"""The Hoc SNTP client against a real chrony NTP server on 127.0.0.1 (a free port).

chronyd runs in the foreground (``-d``) with ``-x`` (it never touches the host clock), no
upstream server (``local stratum 8`` serves its own clock at once), no command socket
(``cmdport 0``, ``bindcmdaddress /``) and only 127.0.0.1 allowed; it is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from emulator.engines.hoc.engine import HocEngine
from emulator.protocols.sntp import SntpError, SntpQuery
from emulator.runtime.unit import Unit
from testkit.peers import free_port, require_peer
from testkit.process import ServerPeer, spawn
from tests.helpers.units import hoc_unit

pytestmark = pytest.mark.peer

DAY = 86400.0


class Chrony(ServerPeer):
    """chronyd serving NTP on 127.0.0.1."""


def start_chrony(directory: Path, port: int) -> Chrony:
    chronyd = require_peer("chronyd")["chronyd"]
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "chrony.conf"
    conf.write_text(
        f"port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\nbindcmdaddress /\n"
        f"pidfile {directory}/chronyd.pid\ndriftfile {directory}/chrony.drift\n"
    )
    log = directory / "chronyd.log"
    proc = spawn([chronyd, "-f", str(conf), "-d", "-x", "-u", getpass.getuser()], log, stdin=None)
    peer = Chrony(proc, log, "127.0.0.1", port)
    return peer.wait_until(lambda: answers(port), f"chronyd did not serve on {peer.address}")


def answers(port: int) -> bool:
    """One blocking SNTP exchange with our own core (readiness probe)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        q = SntpQuery(time.time())
        s.sendto(q.datagram, ("127.0.0.1", port))
        try:
            data = s.recv(512)
            q.receive(data, time.time())
        except (OSError, SntpError):
            return False
    return True


@pytest.fixture
def chrony(tmp_path: Path) -> Iterator[Chrony]:
    with start_chrony(tmp_path / "chrony", free_port(kind=socket.SOCK_DGRAM)) as peer:
        yield peer


@pytest.fixture
async def make_unit(tmp_path: Path) -> AsyncIterator[Callable[..., Unit]]:
    units: list[Unit] = []

    def make(offset: float = 0.0, servers: tuple[str, ...] = (), **kw: object) -> Unit:
        kw.setdefault("timeout", 0.5)
        unit, hoc = hoc_unit(tmp_path / f"u{len(units)}", name=f"u{len(units) + 1}", offset=offset, **kw)
        unit.hoc = hoc  # type: ignore[attr-defined]
        c = unit.config
        c.set("Hoc.SntpConfigSource", "Static")
        for prio, server in enumerate(servers):
            if prio == 0:
                c.set("Hoc.StaticSntpServerHost", server)
            else:
                c.set(f"Hoc.StaticSntpServers[{prio}].HostName", server)
        units.append(unit)
        return unit

    yield make
    for u in units:
        await u.stop()


def hoc_of(unit: Unit) -> HocEngine:
    hoc = unit.hoc  # type: ignore[attr-defined]
    assert isinstance(hoc, HocEngine)
    return hoc


def hoc_events(unit: Unit) -> list[tuple[int, str]]:
    return [(e.msg_id, e.message) for e in unit.notifications if e.service == "Hoc"]


async def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.01)


def shown(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


async def test_unit_synchronises_with_chrony(chrony: Chrony, make_unit: Callable[..., Unit]) -> None:
    unit = make_unit(servers=(chrony.address,))
    assert unit.clock.synchronized is False  # no battery clock: unsynchronised at boot
    await unit.start()
    await wait_for(lambda: unit.clock.synchronized)
    c = unit.config
    assert c.get("Hoc.SntpCurrentSource") == chrony.address == c.get("Hoc.SntpServerHostInfo")
    assert c.rows("Hoc.SntpServersInfo") == [{"Priority": 1, "HostName": chrony.address}]
    assert hoc_events(unit) == [(9001, f"Time synchronized with SNTP server {chrony.address}.")]
    r = hoc_of(unit).last_result
    assert r is not None and (r.stratum, r.leap, r.version, r.ref_id) == (8, 0, 4, "127.127.1.1")
    assert abs(r.offset) < 0.1 and 0 <= r.delay < 0.5
    assert abs(unit.clock.now() - time.time()) < 0.1
    assert hoc_of(unit).require_time() is True and all(m != 9003 for m, _ in hoc_events(unit))


async def test_no_ntp_reachable_then_chrony_appears(tmp_path: Path, make_unit: Callable[..., Unit]) -> None:
    port = free_port(kind=socket.SOCK_DGRAM)
    unit = make_unit(servers=(f"127.0.0.1:{port}", "192.168.10.10:123"), minute_s=0.1)
    unit.config.set("Hoc.SntpSynchronizationPeriodOnError", 1)  # one minute = 0.1 s in this test
    hoc = hoc_of(unit)
    await unit.start()
    await wait_for(lambda: hoc.attempts >= 3)
    assert unit.clock.synchronized is False and unit.config.get("Hoc.SntpCurrentSource") == ""
    [(msg_id, text)] = hoc_events(unit)  # raised once for the streak, not for every retry
    assert msg_id == 9002 and f"127.0.0.1:{port}" in text and "192.168.10.10:123" in text
    assert hoc.require_time() is False and hoc.require_time() is False
    assert [m for m, _ in hoc_events(unit)] == [9002, 9003]
    # the retry on the error period finds the server once it is up
    with start_chrony(tmp_path / "late-chrony", port):
        await wait_for(lambda: unit.clock.synchronized)
    assert [m for m, _ in hoc_events(unit)] == [9002, 9003, 9001]
    assert unit.config.get("Hoc.SntpCurrentSource") == f"127.0.0.1:{port}"


async def test_lab_skew_is_kept_after_sync(chrony: Chrony, make_unit: Callable[..., Unit]) -> None:
    unit = make_unit(offset=-400 * DAY, servers=(chrony.address,))  # a year and more in the past
    hoc = hoc_of(unit)
    await unit.start()
    await wait_for(lambda: unit.clock.synchronized)
    assert unit.clock.now() - time.time() == pytest.approx(-400 * DAY, abs=0.1)
    assert hoc.last_result is not None and hoc.last_result.offset == pytest.approx(400 * DAY, abs=0.1)
    unit.clock.skew(2 * DAY)  # a test pushes the synchronised unit further
    assert await hoc.sync_now()
    assert unit.clock.synchronized and unit.clock.now() - time.time() == pytest.approx(-398 * DAY, abs=0.1)
    hoc.set_skew(0)
    assert await hoc.sync_now()
    assert abs(unit.clock.now() - time.time()) < 0.1
    assert [m for m, _ in hoc_events(unit)] == [9001]


async def test_system_time_in_the_configured_zone(chrony: Chrony, make_unit: Callable[..., Unit]) -> None:
    unit = make_unit(offset=3 * DAY, servers=(chrony.address,))
    await unit.start()
    await wait_for(lambda: unit.clock.synchronized)
    c = unit.config
    for zone, expected in (
        ("EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00", ZoneInfo("America/New_York")),
        ("JST-9", dt.timezone(dt.timedelta(hours=9))),  # a leading minus is EAST of Greenwich
        ("<-03>3", dt.timezone(dt.timedelta(hours=-3))),
    ):
        c.set("Hoc.StaticTimeZone", zone)
        want = dt.datetime.fromtimestamp(unit.clock.now(), expected).replace(tzinfo=None)
        got = shown(c.get_text("Hoc.SystemTime"))
        assert abs((got - want).total_seconds()) <= 1, zone
    # the unit's time, not the host's: the lab skew of 3 days shows
    host_jst = dt.datetime.now(dt.timezone(dt.timedelta(hours=9))).replace(tzinfo=None)
    assert (got - host_jst).total_seconds() == pytest.approx(-12 * 3600 + 3 * DAY, abs=2)


def test_chrony_never_touches_the_host_clock(chrony: Chrony) -> None:
    assert "Disabled control of system clock" in chrony.log()  # -x

"""Remote syslog of the Nlm engine, received by a real rsyslogd on 127.0.0.1.

Where a test proves that something is NOT sent, it sends a marker notification afterwards and
waits for the marker: datagrams on loopback to one rsyslog input arrive in order.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.engines.nlm import NlmEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit.rsyslog import Received, Rsyslog

pytestmark = pytest.mark.peer

TLS = {"host": "10.5.128.14", "port": 5063, "gateway": "default"}
TLS_LINE = ("SipEp: 1400-SIP Endpoint: 303-TLS connection with remote host 10.5.128.14:5063 "
            "is now ready to be used for SIP gateway default.")
SRTP = {"call": "7", "endpoint": "Phone-Fax1"}
SRTP_LINE = ("Mipt: 1600-Media IP Transport: 110-The call 7 on endpoint Phone-Fax1 detected an SRTP "
             "cryptographic error. The secured RTP stream is not properly decoded.")
HEADER = re.compile(r"^<(\d+)>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 1-3]\d \d\d:\d\d:\d\d (\S+) ")


@pytest.fixture
async def unit(tmp_path: Path, rsyslog: Rsyslog) -> AsyncIterator[Unit]:
    u = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    nlm = NlmEngine(u)
    u.attach(nlm)
    u.nlm = nlm
    await u.start()
    rsyslog.mark()
    u.config.set("Nlm.SyslogRemoteHost", rsyslog.address("a"))
    try:
        yield u
    finally:
        await u.stop()


async def wait_lines(peer: Rsyslog, which: str, n: int, timeout: float = 3.0) -> list[Received]:
    got: list[Received] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < n and loop.time() < deadline:
        await asyncio.sleep(0.02)
        got += peer.new_lines(which)
    assert len(got) >= n, f"rsyslog input {which} got {len(got)} of {n} lines: {got}"
    return got


def body(rec: Received) -> tuple[int, str, str]:
    """(PRI, HOSTNAME, message) of the datagram exactly as the unit sent it."""
    m = HEADER.match(rec.raw)
    assert m, f"not an RFC 3164 header: {rec.raw!r}"
    return int(m.group(1)), m.group(2), rec.raw[m.end():]


async def test_notification_reaches_rsyslog_exactly(unit: Unit, rsyslog: Rsyslog) -> None:
    unit.notify("SipEp", 303, **TLS)
    [rec] = await wait_lines(rsyslog, "a", 1)
    assert body(rec) == (132, "u1", TLS_LINE)  # local0.warning, the unit's name, the hardware text
    # rsyslog's own RFC 3164 parsing agrees: PRI, HOSTNAME, then "SipEp:" as the tag.
    assert (rec.pri, rec.host, rec.tag) == (132, "u1", "SipEp:")
    assert rec.tag + rec.msg == TLS_LINE
    unit.config.set("Hoc.HostName", "gw-lab-1")
    unit.notify("Mipt", 110, **SRTP)
    [rec] = await wait_lines(rsyslog, "a", 1)
    assert body(rec) == (131, "gw-lab-1", SRTP_LINE)  # local0.err
    assert rec.host == "gw-lab-1"
    assert unit.nlm.stats["syslog_sent"] == 2 and unit.nlm.stats["syslog_errors"] == 0


async def test_min_severity_drops_before_syslog(unit: Unit, rsyslog: Rsyslog) -> None:
    unit.config.set("SipEp.MinSeverity", "Error")
    assert unit.notify("SipEp", 303, **TLS) is None  # Warning < Error
    unit.notify("Mipt", 110, **SRTP)  # the marker
    got = await wait_lines(rsyslog, "a", 1)
    await asyncio.sleep(0.05)
    got += rsyslog.new_lines("a")
    assert [body(r)[2] for r in got] == [SRTP_LINE]


async def test_criteria_excluding_a_service_stops_delivery(unit: Unit, rsyslog: Rsyslog) -> None:
    unit.config.set("Nlm.Events[1].Criteria", "All,-1400.All")
    assert unit.config.get("Nlm.Events[1].ConfigStatus") == "Valid"
    assert unit.notify("SipEp", 303, **TLS) is not None
    unit.notify("Mipt", 110, **SRTP)
    got = await wait_lines(rsyslog, "a", 1)
    await asyncio.sleep(0.05)
    got += rsyslog.new_lines("a")
    assert [body(r)[2] for r in got] == [SRTP_LINE]
    # row 2 (LogLocally) still takes the SipEp one
    assert [r["ServiceTextkey"] for r in unit.config.rows("Nlm.LocalLogMessages")] == ["SipEp", "Mipt"]
    # an invalid criteria is ignored: nothing reaches syslog
    unit.config.set("Nlm.Events[1].Criteria", "1400.All,")
    assert unit.config.get("Nlm.Events[1].ConfigStatus") == "Invalid"
    sent = unit.nlm.stats["syslog_sent"]
    unit.notify("Mipt", 110, **SRTP)
    assert unit.nlm.stats["syslog_sent"] == sent


async def test_remote_host_change_redirects_at_once(unit: Unit, rsyslog: Rsyslog) -> None:
    unit.notify("SipEp", 303, **TLS)
    assert [body(r)[2] for r in await wait_lines(rsyslog, "a", 1)] == [TLS_LINE]
    unit.config.set("Nlm.SyslogRemoteHost", rsyslog.address("b"))  # no restart
    unit.notify("Mipt", 110, **SRTP)
    assert [body(r)[2] for r in await wait_lines(rsyslog, "b", 1)] == [SRTP_LINE]
    # a host name, resolved with the loop's getaddrinfo
    unit.config.set("Nlm.SyslogRemoteHost", f"localhost:{rsyslog.ports['a']}")
    unit.notify("SipEp", 303, **TLS)
    assert [body(r)[2] for r in await wait_lines(rsyslog, "a", 1)] == [TLS_LINE]
    assert rsyslog.new_lines("b") == []
    unit.config.set("Nlm.SyslogRemoteHost", "")  # no remote syslog
    sent = unit.nlm.stats["syslog_sent"]
    unit.notify("SipEp", 303, **TLS)
    assert unit.nlm.stats["syslog_sent"] == sent and unit.nlm.stats["syslog_errors"] == 0


async def test_custom_message_format(unit: Unit, rsyslog: Rsyslog) -> None:
    unit.config.set("Nlm.SyslogMessageFormat", "1 - %mac DGW-2.0 %servicetextkey %msgid %12.7message|%%|%serial")
    unit.notify("SipEp", 303, **TLS)
    [rec] = await wait_lines(rsyslog, "a", 1)
    mac, serial = unit.identity.mac, unit.identity.serial
    assert body(rec)[2] == f"1 - {mac} DGW-2.0 SipEp 303      TLS con|%|{serial}"


async def test_nothing_sent_while_nlm_is_stopped(unit: Unit, rsyslog: Rsyslog) -> None:
    await unit.stop_service("Nlm")
    unit.notify("SipEp", 303, **TLS)
    await unit.start_service("Nlm")
    unit.notify("Mipt", 110, **SRTP)
    got = await wait_lines(rsyslog, "a", 1)
    await asyncio.sleep(0.05)
    got += rsyslog.new_lines("a")
    assert [body(r)[2] for r in got] == [SRTP_LINE]

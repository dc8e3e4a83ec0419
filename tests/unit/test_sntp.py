"""SNTP (RFC 4330): packet layout, timestamps across the 2036 era, offset/delay, reply checks,
kiss-o'-death, the Hoc server list and notification streaks — and the Hoc engine against tiny
in-test servers (no chrony: tests/interop/test_sntp_chrony.py does that)."""

from __future__ import annotations

import asyncio
import calendar
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.protocols.sntp import (
    NTP_UNIX_DELTA,
    BogusReply,
    KissOfDeath,
    NtpPacket,
    SntpError,
    SntpQuery,
    SyncTracker,
    build_request,
    ntp_to_unix,
    offset_delay,
    parse_reply,
    parse_server,
    sntp_servers,
    unix_to_ntp,
)
from emulator.runtime.unit import Unit
from tests.helpers.units import hoc_unit

ERA1_START = calendar.timegm((2036, 2, 7, 6, 28, 16))  # NTP seconds wrap to 0


# ------------------------------------------------------------------ timestamps and eras
def test_epochs() -> None:
    assert unix_to_ntp(0) == NTP_UNIX_DELTA << 32
    assert ntp_to_unix(NTP_UNIX_DELTA << 32) == 0
    assert ERA1_START == 2**32 - NTP_UNIX_DELTA == 2085978496
    assert unix_to_ntp(ERA1_START) == 0  # era 1 begins
    assert ntp_to_unix(0) == ERA1_START
    assert ntp_to_unix(0xFFFFFFFF << 32) == ERA1_START - 1  # last second of era 0
    assert ntp_to_unix(0x80000000 << 32) == calendar.timegm((1968, 1, 20, 3, 14, 8))  # MSB set: era 0
    assert ntp_to_unix(0x7FFFFFFF << 32) == calendar.timegm((2104, 2, 26, 9, 42, 23))  # MSB clear: era 1


def test_fraction() -> None:
    assert unix_to_ntp(ERA1_START + 10.5) == (10 << 32) | 0x80000000
    assert unix_to_ntp(1.25) & 0xFFFFFFFF == 0x40000000
    assert ntp_to_unix(((NTP_UNIX_DELTA + 7) << 32) | 0xC0000000) == 7.75


@given(st.floats(min_value=-61505152.0, max_value=ERA1_START + 2**31 - 1.0))
def test_round_trip_1968_to_2104(t: float) -> None:
    assert abs(ntp_to_unix(unix_to_ntp(t)) - t) < 1e-6


# ------------------------------------------------------------------ packets
def test_client_request_layout() -> None:
    t1 = 1_700_000_000.25
    data, ts = build_request(t1)
    assert len(data) == 48
    assert data[0] == 0x23  # LI 0, VN 4, mode 3
    assert data[1:40] == bytes(39)  # everything else zero (RFC 4330 §5)
    assert data[40:48] == struct.pack("!II", 1_700_000_000 + NTP_UNIX_DELTA, 0x40000000) == struct.pack("!Q", ts)
    assert build_request(t1, version=3)[0][0] == 0x1B


def test_unpack_real_reply_bytes() -> None:
    # LI 0 VN 4 mode 4, stratum 8, poll 0, precision -24, root delay 0, dispersion 0.5 s, refid 127.127.1.1
    raw = bytes.fromhex(
        "240800e8" "00000000" "00008000" "7f7f0101"
        "ead1c5b200000000" "ead1c5b380000000" "ead1c5b390000000" "ead1c5b3a0000000"
    )
    p = NtpPacket.unpack(raw + b"extension fields are ignored")
    assert (p.leap, p.version, p.mode, p.stratum, p.precision) == (0, 4, 4, 8, -24)
    assert p.ref_id_text == "127.127.1.1" and p.root_dispersion == 0x8000
    assert p.pack() == raw
    r = parse_reply(raw, originate=0xEAD1C5B380000000, t1=ntp_to_unix(0xEAD1C5B380000000),
                    t4=ntp_to_unix(0xEAD1C5B3A0000000))
    assert r.stratum == 8 and r.root_dispersion == 0.5 and r.ref_id == "127.127.1.1"
    assert time.gmtime(r.server_time)[:6] == (2024, 11, 3, 9, 49, 39)


# ------------------------------------------------------------------ offset and delay
def test_offset_delay_math() -> None:
    # server 10 s ahead, 0.1 s each way, 0.05 s in the server
    t1, t2, t3, t4 = 100.0, 110.1, 110.15, 100.25
    off, delay = offset_delay(t1, t2, t3, t4)
    assert off == pytest.approx(10.0) and delay == pytest.approx(0.2)
    assert offset_delay(50.0, 40.05, 40.05, 50.1) == pytest.approx((-10.0, 0.1))


def reply(q: SntpQuery, server_offset: float, *, rtt: float = 0.02, **over: object) -> tuple[bytes, float]:
    """A server reply to ``q`` from a server ``server_offset`` seconds ahead; returns (data, t4)."""
    t2 = q.t1 + rtt / 2 + server_offset
    fields: dict[str, object] = dict(leap=0, version=4, mode=4, stratum=2, ref_id=bytes([192, 0, 2, 1]),
                                     originate=q.originate, receive=unix_to_ntp(t2), transmit=unix_to_ntp(t2))
    fields.update(over)
    return NtpPacket(**fields).pack(), q.t1 + rtt  # type: ignore[arg-type]


def test_query_computes_offset_and_delay() -> None:
    q = SntpQuery(1_800_000_000.0)
    data, t4 = reply(q, -3600.0, rtt=0.04)
    r = q.receive(data, t4)
    assert r.offset == pytest.approx(-3600.0, abs=1e-6) and r.delay == pytest.approx(0.04, abs=1e-6)
    assert r.ref_id == "192.0.2.1"


def test_across_the_2036_wrap() -> None:
    q = SntpQuery(ERA1_START - 0.5)  # our clock just before the wrap, the server's just after
    data, t4 = reply(q, 1.0)
    assert NtpPacket.unpack(data).transmit >> 32 == 0
    assert q.receive(data, t4).offset == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    ("over", "error", "text"),
    [
        ({"mode": 3}, SntpError, "mode 3"),
        ({"mode": 5}, SntpError, "mode 5"),
        ({"version": 5}, SntpError, "version 5"),
        ({"version": 0}, SntpError, "version 0"),
        ({"stratum": 16}, SntpError, "stratum 16"),
        ({"leap": 3}, SntpError, "leap indicator 3"),
        ({"transmit": 0}, SntpError, "zero transmit"),
        ({"originate": 12345}, BogusReply, "originate"),
        ({"stratum": 0, "ref_id": b"RATE"}, KissOfDeath, "kiss-o'-death RATE"),
    ],
)
def test_bad_replies(over: dict[str, object], error: type[Exception], text: str) -> None:
    q = SntpQuery(1_750_000_000.0)
    data, t4 = reply(q, 0.0, **over)
    with pytest.raises(error) as info:
        q.receive(data, t4)
    assert type(info.value) is error and text in str(info.value)


def test_version_3_reply_accepted_and_short_datagram_bogus() -> None:
    q = SntpQuery(1_750_000_000.0)
    data, t4 = reply(q, 0.0, version=3)
    assert q.receive(data, t4).version == 3
    with pytest.raises(BogusReply, match="short"):
        q.receive(data[:47], t4)


@pytest.mark.parametrize(("code", "stop"), [("DENY", True), ("RSTR", True), ("RATE", False), ("", False)])
def test_kiss_codes(code: str, stop: bool) -> None:
    q = SntpQuery(1_750_000_000.0)
    data, t4 = reply(q, 0.0, stratum=0, ref_id=code.encode())
    with pytest.raises(KissOfDeath) as info:
        q.receive(data, t4)
    assert info.value.code == code and info.value.stop is stop


# ------------------------------------------------------------------ servers in effect
def test_parse_server() -> None:
    assert parse_server("192.168.10.10:123") == ("192.168.10.10", 123)
    assert parse_server("ntp.example.com") == ("ntp.example.com", 123)
    assert parse_server("10.0.0.1:0") == ("10.0.0.1", 123)  # 0 = protocol default
    assert parse_server("[::1]:1123") == ("::1", 1123)
    assert parse_server("") is None and parse_server("a:b") is None and parse_server(":5") is None


ROWS = [{"Priority": 3, "HostName": "c:1003"}, {"Priority": 1, "HostName": "a:1001"},
        {"Priority": 2, "HostName": ""}, {"Priority": 4, "HostName": "a:1001"}]


def test_servers_static_order_and_dedup() -> None:
    assert sntp_servers("Static", "p:1000", ROWS) == ["p:1000", "a:1001", "c:1003"]
    assert sntp_servers("Static", "a:1001", ROWS) == ["a:1001", "c:1003"]
    assert sntp_servers("Static", "", []) == []
    assert sntp_servers("Static", "x:123", [{"Priority": 1, "HostName": "x"}]) == ["x:123"]  # same target


def test_servers_automatic_uses_dhcp_only() -> None:
    assert sntp_servers("Automatic", "p:1000", ROWS) == []
    assert sntp_servers("AutomaticIpv6", "p:1000", ROWS, ["d:1"]) == ["d:1"]
    assert sntp_servers("AutomaticWithFallback", "p:1000", ROWS, ["d:1", " "]) == ["d:1"]
    assert sntp_servers("AutomaticWithFallback", "p:1000", ROWS) == ["p:1000", "a:1001", "c:1003"]


def test_tracker_streaks() -> None:
    t = SyncTracker()
    assert t.time_required(False) is True and t.time_required(False) is False  # 9003 once
    assert [t.failed("x"), t.failed("x"), t.failed("y")] == [True, False, False]  # 9002 once
    t.reconfigured()
    assert t.failed("z") is True  # a new configuration, a new streak
    assert t.succeeded("s1") is True and t.succeeded("s1") is False  # 9001 on gaining only
    assert t.time_required(True) is False
    assert t.failed("x") is True and t.succeeded("s1") is True  # regained after a failure streak
    assert t.succeeded("s2") is True  # another source
    assert (t.successes, t.failures, t.source) == (4, 5, "s2")


# ------------------------------------------------------------------ engine against tiny servers
class FakeNtp(asyncio.DatagramProtocol):
    """An SNTP server on 127.0.0.1 whose answer a test chooses (``behave(request) -> datagrams``)."""

    def __init__(self, behave: Callable[[NtpPacket], list[bytes]]) -> None:
        self.behave = behave
        self.requests: list[tuple[NtpPacket, tuple[str, int]]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        req = NtpPacket.unpack(data)
        self.requests.append((req, addr))
        assert self.transport is not None
        for d in self.behave(req):
            self.transport.sendto(d, addr)


def good(offset: float = 0.0, stratum: int = 3) -> Callable[[NtpPacket], list[bytes]]:
    def answer(req: NtpPacket) -> list[bytes]:
        now = unix_to_ntp(time.time() + offset)
        return [NtpPacket(version=4, mode=4, stratum=stratum, originate=req.transmit, receive=now,
                          transmit=now).pack()]
    return answer


async def fake_server(behave: Callable[[NtpPacket], list[bytes]]) -> tuple[FakeNtp, str]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: FakeNtp(behave), local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    return proto, f"127.0.0.1:{port}"


def hoc_ids(unit: Unit) -> list[int]:
    return [e.msg_id for e in unit.notifications if e.service == "Hoc"]


async def wait_for(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_factory_unit_boots_unsynchronised_automatic_has_no_server(tmp_path: Path) -> None:
    unit, hoc = hoc_unit(tmp_path)
    await unit.start()
    await wait_for(lambda: hoc.attempts >= 1)
    assert unit.clock.synchronized is False and hoc.servers() == []
    assert unit.config.rows("Hoc.SntpServersInfo") == [] and unit.config.get("Hoc.SntpServerHostInfo") == ""
    assert unit.config.get("Hoc.SntpCurrentSource") == ""
    [ev] = [e for e in unit.notifications if e.service == "Hoc"]
    assert ev.msg_id == 9002 and "DHCP" in ev.message
    assert hoc.require_time() is False and hoc.require_time() is False
    assert hoc_ids(unit) == [9002, 9003]
    await unit.stop()


async def test_factory_static_server_unreachable_fails_quietly_and_retries(tmp_path: Path) -> None:
    unit, hoc = hoc_unit(tmp_path, minute_s=0.05)
    unit.config.set("Hoc.SntpConfigSource", "Static")  # 192.168.10.10:123, not reachable from 127.0.0.1
    unit.config.set("Hoc.SntpSynchronizationPeriodOnError", 1)  # one "minute" = 0.05 s here
    await unit.start()
    await wait_for(lambda: hoc.attempts >= 4)
    assert unit.clock.synchronized is False and unit.config.get("Hoc.SntpServerHostInfo") == "192.168.10.10:123"
    assert hoc_ids(unit) == [9002]  # once per streak, not per retry
    assert "192.168.10.10:123" in unit.notifications[-1].message
    await unit.stop()


async def test_assume_synchronized_boots_with_time(tmp_path: Path) -> None:
    unit, hoc = hoc_unit(tmp_path, assume_synchronized=True)
    await unit.start()
    assert unit.clock.synchronized and hoc.require_time() is True
    await wait_for(lambda: hoc.attempts >= 1)
    assert unit.clock.synchronized  # a failing SNTP never un-synchronises
    assert 9003 not in hoc_ids(unit)
    await unit.stop()


async def test_sync_skew_kiss_and_bogus(tmp_path: Path) -> None:
    deny, deny_addr = await fake_server(lambda req: [
        NtpPacket(mode=4, stratum=0, ref_id=b"DENY", originate=req.transmit, transmit=1).pack()])
    tricky, tricky_addr = await fake_server(lambda req: [
        NtpPacket(mode=4, stratum=2, originate=req.transmit ^ 1, transmit=unix_to_ntp(time.time())).pack(),
        *good(offset=5.0)(req)])
    unit, hoc = hoc_unit(tmp_path, offset=-1000.0)  # lab skew: 1000 s late
    c = unit.config
    c.set("Hoc.SntpConfigSource", "Static")
    c.set("Hoc.StaticSntpServerHost", deny_addr)
    c.set("Hoc.StaticSntpServers[1].HostName", tricky_addr)
    await unit.start()
    await wait_for(lambda: unit.clock.synchronized)
    assert c.get("Hoc.SntpCurrentSource") == tricky_addr
    assert [r["HostName"] for r in c.rows("Hoc.SntpServersInfo")] == [deny_addr, tricky_addr]
    # the server is 5 s ahead of the host; the lab's 1000 s skew is kept on top of it
    assert unit.clock.now() - time.time() == pytest.approx(5.0 - 1000.0, abs=0.05)
    assert hoc.skew == pytest.approx(-1000.0) and hoc_ids(unit) == [9001]
    assert hoc.last_result is not None and hoc.last_result.stratum == 3
    for proto in (deny, tricky):
        assert all(r.mode == 3 and addr[0] == "127.0.0.1" for r, addr in proto.requests)
    # a relative skew on the clock is kept across the next sync, as is set_skew
    unit.clock.skew(+30.0)
    assert await hoc.sync_now()
    assert unit.clock.now() - time.time() == pytest.approx(5.0 - 970.0, abs=0.05)
    hoc.set_skew(0.0)
    assert await hoc.sync_now()
    assert unit.clock.now() - time.time() == pytest.approx(5.0, abs=0.05)
    assert len(deny.requests) == 1  # DENY: never asked again
    assert hoc_ids(unit) == [9001]  # periodic successes do not repeat 9001
    await unit.stop()


async def test_config_change_resyncs_at_once_and_failures_start_a_new_streak(tmp_path: Path) -> None:
    server, addr = await fake_server(good())
    unit, hoc = hoc_unit(tmp_path)
    await unit.start()
    await wait_for(lambda: hoc.attempts >= 1)  # Automatic: nothing, next try in 60 minutes
    assert hoc_ids(unit) == [9002]
    unit.config.set("Hoc.StaticSntpServerHost", addr)
    unit.config.set("Hoc.SntpConfigSource", "Static")
    await wait_for(lambda: unit.clock.synchronized)
    assert hoc_ids(unit) == [9002, 9001] and unit.config.get("Hoc.SntpCurrentSource") == addr
    assert server.transport is not None
    server.transport.close()
    unit.config.set("Hoc.StaticSntpServerHost", "127.0.0.1:1")  # refused
    await wait_for(lambda: hoc_ids(unit)[-1] == 9002)
    assert "refused" in unit.notifications[-1].message.lower()
    assert unit.clock.synchronized and unit.config.get("Hoc.SntpCurrentSource") == addr  # time keeps running
    await unit.stop()


async def test_sync_period_counts_on_uptime_once_per_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hoc.SntpSynchronizationPeriodOnError is a delay after each attempt: timed waits ending 0.7 ms early
    and a wall clock stepped a day forward (a lab skew) still give one attempt per period."""
    real_wait_for = asyncio.wait_for

    async def early(aw: Any, timeout: float | None) -> Any:
        return await real_wait_for(aw, timeout if timeout is None or timeout < 0.002 else timeout - 0.0007)

    monkeypatch.setattr(asyncio, "wait_for", early)
    unit, hoc = hoc_unit(tmp_path, minute_s=0.1)
    unit.config.set("Hoc.SntpSynchronizationPeriodOnError", 1)  # one "minute" = 0.1 s here
    # factory source Automatic without a DHCP client: no server, every attempt fails at once
    await unit.start()
    await wait_for(lambda: hoc.attempts >= 1)
    t0, first = time.monotonic(), hoc.attempts
    unit.clock.skew(86400.0)
    await asyncio.sleep(0.55)
    elapsed, made = time.monotonic() - t0, hoc.attempts - first
    await unit.stop()
    assert made <= int(elapsed / 0.1) + 1  # no extra attempt for the early wake-ups or the stepped clock
    assert made >= int(elapsed / 0.1) // 2  # and the loop keeps going (a loaded machine is slower)


async def test_synchronization_period_spaces_successful_syncs(tmp_path: Path) -> None:
    """Hoc.SntpSynchronizationPeriod after a success, Hoc.SntpSynchronizationPeriodOnError after a failure."""
    server, addr = await fake_server(good())
    unit, _hoc = hoc_unit(tmp_path, minute_s=0.05)
    c = unit.config
    c.set("Hoc.SntpConfigSource", "Static")
    c.set("Hoc.StaticSntpServerHost", addr)
    c.set("Hoc.SntpSynchronizationPeriod", 4)  # 0.2 s here
    c.set("Hoc.SntpSynchronizationPeriodOnError", 1)  # 0.05 s: what the gaps would be if it applied
    await unit.start()
    stamps: list[float] = []
    end = time.monotonic() + 5.0
    while len(stamps) < 3 and time.monotonic() < end:
        if len(server.requests) > len(stamps):
            stamps.append(time.monotonic())
        await asyncio.sleep(0.005)
    await unit.stop()
    assert len(stamps) == 3 and unit.clock.synchronized
    assert stamps[1] - stamps[0] >= 0.15 and stamps[2] - stamps[1] >= 0.15, stamps

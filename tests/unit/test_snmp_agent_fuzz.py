"""Malformed SNMP datagrams to a running agent (RFC 3412 §7.2.2, RFC 3417 §8): each one is counted in
snmpInASNParseErrs and dropped, without a traceback or an error line, and the agent keeps answering.

The datagrams are seeded mutations of real requests recorded from pysnmp's client (a v2c GET, the SNMPv3
discovery probe and an authenticated v3 GET): bytes changed, cut or inserted, and tag or content bytes
changed inside a TLV whose lengths are kept, so that many reach pysnmp's decoder.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pysnmp.hlapi.v3arch import asyncio as hlapi
from structlog.testing import capture_logs

from emulator.faces.snmp import SnmpEngine
from emulator.protocols.snmp_ber import message_error
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

SYS_NAME = "1.3.6.1.2.1.1.5.0"
IN_PKTS = "1.3.6.1.2.1.11.1.0"
IN_ASN_PARSE_ERRS = "1.3.6.1.2.1.11.6.0"
PASS_PHRASE = "adminpass1"
TAGS = (0x02, 0x04, 0x05, 0x06, 0x10, 0x30, 0x40, 0x41, 0x43, 0x46, 0x80, 0x82, 0xA0, 0xA2, 0xA4, 0xA8, 0x22, 0x24,
        0x00, 0x1F, 0x3F)


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[tuple[Unit, SnmpEngine]]:
    unit = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"),
                fsync=False)
    unit.config.add_row("Aaa.Users", {"UserName": "admin", "Password": PASS_PHRASE, "AccessRights": "Admin"})
    unit.config.set("Snmp.EnableSnmpV2", "Enable")
    unit.config.set("Snmp.EnableTrap", "Disable")
    engine = SnmpEngine(unit)
    unit.attach(engine)
    await unit.start()
    try:
        yield unit, engine
    finally:
        await unit.stop()


async def get(port: int, oid: str, auth: Any) -> Any:
    target = await hlapi.UdpTransportTarget.create(("127.0.0.1", port), timeout=2, retries=1)
    error, status, _index, varbinds = await hlapi.get_cmd(
        hlapi.SnmpEngine(), auth, target, hlapi.ContextData(), hlapi.ObjectType(hlapi.ObjectIdentity(oid)))
    assert error is None and not status, (error, status)
    return varbinds[0][1]


V2C = hlapi.CommunityData("public", mpModel=1)
V3 = hlapi.UsmUserData("admin", PASS_PHRASE)


def tlvs(data: bytes | bytearray, start: int, end: int, out: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(tag position, content start, content end) of every TLV, descending into constructed ones and into
    OCTET STRINGs that hold a SEQUENCE (the USM parameters)."""
    pos = start
    while pos + 2 <= min(end, len(data)):
        tag, n, content = data[pos], data[pos + 1], pos + 2
        if n & 0x80:
            k = n & 0x7F
            n, content = int.from_bytes(data[content:content + k], "big"), content + k
        out.append((pos, content, min(content + n, len(data))))
        if tag & 0x20 or (tag == 0x04 and content < len(data) and data[content] == 0x30):
            tlvs(data, content, content + n, out)
        pos = content + n
    return out


def mutate(rnd: random.Random, original: bytes) -> bytes:
    b = bytearray(original)
    if rnd.random() < 0.6:  # inside the structure: lengths kept
        nodes = tlvs(b, 0, len(b), [])
        for _ in range(rnd.randint(1, 3)):
            pos, start, end = rnd.choice(nodes)
            if rnd.random() < 0.5:
                b[pos] = rnd.choice((*TAGS, rnd.randrange(256)))
            elif start < end:
                for _ in range(rnd.randint(1, 3)):
                    b[rnd.randrange(start, end)] = rnd.choice((0x00, 0x7F, 0x80, 0xFF, rnd.randrange(256)))
        return bytes(b)
    for _ in range(rnd.randint(1, 4)):  # anywhere: bytes changed, removed, inserted, or the end cut
        p = rnd.randrange(len(b))
        op = rnd.random()
        if op < 0.5:
            b[p] = rnd.randrange(256)
        elif op < 0.7:
            del b[p:p + rnd.randint(1, 8)]
        elif op < 0.85:
            b[p:p] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        else:
            del b[p:]
        if not b:
            b = bytearray(b"\x30")
    return bytes(b)


async def test_mutated_packets_are_counted_and_dropped_quietly(agent: tuple[Unit, SnmpEngine],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    unit, engine = agent
    recorded: list[bytes] = []
    protocol: Any = engine._protocol
    receive = protocol.datagram_received

    def record(data: bytes, addr: Any) -> None:
        recorded.append(data)
        receive(data, addr)

    protocol.datagram_received = record
    await get(engine.port, SYS_NAME, V2C)
    await get(engine.port, SYS_NAME, V3)  # discovery probe, then the authenticated GET
    protocol.datagram_received = receive
    assert len(recorded) >= 3 and all(message_error(d) is None for d in recorded)
    parse_errors_before = int(await get(engine.port, IN_ASN_PARSE_ERRS, V2C))

    rnd = random.Random(20261203)
    packets = [mutate(rnd, rnd.choice(recorded)) for _ in range(400)]
    ours = sum(message_error(p) is not None for p in packets)
    caplog.set_level(logging.DEBUG)
    received = engine.counters["in_pkts"]
    with capture_logs() as events, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for i in range(0, len(packets), 20):
            for packet in packets[i:i + 20]:
                sock.sendto(packet, ("127.0.0.1", engine.port))
            # the agent reads them before the next ones: a full socket buffer would lose datagrams
            sent = received + min(i + 20, len(packets))
            deadline = time.monotonic() + 10
            while engine.counters["in_pkts"] < sent and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
        await asyncio.sleep(0.05)
        loud = [e for e in events if e.get("log_level") in ("error", "critical") or "exc_info" in e]
        tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
        # the agent still answers, and reads its counters through SNMP
        assert str(await get(engine.port, SYS_NAME, V2C)) == str(unit.config.get("Hoc.SystemName") or "")
        assert str(await get(engine.port, SYS_NAME, V3)) == str(unit.config.get("Hoc.SystemName") or "")
        parse_errors = int(await get(engine.port, IN_ASN_PARSE_ERRS, V2C))
        in_pkts = int(await get(engine.port, IN_PKTS, V2C))

    assert not loud, loud[:3]
    assert not tracebacks, [r.getMessage()[:200] for r in tracebacks[:3]]
    assert in_pkts >= received + len(packets)
    assert 100 < ours < len(packets)  # the mutations reach both the pre-check and pysnmp's decoder
    assert parse_errors - parse_errors_before >= ours  # pysnmp counts its own on top of ours
    assert parse_errors == engine.counter(6)

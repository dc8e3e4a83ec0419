"""The running unit's SIP listeners against every RFC 4475 torture message (loopback only).

Each vector goes to the unit's UDP listener from a test socket: the invalid ones get the response
of the table in ``tests/unit/test_sip_rfc4475.py`` (sent back to the packet's source), the dropped
ones get nothing, and the unit keeps serving: an OPTIONS afterwards is answered 200, over UDP and
over TCP, also after a stream whose framing was lost (negative Content-Length) was closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.engines.nlm import NlmEngine
from emulator.engines.sipep.engine import SipEpEngine
from emulator.protocols.sip import Response, parse_datagram
from emulator.protocols.sip.framing import StreamParser
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit.sip_vectors import rfc4475
from testkit.sip_vectors.expected import EXPECTED

OPTIONS = (
    "OPTIONS sip:dgw@{host}:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/{t} 127.0.0.1:{src};branch=z9hG4bK{branch};rport\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:tester@127.0.0.1>;tag=t1\r\nTo: <sip:dgw@{host}>\r\n"
    "Call-ID: opt-{branch}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


class Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[Unit]:
    u = Unit(name="torture", profile=get_profile("4102"), state_dir=tmp_path / "u", host="127.0.0.2",
             ports=PortPolicy(mode="auto"), fsync=False)
    nlm = NlmEngine(u)
    u.attach(nlm)
    u.nlm = nlm
    u.attach(SipEpEngine(u))
    u.config.set("SipEp.TransportConfig[default].TcpEnable", "Enable")
    await u.start()
    yield u
    await u.stop()


async def _next(queue: asyncio.Queue[bytes], timeout: float) -> bytes | None:
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except TimeoutError:
        return None


async def test_every_vector_at_the_running_unit(unit: Unit) -> None:
    host, port = unit.listening["sip"].split(":")
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(Collector, local_addr=("127.0.0.1", 0))
    src = transport.get_extra_info("sockname")[1]
    try:
        for name, (_section, (action, status)) in sorted(EXPECTED.items()):
            transport.sendto(rfc4475(name), (host, int(port)))
            data = await _next(proto.queue, 1.0 if action == "reject" else 0.15)
            if action == "reject":
                assert data is not None, f"{name}: no answer"
                answer = parse_datagram(data)
                assert isinstance(answer, Response) and answer.status == status, (name, data[:80])
            elif action == "drop":
                assert data is None, f"{name}: answered {data[:60]!r}"
            while not proto.queue.empty():  # answers to accepted requests do not come back here (Via)
                proto.queue.get_nowait()
        transport.sendto(OPTIONS.format(host=host, port=port, t="UDP", src=src, branch="after").encode(),
                         (host, int(port)))
        data = await _next(proto.queue, 2.0)
        assert data is not None
        answer = parse_datagram(data)
        assert isinstance(answer, Response) and answer.status == 200 and "INVITE" in (answer.headers.get("Allow") or "")
        assert answer.top_via.received == "127.0.0.1" and answer.top_via.rport == src  # RFC 3581 at work
    finally:
        transport.close()
    assert unit.services["SipEp"].state == "Started"


async def test_stream_framing_lost_closes_only_that_connection(unit: Unit) -> None:
    host, port = unit.listening["sip"].split(":")
    reader, writer = await asyncio.open_connection(host, int(port), local_addr=("127.0.0.1", 0))
    writer.write(rfc4475("ncl"))  # negative Content-Length: 400, then the stream cannot be framed
    data = await asyncio.wait_for(reader.read(65536), 2.0)
    assert data.startswith(b"SIP/2.0 400 ")
    assert await asyncio.wait_for(reader.read(65536), 2.0) == b""  # closed by the unit
    writer.close()
    reader, writer = await asyncio.open_connection(host, int(port), local_addr=("127.0.0.1", 0))
    src = writer.get_extra_info("sockname")[1]
    writer.write(b"\r\n\r\n")  # RFC 5626 ping
    assert await asyncio.wait_for(reader.readexactly(2), 2.0) == b"\r\n"
    writer.write(OPTIONS.format(host=host, port=port, t="TCP", src=src, branch="tcp").encode())
    parser = StreamParser()
    msg = None
    while msg is None:
        parser.feed(await asyncio.wait_for(reader.read(65536), 2.0))
        msg = parser.next_event()
    assert isinstance(msg, Response) and msg.status == 200
    writer.close()

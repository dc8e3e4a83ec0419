"""The unit's DNS stub resolver sends an unanswered UDP question again within its timeout (a datagram lost to
a busy server costs a quarter of the timeout, not the registration's retry time)."""

from __future__ import annotations

import asyncio
from typing import cast

import dns.message
import dns.rdatatype
import dns.rrset
import pytest

from emulator.engines.hoc.dns import DnsClient
from emulator.protocols.sip.resolve import DnsFailure, SrvRecord


class DroppingServer(asyncio.DatagramProtocol):
    """Answers a SRV question, but drops the first ``drop`` datagrams it receives."""

    def __init__(self, drop: int) -> None:
        self.drop = drop
        self.received = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1
        if self.received <= self.drop:
            return
        query = dns.message.from_wire(data)
        answer = dns.message.make_response(query)
        answer.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "SRV", "10 5 5061 k0.lab.test."))
        assert self.transport is not None
        self.transport.sendto(answer.to_wire(), addr)


async def serve(drop: int) -> tuple[DroppingServer, asyncio.DatagramTransport, int]:
    server = DroppingServer(drop)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: server,
                                                                              local_addr=("127.0.0.1", 0))
    return server, transport, transport.get_extra_info("sockname")[1]


async def test_a_lost_question_is_sent_again_within_the_timeout() -> None:
    server, transport, port = await serve(drop=1)
    try:
        client = DnsClient("127.0.0.1", lambda: ["127.0.0.1"], port=port, timeout=0.8)
        records, _ttl = await client.query("_sips._tcp.lab.test", dns.rdatatype.SRV)
        assert [SrvRecord(r.priority, r.weight, r.port, r.target.to_text(omit_final_dot=True))
                for r in records] == [SrvRecord(10, 5, 5061, "k0.lab.test")]
        assert server.received == 2 and client.queries == 2
    finally:
        transport.close()


async def test_a_server_that_never_answers_fails_after_the_timeout() -> None:
    server, transport, port = await serve(drop=10)
    try:
        client = DnsClient("127.0.0.1", lambda: ["127.0.0.1"], port=port, timeout=0.4)
        with pytest.raises(DnsFailure):
            await client.query("_sips._tcp.lab.test", dns.rdatatype.SRV)
        assert server.received == 2
    finally:
        transport.close()

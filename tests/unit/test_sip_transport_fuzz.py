"""The SIP transport's receive paths never let an exception out, whatever arrives (hypothesis).

Datagrams go through ``SipTransport._datagram`` and stream chunks through a connection's framing
(``SipTransport.frame``), with stand-ins for the sockets (no I/O): every input is answered, dropped or passed on,
and answers go back to the sender only. Inputs are random bytes and mutated RFC 4475 vectors.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.engines.sipep.transport import Connection, SipTransport, Source
from emulator.protocols.sip.message import Request, Response
from testkit.sip_vectors import rfc4475, rfc4475_names

VECTORS = [rfc4475(n) for n in rfc4475_names()]


class FakeDatagram:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.2", 5060) if name == "sockname" else None


class FakeWriter:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.2", 5060)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def mutated() -> st.SearchStrategy[bytes]:
    def mutate(base: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
        out = bytearray(base)
        for pos, junk in cuts:
            p = pos % (len(out) + 1)
            out[p:p + len(junk)] = junk
        return bytes(out)
    return st.builds(mutate, st.sampled_from(VECTORS),
                     st.lists(st.tuples(st.integers(0, 6000), st.binary(max_size=8)), max_size=4))


INPUTS = st.one_of(st.binary(max_size=600), mutated())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(INPUTS)
def test_datagrams_never_raise(data: bytes) -> None:
    got: list[tuple[Request | Response, Source]] = []
    transport = SipTransport("127.0.0.2", lambda m, s: got.append((m, s)))
    dt = FakeDatagram()
    transport._datagram(data, ("127.0.0.1", 40000), 5060, dt)  # type: ignore[arg-type]
    stats = transport.stats
    assert stats.errors == 0
    assert stats.rejected + stats.dropped + len(got) <= 1
    assert all(addr == ("127.0.0.1", 40000) for _, addr in dt.sent)
    for message, _source in got:
        if isinstance(message, Request):  # stamped for the way back (§18.2.1)
            assert message.top_via is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(INPUTS, min_size=1, max_size=4), st.integers(1, 200))
def test_stream_chunks_never_raise(chunks: list[bytes], size: int) -> None:
    async def run() -> None:
        got: list[Request | Response] = []
        transport = SipTransport("127.0.0.2", lambda m, s: got.append(m))
        writer = FakeWriter()
        conn = Connection("TCP", writer, outgoing=False, max_size=5120)
        stream = b"".join(chunks)
        for i in range(0, len(stream), size):
            conn.parser.feed(stream[i:i + size])
            transport.frame(conn)
        assert transport.stats.errors == 0
        if not conn.is_open:
            assert conn.close_reason.startswith("framing lost")
    asyncio.run(run())

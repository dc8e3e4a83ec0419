"""Two SipEp parameters seen on the wire, each against a small server written here over a real socket that records
what the unit sends (no SIP stack of ours reads it: plain text):

* ``SipEp.DefaultProxyOutboundType`` (restart): a unit with an outbound proxy sends its INVITE to that proxy; with
  LooseRouter the INVITE carries ``Route: <sip:proxy;lr>``, with NoRouteHeader none (the Request-URI names the
  called user at the home domain either way).
* ``SipEp.SipKeepAliveRetry`` (restart): over a persistent TCP link whose registrar answers the REGISTER but never
  the double-CRLF keep-alive (``SipKeepAliveMethod`` Ping), the unit closes the link after exactly Retry + 1
  keep-alives went unanswered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulator.runtime.unit import Unit
from tests.interop.siplab import Pkis, make_unit, sipep, wait_for

OUTBOUND_TYPE = "SipEp.DefaultProxyOutboundType"
RETRY = "SipEp.SipKeepAliveRetry"


# ------------------------------------------------------------------ the outbound proxy's Route header
class Catcher(asyncio.DatagramProtocol):
    """A UDP outbound proxy that keeps every datagram and answers none."""

    def __init__(self) -> None:
        self.received: list[str] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(data.decode(errors="replace"))

    def invites(self) -> list[str]:
        return [m for m in self.received if m.startswith("INVITE ")]


@pytest.fixture
async def catcher() -> AsyncIterator[tuple[Catcher, int]]:
    transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(Catcher,
                                                                                 local_addr=("127.0.0.1", 0))
    yield proto, transport.get_extra_info("sockname")[1]
    transport.close()


def _route_headers(message: str) -> list[str]:
    head = message.split("\r\n\r\n", 1)[0].split("\r\n")
    return [line.split(":", 1)[1].strip() for line in head[1:] if line.split(":", 1)[0].strip().lower() == "route"]


async def test_outbound_proxy_type_decides_the_route_header(units: list[Unit], tmp_path: Path, pkis: Pkis,
                                                            catcher: tuple[Catcher, int]) -> None:
    proxy, port = catcher
    u = await make_unit(units, tmp_path, pkis, user="alice", registrar="home.example", tls=False, settings={
        "SipEp.UserAgent[Phone-Fax1].Register": "Disable",
        "SipEp.DefaultStaticProxyOutboundHost": f"127.0.0.1:{port}",
        OUTBOUND_TYPE: "LooseRouter",
    })
    seen: dict[str, list[str]] = {}
    for kind in ("LooseRouter", "NoRouteHeader"):
        if u.config.get(OUTBOUND_TYPE) != kind:
            u.config.set(OUTBOUND_TYPE, kind)
            await u.restart_service("SipEp")  # the parameter flags SipEp as needing a restart
        before = len(proxy.invites())
        await sipep(u).calls.dial("Phone-Fax1", "bob")
        await wait_for(lambda n=before: len(proxy.invites()) > n, what=f"the INVITE at the outbound proxy ({kind})")
        invite = proxy.invites()[before]
        assert invite.startswith("INVITE sip:bob@home.example SIP/2.0\r\n"), invite
        seen[kind] = _route_headers(invite)
        await sipep(u).calls.hangup("Phone-Fax1")
    assert seen == {"LooseRouter": [f"<sip:127.0.0.1:{port};lr>"], "NoRouteHeader": []}, seen


# ------------------------------------------------------------------ keep-alives nobody answers
@dataclass
class SilentRegistrar:
    """A TCP registrar: answers each REGISTER 200 OK, never a double-CRLF keep-alive; counts the keep-alives each
    connection received before the unit closed it."""

    server: asyncio.Server | None = None
    port: int = 0
    registers: int = 0
    generation: int = 0  # the test's mark, kept by each connection accepted after it
    closed: list[tuple[int, int]] = field(default_factory=list)  # per connection closed: (generation, keep-alives)

    async def start(self) -> SilentRegistrar:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf, pings, generation = b"", 0, self.generation
        while data := await reader.read(4096):
            buf += data
            while True:
                if buf.startswith(b"\r\n\r\n"):
                    pings += 1
                    buf = buf[4:]
                elif b"\r\n\r\n" in buf:  # a request with no body (REGISTER: Content-Length 0)
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    self._answer(head.decode(errors="replace"), writer)
                else:
                    break
        self.closed.append((generation, pings))
        writer.close()

    def _answer(self, head: str, writer: asyncio.StreamWriter) -> None:
        lines = head.split("\r\n")
        if not lines[0].startswith("REGISTER "):
            return
        self.registers += 1
        keep = [ln for ln in lines[1:] if ln.split(":", 1)[0].strip().lower() in ("via", "from", "call-id", "cseq",
                                                                                 "contact")]
        to = next(ln for ln in lines[1:] if ln.split(":", 1)[0].strip().lower() == "to")
        reply = ["SIP/2.0 200 OK", *keep, f"{to};tag=silent", "Expires: 3600", "Content-Length: 0"]
        writer.write(("\r\n".join(reply) + "\r\n\r\n").encode())

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def registrar() -> AsyncIterator[SilentRegistrar]:
    r = await SilentRegistrar().start()
    yield r
    r.close()


async def test_keepalive_retry_is_the_unanswered_keepalives_a_link_survives(units: list[Unit], tmp_path: Path,
                                                                            pkis: Pkis,
                                                                            registrar: SilentRegistrar) -> None:
    u = await make_unit(units, tmp_path, pkis, user="alice", registrar=f"127.0.0.1:{registrar.port}", tls=False,
                        settings={"SipEp.TransportConfig[default].TcpEnable": "Enable",
                                  "SipEp.TransportConfig[default].UdpEnable": "Disable",
                                  "SipEp.SipKeepAliveMethod": "Ping", "SipEp.SipKeepAliveInterval": 1,
                                  RETRY: 0})
    await wait_for(lambda: registrar.closed, timeout=10, what="the unit closing its first link")
    assert registrar.registers >= 1 and registrar.closed[0] == (0, 1), registrar  # Retry 0: at the first unanswered
    u.config.set(RETRY, 2)
    await u.restart_service("SipEp")  # the parameter flags SipEp as needing a restart
    registrar.generation = 1  # the links of the restarted SipEp

    def after_restart() -> list[int]:
        return [pings for generation, pings in registrar.closed if generation == 1]

    await wait_for(after_restart, timeout=20, what="a link of the restarted SipEp closed")
    assert after_restart()[0] == 3, registrar  # Retry 2: closed at the third unanswered keep-alive

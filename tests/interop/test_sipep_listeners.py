"""The SIP listeners of a running unit under what real peers and hostile clients do (loopback only).

* TLS from the first octet: ``openssl s_client`` sends its ClientHello right after the TCP handshake; 20
  of them at once all get a ServerHello, on asyncio and on uvloop (before, uvloop read the first octets of
  an accepted connection as plain data and the client waited for a ServerHello until the unit gave up).
* The unit's TLS policy still holds on the listener: mutual TLS refuses a client without a certificate
  (Cert notification) and lets a trusted one through; SIP messages flow over the TLS session.
* Idle and slow peers: an idle accepted connection is closed after the idle timeout, a message that is
  not complete after the message timeout is closed even while octets keep trickling in (slowloris), and a
  listener holds at most its connection cap (limits made short here through the engine's constructor).
* A corpus of malformed and valid SIP replayed at the unit logs no ``sip_handler_failed``: uvloop gives a
  plain handle without ``when()`` for a timer due within half a millisecond, and the next message looked
  for it; the transaction timer's deadline is kept beside its handle now.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from emulator.engines.cert.engine import CertEngine
from emulator.engines.nlm import NlmEngine
from emulator.engines.sipep.connection import StreamLimits
from emulator.engines.sipep.engine import SipEpEngine
from emulator.protocols.sip import Response
from emulator.protocols.sip.framing import StreamParser
from emulator.protocols.sip.transaction import DEFAULT_TIMERS, TimerConfig
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit.openssl import openssl_bin
from testkit.pki import Pki
from testkit.sip_vectors import MIX, rfc4475, rfc4475_names

pytestmark = pytest.mark.peer

HOST = "127.0.0.1"  # openssl s_client and the test sockets reach the unit here
LIMITS = StreamLimits(idle_timeout=1.0, message_timeout=1.0, max_connections=24)

OPTIONS = (
    "OPTIONS sip:dgw@{host}:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/{t} 127.0.0.1:{src};branch=z9hG4bK{branch};rport\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:tester@127.0.0.1>;tag=t1\r\nTo: <sip:dgw@{host}>\r\n"
    "Call-ID: opt-{branch}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def options(port: int, transport: str, branch: str, src: int = 5060) -> bytes:
    return OPTIONS.format(host=HOST, port=port, t=transport, src=src, branch=branch).encode()


async def make_unit(tmp_path: Path, *, tls: bool, settings: dict[str, str] | None = None,
                    timers: TimerConfig = DEFAULT_TIMERS) -> Unit:
    u = Unit(name="listen", profile=get_profile("4102"), state_dir=tmp_path / "u", host=HOST,
             ports=PortPolicy(mode="auto"), fsync=False)
    u.nlm, u.cert = NlmEngine(u), CertEngine(u, tmp_path / "factory")
    for engine in (u.nlm, u.cert, SipEpEngine(u, limits=LIMITS, timers=timers)):
        u.attach(engine)
    values = {"SipEp.DefaultStaticRegistrarServerHost": "",  # no server: nothing but the listeners
              "SipEp.TransportConfig[default].TlsEnable": "Enable" if tls else "Disable",
              "SipEp.TransportConfig[default].TcpEnable": "Enable", **(settings or {})}
    for name, value in values.items():
        u.config.set(name, value)
    u.clock.synchronized = True
    await u.start()
    return u


@pytest.fixture
async def tls_unit(tmp_path: Path) -> AsyncIterator[Unit]:
    u = await make_unit(tmp_path, tls=True)
    yield u
    await u.stop()


@pytest.fixture
async def tcp_unit(tmp_path: Path) -> AsyncIterator[Unit]:
    u = await make_unit(tmp_path, tls=False)
    yield u
    await u.stop()


def port_of(u: Unit, face: str) -> int:
    return int(u.listening[face].rsplit(":", 1)[1])


async def s_client(port: int, *args: str, stdin: bytes = b"", timeout: float = 8.0) -> str:
    """``openssl s_client`` to the unit; stdin is sent, then EOF ends the client (unless ``-ign_eof``)."""
    proc = await asyncio.create_subprocess_exec(
        openssl_bin(), "s_client", "-connect", f"{HOST}:{port}", "-brief", "-cipher", "ALL:@SECLEVEL=0", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return "TIMED OUT"
    return out.decode(errors="replace")


async def next_response(reader: asyncio.StreamReader) -> Response:
    parser, msg = StreamParser(), None
    while msg is None:
        parser.feed(await asyncio.wait_for(reader.read(65536), 2.0))
        msg = parser.next_event()
    assert isinstance(msg, Response)
    return msg


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> float | None:
    """Seconds until the unit closed the connection (reading everything it sends), or None."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), max(0.01, start + seconds - loop.time()))
            if not data:
                return loop.time() - start
    except TimeoutError:
        return None
    except ConnectionError:
        return loop.time() - start


# ------------------------------------------------------------------ TLS from the first octet
async def test_twenty_immediate_client_hellos_all_get_a_server_hello(tls_unit: Unit) -> None:
    port = port_of(tls_unit, "sip_tls")
    outputs = await asyncio.gather(*(s_client(port) for _ in range(20)))
    established = [o for o in outputs if "CONNECTION ESTABLISHED" in o]
    assert len(established) == 20, [o[:200] for o in outputs if o not in established]


@pytest.fixture
async def mtls(tmp_path: Path) -> AsyncIterator[tuple[Unit, tuple[Path, Path]]]:
    """A unit asking for client certificates, trusting the CA of the client certificate it yields."""
    pki = Pki("rsa")
    ca = pki.ca("SIP Client CA")
    client = pki.leaf(ca, "client.example", dns=("client.example",), ips=()).write(tmp_path, "client")
    u = await make_unit(tmp_path, tls=True, settings={"SipEp.InteropTlsClientAuthenticationEnable": "Enable"})
    assert isinstance(u.cert, CertEngine)
    u.cert.import_other(ca.pem())
    yield u, client
    await u.stop()


async def test_mutual_tls_on_the_sip_listener(mtls: tuple[Unit, tuple[Path, Path]]) -> None:
    u, (crt, key) = mtls
    port = port_of(u, "sip_tls")
    out = await s_client(port)
    assert "CONNECTION ESTABLISHED" not in out or "SIP/2.0" not in out
    notes = [n for n in u.notifications if n.service == "Cert" and n.msg_id == 9007]
    assert notes and "presented no certificate" in notes[-1].message, [n.message for n in u.notifications]
    out = await s_client(port, "-cert", str(crt), "-key", str(key), "-ign_eof", stdin=options(port, "TLS", "mtls"))
    assert "CONNECTION ESTABLISHED" in out and "SIP/2.0 200 OK" in out, out


async def test_client_certificate_expired_on_the_unit_clock_is_refused(mtls: tuple[Unit, tuple[Path, Path]]) -> None:
    u, (crt, key) = mtls
    u.clock.skew(4000 * 86400)  # OpenSSL checks no dates on the server side; the unit's clock does
    port = port_of(u, "sip_tls")
    out = await s_client(port, "-cert", str(crt), "-key", str(key), "-ign_eof", stdin=options(port, "TLS", "old"))
    assert "SIP/2.0" not in out, out
    assert any(n.service == "Cert" and n.msg_id == 9001 for n in u.notifications)


# ------------------------------------------------------------------ idle and slow peers
async def test_idle_connection_is_closed_and_a_live_one_is_not(tcp_unit: Unit) -> None:
    port = port_of(tcp_unit, "sip")
    idle_r, idle_w = await asyncio.open_connection(HOST, port)
    live_r, live_w = await asyncio.open_connection(HOST, port)
    src = live_w.get_extra_info("sockname")[1]
    loop = asyncio.get_running_loop()
    end = loop.time() + 2.5 * LIMITS.idle_timeout
    answered = 0
    while loop.time() < end:  # an OPTIONS every 0.4 s keeps the live one open
        live_w.write(options(port, "TCP", f"live{answered}", src))
        assert (await next_response(live_r)).status == 200
        answered += 1
        await asyncio.sleep(0.4)
    assert await closed_within(idle_r, 0.1) is not None  # closed long ago
    assert not live_r.at_eof()
    for w in (idle_w, live_w):
        w.close()


async def test_slowloris_is_closed_after_the_message_timeout(tcp_unit: Unit) -> None:
    port = port_of(tcp_unit, "sip")
    reader, writer = await asyncio.open_connection(HOST, port)
    message = options(port, "TCP", "slow")
    loop = asyncio.get_running_loop()
    start = loop.time()
    closed_at = None
    for octet in message[:-4]:  # one octet every 0.1 s: never idle, never complete
        try:
            writer.write(bytes([octet]))
            await writer.drain()
        except ConnectionError:
            closed_at = loop.time() - start
            break
        if reader.at_eof() or (await closed_within(reader, 0.1)) is not None:
            closed_at = loop.time() - start
            break
    assert closed_at is not None and LIMITS.message_timeout - 0.05 <= closed_at < LIMITS.message_timeout + 1.0
    writer.close()


async def test_tls_peer_that_never_says_hello_is_closed(tls_unit: Unit) -> None:
    port = port_of(tls_unit, "sip_tls")
    policy = tls_unit.cert.policy("SipEp")  # type: ignore[union-attr]
    policy.handshake_timeout = 0.5
    reader, writer = await asyncio.open_connection(HOST, port)
    took = await closed_within(reader, 3.0)
    assert took is not None and 0.4 <= took < 2.0
    writer.close()


async def test_connection_cap_per_listener(tcp_unit: Unit) -> None:
    port = port_of(tcp_unit, "sip")
    held = [await asyncio.open_connection(HOST, port) for _ in range(LIMITS.max_connections)]
    await asyncio.sleep(0.1)
    extra_r, extra_w = await asyncio.open_connection(HOST, port)
    assert await closed_within(extra_r, 0.5) is not None  # over the cap: closed at once
    extra_w.close()
    for _, w in held[:2]:
        w.close()
    await asyncio.sleep(0.1)
    reader, writer = await asyncio.open_connection(HOST, port)  # room again
    src = writer.get_extra_info("sockname")[1]
    writer.write(options(port, "TCP", "room", src))
    data = await asyncio.wait_for(reader.read(65536), 2.0)
    assert data.startswith(b"SIP/2.0 200 OK")
    writer.close()
    for _, w in held[2:]:
        w.close()


# ------------------------------------------------------------------ malformed input on both loops
def corpus() -> list[bytes]:
    return [rfc4475(n) for n in rfc4475_names()] + list(MIX)


class _Sink(asyncio.DatagramProtocol):
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        pass


async def test_corpus_replay_logs_no_handler_failure(tmp_path: Path) -> None:
    """Two seconds of the corpus and OPTIONS over UDP, one datagram a millisecond, with transaction timers
    short enough (Timer J = 64*T1 = 0.64 s) to fall due while datagrams keep arriving; then the corpus over
    TCP, back to back in one write per connection."""
    u = await make_unit(tmp_path, tls=False, timers=TimerConfig(t1=0.01, t2=0.04, t4=0.05, d=0.05))
    port = port_of(u, "sip")
    loop = asyncio.get_running_loop()
    vectors = corpus()
    with capture_logs() as logs:
        transport, _ = await loop.create_datagram_endpoint(_Sink, local_addr=(HOST, 0))
        src = transport.get_extra_info("sockname")[1]
        end, i = loop.time() + 2.0, 0
        while loop.time() < end:
            transport.sendto(vectors[i % len(vectors)] if i % 2 else options(port, "UDP", f"u{i}", src), (HOST, port))
            i += 1
            await asyncio.sleep(0.001)
        transport.close()
        for j, vector in enumerate(vectors):
            reader, writer = await asyncio.open_connection(HOST, port)
            src = writer.get_extra_info("sockname")[1]
            writer.write(options(port, "TCP", f"a{j}", src) + vector + options(port, "TCP", f"b{j}", src))
            await closed_within(reader, 0.05)
            writer.close()
        await asyncio.sleep(0.7)  # every timer armed meanwhile comes due
        failures = [e for e in logs if e["event"] in ("sip_handler_failed", "sip_connection_failed")]
    try:
        assert not failures, failures[:3]
        assert u.services["SipEp"].state == "Started"
    finally:
        await u.stop()

"""The sans-IO server-side TLS session of the SIP listeners (emulator.protocols.tls_session), pumped against a
client SSLObject in memory (no socket): the handshake from the first octet, data both ways, close_notify, and a
failed handshake that leaves the alert for the peer."""

from __future__ import annotations

import ssl

import pytest

from emulator.protocols.tls_session import TlsServerSession
from testkit.pki import Pki


@pytest.fixture(scope="module")
def server_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    pki = Pki("ec")
    ca = pki.ca("Session CA")
    crt, key = pki.leaf(ca, "unit.example", dns=("unit.example",), ips=()).write(
        tmp_path_factory.mktemp("tls"), "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # as the unit's SIP contexts
    ctx.load_cert_chain(crt, key)
    return ctx


class Client:
    """A TLS client on memory BIOs."""

    def __init__(self, ctx: ssl.SSLContext | None = None) -> None:
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.ssl = ctx.wrap_bio(self.incoming, self.outgoing, server_side=False)

    def handshake(self) -> bool:
        try:
            self.ssl.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True


def test_handshake_data_and_close(server_context: ssl.SSLContext) -> None:
    server, client = TlsServerSession(server_context), Client()
    done = client.handshake()
    first = client.outgoing.read()
    assert first[:1] == b"\x16" and not done  # a ClientHello record, sent before anything else
    got = server.receive(first)
    for _ in range(5):  # pump until both sides are done
        client.incoming.write(got.outgoing)
        done = client.handshake()
        got = server.receive(client.outgoing.read())
        if done and server.handshaken:
            break
    assert done and server.handshaken and server.ssl_object.version() == "TLSv1.2"
    client.incoming.write(got.outgoing)
    client.ssl.write(b"OPTIONS sip:unit SIP/2.0\r\n\r\n")
    got = server.receive(client.outgoing.read())
    assert got.data == b"OPTIONS sip:unit SIP/2.0\r\n\r\n" and not got.closed
    client.incoming.write(server.send(b"SIP/2.0 200 OK\r\n\r\n"))
    assert client.ssl.read() == b"SIP/2.0 200 OK\r\n\r\n"
    notify = server.close()  # our close_notify
    assert notify[:1] == b"\x15"  # an alert record
    client.incoming.write(notify)
    try:
        assert client.ssl.read() == b""  # the client sees the end of the session
    except ssl.SSLZeroReturnError:
        pass


def test_peer_close_notify_is_reported(server_context: ssl.SSLContext) -> None:
    server, client = TlsServerSession(server_context), Client()
    client.handshake()
    for _ in range(5):
        got = server.receive(client.outgoing.read())
        client.incoming.write(got.outgoing)
        if client.handshake() and server.handshaken:
            break
    with pytest.raises(ssl.SSLError):  # the peer's close_notify is not awaited
        client.ssl.unwrap()
    assert server.receive(client.outgoing.read()).closed


def test_failed_handshake_leaves_the_alert(server_context: ssl.SSLContext) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3  # the unit stops at TLS 1.2
    server, client = TlsServerSession(server_context), Client(ctx)
    client.handshake()
    with pytest.raises(ssl.SSLError):
        server.receive(client.outgoing.read())
    alert = server.pending_output()
    assert alert[:1] == b"\x15"  # an alert record, for the client to learn why
    assert not server.handshaken


def test_garbage_is_refused(server_context: ssl.SSLContext) -> None:
    server = TlsServerSession(server_context)
    with pytest.raises(ssl.SSLError):
        server.receive(b"OPTIONS sip:unit SIP/2.0\r\n\r\n")  # plain SIP on the TLS port


def test_nothing_to_close_before_the_handshake(server_context: ssl.SSLContext) -> None:
    assert TlsServerSession(server_context).close() == b""

"""TLS policy against real peers on 127.0.0.1: openssl s_server/s_client, openssl ocsp, sslyze.

What is proved here (issue 3): the version floor and the cipher set are enforced in both
directions; mutual TLS works and is refused without (or with a bad) client certificate; HostName
mismatch, unknown CA, expired, not yet valid are each refused with their notification and accepted
under NoValidation; the unit's own clock decides the dates; OCSP revoked/unreachable under the
trust levels; HTTPS certificate transfer honours Cert.TransferHttps*; the NSS key log matches the
peer's own.
"""

from __future__ import annotations

import asyncio
import ssl
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from structlog.testing import capture_logs

from emulator.engines.cert.engine import CertEngine
from emulator.engines.cert.tls import PeerRefused, TlsHandshakeError, cipher_plan, tls_policy
from emulator.engines.nlm import NlmEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.cert_validation import Reason
from firmware_model.certs import CertError
from firmware_model.notifications import NotificationEvent
from firmware_model.profiles import get_profile
from testkit.openssl import OcspResponder, SServer, Sslyze, s_client
from testkit.peers import free_port
from testkit.pki import DAY, Issued, Pki, utcnow
from testkit.process import stopped_at_exit

pytestmark = pytest.mark.peer

ECDHE = "ECDHE-RSA-AES128-GCM-SHA256"
LEGACY = "ALL:@SECLEVEL=0"


@dataclass
class Files:
    dir: Path
    pki: Pki
    ca: Issued
    other_ca: Issued
    certs: dict[str, Issued]

    def paths(self, name: str) -> tuple[Path, Path]:
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    d = tmp_path_factory.mktemp("pki")
    pki = Pki("rsa")
    now = utcnow()
    ca = pki.ca("Lab Root CA", not_before=now - 60 * DAY)
    other_ca = pki.ca("Stranger CA", key_index=2)
    certs = {
        "server": pki.leaf(ca),
        "wrong-name": pki.leaf(ca, "other.example", dns=("other.example",), ips=()),
        "unknown-ca": pki.leaf(other_ca),
        "expired": pki.leaf(ca, not_before=now - 30 * DAY, not_after=now - DAY),
        "not-yet-valid": pki.leaf(ca, not_before=now + 10 * DAY, not_after=now + 40 * DAY),
        "client": pki.leaf(ca, "phone-1", dns=(), ips=(), eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)),
        "stranger-client": pki.leaf(other_ca, "intruder", dns=(), ips=(), eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)),
    }
    for name, issued in certs.items():
        issued.write(d, name)
    ca.write(d, "ca")
    (d / "stranger.crt").write_bytes(other_ca.pem())
    return Files(d, pki, ca, other_ca, certs)


@pytest.fixture
async def unit(tmp_path: Path, files: Files) -> AsyncIterator[Unit]:
    u = Unit(name="gw", profile=get_profile("4102"), state_dir=tmp_path / "gw", ports=PortPolicy(mode="auto"),
             fsync=False)
    nlm = NlmEngine(u)
    u.attach(nlm)
    u.nlm = nlm
    u.attach(CertEngine(u, files.dir / "factory"))
    await u.start()
    u.clock.synchronized = True  # the SNTP engine's job; these tests are about certificates
    cert_engine(u).import_other(files.ca.pem())
    yield u
    await u.stop()


@pytest.fixture
def servers(files: Files) -> Iterator[list[SServer]]:
    with stopped_at_exit() as started:
        yield started


def cert_engine(u: Unit) -> CertEngine:
    engine = u.services["Cert"].engine
    assert isinstance(engine, CertEngine)
    return engine


def s_server(files: Files, servers: list[SServer], cert: str, *args: str, cwd: Path | None = None) -> SServer:
    crt, key = files.paths(cert)
    s = SServer.start(files.dir, crt, key, *args, cwd=cwd)
    servers.append(s)
    return s


def cert_notes(u: Unit) -> list[NotificationEvent]:
    # Refusals only: 9008/9009 (suites or floor this OpenSSL cannot offer) and 9010-9012 (imports) are not.
    return [e for e in u.notifications if e.service == "Cert" and e.msg_id < 9008]


async def echo_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HELLO from the unit\n")
    await writer.drain()
    writer.close()


async def connect(u: Unit, port: int, key: str = "SipEp") -> ssl.SSLObject:
    _reader, writer = await tls_policy(u, key).connect("127.0.0.1", port)
    so = writer.get_extra_info("ssl_object")
    writer.close()
    return so  # type: ignore[no-any-return]


# ------------------------------------------------------------------ floor and cipher set, unit as server
async def test_server_floor_and_cipher_set_with_s_client(unit: Unit) -> None:
    unit.config.set("Web.TlsVersion", "TLSv1_2")
    unit.config.set("Web.HttpsCipherSuite", "CS3")
    server = await tls_policy(unit, "Web").serve(echo_hello, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        rc, out = await s_client(port, "-tls1_1", "-cipher", LEGACY)
        assert rc != 0 and "HELLO" not in out
        rc, _ = await s_client(port, "-tls1_3")
        assert rc != 0  # the highest version is TLS 1.2, as on the hardware
        rc, _ = await s_client(port, "-tls1_2", "-cipher", "AES128-SHA")  # a CS1 suite, not in CS3
        assert rc != 0
        for suite in (ECDHE, "DHE-RSA-AES256-GCM-SHA384", "AES128-SHA256"):
            rc, out = await s_client(port, "-tls1_2", "-cipher", suite)
            assert rc == 0 and f"Ciphersuite: {suite}" in out and "HELLO" in out, out
        unit.config.set("Web.TlsVersion", "TLSv1")  # contexts follow the parameters
        unit.config.set("Web.HttpsCipherSuite", "CS1")
        rc, out = await s_client(port, "-tls1", "-cipher", "DHE-RSA-AES256-SHA:@SECLEVEL=0")
        assert rc == 0 and "Protocol version: TLSv1\n" in out, out
        rc, _ = await s_client(port, "-tls1_2", "-cipher", ECDHE)  # CS3 only
        assert rc != 0
    finally:
        server.close()


# ------------------------------------------------------------------ floor and cipher set, unit as client
async def test_client_floor_and_cipher_set_with_s_server(unit: Unit, files: Files, servers: list[SServer]) -> None:
    c = unit.config
    c.set("SipEp.InteropTlsCertificateValidation", "NoValidation")
    tls11 = s_server(files, servers, "server", "-tls1_1", "-cipher", LEGACY)
    tls10 = s_server(files, servers, "server", "-tls1", "-cipher", LEGACY)
    c.set("SipEp.TransportTlsVersion", "TLSv1_2")
    with pytest.raises(TlsHandshakeError):
        await connect(unit, tls11.port)
    c.set("SipEp.TransportTlsVersion", "TLSv1_1")
    assert (await connect(unit, tls11.port)).version() == "TLSv1.1"
    with pytest.raises(TlsHandshakeError):
        await connect(unit, tls10.port)
    c.set("SipEp.TransportTlsVersion", "TLSv1")
    assert (await connect(unit, tls10.port)).version() == "TLSv1"

    ecdhe_only = s_server(files, servers, "server", "-cipher", ECDHE)
    rsa_only = s_server(files, servers, "server", "-cipher", "AES256-SHA")
    dhe_only = s_server(files, servers, "server", "-cipher", "DHE-RSA-AES256-SHA")
    c.set("SipEp.TransportTlsCipherSuite", "CS1")  # SIP CS1: RSA key exchange only
    with pytest.raises(TlsHandshakeError):
        await connect(unit, ecdhe_only.port)
    assert (await connect(unit, rsa_only.port)).cipher()[0] == "AES256-SHA"  # type: ignore[index]
    assert "CIPHER is AES256-SHA" in await rsa_only.wait_output("CIPHER is")
    c.set("SipEp.TransportTlsCipherSuite", "CS2")
    assert (await connect(unit, dhe_only.port)).cipher()[0] == "DHE-RSA-AES256-SHA"  # type: ignore[index]
    c.set("SipEp.TransportTlsCipherSuite", "CS3")
    with pytest.raises(TlsHandshakeError):
        await connect(unit, rsa_only.port)
    assert (await connect(unit, ecdhe_only.port)).cipher()[0] == ECDHE  # type: ignore[index]


async def test_suites_and_versions_this_openssl_lacks_are_reported(unit: Unit) -> None:
    plan = cipher_plan("sip", "CS1")
    assert plan.dropped == ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_RC4_128_SHA")
    assert plan.offered == ("TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA")
    unit.config.set("SipEp.TransportTlsVersion", "SSLv3")
    with capture_logs() as logs:
        ctx = tls_policy(unit, "SipEp").client_context()
        tls_policy(unit, "SipEp").client_context()  # once only
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1  # no SSLv3 in OpenSSL 3: the floor is raised
    warned = [e for e in logs if e["event"] == "tls_capability"]
    assert [(e["msg_id"], e.get("suites"), e.get("effective")) for e in warned] == [
        (9008, "TLS_RSA_WITH_3DES_EDE_CBC_SHA, TLS_RSA_WITH_RC4_128_SHA", None), (9009, None, "TLSv1")]


# ------------------------------------------------------------------ sslyze
async def test_sslyze_sees_exactly_the_configured_versions_and_suites(unit: Unit, sslyze: Sslyze) -> None:
    c = unit.config
    c.set("Web.TlsVersion", "TLSv1_2")
    c.set("Web.HttpsCipherSuite", "CS3")
    c.set("SipEp.TransportTlsVersion", "TLSv1")
    c.set("SipEp.TransportTlsCipherSuite", "CS2")
    web_srv = await tls_policy(unit, "Web").serve(echo_hello, 0)
    sip_srv = await tls_policy(unit, "SipEp").serve(echo_hello, 0)
    web_port, sip_port = (s.sockets[0].getsockname()[1] for s in (web_srv, sip_srv))
    try:
        result = await sslyze.scan(web_port, sip_port)
    finally:
        web_srv.close()
        sip_srv.close()
    web_r, sip_r = result[web_port], result[sip_port]
    assert "error" not in web_r and "error" not in sip_r, result
    cs3 = set(cipher_plan("https", "CS3").offered)
    assert {k: v for k, v in web_r.items() if v} == {"tls_1_2": web_r["tls_1_2"]}
    assert set(web_r["tls_1_2"]) == cs3
    cs2 = set(cipher_plan("sip", "CS2").offered)
    assert sip_r["ssl_2_0"] == [] and sip_r["ssl_3_0"] == [] and sip_r["tls_1_3"] == []
    for version in ("tls_1_0", "tls_1_1", "tls_1_2"):
        assert set(sip_r[version]) == cs2, (version, sip_r[version])


# ------------------------------------------------------------------ mutual TLS
async def test_mutual_tls_as_server(unit: Unit, files: Files) -> None:
    unit.config.set("SipEp.InteropTlsClientAuthenticationEnable", "Enable")
    server = await tls_policy(unit, "SipEp").serve(echo_hello, 0)
    port = server.sockets[0].getsockname()[1]
    crt, key = files.paths("client")
    try:
        rc, out = await s_client(port, "-cert", str(crt), "-key", str(key))
        assert rc == 0 and "HELLO from the unit" in out, out
        assert cert_notes(unit) == []

        rc, out = await s_client(port)  # no client certificate
        assert "HELLO" not in out
        [note] = cert_notes(unit)
        assert note.msg_id == 9007 and "presented no certificate" in note.message and "127.0.0.1:" in note.message

        s_crt, s_key = files.paths("stranger-client")
        rc, out = await s_client(port, "-cert", str(s_crt), "-key", str(s_key))
        assert "HELLO" not in out
        assert cert_notes(unit)[-1].msg_id == 9003  # unknown issuer

        unit.clock.skew(400 * 86400)  # OpenSSL verifies without dates; the unit's clock decides them
        rc, out = await s_client(port, "-cert", str(crt), "-key", str(key))
        assert "HELLO" not in out
        assert cert_notes(unit)[-1].msg_id == 9001  # expired on the unit's clock
        unit.clock.skew(-410 * 86400)  # ten days ago: a certificate expired by the host's clock is valid then
        e_crt, e_key = files.paths("expired")
        rc, out = await s_client(port, "-cert", str(e_crt), "-key", str(e_key))
        assert rc == 0 and "HELLO" in out, out
    finally:
        server.close()


async def test_mutual_tls_as_client(unit: Unit, files: Files, servers: list[SServer]) -> None:
    factory_ca = files.dir / "factory" / "factory-ca.pem"
    wants_factory = s_server(files, servers, "server", "-Verify", "1", "-CAfile", str(factory_ca),
                             "-verify_return_error")
    wants_other = s_server(files, servers, "server", "-Verify", "1", "-CAfile", str(files.dir / "ca.crt"),
                           "-verify_return_error")
    await connect(unit, wants_factory.port)  # the unit presents its factory host certificate
    out = await wants_factory.wait_output("CN = gw")
    assert "CN = gw" in out, out
    with pytest.raises(TlsHandshakeError):  # TLS 1.2: the server's alert comes before its Finished
        await connect(unit, wants_other.port)


# ------------------------------------------------------------------ validation levels and refusals
@pytest.mark.parametrize(
    ("cert", "reason", "msg_id", "words"),
    [
        ("wrong-name", Reason.NAME_MISMATCH, 9004, "does not name 127.0.0.1"),
        ("unknown-ca", Reason.UNKNOWN_ISSUER, 9003, "issuer is not trusted"),
        ("expired", Reason.EXPIRED, 9001, "has expired"),
        ("not-yet-valid", Reason.NOT_YET_VALID, 9002, "not valid yet"),
    ],
)
async def test_refusals_and_no_validation(unit: Unit, files: Files, servers: list[SServer], cert: str,
                                          reason: Reason, msg_id: int, words: str) -> None:
    peer = s_server(files, servers, cert)
    with pytest.raises(PeerRefused) as e:
        await connect(unit, peer.port)
    assert e.value.reason is reason
    [note] = cert_notes(unit)
    assert note.msg_id == msg_id and f"127.0.0.1:{peer.port}" in note.message and words in note.message
    assert note.severity == "Error"
    unit.config.set("SipEp.InteropTlsCertificateValidation", "NoValidation")
    assert (await connect(unit, peer.port)).version() == "TLSv1.2"
    assert len(cert_notes(unit)) == 1


async def test_trusted_certificate_level_ignores_the_name(unit: Unit, files: Files, servers: list[SServer]) -> None:
    peer = s_server(files, servers, "wrong-name")
    unit.config.set("SipEp.InteropTlsCertificateValidation", "TrustedCertificate")
    await connect(unit, peer.port)
    unit.config.set("SipEp.InteropTlsCertificateValidation", "DnsSrvResponse")
    _reader, writer = await tls_policy(unit, "SipEp").connect("127.0.0.1", peer.port, srv_names=["other.example"])
    writer.close()
    # Cwmp has only NoValidation/HostName
    with pytest.raises(PeerRefused):
        await connect(unit, peer.port, key="Cwmp")


async def test_unit_clock_decides_the_dates(unit: Unit, files: Files, servers: list[SServer]) -> None:
    peer = s_server(files, servers, "server")
    await connect(unit, peer.port)
    unit.clock.skew(400 * 86400)  # the lab moved this unit's clock past the certificate's notAfter
    with pytest.raises(PeerRefused) as e:
        await connect(unit, peer.port)
    assert e.value.reason is Reason.EXPIRED and cert_notes(unit)[-1].msg_id == 9001
    unit.clock.skew(-402 * 86400)  # and now before its notBefore
    with pytest.raises(PeerRefused) as e:
        await connect(unit, peer.port)
    assert e.value.reason is Reason.NOT_YET_VALID


async def test_never_synchronised_unit_cannot_validate(unit: Unit, files: Files, servers: list[SServer]) -> None:
    peer = s_server(files, servers, "server")
    unit.clock.synchronized = False
    with pytest.raises(PeerRefused) as e:
        await connect(unit, peer.port)
    assert e.value.reason is Reason.NO_TIME
    assert cert_notes(unit)[-1].msg_id == 9006
    assert "CIPHER is" not in peer.log()  # refused before connecting
    unit.config.set("SipEp.InteropTlsCertificateValidation", "NoValidation")
    await connect(unit, peer.port)


# ------------------------------------------------------------------ OCSP
async def test_ocsp_trust_levels(unit: Unit, files: Files, servers: list[SServer]) -> None:
    pki, ca = files.pki, files.ca
    serials = {name: x509.random_serial_number() for name in ("good", "revoked", "unreachable", "no-url")}
    responder = OcspResponder.start(files.dir, files.dir / "ca.crt", files.dir / "ca.key", [
        ("V", serials["good"], "/CN=good"), ("R", serials["revoked"], "/CN=revoked"),
        ("V", serials["no-url"], "/CN=no-url"),
    ])
    try:
        dead = f"http://127.0.0.1:{free_port()}/"
        good = pki.leaf(ca, ocsp_url=responder.url, serial=serials["good"])
        revoked = pki.leaf(ca, ocsp_url=responder.url, serial=serials["revoked"])
        unreachable = pki.leaf(ca, ocsp_url=dead, serial=serials["unreachable"])
        no_url = pki.leaf(ca, serial=serials["no-url"])
        ports = {}
        for name, issued in (("good", good), ("revoked", revoked), ("unreachable", unreachable), ("no-url", no_url)):
            issued.write(files.dir, f"ocsp-{name}")
            ports[name] = s_server(files, servers, f"ocsp-{name}").port
        c = unit.config

        async def outcome(name: str) -> str:
            try:
                await connect(unit, ports[name])
            except PeerRefused as e:
                return str(e.reason)
            return "accepted"

        c.set("SipEp.TransportTlsCertificateTrustLevel", "LocallyTrusted")
        assert await outcome("revoked") == "accepted"  # no query at all
        c.set("SipEp.TransportTlsCertificateTrustLevel", "OcspMandatory")
        assert await outcome("good") == "accepted"
        assert await outcome("revoked") == "revoked"
        assert cert_notes(unit)[-1].msg_id == 9005
        assert await outcome("unreachable") == "revocation status unknown"
        assert cert_notes(unit)[-1].msg_id == 9007 and "cannot be reached" in cert_notes(unit)[-1].message
        assert await outcome("no-url") == "revocation status unknown"
        ca_file = next(s.file_name for s in cert_engine(unit).other_certificates() if s.certificate == ca.cert)
        c.set(f'Cert.CertificateAuthorities["{ca_file}"].OverrideIssuedCertificateOcspUrl', responder.url)
        assert await outcome("no-url") == "accepted"  # the CA's override URL is asked instead
        c.set("SipEp.TransportTlsCertificateTrustLevel", "OcspOptional")
        assert await outcome("revoked") == "revoked"
        assert await outcome("unreachable") == "accepted"
    finally:
        responder.stop()


# ------------------------------------------------------------------ key log
async def test_nss_key_log_matches_the_peer(unit: Unit, files: Files, servers: list[SServer]) -> None:
    engine = cert_engine(unit)
    keylog = unit.state_dir / "tls" / "keylog.txt"
    peer_log = files.dir / "peer-keylog.txt"
    peer = s_server(files, servers, "server", "-keylogfile", str(peer_log), "-cipher", ECDHE)
    unit.config.set("SipEp.TransportTlsCipherSuite", "CS3")
    await connect(unit, peer.port)
    assert not keylog.exists()  # off by default
    if unit.catalog.param("Cert.TlsKeyLogEnable") is not None:
        unit.config.set("Cert.TlsKeyLogEnable", "Enable")
    else:
        engine.keylog_enabled = True
        engine.generation += 1
    await connect(unit, peer.port)
    await asyncio.sleep(0.1)
    lines = [ln for ln in keylog.read_text().splitlines() if ln.startswith("CLIENT_RANDOM ")]
    assert len(lines) == 1 and lines[0] in peer_log.read_text().splitlines()  # (EC)DHE, yet decryptable
    assert stat.S_IMODE(keylog.stat().st_mode) == 0o600


# ------------------------------------------------------------------ certificate transfer
@pytest.fixture
async def plain_http(files: Files) -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        name = request.match_info["name"]
        if name == "huge.pem":
            return web.Response(body=b"0" * (10 * 1024 * 1024))
        path = files.dir / name
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=path.read_bytes())

    app = web.Application()
    app.router.add_get("/{name}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", hits
    await runner.cleanup()


async def test_transfer_over_https_honours_cert_transfer_parameters(unit: Unit, files: Files,
                                                                   servers: list[SServer]) -> None:
    engine = cert_engine(unit)
    (files.dir / "bundle.pem").write_bytes(files.certs["client"].pem() + files.certs["client"].key_pem())
    (files.dir / "other.pem").write_bytes(files.pki.ca("Transfer CA", key_index=2).pem())
    www = s_server(files, servers, "server", "-WWW", cwd=files.dir)
    base = f"https://127.0.0.1:{www.port}"
    assert await engine.import_from_url(f"{base}/other.pem") == ["other.pem"]
    assert await engine.import_from_url(f"{base}/bundle.pem", "host") == "bundle.pem"  # HTTPS: no activation

    old = s_server(files, servers, "server", "-WWW", "-tls1_1", "-cipher", LEGACY, cwd=files.dir)
    unit.config.set("Cert.TransferHttpsTlsVersion", "TLSv1_2")
    before = [s.file_name for s in engine.other_certificates()]
    with pytest.raises(CertError) as e:
        await engine.import_from_url(f"https://127.0.0.1:{old.port}/ca.crt")
    assert e.value.kind == "transfer"
    unit.config.set("Cert.TransferHttpsTlsVersion", "TLSv1_1")
    unit.config.set("Cert.TransferHttpsCipherSuite", "CS3")  # CS3 has nothing for TLS 1.1
    with pytest.raises(CertError):
        await engine.import_from_url(f"https://127.0.0.1:{old.port}/ca.crt")
    assert [s.file_name for s in engine.other_certificates()] == before

    stranger = s_server(files, servers, "unknown-ca", "-WWW", cwd=files.dir)
    with pytest.raises(CertError) as e:
        await engine.import_from_url(f"https://127.0.0.1:{stranger.port}/ca.crt")
    assert "refused (unknown issuer)" in e.value.message and cert_notes(unit)[-1].msg_id == 9003


async def test_host_certificate_over_plain_http_needs_activation(unit: Unit, files: Files,
                                                                 plain_http: tuple[str, list[str]]) -> None:
    engine = cert_engine(unit)
    base, hits = plain_http
    (files.dir / "bundle2.pem").write_bytes(files.certs["server"].pem() + files.certs["server"].key_pem())
    with pytest.raises(CertError) as e:
        await engine.import_from_url(f"{base}/bundle2.pem", "host")
    assert e.value.kind == "unsecure-transfer" and hits == []  # refused before the key crossed the wire
    engine.activate_unsecure_transfer()
    assert await engine.import_from_url(f"{base}/bundle2.pem", "host") == "bundle2.pem"
    assert hits == ["/bundle2.pem"] and not engine.unsecure_transfer_active
    assert await engine.import_from_url(f"{base}/stranger.crt") == ["stranger.pem"]  # no key: plain HTTP is fine
    with pytest.raises(CertError) as e:
        await engine.import_from_url(f"{base}/huge.pem")
    assert e.value.kind == "too-large"
    with pytest.raises(CertError) as e:
        await engine.import_from_url(f"{base}/missing.pem")
    assert e.value.kind == "transfer" and "404 Not Found" in e.value.message


# ------------------------------------------------------------------ aiohttp clients (TR-069 and friends)
async def test_aiohttp_connector_validates_before_the_request(unit: Unit, files: Files,
                                                              servers: list[SServer]) -> None:
    www = s_server(files, servers, "server", "-WWW", cwd=files.dir)
    bad = s_server(files, servers, "wrong-name", "-WWW", cwd=files.dir)
    policy = tls_policy(unit, "Cwmp")
    async with aiohttp.ClientSession(connector=policy.aiohttp_connector()) as session:
        async with session.get(f"https://127.0.0.1:{www.port}/ca.crt") as resp:
            assert resp.status == 200 and b"BEGIN CERTIFICATE" in await resp.read()
        with pytest.raises(PeerRefused):
            await session.get(f"https://127.0.0.1:{bad.port}/ca.crt")
    assert "GET /ca.crt" not in bad.log()
    assert cert_notes(unit)[-1].msg_id == 9004

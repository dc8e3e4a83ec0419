"""Certificates (firmware_model.certs) and the Cert engine's store (emulator.engines.cert.engine):
parsing and describing, precise refusals with the store unchanged, factory provisioning, tables,
Delete, unsecure-transfer window, persistence. No sockets here."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from structlog.testing import capture_logs

from emulator.engines.cert.engine import FACTORY_CA_FILE, FACTORY_HOST_FILE, CertEngine
from emulator.engines.cert.factory import load_or_create_factory_ca
from emulator.engines.cert.tls import TlsSetupError, tls_policy
from emulator.engines.cert.transfer import parse_transfer_url
from emulator.engines.nlm import NlmEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.certs import (
    MAX_UPLOAD_BYTES,
    CertError,
    describe,
    is_ca,
    load_certificates,
    load_host_bundle,
    safe_file_name,
    usage_of,
)
from firmware_model.profiles import get_profile
from testkit.pki import Issued, Pki, der, pem
from tests.helpers.pki import pki_fixtures

SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH


pki, ca = pki_fixtures("rsa", "Lab Root CA")


@pytest.fixture(scope="module")
def host(pki: Pki, ca: Issued) -> Issued:
    return pki.leaf(ca, "gw1.lab.example", dns=("gw1.lab.example",), ips=("127.0.0.1",))


# ------------------------------------------------------------------ describing
def test_describe_columns(pki: Pki, ca: Issued, host: Issued) -> None:
    info = describe(host.cert)
    assert (info.issued_to, info.issued_by, info.usage, info.certificate_authority) == (
        "gw1.lab.example", "Lab Root CA", "TlsClient, TlsServer", False)
    assert info.valid_from == host.cert.not_valid_before_utc and info.valid_to == host.cert.not_valid_after_utc
    assert describe(ca.cert).certificate_authority and is_ca(ca.cert)
    assert usage_of(pki.leaf(ca, eku=(SERVER,)).cert) == "TlsServer"
    assert usage_of(pki.leaf(ca, eku=(CLIENT,)).cert) == "TlsClient"
    assert usage_of(pki.leaf(ca, eku=None).cert) == "TlsClient, TlsServer"  # no EKU: no restriction
    assert usage_of(pki.leaf(ca, eku=(ExtendedKeyUsageOID.CODE_SIGNING,)).cert) == "None"
    no_cn = pki.leaf(ca, None, dns=("only-san.example",), ips=())
    assert describe(no_cn.cert).issued_to == "only-san.example"


# ------------------------------------------------------------------ parsing: Others
def test_load_pem_chain_and_der(ca: Issued, host: Issued) -> None:
    assert load_certificates(pem(host.cert, ca.cert)) == [host.cert, ca.cert]
    assert load_certificates(b"Bag Attributes: junk\n" + pem(ca.cert)) == [ca.cert]
    assert load_certificates(der(ca.cert)) == [ca.cert]


def _pem_cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("make", "kind", "words"),
    [
        (lambda ca, host: b"", "empty", "empty"),
        (lambda ca, host: b"hello, I am not a certificate\n" * 4, "garbage", "neither PEM"),
        (lambda ca, host: os.urandom(3000), "garbage", ""),
        (lambda ca, host: b"\x30\x82\x01\x00" + b"\x00" * 300, "garbage", "DER"),
        (lambda ca, host: _pem_cut(pem(ca.cert)), "truncated", "line 1 has no '-----END CERTIFICATE-----'"),
        (lambda ca, host: pem(ca.cert) + _pem_cut(pem(host.cert)), "truncated", "line "),
        (lambda ca, host: pem(ca.cert).replace(b"M", b"!", 3), "garbage", "base64"),
        (lambda ca, host: pem(host.cert) + host.key_pem(), "not-certificate", "private key"),
        (lambda ca, host: host.key_pem(), "not-certificate", "PRIVATE KEY"),
        (lambda ca, host: host.p12(None), "not-certificate", "PKCS#12"),
        (lambda ca, host: b"x" * (10 * 1024 * 1024), "too-large", "10485760 bytes"),
    ],
)
def test_bad_other_uploads(ca: Issued, host: Issued, make: Any, kind: str, words: str) -> None:
    with pytest.raises(CertError) as e:
        load_certificates(make(ca, host))
    assert e.value.kind == kind, e.value.message
    assert words in e.value.message


def test_no_cn_no_san_refused(pki: Pki, ca: Issued) -> None:
    nameless = pki.leaf(ca, None, dns=(), ips=())
    with pytest.raises(CertError) as e:
        load_certificates(nameless.pem())
    assert e.value.kind == "no-name" and "no Common Name" in e.value.message
    with pytest.raises(CertError) as e:
        load_host_bundle(nameless.pem() + nameless.key_pem())
    assert e.value.kind == "no-name"


# ------------------------------------------------------------------ parsing: host bundles
def test_host_bundles_accepted(pki: Pki, ca: Issued, host: Issued) -> None:
    b = load_host_bundle(host.pem() + ca.pem() + host.key_pem())
    assert b.certificate == host.cert and b.chain == (ca.cert,)
    b = load_host_bundle(host.key_pem() + ca.pem() + host.pem())  # any order: the key finds its certificate
    assert b.certificate == host.cert and b.chain == (ca.cert,)
    b = load_host_bundle(host.pem() + host.key_pem(b"s3cret"), "s3cret")
    assert b.certificate == host.cert
    legacy = host.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    assert load_host_bundle(host.pem() + legacy).certificate == host.cert
    assert load_host_bundle(host.p12(b"pw", [ca.cert]), "pw").chain == (ca.cert,)
    assert load_host_bundle(host.p12(None)).certificate == host.cert
    assert load_host_bundle(host.pem() + host.key_pem(), "a password for a clear key is ignored")


@pytest.mark.parametrize(
    ("make", "password", "kind", "words"),
    [
        (lambda pki, ca, host: host.pem(), None, "no-key", "no private key"),
        (lambda pki, ca, host: host.pem() + host.key_pem(b"pw"), None, "encrypted-key", "give its password"),
        (lambda pki, ca, host: host.pem() + host.key_pem(b"pw"), "wrong", "bad-password", "does not decrypt"),
        (lambda pki, ca, host: host.p12(b"pw"), None, "encrypted-key", "PKCS#12"),
        (lambda pki, ca, host: host.p12(b"pw"), "wrong", "bad-password", "PKCS#12"),
        (lambda pki, ca, host: ca.pem() + host.key_pem(), None, "key-mismatch", "does not match"),
        (lambda pki, ca, host: host.pem() + host.key_pem() + host.key_pem(), None, "several-keys", "2 private"),
        (lambda pki, ca, host: host.pem() + _pem_cut(host.key_pem()), None, "truncated", "PRIVATE KEY"),
        (lambda pki, ca, host: host.pem(), None, "no-key", "PKCS#12"),
        (lambda pki, ca, host: b"garbage" * 10, None, "garbage", "neither a PEM bundle nor a PKCS#12"),
        (lambda pki, ca, host: b"x" * (MAX_UPLOAD_BYTES + 1), None, "too-large", "too large"),
    ],
)
def test_bad_host_uploads(pki: Pki, ca: Issued, host: Issued, make: Any, password: str | None, kind: str,
                          words: str) -> None:
    with pytest.raises(CertError) as e:
        load_host_bundle(make(pki, ca, host), password)
    assert e.value.kind == kind, e.value.message
    assert words in e.value.message


def test_safe_file_names() -> None:
    assert safe_file_name("../../etc/passwd", []) == "passwd.pem"
    assert safe_file_name("C:\\certs\\My CA.crt", []) == "My_CA.pem"
    assert safe_file_name("ca.pem", ["CA.pem"]) == "ca-2.pem"
    assert safe_file_name("...", []) == "certificate.pem"


# ------------------------------------------------------------------ the engine
@pytest.fixture(scope="module")
def factory_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("factory")


def make_unit(state_dir: Path, factory_dir: Path, name: str = "u1", host: str = "127.0.0.1") -> tuple[Unit,
                                                                                                      CertEngine]:
    u = Unit(name=name, profile=get_profile("4102"), state_dir=state_dir, host=host, ports=PortPolicy(mode="auto"),
             fsync=False)
    nlm = NlmEngine(u)
    u.attach(nlm)
    u.nlm = nlm
    engine = CertEngine(u, factory_dir)
    u.attach(engine)
    return u, engine


@pytest.fixture
async def unit(tmp_path: Path, factory_dir: Path) -> AsyncIterator[tuple[Unit, CertEngine]]:
    u, engine = make_unit(tmp_path / "u1", factory_dir)
    await u.start()
    u.config.set("Cert.MinSeverity", "Info")
    yield u, engine
    await u.stop()


def snapshot(u: Unit) -> tuple[Any, ...]:
    files = {p.relative_to(u.state_dir): p.read_bytes() for p in sorted((u.state_dir / "certs").rglob("*"))
             if p.is_file()}
    tables = [u.config.rows(t) for t in ("Cert.HostCertificatesInfo", "Cert.OthersCertificatesInfo",
                                         "Cert.HostCertificateAssociation", "Cert.CertificateAuthorities")]
    return files, tables


async def test_factory_provisioning(unit: tuple[Unit, CertEngine], factory_dir: Path) -> None:
    u, engine = unit
    [h] = engine.host_certificates()
    assert h.file_name == FACTORY_HOST_FILE and h.factory
    ca = x509.load_pem_x509_certificate((factory_dir / FACTORY_CA_FILE).read_bytes())
    h.certificate.verify_directly_issued_by(ca)
    san = h.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["u1"]
    assert h.info.usage == "TlsClient, TlsServer" and h.certificate.public_key().key_size == 2048  # type: ignore[union-attr]
    key_file = u.state_dir / "certs" / "host" / f"{FACTORY_HOST_FILE}.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((factory_dir / "factory-ca.key").stat().st_mode) == 0o600
    assert [s.file_name for s in engine.other_certificates()] == [FACTORY_CA_FILE]
    assert engine.factory_ca_pem() == pem(ca)
    rows = u.config.rows("Cert.HostCertificatesInfo")
    assert rows == [{
        "FileName": FACTORY_HOST_FILE, "IssuedTo": "u1", "IssuedBy": "dgw-emulator factory CA",
        "ValidFrom": u.local_time(h.info.valid_from.timestamp()), "ValidTo": u.local_time(h.info.valid_to.timestamp()),
        "Usage": "TlsClient, TlsServer", "Delete": "NoOp",
    }]
    [other] = u.config.rows("Cert.OthersCertificatesInfo")
    assert other["CertificateAuthority"] == "Yes" and other["FileName"] == FACTORY_CA_FILE
    assert [r["FileName"] for r in u.config.rows("Cert.HostCertificateAssociation")] == [FACTORY_HOST_FILE]
    assert [r["FileName"] for r in u.config.rows("Cert.CertificateAuthorities")] == [FACTORY_CA_FILE]


async def test_valid_dates_follow_the_unit_time_zone(unit: tuple[Unit, CertEngine]) -> None:
    u, engine = unit
    u.config.set("Hoc.StaticTimeZone", "UTC0")
    utc_text = u.config.rows("Cert.HostCertificatesInfo")[0]["ValidFrom"]
    assert utc_text == engine.host_certificates()[0].info.valid_from.strftime("%Y-%m-%d %H:%M:%S")
    u.config.set("Hoc.StaticTimeZone", "EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00")
    local = u.config.rows("Cert.HostCertificatesInfo")[0]["ValidFrom"]
    assert local != utc_text and local == u.local_time(engine.host_certificates()[0].info.valid_from.timestamp())


async def test_store_persists_and_first_boot_only_once(tmp_path: Path, factory_dir: Path) -> None:
    u, engine = make_unit(tmp_path / "u1", factory_dir)
    await u.start()
    first = engine.host_certificates()[0].certificate
    engine.delete("other", FACTORY_CA_FILE)
    await u.stop()
    u2, engine2 = make_unit(tmp_path / "u1", factory_dir)
    await u2.start()
    assert engine2.host_certificates()[0].certificate == first  # not re-made at the next boot
    assert engine2.other_certificates() == []  # a deleted factory certificate stays deleted
    await u2.stop()


def test_factory_ca_created_once_under_concurrency(tmp_path: Path) -> None:
    results: list[Any] = []

    def worker() -> None:
        results.append(load_or_create_factory_ca(tmp_path / "shared"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r[0] for r in results}) == 1
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["factory-ca.key", "factory-ca.lock",
                                                                       "factory-ca.pem"]


async def test_units_booting_together_share_one_factory_ca(tmp_path: Path) -> None:
    units = [make_unit(tmp_path / f"u{i}", tmp_path, name=f"u{i}", host=f"127.0.0.{i + 2}") for i in range(6)]
    await asyncio.gather(*(u.start() for u, _ in units))
    ca = x509.load_pem_x509_certificate((tmp_path / FACTORY_CA_FILE).read_bytes())
    certs = [e.host_certificates()[0].certificate for _, e in units]
    for i, c in enumerate(certs):
        c.verify_directly_issued_by(ca)
        ips = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.IPAddress)
        assert [str(ip) for ip in ips] == [f"127.0.0.{i + 2}"]
    assert len({c.public_key().public_numbers() for c in certs}) == 6  # type: ignore[union-attr]
    await asyncio.gather(*(u.stop() for u, _ in units))


async def test_import_host_and_others(unit: tuple[Unit, CertEngine], pki: Pki, ca: Issued, host: Issued) -> None:
    u, engine = unit
    name = engine.import_host(host.pem() + ca.pem() + host.key_pem(b"pw"), "pw", file_name="gw1.p12")
    assert name == "gw1.pem"
    assert stat.S_IMODE((u.state_dir / "certs" / "host" / "gw1.pem.key").stat().st_mode) == 0o600
    assert [r["FileName"] for r in u.config.rows("Cert.HostCertificatesInfo")] == [FACTORY_HOST_FILE, "gw1.pem"]
    assert [r["FileName"] for r in u.config.rows("Cert.HostCertificateAssociation")] == [FACTORY_HOST_FILE,
                                                                                         "gw1.pem"]
    # an imported certificate is presented before the factory one; the association can disable it
    assert engine.host_credentials("Sip", "TlsServer")[0].name == "gw1.pem"  # type: ignore[index]
    u.config.set("Cert.HostCertificateAssociation[gw1.pem].Sip", "Disable")
    assert engine.host_credentials("Sip", "TlsServer")[0].name == FACTORY_HOST_FILE  # type: ignore[index]
    assert engine.host_credentials("Web", "TlsServer")[0].name == "gw1.pem"  # type: ignore[index]

    inter = pki.ca("Lab Intermediate", key_index=2, issuer=ca)
    names = engine.import_other(pem(inter.cert, ca.cert))
    assert names == ["Lab_Intermediate.pem", "Lab_Root_CA.pem"]
    assert engine.import_other(der(pki.leaf(ca, "peer.example").cert), file_name="peer.der") == ["peer.pem"]
    rows = {r["FileName"]: r for r in u.config.rows("Cert.OthersCertificatesInfo")}
    assert rows["peer.pem"]["CertificateAuthority"] == "No" and rows["Lab_Root_CA.pem"]["CertificateAuthority"] == "Yes"
    assert sorted(r["FileName"] for r in u.config.rows("Cert.CertificateAuthorities")) == [
        "Lab_Intermediate.pem", "Lab_Root_CA.pem", FACTORY_CA_FILE]
    assert ca.cert in engine.trust_anchors()
    assert [e.msg_id for e in u.notifications if e.service == "Cert"] == [9010] * 4


async def test_bad_imports_leave_the_store_unchanged(unit: tuple[Unit, CertEngine], pki: Pki, ca: Issued,
                                                     host: Issued) -> None:
    u, engine = unit
    engine.import_other(ca.pem())
    engine.import_host(host.pem() + host.key_pem())
    before = snapshot(u)
    gen = engine.generation
    cases: list[tuple[str, Any, str]] = [
        ("other", lambda: engine.import_other(b"\x00garbage" * 50), "garbage"),
        ("other", lambda: engine.import_other(_pem_cut(pem(ca.cert))), "truncated"),
        ("other", lambda: engine.import_other(b"0" * (10 * 1024 * 1024)), "too-large"),
        ("other", lambda: engine.import_other(pki.leaf(ca, None, dns=(), ips=()).pem()), "no-name"),
        ("other", lambda: engine.import_other(ca.pem()), "duplicate"),
        ("host", lambda: engine.import_host(pki.leaf(ca, "x", key=pki.new_key()).pem() + host.key_pem()),
         "key-mismatch"),
        ("host", lambda: engine.import_host(host.pem() + host.key_pem(b"pw")), "encrypted-key"),
        ("host", lambda: engine.import_host(host.p12(b"pw"), "nope"), "bad-password"),
        ("host", lambda: engine.import_host(b"\x00" * (10 * 1024 * 1024)), "too-large"),
        ("host", lambda: engine.import_host(host.pem() + host.key_pem()), "duplicate"),
        ("host", lambda: engine.import_host(b"-----BEGIN CERTIFICATE-----\nMIIB"), "truncated"),
        ("host", lambda: engine.import_host(host.pem() + host.key_pem(), over_plain_http=True), "unsecure-transfer"),
        ("other", lambda: engine.delete("other", "no-such.pem"), "no-file"),
    ]
    with capture_logs() as logs:
        for _kind, call, want in cases:
            with pytest.raises(CertError) as e:
                call()
            assert e.value.kind == want, (want, e.value.message)
            assert snapshot(u) == before, want
    assert engine.generation == gen
    refused = [entry for entry in logs if entry["event"] == "cert_import_refused"]
    assert len(refused) == 12


async def test_delete_from_the_engine(unit: tuple[Unit, CertEngine], host: Issued) -> None:
    u, engine = unit
    name = engine.import_host(host.pem() + host.key_pem())
    engine.delete("host", name)
    assert not (u.state_dir / "certs" / "host" / name).exists()
    assert not (u.state_dir / "certs" / "host" / f"{name}.key").exists()
    assert [r["FileName"] for r in u.config.rows("Cert.HostCertificatesInfo")] == [FACTORY_HOST_FILE]
    assert [r["FileName"] for r in u.config.rows("Cert.HostCertificateAssociation")] == [FACTORY_HOST_FILE]


async def test_delete_row_command_through_config(unit: tuple[Unit, CertEngine], ca: Issued) -> None:
    u, engine = unit
    [name] = engine.import_other(ca.pem())
    u.config.set(f"Cert.OthersCertificatesInfo[{name}].Delete", "Delete")
    assert name not in [s.file_name for s in engine.other_certificates()]


async def test_unsecure_transfer_window(tmp_path: Path, factory_dir: Path, host: Issued, ca: Issued) -> None:
    now = [1000.0]
    u = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path / "u1", fsync=False)
    engine = CertEngine(u, factory_dir, monotonic=lambda: now[0])
    u.attach(engine)
    await u.start()
    bundle = host.pem() + host.key_pem()
    with pytest.raises(CertError, match="activate unsecure certificate transfer"):
        engine.import_host(bundle, over_plain_http=True)
    assert engine.import_other(ca.pem()) == ["Lab_Root_CA.pem"]  # no key: plain HTTP is fine
    engine.activate_unsecure_transfer(60)
    assert engine.unsecure_transfer_active
    now[0] += 61
    assert not engine.unsecure_transfer_active  # timed out
    with pytest.raises(CertError):
        engine.import_host(bundle, over_plain_http=True)
    engine.activate_unsecure_transfer(60)
    with pytest.raises(CertError, match="does not decrypt"):  # a failed import keeps the window open
        engine.import_host(host.pem() + host.key_pem(b"pw"), "bad", over_plain_http=True)
    assert engine.import_host(bundle, over_plain_http=True) == "gw1.lab.example.pem"
    assert not engine.unsecure_transfer_active  # one import per activation
    await u.stop()


async def test_private_keys_never_logged_nor_shown(tmp_path: Path, host: Issued) -> None:
    with capture_logs() as logs:
        u, engine = make_unit(tmp_path / "u1", tmp_path)
        await u.start()
        engine.import_host(host.pem() + host.key_pem(b"pw"), "pw")
        with pytest.raises(CertError):
            engine.import_host(host.pem() + host.key_pem(b"pw"), "bad")
        await u.stop()
    text = repr(logs) + repr([u.config.rows(t) for t in u.catalog.tables if t.startswith("Cert.")])
    assert "PRIVATE KEY" not in text and "pw" not in [v for e in logs for v in e.values()]
    for name in [FACTORY_HOST_FILE, "gw1.lab.example.pem"]:
        assert b"PRIVATE KEY" not in engine.certificate_pem("host", name)
    config_doc = u.state_dir / "config.json"
    assert not config_doc.exists() or "PRIVATE" not in config_doc.read_text()


def test_transfer_urls() -> None:
    assert parse_transfer_url("https://10.0.0.1/certs/ca.pem") == ("https", "10.0.0.1", 443, "/certs/ca.pem")
    assert parse_transfer_url("http://[::1]:8080/a?b=1") == ("http", "::1", 8080, "/a?b=1")
    for bad in ("ftp://x/y", "https://", "http://host:99999/"):
        with pytest.raises(CertError):
            parse_transfer_url(bad)


async def test_tls_users_may_wait_for_the_store_before_cert_starts(tmp_path: Path, factory_dir: Path) -> None:
    u, engine = make_unit(tmp_path / "u1", factory_dir)
    policy = tls_policy(u, "Web")  # Scm starts Web (and SipEp) before Cert
    with pytest.raises(TlsSetupError, match="no host certificate"):
        policy.server_context()
    await asyncio.gather(policy.ready(), tls_policy(u, "SipEp").ready(), engine.start())
    assert len(engine.host_certificates()) == 1  # provisioned once
    assert policy.server_context() is policy.server_context()  # cached until something changes
    before = policy.server_context()
    u.config.set("Web.HttpsCipherSuite", "CS3")
    assert policy.server_context() is not before


# ------------------------------------------------------------------ the unit as a TLS server (TlsPolicy.serve)
def tls12_client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


async def test_served_client_hello_sent_at_once_is_answered(unit: tuple[Unit, CertEngine]) -> None:
    """The client sends its ClientHello right after the TCP handshake. With start_tls on an accepted plain
    stream, uvloop read it as plain data before the TLS layer existed and the handshake hung."""
    u, _engine = unit
    served: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(await reader.readline())
        writer.write(b"HELLO from the unit\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    policy = tls_policy(u, "Web")
    policy.handshake_timeout = 2.0
    server = await policy.serve(handler, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=tls12_client_context()), timeout=5.0
        )
        writer.write(b"hi\n")
        assert await asyncio.wait_for(reader.readline(), timeout=5.0) == b"HELLO from the unit\n"
        assert served == [b"hi\n"]
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.2"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_served_client_without_certificate_is_refused_by_notification(unit: tuple[Unit, CertEngine]) -> None:
    """Mutual TLS: OpenSSL refuses the client during the handshake; the listener hears of it (Cert 9007)
    and the handler never runs."""
    u, _engine = unit
    u.config.set("SipEp.InteropTlsClientAuthenticationEnable", "Enable")
    handled: list[bool] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handled.append(True)
        writer.close()

    policy = tls_policy(u, "SipEp")
    policy.handshake_timeout = 2.0
    server = await policy.serve(handler, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            reader, _writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=tls12_client_context()), timeout=5.0
            )
            # TLS 1.2: the client may finish its side before the server's refusal reaches it
            await asyncio.wait_for(reader.readexactly(1), timeout=5.0)
        for _ in range(50):
            if any(e.service == "Cert" and e.msg_id == 9007 for e in u.notifications):
                break
            await asyncio.sleep(0.02)
        assert any(e.service == "Cert" and e.msg_id == 9007 for e in u.notifications)
        assert not handled
    finally:
        server.close()
        await server.wait_closed()

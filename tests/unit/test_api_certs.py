"""Certificates through the HTTP control API (issue 3, build item 1): listing, factory CA download, import
of Other and Host certificates from the request body, the unsecure-transfer rule over plain HTTP, precise
refusals with the store unchanged, delete, rights, and transfer from an https:// URL served by a local
aiohttp server whose certificate comes from testkit/pki.py."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from emulator.engines.aaa import Aaa
from emulator.engines.cert.engine import FACTORY_CA_FILE, FACTORY_HOST_FILE, CertEngine
from emulator.engines.nlm import NlmEngine
from emulator.faces.api.openapi import CERT_REASONS
from emulator.faces.api.server import ApiServer
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.certs import MAX_UPLOAD_BYTES
from firmware_model.profiles import get_profile
from testkit.peers import free_port
from testkit.pki import der
from tests.helpers.cert_lab import FileServer, Lab

ADMIN = ("public", "")
USER = ("bob", "bobpass")
OBSERVER = ("olga", "olgapass")
C = "/api/v1/certificates"


# ---------------------------------------------------------------------------------------------- unit + client
@dataclass
class Answer:
    status: int
    body: Any
    raw: bytes
    headers: Any


@dataclass
class Env:
    unit: Unit
    cert: CertEngine
    base: str
    session: aiohttp.ClientSession

    async def call(self, method: str, path: str, *, user: tuple[str, str] = ADMIN, data: Any = None,
                   body: Any = None, params: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> Answer:
        token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        h = {"Authorization": f"Basic {token}", **(headers or {})}
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        async with self.session.request(method, self.base + path, data=data, params=params, headers=h) as r:
            raw = await r.read()
            parsed = json.loads(raw) if r.content_type == "application/json" else raw
            return Answer(r.status, parsed, raw, r.headers)

    def snapshot(self) -> tuple[Any, ...]:
        """Every file of the store and the four Cert tables (what "store unchanged" means)."""
        d = self.unit.state_dir / "certs"
        files = {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}
        tables = [self.unit.config.rows(t) for t in ("Cert.HostCertificatesInfo", "Cert.OthersCertificatesInfo",
                                                     "Cert.HostCertificateAssociation", "Cert.CertificateAuthorities")]
        return files, tables

    def names(self, kind: str) -> list[str]:
        stored = self.cert.host_certificates() if kind == "host" else self.cert.other_certificates()
        return [s.file_name for s in stored]


@pytest.fixture
async def env(tmp_path: Path, factory_dir: Path) -> AsyncIterator[Env]:
    unit = Unit(name="gw", profile=get_profile("4102"), state_dir=tmp_path / "gw", ports=PortPolicy(mode="auto"),
                fsync=False)
    aaa, nlm, cert = Aaa(unit), NlmEngine(unit), CertEngine(unit, factory_dir)
    for engine in (aaa, nlm, cert):
        unit.attach(engine)
    unit.nlm, unit.cert = nlm, cert
    await unit.start()
    for (name, password), rights in ((USER, "User"), (OBSERVER, "Observer")):
        unit.config.add_row("Aaa.Users", {"UserName": name, "Password": password, "AccessRights": rights})
    unit.config.clear_restart("Aaa")
    api = ApiServer(unit, aaa)
    await api.start(0)
    async with aiohttp.ClientSession() as session:
        yield Env(unit, cert, unit.listening["api"], session)
    await api.stop()
    await unit.stop()


def refused(r: Answer, status: int, reason: str, words: str = "") -> None:
    assert r.status == status, (r.status, r.body)
    assert r.body["kind"] == ("too-large" if status == 413 else "certificate"), r.body
    assert r.body["reason"] == reason and reason in CERT_REASONS, r.body
    assert words in r.body["error"], r.body


# ---------------------------------------------------------------------------------------------- listing, download
async def test_listing_has_both_stores_and_no_key(env: Env, factory_dir: Path) -> None:
    r = await env.call("GET", C, user=OBSERVER)
    assert r.status == 200, r.body
    by_name = {c["file_name"]: c for c in r.body["certificates"]}
    assert r.body["count"] == 2 and r.body["unsecure_transfer_active"] is False
    host, ca = by_name[FACTORY_HOST_FILE], by_name[FACTORY_CA_FILE]
    assert (host["kind"], host["issued_to"], host["issued_by"]) == ("host", "gw", "dgw-emulator factory CA")
    assert host["usage"] == "TlsClient, TlsServer" and host["certificate_authority"] is False and host["factory"]
    assert (ca["kind"], ca["certificate_authority"]) == ("other", True)
    row = next(x for x in env.unit.config.rows("Cert.HostCertificatesInfo") if x["FileName"] == FACTORY_HOST_FILE)
    assert (host["valid_from"], host["valid_to"]) == (row["ValidFrom"], row["ValidTo"])  # unit local time
    assert host["valid_to_utc"].endswith("Z")
    assert b"PRIVATE" not in r.raw and b"BEGIN" not in r.raw


async def test_factory_ca_download(env: Env, factory_dir: Path) -> None:
    r = await env.call("GET", f"{C}/factory-ca", user=OBSERVER)
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-pem-file"
    assert 'filename="factory-ca.pem"' in r.headers["Content-Disposition"]
    assert r.raw == (factory_dir / FACTORY_CA_FILE).read_bytes() and b"PRIVATE" not in r.raw
    ca = x509.load_pem_x509_certificate(r.raw)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    host = env.cert.host_certificates()[0].certificate
    assert host.issuer == ca.subject  # what a lab installs to trust the unit
    r = await env.call("GET", f"{C}/host/{FACTORY_HOST_FILE}")
    assert r.status == 200 and r.raw.count(b"BEGIN CERTIFICATE") == 2 and b"PRIVATE" not in r.raw
    r = await env.call("GET", f"{C}/other/nothing.pem")
    refused(r, 404, "no-file", "no other certificate named nothing.pem")


# ---------------------------------------------------------------------------------------------- import: Other
async def test_import_ca_then_listed(env: Env, lab: Lab) -> None:
    r = await env.call("POST", f"{C}/other", user=USER, data=lab.ca.pem())
    assert r.status == 201, r.body
    assert r.body["kind"] == "other" and r.body["file_names"] == ["Lab_Root_CA.pem"]
    entry = r.body["certificates"][0]
    assert entry["issued_to"] == "Lab Root CA" and entry["certificate_authority"] is True
    listed = await env.call("GET", C)
    assert "Lab_Root_CA.pem" in [c["file_name"] for c in listed.body["certificates"] if c["kind"] == "other"]
    assert env.unit.config.needs_restart("SipEp") and not env.unit.config.needs_restart("Web")  # as the web page
    # DER, a chain (one file each) and a chosen file name
    inter = lab.pki.ca("Lab Intermediate", issuer=lab.ca, key_index=2)
    r = await env.call("POST", f"{C}/other", data=inter.pem() + lab.peer_ca.pem(), params={"file_name": "chain.crt"})
    assert r.status == 201 and r.body["file_names"] == ["chain.pem", "Peer_CA.pem"], r.body
    r = await env.call("POST", f"{C}/other", data=der(lab.server.cert), params={"file_name": "../../etc/srv.der"})
    assert r.status == 201 and r.body["file_names"] == ["srv.pem"], r.body
    assert env.names("other") == [FACTORY_CA_FILE, "Lab_Root_CA.pem", "chain.pem", "Peer_CA.pem", "srv.pem"]


# ---------------------------------------------------------------------------------------------- import: Host
async def test_host_import_over_http_refused_until_activated(env: Env, lab: Lab) -> None:
    p12 = lab.host.p12(b"pw 1", [lab.ca.cert])
    before = env.snapshot()
    r = await env.call("POST", f"{C}/host", data=p12, params={"password": "pw 1"})
    refused(r, 400, "unsecure-transfer", "cannot be transferred over plain HTTP: activate unsecure certificate")
    assert env.snapshot() == before
    r = await env.call("POST", f"{C}/activate-unsecure-transfer", user=USER)
    assert r.status == 403 and "only an Admin user may activate the unsecure certificate transfer" in r.body["error"]
    r = await env.call("POST", f"{C}/activate-unsecure-transfer")
    assert r.status == 200 and r.body["unsecure_transfer_active"] is True and r.body["seconds"] == 300
    assert (await env.call("GET", C)).body["unsecure_transfer_active"] is True

    r = await env.call("POST", f"{C}/host", data=p12, params={"password": "pw 1", "file_name": "gw1.p12"})
    assert r.status == 201, r.body
    assert r.body["file_names"] == ["gw1.pem"] and r.body["certificates"][0]["issued_to"] == "gw1.lab.example"
    assert b"PRIVATE" not in r.raw
    key = env.unit.state_dir / "certs" / "host" / "gw1.pem.key"
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert env.unit.config.needs_restart("Web")  # a new host certificate matters to the HTTPS server too
    assert len(env.cert.host_certificates()[-1].chain) == 1  # the CA came with the PKCS#12 file

    # one import per activation: the window closed
    assert (await env.call("GET", C)).body["unsecure_transfer_active"] is False
    before = env.snapshot()
    other = lab.pki.leaf(lab.ca, "gw2.lab.example", dns=("gw2.lab.example",), ips=())
    r = await env.call("POST", f"{C}/host", data=other.pem() + other.key_pem())
    refused(r, 400, "unsecure-transfer")
    assert env.snapshot() == before
    r = await env.call("GET", f"{C}/host/gw1.pem")
    assert r.status == 200 and b"PRIVATE" not in r.raw and r.raw.count(b"BEGIN CERTIFICATE") == 2


async def test_rights(env: Env, lab: Lab) -> None:
    before = env.snapshot()
    r = await env.call("POST", f"{C}/other", user=OBSERVER, data=lab.ca.pem())
    assert r.status == 403 and r.body["kind"] == "forbidden"
    r = await env.call("POST", f"{C}/host", user=USER, data=lab.host.pem() + lab.host.key_pem())
    assert r.status == 403 and "only an Admin user may import a host certificate" in r.body["error"]
    r = await env.call("POST", f"{C}/transfer", user=USER, body={"url": "https://127.0.0.1:1/x.pem", "kind": "host"})
    assert r.status == 403
    assert env.snapshot() == before
    r = await env.call("POST", f"{C}/other", data=b"x", params={"password": "pw"})
    assert r.status == 400 and r.body["kind"] == "bad-request" and "host certificates" in r.body["error"]
    r = await env.call("POST", f"{C}/bogus", data=lab.ca.pem())
    assert r.status == 404 and r.body["kind"] == "not-found"


async def test_user_cannot_delete_the_factory_ca_by_any_route(env: Env) -> None:
    """The Admin-only deletion is one policy: the certificate route, the Delete row command written as a
    parameter, as a table row and as a script line are all refused (403 forbidden, the same message), and
    the factory CA is still there."""
    before = env.snapshot()
    cell = f"Cert.OthersCertificatesInfo.Delete%5BFileName={FACTORY_CA_FILE}%5D"
    for method, path, kw in (
        ("DELETE", f"{C}/other/{FACTORY_CA_FILE}", {}),
        ("PUT", f"/api/v1/parameters/{cell}", {"body": {"value": "Delete"}}),
        ("PUT", f"/api/v1/tables/Cert.OthersCertificatesInfo/rows/{FACTORY_CA_FILE}", {"body": {"Delete": "Delete"}}),
        ("DELETE", f"/api/v1/tables/Cert.OthersCertificatesInfo/rows/{FACTORY_CA_FILE}", {}),
        ("POST", "/api/v1/scripts", {"data": f"Cert.OthersCertificatesInfo.Delete[FileName={FACTORY_CA_FILE}] = "
                                             "Delete\n", "headers": {"Content-Type": "text/plain"}}),
    ):
        r = await env.call(method, path, user=USER, **kw)
        assert (r.status, r.body["kind"]) == (403, "forbidden"), (method, path, r.body)
        assert "only an Admin user may delete certificates" in r.body["error"], (method, path, r.body)
    assert env.snapshot() == before
    assert FACTORY_CA_FILE in {s.file_name for s in env.cert.other_certificates()}


# ---------------------------------------------------------------------------------------------- bad input
def _cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


BAD_INPUTS: list[tuple[str, str, Any, str, str]] = [
    # (id, kind, make(lab) -> (body, params), reason, words in the message)
    ("garbage-other", "other", lambda lab: (b"hello, I am not a certificate\n" * 4, {}), "garbage", "neither PEM"),
    ("garbage-host", "host", lambda lab: (b"\x00\x01garbage" * 40, {}), "garbage", ""),
    ("truncated-other", "other", lambda lab: (_cut(lab.ca.pem()), {}), "truncated", "END CERTIFICATE"),
    ("truncated-host", "host", lambda lab: (lab.host.pem() + _cut(lab.host.key_pem()), {}), "truncated", ""),
    ("key-mismatch", "host", lambda lab: (lab.host.pem() + lab.server.key_pem(), {}), "key-mismatch", ""),
    ("encrypted-no-password", "host", lambda lab: (lab.host.pem() + lab.host.key_pem(b"pw"), {}), "encrypted-key",
     "password"),
    ("bad-password", "host", lambda lab: (lab.host.p12(b"pw"), {"password": "nope"}), "bad-password", ""),
    ("key-as-other", "other", lambda lab: (lab.host.key_pem(), {}), "not-certificate", "PRIVATE KEY"),
    ("empty", "other", lambda lab: (b"", {}), "empty", ""),
    ("no-name-other", "other", lambda lab: (lab.pki.leaf(lab.ca, None, dns=(), ips=()).pem(), {}), "no-name",
     "no Common Name"),
    ("no-name-host", "host", lambda lab: ((n := lab.pki.leaf(lab.ca, None, dns=(), ips=())).pem() + n.key_pem(), {}),
     "no-name", "no Common Name"),
    ("duplicate-other", "other", lambda lab: (None, {}), "duplicate", "already installed as factory-ca.pem"),
]


@pytest.mark.parametrize(("kind", "make", "reason", "words"), [b[1:] for b in BAD_INPUTS],
                         ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input_precise_error_store_unchanged(env: Env, lab: Lab, kind: str, make: Any, reason: str,
                                                       words: str, factory_dir: Path) -> None:
    data, params = make(lab)
    if data is None:
        data = (factory_dir / FACTORY_CA_FILE).read_bytes()
    if kind == "host":
        assert (await env.call("POST", f"{C}/activate-unsecure-transfer")).status == 200
    before = env.snapshot()
    r = await env.call("POST", f"{C}/{kind}", data=data, params=params)
    refused(r, 400, reason, words)
    assert env.snapshot() == before
    assert b"PRIVATE KEY-----\n" not in r.raw  # a refusal never echoes a key


@pytest.mark.parametrize("size", [MAX_UPLOAD_BYTES + 1, 10 * 1024 * 1024])
async def test_too_large_body_is_413(env: Env, size: int) -> None:
    before = env.snapshot()
    assert (await env.call("POST", f"{C}/activate-unsecure-transfer")).status == 200
    for kind in ("other", "host"):
        r = await env.call("POST", f"{C}/{kind}", data=b"0" * size)
        refused(r, 413, "too-large", f"{size} bytes, the most a certificate file may hold is {MAX_UPLOAD_BYTES} bytes")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while reading
        for _ in range(size // 65536 + 1):
            yield b"1" * 65536

    r = await env.call("POST", f"{C}/other", data=chunks())
    refused(r, 413, "too-large", f"more than {MAX_UPLOAD_BYTES} bytes")
    assert env.snapshot() == before
    assert (await env.call("GET", "/api/v1/status")).status == 200  # the connection pool still works


# ---------------------------------------------------------------------------------------------- delete
async def test_delete(env: Env, lab: Lab) -> None:
    assert (await env.call("POST", f"{C}/other", data=lab.peer_ca.pem())).status == 201
    assert (await env.call("POST", f"{C}/activate-unsecure-transfer")).status == 200
    assert (await env.call("POST", f"{C}/host", data=lab.host.pem() + lab.host.key_pem())).status == 201
    certs = env.unit.state_dir / "certs"
    assert (certs / "host" / "gw1.lab.example.pem.key").exists()

    r = await env.call("DELETE", f"{C}/other/Peer_CA.pem")
    assert r.status == 200 and r.body == {"kind": "other", "file_name": "Peer_CA.pem"}
    assert "Peer_CA.pem" not in env.names("other") and not (certs / "others" / "Peer_CA.pem").exists()
    assert "Peer_CA.pem" not in [x["FileName"] for x in env.unit.config.rows("Cert.CertificateAuthorities")]
    r = await env.call("DELETE", f"{C}/host/gw1.lab.example.pem")
    assert r.status == 200 and env.names("host") == [FACTORY_HOST_FILE]
    assert not (certs / "host" / "gw1.lab.example.pem").exists()
    assert not (certs / "host" / "gw1.lab.example.pem.key").exists()
    before = env.snapshot()
    r = await env.call("DELETE", f"{C}/other/Peer_CA.pem")
    refused(r, 404, "no-file", "no other certificate named Peer_CA.pem")
    r = await env.call("DELETE", f"{C}/Other/x.pem")
    assert r.status == 404 and r.body["kind"] == "not-found"
    assert env.snapshot() == before


# ---------------------------------------------------------------------------------------------- transfer
async def test_transfer_from_https(env: Env, lab: Lab, www: FileServer) -> None:
    env.unit.clock.synchronized = True
    before = env.snapshot()
    # The unit does not trust the server yet: refused with the validation reason, nothing stored.
    r = await env.call("POST", f"{C}/transfer", user=USER, body={"url": www.url("peer-ca.pem"), "kind": "other"})
    refused(r, 400, "transfer", "refused (unknown issuer)")
    assert env.snapshot() == before
    # Trust the lab CA (through the API), then the transfer works.
    assert (await env.call("POST", f"{C}/other", user=USER, data=lab.ca.pem())).status == 201
    r = await env.call("POST", f"{C}/transfer", user=USER, body={"url": www.url("peer-ca.pem")})
    assert r.status == 201 and r.body == {**r.body, "kind": "other", "file_names": ["peer-ca.pem"]}, r.body
    assert "peer-ca.pem" in env.names("other")

    # A host certificate over HTTPS needs no activation; the PKCS#12 password travels in the JSON body.
    r = await env.call("POST", f"{C}/transfer", body={"url": www.url("gw1.p12"), "kind": "Host",
                                                      "password": "s3cret", "file_name": "lab-gw1"})
    assert r.status == 201 and r.body["file_names"] == ["lab-gw1.pem"], r.body
    assert r.body["certificates"][0]["issued_to"] == "gw1.lab.example" and b"PRIVATE" not in r.raw

    before = env.snapshot()
    for body, reason, words in [
        ({"url": www.url("garbage.pem")}, "garbage", "neither PEM"),
        ({"url": www.url("missing.pem")}, "transfer", "404 Not Found"),
        ({"url": www.url("huge.pem")}, "too-large", "too large"),
        ({"url": "ftp://127.0.0.1/ca.pem"}, "transfer", "is not an http:// or https:// URL"),
        ({"url": f"https://127.0.0.1:{free_port()}/ca.pem"}, "transfer", "cannot reach 127.0.0.1"),
        ({"url": www.url("gw1.p12"), "kind": "host", "password": "wrong"}, "bad-password", ""),
    ]:
        r = await env.call("POST", f"{C}/transfer", body=body)
        refused(r, 400, reason, words)  # a remote file over 1 MiB is a 400: the request itself was fine
    assert env.snapshot() == before

    # The unit's clock decides: never synchronised, no certificate can be validated.
    env.unit.clock.synchronized = False
    r = await env.call("POST", f"{C}/transfer", body={"url": www.url("peer-ca.pem"), "file_name": "again"})
    assert r.status == 400 and r.body["reason"] == "transfer" and "time" in r.body["error"], r.body
    assert env.snapshot() == before


async def test_transfer_host_over_http_needs_activation(env: Env, lab: Lab, www: FileServer) -> None:
    url = www.url("gw1-bundle.pem", "http")
    before = env.snapshot()
    r = await env.call("POST", f"{C}/transfer", body={"url": url, "kind": "host"})
    refused(r, 400, "unsecure-transfer")
    assert www.hits == [] and env.snapshot() == before  # refused before the key crossed the wire
    assert (await env.call("POST", f"{C}/activate-unsecure-transfer")).status == 200
    r = await env.call("POST", f"{C}/transfer", body={"url": url, "kind": "host"})
    assert r.status == 201 and r.body["file_names"] == ["gw1-bundle.pem"], r.body
    assert www.hits == ["gw1-bundle.pem"]
    r = await env.call("POST", f"{C}/transfer", body={"url": www.url("peer-ca.pem", "http")})
    assert r.status == 201  # no key: an Other certificate may cross plain HTTP


async def test_transfer_body_checks(env: Env) -> None:
    for body, words in [
        ([], "JSON object"),
        ({"kind": "other"}, '"url" is required'),
        ({"url": "https://x/y", "kind": "both"}, "is not host or other"),
        ({"url": "https://x/y", "pasword": "x"}, "unknown member(s) pasword"),
        ({"url": "https://x/y", "password": 12, "kind": "host"}, '"password" must be a JSON string'),
        ({"url": "https://x/y", "password": "x"}, "for host certificates"),
    ]:
        r = await env.call("POST", f"{C}/transfer", body=body)
        assert r.status == 400 and words in r.body["error"], (body, r.body)


async def test_openapi_documents_certificate_routes(env: Env) -> None:
    r = await env.call("GET", "/api/v1/openapi.json")
    paths = r.body["paths"]
    assert set(paths[f"{C}/{{kind}}"]) == {"post"} and set(paths[f"{C}/{{kind}}/{{name}}"]) == {"get", "delete"}
    assert "413" in paths[f"{C}/{{kind}}"]["post"]["responses"]
    assert "certificate" in r.body["components"]["schemas"]["Error"]["properties"]["kind"]["enum"]

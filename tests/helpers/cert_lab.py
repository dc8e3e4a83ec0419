"""The certificate lab shared by the certificate tests of the API, the CLI and the SSH interop tests (a pytest
plugin: ``tests/conftest.py`` registers its fixtures ``lab``, ``factory_dir`` and ``www``): a small PKI and an
HTTP(S) file server on 127.0.0.1 that serves CA, host and broken certificate files by name."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from firmware_model.certs import MAX_UPLOAD_BYTES
from testkit.peers import free_port
from testkit.pki import Issued, Pki


# ---------------------------------------------------------------------------------------------- PKI
@dataclass(frozen=True)
class Lab:
    pki: Pki
    ca: Issued  # "Lab Root CA": signs the file server's certificate and the host certificates
    host: Issued  # gw1.lab.example, signed by the lab CA
    server: Issued  # the file server: CN/SAN 127.0.0.1
    peer_ca: Issued  # a second CA to import by URL


@pytest.fixture(scope="module")
def lab() -> Lab:
    pki = Pki("rsa")
    ca = pki.ca("Lab Root CA")
    host = pki.leaf(ca, "gw1.lab.example", dns=("gw1.lab.example",), ips=("127.0.0.1",), key=pki.new_key())
    return Lab(pki, ca, host, pki.leaf(ca), pki.ca("Peer CA", key_index=2))


@pytest.fixture(scope="module")
def factory_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("factory")


# ---------------------------------------------------------------------------------------------- file server
@dataclass
class FileServer:
    """A tiny HTTP(S) file server on 127.0.0.1 (aiohttp): serves ``files`` by name and records requests."""

    files: dict[str, bytes] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)  # scheme -> base URL
    _runners: list[web.AppRunner] = field(default_factory=list)

    async def _handler(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.hits.append(name)
        if name not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[name], content_type="application/octet-stream")

    async def start(self, server: Issued, tmp: Path) -> None:
        cert, key = server.write(tmp / "www", "server")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        ctx.set_ciphers("DEFAULT")  # Python's server default has no suite of CS1 (the Cert transfer default)
        for scheme, sslctx in (("https", ctx), ("http", None)):
            app = web.Application()
            app.router.add_get("/{name}", self._handler)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port, ssl_context=sslctx).start()
            self._runners.append(runner)
            self.urls[scheme] = f"{scheme}://127.0.0.1:{port}"

    async def stop(self) -> None:
        for r in self._runners:
            await r.cleanup()

    def url(self, name: str, scheme: str = "https") -> str:
        return f"{self.urls[scheme]}/{name}"


async def file_server(lab: Lab, tmp: Path) -> FileServer:
    fs = FileServer()
    fs.files.update({
        "peer-ca.pem": lab.peer_ca.pem(),
        "gw1.p12": lab.host.p12(b"s3cret", [lab.ca.cert]),
        "gw1-bundle.pem": lab.host.pem() + lab.host.key_pem(),
        "garbage.pem": b"this is not a certificate\n" * 10,
        "huge.pem": b"0" * (MAX_UPLOAD_BYTES + 10),
    })
    await fs.start(lab.server, tmp)
    return fs


@pytest.fixture
async def www(lab: Lab, tmp_path: Path) -> AsyncIterator[FileServer]:
    fs = await file_server(lab, tmp_path)
    yield fs
    await fs.stop()



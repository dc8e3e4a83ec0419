"""A small scripted ACS for the CWMP tests (no ACS package is installable here).

It behaves like an ACS on the wire: a session starts with an Inform (answered with InformResponse and a
session cookie; later POSTs without the cookie are refused), optional HTTP Basic or Digest authentication of
the CPE (challenge on the Inform), ``HoldRequests`` in its answers when asked, TransferComplete and
GetRPCMethods from the CPE answered, then the RPCs queued by the test sent one per empty POST / CPE
response, and an empty 204 answer when the queue is empty (end of session). Every non-empty envelope the CPE
sends is recorded and, when schemas are given, validated against the Broadband Forum schemas.

Also: :func:`load_validator` (the cwmp-1-x schemas with the SOAP 1.1 schemas bundled by ``xmlschema``), and a
tiny file server for Download/Upload.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import aiohttp
import defusedxml.ElementTree as DET
import pytest
from aiohttp import web

from emulator.protocols.cwmp.session import digest_authorization, parse_challenge
from emulator.runtime.http import bound_port
from testkit.peers import REQUIRE_PEERS

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
REPO = Path(__file__).resolve().parents[2]


def xsd_dir() -> Path | None:
    env = os.environ.get("DGW_CWMP_XSD")
    d = Path(env) if env else REPO.parent / "shared" / "testdata" / "cwmp-xsd"
    return d if (d / "cwmp-1-0.xsd").exists() else None


class CwmpValidator:
    """Validates CPE envelopes against cwmp-1-0..1-4.xsd; the body element must be declared."""

    def __init__(self, directory: Path) -> None:
        import xmlschema

        wsdl = Path(xmlschema.__file__).parent / "schemas" / "WSDL"
        locations = {SOAP_ENV: str(wsdl / "soap-envelope.xsd"),
                     "http://schemas.xmlsoap.org/soap/encoding/": str(wsdl / "soap-encoding.xsd")}
        # cwmp-1-3 and cwmp-1-4 keep the namespace urn:dslforum-org:cwmp-1-2 (TR-069 Amendment 4/5) and pull
        # their predecessor in by its broadband-forum.org URL: read it locally. cwmp-1-4 both includes and
        # redefines cwmp-1-3, which xmlschema refuses to load; its only change is the ACS fault code 8006 (an ACS
        # message), so the cwmp-1-2 namespace is validated with cwmp-1-3.xsd (1-2 plus the 1-3 additions).
        mapper = {f"http://www.broadband-forum.org/cwmp/cwmp-1-{i}.xsd": (directory / f"cwmp-1-{i}.xsd").as_uri()
                  for i in range(5)}

        def load(path: Path) -> Any:
            return xmlschema.XMLSchema(str(path), locations=locations, uri_mapper=mapper)

        self.schemas: dict[str, Any] = {
            "urn:dslforum-org:cwmp-1-0": load(directory / "cwmp-1-0.xsd"),
            "urn:dslforum-org:cwmp-1-1": load(directory / "cwmp-1-1.xsd"),
            "urn:dslforum-org:cwmp-1-2": load(directory / "cwmp-1-3.xsd"),
        }

    def errors(self, data: bytes) -> list[str]:
        root = DET.fromstring(data)
        body = root.find(f"{{{SOAP_ENV}}}Body")
        if body is None or len(body) != 1:
            return ["no single Body element"]
        el = body[0]
        if el.tag == f"{{{SOAP_ENV}}}Fault":
            detail = el.find("detail")
            cf = detail[0] if detail is not None and len(detail) else None
            if cf is None:
                return ["SOAP Fault without a CWMP Fault"]
            ns = cf.tag[1:].split("}")[0]
        else:
            ns = el.tag[1:].split("}")[0]
        schema = self.schemas.get(ns)
        if schema is None:
            return [f"namespace {ns} is not a CWMP namespace"]
        name = (cf if el.tag.endswith("}Fault") else el).tag.split("}")[1]
        if name not in schema.elements:
            return [f"{name} is not declared in {ns}"]
        return [str(e.reason or e)[:500] for e in schema.iter_errors(data.decode())]


_VALIDATORS: dict[str, CwmpValidator] = {}


def load_validator() -> CwmpValidator | None:
    """The validator, or None when the schemas (DGW_CWMP_XSD) or the xmlschema package are missing."""
    d = xsd_dir()
    if d is None:
        return None
    try:
        import xmlschema  # noqa: F401
    except ImportError:
        return None
    v = _VALIDATORS.get(str(d))
    if v is None:
        v = _VALIDATORS[str(d)] = CwmpValidator(d)
    return v


def require_validator() -> CwmpValidator:
    """The validator; without the schemas a skip, or a failure under DGW_REQUIRE_PEERS=1."""
    v = load_validator()
    if v is None:
        msg = "Broadband Forum cwmp-1-x.xsd not found (set DGW_CWMP_XSD) or xmlschema not installed"
        if REQUIRE_PEERS:
            pytest.fail(msg)
        pytest.skip(msg)  # only without DGW_REQUIRE_PEERS=1 (it fails above)
    return v


@dataclass
class AcsSession:
    number: int
    inform: Element
    events: list[tuple[str, str]]
    params: dict[str, str]
    envelopes: list[bytes] = field(default_factory=list)
    responses: list[Element] = field(default_factory=list)  # answers to our RPCs (body element)
    cpe_requests: list[Element] = field(default_factory=list)  # TransferComplete...
    ended: bool = False


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(el: Element | None, name: str) -> str:
    if el is None:
        return ""
    for c in el.iter():
        if _local(c.tag) == name:
            return c.text or ""
    return ""


def gpv(*names: str) -> str:
    """A GetParameterValues RPC body."""
    items = "".join(f"<string>{n}</string>" for n in names)
    return f'<cwmp:GetParameterValues><ParameterNames soap-enc:arrayType="xsd:string[{len(names)}]">{items}' \
           "</ParameterNames></cwmp:GetParameterValues>"


def values(el: Any) -> dict[str, str]:
    """Name -> Value of the ParameterValueStructs in a GetParameterValuesResponse."""
    out = {}
    for s in el.iter():
        if s.tag.endswith("ParameterValueStruct"):
            name = next(c.text for c in s if c.tag.endswith("Name"))
            val = next(c.text or "" for c in s if c.tag.endswith("Value"))
            out[name] = val
    return out


async def connection_request(unit: Any, user: str, password: str) -> int:
    """A connection request to ``unit``'s Cwmp engine (TR-069 §3.2.2: HTTP GET, digest authentication)."""
    url = unit.listening["cwmp"]
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            if r.status != 401:
                return r.status
            _, ch = parse_challenge(r.headers["WWW-Authenticate"])
        path = "/" + url.split("/", 3)[3]
        auth = digest_authorization(ch, "GET", path, user, password, 1)
        async with http.get(url, headers={"Authorization": auth}) as r:
            return r.status


async def serve(app: web.Application, host: str, ssl_context: ssl.SSLContext | None) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on a kernel-chosen port of ``host``: the runner and the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await site.start()
    return runner, f"{'https' if ssl_context else 'http'}://{host}:{bound_port(site)}"


class TestAcs:
    """Scripted ACS on 127.0.0.1. ``queue(body)`` adds an RPC (body XML with the ``cwmp:`` prefix)."""

    __test__ = False

    def __init__(self, *, auth: tuple[str, str, str] | None = None, hold_requests: bool = False,
                 ns: str = "urn:dslforum-org:cwmp-1-0", validator: CwmpValidator | None = None,
                 host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.auth = auth  # (scheme "basic"|"digest", user, password)
        self.hold_requests = hold_requests
        self.ns = ns
        self.validator = validator
        self.host = host
        self.sessions: list[AcsSession] = []
        self.invalid: list[tuple[str, bytes]] = []
        self.protocol_errors: list[str] = []
        self.auth_failures = 0
        self._queue: list[str | bytes] = []
        self._by_cookie: dict[str, AcsSession] = {}
        self._nonce = secrets.token_hex(8)
        self._ids = 0
        self._informed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.inform_status = 200  # set e.g. to 503 to make Informs fail

    # -------------------------------------------------------------- life
    async def start(self) -> str:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/acs", self._post)
        self._runner, base = await serve(app, self.host, self.ssl_context)
        self.url = f"{base}/acs"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def queue(self, *bodies: str | bytes) -> None:
        """RPC bodies (text, wrapped in an envelope) or raw messages (bytes, sent as they are)."""
        self._queue.extend(bodies)

    async def wait_session(self, predicate: Any = None, timeout: float = 10.0, after: int = 0) -> AcsSession:
        """The first ended session (number > after) that matches predicate(session)."""

        def find() -> AcsSession | None:
            for s in self.sessions:
                if s.number > after and s.ended and (predicate is None or predicate(s)):
                    return s
            return None

        async with self._informed:
            await asyncio.wait_for(self._informed.wait_for(find), timeout)
        found = find()
        assert found is not None
        return found

    async def _notify(self) -> None:
        async with self._informed:
            self._informed.notify_all()

    # -------------------------------------------------------------- HTTP
    def _check_auth(self, request: web.Request) -> bool:
        if self.auth is None:
            return True
        scheme, user, pw = self.auth
        header = request.headers.get("Authorization", "")
        if scheme == "basic":
            import base64

            return header == "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
        if not header.startswith("Digest "):
            return False
        from emulator.protocols.cwmp.session import parse_challenge

        _, p = parse_challenge(header)
        if p.get("nonce") != self._nonce or p.get("username") != user:
            return False

        def md5(s: str) -> str:
            return hashlib.md5(s.encode()).hexdigest()

        ha1 = md5(f"{user}:acs:{pw}")
        ha2 = md5(f"POST:{p.get('uri', '')}")
        want = md5(f"{ha1}:{self._nonce}:{p.get('nc')}:{p.get('cnonce')}:auth:{ha2}")
        return p.get("qop") == "auth" and want == p.get("response")

    def _envelope(self, body: str, msg_id: str | None, hold: bool | None = None) -> bytes:
        hold = self.hold_requests if hold is None else hold
        header = f'<cwmp:ID soap-env:mustUnderstand="1">{msg_id}</cwmp:ID>' if msg_id else ""
        if hold:
            header += '<cwmp:HoldRequests soap-env:mustUnderstand="1">1</cwmp:HoldRequests>'
        return (
            f'<soap-env:Envelope xmlns:soap-env="{SOAP_ENV}" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/'
            f'encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/'
            f'XMLSchema-instance" xmlns:cwmp="{self.ns}"><soap-env:Header>{header}</soap-env:Header>'
            f"<soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"
        ).encode()

    def _xml(self, data: bytes) -> web.Response:
        return web.Response(body=data, content_type="text/xml", charset="utf-8")

    async def _post(self, request: web.Request) -> web.Response:
        data = await request.read()
        cookie = request.cookies.get("acs_session")
        session = self._by_cookie.get(cookie or "")
        if data.strip():
            root = DET.fromstring(data)
            body_el = root.find(f"{{{SOAP_ENV}}}Body")
            el = body_el[0] if body_el is not None and len(body_el) else None
            method = _local(el.tag) if el is not None else ""
            msg_id = _text(root.find(f"{{{SOAP_ENV}}}Header"), "ID") or None
            if self.validator is not None:
                errs = self.validator.errors(data)
                if errs:
                    self.invalid.append(("; ".join(errs), data))
        else:
            el, method, msg_id = None, "", None
        if method == "Inform":
            if not self._check_auth(request):
                if request.headers.get("Authorization"):
                    self.auth_failures += 1
                scheme = self.auth[0] if self.auth else "basic"
                challenge = ('Basic realm="acs"' if scheme == "basic" else
                             f'Digest realm="acs", qop="auth", nonce="{self._nonce}", algorithm=MD5')
                return web.Response(status=401, headers={"WWW-Authenticate": challenge})
            if self.inform_status != 200:
                return web.Response(status=self.inform_status)
            assert el is not None
            events = [(_text(e, "EventCode"), _text(e, "CommandKey")) for e in el.iter() if _local(e.tag) ==
                      "EventStruct"]
            params = {_text(p, "Name"): _text(p, "Value") for p in el.iter() if _local(p.tag) ==
                      "ParameterValueStruct"}
            session = AcsSession(len(self.sessions) + 1, el, events, params, [data])
            self.sessions.append(session)
            token = secrets.token_hex(8)
            self._by_cookie[token] = session
            resp = self._xml(self._envelope("<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes>"
                                            "</cwmp:InformResponse>", msg_id))
            resp.set_cookie("acs_session", token, path="/", httponly=True)
            return resp
        if session is None:
            self.protocol_errors.append(f"POST without session cookie ({method or 'empty'})")
            return web.Response(status=400, text="no session")
        if data.strip():
            session.envelopes.append(data)
        if method == "TransferComplete":
            assert el is not None
            session.cpe_requests.append(el)
            return self._xml(self._envelope("<cwmp:TransferCompleteResponse/>", msg_id))
        if method == "GetRPCMethods":
            return self._xml(self._envelope(
                '<cwmp:GetRPCMethodsResponse><MethodList soap-enc:arrayType="xsd:string[1]">'
                "<string>Inform</string></MethodList></cwmp:GetRPCMethodsResponse>", msg_id))
        if el is not None:
            session.responses.append(el)
        if self._queue:
            self._ids += 1
            item = self._queue.pop(0)
            return self._xml(item if isinstance(item, bytes) else self._envelope(item, f"acs-{self._ids}"))
        session.ended = True
        await self._notify()
        return web.Response(status=204)


class FileServer:
    """Serves files for Download (GET) and takes uploads (PUT), optional basic auth."""

    def __init__(self, host: str = "127.0.0.1", auth: tuple[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.host = host
        self.files: dict[str, bytes] = {}
        self.uploads: dict[str, bytes] = {}
        self.auth = auth
        self.base = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/{name}", self._get)
        app.router.add_put("/{name}", self._put)
        self._runner, self.base = await serve(app, self.host, self.ssl_context)
        return self.base

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorized(self, request: web.Request) -> bool:
        if self.auth is None:
            return True
        import base64

        want = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        return request.headers.get("Authorization") == want

    async def _get(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="files"'})
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data)

    async def _put(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="files"'})
        self.uploads[request.match_info["name"]] = await request.read()
        return web.Response(status=201)

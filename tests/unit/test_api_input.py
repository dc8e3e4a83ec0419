"""Hostile client input on the HTTP API is a 4xx with its kind, never a 500, and changes nothing
(issue 12, defects 5a to 5c): a lone surrogate in a value, a 5,000-digit number, a deeply nested body,
malformed HTTP on the API port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from emulator.engines.aaa import Aaa
from emulator.faces.api.server import ApiServer
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from tests.helpers.api_env import ADMIN, Env, _auth, _env

LONE = "\ud800"
DEEP = b"[" * 200_000 + b"]" * 200_000
LONG_NUMBER = b'{"value": ' + b"9" * 5000 + b"}"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for e in _env(tmp_path):
        yield e


async def _raw(env: Env, method: str, path: str, data: bytes) -> tuple[int, dict[str, object]]:
    headers = {**_auth(ADMIN), "Content-Type": "application/json"}
    async with env.c.session.request(method, env.c.url(path), data=data, headers=headers) as r:
        return r.status, json.loads(await r.read())


async def test_lone_surrogate_is_refused_and_nothing_breaks_after(env: Env, tmp_path: Path) -> None:
    before = env.unit.config.to_doc()
    body = json.dumps({"value": f"hi{LONE}"}).encode()  # JSON carries it as the escape "\ud800"
    for path in ("/api/v1/parameters/Cli.WelcomeMessage", "/api/v1/parameters/SipEp.UserAgent[Phone-Fax1].Username"):
        status, answer = await _raw(env, "PUT", path, body)
        assert (status, answer["kind"]) == (400, "invalid"), answer
        assert "Unicode" in str(answer["error"])
    status, answer = await _raw(env, "POST", "/api/v1/tables/Aaa.Users/rows",
                                json.dumps({"UserName": f"x{LONE}", "Password": "p"}).encode())
    assert (status, answer["kind"]) == (400, "invalid"), answer
    assert env.unit.config.to_doc() == before
    for path in ("/api/v1/parameters/Cli.WelcomeMessage", "/api/v1/tables/SipEp.UserAgent", "/api/v1/tables/Aaa.Users",
                 "/api/v1/scripts/export?content=AllConfig"):
        assert (await env.c.get(path)).status == 200, path
    # and after a restart of the unit (nothing was stored)
    await env.api.stop()
    await env.unit.stop()
    again = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    api = ApiServer(again, Aaa(again))
    await again.start()
    await api.start(0)
    try:
        env.c.base = again.listening["api"]
        assert (await env.c.get("/api/v1/scripts/export?content=AllConfig")).status == 200
        assert (await env.c.get("/api/v1/parameters/Cli.WelcomeMessage")).status == 200
    finally:
        await api.stop()
        await again.stop()
        await env.api.start(0)  # the fixture stops it again
        await env.unit.start()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/parameters/Cli.SshPort"),
        ("POST", "/api/v1/tables/Aaa.Users/rows"),
        ("PUT", "/api/v1/tables/SipEp.UserAgent/rows/Phone-Fax1"),
        ("POST", "/api/v1/endpoints/Phone-Fax1/dial"),
        ("POST", "/api/v1/endpoints/Phone-Fax1/transfer"),
        ("POST", "/api/v1/endpoints/Phone-Fax1/dtmf"),
        ("PUT", "/api/v1/endpoints/Phone-Fax1/media"),
        ("POST", "/api/v1/certificates/transfer"),
    ],
)
async def test_deep_or_long_bodies_are_bad_requests(env: Env, method: str, path: str) -> None:
    before = env.unit.config.to_doc()
    for data, words in ((DEEP, "nested too deeply"), (LONG_NUMBER, "not valid JSON")):
        status, answer = await _raw(env, method, path, data)
        assert (status, answer["kind"]) == (400, "bad-request"), (path, answer)
        assert words in str(answer["error"]), answer
    assert env.unit.config.to_doc() == before


@pytest.mark.parametrize("number", ["sip:", "sips:[", "sip:@:99999", f"1{LONE}", " "])
@pytest.mark.parametrize("action", ["dial", "transfer"])
async def test_a_number_the_call_layer_cannot_parse_is_invalid(env: Env, action: str, number: str) -> None:
    """A sip: URI that RFC 3261 section 25.1 refuses made the call layer raise UriError (answered 500)."""
    status, answer = await _raw(env, "POST", f"/api/v1/endpoints/Phone-Fax1/{action}",
                                json.dumps({"number": number}).encode())
    assert (status, answer["kind"]) == (400, "invalid"), answer
    assert str(answer["error"]).startswith(f"{action}: number: "), answer


async def test_long_numbers_in_text_are_invalid_values(env: Env) -> None:
    r = await env.c.put("/api/v1/parameters/Cli.SshPort", {"value": "9" * 5000})
    assert (r.status, r.body["kind"]) == (400, "invalid") and len(r.body["error"]) < 200
    r = await env.c.get("/api/v1/notifications?limit=" + "9" * 5000)
    assert (r.status, r.body["kind"]) == (400, "invalid")
    r = await env.c.get("/api/v1/notifications?since=%C2%B2")  # "²": a digit to str.isdigit, not to float()
    assert (r.status, r.body["kind"]) == (400, "invalid")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /api/v1/status HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host (RFC 9112 section 3.2)
        b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    ],
)
async def test_malformed_http_is_a_400_and_one_log_line(env: Env, request_bytes: bytes) -> None:
    host, port = env.c.base.removeprefix("http://").rsplit(":", 1)
    with capture_logs() as logs:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request_bytes)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert answer.split(b"\r\n", 1)[0].split()[1] == b"400", answer[:80]
    bad = [e for e in logs if e["event"] == "http_bad_request"]
    assert len(bad) == 1 and "exc_info" not in bad[0], logs
    assert not [e for e in logs if e.get("log_level") in ("error", "critical")], logs
    assert (await env.c.get("/api/v1/status")).status == 200


@pytest.mark.parametrize("user", [ADMIN, None])
async def test_a_body_that_cannot_be_decompressed_is_a_400_and_no_traceback(env: Env, user: object) -> None:
    headers = {**_auth(ADMIN if user else None), "Content-Type": "text/plain", "Content-Encoding": "gzip"}
    with capture_logs() as logs:
        async with env.c.session.post(env.c.url("/api/v1/scripts"), data=b"Cli.SshPort = 2200\n",
                                      headers=headers) as r:
            status = r.status
            answer = json.loads(await r.read())
        await asyncio.sleep(0.05)  # aiohttp reads what is left of the body after the answer
    assert (status, answer["kind"]) == ((400, "bad-request") if user else (401, "unauthorized")), answer
    assert not [e for e in logs if e.get("log_level") in ("error", "critical")], logs
    assert env.unit.config.get("Cli.SshPort") == 22

"""Malformed HTTP requests to a unit server (emulator.runtime.http): 400, one log line, no traceback."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import structlog
from aiohttp import web
from structlog.testing import capture_logs

from emulator.runtime.http import app_runner, bound_port, http_url, serve

BAD_REQUESTS = [
    b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host (RFC 9112 §3.2)
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(32) + b"\r\n\r\n",  # a TLS ClientHello
    b"GARBAGE\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
]


async def raw_request(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 5.0)
    finally:
        writer.close()


async def start_server(log: Any) -> tuple[web.AppRunner, int]:
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("a defect in a handler")

    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/broken", broken)
    return await serve(app, log, "127.0.0.1", 0)


@pytest.mark.parametrize("data", BAD_REQUESTS, ids=range(len(BAD_REQUESTS)))
async def test_a_malformed_request_gets_400_and_one_line(data: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with capture_logs() as events:
        runner, port = await start_server(structlog.get_logger("test.http"))
        try:
            answer = await raw_request(port, data)
            status_line = answer.split(b"\r\n", 1)[0]
            assert status_line in (b"HTTP/1.0 400 Bad Request", b"HTTP/1.1 400 Bad Request"), answer[:80]
            good = await raw_request(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert good.startswith(b"HTTP/1.1 200 ") and good.endswith(b"hello")
        finally:
            await runner.cleanup()
    lines = [e for e in events if e["event"].startswith("http_")]
    assert len(lines) == 1, events
    assert lines[0]["event"] == "http_bad_request" and lines[0]["status"] == 400
    assert lines[0]["peer"] == "127.0.0.1" and lines[0]["reason"]
    assert "exc_info" not in lines[0]
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


async def test_a_handler_defect_keeps_its_traceback() -> None:
    with capture_logs() as events:
        runner, port = await start_server(structlog.get_logger("test.http"))
        try:
            answer = await raw_request(port, b"GET /broken HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 500 ")
        finally:
            await runner.cleanup()
    errors = [e for e in events if e["event"] == "http_server_error"]
    assert len(errors) == 1
    exc_info = errors[0]["exc_info"]
    assert isinstance(exc_info, tuple) and isinstance(exc_info[1], RuntimeError)


async def test_bound_port_refuses_a_site_not_started() -> None:
    runner = app_runner(web.Application(), structlog.get_logger("test.http"))
    await runner.setup()
    try:
        with pytest.raises(RuntimeError):
            bound_port(web.TCPSite(runner, "127.0.0.1", 0))
    finally:
        await runner.cleanup()


async def test_serve_cleans_up_when_the_port_is_taken() -> None:
    runner, port = await serve(web.Application(), structlog.get_logger("test.http"), "127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            await serve(web.Application(), structlog.get_logger("test.http"), "127.0.0.1", port)
    finally:
        await runner.cleanup()
    assert http_url("127.0.0.1", port, "/x") == f"http://127.0.0.1:{port}/x"
    assert http_url("::1", 443, scheme="https") == "https://[::1]:443"

"""A tiny HTTP server of in-memory files for engine tests (the real servers, nginx and the others, are started by
the interop tests): GET answers the file or 404, and each requested path is recorded."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["FileServer", "serve_files"]


@dataclass(slots=True)
class FileServer:
    address: str  # host:port
    files: dict[str, bytes] = field(default_factory=dict)  # path without its leading "/" -> body
    hits: list[str] = field(default_factory=list)  # requested paths, in order

    @property
    def base(self) -> str:
        return f"http://{self.address}"


@asynccontextmanager
async def serve_files(host: str = "127.0.0.1", sock: socket.socket | None = None) -> AsyncIterator[FileServer]:
    """Serve on a free port of ``host``, or on a listening ``sock`` made by the caller (e.g. in a namespace)."""
    server = FileServer("")

    async def handler(request: web.Request) -> web.Response:
        server.hits.append(request.path)
        body = server.files.get(request.path.lstrip("/"))
        return web.Response(body=body) if body is not None else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await (web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, host, 0)).start()
    addr = runner.addresses[0]
    server.address = f"{addr[0]}:{addr[1]}"
    try:
        yield server
    finally:
        await runner.cleanup()

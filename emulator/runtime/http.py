"""aiohttp servers of a unit that refuse malformed requests quietly: a 400 answer and one structured log line.

aiohttp already answers a request it cannot parse (garbage request line, no Host header where HTTP/1.1
needs one, header line too long...) with 400 Bad Request (RFC 9112 §3, §3.2), but it writes the parser's
exception WITH its traceback through its ``aiohttp.server`` logger: one scan of a unit's port filled the log
with tracebacks that diagnose nothing. :class:`HttpErrorLogger` replaces that logger for one server: a parse
error becomes the single line ``http_bad_request`` (peer, status, reason); an exception escaping a request
handler (a defect of ours) keeps its traceback, rendered into the JSON line by the structlog chain of
:mod:`emulator.runtime.logging`.

How a server adopts it (the TR-069 connection-request server does; the API, the web interface and the
metrics endpoint can)::

    runner, port = await serve(app, unit.log.bind(server="api"), host, port, shutdown_timeout=2.0)
    url = http_url(host, port, "/")  # port: the kernel's choice when 0 was asked

or, for a runner with several sites (HTTP and HTTPS)::

    runner = app_runner(app, unit.log.bind(server="web"), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    port = bound_port(site)

``app_runner`` passes ``access_log=None`` and ``handle_signals=False`` as every unit server does; other
keyword arguments go to :class:`aiohttp.web.AppRunner` unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["HttpErrorLogger", "app_runner", "bound_port", "http_url", "serve"]


class HttpErrorLogger(logging.Logger):
    """The ``logger`` of aiohttp's request handler for one server, writing to a structlog logger.

    aiohttp calls ``logger.exception("Error handling request from %s", remote, exc_info=exc)`` for a
    request it could not parse or whose body it could not decode (``logger.debug`` for a non-HTTP first
    line); every call ends in :meth:`handle`, which sorts the records: parse errors -> one
    ``http_bad_request`` warning without traceback; debug chatter -> dropped; anything else ->
    ``http_server_error`` with the exception.
    """

    def __init__(self, log: Any, name: str = "dgw.http") -> None:
        super().__init__(name, logging.DEBUG)
        self.sink = log  # not "log": logging.Logger.log is a method
        self.propagate = False  # nothing reaches the root logger's handlers, hence no second, raw copy

    def handle(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, web.RequestPayloadError) and isinstance(exc.__cause__, HttpProcessingError):
            # A body aiohttp cannot decode (a Content-Encoding that is not what it says) is met after the answer,
            # while the rest of the body is read, and reported as a RequestPayloadError caused by the parse error.
            exc = exc.__cause__
        if isinstance(exc, HttpProcessingError):
            args = record.args if isinstance(record.args, tuple) else ()
            peer = str(args[0]) if args else None  # "Error handling request from %s" % request.remote
            self.sink.warning("http_bad_request", peer=peer, status=exc.code or 400,
                             reason=exc.message or type(exc).__name__)
        elif record.levelno > logging.DEBUG:
            self.sink.error("http_server_error", message=record.getMessage(), exc_info=record.exc_info or False)


def app_runner(app: web.Application, log: Any, **kwargs: Any) -> web.AppRunner:
    """An AppRunner for a unit server: no access log, no signal handlers, malformed requests logged by
    :class:`HttpErrorLogger` on ``log`` (a structlog logger, e.g. ``unit.log``)."""
    kwargs.setdefault("access_log", None)
    kwargs.setdefault("handle_signals", False)
    return web.AppRunner(app, logger=HttpErrorLogger(log), **kwargs)


def bound_port(site: web.BaseSite) -> int:
    """The port a started site listens on (the kernel's choice when it was given port 0)."""
    server = site._server  # aiohttp keeps the asyncio server private; its sockets are the truth
    sockets = getattr(server, "sockets", None) or []
    if not sockets:
        raise RuntimeError("the site is not listening")
    return int(sockets[0].getsockname()[1])


async def serve(app: web.Application, log: Any, host: str, port: int, *, reuse_address: bool | None = None,
                **kwargs: Any) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``(host, port)`` with :func:`app_runner` (``kwargs`` go to it): the runner, to clean
    up on stop, and the port bound. A port that cannot be bound raises, the runner cleaned up."""
    runner = app_runner(app, log, **kwargs)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=reuse_address)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, bound_port(site)


def http_url(host: str, port: int, path: str = "", scheme: str = "http") -> str:
    """``scheme://host:port/path`` with an IPv6 address in brackets (RFC 3986 §3.2.2)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{path}"

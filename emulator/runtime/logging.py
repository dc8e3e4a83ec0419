"""The process's log: one JSON object per line on stdout, for our structlog events and for the libraries'.

Configured once, at the edge (``dgw-emulator`` calls :func:`configure_logging`; a lab or a test may too).

* Our events (``unit.log.info("sntp_synchronized", server=...)``) go through the structlog chain: context
  variables, level, ISO UTC timestamp, then :func:`structlog.processors.dict_tracebacks`, so an
  event logged with ``exc_info`` (``log.exception(...)`` in an ``except`` block) carries its exception as a
  structured ``exception`` field (type, value, frames) instead of losing it, and finally JSON.
* Records of the standard ``logging`` module (aiohttp, asyncssh, asyncio's "Task exception was never
  retrieved", pysnmp) are formatted by :class:`structlog.stdlib.ProcessorFormatter` into the same JSON lines
  (``logger`` names the library), with their tracebacks the same way. Libraries are quieter than we are by
  default (``library_level``, WARNING): asyncssh and aiohttp report every connection at INFO.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

import structlog

__all__ = ["configure_logging", "level_number", "report_crash"]


def level_number(level: str | int) -> int:
    """``"info"`` / ``"WARNING"`` / ``20`` -> the ``logging`` level number (INFO for an unknown name)."""
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.upper())
    return number if isinstance(number, int) else logging.INFO


def _common() -> list[Any]:
    """Processors every line goes through, ours and the libraries'."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(level: str | int = "info", *, library_level: str | int = "warning",
                      stream: TextIO | None = None, cache: bool = True) -> logging.Handler:
    """Send our structlog events at ``level`` and the libraries' records at ``library_level`` (never more
    verbose than ``level``) to ``stream`` (stdout) as JSON lines. Returns the handler installed on the root
    logger (it replaces the root's handlers). ``cache=False`` keeps loggers re-reading the configuration,
    for tests that configure it more than once."""
    out = stream if stream is not None else sys.stdout
    ours = level_number(level)
    theirs = max(ours, level_number(library_level))
    render: list[Any] = [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    structlog.configure(
        processors=[*_common(), *render],
        wrapper_class=structlog.make_filtering_bound_logger(ours),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=cache,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_common(), structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
    ))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(theirs)
    logging.captureWarnings(True)  # warnings.warn(...) of a library: a JSON line too, not raw stderr text
    return handler


def report_crash(log: Any, event: str, **fields: Any) -> Callable[[asyncio.Task[Any]], None]:
    """A done-callback for an engine's long-lived task: an exception that ended it (never a cancellation)
    becomes one ``event`` at error level carrying the traceback, when it happens rather than when the task
    is collected (asyncio's "Task exception was never retrieved", if ever)."""

    def done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error(event, **fields, exc_info=exc)

    return done

"""The process's log on stdout, for our structlog events and for the libraries': one JSON object per line, or
lines for a person on a terminal (``fmt="console"``: structlog's console renderer, the unit's name first).

Configured once, at the edge (``dgw-emulator`` calls :func:`configure_logging`; a lab or a test may too).

* Our events (``unit.log.info("sntp_synchronized", server=...)``) go through the structlog chain: context
  variables, level, ISO UTC timestamp, then :func:`structlog.processors.dict_tracebacks`, so an
  event logged with ``exc_info`` (``log.exception(...)`` in an ``except`` block) carries its exception as a
  structured ``exception`` field (type, value, frames) instead of losing it, and finally JSON.
* Records of the standard ``logging`` module (aiohttp, asyncssh, asyncio's "Task exception was never
  retrieved", pysnmp) are formatted by :class:`structlog.stdlib.ProcessorFormatter` into the same JSON lines
  (``logger`` names the library), with their tracebacks the same way. Libraries are quieter than we are by
  default (``library_level``, WARNING): asyncssh and aiohttp report every connection at INFO.
* ``fmt``: ``json`` (the default: lines for programs), ``console`` (for a person), or ``auto`` (console when
  the stream is a terminal). ``processors`` run on our events just before they are rendered (the lab runner
  summarises a big lab's per-unit events there, so a thousand units do not flood a terminal).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import structlog

__all__ = ["LOG_FORMATS", "configure_logging", "console_renderer", "level_number", "report_crash"]

LOG_FORMATS = ("auto", "console", "json")


def level_number(level: str | int) -> int:
    """``"info"`` / ``"WARNING"`` / ``20`` -> the ``logging`` level number (INFO for an unknown name)."""
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.upper())
    return number if isinstance(number, int) else logging.INFO


def _common(console: bool = False) -> list[Any]:
    """Processors every line goes through, ours and the libraries'."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False) if console
        else structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def console_renderer(colors: bool) -> structlog.dev.ConsoleRenderer:
    """structlog's console renderer with the unit's name first (then time, level, event, the rest)."""
    renderer = structlog.dev.ConsoleRenderer(colors=colors, pad_event_to=24)
    columns = renderer.columns
    unit = structlog.dev.Column("unit", structlog.dev.KeyValueColumnFormatter(
        key_style=None, value_style="\x1b[36m" if colors else "", reset_style="\x1b[0m" if colors else "",
        value_repr=str, width=10))
    renderer.columns = [unit, *columns]
    return renderer


def configure_logging(level: str | int = "info", *, library_level: str | int = "warning",
                      stream: TextIO | None = None, cache: bool = True, fmt: str = "json",
                      processors: Sequence[Any] = ()) -> logging.Handler:
    """Send our structlog events at ``level`` and the libraries' records at ``library_level`` (never more
    verbose than ``level``) to ``stream`` (stdout) as JSON lines (``fmt``: see the module docstring).
    Returns the handler installed on the root logger (it replaces the root's handlers). ``cache=False``
    keeps loggers re-reading the configuration, for tests that configure it more than once."""
    out = stream if stream is not None else sys.stdout
    ours = level_number(level)
    theirs = max(ours, level_number(library_level))
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    render: list[Any] = ([console_renderer(colors=out.isatty())] if console
                         else [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()])
    structlog.configure(
        processors=[*_common(console), *processors, *render],
        wrapper_class=structlog.make_filtering_bound_logger(ours),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=cache,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_common(console), structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
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

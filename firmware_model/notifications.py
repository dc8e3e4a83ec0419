"""The numbered notification catalog, the notification event type and the Nlm message format.

A notification is identified by its service (text key, e.g. ``SipEp``; numeric key 1400) and its
message id within that service (e.g. 303). Its text template uses ``{field}`` placeholders filled
from the keyword fields given when it is raised.

The catalog is data, ``catalog/notifications.toml``:
  * texts the hardware is known to send (``addition=False``), kept character for character:
    SipEp 303 and 310, Mipt 110, Isdn 5;
  * emulator additions (``addition=True``): our own wording, message ids 9000-9999 in every
    service (a range the known hardware ids never reach), so criteria such as ``1400.9001`` can
    name them.

Severities of the hardware texts are not documented; the emulator's choice is Warning for the
SIP link messages (so that, with the factory ``MinSeverity`` of Warning, they reach syslog as the
vendor procedure shows) and Error for the SRTP decoding failure.

The line format (``Nlm.SyslogMessageFormat``) is implemented by :func:`format_line`: macros are
``%name`` with an optional printf-like ``[-][Width][.Precision]`` between ``%`` and the name.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "EVENT_MACROS",
    "LOCAL_LOG_SEVERITY",
    "NOTIFICATIONS",
    "SEVERITIES",
    "SYSLOG_SEVERITY",
    "UNIT_MACROS",
    "NotificationDef",
    "NotificationEvent",
    "compile_format",
    "format_line",
    "get_notification",
    "render_message",
    "template_fields",
]

# DGW severities (MinSeverity / local log), lowest to highest.
SEVERITIES: dict[str, int] = {"Debug": 100, "Info": 200, "Warning": 300, "Error": 400, "Critical": 500}

# Nlm.LocalLogMessages.Severity spells the 200 level "Information".
LOCAL_LOG_SEVERITY: dict[str, str] = {
    "Debug": "Debug", "Info": "Information", "Warning": "Warning", "Error": "Error", "Critical": "Critical",
}

# RFC 5424 §6.2.1 numeric severities (emulator choice: the DGW mapping is not documented).
SYSLOG_SEVERITY: dict[str, int] = {"Critical": 2, "Error": 3, "Warning": 4, "Info": 6, "Debug": 7}


@dataclass(frozen=True, slots=True)
class NotificationDef:
    service: str  # text key, e.g. "SipEp"
    msg_id: int
    severity: str  # a key of SEVERITIES
    template: str  # text with {field} placeholders
    addition: bool = False  # text chosen by the emulator (the hardware's is not known)


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    service: str  # text key
    numkey: int  # service numeric key (%serviceid)
    service_name: str  # display name (%servicename)
    msg_id: int
    severity: str
    message: str  # rendered template (%message)
    time: float  # unit clock, UTC epoch seconds
    fields: dict[str, Any] = field(default_factory=dict)


def _load_catalog() -> tuple[NotificationDef, ...]:
    """The entries of ``catalog/notifications.toml``, hardware texts first, in the file's order."""
    data = tomllib.loads(_CATALOG_FILE.read_text(encoding="utf-8"))
    defs = tuple(
        NotificationDef(service, int(msg_id), severity, template, addition=group == "additions")
        for group in ("hardware", "additions")
        for service, entries in data[group].items()
        for msg_id, (severity, template) in entries.items()
    )
    for d in defs:
        if d.severity not in SEVERITIES:
            raise ValueError(f"notification {d.service} {d.msg_id}: unknown severity {d.severity!r}")
    return defs


_CATALOG_FILE = Path(__file__).with_name("catalog") / "notifications.toml"
_DEFS = _load_catalog()

NOTIFICATIONS: dict[tuple[str, int], NotificationDef] = {(d.service, d.msg_id): d for d in _DEFS}
_BY_LOWER: dict[tuple[str, int], NotificationDef] = {(d.service.lower(), d.msg_id): d for d in _DEFS}


def get_notification(service: str, msg_id: int) -> NotificationDef:
    """The catalog entry of ``(service text key, msg_id)`` (service name case-insensitive).

    Raises ``KeyError`` for an unknown pair: raising a notification the catalog lacks is a
    programming error."""
    try:
        return _BY_LOWER[(service.lower(), int(msg_id))]
    except KeyError:
        raise KeyError(f"unknown notification {service} {msg_id}") from None


def template_fields(defn: NotificationDef) -> tuple[str, ...]:
    """The ``{field}`` names a template needs, in order of first use."""
    names: list[str] = []
    for _lit, name, _spec, _conv in string.Formatter().parse(defn.template):
        if name is not None and name not in names:
            names.append(name)
    return tuple(names)


def render_message(defn: NotificationDef, fields: dict[str, Any]) -> str:
    """Fill the template; a missing field raises ``KeyError`` naming it."""
    for name in template_fields(defn):
        if name not in fields:
            raise KeyError(f"notification {defn.service} {defn.msg_id} needs field {name!r}")
    return defn.template.format_map(fields)


# ------------------------------------------------------------------ Nlm.SyslogMessageFormat
EVENT_MACROS: tuple[str, ...] = ("msgid", "serviceid", "servicetextkey", "servicename", "message")
# Values provided by the unit (Unit.macros()); product/productseries are emulator extras.
UNIT_MACROS: tuple[str, ...] = ("mac", "serial", "mfpname", "version", "profile", "product", "productseries")
_ALL_MACROS = sorted(EVENT_MACROS + UNIT_MACROS, key=len, reverse=True)  # longest name wins
_SPEC = re.compile(r"(-?)(\d*)(?:\.(\d+))?([a-z]+)")


@dataclass(frozen=True, slots=True)
class _Macro:
    name: str
    width: int | None = None
    precision: int | None = None
    left: bool = False

    def apply(self, value: str) -> str:
        if self.precision is not None:
            value = value[: self.precision]
        if self.width is not None:
            value = value.ljust(self.width) if self.left else value.rjust(self.width)
        return value


Segment = str | _Macro


@lru_cache(maxsize=256)
def compile_format(fmt: str) -> tuple[Segment, ...]:
    """Split a format into literal text and macros.

    ``%%`` is a percent sign. After ``%`` come an optional ``-`` (left-justify), an optional
    width, an optional ``.precision`` (the most characters kept), then a macro name; when the
    letters go on past a macro name (``%messages``) the longest known name is taken and the
    rest is literal text. A ``%`` not followed by a known macro stays as written. Macro names are
    lower case. Every value is handled as text (``%5msgid`` pads with spaces)."""
    out: list[Segment] = []
    lit: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            lit.append(ch)
            i += 1
            continue
        if fmt.startswith("%%", i):
            lit.append("%")
            i += 2
            continue
        m = _SPEC.match(fmt, i + 1)
        name = None
        if m:
            name = next((k for k in _ALL_MACROS if m.group(4).startswith(k)), None)
        if m is None or name is None:
            lit.append("%")
            i += 1
            continue
        if lit:
            out.append("".join(lit))
            lit = []
        width = int(m.group(2)) if m.group(2) else None
        precision = int(m.group(3)) if m.group(3) is not None else None
        out.append(_Macro(name, width, precision, bool(m.group(1))))
        i = m.start(4) + len(name)
    if lit:
        out.append("".join(lit))
    return tuple(out)


def format_line(fmt: str, ev: NotificationEvent, macros: dict[str, str]) -> str:
    """Render one notification with ``Nlm.SyslogMessageFormat``.

    ``macros`` holds the unit's values (``Unit.macros()``); a unit macro it lacks renders empty."""
    values = {
        "msgid": str(ev.msg_id),
        "serviceid": str(ev.numkey),
        "servicetextkey": ev.service,
        "servicename": ev.service_name,
        "message": ev.message,
    }
    parts: list[str] = []
    for seg in compile_format(fmt):
        if isinstance(seg, str):
            parts.append(seg)
        else:
            value = values[seg.name] if seg.name in values else str(macros.get(seg.name, ""))
            parts.append(seg.apply(value))
    return "".join(parts)

"""The numbered notification catalog, the notification event type and the Nlm message format.

A notification is identified by its service (text key, e.g. ``SipEp``; numeric key 1400) and its
message id within that service (e.g. 303). Its text template uses ``{field}`` placeholders filled
from the keyword fields given when it is raised.

Catalog sources:
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
from dataclasses import dataclass, field
from functools import lru_cache
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


def _d(service: str, msg_id: int, severity: str, template: str, addition: bool = True) -> NotificationDef:
    return NotificationDef(service, msg_id, severity, template, addition)


_CERT_REFUSED = "The certificate presented by {peer} was refused: "

_DEFS: tuple[NotificationDef, ...] = (
    # ---- texts of the hardware (character for character) -------------------------------------
    _d("SipEp", 303, "Warning",
       "TLS connection with remote host {host}:{port} is now ready to be used for SIP gateway {gateway}.", False),
    _d("SipEp", 310, "Warning", "Server {host}:{port} is now reachable for SIP gateway {gateway}.", False),
    _d("Mipt", 110, "Error",
       "The call {call} on endpoint {endpoint} detected an SRTP cryptographic error. "
       "The secured RTP stream is not properly decoded.", False),
    _d("Isdn", 5, "Warning", "Physical link state changed to up", False),
    # ---- emulator additions (ids 9000-9999) ---------------------------------------------------
    # Scm: service lifecycle ({name}: "service" and "msg_id" are the raising call's own arguments)
    _d("Scm", 9001, "Info", "The {name} service has started."),
    _d("Scm", 9002, "Warning", "The {name} service has stopped."),
    _d("Scm", 9003, "Info", "The {name} service has been restarted."),
    # Conf: configuration scripts, factory reset
    _d("Conf", 9001, "Info", "Configuration script from {source} applied: {applied} of {total} lines."),
    _d("Conf", 9002, "Error",
       "Configuration script from {source} rejected: {failed} of {total} lines in error, nothing changed."),
    _d("Conf", 9003, "Warning", "The configuration was restored to its factory values."),
    # Conf: script transfers, export, configuration images (the vendor's Conf texts are not documented)
    _d("Conf", 9010, "Info", "The {kind} configuration script {url} was transferred ({size} bytes, {trigger})."),
    _d("Conf", 9011, "Error", "Transfer of the {kind} configuration script {url} failed ({trigger}): {reason}."),
    _d("Conf", 9012, "Warning", "Script server of {url} unreachable ({reason}); retry {attempt} in {delay} s."),
    _d("Conf", 9013, "Info", "The {kind} configuration script {url} was executed: {applied} lines applied."),
    _d("Conf", 9014, "Error", "The {kind} configuration script {url} was refused, nothing applied: {reason}."),
    _d("Conf", 9015, "Info", "The {kind} configuration script {url} is the last one executed: not run again."),
    _d("Conf", 9016, "Info", "The configuration script was exported to {url} ({size} bytes)."),
    _d("Conf", 9017, "Error", "Export of the configuration script to {url} failed: {reason}."),
    _d("Conf", 9018, "Info", "Configuration backup ({content}) saved to {url}."),
    _d("Conf", 9019, "Error", "Configuration backup to {url} failed: {reason}."),
    _d("Conf", 9020, "Info", "Configuration restored from {url}."),
    _d("Conf", 9021, "Error", "Configuration restore from {url} failed ({status}): {reason}."),
    # Aaa: logins
    _d("Aaa", 9001, "Warning", "User {user} locked out for {seconds} s after {failures} failed logins."),
    _d("Aaa", 9002, "Warning", "Failed login of user {user} from {peer} through {face}."),
    # Cli: sessions
    _d("Cli", 9001, "Info", "CLI session of user {user} from {peer} opened."),
    _d("Cli", 9002, "Info", "CLI session of user {user} from {peer} closed."),
    # Nlm / Snmp: unreachable destinations
    _d("Nlm", 9001, "Warning", "Remote syslog host {host} cannot be reached from this unit ({reason})."),
    _d("Snmp", 9001, "Warning", "SNMP trap destination {host} cannot be reached from this unit ({reason})."),
    # Hoc: time
    _d("Hoc", 9001, "Info", "Time synchronized with SNTP server {server}."),
    _d("Hoc", 9002, "Warning", "Time synchronization with SNTP server {server} failed ({reason})."),
    _d("Hoc", 9003, "Warning", "The system time is not synchronized."),
    # Cert: validation refusals (one id per reason, so criteria can select them)
    _d("Cert", 9001, "Error", _CERT_REFUSED + "it has expired."),
    _d("Cert", 9002, "Error", _CERT_REFUSED + "it is not valid yet."),
    _d("Cert", 9003, "Error", _CERT_REFUSED + "its issuer is not trusted."),
    _d("Cert", 9004, "Error", _CERT_REFUSED + "it does not name {expected}."),
    _d("Cert", 9005, "Error", _CERT_REFUSED + "it has been revoked."),
    _d("Cert", 9006, "Error", _CERT_REFUSED + "the system time is not synchronized."),
    _d("Cert", 9007, "Error", _CERT_REFUSED + "{reason}."),
    _d("Cert", 9008, "Warning",
       "TLS cipher suites {suites} of {cipher_set} for {service_name} cannot be offered by this unit "
       "and were dropped."),
    _d("Cert", 9009, "Warning",
       "The TLS version floor {floor} of {service_name} is not available on this unit; "
       "{effective} is used instead."),
    _d("Cert", 9010, "Info", "{kind} certificate {file_name} ({issued_to}) imported."),
    _d("Cert", 9011, "Info", "{kind} certificate {file_name} ({issued_to}) deleted."),
    _d("Cert", 9012, "Warning", "{kind} certificate import refused: {reason}."),
    # SipEp: gateway states
    _d("SipEp", 9001, "Warning", "Server {host}:{port} is unreachable for SIP gateway {gateway}."),
    _d("SipEp", 9002, "Warning", "SIP gateway {gateway} is waiting for time synchronization."),
    _d("SipEp", 9004, "Info",
       "Endpoint {endpoint} is registered as {username} with registrar {registrar} for SIP gateway {gateway}."),
    _d("SipEp", 9005, "Warning",
       "Registration of endpoint {endpoint} as {username} with registrar {registrar} for SIP gateway {gateway} "
       "failed: {status} {reason}."),
    _d("SipEp", 9006, "Error",
       "Authentication of endpoint {endpoint} as {username} with registrar {registrar} for SIP gateway {gateway} "
       "failed."),
    _d("SipEp", 9007, "Error",
       "TLS connection with remote host {host}:{port} refused for SIP gateway {gateway}: {reason}."),
    _d("SipEp", 9008, "Warning",
       "TLS connection with remote host {host}:{port} for SIP gateway {gateway} was lost ({reason})."),
    # SipEp: server resolution (RFC 3263) and failover
    _d("SipEp", 9009, "Warning", "SIP gateway {gateway} fails over from server {old} to {new} ({reason})."),
    _d("SipEp", 9010, "Error", "Server {host} cannot be resolved for SIP gateway {gateway} ({reason})."),
    # Fpu: firmware packs (the vendor's Fpu texts are not documented)
    _d("Fpu", 9001, "Info", "Firmware pack download from {url} started."),
    _d("Fpu", 9002, "Info", "Firmware {name} ({version}) installed in the {bank} bank; it runs after a restart."),
    _d("Fpu", 9003, "Error", "Firmware installation from {url} failed, running bank untouched: {reason}."),
    _d("Fpu", 9004, "Warning", "The unit restarts to finish the firmware {action}."),
    _d("Fpu", 9005, "Info", "Rollback to firmware {version} in the {bank} bank; it runs after a restart."),
    _d("Fpu", 9006, "Error", "Firmware rollback refused: {reason}."),
    _d("Fpu", 9007, "Info", "Firmware {version} ({name}) is running from the {bank} bank."),
    _d("Fpu", 9008, "Warning", "The firmware restart waits for {calls} call(s) to end, {minutes} min at most."),
    # Mipt: the wording of the hardware's SdpTools log line, raised as a notification
    _d("Mipt", 9001, "Warning",
       "SdpTools [D3A2] Received the wrong key management protocol. Secure stream disabled."),
)

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

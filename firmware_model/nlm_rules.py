"""Nlm routing rules, severity filter, local log and syslog framing (pure; no I/O, no asyncio).

``Nlm.Events`` rows route each notification to actions. ``Criteria`` is a comma-separated list of
terms ``<ServiceNumKey|All>.<NotificationNumKey|SeverityLetter|All>`` (no spaces around the dot;
spaces around commas are tolerated). A term preceded by ``-`` is an exclusion.

Decisions (the vendor text leaves them open):
  * A number after the dot is always a notification id, never a severity value: in the vendor
    example ``1850.All,1600.200,1600.W,-1850.500,1600.300``, ``1600.200`` is Mipt notification
    200 and ``-1850.500`` excludes Isdn notification 500. Severities are written with letters.
  * A severity letter means exactly that severity (``W`` = Warning only, not "Warning and
    above"): the per-service ``MinSeverity`` is already the threshold, and "at least Warning" is
    written ``1600.W,1600.E,1600.C``. Letters: ``C`` Critical, ``E`` Error, ``W`` Warning,
    ``I`` Info, ``D`` Debug. Letters and ``All`` are accepted in any case.
  * The ``-`` applies to its own term only; a notification matches when some inclusion term
    matches and no exclusion term does (exclusions win). ``All`` alone (or as a term) is
    ``All.All``. A criteria with only exclusions matches nothing.
  * Empty (or blank) criteria are valid and match nothing.
  * A service number that is not a DGW service numkey makes the criteria invalid (a typo);
    any notification number is accepted (the emulator's catalog is not the hardware's).
  * Several rules with the same action deliver a notification once through that action.

Remote syslog framing (facility and header are not documented for the DGW) is RFC 3164 §4.1:
``<PRI>Mmm dd hh:mm:ss HOSTNAME `` followed by the formatted line, facility local0 (16), the
timestamp in the unit's local time, at most 1024 bytes.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from firmware_model.notifications import LOCAL_LOG_SEVERITY, SEVERITIES, SYSLOG_SEVERITY, NotificationEvent
from firmware_model.schema import split_host_port

__all__ = [
    "ACTIONS_SUPPORTED",
    "FACILITY_LOCAL0",
    "LOCAL_LOG_MAX_ENTRIES",
    "SEVERITY_LETTERS",
    "SYSLOG_DEFAULT_PORT",
    "SYSLOG_MAX_BYTES",
    "Criteria",
    "CriteriaError",
    "EventRule",
    "LocalLog",
    "Term",
    "compile_rules",
    "file_logging_supported",
    "log_file_names",
    "parse_criteria",
    "parse_remote_host",
    "passes_min_severity",
    "rfc3164_timestamp",
    "route",
    "syslog_packet",
]

SEVERITY_LETTERS: dict[str, str] = {"C": "Critical", "E": "Error", "W": "Warning", "I": "Info", "D": "Debug"}
FACILITY_LOCAL0 = 16
SYSLOG_DEFAULT_PORT = 514
SYSLOG_MAX_BYTES = 1024  # RFC 3164 §4.1
LOCAL_LOG_MAX_ENTRIES = 200  # emulator choice
ACTIONS_SUPPORTED = frozenset({"SendViaSyslog", "LogLocally", "LogToFile"})  # SendViaSip: NotSupported

_TERM = re.compile(r"^(-?)(all|\d+)\.(all|\d+|[cewid])$", re.IGNORECASE)
_ALL_TERM = re.compile(r"^(-?)all$", re.IGNORECASE)


class CriteriaError(ValueError):
    """Criteria text that does not follow the grammar; the message says which term."""


@dataclass(frozen=True, slots=True)
class Term:
    service: int | None  # numkey; None = All
    msg_id: int | None = None  # a notification id
    severity: str | None = None  # a SEVERITIES key
    exclude: bool = False

    def matches(self, numkey: int, msg_id: int, severity: str) -> bool:
        if self.service is not None and self.service != numkey:
            return False
        if self.msg_id is not None:
            return self.msg_id == msg_id
        if self.severity is not None:
            return self.severity == severity
        return True


@dataclass(frozen=True, slots=True)
class Criteria:
    include: tuple[Term, ...] = ()
    exclude: tuple[Term, ...] = ()

    def matches(self, numkey: int, msg_id: int, severity: str) -> bool:
        if not any(t.matches(numkey, msg_id, severity) for t in self.include):
            return False
        return not any(t.matches(numkey, msg_id, severity) for t in self.exclude)


def parse_criteria(text: str, services: Collection[int] | None = None) -> Criteria:
    """Parse ``Nlm.Events.Criteria``; ``services`` are the known numkeys (None: accept any)."""
    if not text.strip():
        return Criteria()
    include: list[Term] = []
    exclude: list[Term] = []
    for raw in text.split(","):
        term_text = raw.strip()
        m_all = _ALL_TERM.match(term_text)
        if m_all:
            term = Term(None, exclude=bool(m_all.group(1)))
        else:
            m = _TERM.match(term_text)
            if m is None:
                raise CriteriaError(f"{term_text!r} is not <service|All>.<notification|C|E|W|I|D|All>")
            neg, svc, what = m.groups()
            service = None if svc.lower() == "all" else int(svc)
            if service is not None and services is not None and service not in services:
                raise CriteriaError(f"{term_text!r}: {service} is not a service number")
            if what.lower() == "all":
                term = Term(service, exclude=bool(neg))
            elif what.isdigit():
                term = Term(service, msg_id=int(what), exclude=bool(neg))
            else:
                term = Term(service, severity=SEVERITY_LETTERS[what.upper()], exclude=bool(neg))
        (exclude if term.exclude else include).append(term)
    return Criteria(tuple(include), tuple(exclude))


# ------------------------------------------------------------------ Nlm.Events rules
@dataclass(frozen=True, slots=True)
class EventRule:
    index: int
    enabled: bool
    action: str
    criteria: Criteria | None  # None when invalid
    status: str  # Nlm.Events.ConfigStatus: Valid | Invalid | NotSupported
    reason: str = ""

    @property
    def active(self) -> bool:
        return self.enabled and self.status == "Valid" and self.criteria is not None


def file_logging_supported(series: str, product: str) -> bool:
    """Whether the model can log notifications to files (not on the C7 series nor the 4102S)."""
    return series != "C7" and not product.endswith("4102S")


def compile_rules(
    rows: Iterable[Mapping[str, Any]],
    services: Collection[int] | None = None,
    supported: Collection[str] = ACTIONS_SUPPORTED,
) -> list[EventRule]:
    """Rows of ``Nlm.Events`` -> rules with their ConfigStatus. Invalid criteria win over an
    unsupported action (the row is wrong whatever the model)."""
    out: list[EventRule] = []
    for row in rows:
        action = str(row.get("Action") or "SendViaSyslog")
        enabled = str(row.get("Activation") or "Enable") == "Enable"
        try:
            criteria: Criteria | None = parse_criteria(str(row.get("Criteria") or ""), services)
            status, reason = "Valid", ""
        except CriteriaError as e:
            criteria, status, reason = None, "Invalid", str(e)
        if status == "Valid" and action not in supported:
            status, reason = "NotSupported", f"{action} is not supported on this model"
        out.append(EventRule(int(row["Index"]), enabled, action, criteria, status, reason))
    return sorted(out, key=lambda r: r.index)


def route(rules: Iterable[EventRule], ev: NotificationEvent) -> list[str]:
    """The actions a notification goes to, each once, in the order of the first rule naming it."""
    actions: list[str] = []
    for r in rules:
        if r.active and r.action not in actions and r.criteria is not None:
            if r.criteria.matches(ev.numkey, ev.msg_id, ev.severity):
                actions.append(r.action)
    return actions


def passes_min_severity(min_severity: str, severity: str) -> bool:
    """``<Svc>.MinSeverity`` filter: Disable lets nothing through; otherwise severity >= minimum."""
    if min_severity == "Disable":
        return False
    return SEVERITIES[severity] >= SEVERITIES.get(min_severity, SEVERITIES["Warning"])


# ------------------------------------------------------------------ local log
@dataclass
class LocalLog:
    """``Nlm.LocalLogMessages``: the most recent entries, oldest dropped first. ``Index`` keeps
    growing (an entry keeps its index while it stays in the log)."""

    max_entries: int = LOCAL_LOG_MAX_ENTRIES
    _entries: deque[dict[str, Any]] = field(default_factory=deque)
    _next: int = 1

    def add(self, ev: NotificationEvent, local_time: str) -> dict[str, Any]:
        row = {
            "Index": self._next,
            "LocalTime": local_time,
            "ServiceNumkey": ev.numkey,
            "NotificationId": ev.msg_id,
            "Severity": LOCAL_LOG_SEVERITY[ev.severity],
            "ServiceTextkey": ev.service,
            "Message": ev.message,
        }
        self._next += 1
        self._entries.append(row)
        while len(self._entries) > self.max_entries:
            self._entries.popleft()
        return row

    def rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._entries]

    def count(self, severity: str) -> int:
        """Entries of one local-log severity label (``Error``, ``Critical``...)."""
        return sum(1 for r in self._entries if r["Severity"] == severity)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# ------------------------------------------------------------------ log files
def log_file_names(base: str, max_nb: int) -> list[str]:
    """Files of LogToFile, newest first: ``<base>.log``, ``<base>.1.log`` ... (``max_nb`` in all).
    The base is reduced to a plain file name (no directories)."""
    base = base.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in ("", ".", ".."):
        base = "Notifications"
    return [f"{base}.log"] + [f"{base}.{i}.log" for i in range(1, max(1, max_nb))]


# ------------------------------------------------------------------ remote syslog
def parse_remote_host(text: str) -> tuple[str, int] | None:
    """``Nlm.SyslogRemoteHost`` -> (host, port); no port or port 0 -> 514; empty -> None."""
    text = text.strip()
    if not text:
        return None
    host, port = split_host_port(text)
    if not host:
        return None
    return host, port or SYSLOG_DEFAULT_PORT


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc3164_timestamp(local_time: str) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (Unit.local_time) -> ``Mmm dd hh:mm:ss`` (day space-padded)."""
    date, _, clock = local_time.partition(" ")
    _year, month, day = date.split("-")
    return f"{_MONTHS[int(month) - 1]} {int(day):2d} {clock}"


def syslog_packet(severity: str, local_time: str, hostname: str, line: str,
                  facility: int = FACILITY_LOCAL0) -> bytes:
    """One RFC 3164 datagram, cut to SYSLOG_MAX_BYTES on a character boundary."""
    pri = facility * 8 + SYSLOG_SEVERITY[severity]
    host = "".join(c if 32 < ord(c) < 127 else "-" for c in hostname) or "-"
    line = line.replace("\r", " ").replace("\n", " ")  # one datagram, one line
    data = f"<{pri}>{rfc3164_timestamp(local_time)} {host} {line}".encode()
    if len(data) > SYSLOG_MAX_BYTES:
        data = data[:SYSLOG_MAX_BYTES].decode("utf-8", "ignore").encode()
    return data

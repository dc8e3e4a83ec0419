"""Call diversion information in SIP, sans-IO: the Diversion header (RFC 5806) a forwarding unit writes and any
unit reads, and History-Info (RFC 7044) read as well.

* :class:`Diversion` is one diversion: the address the call was diverted *from*, why (``reason``: the RFC 5806
  values, e.g. ``unconditional``, ``user-busy``, ``no-answer``) and how many times (``counter``). Its
  :meth:`~Diversion.header` is the field value; several diversions of one call are listed most recent first.
* :func:`parse_diversion` reads the Diversion field values of a message (several fields, or comma-separated
  entries in one), leaving out entries that do not parse (a peer's garbage is not ours to refuse).
* :func:`parse_history_info` reads History-Info entries (``hi-targeted-to-uri``, ``index``, and the cause:
  RFC 4458's ``cause`` URI parameter, or the SIP cause of an escaped ``Reason`` URI header).
* :func:`original_called` is what a called unit shows of it: the party first called and why the call left it —
  the oldest Diversion entry (the last listed), else the first History-Info entry with the cause its successor
  carries, mapped to the RFC 5806 reason (RFC 4458 §3: 302 unconditional, 486 user-busy, 408 no-answer...).

The DGW's ``SipEp.DiversionConfig.Method`` knows only ``None`` and ``DiversionHeader``: History-Info is read,
never written.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

from emulator.protocols.sip.errors import SipParseError
from emulator.protocols.sip.headers import Address, parse_address, split_commas

__all__ = [
    "CAUSE_REASONS",
    "REASONS",
    "Diversion",
    "HistoryEntry",
    "listed_addresses",
    "original_called",
    "parse_diversion",
    "parse_history_info",
]

#: RFC 5806 §4 diversion-reason values (an unknown token is kept as written).
REASONS = ("unknown", "user-busy", "no-answer", "unavailable", "unconditional", "time-of-day", "do-not-disturb",
           "deflection", "follow-me", "out-of-service", "away")

#: RFC 4458 §3 cause values (History-Info targets) as RFC 5806 reasons.
CAUSE_REASONS = {302: "unconditional", 486: "user-busy", 408: "no-answer", 480: "deflection", 487: "deflection",
                 404: "unknown", 503: "unavailable"}


@dataclass(frozen=True, slots=True)
class Diversion:
    """One diversion of a call (RFC 5806 §4)."""

    uri: str
    reason: str = "unknown"
    counter: int = 1
    display_name: str | None = None

    def header(self) -> str:
        """The Diversion field value: ``<uri>;reason=...;counter=N`` (a display name quoted before it)."""
        name = f'"{self.display_name}" ' if self.display_name else ""
        return f"{name}<{self.uri}>;reason={self.reason};counter={self.counter}"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One History-Info entry (RFC 7044 §4): the target, its index, and the cause of leaving the previous one."""

    uri: str
    index: str
    cause: int | None = None


def listed_addresses(values: list[str], header: str) -> Iterator[Address]:
    """The ``name-addr`` entries of a list header's field values, those that do not parse read past."""
    for value in values:
        for entry in split_commas(value):
            try:
                yield parse_address(entry, header)
            except SipParseError:
                continue


def parse_diversion(values: list[str]) -> list[Diversion]:
    """The diversions of the Diversion field values ``values``, in the order listed (most recent first)."""
    out: list[Diversion] = []
    for addr in listed_addresses(values, "Diversion"):
        reason = (addr.params.get("reason") or "unknown").strip('"')
        try:
            counter = int(addr.params.get("counter") or 1)
        except ValueError:
            counter = 1
        out.append(Diversion(str(addr.uri), reason, counter, addr.display_name))
    return out


def _cause_of(uri_text: str, params: dict[str, str | None]) -> int | None:
    """RFC 4458's ``cause`` URI parameter, else the ``cause`` of an escaped ``Reason: SIP;cause=N`` URI header."""
    cause = params.get("cause")
    if cause and cause.isdigit():
        return int(cause)
    if "?" in uri_text:
        for part in uri_text.split("?", 1)[1].split("&"):
            name, _, raw = part.partition("=")
            if name.lower() != "reason":
                continue
            reason = urllib.parse.unquote(raw)
            for piece in reason.split(";")[1:]:
                key, _, val = piece.strip().partition("=")
                if key.lower() == "cause" and val.strip().isdigit():
                    return int(val.strip())
    return None


def parse_history_info(values: list[str]) -> list[HistoryEntry]:
    """The History-Info entries of ``values``, in index order (unparsable entries left out)."""
    out: list[HistoryEntry] = []
    for value in values:
        for entry in split_commas(value):
            start, end = entry.find("<"), entry.find(">")
            if start < 0 or end < start:
                continue
            uri_text = entry[start + 1:end]
            try:
                addr = parse_address(f"<{uri_text.split('?', 1)[0]}>{entry[end + 1:]}", "History-Info")
            except SipParseError:
                continue
            index = str(addr.params.get("index") or "")
            out.append(HistoryEntry(str(addr.uri), index, _cause_of(uri_text, addr.uri.params)))

    def key(e: HistoryEntry) -> list[int]:
        return [int(p) if p.isdigit() else 0 for p in e.index.split(".")] if e.index else [0]

    return sorted(out, key=key)


def original_called(diversions: list[Diversion], history: list[HistoryEntry]) -> Diversion | None:
    """The party first called and why the call left it (see the module docstring); None when not diverted."""
    if diversions:
        return diversions[-1]
    if len(history) >= 2:
        cause = history[1].cause
        reason = CAUSE_REASONS.get(cause, "unknown") if cause is not None else "unknown"
        return Diversion(history[0].uri, reason, len(history) - 1)
    return None

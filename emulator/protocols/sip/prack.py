"""Reliable provisional responses (RFC 3262, the ``100rel`` extension) and PRACK, pure (time passed in, no I/O).

Per SipEp: ``UacPrackSupport`` (Unsupported / Supported / Required: our INVITE lists ``100rel`` in Supported, or in
Require too) and ``UasPrackSupport`` (Unsupported / Supported: a caller that lists 100rel in Supported or Require
gets our 18x reliably; a caller that requires it from a unit that does not support it gets 420 Bad Extension).

* :class:`ReliableSender` (UAS, §3): numbers our reliable provisionals with RSeq (a random start, +1 each), says
  when to send the pending one again (T1, doubling) and when to give up (64*T1: the INVITE is refused with a 5xx),
  and matches a PRACK's RAck against it.
* :class:`ReliableReceiver` (UAC, §4): accepts each reliable provisional once, in RSeq order, and builds the RAck
  of its PRACK.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import NamedTuple

from emulator.protocols.sip.headers import split_commas
from emulator.protocols.sip.message import Request, Response

__all__ = [
    "PrackPolicy", "RAck", "ReliableReceiver", "ReliableSender", "lists_tag", "parse_rack", "parse_rseq",
]

TAG = "100rel"


def lists_tag(message: Request | Response, header: str, tag: str = TAG) -> bool:
    """Whether ``header`` (Supported, Require...) lists the option tag ``tag``."""
    return any(t.strip().lower() == tag for v in message.headers.get_all(header) for t in split_commas(v))


@dataclass(frozen=True, slots=True)
class PrackPolicy:
    """The unit's SipEp PRACK settings: ``uac`` Unsupported/Supported/Required, ``uas`` Unsupported/Supported."""

    uac: str = "Unsupported"
    uas: str = "Unsupported"

    def invite_headers(self) -> list[tuple[str, str]]:
        """What our INVITE says of 100rel (§4)."""
        if self.uac == "Required":
            return [("Supported", TAG), ("Require", TAG)]
        return [("Supported", TAG)] if self.uac == "Supported" else []

    def refusal(self, invite: Request) -> int | None:
        """420 for an INVITE that requires 100rel from a unit whose UAS does not support it; else None."""
        return 420 if lists_tag(invite, "Require") and self.uas != "Supported" else None

    def reliable(self, invite: Request) -> bool:
        """Whether our 18x to ``invite`` are sent reliably (§3)."""
        if self.uas != "Supported":
            return False
        return lists_tag(invite, "Require") or lists_tag(invite, "Supported")


class RAck(NamedTuple):
    """RAck: response-num CSeq-num Method (§7.2)."""

    rseq: int
    cseq: int
    method: str

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"


def parse_rack(value: str | None) -> RAck | None:
    parts = (value or "").split()
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return RAck(int(parts[0]), int(parts[1]), parts[2].upper())


def parse_rseq(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


@dataclass(slots=True)
class _Pending:
    response: Response
    rseq: int
    first_sent: float
    next_at: float
    interval: float


class ReliableSender:
    """The UAS side of one INVITE's reliable provisionals (§3); ``t1`` is the unit's T1."""

    def __init__(self, invite: Request, t1: float) -> None:
        self.invite = invite
        self.t1 = t1
        self._next_rseq = secrets.randbelow(1 << 31) + 1  # §3: any value from 1 to 2**31 - 1
        self._pending: _Pending | None = None

    @property
    def pending(self) -> bool:
        """A reliable provisional awaits its PRACK (a second one must wait, §3)."""
        return self._pending is not None

    def headers(self) -> list[tuple[str, str]]:
        """Require and RSeq for the next reliable provisional; call :meth:`sent` with it once built."""
        return [("Require", TAG), ("RSeq", str(self._next_rseq))]

    def sent(self, response: Response, now: float) -> None:
        rseq = parse_rseq(response.headers.get("RSeq"))
        assert rseq == self._next_rseq, "the provisional must carry the RSeq of headers()"
        self._next_rseq += 1
        self._pending = _Pending(response, rseq, now, now + self.t1, self.t1)

    def deadline(self) -> float | None:
        return self._pending.next_at if self._pending is not None else None

    def due(self, now: float) -> tuple[Response | None, bool]:
        """At ``now``: the provisional to send again (or None) and whether to give up (64*T1 without PRACK)."""
        p = self._pending
        if p is None or now + 1e-9 < p.next_at:
            return None, False
        if now - p.first_sent >= 64 * self.t1:
            self._pending = None
            return None, True
        p.interval *= 2
        p.next_at = min(now + p.interval, p.first_sent + 64 * self.t1)  # the give-up time, exactly
        return p.response, False

    def prack(self, rack: RAck | None) -> bool:
        """A PRACK with ``rack``: True when it acknowledges the pending provisional (answer 200), else False
        (answer 481, §3)."""
        p = self._pending
        if p is None or rack is None:
            return False
        if (rack.rseq, rack.cseq, rack.method) != (p.rseq, self.invite.cseq.seq, self.invite.cseq.method):
            return False
        self._pending = None
        return True

    def stop(self) -> None:
        """The final response went out: nothing more to send again."""
        self._pending = None


class ReliableReceiver:
    """The UAC side (§4): which reliable provisionals to PRACK, per early dialog (To tag)."""

    def __init__(self) -> None:
        self._last: dict[str | None, int] = {}

    def accept(self, response: Response) -> RAck | None:
        """The RAck to PRACK ``response`` with, or None: not reliable, a retransmission or out of order."""
        if not 100 < response.status < 200 or not lists_tag(response, "Require"):
            return None
        rseq = parse_rseq(response.headers.get("RSeq"))
        if rseq is None:
            return None
        tag = response.to.tag
        last = self._last.get(tag)
        if last is not None and rseq != last + 1:
            return None  # a retransmission (its PRACK's transaction retransmits itself) or one out of order
        self._last[tag] = rseq
        return RAck(rseq, response.cseq.seq, response.cseq.method)

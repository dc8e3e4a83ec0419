"""Call completion (RFC 6910), the caller's side (the "agent"), sans-IO: what the unit's line may ask for after a
failed call, the ``application/call-completion`` bodies, and one request's state.

* :func:`candidate` — a call of the line that ended busy (486: CCBS, "completion of calls to busy subscriber") or
  that rang without an answer (408, 480, 487 after an 18x: CCNR, "on no reply") may be completed, when the
  service is on (``EpServ.DefaultCallCompletionBusySubscriberEnable`` / ``NoReplyEnable`` or the line's
  ``EpSpecificCallCompletion`` row).
* :func:`monitor_of` — the monitor the callee named in its refusal (``Call-Info: <uri>;purpose=call-completion``,
  RFC 6910 §6), else None (the agent then subscribes at the callee's own URI).
* :func:`body` / :func:`parse_body` — the event package's body: ``cc-state: queued|ready``, ``cc-URI``.
* :class:`CcRequest` — one request: subscribing, queued (the callee busy), ready (the callee free: the agent
  recalls the caller and calls the callee again, its Request-URI carrying ``m=BS`` or ``m=NR``), or over;
  ``target_state`` is what ``EpServ.CallCompletionConfig.TargetState`` shows; it expires at ``expires_at``
  (``DefaultCallCompletionExpirationTimeout`` minutes after the request, time passed in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.protocols.sip.diversion import listed_addresses

__all__ = ["EVENT", "MIME", "CcRequest", "CcServices", "body", "candidate", "monitor_of", "parse_body", "services"]

EVENT = "call-completion"
MIME = "application/call-completion"
#: the ``m`` URI parameter of each kind (RFC 6910 §11: BS busy subscriber, NR no reply)
M_PARAM = {"Ccbs": "BS", "Ccnr": "NR"}


@dataclass(frozen=True, slots=True)
class CcServices:
    """The completions a line may ask for, and how long a request lives."""

    ccbs: bool = False
    ccnr: bool = False
    expiration_s: float = 180 * 60.0


def services(get: Callable[[str], Any], endpoint: str) -> CcServices:
    """Read the line's services through ``get`` (a parameter name, with a ``[EpId="..."]`` cell for the endpoint
    row, to its value or None): ``EpServ.DefaultCallCompletionBusySubscriberEnable`` / ``NoReplyEnable``, or the
    line's ``EpSpecificCallCompletion`` row's BusySubscriberEnable / NoReplyEnable when its EnableConfig is Enable;
    ``DefaultCallCompletionExpirationTimeout`` (minutes)."""
    def on(value: Any) -> bool:
        return str(value) == "Enable"

    if on(get(f'EpServ.EpSpecificCallCompletion.EnableConfig[EpId="{endpoint}"]')):
        ccbs = on(get(f'EpServ.EpSpecificCallCompletion.BusySubscriberEnable[EpId="{endpoint}"]'))
        ccnr = on(get(f'EpServ.EpSpecificCallCompletion.NoReplyEnable[EpId="{endpoint}"]'))
    else:
        ccbs = on(get("EpServ.DefaultCallCompletionBusySubscriberEnable"))
        ccnr = on(get("EpServ.DefaultCallCompletionNoReplyEnable"))
    try:
        minutes = int(get("EpServ.DefaultCallCompletionExpirationTimeout") or 180)
    except (TypeError, ValueError):
        minutes = 180
    return CcServices(ccbs, ccnr, minutes * 60.0)


def candidate(status: int | None, rang: bool, *, ccbs: bool, ccnr: bool) -> str | None:
    """The completion a failed call of the line may get (``Ccbs``, ``Ccnr``), else None."""
    if status == 486 and ccbs:
        return "Ccbs"
    if rang and status in (408, 480, 487) and ccnr:
        return "Ccnr"
    return None


def monitor_of(call_info: list[str]) -> str | None:
    """The monitor URI a refusal's ``Call-Info`` names with ``purpose=call-completion``, else None."""
    for addr in listed_addresses(call_info, "Call-Info"):
        if (addr.params.get("purpose") or "").lower() == EVENT:
            return str(addr.uri)
    return None


def body(state: str, uri: str | None = None) -> bytes:
    lines = [f"cc-state: {state}"] + ([f"cc-URI: <{uri}>"] if uri else [])
    return ("\r\n".join(lines) + "\r\n").encode()


def parse_body(data: bytes) -> dict[str, str]:
    """``name: value`` lines, names in lower case (a line without a colon is read past)."""
    out: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


@dataclass
class CcRequest:
    """One call-completion request of a line (see the module docstring)."""

    index: int
    endpoint: str
    kind: str  # Ccbs | Ccnr
    target: str  # the callee's URI, called again when ready
    monitor: str  # where the SUBSCRIBE goes
    expires_at: float
    state: str = "subscribing"  # subscribing | queued | ready | done | expired | refused
    cc_uri: str = ""

    @property
    def active(self) -> bool:
        return self.state in ("subscribing", "queued", "ready")

    @property
    def target_state(self) -> str:
        return {"queued": "Busy", "ready": "Idle"}.get(self.state, "Unknown")

    def notified(self, fields: dict[str, str], terminated: bool) -> bool:
        """A NOTIFY's body (``fields``) and whether it ended the subscription: True when the callee is now free
        and the caller must be recalled (once)."""
        state = fields.get("cc-state", "").lower()
        uri = fields.get("cc-uri", "").strip("<>")
        if uri:
            self.cc_uri = uri
        if state == "ready" and self.state in ("subscribing", "queued"):
            self.state = "ready"
            return True
        if state == "queued" and self.state == "subscribing":
            self.state = "queued"
        elif terminated and self.state in ("subscribing", "queued"):
            self.state = "refused"
        return False

    def recall_uri(self) -> str:
        """The callee again: the notified cc-URI, else the target with ``m=BS``/``m=NR`` (RFC 6910 §11)."""
        if self.cc_uri:
            return self.cc_uri
        return f"{self.target};m={M_PARAM[self.kind]}"

    def expired(self, now: float) -> bool:
        if self.active and now >= self.expires_at:
            self.state = "expired"
            return True
        return False

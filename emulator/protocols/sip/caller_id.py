"""The caller ID an FXS line presents for an incoming INVITE (what the phone's display shows): pure, no I/O.

* **Identity** — the first ``P-Asserted-Identity`` (RFC 3325) the INVITE carries, else its ``From``: the number
  is the URI's user part (a ``tel:`` URI's number), the name its display name.
* **Privacy** — the caller is private when the INVITE asks it (``Privacy: id``, ``user`` or ``header``, RFC 3323 /
  RFC 3325) or its From is anonymous (user ``anonymous`` or host ``anonymous.invalid``, RFC 3323 §4.1.1.3): no
  number then, and the name ``Pots.FxsCallerIdPrivateCallingPartyName`` (empty: no name; ``P``: no name, the
  "reason for absence" Private instead).
* **Method** — ``Pots.CallerIdCustomization``: ``EtsiDtmf`` sends the number alone (DTMF carries no name);
  ``EtsiFsk`` and ``Country`` (an emulator choice: the countries' FSK methods) the number and the name.
* ``Pots.FxsCallerId`` ``Activation`` Disable: the line presents no caller ID (None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.protocols.sip.headers import Address, parse_address
from emulator.protocols.sip.message import Request

__all__ = ["CallerId", "caller_id"]

_PRIVATE_VALUES = {"id", "user", "header"}


@dataclass(frozen=True, slots=True)
class CallerId:
    """What the line presents: number and name, or the reason they are absent."""

    number: str
    name: str
    presentation: str  # Allowed | Restricted
    absence_reason: str  # "" or Private (the name's "reason for absence")
    source: str  # P-Asserted-Identity | From
    method: str  # Fsk | Dtmf

    def row(self) -> dict[str, Any]:
        return {"number": self.number, "name": self.name, "presentation": self.presentation,
                "absence_reason": self.absence_reason, "source": self.source, "method": self.method}


def _identity(request: Request) -> tuple[Address, str]:
    for value in request.headers.get_all("P-Asserted-Identity"):
        for part in value.split(","):
            try:
                return parse_address(part.strip(), "P-Asserted-Identity"), "P-Asserted-Identity"
            except ValueError:
                continue
    return request.from_, "From"


def _number(address: Address) -> str:
    uri = address.uri
    if uri.opaque is not None:  # tel:+15551234;params
        scheme, _, rest = str(uri).partition(":")
        return rest.split(";", 1)[0] if scheme.lower() == "tel" else ""
    return uri.user or ""


def _private(request: Request) -> bool:
    values = {v.strip().lower() for h in request.headers.get_all("Privacy") for v in h.replace(",", ";").split(";")}
    if values & _PRIVATE_VALUES:
        return True
    uri = request.from_.uri
    return (uri.user or "").lower() == "anonymous" or uri.host.lower() == "anonymous.invalid"


def caller_id(request: Request, *, activation: str = "Enable", private_name: str = "Anonymous",
              customization: str = "Country") -> CallerId | None:
    """The caller ID the line presents for `request` (an incoming INVITE), None when its presentation is off."""
    if activation != "Enable":
        return None
    address, source = _identity(request)
    method = "Dtmf" if customization == "EtsiDtmf" else "Fsk"
    if _private(request):
        reason = "Private" if private_name == "P" else ""
        name = "" if method == "Dtmf" or private_name == "P" else private_name
        return CallerId("", name, "Restricted", reason, source, method)
    name = "" if method == "Dtmf" else (address.display_name or "")
    return CallerId(_number(address), name, "Allowed", "", source, method)

"""The properties of a call the router matches and transforms (MX-CROUT-MIB ``Route.PropertiesCriteria``,
``MappingType.Criteria`` / ``Transformation``), named as the vendor's enums name them.

A call's properties are a dict of property name -> text; an absent property is "undefined" (the
``<undefined>`` tag matches it). ``DateTime`` is not stored: it is the local time the call reached the router.
Properties whose values are keywords (type of number, screening...) match a keyword as a whole value, without
regard to case; the others match a regular expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["KEYWORDS", "CallProperties", "is_e164", "sides"]

_TON = ("unknown", "international", "national", "network", "subscriber", "abbreviated")
_NPI = ("unknown", "isdn", "data", "telex", "national", "private")
_REASON = ("cfu", "cfb", "cfnr", "unknown")
_PARTY = ("unknown", "public", "private")
_PUBLIC = ("unknown", "international", "national", "network-specific", "local", "abbreviated")
_PRIVATE = ("unknown", "leg2-reg", "leg1-reg", "pisn-specific", "subscriber", "abbreviated")
_PRESENT = ("allowed", "restricted", "interworking", "restricted-address")

#: keyword-valued properties and the keywords each takes (MIB texts)
KEYWORDS: dict[str, tuple[str, ...]] = {
    "CalledTon": _TON, "CallingTon": _TON, "CalledNpi": _NPI, "CallingNpi": _NPI,
    "CallingPi": ("allowed", "restricted", "interworking"),
    "CallingSi": ("not-screened", "passed", "failed", "network"),
    "CallingItc": ("speech", "unrestricted", "restricted", "3.1Khz", "udi-ta", "video"),
    "CallingSipPrivacy": ("disabled", "none", "id"),
    **{f"{when}DivertingReason": _REASON for when in ("Last", "Original")},
    **{f"{when}DivertingPartyNumberType": _PARTY for when in ("Last", "Original")},
    **{f"{when}DivertingPublicTypeOfNumber": _PUBLIC for when in ("Last", "Original")},
    **{f"{when}DivertingPrivateTypeOfNumber": _PRIVATE for when in ("Last", "Original")},
    **{f"{when}DivertingNumberPresentation": _PRESENT for when in ("Last", "Original")},
}

_E164 = re.compile(r"\+?[0-9*#]+")
# a property named without its side (MappingType "E164": called or calling) and the sides it stands for
_SIDED = ("E164", "Name", "Ton", "Npi", "Host", "Uri", "PhoneContext", "SipUsername")


def is_e164(text: str | None) -> bool:
    """A telephone number: digits (``*``, ``#`` and a leading ``+`` allowed)."""
    return bool(text) and _E164.fullmatch(text or "") is not None


def sides(prop: str) -> tuple[str, ...]:
    """The properties a (possibly side-less) property name stands for: ``E164`` -> (CalledE164, CallingE164)."""
    if prop in _SIDED:
        return (f"Called{prop}", f"Calling{prop}")
    return (prop,)


class CallProperties:
    """A call's properties (see the module docstring); copies are cheap and independent."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str | None] | None = None) -> None:
        self._values: dict[str, str] = {k: v for k, v in (values or {}).items() if v is not None}

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def set(self, name: str, value: str | None) -> None:
        if value is None:
            self._values.pop(name, None)
        else:
            self._values[name] = value

    def copy(self) -> CallProperties:
        return CallProperties(self._values)

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CallProperties) and other._values == self._values

    def __repr__(self) -> str:
        return f"CallProperties({self._values!r})"

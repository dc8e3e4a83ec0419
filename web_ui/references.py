"""Fields that name a row of another table: on the web pages they are lists of the rows that exist, as on the
hardware, not free text boxes.

``REFERENCES`` is the data: parameter (a scalar, or a table column as ``Svc.Table.Column``) -> :class:`Ref`,
which says what the value names (``kind``) and whether it is one name or a comma-separated list of names
(``multiple``: the call router's sources, transformations, hunt destinations...). ``options(unit, kind)`` lists
the names that exist now, from the configuration (and, for the call router's interfaces, the ``CRout`` status
table the engine feeds). The configuration still validates every submitted value itself; a value that names a
row which has since gone stays shown (selected) until it is changed.

Which column names which rows: the call router's rules (MX-CROUT-MIB: destinations ``route-``/``hunt-``/
``SipRedirect-``/interfaces, transformations = ``MappingType`` names, signaling properties and translation
names), the SIP gateways (``SipEp.Gateway`` names, ``all`` where a user agent may use every gateway), the
network interfaces (``Bni.NetworkInterfaces``), the unit's endpoints. A list is submitted as the selected names
joined with ``,`` in the order the list shows them; a route's sources and destination also have a small text box
for a new ``route-`` label (a name routes make up, not a table's row). Both are emulator choices: the hardware's
list editor is not documented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from emulator.protocols.crout.names import kind_of, split_names
from emulator.runtime.unit import Unit

__all__ = ["REFERENCES", "Ref", "joined", "options", "submitted"]


@dataclass(frozen=True, slots=True)
class Ref:
    kind: str  # what the value names: see _KINDS
    multiple: bool = False  # a comma-separated list of names

    @property
    def labels(self) -> bool:
        """Whether the field may also name a new ``route-`` label (a route's sources and destinations): the
        label is a name the routes make up, not a row of a table, so the page has a small text box for it."""
        return self.kind in ("sources", "destinations")


_ONE = {k: Ref(k) for k in ("destinations", "mappings", "signaling", "gateways", "gateways_or_all", "endpoints",
                            "network_interfaces")}
_MANY = {k: Ref(k, True) for k in ("sources", "destinations", "mappings", "gateways",
                                             "call_properties_translations", "sip_headers_translations")}

REFERENCES: dict[str, Ref] = {
    # Call Router
    "CRout.Route.SourceCriteria": _MANY["sources"],
    "CRout.Route.Destination": _ONE["destinations"],
    "CRout.Route.Mappings": _MANY["mappings"],
    "CRout.Route.SignalingProperties": _ONE["signaling"],
    "CRout.MappingExpression.Name": _ONE["mappings"],
    "CRout.MappingExpression.SubMappings": _MANY["mappings"],
    "CRout.Hunt.Destinations": _MANY["destinations"],
    "CRout.SignalingProperties.CallPropertiesTranslation": _MANY["call_properties_translations"],
    "CRout.SignalingProperties.SipHeadersTranslation": _MANY["sip_headers_translations"],
    "CRout.AutoRoutingIncomingMappings": _MANY["mappings"],
    "CRout.AutoRoutingOutgoingMappings": _MANY["mappings"],
    "CRout.AutoRoutingIncomingSignalingProperties": _ONE["signaling"],
    "CRout.AutoRoutingOutgoingSignalingProperties": _ONE["signaling"],
    "CRout.AutoRouting.AutoRoutingGateway": _MANY["gateways"],
    "CRout.AutoRouting.AutoRoutingDestination": _ONE["destinations"],
    # SIP
    "SipEp.Gateway.NetworkInterface": _ONE["network_interfaces"],
    "SipEp.UserAgent.GatewayName": _ONE["gateways_or_all"],
    "SipEp.Authentication.GatewayName": _ONE["gateways"],
    "SipEp.Authentication.EpId": _ONE["endpoints"],
    # Telephony
    "EpServ.CallDtmfMapAllowed.EpId": _ONE["endpoints"],
    "EpServ.CallDtmfMapRefuse.EpId": _ONE["endpoints"],
}


def _names(unit: Unit, table: str, column: str) -> list[str]:
    """The distinct non-empty values of one column, in row order."""
    names = dict.fromkeys(str(r.get(column) or "").strip() for r in unit.config.rows(table))
    return [n for n in names if n]


def _gateways(unit: Unit) -> list[str]:
    return _names(unit, "SipEp.Gateway", "Name")


def _interfaces(unit: Unit) -> list[str]:
    """The call router's interfaces (``sip-<gateway>``, ``fxs-<line>``...) as its status table shows them."""
    names = _names(unit, "CRout.InterfaceStatus", "Name")
    if names:
        return names
    prefix = {"fxs": "fxs-", "fxo": "fxo-", "bri": "isdn-", "pri": "isdn-"}.get(unit.profile.endpoint_kind, "fxs-")
    return [f"sip-{g}" for g in _gateways(unit)] + [f"{prefix}{ep}" for ep in unit.profile.endpoints]


def _route_labels(unit: Unit) -> list[str]:
    """The ``route-`` labels the routes use (as a source or a destination)."""
    labels: dict[str, None] = {}
    for row in unit.config.rows("CRout.Route"):
        for name in (*split_names(row.get("SourceCriteria")), str(row.get("Destination") or "").strip()):
            if kind_of(name) == "route-":
                labels[name] = None
    return list(labels)


def _destinations(unit: Unit) -> list[str]:
    return [*_interfaces(unit), *(f"hunt-{n}" for n in _names(unit, "CRout.Hunt", "Name")),
            *(f"SipRedirect-{n}" for n in _names(unit, "CRout.SipRedirect", "Name")), *_route_labels(unit)]


_KINDS: dict[str, Callable[[Unit], list[str]]] = {
    "sources": lambda u: [*_interfaces(u), *_route_labels(u)],
    "destinations": _destinations,
    "mappings": lambda u: _names(u, "CRout.MappingType", "Name"),
    "signaling": lambda u: _names(u, "CRout.SignalingProperties", "Name"),
    "call_properties_translations": lambda u: _names(u, "CRout.CallPropertiesTranslation", "Name"),
    "sip_headers_translations": lambda u: _names(u, "CRout.SipHeadersTranslation", "Name"),
    "gateways": _gateways,
    "gateways_or_all": lambda u: ["all", *_gateways(u)],
    "endpoints": lambda u: list(u.profile.endpoints),
    "network_interfaces": lambda u: _names(u, "Bni.NetworkInterfaces", "InterfaceName"),
}


def options(unit: Unit, ref: Ref) -> list[str]:
    """The names a field of this reference may take now; a single name may also be empty (none)."""
    names = _KINDS[ref.kind](unit)
    return names if ref.multiple else ["", *names]


def submitted(ref: Ref, values: list[str]) -> str:
    """The value a reference field's inputs submitted: the names chosen, joined (a list), or the one chosen; a
    route label typed in the field's text box is added to the list, or wins over the one chosen, and gets its
    ``route-`` prefix when written without it."""
    names = [v.strip() for v in values if v.strip()]
    if ref.labels:
        names = [n if kind_of(n) is not None else f"route-{n}" for n in names]
    if ref.multiple:
        return joined(names)
    return names[-1] if names else ""


def joined(values: list[str]) -> str:
    """A list field's submitted names as the parameter stores them (``fxs-Phone-Fax1,sip-default``)."""
    return ",".join(dict.fromkeys(v.strip() for v in values if v.strip()))

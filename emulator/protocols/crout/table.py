"""The call router's configuration checked and compiled into a :class:`RoutingTable` — what ``CRout.ApplyConfig``
puts in service and the ``CRout.*Status`` tables show. Pure: rows (dicts of the CRout tables' columns) in, a
table or every problem found out.

Refused, with the row and the reason (:class:`RoutingConfigError`; the running table stays as it was):

* a **dangling reference** — a route or hunt destination, a route source, an auto-routing gateway or
  destination naming no interface, hunt, redirect or route label (``route-x`` used as a destination while no
  route has it among its sources); a transformation, next transformation, signaling properties or translation
  naming no row; a transformation rule whose name no ``MappingType`` row has;
* a **loop** — routes handing a call round a circle of ``route-`` labels, a hunt that contains itself (directly
  or through other hunts or routes), transformations whose next transformations lead back to them;
* a malformed row — an empty destination or name, a name used twice where it must be unique (hunts, signaling
  properties, redirects, transformations), a criteria rule the property does not take (a keyword property
  given anything but its keywords, a malformed DateTime), a transformation rule naming a group ``\\N`` its
  criteria does not have, a ``Simultaneous`` hunt with other than FXS destinations.

Auto-routing (``CRout.AutoRoutingEnable``): for each auto-routable endpoint, a route from its SIP gateways to
the line (criteria: the called E.164 or SIP user name equal to the endpoint's, per ``AutoRoutingCriteriaType``)
and a route from the line to its gateway (or to ``AutoRoutingDestination``). They come after the user's routes,
``Type`` ``Auto`` (emulator choice of order: the user's routes decide first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.protocols.crout.names import INTERFACE_PREFIXES, kind_of, posix_escape, split_names, suffix_of
from emulator.protocols.crout.properties import KEYWORDS, is_e164, sides
from firmware_model.crout_expressions import (
    Criteria,
    compile_criteria,
    parse_causes,
    parse_datetime,
    transformation_groups,
)

__all__ = [
    "AutoEndpoint", "AutoRouting", "Hunt", "MappingRule", "MappingType", "Problem", "Route", "RoutingConfigError",
    "RoutingTable", "Signaling", "build_table",
]

Row = Mapping[str, Any]
Moment = Callable[[datetime], bool]


@dataclass(frozen=True, slots=True)
class Problem:
    table: str  # CRout.Route, CRout.Hunt...
    index: object  # the row's index (Index, or EpId for AutoRouting)
    reason: str

    def __str__(self) -> str:
        return f"{self.table}[{self.index}]: {self.reason}"


class RoutingConfigError(ValueError):
    """The configuration cannot be applied; ``problems`` names each row and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class Matcher:
    """A property criteria: a regular expression (or tag), a keyword, or a DateTime period."""

    prop: str  # the vendor's property name; "None" matches every call
    text: str
    criteria: Criteria | None = None
    keyword: str | None = None
    moment: Moment | None = None
    groups: int = 0
    sides: tuple[str, ...] = ()  # the properties it reads (E164: CalledE164 then CallingE164)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sides", sides(self.prop))


@dataclass(frozen=True, slots=True)
class Route:
    index: int
    type: str  # User | Auto
    sources: tuple[str, ...]
    matcher: Matcher
    destination: str
    mappings: tuple[str, ...]
    signaling: str
    owner: str = ""  # an auto route's endpoint (EpId)

    def status_row(self, position: int) -> dict[str, Any]:
        return {"Index": position, "Type": self.type, "SourceCriteria": ",".join(self.sources),
                "PropertiesCriteria": self.matcher.prop, "ExpressionCriteria": self.matcher.text,
                "Destination": self.destination, "Mappings": ",".join(self.mappings),
                "SignalingProperties": self.signaling}


@dataclass(frozen=True, slots=True)
class MappingType:
    name: str
    criteria: str  # property (or None)
    transformation: str


@dataclass(frozen=True, slots=True)
class MappingRule:
    name: str
    matcher: Matcher
    transformation: str
    next: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Hunt:
    name: str
    destinations: tuple[str, ...]
    algorithm: str  # Sequential | Cyclic | Simultaneous
    timeout: int  # seconds; 0: none
    causes: frozenset[int]


@dataclass(frozen=True, slots=True)
class Signaling:
    name: str
    early_connect: bool = False
    early_disconnect: bool = False
    destination_host: str = ""
    allow_180_sdp: bool = True
    allow_183_no_sdp: bool = True
    privacy: str = "Disable"
    call_properties_translation: tuple[str, ...] = ()
    sip_headers_translation: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AutoEndpoint:
    """One ``CRout.AutoRouting`` row with what auto-routing needs of the endpoint."""

    epid: str
    interface: str  # fxs-Phone-Fax1, isdn-Bri1...
    autoroutable: str  # Enable | Disable | HardwareDependent
    gateways: tuple[str, ...]  # AutoRoutingGateway (gateway names); empty: see build_table
    destination: str  # AutoRoutingDestination
    username: str  # SipEp.UserAgent Username
    own_gateway: str  # SipEp.UserAgent GatewayName


@dataclass(frozen=True, slots=True)
class AutoRouting:
    enabled: bool = False
    criteria_type: str = "E164"  # E164 | SipUsername
    endpoints: tuple[AutoEndpoint, ...] = ()
    incoming_mappings: str = ""
    outgoing_mappings: str = ""
    incoming_signaling: str = ""
    outgoing_signaling: str = ""


@dataclass(slots=True)
class RoutingTable:
    """A checked configuration: what the router routes with (see the module docstring)."""

    interfaces: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    mapping_types: dict[str, MappingType] = field(default_factory=dict)
    mapping_rules: dict[str, list[MappingRule]] = field(default_factory=dict)
    hunts: dict[str, Hunt] = field(default_factory=dict)
    signaling: dict[str, Signaling] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # name -> destination host
    status: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # *Status table -> rows


def _enabled(value: object) -> bool:
    return str(value) == "Enable"


def _matcher(prop: str, text: str) -> Matcher:
    """A criteria for ``prop`` (ValueError with the reason when the rule does not suit it)."""
    rule = text.rstrip()
    if prop in ("None", ""):
        return Matcher("None", rule)
    if prop == "DateTime":
        if rule.lower() in ("<default>", "<undefined>"):
            return Matcher(prop, rule, criteria=compile_criteria(rule))
        return Matcher(prop, rule, moment=parse_datetime(rule))
    words = [w for s in sides(prop) for w in KEYWORDS.get(s, ())]
    if words and rule.lower() not in ("<default>", "<undefined>"):
        if rule.lower() not in [w.lower() for w in words]:
            raise ValueError(f"{prop} takes one of {', '.join(dict.fromkeys(words))} (or <default>, <undefined>), "
                             f"not {rule!r}")
        return Matcher(prop, rule, keyword=rule.lower())
    criteria = compile_criteria(rule)
    return Matcher(prop, rule, criteria=criteria, groups=criteria.groups)


class _Builder:
    def __init__(self, rows: Mapping[str, Sequence[Row]], interfaces: Sequence[str]) -> None:
        self.rows = rows
        self.interfaces = tuple(interfaces)
        self.problems: list[Problem] = []
        self.table = RoutingTable(interfaces=self.interfaces)
        self.labels: set[str] = set()  # route- labels some route takes calls from

    def problem(self, table: str, index: object, reason: str) -> None:
        self.problems.append(Problem(f"CRout.{table}", index, reason))

    def unique(self, table: str) -> list[tuple[object, str, Row]]:
        """The rows of a table whose names must be unique: (index, name, row), problems for the others."""
        seen: set[str] = set()
        out = []
        for row in self.rows.get(table, ()):
            name = str(row.get("Name") or "").strip()
            if not name:
                self.problem(table, row.get("Index"), "the row has no name")
            elif name in seen:
                self.problem(table, row.get("Index"), f"the name {name} is used by another row")
            else:
                seen.add(name)
                out.append((row.get("Index"), name, row))
        return out

    # ------------------------------------------------------------------ tables
    def mappings(self) -> None:
        t = self.table
        for _, name, row in self.unique("MappingType"):
            t.mapping_types[name] = MappingType(name, str(row.get("Criteria") or "None"),
                                                str(row.get("Transformation") or "None"))
        for row in self.rows.get("MappingExpression", ()):
            index, name = row.get("Index"), str(row.get("Name") or "").strip()
            kind = t.mapping_types.get(name)
            if kind is None:
                self.problem("MappingExpression", index, f"no transformation (MappingType) is named {name!r}")
                continue
            try:
                matcher = _matcher(kind.criteria, str(row.get("Criteria") or ""))
                rule = str(row.get("Transformation") or "")
                self._check_rule(kind.transformation, rule, matcher)
            except ValueError as exc:
                self.problem("MappingExpression", index, str(exc))
                continue
            nxt = tuple(split_names(row.get("SubMappings")))
            for other in nxt:
                if other not in t.mapping_types:
                    self.problem("MappingExpression", index, f"next transformation {other} names no transformation")
            t.mapping_rules.setdefault(name, []).append(MappingRule(name, matcher, rule, nxt))

    @staticmethod
    def _check_rule(prop: str, rule: str, matcher: Matcher) -> None:
        words = [w for s in sides(prop) for w in KEYWORDS.get(s, ())]
        if words:
            if rule.lower() not in [w.lower() for w in words]:
                raise ValueError(f"{prop} is transformed into one of {', '.join(dict.fromkeys(words))}, not {rule!r}")
            return
        highest = transformation_groups(rule)
        if highest > matcher.groups:
            raise ValueError(f"the transformation rule uses \\{highest} but its criteria has "
                             f"{matcher.groups} group(s)")

    def hunts(self) -> None:
        for index, name, row in self.unique("Hunt"):
            destinations = tuple(split_names(row.get("Destinations")))
            algorithm = str(row.get("SelectionAlgorithm") or "Sequential")
            try:
                causes = frozenset(parse_causes(row.get("Causes") or ""))
            except ValueError as exc:
                self.problem("Hunt", index, str(exc))
                continue
            if not destinations:
                self.problem("Hunt", index, f"hunt {name} has no destination")
            if algorithm == "Simultaneous" and any(kind_of(d) != "fxs-" for d in destinations):
                self.problem("Hunt", index, "a Simultaneous hunt takes FXS destinations only")
            self.table.hunts[name] = Hunt(name, destinations, algorithm, int(row.get("Timeout") or 0), causes)

    def signaling(self) -> None:
        translations = {t: {str(r.get("Name") or "").strip() for r in self.rows.get(t, ())}
                        for t in ("CallPropertiesTranslation", "SipHeadersTranslation")}
        for index, name, row in self.unique("SignalingProperties"):
            cpt = tuple(split_names(row.get("CallPropertiesTranslation")))
            sht = tuple(split_names(row.get("SipHeadersTranslation")))
            for table, names in (("CallPropertiesTranslation", cpt), ("SipHeadersTranslation", sht)):
                for missing in (n for n in names if n not in translations[table]):
                    self.problem("SignalingProperties", index, f"{table} {missing} names no row")
            self.table.signaling[name] = Signaling(
                name, _enabled(row.get("EarlyConnect")), _enabled(row.get("EarlyDisconnect")),
                str(row.get("DestinationHost") or ""), _enabled(row.get("Allow180Sdp", "Enable")),
                _enabled(row.get("Allow183NoSdp", "Enable")), str(row.get("Privacy") or "Disable"), cpt, sht)
        for index, name, row in self.unique("SipRedirect"):
            host = str(row.get("DestinationHost") or "").strip()
            if not host:
                self.problem("SipRedirect", index, f"redirect {name} has no destination host")
            self.table.redirects[name] = host

    def routes(self, auto: AutoRouting) -> None:
        routes: list[Route] = []
        for row in self.rows.get("Route", ()):
            index = int(row.get("Index") or 0)
            try:
                matcher = _matcher(str(row.get("PropertiesCriteria") or "None"),
                                   str(row.get("ExpressionCriteria") or ""))
            except ValueError as exc:
                self.problem("Route", index, str(exc))
                continue
            routes.append(Route(index, "User", tuple(split_names(row.get("SourceCriteria"))), matcher,
                                str(row.get("Destination") or "").strip(), tuple(split_names(row.get("Mappings"))),
                                str(row.get("SignalingProperties") or "").strip()))
        if auto.enabled:
            routes += self.auto_routes(auto)
        self.labels = {s for r in routes for s in r.sources if kind_of(s) == "route-"}
        for route in routes:
            table, where = ("Route", route.index) if route.type == "User" else ("AutoRouting", route.owner)
            for source in route.sources:
                if kind_of(source) is None:
                    self.problem(table, where, f"source {source} is not route-, sip-, isdn-, r2-, e&m-, fxs- "
                                                     "or fxo-")
                elif kind_of(source) != "route-" and source not in self.interfaces:
                    self.problem(table, where, f"source {source} names no interface")
            if not route.sources:
                self.problem(table, where, "the route has no source")
            self.destination(table, where, route.destination)
            for name in route.mappings:
                if name not in self.table.mapping_types:
                    self.problem(table, where, f"transformation {name} names no transformation")
            if route.signaling and route.signaling not in self.table.signaling:
                self.problem(table, where, f"signaling properties {route.signaling} names no row")
        self.table.routes = tuple(routes)

    def auto_routes(self, auto: AutoRouting) -> list[Route]:
        gateways = [i for i in self.interfaces if i.startswith("sip-")]
        out: list[Route] = []
        for ep in auto.endpoints:
            on = ep.autoroutable == "Enable" or (ep.autoroutable == "HardwareDependent" and
                                                 ep.interface.startswith("fxs-"))
            if not on:
                continue
            named = [f"sip-{g}" for g in ep.gateways]
            if len(named) > 1 and not ep.destination:
                self.problem("AutoRouting", ep.epid, "several auto-routing gateways need an auto-routing destination")
                continue
            # emulator choice: no gateway named = calls come in from every SIP gateway and go out through the
            # endpoint's own (SipEp.UserAgent GatewayName)
            sources = tuple(named or gateways)
            outgoing = ep.destination or (named[0] if named else f"sip-{ep.own_gateway}")
            prop, value = ("CalledE164", ep.username if is_e164(ep.username) else "") \
                if auto.criteria_type == "E164" else ("CalledSipUsername", ep.username)
            if value:
                rule = f"^{posix_escape(value)}$"
                out.append(Route(len(out) + 1, "Auto", sources, Matcher(prop, rule, criteria=compile_criteria(rule)),
                                 ep.interface, tuple(split_names(auto.incoming_mappings)), auto.incoming_signaling,
                                 ep.epid))
            out.append(Route(len(out) + 1, "Auto", (ep.interface,), Matcher("None", ""), outgoing,
                             tuple(split_names(auto.outgoing_mappings)), auto.outgoing_signaling, ep.epid))
        return out

    def destination(self, table: str, index: object, name: str) -> None:
        kind = kind_of(name)
        t = self.table
        if not name:
            self.problem(table, index, "no destination")
        elif kind is None:
            self.problem(table, index, f"destination {name} is not route-, hunt-, SipRedirect- or an interface")
        elif kind == "route-" and name not in self.labels:
            self.problem(table, index, f"destination {name}: no route takes calls from {name}")
        elif kind == "hunt-" and suffix_of(name) not in t.hunts:
            self.problem(table, index, f"destination {name}: no hunt is named {suffix_of(name)}")
        elif kind == "SipRedirect-" and suffix_of(name) not in t.redirects:
            self.problem(table, index, f"destination {name}: no SIP redirect is named {suffix_of(name)}")
        elif kind in INTERFACE_PREFIXES and name not in self.interfaces:
            self.problem(table, index, f"destination {name} names no interface")

    # ------------------------------------------------------------------ loops
    def loops(self) -> None:
        t = self.table
        graph: dict[str, list[str]] = {}
        for route in t.routes:
            if kind_of(route.destination) in ("route-", "hunt-"):
                for source in route.sources:
                    if kind_of(source) == "route-":
                        graph.setdefault(source, []).append(route.destination)
        for hunt in t.hunts.values():
            where = self._hunt_index(hunt.name)
            for d in hunt.destinations:
                self.destination("Hunt", where, d)
            graph[f"hunt-{hunt.name}"] = [d for d in hunt.destinations if kind_of(d) in ("route-", "hunt-")]
        # a route hands a call to route-x: the calls of route-x then go on through the routes taking route-x
        for cycle in _cycles(graph):
            start = cycle[0]
            table, index = ("Hunt", self._hunt_index(suffix_of(start))) if start.startswith("hunt-") else \
                ("Route", next((r.index for r in t.routes if start in r.sources), "?"))
            self.problem(table, index, "loop: " + " -> ".join([*cycle, cycle[0]]))
        subs = {name: [n for rule in rules for n in rule.next] for name, rules in t.mapping_rules.items()}
        for cycle in _cycles(subs):
            index = next((r.get("Index") for r in self.rows.get("MappingExpression", ())
                          if str(r.get("Name") or "").strip() == cycle[0]), "?")
            self.problem("MappingExpression", index, "loop of next transformations: " + " -> ".join([*cycle, cycle[0]]))

    def _hunt_index(self, name: str) -> object:
        return next((r.get("Index") for r in self.rows.get("Hunt", ()) if str(r.get("Name") or "").strip() == name),
                    "?")

    # ------------------------------------------------------------------ status rows
    def status(self) -> None:
        t = self.table

        def numbered(table: str, columns: Sequence[str]) -> list[dict[str, Any]]:
            return [{"Index": n, **{c: row.get(c) for c in columns}}
                    for n, row in enumerate(self.rows.get(table, ()), 1)]

        t.status = {
            "InterfaceStatus": [{"Index": n, "Name": name} for n, name in enumerate(self.interfaces, 1)],
            "RouteStatus": [r.status_row(n) for n, r in enumerate(t.routes, 1)],
            "MappingTypeStatus": numbered("MappingType", ("Name", "Criteria", "Transformation")),
            "MappingExpressionStatus": numbered("MappingExpression", ("Name", "Criteria", "Transformation",
                                                                      "SubMappings")),
            "HuntStatus": numbered("Hunt", ("Name", "Destinations", "SelectionAlgorithm", "Timeout", "Causes")),
            "SignalingPropertiesStatus": numbered("SignalingProperties", (
                "Name", "EarlyConnect", "EarlyDisconnect", "DestinationHost", "Allow180Sdp", "Allow183NoSdp",
                "Privacy", "CallPropertiesTranslation", "SipHeadersTranslation")),
            "SipHeadersTranslationStatus": numbered("SipHeadersTranslation", ("Name", "SipHeader", "BuiltFrom",
                                                                              "FixValue")),
            "CallPropertiesTranslationStatus": numbered("CallPropertiesTranslation", ("Name", "CallProperty",
                                                                                      "BuiltFrom", "FixValue")),
            "SipRedirectStatus": numbered("SipRedirect", ("Name", "DestinationHost")),
        }


def _cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle per strongly connected loop found by a depth-first walk (each cycle reported once)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []
    seen_cycles: set[frozenset[str]] = set()

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):]
                if frozenset(cycle) not in seen_cycles:
                    seen_cycles.add(frozenset(cycle))
                    found.append(list(cycle))
            elif nxt not in state:
                walk(nxt)
        path.pop()
        state[node] = 2

    for node in list(graph):
        if node not in state:
            walk(node)
    return found


def build_table(rows: Mapping[str, Sequence[Row]], interfaces: Sequence[str],
                auto: AutoRouting | None = None) -> RoutingTable:
    """The checked table of the CRout rows given (short table name -> rows in index order); raises
    :class:`RoutingConfigError` listing every problem."""
    problems, table = check(rows, interfaces, auto)
    if problems:
        raise RoutingConfigError(problems)
    return table


def check(rows: Mapping[str, Sequence[Row]], interfaces: Sequence[str],
          auto: AutoRouting | None = None) -> tuple[list[Problem], RoutingTable]:
    """Every problem of a configuration, and the table it compiles to (meaningful when there is none)."""
    b = _Builder(rows, interfaces)
    b.mappings()
    b.hunts()
    b.signaling()
    b.routes(auto or AutoRouting())
    b.loops()
    b.status()
    return b.problems, b.table

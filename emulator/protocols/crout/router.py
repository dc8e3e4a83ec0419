"""The call router's decision for one call (MX-CROUT-MIB; DGW "Call Router" routing steps), pure: the call's
source interface and properties in, a :data:`Decision` out.

The steps, as the vendor documents them: walk the routes in order; take the first whose source list names the
call's source, whose criteria match the call's property, and whose destination is valid for the call; apply
its transformations in order; send the call to its destination:

* an interface (``fxs-``, ``sip-``...): a :class:`Leg`, with the route's signaling properties;
* ``route-x``: the call goes through the routes again, its source now ``route-x``;
* ``hunt-x``: a :class:`HuntPlan` — the hunt's destinations, each decided the same way, in the order its
  selection algorithm gives (``Cyclic`` starts one further at each call), with its timeout and causes;
* ``SipRedirect-x``: a :class:`Redirect` (a 302 toward its destination host; only for calls from SIP).

No route: a :class:`Refusal` with cause 3, "No route to destination" (emulator choice: the vendor does not
document the cause; RFC 3398 answers it with 404). Valid destinations: SIP to SIP is not (the vendor allows it
only through the Sbc service); a line to a line of the unit is (FXS to FXS: a local call, emulator choice — the
vendor lists TDM hairpins only); an interface the caller says is unavailable is not.

Transformations (``MappingType`` + ``MappingExpression``): the rules of a transformation are tried in order;
the first whose criteria match sets the transformed property to its rule (``\\0``..``\\9`` from the criteria),
then its next transformations run; a transformation no rule matches leaves the call as it is. A side-less
property (``E164``: called or calling) is matched on the called side first, and a side-less transformation
applies to the side its criteria matched (the called side when the criteria has no side) — emulator choices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from emulator.protocols.crout.causes import NO_ROUTE
from emulator.protocols.crout.names import kind_of, suffix_of
from emulator.protocols.crout.properties import CallProperties, sides
from emulator.protocols.crout.route_index import RouteIndex
from emulator.protocols.crout.table import Hunt, Matcher, RoutingTable, Signaling
from firmware_model.crout_expressions import expand

__all__ = ["Decision", "HuntPlan", "Leg", "Redirect", "Refusal", "Router"]

MAX_HOPS = 16  # route- hand-overs and nested hunts per call (loops are refused at ApplyConfig already)


@dataclass(frozen=True, slots=True)
class Leg:
    """Send the call to ``interface`` with ``properties``."""

    interface: str
    properties: CallProperties
    signaling: Signaling | None = None
    trail: tuple[str, ...] = ()  # the routes, transformations and hunts the call went through


@dataclass(frozen=True, slots=True)
class HuntPlan:
    """Try ``choices`` (each a decision) in order, or all at once when ``simultaneous``."""

    name: str
    choices: tuple[Decision, ...]
    timeout: float  # seconds a destination has to answer; 0: no limit
    causes: frozenset[int]  # refusal causes that move the hunt to the next destination
    simultaneous: bool = False
    trail: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Redirect:
    """Answer the SIP call with 302 Moved Temporarily toward ``host``."""

    host: str
    properties: CallProperties
    trail: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Refusal:
    cause: int
    reason: str
    trail: tuple[str, ...] = ()


Decision = Leg | HuntPlan | Redirect | Refusal


_KINDS: dict[str, str | None] = {}


def _kind(name: str) -> str | None:
    """:func:`kind_of`, remembered: a call walks every route's destination."""
    kind = _KINDS.get(name, "")
    if kind == "":
        kind = kind_of(name)
        if len(_KINDS) < 4096:
            _KINDS[name] = kind
    return kind


@dataclass(slots=True)
class _Context:
    source: str  # the interface the call came from (never a route- label)
    clock: datetime | Callable[[], datetime]  # the local time, or how to read it (only DateTime criteria do)
    available: Callable[[str], bool]
    local_ip_port: str
    hops: int = 0
    trail: list[str] = field(default_factory=list)

    @property
    def when(self) -> datetime:
        if not isinstance(self.clock, datetime):
            self.clock = self.clock()
        return self.clock


class Router:
    """Routes calls with one :class:`RoutingTable` (swap :attr:`table` to apply a new configuration)."""

    def __init__(self, table: RoutingTable | None = None) -> None:
        self.table = table or RoutingTable()
        self._cyclic: dict[str, int] = {}  # hunt name -> where its next call starts
        self._index: RouteIndex | None = None  # the routes that can match a call (route_index.py), per table

    def route(self, source: str, properties: CallProperties, when: datetime | Callable[[], datetime], *,
              available: Callable[[str], bool] = lambda _: True, local_ip_port: str = "") -> Decision:
        """The decision for a call from interface ``source`` (see the module docstring)."""
        ctx = _Context(source, when, available, local_ip_port)
        return self._route(source, properties.copy(), ctx)

    # ------------------------------------------------------------------ routes
    def _route(self, source: str, props: CallProperties, ctx: _Context) -> Decision:
        index = self._index
        if index is None or index.routes is not self.table.routes:
            index = self._index = RouteIndex(self.table)
        for route in index.candidates(source, props):  # the routes in order, less those that cannot match
            if self._match(route.matcher, props, ctx) is None or not self._valid(route.destination, ctx):
                continue
            ctx.trail.append(f"route {route.type} {route.index}")
            for name in route.mappings:
                self._transform(name, props, ctx, 0)
            signaling = self.table.signaling.get(route.signaling) if route.signaling else None
            return self._destination(route.destination, props, signaling, ctx)
        return Refusal(NO_ROUTE, f"no route for the call from {source}", tuple(ctx.trail))

    def _valid(self, destination: str, ctx: _Context) -> bool:
        kind = _kind(destination)
        from_sip = ctx.source.startswith("sip-")
        if kind == "sip-" and from_sip:
            return False  # SIP to SIP: not without the Sbc service
        if kind == "SipRedirect-":
            return from_sip
        if kind in ("route-", "hunt-"):
            return True
        return ctx.available(destination)

    def _destination(self, name: str, props: CallProperties, signaling: Signaling | None, ctx: _Context) -> Decision:
        kind = kind_of(name)
        ctx.hops += 1
        if ctx.hops > MAX_HOPS:
            return Refusal(NO_ROUTE, f"more than {MAX_HOPS} routes or hunts for one call", tuple(ctx.trail))
        if kind == "route-":
            return self._route(name, props, ctx)
        if kind == "hunt-":
            hunt = self.table.hunts.get(suffix_of(name))
            if hunt is None:
                return Refusal(NO_ROUTE, f"no hunt {name}", tuple(ctx.trail))
            return self._hunt(hunt, props, signaling, ctx)
        if kind == "SipRedirect-":
            return Redirect(self.table.redirects.get(suffix_of(name), ""), props, tuple(ctx.trail))
        return Leg(name, props, signaling, tuple(ctx.trail))

    def _hunt(self, hunt: Hunt, props: CallProperties, signaling: Signaling | None, ctx: _Context) -> HuntPlan:
        order = list(hunt.destinations)
        if hunt.algorithm == "Cyclic" and order:
            start = self._cyclic.get(hunt.name, 0) % len(order)
            self._cyclic[hunt.name] = start + 1
            order = order[start:] + order[:start]
        ctx.trail.append(f"hunt-{hunt.name}")
        base = list(ctx.trail)
        choices: list[Decision] = []
        for destination in order:
            ctx.trail = list(base)
            if kind_of(destination) in ("route-", "hunt-") or self._valid(destination, ctx):
                choices.append(self._destination(destination, props.copy(), signaling, ctx))
            else:
                choices.append(Refusal(34, f"{destination} is not available", tuple(ctx.trail)))
        simultaneous = hunt.algorithm == "Simultaneous"
        return HuntPlan(hunt.name, tuple(choices), 0.0 if simultaneous else float(hunt.timeout), hunt.causes,
                        simultaneous, tuple(base))

    # ------------------------------------------------------------------ criteria and transformations
    def _match(self, matcher: Matcher, props: CallProperties, ctx: _Context) -> tuple[str, tuple[str, ...]] | None:
        """(the property that matched, the criteria's groups) or None."""
        if matcher.prop == "None":
            return ("", ("",))
        if matcher.moment is not None:
            return ("", ("",)) if matcher.moment(ctx.when) else None
        for prop in matcher.sides:
            value = props.get(prop)
            if matcher.keyword is not None:
                if value is not None and value.lower() == matcher.keyword:
                    return (prop, (value,))
                continue
            if matcher.criteria is not None:
                groups = matcher.criteria.match(value)
                if groups is not None:
                    return (prop, groups)
        return None

    def _transform(self, name: str, props: CallProperties, ctx: _Context, depth: int) -> None:
        kind = self.table.mapping_types.get(name)
        if kind is None or depth > MAX_HOPS:
            return
        for rule in self.table.mapping_rules.get(name, ()):
            matched = self._match(rule.matcher, props, ctx)
            if matched is None:
                continue
            prop, groups = matched
            targets = sides(kind.transformation)
            if kind.transformation != "None":
                target = targets[0]
                if len(targets) > 1 and prop:  # side-less: the side the criteria matched
                    side = "Calling" if prop.startswith("Calling") else "Called"
                    target = next((t for t in targets if t.startswith(side)), target)
                props.set(target, expand(rule.transformation, groups, ctx.local_ip_port))
            ctx.trail.append(f"mapping {name}")
            for nxt in rule.next:
                self._transform(nxt, props, ctx, depth + 1)
            return

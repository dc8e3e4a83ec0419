"""Which routes of a routing table can match a call, without trying each one (pure).

The router walks the routes in order and takes the first that matches (:mod:`emulator.protocols.crout.router`).
Most routes of a unit with many lines are auto-routes whose criteria is one number or user name, anchored
(``^2000$``: the called E.164 equal to the line's): a hundred lines made the router try a hundred regular
expressions per incoming call. :class:`RouteIndex` keeps, per source interface, the routes in order and, for those
whose criteria is such a literal, the literal per property; :meth:`RouteIndex.candidates` gives, in order, the
routes that can match a call's properties: every route whose criteria is not a literal, and the literal routes
whose literal one of its properties carries. The router still matches each candidate fully, so the decision is the
one the walk over every route gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from emulator.protocols.crout.properties import CallProperties
from emulator.protocols.crout.table import Matcher, Route, RoutingTable

__all__ = ["RouteIndex", "literal_of"]

_META = frozenset(".[]()*+?{}|^$\\")


def literal_of(matcher: Matcher) -> str | None:
    """The text a criteria matches exactly (an anchored pattern of plain or escaped characters), else None."""
    criteria = matcher.criteria
    if (criteria is None or criteria.tag is not None or criteria.regex is None or matcher.keyword is not None
            or matcher.moment is not None or not matcher.sides or matcher.prop == "None"):
        return None
    pattern = criteria.regex.pattern
    if len(pattern) < 2 or pattern[0] != "^" or pattern[-1] != "$" or criteria.regex.flags & (re.I | re.M):
        return None
    out: list[str] = []
    i, end = 1, len(pattern) - 1
    while i < end:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= end or pattern[i + 1] not in _META:  # an escaped final $, or \d, \b...: not a literal
                return None
            out.append(pattern[i + 1])
            i += 2
            continue
        if ch in _META:
            return None
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(slots=True)
class _SourceRoutes:
    routes: list[Route] = field(default_factory=list)  # the routes of one source, in order
    others: list[int] = field(default_factory=list)  # positions of the routes whose criteria is not a literal
    literal: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (property, literal) -> positions
    props: set[str] = field(default_factory=set)  # the properties the literals are read from


class RouteIndex:
    """The routes of one :class:`RoutingTable` per source, with their literal criteria indexed."""

    def __init__(self, table: RoutingTable) -> None:
        self.routes = table.routes  # what it was built from (the router rebuilds it when the table changes)
        self._sources: dict[str, _SourceRoutes] = {}
        for route in table.routes:
            literal = literal_of(route.matcher)
            for source in dict.fromkeys(route.sources):
                entry = self._sources.setdefault(source, _SourceRoutes())
                pos = len(entry.routes)
                entry.routes.append(route)
                if literal is None:
                    entry.others.append(pos)
                    continue
                for prop in route.matcher.sides:
                    entry.literal.setdefault((prop, literal), []).append(pos)
                    entry.props.add(prop)

    def candidates(self, source: str, props: CallProperties) -> list[Route]:
        """The routes from ``source`` that can match a call with ``props``, in table order."""
        entry = self._sources.get(source)
        if entry is None:
            return []
        if not entry.literal:
            return entry.routes
        positions = list(entry.others)
        for prop in entry.props:
            value = props.get(prop)
            if value is None:
                continue
            positions += entry.literal.get((prop, value), ())
            if value.endswith("\n"):  # "$" also matches before a final newline
                positions += entry.literal.get((prop, value[:-1]), ())
        routes = entry.routes
        return [routes[pos] for pos in sorted(set(positions))]

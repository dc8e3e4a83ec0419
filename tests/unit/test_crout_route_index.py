"""The routes that can match a call (protocols/crout/route_index.py): exactly the routes a walk over every route
matches, in table order, whatever mix of literal, pattern, tag and empty criteria the table holds."""

from __future__ import annotations

import random

import pytest

from emulator.protocols.crout import CallProperties
from emulator.protocols.crout.route_index import RouteIndex, literal_of
from emulator.protocols.crout.table import Matcher, Route, RoutingTable
from firmware_model.crout_expressions import compile_criteria

SOURCES = ("sip-default", "sip-trunk", "fxs-Phone-Fax1")
NUMBERS = ("2000", "2001", "+15551234", "*72#", "555", "")


def _matcher(prop: str, rule: str) -> Matcher:
    return Matcher(prop, rule, criteria=compile_criteria(rule)) if prop != "None" else Matcher("None", "")


@pytest.mark.parametrize("prop, rule, literal", [
    ("CalledE164", "^2000$", "2000"),
    ("E164", "^\\+1555\\*2#$", "+1555*2#"),
    ("CalledSipUsername", "^alice$", "alice"),
    ("CalledE164", "^20.0$", None),
    ("CalledE164", "^2000", None),
    ("CalledE164", "2000$", None),
    ("CalledE164", "^[0-9]+$", None),
    ("CalledE164", "^2000\\$", None),
    ("CalledE164", "<default>", None),
    ("CalledE164", "<undefined>", None),
    ("None", "", None),
])
def test_literal_criteria_are_recognised_and_only_they(prop: str, rule: str, literal: str | None) -> None:
    assert literal_of(_matcher(prop, rule)) == literal


def _walk(routes: tuple[Route, ...], source: str, props: CallProperties) -> list[int]:
    """The indexes of the routes from ``source`` whose criteria match, by trying each (the router's old walk)."""
    out = []
    for r in routes:
        if source not in r.sources:
            continue
        m = r.matcher
        if m.prop == "None" or any(m.criteria is not None and m.criteria.match(props.get(p)) is not None
                                   for p in m.sides):
            out.append(r.index)
    return out


def _random_table(rng: random.Random) -> RoutingTable:
    routes = []
    for i in range(1, rng.randint(1, 40)):
        kind = rng.random()
        prop = rng.choice(("CalledE164", "CallingE164", "E164", "CalledSipUsername"))
        if kind < 0.55:
            rule = "^" + "".join("\\" + c if c in "+*" else c for c in rng.choice(NUMBERS)) + "$"
        elif kind < 0.75:
            rule = rng.choice(("^20", "1$", "^[0-9]{4}$", "5", "^2000|^555$"))
        elif kind < 0.85:
            rule = rng.choice(("<default>", "<undefined>"))
        else:
            prop, rule = "None", ""
        sources = tuple(rng.sample(SOURCES, rng.randint(1, 2)))
        routes.append(Route(i, "User", sources, _matcher(prop, rule), "fxs-Phone-Fax1", (), ""))
    return RoutingTable(interfaces=SOURCES, routes=tuple(routes))


def test_candidates_that_match_are_what_a_walk_over_every_route_matches() -> None:
    rng = random.Random(4475)
    for _ in range(300):
        table = _random_table(rng)
        index = RouteIndex(table)
        for _ in range(10):
            props = CallProperties({"CalledE164": rng.choice((*NUMBERS, "2000\n", None)),
                                    "CallingE164": rng.choice((*NUMBERS, None)),
                                    "CalledSipUsername": rng.choice(("alice", "2001", None))})
            for source in SOURCES:
                found = index.candidates(source, props)
                assert [r.index for r in found] == sorted(r.index for r in found)  # table order
                assert _walk(tuple(found), source, props) == _walk(table.routes, source, props)


def test_a_hundred_auto_routes_give_one_candidate() -> None:
    routes = tuple(Route(i + 1, "Auto", ("sip-default",), _matcher("CalledE164", f"^{2000 + i}$"),
                         f"fxs-Phone-Fax{i + 1}", (), "") for i in range(100))
    index = RouteIndex(RoutingTable(interfaces=SOURCES, routes=routes))
    found = index.candidates("sip-default", CallProperties({"CalledE164": "2042"}))
    assert [r.destination for r in found] == ["fxs-Phone-Fax43"]
    assert index.candidates("sip-default", CallProperties({"CalledE164": "9999"})) == []
    assert index.candidates("sip-trunk", CallProperties({"CalledE164": "2042"})) == []

"""The call router's pure core: configurations checked and compiled (protocols/crout/table.py) and the routing
decision for a call (protocols/crout/router.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from emulator.protocols.crout import (
    AutoEndpoint,
    AutoRouting,
    CallProperties,
    HuntPlan,
    Leg,
    Redirect,
    Refusal,
    Router,
    RoutingConfigError,
    build_table,
    reason_header,
    status_for_cause,
)

IFS = ("sip-default", "sip-trunk", "fxs-Phone-Fax1", "fxs-Phone-Fax2")
NOW = datetime(2026, 12, 7, 10, 0)  # a Monday


def route(index: int, sources: str, dest: str, prop: str = "None", rule: str = "", **more: Any) -> dict[str, Any]:
    return {"Index": index, "SourceCriteria": sources, "PropertiesCriteria": prop, "ExpressionCriteria": rule,
            "Destination": dest, **more}


def called(number: str) -> CallProperties:
    return CallProperties({"CalledE164": number, "CalledSipUsername": number})


def refused(rows: dict[str, list[dict[str, Any]]], *words: str) -> str:
    with pytest.raises(RoutingConfigError) as err:
        build_table(rows, IFS)
    for w in words:
        assert w in str(err.value), str(err.value)
    return str(err.value)


def test_first_matching_route_with_transformations_and_route_labels() -> None:
    table = build_table({
        "Route": [
            route(1, "sip-default", "route-local", "CalledE164", "^555", Mappings="strip"),
            route(2, "route-local", "fxs-Phone-Fax2", "CalledE164", "^2$"),
            route(3, "route-local", "fxs-Phone-Fax1", "CalledE164", "<default>"),
        ],
        "MappingType": [{"Index": 1, "Name": "strip", "Criteria": "CalledE164", "Transformation": "CalledE164"}],
        "MappingExpression": [{"Index": 1, "Name": "strip", "Criteria": "^555(.*)$", "Transformation": "\\1"}],
    }, IFS)
    r = Router(table)
    leg = r.route("sip-default", called("5552"), NOW)
    assert isinstance(leg, Leg) and leg.interface == "fxs-Phone-Fax2"
    assert leg.properties.get("CalledE164") == "2"  # transformed before going on
    assert leg.trail == ("route User 1", "mapping strip", "route User 2")
    other = r.route("sip-default", called("5559"), NOW)
    assert isinstance(other, Leg) and other.interface == "fxs-Phone-Fax1"
    none = r.route("sip-default", called("4001"), NOW)
    assert isinstance(none, Refusal) and none.cause == 3
    assert status_for_cause(none.cause) == 404  # RFC 3398
    assert reason_header(3) == ("Reason", 'Q.850;cause=3;text="No route to destination"')
    assert status_for_cause(3, {3: 480}) == 480  # SipEp.ErrorMappingCauseToSip overrides


def test_next_transformations_side_less_properties_and_keywords() -> None:
    table = build_table({
        "Route": [route(1, "fxs-Phone-Fax1", "sip-trunk", Mappings="intl")],
        "MappingType": [
            {"Index": 1, "Name": "intl", "Criteria": "E164", "Transformation": "E164"},
            {"Index": 2, "Name": "ton", "Criteria": "None", "Transformation": "CalledTon"},
        ],
        "MappingExpression": [
            {"Index": 1, "Name": "intl", "Criteria": "^011([0-9]+)", "Transformation": "+\\1", "SubMappings": "ton"},
            {"Index": 2, "Name": "ton", "Criteria": "", "Transformation": "international"},
        ],
    }, IFS)
    leg = Router(table).route("fxs-Phone-Fax1", CallProperties({"CalledE164": "01133123", "CallingE164": "011"}),
                              NOW)
    assert isinstance(leg, Leg)
    assert leg.properties.get("CalledE164") == "+33123" and leg.properties.get("CallingE164") == "011"
    assert leg.properties.get("CalledTon") == "international"
    refused({"MappingType": [{"Index": 1, "Name": "t", "Criteria": "CalledTon", "Transformation": "CalledTon"}],
             "MappingExpression": [{"Index": 1, "Name": "t", "Criteria": "worldwide", "Transformation": "national"}]},
            "CalledTon takes one of unknown, international")


def test_hunt_orders_sequential_and_cyclic() -> None:
    rows = {"Route": [route(1, "sip-default", "hunt-lines")],
            "Hunt": [{"Index": 1, "Name": "lines", "Destinations": "fxs-Phone-Fax1, fxs-Phone-Fax2",
                      "SelectionAlgorithm": "Cyclic", "Timeout": 4, "Causes": "31, 34"}]}
    r = Router(build_table(rows, IFS))
    firsts = []
    for _ in range(3):
        plan = r.route("sip-default", called("1"), NOW)
        assert isinstance(plan, HuntPlan) and plan.timeout == 4 and plan.causes == {31, 34}
        firsts.append([c.interface for c in plan.choices if isinstance(c, Leg)])
    assert firsts == [["fxs-Phone-Fax1", "fxs-Phone-Fax2"], ["fxs-Phone-Fax2", "fxs-Phone-Fax1"],
                      ["fxs-Phone-Fax1", "fxs-Phone-Fax2"]]
    rows["Hunt"][0]["SelectionAlgorithm"] = "Sequential"
    r = Router(build_table(rows, IFS))
    for _ in range(2):
        plan = r.route("sip-default", called("1"), NOW)
        assert isinstance(plan, HuntPlan)
        assert [c.interface for c in plan.choices if isinstance(c, Leg)] == ["fxs-Phone-Fax1", "fxs-Phone-Fax2"]


def test_loops_are_refused_with_the_cycle() -> None:
    hunt = {"Index": 1, "Name": "a", "Destinations": "fxs-Phone-Fax1, hunt-b", "SelectionAlgorithm": "Sequential"}
    hunt_b = {"Index": 2, "Name": "b", "Destinations": "hunt-a", "SelectionAlgorithm": "Sequential"}
    refused({"Route": [route(1, "sip-default", "hunt-a")], "Hunt": [hunt, hunt_b]},
            "CRout.Hunt[1]: loop: hunt-a -> hunt-b -> hunt-a")
    refused({"Route": [route(1, "sip-default", "route-x"), route(2, "route-x", "route-y"),
                       route(3, "route-y", "route-x")]}, "loop: route-x -> route-y -> route-x")
    refused({"MappingType": [{"Index": 1, "Name": "m", "Criteria": "CalledE164", "Transformation": "CalledE164"}],
             "MappingExpression": [{"Index": 1, "Name": "m", "Criteria": "<default>", "Transformation": "\\0",
                                    "SubMappings": "m"}]},
            "CRout.MappingExpression[1]: loop of next transformations: m -> m")


def test_dangling_references_are_refused() -> None:
    refused({"Route": [route(1, "sip-default", "hunt-nobody")]}, "CRout.Route[1]", "no hunt is named nobody")
    refused({"Route": [route(1, "sip-default", "fxs-Phone-Fax9")]}, "fxs-Phone-Fax9 names no interface")
    refused({"Route": [route(1, "sip-nowhere", "fxs-Phone-Fax1")]}, "source sip-nowhere names no interface")
    refused({"Route": [route(1, "sip-default", "route-x")]}, "no route takes calls from route-x")
    refused({"Route": [route(1, "sip-default", "fxs-Phone-Fax1", Mappings="nope", SignalingProperties="sp")]},
            "transformation nope names no transformation", "signaling properties sp names no row")
    refused({"Hunt": [{"Index": 3, "Name": "h", "Destinations": "fxs-Phone-Fax1, fxs-Gone"}]},
            "CRout.Hunt[3]: destination fxs-Gone names no interface")
    refused({"MappingExpression": [{"Index": 1, "Name": "ghost", "Criteria": "", "Transformation": ""}]},
            "no transformation (MappingType) is named 'ghost'")
    refused({"MappingType": [{"Index": 1, "Name": "m", "Criteria": "CalledE164", "Transformation": "CalledE164"}],
             "MappingExpression": [{"Index": 1, "Name": "m", "Criteria": "^(1)", "Transformation": "\\2"}]},
            "uses \\2 but its criteria has 1 group(s)")
    refused({"Hunt": [{"Index": 1, "Name": "h", "Destinations": "fxs-Phone-Fax1, sip-default",
                       "SelectionAlgorithm": "Simultaneous"}]}, "Simultaneous hunt takes FXS destinations only")


def test_sip_to_sip_skipped_redirects_and_datetime_routes() -> None:
    table = build_table({
        "Route": [route(1, "sip-default", "sip-trunk"),  # SIP to SIP: never valid without the Sbc service
                  route(2, "sip-default", "SipRedirect-office", "DateTime", "SAT,SUN"),
                  route(3, "sip-default", "fxs-Phone-Fax1", "DateTime", "MON/08:00:00-17:00:00")],
        "SipRedirect": [{"Index": 1, "Name": "office", "DestinationHost": "192.0.2.7:5060"}],
    }, IFS)
    r = Router(table)
    leg = r.route("sip-default", called("1"), NOW)
    assert isinstance(leg, Leg) and leg.interface == "fxs-Phone-Fax1"
    redirect = r.route("sip-default", called("1"), datetime(2026, 12, 6, 10))  # Sunday
    assert isinstance(redirect, Redirect) and redirect.host == "192.0.2.7:5060"
    assert isinstance(r.route("sip-default", called("1"), datetime(2026, 12, 7, 18)), Refusal)
    assert isinstance(r.route("fxs-Phone-Fax1", called("1"), NOW), Refusal)  # no route from the line
    unavailable = r.route("sip-default", called("1"), NOW, available=lambda i: i != "fxs-Phone-Fax1")
    assert isinstance(unavailable, Refusal)


def test_auto_routing() -> None:
    eps = (AutoEndpoint("Phone-Fax1", "fxs-Phone-Fax1", "HardwareDependent", (), "", "5551001", "default"),
           AutoEndpoint("Phone-Fax2", "fxs-Phone-Fax2", "Disable", (), "", "bob", "default"))
    table = build_table({"Route": [route(1, "fxs-Phone-Fax2", "fxs-Phone-Fax1")]}, IFS, AutoRouting(True, "E164", eps))
    status = table.status["RouteStatus"]
    assert [(s["Type"], s["SourceCriteria"], s["ExpressionCriteria"], s["Destination"]) for s in status] == [
        ("User", "fxs-Phone-Fax2", "", "fxs-Phone-Fax1"),
        ("Auto", "sip-default,sip-trunk", "^5551001$", "fxs-Phone-Fax1"),
        ("Auto", "fxs-Phone-Fax1", "", "sip-default"),
    ]
    r = Router(table)
    assert isinstance(leg := r.route("sip-trunk", called("5551001"), NOW), Leg) and leg.interface == "fxs-Phone-Fax1"
    assert isinstance(r.route("sip-default", called("bob"), NOW), Refusal)  # Phone-Fax2 is not auto-routable
    named = (AutoEndpoint("Phone-Fax1", "fxs-Phone-Fax1", "Enable", ("default", "trunk"), "", "alice", "default"),)
    with pytest.raises(RoutingConfigError, match="need an auto-routing destination"):
        build_table({}, IFS, AutoRouting(True, "SipUsername", named))

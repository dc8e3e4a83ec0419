"""Every CRout table as the engine reads it: row commands (Up, Down, Insert, Delete) on each configured table,
signaling properties with their translations and SIP redirects, the auto-routing settings, and the SIP status to
cause overrides the outgoing hunts read (SipEp.ErrorMappingSipToCause)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.crout.engine import CRoutEngine
from emulator.engines.nlm import NlmEngine
from emulator.engines.sipep.engine import SipEpEngine
from emulator.protocols.crout import CallProperties, Leg, Redirect
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.config import ConfigError
from firmware_model.profiles import get_profile


async def crout_unit(tmp_path: Path) -> tuple[Unit, CRoutEngine]:
    u = Unit(name="t", profile=get_profile("4102"), state_dir=tmp_path, host="127.0.0.2",
             ports=PortPolicy(mode="auto"), fsync=False)
    nlm = NlmEngine(u)
    u.attach(nlm)
    u.nlm = nlm
    sipep = SipEpEngine(u)
    crout = CRoutEngine(u, sipep.calls)
    u.attach(crout)
    await crout.start()
    return u, crout


# one row per table: the column whose value tells the rows apart, and the other values of a valid row
ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "CRout.Route": ("Destination", {"SourceCriteria": "fxs-Phone-Fax1", "PropertiesCriteria": "None"}),
    "CRout.MappingType": ("Name", {"Criteria": "CalledE164", "Transformation": "CalledE164"}),
    "CRout.MappingExpression": ("Transformation", {"Name": "m", "Criteria": "<default>"}),
    "CRout.Hunt": ("Name", {"Destinations": "fxs-Phone-Fax2", "SelectionAlgorithm": "Cyclic", "Timeout": 5}),
    "CRout.SignalingProperties": ("Name", {"Privacy": "Rpid"}),
    "CRout.SipHeadersTranslation": ("Name", {"SipHeader": "FromHeaderUserPart", "BuiltFrom": "FixValue",
                                             "FixValue": "1000"}),
    "CRout.CallPropertiesTranslation": ("Name", {"CallProperty": "CallingName", "BuiltFrom": "FixValue",
                                                 "FixValue": "Front desk"}),
    "CRout.SipRedirect": ("Name", {"DestinationHost": "192.0.2.10"}),
}


@pytest.mark.parametrize("table", list(ROWS))
async def test_row_commands_of_every_table(tmp_path: Path, table: str) -> None:
    u, _ = await crout_unit(tmp_path)
    c = u.config
    column, values = ROWS[table]
    labels = ["fxs-Phone-Fax1", "fxs-Phone-Fax2", "sip-default"] if table == "CRout.Route" else ["a", "b", "c"]
    if table == "CRout.MappingExpression":
        c.add_row("CRout.MappingType", {"Name": "m", "Criteria": "CalledE164", "Transformation": "CalledE164"})
    for label in labels:
        c.add_row(table, {**values, column: label})

    def order() -> list[str]:
        return [str(r[column]) for r in c.rows(table)]

    c.set(f"{table}.Down[Index=1]", "Down")
    assert order() == [labels[1], labels[0], labels[2]]
    c.set(f"{table}.Up[Index=3]", "Up")
    assert order() == [labels[1], labels[2], labels[0]]
    c.set(f"{table}.Insert[Index=1]", "Insert")
    assert order() == ["", labels[1], labels[2], labels[0]]
    c.set(f"{table}.Delete[Index=1]", "Delete")
    assert order() == [labels[1], labels[2], labels[0]]
    assert [r["Index"] for r in c.rows(table)] == [2, 3, 4]
    await asyncio.sleep(0)
    assert all(r["ConfigStatus"] == "Valid" for r in c.rows(table))
    u.commands["CRout.ApplyConfig"]()
    status = c.rows(f"{table}Status")  # the configuration in use, in the new order
    assert [r[column] for r in status if r.get("Type", "User") == "User"] == [labels[1], labels[2], labels[0]]


async def test_signaling_properties_translations_and_redirects(tmp_path: Path) -> None:
    u, crout = await crout_unit(tmp_path)
    c = u.config
    c.add_row("CRout.SipHeadersTranslation", {"Name": "from-fixed", "SipHeader": "FromHeaderUserPart",
                                              "BuiltFrom": "FixValue", "FixValue": "1000"})
    c.add_row("CRout.CallPropertiesTranslation", {"Name": "name-fixed", "CallProperty": "CallingName",
                                                  "BuiltFrom": "FixValue", "FixValue": "Front desk"})
    c.add_row("CRout.SignalingProperties", {
        "Name": "trunk", "EarlyConnect": "Enable", "EarlyDisconnect": "Enable", "DestinationHost": "<local_ip_port>",
        "Allow180Sdp": "Disable", "Allow183NoSdp": "Disable", "Privacy": "Id",
        "CallPropertiesTranslation": "name-fixed", "SipHeadersTranslation": "from-fixed, from-missing"})
    c.add_row("CRout.SipRedirect", {"Name": "night", "DestinationHost": "192.0.2.20:5060"})
    c.add_row("CRout.Route", {"SourceCriteria": "fxs-Phone-Fax1", "Destination": "sip-default",
                              "SignalingProperties": "trunk"})
    c.add_row("CRout.Route", {"SourceCriteria": "sip-default", "PropertiesCriteria": "CalledE164",
                              "ExpressionCriteria": "^9", "Destination": "SipRedirect-night"})
    with pytest.raises(ConfigError, match=r"CRout.SignalingProperties\[1\]: SipHeadersTranslation from-missing "
                                          "names no row"):
        u.commands["CRout.ApplyConfig"]()
    c.set("CRout.SignalingProperties[1].SipHeadersTranslation", "from-fixed")
    u.commands["CRout.ApplyConfig"]()
    leg = crout.route("fxs-Phone-Fax1", CallProperties({"CalledE164": "5551000"}))
    assert isinstance(leg, Leg) and leg.signaling is not None
    sp = leg.signaling
    assert (sp.early_connect, sp.early_disconnect, sp.allow_180_sdp, sp.allow_183_no_sdp, sp.privacy) == \
        (True, True, False, False, "Id")
    assert (sp.destination_host, sp.call_properties_translation, sp.sip_headers_translation) == \
        ("<local_ip_port>", ("name-fixed",), ("from-fixed",))
    redirect = crout.route("sip-default", CallProperties({"CalledE164": "95551000"}))
    assert isinstance(redirect, Redirect) and redirect.host == "192.0.2.20:5060"
    [status] = c.rows("CRout.SignalingPropertiesStatus")
    assert (status["Name"], status["Privacy"], status["SipHeadersTranslation"]) == ("trunk", "Id", "from-fixed")
    assert [r["FixValue"] for r in c.rows("CRout.SipHeadersTranslationStatus")] == ["1000"]
    assert [r["FixValue"] for r in c.rows("CRout.CallPropertiesTranslationStatus")] == ["Front desk"]
    assert [r["DestinationHost"] for r in c.rows("CRout.SipRedirectStatus")] == ["192.0.2.20:5060"]


async def test_auto_routing_settings(tmp_path: Path) -> None:
    u, crout = await crout_unit(tmp_path)
    c = u.config
    c.set("SipEp.UserAgent[Phone-Fax1].Username", "5551001")
    c.add_row("CRout.MappingType", {"Name": "plus", "Criteria": "CalledE164", "Transformation": "CalledE164"})
    c.add_row("CRout.MappingExpression", {"Name": "plus", "Criteria": "^([0-9]+)$", "Transformation": "+1\\1"})
    c.add_row("CRout.SignalingProperties", {"Name": "sp"})
    c.set("CRout.AutoRoutingCriteriaType", "E164")
    c.set("CRout.AutoRoutingIncomingMappings", "plus")
    c.set("CRout.AutoRoutingOutgoingMappings", "nope")
    c.set("CRout.AutoRoutingIncomingSignalingProperties", "sp")
    c.set("CRout.AutoRoutingOutgoingSignalingProperties", "sp")
    with pytest.raises(ConfigError, match=r"CRout.AutoRouting\[Phone-Fax1\]: transformation nope names no "):
        u.commands["CRout.ApplyConfig"]()
    c.set("CRout.AutoRoutingOutgoingMappings", "plus")
    c.set("CRout.AutoRouting[Phone-Fax2].Autoroutable", "Disable")
    u.commands["CRout.ApplyConfig"]()
    rows = [(r["SourceCriteria"], r["PropertiesCriteria"], r["ExpressionCriteria"], r["Mappings"],
             r["SignalingProperties"]) for r in c.rows("CRout.RouteStatus")]
    assert rows == [("sip-default", "CalledE164", "^5551001$", "plus", "sp"),
                    ("fxs-Phone-Fax1", "None", "", "plus", "sp")]
    leg = crout.route("fxs-Phone-Fax1", CallProperties({"CalledE164": "5145550000"}))
    assert isinstance(leg, Leg) and leg.properties.get("CalledE164") == "+15145550000"
    # the line's calls to another destination than its gateway: here the other line
    c.set("CRout.AutoRouting[Phone-Fax1].AutoRoutingGateway", "default")
    c.set("CRout.AutoRouting[Phone-Fax1].AutoRoutingDestination", "fxs-Phone-Fax2")
    u.commands["CRout.ApplyConfig"]()
    assert [r["Destination"] for r in c.rows("CRout.RouteStatus")] == ["fxs-Phone-Fax1", "fxs-Phone-Fax2"]


async def test_sip_status_to_cause_overrides(tmp_path: Path) -> None:
    u, crout = await crout_unit(tmp_path)
    c = u.config
    assert crout.cause_of(404) == 1 and crout.cause_of(503) == 41  # RFC 3398
    c.add_row("SipEp.ErrorMappingSipToCause", {"SipCode": 404, "Cause": 31})
    assert crout.cause_of(404) == 31
    c.set("SipEp.ErrorMappingSipToCause.Delete[SipCode=404]", "Delete")
    assert crout.cause_of(404) == 1
    c.add_row("SipEp.ErrorMappingCauseToSip", {"Cause": 3, "SipCode": 480})
    assert crout.sip_status(3) == 480

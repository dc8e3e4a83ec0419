"""A unit reset to factory and then given a configuration script (text, or a file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.pytest_plugin import DgwApiError, Unit

SITE = Path(__file__).parent / "scripts" / "site.cfg"


@pytest.mark.dgw_unit(name="bob", script=SITE)
def test_a_site_script_is_applied(dgw_unit: Unit) -> None:
    assert dgw_unit.name == "bob"
    assert dgw_unit.get("Hoc.SystemName") == "branch-office-12"
    assert dgw_unit.get("Snmp.Port") == 1161
    # the plugin restarted the services the script left needing it: the SNMP agent listens again
    assert dgw_unit.address("snmp").startswith(dgw_unit.host + ":")
    assert [s for s in dgw_unit.request("GET", "/services")["services"] if s["NeedRestartInfo"] == "Yes"] == []


@pytest.mark.dgw_unit(script='SipEp.UserAgent[Phone-Fax1].Username = "5551234"')
def test_a_script_given_as_text(dgw_unit: Unit) -> None:
    assert dgw_unit.get("SipEp.UserAgent[Phone-Fax1].Username") == "5551234"


def test_a_refused_script_changes_nothing(dgw_unit: Unit) -> None:
    with pytest.raises(DgwApiError) as refused:
        dgw_unit.script('Hoc.SystemName = "half-done"\nSnmp.Port = 70000')
    assert refused.value.status == 400
    assert dgw_unit.get("Hoc.SystemName") == ""  # all or nothing

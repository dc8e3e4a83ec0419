"""Each test gets its unit back at factory settings, whatever the test before it changed."""

from __future__ import annotations

from emulator.pytest_plugin import Unit


def test_a_unit_reset_to_factory_has_the_hardware_defaults(dgw_unit: Unit) -> None:
    assert dgw_unit.get("Cli.SshPort") == 22
    assert dgw_unit.get("Snmp.Port") == 161
    assert dgw_unit.get("Hoc.SystemName") == ""
    assert dgw_unit.status()["profile"] == "4102"


def test_a_change_made_here_is_gone_in_the_next_test(dgw_unit: Unit) -> None:
    assert dgw_unit.get("Hoc.SystemName") == ""
    assert dgw_unit.set("Hoc.SystemName", "changed-by-a-test") == "changed-by-a-test"


def test_the_next_test_sees_factory_settings_again(dgw_unit: Unit) -> None:
    assert dgw_unit.get("Hoc.SystemName") == ""

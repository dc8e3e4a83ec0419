"""Units made for one test (their own processes, stopped after it), beside the session lab."""

from __future__ import annotations

from collections.abc import Callable

from emulator.pytest_plugin import Unit


def test_a_new_unit_of_another_model_boots_with_its_settings(dgw_new_unit: Callable[..., Unit]) -> None:
    c740 = dgw_new_unit(profile="C740", settings={"Hoc.SystemName": "isdn-gw"})
    assert c740.status()["profile"] == "C740"
    assert c740.get("Hoc.SystemName") == "isdn-gw"
    assert c740.endpoint.startswith("Bri")


def test_a_new_unit_calls_a_lab_unit(dgw_new_unit: Callable[..., Unit], dgw_unit: Unit) -> None:
    dgw_unit.script('SipEp.UserAgent[Phone-Fax1].Username = "lab"')
    caller = dgw_new_unit(script=f'SipEp.DefaultStaticProxyHomeDomainHost = "{dgw_unit.sip}"')
    caller.play(1800)
    caller.dial("lab")
    dgw_unit.wait_call("ringing")
    dgw_unit.answer()
    assert dgw_unit.wait_tone(1800)["frequency"] > 1700

"""Call forwarding decisions (emulator.protocols.forwarding): which EpServ parameters turn each service on for
an endpoint, what an arriving call does, and the no-answer deadlines under an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.protocols.forwarding import MAX_DIVERSIONS, ForwardRule, LineForwarding, NoAnswerClock, line_forwarding
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from tests.helpers.config_cells import lenient_get

EP = "Phone-Fax1"


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    return Unit(name="fw", profile=get_profile("4102"), state_dir=tmp_path / "fw", host="127.0.0.2",
                ports=PortPolicy(mode="auto"), fsync=False)


def read(unit: Unit, endpoint: str = EP) -> LineForwarding:
    return line_forwarding(lenient_get(unit), endpoint)


def activate(unit: Unit, kind: str, address: str, endpoint: str = EP) -> None:
    unit.config.set(f"EpServ.Forward{kind}Config[{endpoint}].Activation", "Active")
    unit.config.set(f"EpServ.Forward{kind}Config[{endpoint}].ForwardingAddress", address)


def test_factory_unit_forwards_nothing(unit: Unit) -> None:
    line = read(unit)
    assert line == LineForwarding(None, None, None, 5.0)
    assert line.on_arrival(busy=True) is None and line.no_answer() is None


@pytest.mark.parametrize("kind", ["Unconditional", "OnBusy", "NoAnswer"])
def test_service_needs_the_unit_enable_and_the_users_activation(unit: Unit, kind: str) -> None:
    activate(unit, kind, "2000")
    assert read(unit) == LineForwarding(None, None, None, 5.0)  # active, but the service is disabled
    unit.config.set(f"EpServ.DefaultForward{kind}Enable", "Enable")
    line = read(unit)
    got = {"Unconditional": line.unconditional, "OnBusy": line.on_busy, "NoAnswer": line.no_answer_to}
    assert got[kind] == "2000" and [v for v in got.values() if v] == ["2000"], line
    unit.config.set(f"EpServ.Forward{kind}Config[{EP}].Activation", "Inactive")
    assert read(unit) == LineForwarding(None, None, None, 5.0)
    unit.config.set(f"EpServ.Forward{kind}Config[{EP}].Activation", "Active")
    unit.config.set(f"EpServ.Forward{kind}Config[{EP}].ForwardingAddress", "  ")  # emulator choice: nothing
    assert read(unit) == LineForwarding(None, None, None, 5.0)


def test_endpoint_row_overrides_the_default_only_with_enable_config(unit: Unit) -> None:
    activate(unit, "OnBusy", "sip:carol@example.net")
    unit.config.set("EpServ.EpSpecificForwardOnBusy[Phone-Fax1].Enable", "Enable")
    assert read(unit).on_busy is None  # EnableConfig Disable: the default (Disable) rules
    unit.config.set("EpServ.EpSpecificForwardOnBusy[Phone-Fax1].EnableConfig", "Enable")
    assert read(unit).on_busy == "sip:carol@example.net"
    unit.config.set("EpServ.DefaultForwardOnBusyEnable", "Enable")
    unit.config.set("EpServ.EpSpecificForwardOnBusy[Phone-Fax1].Enable", "Disable")
    assert read(unit).on_busy is None  # the row says Disable although the default says Enable
    activate(unit, "OnBusy", "3000", "Phone-Fax2")
    assert read(unit, "Phone-Fax2").on_busy == "3000"  # the other line follows the default
    activate(unit, "Unconditional", "4000", "Phone-Fax2")
    unit.config.set("EpServ.EpSpecificForwardUnconditional[Phone-Fax2].EnableConfig", "Enable")
    unit.config.set("EpServ.EpSpecificForwardUnconditional[Phone-Fax2].Enable", "Enable")
    assert read(unit, "Phone-Fax2").on_arrival(busy=False) == ForwardRule("Unconditional", "4000")
    assert read(unit).unconditional is None  # Phone-Fax1: the default, Disable


def test_no_answer_timeout_default_or_endpoint_row(unit: Unit) -> None:
    unit.config.set("EpServ.DefaultForwardNoAnswerEnable", "Enable")
    activate(unit, "NoAnswer", "baresip")
    unit.config.set("EpServ.DefaultForwardNoAnswerTimeout", 1500)
    assert read(unit).no_answer() == (ForwardRule("NoAnswer", "baresip"), 1.5)
    unit.config.set("EpServ.EpSpecificForwardNoAnswer[Phone-Fax1].Timeout", 12000)
    assert read(unit).no_answer_timeout_s == 1.5
    unit.config.set("EpServ.EpSpecificForwardNoAnswer[Phone-Fax1].EnableConfig", "Enable")
    unit.config.set("EpServ.EpSpecificForwardNoAnswer[Phone-Fax1].Enable", "Enable")
    assert read(unit).no_answer() == (ForwardRule("NoAnswer", "baresip"), 12.0)


def test_arrival_unconditional_first_then_busy() -> None:
    line = LineForwarding(unconditional="1000", on_busy="2000", no_answer_to="3000")
    assert line.on_arrival(busy=False) == ForwardRule("Unconditional", "1000")
    assert line.on_arrival(busy=True).reason == "unconditional"  # type: ignore[union-attr]
    busy_only = LineForwarding(on_busy="2000", no_answer_to="3000")
    assert busy_only.on_arrival(busy=False) is None  # it rings (no answer may forward it later)
    assert busy_only.on_arrival(busy=True) == ForwardRule("OnBusy", "2000")
    assert busy_only.on_arrival(busy=True).reason == "user-busy"  # type: ignore[union-attr]
    assert busy_only.no_answer()[0].reason == "no-answer"  # type: ignore[index]


def test_a_call_diverted_too_often_is_not_diverted_again() -> None:
    line = LineForwarding(unconditional="1000", no_answer_to="3000")
    assert line.on_arrival(False, MAX_DIVERSIONS - 1) is not None
    assert line.on_arrival(False, MAX_DIVERSIONS) is None
    assert line.no_answer(MAX_DIVERSIONS) is None


def test_no_answer_clock_with_injected_time() -> None:
    clock = NoAnswerClock()
    a, b = ForwardRule("NoAnswer", "a"), ForwardRule("NoAnswer", "b")
    assert clock.next_deadline() is None and clock.due(1e9) == []
    assert clock.ring(1, 100.0, a, 5.0) == 105.0
    assert clock.ring(2, 101.0, b, 2.0) == 103.0
    assert clock.next_deadline() == 103.0
    assert clock.due(102.9) == []
    assert clock.due(103.0) == [(2, b)]
    assert clock.next_deadline() == 105.0
    clock.settle(1)  # answered before its time
    assert clock.due(200.0) == [] and clock.next_deadline() is None
    clock.ring(3, 0.0, a, 1.0)
    clock.ring(4, 0.0, b, 0.5)
    assert clock.due(10.0) == [(4, b), (3, a)]  # earliest first

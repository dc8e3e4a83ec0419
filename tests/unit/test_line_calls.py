"""The calls of one line (engines/sipep/line_calls.py): its focus, waiting and held calls, who may ring, and what a
hook-flash does; and the EpServ settings and status rows they follow (line_services.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.line_calls import FlashStep, LineCalls, flash_step, ring_admission
from emulator.engines.sipep.line_services import STATUS_TABLES, LineServices
from firmware_model.config import Config
from firmware_model.profiles import factory_for, get_profile
from firmware_model.schema import load_catalog

EP = "Phone-Fax1"


@dataclass(eq=False)
class FakeCall:
    state: CallState = CallState.CONNECTED
    local_hold: bool = False
    waiting: bool = False
    endpoint: str = EP

    @property
    def active(self) -> bool:
        return self.state is not CallState.ENDED


@dataclass
class Svc:
    waiting: bool = True
    second: bool = True
    hold_on: bool = True
    processing: str = "ProcessLocally"

    def hold(self, endpoint: str) -> bool:
        return self.hold_on

    def call_waiting(self, endpoint: str) -> bool:
        return self.waiting

    def second_call(self, endpoint: str) -> bool:
        return self.second

    def flash_processing(self, endpoint: str) -> str:
        return self.processing


def test_focus_follows_the_line_and_falls_back_when_it_ends() -> None:
    lines = LineCalls()
    first = FakeCall()
    lines.set_focus(first)
    second = FakeCall(state=CallState.RINGING, waiting=True)
    calls = [first, second, FakeCall(endpoint="Phone-Fax2")]
    assert lines.focus(EP, calls) is first and lines.waiting(EP, calls) is second and lines.held(EP, calls) is None
    first.state = CallState.ENDED  # the line's call ends: the waiting call now rings the line
    assert lines.focus(EP, calls) is second and not second.waiting and lines.others(EP, calls) == []
    second.state = CallState.ENDED
    assert lines.focus(EP, calls) is None


def test_a_call_held_by_the_line_is_its_held_call() -> None:
    lines = LineCalls()
    held, talk = FakeCall(local_hold=True), FakeCall()
    lines.set_focus(talk)
    assert lines.held(EP, [held, talk]) is held
    held.local_hold = False  # connected but not held by the line: not "held"
    assert lines.held(EP, [held, talk]) is None


@pytest.mark.parametrize(("calls", "off_hook", "waiting_on", "expected"), [
    ([], False, True, "ring"),
    ([], True, True, None),  # off-hook without a call (dialling): busy
    ([FakeCall()], True, True, "wait"),
    ([FakeCall()], True, False, None),  # call waiting off: 486 as without the service
    ([FakeCall(state=CallState.ALERTING)], True, True, None),  # not in a connected call
    ([FakeCall(), FakeCall(local_hold=True)], True, True, None),  # two calls already
])
def test_ring_admission(calls: list[FakeCall], off_hook: bool, waiting_on: bool, expected: str | None) -> None:
    lines = LineCalls()
    if calls:
        lines.set_focus(calls[0])
    assert ring_admission(lines, EP, calls, off_hook, Svc(waiting=waiting_on)) == expected


def _step(focus: FakeCall, other: FakeCall | None, svc: Svc | None = None) -> FlashStep:
    lines = LineCalls()
    calls = [c for c in (other, focus) if c is not None]
    lines.set_focus(focus)
    if other is not None and other.state is CallState.RINGING:
        other.waiting = True
    return flash_step(lines, EP, calls, svc or Svc())


def test_flash_steps() -> None:
    assert _step(FakeCall(), FakeCall(state=CallState.RINGING)) is FlashStep.ANSWER_WAITING
    assert _step(FakeCall(), FakeCall(state=CallState.RINGING), Svc(hold_on=False)) is FlashStep.NOTHING
    assert _step(FakeCall(), FakeCall(local_hold=True)) is FlashStep.SWAP
    assert _step(FakeCall(state=CallState.ALERTING), FakeCall(local_hold=True)) is FlashStep.BACK_TO_HELD
    assert _step(FakeCall(local_hold=True), None) is FlashStep.BACK_TO_HELD  # flash again after a flash
    assert _step(FakeCall(), None) is FlashStep.SECOND_CALL
    assert _step(FakeCall(), None, Svc(second=False)) is FlashStep.NOTHING
    assert _step(FakeCall(state=CallState.RINGING), None) is FlashStep.NOTHING
    assert _step(FakeCall(), None, Svc(processing="TransmitUsingSignalingProtocol")) is FlashStep.TRANSMIT
    assert flash_step(LineCalls(), EP, [], Svc()) is FlashStep.NOTHING


def _config() -> Config:
    cat = load_catalog()
    return Config(cat, factory_for(cat, get_profile("4102")))


def test_services_read_the_default_or_the_enabled_endpoint_row() -> None:
    c = _config()
    s = LineServices(c)
    assert s.hold(EP) and s.call_waiting(EP) and s.second_call(EP) and s.conference(EP)
    assert s.conference_type(EP) == "Local" and s.flash_processing(EP) == "ProcessLocally"
    c.set("EpServ.DefaultHoldEnable", "Disable")
    c.set(f"EpServ.EpSpecificHold[{EP}].Enable", "Enable")
    assert not s.hold(EP)  # the row does not count while its EnableConfig is Disable
    c.set(f"EpServ.EpSpecificHold[{EP}].EnableConfig", "Enable")
    assert s.hold(EP) and not s.hold("Phone-Fax2")
    c.set(f"EpServ.CallWaitingUserConfig[{EP}].State", "Inactive")
    assert not s.call_waiting(EP) and s.call_waiting("Phone-Fax2")
    c.set("EpServ.DefaultSecondCallDisconnectAction", "AutoSwitch")
    assert s.second_call_disconnect(EP) == "AutoSwitch"
    c.set(f"EpServ.EpSpecificTransfer[{EP}].EnableConfig", "Enable")
    c.set(f"EpServ.EpSpecificTransfer[{EP}].AttendedEnable", "Disable")
    assert s.blind_transfer(EP) and not s.attended_transfer(EP)
    s.provide()
    assert {r["EpId"]: r["State"] for r in c.rows("EpServ.HoldStatus")} == {EP: "Active", "Phone-Fax2": "Inactive"}
    assert {r["EpId"]: r["State"] for r in c.rows("EpServ.CallWaitingStatus")}[EP] == "Inactive"
    assert {r["EpId"]: (r["BlindState"], r["AttendedState"]) for r in c.rows("EpServ.TransferStatus")}[EP] == \
        ("Active", "Inactive")
    assert all(c.rows(t) for t in STATUS_TABLES)


# each setting the services read: (the default, the endpoint row's column), the reader, the value that turns it off
SETTINGS = [
    ("EpServ.DefaultHoldEnable", "EpServ.EpSpecificHold", "Enable", LineServices.hold),
    ("EpServ.DefaultCallWaitingEnable", "EpServ.EpSpecificCallWaiting", "Enable", LineServices.call_waiting),
    ("EpServ.DefaultSecondCallEnable", "EpServ.EpSpecificSecondCall", "Enable", LineServices.second_call),
    ("EpServ.DefaultTransferBlindEnable", "EpServ.EpSpecificTransfer", "BlindEnable", LineServices.blind_transfer),
    ("EpServ.DefaultTransferAttendedEnable", "EpServ.EpSpecificTransfer", "AttendedEnable",
     LineServices.attended_transfer),
    ("EpServ.DefaultConferenceEnable", "EpServ.EpSpecificConference", "Enable", LineServices.conference),
]
CHOICES = [
    ("EpServ.DefaultSecondCallDisconnectAction", "EpServ.EpSpecificSecondCall", "DisconnectAction",
     LineServices.second_call_disconnect, "Wait", "AutoSwitch"),
    ("EpServ.DefaultConferenceType", "EpServ.EpSpecificConference", "Type", LineServices.conference_type, "Local",
     "ConferenceServer"),
    ("EpServ.DefaultCallHookFlashProcessing", "EpServ.EpSpecificCall", "HookFlashProcessing",
     LineServices.flash_processing, "ProcessLocally", "TransmitUsingSignalingProtocol"),
]


@pytest.mark.parametrize(("default", "table", "column", "reader"), SETTINGS)
def test_each_service_switch(default: str, table: str, column: str, reader: object) -> None:
    c = _config()
    s = LineServices(c)
    read = lambda ep: reader(s, ep)  # type: ignore[operator]  # noqa: E731
    assert read(EP) and read("Phone-Fax2")
    c.set(default, "Disable")
    assert not read(EP) and not read("Phone-Fax2")
    c.set(f"{table}[{EP}].EnableConfig", "Enable")  # the endpoint's row (Enable) now counts for it alone
    assert read(EP) and not read("Phone-Fax2")
    c.set(f"{table}[{EP}].{column}", "Disable")
    assert not read(EP)


@pytest.mark.parametrize(("default", "table", "column", "reader", "factory", "other"), CHOICES)
def test_each_service_choice(default: str, table: str, column: str, reader: object, factory: str, other: str) -> None:
    c = _config()
    s = LineServices(c)
    read = lambda ep: reader(s, ep)  # type: ignore[operator]  # noqa: E731
    assert read(EP) == factory
    c.set(default, other)
    assert read(EP) == other and read("Phone-Fax2") == other
    c.set(f"{table}[{EP}].EnableConfig", "Enable")
    assert read(EP) == factory  # the row's own value (the factory's)
    c.set(f"{table}[{EP}].{column}", other)
    assert read(EP) == other

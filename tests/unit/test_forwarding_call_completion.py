"""Call completion (RFC 6910), the agent's decisions (emulator.protocols.sip.call_completion): which failed calls may
be completed per the EpServ settings, the monitor a refusal names, the event bodies, one request's states and its
expiry under an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.protocols.sip.call_completion import (
    CcRequest,
    CcServices,
    body,
    candidate,
    monitor_of,
    parse_body,
    services,
)
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from tests.helpers.config_cells import lenient_get


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    return Unit(name="cc", profile=get_profile("4102"), state_dir=tmp_path / "cc", host="127.0.0.2",
                ports=PortPolicy(mode="auto"), fsync=False)


def read(unit: Unit, endpoint: str = "Phone-Fax1") -> CcServices:
    return services(lenient_get(unit), endpoint)


def test_services_from_the_defaults_or_the_endpoint_row(unit: Unit) -> None:
    assert read(unit) == CcServices(False, False, 180 * 60.0)
    unit.config.set("EpServ.DefaultCallCompletionNoReplyEnable", "Enable")
    unit.config.set("EpServ.DefaultCallCompletionExpirationTimeout", 2)
    assert read(unit) == CcServices(False, True, 120.0)
    # the row (factory: both Enable) rules only with its EnableConfig
    unit.config.set("EpServ.EpSpecificCallCompletion[Phone-Fax2].EnableConfig", "Enable")
    unit.config.set("EpServ.EpSpecificCallCompletion[Phone-Fax2].NoReplyEnable", "Disable")
    assert read(unit, "Phone-Fax2") == CcServices(True, False, 120.0)
    unit.config.set("EpServ.EpSpecificCallCompletion[Phone-Fax2].BusySubscriberEnable", "Disable")
    assert read(unit, "Phone-Fax2") == CcServices(False, False, 120.0)
    assert read(unit) == CcServices(False, True, 120.0)


@pytest.mark.parametrize(("status", "rang", "ccbs", "ccnr", "kind"), [
    (486, False, True, False, "Ccbs"),
    (486, True, False, True, None),  # busy is not "no reply"
    (487, True, False, True, "Ccnr"),  # rang, then the caller gave up
    (480, True, True, True, "Ccnr"),
    (487, False, True, True, None),  # never rang
    (404, True, True, True, None),
    (None, False, True, True, None),
])
def test_candidates(status: int | None, rang: bool, ccbs: bool, ccnr: bool, kind: str | None) -> None:
    assert candidate(status, rang, ccbs=ccbs, ccnr=ccnr) == kind


def test_the_monitor_a_refusal_names_and_the_bodies() -> None:
    assert monitor_of(['<http://x/y>;purpose=info, <sip:mon@m.example;x=1>;purpose=call-completion;m=BS']) == \
        "sip:mon@m.example;x=1"
    assert monitor_of(["<sip:a@b>;purpose=icon", "garbage<"]) is None and monitor_of([]) is None
    assert body("ready", "sip:bob@b;m=BS") == b"cc-state: ready\r\ncc-URI: <sip:bob@b;m=BS>\r\n"
    assert parse_body(b"CC-State: queued\r\nno colon here\r\ncc-service-retention: true\r\n") == {
        "cc-state": "queued", "cc-service-retention": "true"}


def test_a_request_queued_then_ready_recalls_once() -> None:
    req = CcRequest(1, "Phone-Fax1", "Ccbs", "sip:bob@b.example", "sip:mon@m.example", expires_at=100.0)
    assert (req.state, req.target_state, req.active) == ("subscribing", "Unknown", True)
    assert not req.notified({"cc-state": "queued"}, terminated=False)
    assert req.target_state == "Busy"
    assert req.notified({"cc-state": "ready"}, terminated=False)
    assert req.target_state == "Idle" and req.recall_uri() == "sip:bob@b.example;m=BS"
    assert not req.notified({"cc-state": "ready"}, terminated=False)  # one recall
    nr = CcRequest(2, "Phone-Fax1", "Ccnr", "sip:bob@b.example", "sip:bob@b.example", expires_at=100.0)
    assert nr.notified({"cc-state": "ready", "cc-uri": "<sip:bob@b.example;m=NR;x=y>"}, terminated=False)
    assert nr.recall_uri() == "sip:bob@b.example;m=NR;x=y"


def test_a_refusing_monitor_and_the_expiry_with_injected_time() -> None:
    req = CcRequest(1, "Phone-Fax1", "Ccnr", "sip:bob@b", "sip:bob@b", expires_at=100.0)
    assert req.recall_uri() == "sip:bob@b;m=NR"
    assert not req.notified({}, terminated=True) and req.state == "refused" and not req.active
    late = CcRequest(2, "Phone-Fax1", "Ccbs", "sip:bob@b", "sip:bob@b", expires_at=100.0)
    assert not late.expired(99.9) and late.expired(100.0) and late.state == "expired"
    assert not late.expired(200.0)  # once
    assert not late.notified({"cc-state": "ready"}, terminated=False)  # too late: no recall

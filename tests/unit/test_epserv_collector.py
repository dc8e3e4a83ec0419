"""The dialling state machine of an off-hook line (emulator.engines.epserv.collector), with injected time, and
the dial plan read from the EpServ configuration (emulator.engines.epserv.plan)."""

from __future__ import annotations

import tempfile

from emulator.engines.epserv.collector import AllowedMap, Collector, DialPlan, Outcome, ServiceCode, Timeouts
from emulator.engines.epserv.plan import dial_plan
from emulator.engines.epserv.statistics import CallStatistics
from firmware_model.digit_maps import parse_digit_map as dm
from firmware_model.profiles import get_profile

PLAN = DialPlan(
    allowed=(AllowedMap(1, dm("1xxx"), "(1)55x", "127.0.0.9:5070"), AllowedMap(2, dm("911"), emergency=True),
             AllowedMap(3, dm("x.T"))),
    refused=(dm("9xx"),),
    services=(ServiceCode("ForwardUnconditional", "Activation", dm("*72x.T")),
              ServiceCode("CallWaiting", "Deactivation", dm("*70")),
              ServiceCode("ForwardOnBusy", "Activation", dm("*90Sx.T"))),
    timeouts=Timeouts(first=10.0, inter=2.0, completion=30.0),
    direct_ip=True,
)


def dial(plan: DialPlan, keys: str, step: float = 0.5) -> tuple[list[Outcome], float]:
    """Press ``keys`` ``step`` seconds apart, then let the timers run: the outcomes and the time they ended."""
    c = Collector(plan, 0.0)
    now = 0.0
    outcomes: list[Outcome] = []
    first = c.start()
    if first is not None:
        return [first], now
    for k in keys:
        now += step
        out = c.press(k, now)
        if out is not None:
            outcomes.append(out)
            if c.done is not None:
                return outcomes, now
    while (deadline := c.deadline()) is not None:
        assert c.tick(deadline - 0.01) is None  # nothing before the deadline
        now = deadline
        out = c.tick(now)
        if out is not None:
            outcomes.append(out)
    return outcomes, now


def test_fixed_length_map_dials_at_once_with_its_transformation_and_host() -> None:
    (out,), when = dial(PLAN, "1234")
    assert (out.kind, out.number, out.target_host, out.map_index, out.dialled) == \
        ("call", "55234", "127.0.0.9:5070", 1, "1234")
    assert when == 2.0  # no timer waited


def test_open_map_ends_on_the_inter_dtmf_timer() -> None:
    (out,), when = dial(PLAN, "5551")
    assert (out.kind, out.number, out.map_index) == ("call", "5551", 3)
    assert when == 2.0 + 2.0  # the last key at 2.0 s, then the inter-DTMF timeout


def test_refused_map_takes_precedence() -> None:
    (out,), _ = dial(PLAN, "912")  # 9xx refused, x.T would allow it
    assert out.kind == "refused" and "refused" in out.reason


def test_emergency_map_marks_the_call() -> None:
    plan = DialPlan(allowed=(AllowedMap(2, dm("911"), emergency=True),))
    (out,), _ = dial(plan, "911")
    assert out.kind == "call" and out.emergency


def test_nothing_matches_is_refused_at_the_key() -> None:
    plan = DialPlan(allowed=(AllowedMap(1, dm("[1-3]xx")),))
    (out,), when = dial(plan, "45")
    assert out.kind == "refused" and out.dialled == "4" and when == 0.5


def test_first_dtmf_timeout_without_hotline() -> None:
    (out,), when = dial(PLAN, "")
    assert out.kind == "timeout" and when == 10.0


def test_completion_timeout_bounds_the_dialling() -> None:
    plan = DialPlan(allowed=(AllowedMap(1, dm("x.T")),), timeouts=Timeouts(first=10.0, inter=2.0, completion=3.0))
    c = Collector(plan, 0.0)
    for i in range(5):
        c.press("1", 0.5 * (i + 1))  # keys keep coming before the inter-DTMF timeout
    assert c.deadline() == 3.0
    out = c.tick(3.0)
    assert out is not None and out.kind == "call" and out.number == "11111"


def test_hotline_at_offhook() -> None:
    (out,), when = dial(DialPlan(auto_call="4000"), "")
    assert (out.kind, out.number, when) == ("hotline", "4000", 0.0)


def test_delayed_hotline_follows_its_condition() -> None:
    first = DialPlan(allowed=(AllowedMap(1, dm("xxxx")),), delayed_hotline="4000")
    (out,), when = dial(first, "")
    assert (out.kind, out.number, when) == ("hotline", "4000", 20.0)
    (out,), _ = dial(first, "12")  # an inter-DTMF timeout is not FirstDtmfTimeout: refused
    assert out.kind == "refused"
    inter = DialPlan(allowed=(AllowedMap(1, dm("xxxx")),), delayed_hotline="4000",
                     delayed_condition="InterDtmfOrCompletionTimeout")
    (out,), _ = dial(inter, "12")
    assert (out.kind, out.number) == ("hotline", "4000")
    (out,), _ = dial(inter, "")
    assert out.kind == "timeout"


def test_service_codes() -> None:
    (out,), _ = dial(PLAN, "*72123")
    assert (out.kind, out.service, out.action, out.number) == ("service", "ForwardUnconditional", "Activation", "123")
    (out,), _ = dial(PLAN, "*70")
    assert (out.kind, out.service, out.action) == ("service", "CallWaiting", "Deactivation")
    outs, _ = dial(PLAN, "*90456")  # S: a stutter once the code is dialled, then the address
    assert [o.kind for o in outs] == ["stutter", "service"] and outs[1].number == "456"


def test_direct_ip() -> None:
    (out,), _ = dial(PLAN, "127*0*0*9#")
    assert (out.kind, out.target_host) == ("direct_ip", "127.0.0.9")
    (out,), _ = dial(PLAN, "300*0*0*9#")
    assert out.kind == "refused"
    off = DialPlan(allowed=(AllowedMap(1, dm("x.T")),))
    (out,), _ = dial(off, "127*0*0*9#")
    assert out.kind == "refused"  # direct IP calls off: * and # are no map's


def test_dial_plan_from_the_configuration() -> None:
    from emulator.runtime.unit import Unit

    unit = Unit(name="dp", profile=get_profile("4102"), state_dir=tempfile.mkdtemp(), host="127.0.0.9")
    c = unit.config
    ep = "Phone-Fax1"
    plan = dial_plan(c, ep)
    assert [a.map.text for a in plan.allowed] == ["x.T"] * 10 and not plan.refused and not plan.services
    c.set("EpServ.CallDtmfMapAllowed[1].DtmfMap", "1xxx")
    c.set("EpServ.CallDtmfMapAllowed[1].DtmfTransformation", "0x")
    c.set("EpServ.CallDtmfMapAllowed[2].ApplyTo", "Endpoint")
    c.set("EpServ.CallDtmfMapAllowed[2].EpId", "Phone-Fax2")
    for i in range(3, 11):
        c.set(f"EpServ.CallDtmfMapAllowed[{i}].Enable", "Disable")
    c.set("EpServ.CallDtmfMapRefuse[1].Enable", "Enable")
    c.set("EpServ.CallDtmfMapRefuse[1].DtmfMap", "9xx")
    c.set("EpServ.DefaultForwardOnBusyDtmfMapActivation", "*90x.T")
    c.set("EpServ.DtmfMapTimeoutInterDtmf", 1500)
    c.set(f"EpServ.EpSpecificDtmfMapTimeout[{ep}].EnableConfig", "Enable")
    c.set(f"EpServ.EpSpecificDtmfMapTimeout[{ep}].FirstDtmf", 5000)
    c.set("EpServ.DefaultAutoCallEnable", "Enable")
    c.set("EpServ.DefaultAutoCallTargetAddress", "4000")
    c.set(f"EpServ.EpSpecificDelayedHotline[{ep}].EnableConfig", "Enable")
    c.set(f"EpServ.EpSpecificDelayedHotline[{ep}].Enable", "Enable")
    c.set(f"EpServ.EpSpecificDelayedHotline[{ep}].TargetAddress", "5000")
    c.set("EpServ.DefaultCallAllowDirectIp", "Enable")
    plan = dial_plan(c, ep)
    assert [(a.index, a.map.text, a.transformation) for a in plan.allowed] == [(1, "1xxx", "0x")]
    assert [a.index for a in dial_plan(c, "Phone-Fax2").allowed] == [1, 2]
    assert [m.text for m in plan.refused] == ["9xx"]
    assert [(s.service, s.action) for s in plan.services] == [("ForwardOnBusy", "Activation")]
    assert plan.timeouts == Timeouts(first=5.0, inter=3.0, completion=60.0)  # the endpoint's row wins
    assert dial_plan(c, "Phone-Fax2").timeouts.inter == 1.5
    assert plan.auto_call == "4000" and plan.delayed_hotline == "5000" and plan.direct_ip


def test_call_statistics() -> None:
    s = CallStatistics()
    ep = "Phone-Fax1"
    s.observe(1, ep, "outgoing", "dialing", "", 0.0)
    s.observe(1, ep, "outgoing", "connected", "", 1.0)
    s.observe(1, ep, "outgoing", "ended", "local hangup", 11.0)
    s.observe(2, ep, "incoming", "ringing", "", 12.0)
    s.observe(2, ep, "incoming", "ended", "cancelled by the caller", 13.0)
    s.observe(3, ep, "incoming", "ringing", "", 14.0)
    s.observe(3, ep, "incoming", "connected", "", 15.0)
    s.observe(3, ep, "incoming", "ended", "no ACK", 20.0)
    row = s.row(ep)
    assert row["OutgoingCallsAttempted"] == 1 and row["OutgoingCallsAnswered"] == 1 and row["OutgoingCallsFailed"] == 0
    assert row["IncomingCallsReceived"] == 2 and row["IncomingCallsFailed"] == 1 and row["IncomingCallsConnected"] == 1
    assert row["CallsDropped"] == 1 and row["TotalCallTime"] == 15
    s.reset(ep)
    assert set(s.row(ep).values()) == {0}


def test_dial_plan_reads_every_acting_parameter() -> None:
    from emulator.runtime.unit import Unit

    unit = Unit(name="dp2", profile=get_profile("4102"), state_dir=tempfile.mkdtemp(), host="127.0.0.9")
    c = unit.config
    ep = "Phone-Fax1"
    settings = {
        "EpServ.CallDtmfMapAllowed[1].TargetHost": "127.0.0.9:5070", "EpServ.CallDtmfMapAllowed[1].Emergency": "Enable",
        "EpServ.CallDtmfMapRefuse[2].Enable": "Enable", "EpServ.CallDtmfMapRefuse[2].DtmfMap": "8x",
        "EpServ.CallDtmfMapRefuse[2].ApplyTo": "Endpoint", "EpServ.CallDtmfMapRefuse[2].EpId": "Phone-Fax2, Phone-Fax1",
        "EpServ.DefaultCallWaitingActivationDtmfMap": "*71", "EpServ.DefaultCallWaitingDeactivationDtmfMap": "*70",
        "EpServ.DefaultCallWaitingCancelDtmfMap": "*69",
        "EpServ.DefaultForwardUnconditionalDtmfMapActivation": "*72x.T",
        "EpServ.DefaultForwardUnconditionalDtmfMapDeactivation": "*73",
        "EpServ.DefaultForwardOnBusyDtmfMapActivation": "*90x.T",
        "EpServ.DefaultForwardOnBusyDtmfMapDeactivation": "*91",
        "EpServ.DefaultForwardNoAnswerDtmfMapActivation": "*92x.T",
        "EpServ.DefaultForwardNoAnswerDtmfMapDeactivation": "*93",
        "EpServ.DtmfMapTimeoutFirstDtmf": 9000, "EpServ.DtmfMapTimeoutCompletion": 30000,
        "EpServ.DefaultDelayedHotlineEnable": "Enable", "EpServ.DefaultDelayedHotlineCondition": "AnyTimeout",
        "EpServ.DefaultDelayedHotlineTargetAddress": "6000",
        f"EpServ.EpSpecificAutoCall[{ep}].EnableConfig": "Enable", f"EpServ.EpSpecificAutoCall[{ep}].Enable": "Enable",
        f"EpServ.EpSpecificAutoCall[{ep}].TargetAddress": "7000",
        f"EpServ.EpSpecificDtmfMapTimeout[{ep}].EnableConfig": "Enable",
        f"EpServ.EpSpecificDtmfMapTimeout[{ep}].InterDtmf": 800,
        f"EpServ.EpSpecificDtmfMapTimeout[{ep}].Completion": 12000,
        f"EpServ.EpSpecificDelayedHotline[{ep}].EnableConfig": "Enable",
        f"EpServ.EpSpecificDelayedHotline[{ep}].Enable": "Enable",
        f"EpServ.EpSpecificDelayedHotline[{ep}].Condition": "InterDtmfOrCompletionTimeout",
        f"EpServ.EpSpecificDelayedHotline[{ep}].TargetAddress": "8000",
    }
    for address, value in settings.items():
        c.set(address, value)
    plan = dial_plan(c, ep)
    first = plan.allowed[0]
    assert (first.target_host, first.emergency) == ("127.0.0.9:5070", True)
    assert [m.text for m in plan.refused] == ["8x"]
    assert [(s.service, s.action, s.map.text) for s in plan.services] == [
        ("CallWaiting", "Activation", "*71"), ("CallWaiting", "Deactivation", "*70"), ("CallWaiting", "Cancel", "*69"),
        ("ForwardUnconditional", "Activation", "*72x.T"), ("ForwardUnconditional", "Deactivation", "*73"),
        ("ForwardOnBusy", "Activation", "*90x.T"), ("ForwardOnBusy", "Deactivation", "*91"),
        ("ForwardNoAnswer", "Activation", "*92x.T"), ("ForwardNoAnswer", "Deactivation", "*93")]
    assert plan.timeouts == Timeouts(first=20.0, inter=0.8, completion=12.0)
    assert (plan.auto_call, plan.delayed_hotline, plan.delayed_condition) == \
        ("7000", "8000", "InterDtmfOrCompletionTimeout")
    other = dial_plan(c, "Phone-Fax2")
    assert other.timeouts == Timeouts(first=9.0, inter=3.0, completion=30.0)
    assert (other.auto_call, other.delayed_hotline, other.delayed_condition) == ("", "6000", "AnyTimeout")


async def test_call_statistics_reset_command() -> None:
    from emulator.engines.epserv.engine import EpServEngine
    from emulator.runtime.unit import Unit

    unit = Unit(name="cs", profile=get_profile("4102"), state_dir=tempfile.mkdtemp(), host="127.0.0.9")
    engine = EpServEngine(unit)
    unit.attach(engine)
    await engine.start()
    ep = "Phone-Fax1"
    engine.stats.observe(1, ep, "outgoing", "dialing", "", 0.0)
    engine.stats.observe(1, ep, "outgoing", "ended", "404", 1.0)
    row = {r["EpId"]: r for r in unit.config.rows("EpServ.CallStatistics")}[ep]
    assert row["OutgoingCallsAttempted"] == 1 and row["OutgoingCallsFailed"] == 1
    unit.config.set(f"EpServ.CallStatistics[{ep}].Reset", "Reset")
    row = {r["EpId"]: r for r in unit.config.rows("EpServ.CallStatistics")}[ep]
    assert row["OutgoingCallsAttempted"] == 0 and row["OutgoingCallsFailed"] == 0
    await engine.stop()

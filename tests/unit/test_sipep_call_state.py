"""The call state table (emulator.engines.sipep.call_state): every allowed transition, every other one refused,
and the call layer changes a call's state through it only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_state import TRANSITIONS, CallEvent, CallState, IllegalTransition, transition

ALLOWED = sorted(TRANSITIONS.items(), key=lambda kv: (kv[0][0].value, kv[0][1].name))
REFUSED = [(s, e) for s in CallState for e in CallEvent if (s, e) not in TRANSITIONS]
SIPEP = Path(__file__).resolve().parents[2] / "emulator" / "engines" / "sipep"


@pytest.mark.parametrize(("key", "after"), ALLOWED, ids=[f"{s.value}-{e.name}" for (s, e), _ in ALLOWED])
def test_every_allowed_transition(key: tuple[CallState, CallEvent], after: CallState) -> None:
    state, event = key
    assert transition(state, event) is after
    call = Call(1, "Phone-Fax1", "default", "outgoing", "sip:a@x", "sip:b@x", "c1", state=state)
    assert call.fire(event) is after and call.state is after


@pytest.mark.parametrize(("state", "event"), REFUSED, ids=[f"{s.value}-{e.name}" for s, e in REFUSED])
def test_every_other_transition_is_refused(state: CallState, event: CallEvent) -> None:
    call = Call(1, "Phone-Fax1", "default", "outgoing", "sip:a@x", "sip:b@x", "c1", state=state)
    with pytest.raises(IllegalTransition) as err:
        call.fire(event)
    assert err.value.state is state and err.value.event is event
    assert call.state is state  # nothing applied


def test_the_table_reads_as_a_call() -> None:
    out = CallState.DIALING
    for event in (CallEvent.PROCEEDING, CallEvent.ALERTING, CallEvent.PROCEEDING, CallEvent.ANSWERED, CallEvent.END):
        out = transition(out, event)
    assert out is CallState.ENDED
    incoming = CallState.INCOMING
    for event in (CallEvent.RING, CallEvent.ACCEPT, CallEvent.END):
        incoming = transition(incoming, event)
    assert incoming is CallState.ENDED
    assert transition(CallState.ALERTING, CallEvent.RETRY) is CallState.DIALING  # SecureWithFallback's new INVITE
    assert {s for s in CallState if (s, CallEvent.END) in TRANSITIONS} == set(CallState) - {CallState.ENDED}
    assert not any(s is CallState.ENDED for s, _ in TRANSITIONS)  # nothing leaves ended


def test_rows_keep_the_string_values() -> None:
    call = Call(7, "Phone-Fax1", "default", "incoming", "sip:a@x", "sip:b@x", "c7", state=CallState.INCOMING)
    call.fire(CallEvent.RING)
    assert call.row()["state"] == "ringing" and call.state == "ringing"
    call.fire(CallEvent.ACCEPT)
    call.local_hold = True
    assert call.row()["state"] == "held" and call.active
    call.fire(CallEvent.END)
    assert call.row()["state"] == "ended" and not call.active
    assert type(call.row()["state"]) is str


def test_the_call_layer_never_sets_a_state_itself() -> None:
    """Every change of a call's state goes through Call.fire (the table); no ``call.state = ...`` elsewhere."""
    bad = []
    for name in ("calls.py", "in_dialog.py", "call.py"):
        tree = ast.parse((SIPEP / name).read_text())
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr == "state" and not (
                        name == "call.py" and isinstance(t.value, ast.Name) and t.value.id == "self"):
                    bad.append(f"{name}:{node.lineno}")
    assert not bad, bad

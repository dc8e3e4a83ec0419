"""The unit's call list (emulator.engines.sipep.call_list): its indexes by endpoint and by Call-ID follow every
call added and removed, so the line's calls and a request's dialog are found without scanning the unit."""

from __future__ import annotations

import pytest

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_list import CallList


def _call(n: int, endpoint: str, call_id: str = "") -> Call:
    return Call(n, endpoint, "default", "outgoing", "sip:a@x", "sip:b@x", call_id or f"c{n}@127.0.0.2")


def test_indexes_follow_append_remove_and_clear() -> None:
    a1, b1, a2 = _call(1, "A"), _call(2, "B"), _call(3, "A", "c1@127.0.0.2")
    calls = CallList([a1, b1])
    calls.append(a2)
    assert list(calls) == [a1, b1, a2]
    assert calls.of_endpoint("A") == [a1, a2] and calls.of_endpoint("B") == [b1] and calls.of_endpoint("C") == []
    assert calls.of_call_id("c1@127.0.0.2") == [a1, a2] and calls.of_call_id("c2@127.0.0.2") == [b1]
    calls.remove(a1)
    assert calls.of_endpoint("A") == [a2] and calls.of_call_id("c1@127.0.0.2") == [a2]
    calls.remove(b1)
    assert calls.of_endpoint("B") == [] and calls.of_call_id("c2@127.0.0.2") == []
    calls.clear()
    assert calls.of_endpoint("A") == [] and calls.of_call_id("c1@127.0.0.2") == [] and not calls


def test_changes_that_would_bypass_the_indexes_are_refused() -> None:
    calls = CallList([_call(1, "A")])
    with pytest.raises(TypeError):
        calls.insert(0, _call(2, "A"))
    with pytest.raises(TypeError):
        calls.pop()
    with pytest.raises(TypeError):
        del calls[0]
    assert len(calls) == 1 and len(calls.of_endpoint("A")) == 1

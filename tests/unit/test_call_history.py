"""What a unit keeps of its ended calls (emulator.engines.sipep.call_history): a whole call for a while, then
a summary, within a byte budget per unit, so that a lab running for hours does not grow with its calls."""

from __future__ import annotations

import gc
import itertools
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.mipt.call_media import CallMediaState
from emulator.engines.sipep.call_history import HISTORY_BYTES, CallHistory, EndedCall
from emulator.engines.sipep.calls import Call, CallManager, PlainAudio
from emulator.ops import snapshots
from emulator.runtime.unit import Unit
from tests.helpers.units import built_unit, calls_of

FIGURES = {"srtp": True, "key_management": "SDES", "suite": "AES_CM_128_HMAC_SHA1_80", "packets_sent": 250,
           "packets_received": 249, "undecryptable": 0, "level_dbm0": -12.0, "frequency": 1000.0,
           "local": "127.0.0.1:16002", "remote": "127.0.0.1:40000"}


class Stream:
    """What a call's summary reads of its media stream: ``stats()``."""

    def stats(self, *, measure: bool = True) -> dict[str, Any]:
        return dict(FIGURES)


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    return built_unit(tmp_path, "hist")


@pytest.fixture
def manager(unit: Unit) -> CallManager:
    m: CallManager = calls_of(unit)
    m.media = PlainAudio(unit.host)  # the stub streams below are not the media engine's
    return m


ids = itertools.count(1)


def end_call(m: CallManager, remote: str = "sip:bob@lab.example", stream: bool = False) -> Call:
    n = next(ids)
    call = Call(n, "Phone-Fax1", "default", "outgoing", "sip:alice@lab.example", remote, f"call-{n}@127.0.0.2")
    if stream:
        call.media = CallMediaState(Stream(), None, session_id=n, endpoint="Phone-Fax1")  # type: ignore[arg-type]
    m.calls.append(call)
    m.stop()  # ends every current call ("service stopped")
    return call


async def test_an_ended_call_stays_whole_a_while_then_only_its_row_is_kept(unit: Unit, manager: CallManager) -> None:
    now = [1000.0]
    manager.clock = lambda: now[0]
    first = end_call(manager, stream=True)
    now[0] += manager.keep_whole_s - 1
    end_call(manager)
    assert first in manager.calls and len(manager.history) == 0  # a late 2xx is still ACKed, the stream read
    now[0] += 2
    last = end_call(manager)
    assert first not in manager.calls and last in manager.calls
    (summary,) = manager.history
    assert summary.id == first.id and summary.row["state"] == "ended" and summary.row["end_reason"] == "service stopped"
    rows = snapshots.calls(unit)
    assert [r["id"] for r in rows] == [first.id, first.id + 1, last.id]  # oldest first, summaries first
    assert {k: summary.row[k] for k in snapshots.STREAM_FIELDS} == {k: FIGURES[k] for k in snapshots.STREAM_FIELDS}
    assert (summary.row["media_local"], summary.row["media_remote"]) == (FIGURES["local"], FIGURES["remote"])


async def test_a_thousand_ended_calls_keep_the_newest_within_the_byte_budget(manager: CallManager) -> None:
    manager.keep_whole_s = 0
    end_call(manager)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        last = [end_call(manager, stream=i % 2 == 0).id for i in range(1000)][-1]
        gc.collect()
        held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    assert manager.calls == [] or all(c.id == last for c in manager.calls)
    kept = list(manager.history)
    assert kept[-1].id == last and [c.id for c in kept] == list(range(last - len(kept) + 1, last + 1))
    assert manager.history.nbytes <= HISTORY_BYTES and len(kept) <= manager.keep_ended
    assert held < 2 * HISTORY_BYTES, f"{held} bytes held after 1,000 calls"  # not 1,000 whole calls (40 MB)


async def test_long_calls_fill_the_budget_before_the_count(manager: CallManager) -> None:
    manager.keep_whole_s = 0
    for _ in range(60):
        end_call(manager, remote="sip:" + "b" * 3000 + "@lab.example")
    assert 0 < len(manager.history) < manager.keep_ended and manager.history.nbytes <= HISTORY_BYTES


def test_the_newest_summary_is_kept_even_beyond_the_budget() -> None:
    history = CallHistory(budget=100, keep=50)
    for i in range(3):
        history.add(EndedCall.of({"id": i, "remote": "x" * 500}))
    assert [c.id for c in history] == [2] and history.nbytes > 100
    history.clear()
    assert len(history) == 0 and history.nbytes == 0

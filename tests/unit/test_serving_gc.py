"""Once a lab process is ready (emulator.fleet.run.serving_gc): the start's objects frozen out of collections and
the young generation collected every YOUNG_GC_THRESHOLD allocations (half the collector's CPU per call)."""

from __future__ import annotations

import gc

from emulator.fleet.run import YOUNG_GC_THRESHOLD, serving_gc


def test_serving_gc_freezes_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    kept = [object() for _ in range(10)]  # noqa: F841  # something alive to freeze
    try:
        serving_gc()
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, *before[1:]) and YOUNG_GC_THRESHOLD > 700
        assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()

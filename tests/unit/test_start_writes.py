"""A unit's start writes only what changed (issue 14: 1,000 units starting must not wait for 1,000 fsyncs of
files that already hold the same thing)."""

from __future__ import annotations

import json
from pathlib import Path

from emulator.faces.cwmp import CwmpEngine
from emulator.runtime.clock import UnitClock
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile


def _unit(state: Path) -> Unit:
    return Unit(name="u1", profile=get_profile("4102"), state_dir=state, ports=PortPolicy(mode="auto"),
                clock=UnitClock())


async def test_the_tr069_state_is_written_when_it_changes_only(tmp_path: Path) -> None:
    first = CwmpEngine(_unit(tmp_path))
    await first.start()  # first boot: BOOT queued, written
    await first.stop()
    assert first._store.writes == 1
    held = json.loads((tmp_path / "cwmp.json").read_text())
    assert "1 BOOT" in [e[0] for e in held["queue"]["events"]]

    again = CwmpEngine(_unit(tmp_path))  # the next process: no ACS was reached, the file holds it all already
    await again.start()
    await again.stop()
    assert again._store.writes == 0

    again.bootstrap_url = "http://127.0.0.1:1/acs"  # a change is written, as before
    again.save()
    assert again._store.writes == 1
    assert json.loads((tmp_path / "cwmp.json").read_text())["bootstrap_url"] == "http://127.0.0.1:1/acs"

"""Units with only the engines a test needs."""

from __future__ import annotations

from pathlib import Path

from emulator.engines.hoc.engine import HocEngine
from emulator.engines.nlm import NlmEngine
from emulator.runtime.clock import UnitClock
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

__all__ = ["hoc_unit"]


def hoc_unit(state_dir: Path, *, name: str = "u1", offset: float = 0.0, **kw: object) -> tuple[Unit, HocEngine]:
    """A unit with its Nlm and Hoc engines only, showing Hoc's notifications from Info up (9001 is Info)."""
    unit = Unit(name=name, profile=get_profile("4102"), state_dir=state_dir, ports=PortPolicy(mode="auto"),
                clock=UnitClock(offset=offset), fsync=False)
    nlm = NlmEngine(unit)
    unit.attach(nlm)
    unit.nlm = nlm
    kw.setdefault("timeout", 0.3)
    hoc = HocEngine(unit, **kw)  # type: ignore[arg-type]
    unit.attach(hoc)
    unit.config.set("Hoc.MinSeverity", "Info")  # 9001 is Info
    return unit, hoc

"""A bare unit for engine tests: its configuration, clock and notifications (Nlm), and no other engine; the test
attaches the engine it drives (shared by the Conf and Fpu tests)."""

from __future__ import annotations

from pathlib import Path

from emulator.engines.nlm import NlmEngine
from emulator.runtime.clock import UnitClock
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

__all__ = ["bare_unit"]


def bare_unit(tmp_path: Path, *, info_from: str = "", name: str = "u1", profile: str = "4102") -> Unit:
    """A unit in ``tmp_path/name`` with its Nlm engine; ``info_from``: a service whose Info notifications are kept
    (``<Svc>.MinSeverity`` = Info)."""
    unit = Unit(name=name, profile=get_profile(profile), state_dir=tmp_path / name, ports=PortPolicy(mode="auto"),
                clock=UnitClock(), fsync=False)
    nlm = NlmEngine(unit)
    unit.attach(nlm)
    unit.nlm = nlm
    if info_from:
        unit.config.set(f"{info_from}.MinSeverity", "Info")
    return unit

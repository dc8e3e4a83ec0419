"""Units with only the engines a test needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulator.engines.hoc.engine import HocEngine
from emulator.engines.nlm import NlmEngine
from emulator.runtime.clock import UnitClock
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

__all__ = ["configured", "hoc_unit"]


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


def configured(state_dir: Path, **values: Any) -> Any:
    """A 4102's configuration (no engine) with `values` set, ``__`` standing for the dots of a name
    (``Mipt__DefaultCodecG729VoicePriority=5``)."""
    unit = Unit(name="c", profile=get_profile("4102"), state_dir=state_dir, host="127.0.0.2",
                ports=PortPolicy(mode="auto"), fsync=False)
    for name, value in values.items():
        unit.config.set(name.replace("__", "."), value)
    return unit.config


def built_unit(tmp_path: Path, name: str) -> Unit:
    """A whole unit as a lab builds it (every engine attached, ports chosen by the kernel), not started."""
    from emulator.lab import build_unit
    from emulator.runtime.spec import UnitSpec

    return build_unit(UnitSpec(name=name, state_dir=tmp_path / name, port_mode="auto", fsync=False)).unit


def calls_of(unit: Unit) -> Any:
    """The unit's SipEp call manager (``CallManager``)."""
    from emulator.ops import snapshots

    manager = snapshots.call_manager(unit)
    assert manager is not None
    return manager

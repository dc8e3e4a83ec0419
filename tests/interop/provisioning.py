"""A unit as a lab builds it (every engine) for the provisioning tests, with one service's Info notifications kept
(shared by the Conf and Fpu interop tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from emulator.lab import RunningUnit, build_unit
from emulator.runtime.spec import UnitSpec

__all__ = ["engine_of", "lab_unit"]

T = TypeVar("T")


def lab_unit(tmp_path: Path, name: str, info_from: str, **spec: Any) -> RunningUnit:
    """Built, not started: the test may adjust its engines first."""
    ru = build_unit(UnitSpec(name=name, state_dir=tmp_path / name, port_mode="auto", api_port=0, fsync=False,
                             assume_time_synchronized=True, **spec))
    ru.unit.config.set(f"{info_from}.MinSeverity", "Info")
    return ru


def engine_of(ru: RunningUnit, service: str, kind: type[T]) -> T:
    engine = ru.unit.services[service].engine
    assert isinstance(engine, kind)
    return engine

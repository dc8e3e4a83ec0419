"""Reading a unit's configuration the way the call layer's pure decisions are given it (forwarding, call completion):
a getter that answers None for a cell whose row does not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.runtime.unit import Unit
from firmware_model.config import ConfigError


def lenient_get(unit: Unit) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        try:
            return unit.config.get(name)
        except ConfigError:
            return None
    return get

"""The ready file of the automation contract, rewritten atomically whenever a face opens, moves or closes.

``{"units": [{"name", "profile", "api", "web", "web_secure", "ssh", "sip", "sip_tls", "snmp", "cwmp"}]}``
in the lab's order; faces not running are omitted. Additive keys: per unit ``worker`` (the index of the
process that runs it) and ``coming_up`` (faces still starting, present only while some are); at the top
``pid`` (the process to signal) and ``workers`` (per process: ``index``, ``pid``, ``units``, ``restarts``,
``state`` ``starting|running|restarting`` and, when asked for, ``metrics``, the Prometheus endpoint).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from firmware_model.store import atomic_write

__all__ = ["FACES", "Entry", "ReadyFile"]

FACES = ("api", "web", "web_secure", "ssh", "sip", "sip_tls", "snmp", "cwmp")
Entry = dict[str, Any]


class ReadyFile:
    """Every unit's entry, by name in lab order; :meth:`write` puts them all in the file at once."""

    def __init__(self, path: Path | None, names: Iterable[str]) -> None:
        self.path = Path(path) if path is not None else None
        self.entries: dict[str, Entry] = {name: {"name": name} for name in names}
        self.workers: list[dict[str, Any]] = []
        self.writes = 0

    def update(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.entries[entry["name"]] = entry

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"units": list(self.entries.values()), "pid": os.getpid()}
        if self.workers:
            doc["workers"] = self.workers
        return doc

    def write(self) -> None:
        if self.path is None:
            return
        atomic_write(self.path, json.dumps(self.document(), indent=1).encode(), mode=0o644)
        self.writes += 1

"""Atomic persistence of a unit's configuration in its state directory.

``save`` writes a temporary file in the same directory, fsyncs it, renames it over the previous
file and fsyncs the directory. rename(2) is atomic, so a kill -9 (or power loss) at any moment
leaves either the old or the new document on disk, never a mix, and a write that returned is
durable. This is the only module of the model that touches the file system.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["JsonStore", "atomic_write"]


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class JsonStore:
    """Configuration document as JSON (mode 0600: it holds passwords)."""

    def __init__(self, path: Path, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.writes = 0

    def load(self) -> dict[str, Any] | None:
        # Temporary files of writers killed mid-write are garbage: the rename never happened.
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        doc = json.loads(raw)  # a torn file cannot exist (atomic rename); bad JSON is a real error
        if not isinstance(doc, dict):
            raise ValueError(f"{self.path}: not a configuration document")
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        if self.fsync:
            atomic_write(self.path, data)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, self.path)
        self.writes += 1

"""The Conf service's status values (MX-CONF-MIB ``ScriptsStats*``, ``ImageBackupStatus``, ``ImageRestoreStatus``),
spelled as the vendor spells them (``Transfering``, ``ExecutionFailed``, ``ExportationFailed``, ``LoadFailed``...),
and what the service remembers across restarts in ``<state dir>/conf-state.json``: the last results and the
digest of the last script executed. A factory reset brings every result back to ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from firmware_model.store import JsonStore

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["ConfStats", "StatusBoard"]


@dataclass(slots=True)
class ConfStats:
    """The persisted part: results, dates (the unit's local time), the last executed script's SHA-256."""

    last_result: str = "None"
    last_datetime: str = ""
    last_sha256: str = ""
    export_result: str = "None"
    export_datetime: str = ""
    backup_status: str = "None"
    restore_status: str = "None"

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ConfStats:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: str(v) for k, v in doc.items() if k in known})


class StatusBoard:
    """The Conf status of one unit: the current states (not persisted) and :class:`ConfStats` (persisted)."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self._store = JsonStore(unit.state_dir / "conf-state.json", fsync=unit.fsync)
        self.stats = ConfStats.from_doc(self._store.load() or {})
        self.transfer_state = "Idle"  # Idle | Transfering | Running
        self.export_state = "Idle"  # Idle | Transfering | Exporting
        c = unit.config
        s = self
        c.provide("Conf.ScriptsStatsCurrentTransferState", lambda: s.transfer_state)
        c.provide("Conf.ScriptsStatsLastTransferResult", lambda: s.stats.last_result)
        c.provide("Conf.ScriptsStatsLastTransferDateTime", lambda: s.stats.last_datetime)
        c.provide("Conf.ScriptsStatsCurrentExportState", lambda: s.export_state)
        c.provide("Conf.ScriptsStatsLastExportResult", lambda: s.stats.export_result)
        c.provide("Conf.ScriptsStatsLastExportDateTime", lambda: s.stats.export_datetime)
        c.provide("Conf.ImageBackupStatus", lambda: s.stats.backup_status)
        c.provide("Conf.ImageRestoreStatus", lambda: s.stats.restore_status)

    def save(self) -> None:
        self._store.save(asdict(self.stats))

    def reset(self) -> None:
        self.stats = ConfStats()
        self.save()

    def record(self, field: str, value: str, *, dated: str | None = None) -> str:
        """Set one result (and its date field when given: the unit's local time now); persisted."""
        setattr(self.stats, field, value)
        if dated is not None:
            setattr(self.stats, dated, self.unit.local_time())
        self.save()
        return value

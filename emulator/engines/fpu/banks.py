"""The unit's two firmware banks (``Fpu.MfpInstalledInfo``: ``Main`` and ``Recovery``), on disk so that a kill -9
at any moment leaves a bootable unit on a consistent bank.

Files in ``<state dir>/fpu/``: ``main.mfp`` and ``recovery.mfp`` (the packs as downloaded) and ``banks.json`` (what
each bank holds — name, version, profile, the pack's SHA-256 — which bank runs, which runs at the next start, and
the last installation's result). Every write is :func:`firmware_model.store.atomic_write` (temp file, fsync,
rename, directory fsync). An install writes only the bank that is NOT running, then ``banks.json``; so a kill -9

* before the pack file is renamed into place leaves both files as they were;
* between the pack file and ``banks.json`` leaves a pack whose digest ``banks.json`` does not name: that bank is
  read as empty (``None``) at the next start, the running bank is untouched;
* after ``banks.json`` leaves the finished install, switched to at the next start.

The bank that runs is never written while it runs. A bank whose file disappeared or changed is empty; if it was the
one to run, the unit runs the other bank, or the factory firmware (which needs no file: it is the emulator's build,
``firmware_model.profiles.FIRMWARE_VERSION``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from firmware_model.store import atomic_write

__all__ = ["BANKS", "BankInfo", "BankState", "BankStore"]

BANKS = ("Main", "Recovery")


@dataclass(frozen=True, slots=True)
class BankInfo:
    name: str
    version: str
    profile: str
    sha256: str = ""  # of the pack file; "" for the factory firmware (no file)


@dataclass(slots=True)
class BankState:
    banks: dict[str, BankInfo | None] = field(default_factory=dict)  # "Main"/"Recovery" -> what it holds
    active: str = "Main"  # the bank running now
    next_boot: str = "Main"  # the bank the next start runs
    reset_on_switch: bool = False  # DefaultSettingsOnInstall: a factory reset when next_boot starts
    last_result: str = "None"  # Fpu.MfpLastInstallationResult
    last_datetime: str = ""  # Fpu.MfpLastInstallationDateTime

    def other(self, bank: str | None = None) -> str:
        return "Recovery" if (bank or self.active) == "Main" else "Main"

    def to_doc(self) -> dict[str, object]:
        doc = asdict(self)
        doc["format"] = 1
        return doc


class BankStore:
    """Reads and writes one unit's banks (see the module docstring)."""

    def __init__(self, state_dir: Path, factory: BankInfo) -> None:
        self.dir = Path(state_dir) / "fpu"
        self.factory = factory

    def pack_path(self, bank: str) -> Path:
        return self.dir / f"{bank.lower()}.mfp"

    def load(self) -> BankState:
        """The banks as the disk says, every bank checked against its pack file."""
        for stale in self.dir.glob(".*.tmp"):  # writers killed before their rename
            stale.unlink(missing_ok=True)
        try:
            doc = json.loads((self.dir / "banks.json").read_bytes())
        except FileNotFoundError:
            return BankState({"Main": self.factory, "Recovery": None})
        state = BankState(
            {b: self._checked(b, doc.get("banks", {}).get(b)) for b in BANKS},
            active=_bank(doc.get("active")), next_boot=_bank(doc.get("next_boot")),
            reset_on_switch=bool(doc.get("reset_on_switch")), last_result=str(doc.get("last_result", "None")),
            last_datetime=str(doc.get("last_datetime", "")),
        )
        for attr in ("active", "next_boot"):  # a bank to run that is empty: the other one, else the factory's
            bank = getattr(state, attr)
            if state.banks[bank] is None:
                other = state.other(bank)
                if state.banks[other] is None:
                    state.banks[other] = self.factory
                setattr(state, attr, other)
        return state

    def _checked(self, bank: str, raw: object) -> BankInfo | None:
        if not isinstance(raw, dict):
            return None
        try:
            info = BankInfo(str(raw["name"]), str(raw["version"]), str(raw["profile"]), str(raw.get("sha256", "")))
        except KeyError:
            return None
        if not info.sha256:
            return info  # the factory firmware
        try:
            digest = hashlib.sha256(self.pack_path(bank).read_bytes()).hexdigest()
        except OSError:
            return None
        return info if digest == info.sha256 else None

    def write_pack(self, bank: str, pack: bytes) -> str:
        """Store a pack in ``bank`` (never the running one); its SHA-256."""
        atomic_write(self.pack_path(bank), pack, mode=0o644)
        return hashlib.sha256(pack).hexdigest()

    def save(self, state: BankState) -> None:
        atomic_write(self.dir / "banks.json", json.dumps(state.to_doc(), indent=1, sort_keys=True).encode(),
                     mode=0o644)


def _bank(value: object) -> str:
    return value if value in BANKS else "Main"  # type: ignore[return-value]

"""How the emulator treats each catalog parameter: the behaviour map (an emulator addition).

Every parameter of the catalog, and every service command of the unit (``Nlm.StartPCapture``...), has one class:

``live``
    an engine reads it when it acts, or follows its changes: a new value acts at once;
``restart``
    its service reads it when it starts: a new value acts once the service restarts (the unit then shows
    the service in ``<Svc>.NeedRestartInfo`` and ``Scm.RestartRequiredServices`` restarts it);
``status``
    a read-only value or status table, fed by an engine or showing its catalog default;
``stored``
    accepted, validated, persisted, exported and shown, but nothing in the emulator acts on it (yet);
``hardware``
    it needs what a process has not: an Ethernet PHY, LEDs, analog or digital telephony lines...

The data is ``catalog/behaviour.toml``: per service, the ``live`` and ``restart`` names (short names, a table
column as ``Table.Column``), the ``hardware`` patterns with their reason, and the unit's service commands. A
read-only parameter is ``status`` unless a hardware pattern takes it; a writable one nobody lists is ``stored``.
A row command (``Nlm.Events.Delete``, ``Mipt.ChannelStatistics.Reset``) is listed like any column; one that no
list names is refused by the unit ("not available on this unit") and classed ``stored``.

``tools/gen_parameters.py`` checks the lists against the code (a ``live`` name that no engine reads, or a read
name still ``stored``, fails a unit test), and :func:`markdown` writes ``docs/parameters.md``.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from firmware_model.schema import Catalog, Param, Table, load_catalog

__all__ = ["CLASSES", "BehaviourError", "BehaviourMap", "engine_fed", "load_behaviour", "markdown"]

CLASSES: tuple[str, ...] = ("live", "restart", "status", "stored", "hardware")
MEANING: dict[str, str] = {
    "live": "acts at once",
    "restart": "acts after its service restarts",
    "status": "read-only, fed by an engine (or its default)",
    "stored": "accepted, validated, persisted; no behaviour yet",
    "hardware": "needs hardware the emulator has not",
}
BEHAVIOUR_FILE = Path(__file__).with_name("catalog") / "behaviour.toml"


def engine_fed(table: Table) -> bool:
    """A table whose rows an engine provides (every column read-only but its commands: a certificate store)."""
    return all(c.is_command or not c.writable for c in table.columns.values())


class BehaviourError(ValueError):
    """``behaviour.toml`` names a parameter the catalog lacks, or gives one two classes."""


@dataclass(frozen=True, slots=True)
class Command:
    """A service command of the unit (not a catalog row): ``Nlm.StartPCapture``."""

    name: str
    service: str
    behaviour: str
    summary: str


class BehaviourMap:
    """Class of every parameter of one catalog, from ``behaviour.toml`` (see the module docstring)."""

    def __init__(self, catalog: Catalog, data: dict[str, Any]) -> None:
        self.catalog = catalog
        self._class: dict[str, str] = {}
        self.reasons: dict[str, str] = {}  # hardware parameter -> why
        self.commands: dict[str, Command] = {}
        self.deletes: set[str] = set()  # Delete row commands run by Config, acting as their table does
        self.not_acting: dict[str, str] = dict(data.get("not_acting", {}))  # named by the code, not acted on
        self.notes: dict[str, str] = dict(data.get("notes", {}))
        # live/restart names the code reads under a computed name the code scan cannot see, and where
        self.read_indirectly: dict[str, str] = dict(data.get("read_indirectly", {}))
        self.untested: list[str] = list(data.get("untested", {}).get("names", []))
        for name in (*self.not_acting, *self.notes, *self.untested, *self.read_indirectly):
            if name not in catalog.params:
                raise BehaviourError(f"behaviour.toml: {name} is not a catalog parameter")
        for service, section in data.get("services", {}).items():
            if catalog.service(service) is None:
                raise BehaviourError(f"behaviour.toml: unknown service {service}")
            for cls in ("live", "restart"):
                for short in section.get(cls, []):
                    self._list(f"{service}.{short}", cls)
        patterns: dict[str, str] = data.get("hardware", {})
        for p in catalog.params.values():
            reason = next((why for pat, why in patterns.items() if fnmatch.fnmatchcase(p.name, pat)), None)
            if p.short in ("MinSeverity", "NeedRestartInfo"):
                reason = None  # the unit's own bookkeeping of every service (Nlm filter, Scm), never hardware
            if p.name in self._class:
                continue
            table = catalog.tables[p.table] if p.table is not None else None
            if p.is_command and p.column == "Delete" and table is not None and not engine_fed(table):
                # Config deletes the row itself: the deletion acts as the table's other columns do (the Delete of an
                # engine-fed table, such as a certificate store's, is listed when its engine handles it).
                acting = [self._class.get(c.name) for c in table.columns.values()]
                if "live" in acting or "restart" in acting:
                    self._class[p.name] = "live" if "live" in acting else "restart"
                    self.deletes.add(p.name)
                    continue
            if reason is not None:
                self._class[p.name] = "hardware"
                self.reasons[p.name] = reason
            elif not p.writable:
                self._class[p.name] = "status"
            else:
                self._class[p.name] = "stored"
        for pat in patterns:
            if not any(fnmatch.fnmatchcase(n, pat) for n in catalog.params):
                raise BehaviourError(f"behaviour.toml: hardware pattern {pat} matches no parameter")
        for name, entry in data.get("commands", {}).items():
            cls, summary = entry
            if cls not in CLASSES:
                raise BehaviourError(f"behaviour.toml: command {name}: unknown class {cls!r}")
            self.commands[name] = Command(name, name.split(".", 1)[0], cls, summary)

    def _list(self, name: str, cls: str) -> None:
        p = self.catalog.params.get(name)
        if p is None:
            raise BehaviourError(f"behaviour.toml: {name} ({cls}) is not a catalog parameter")
        if not p.writable:
            raise BehaviourError(f"behaviour.toml: {name} is read-only: it is a status, not {cls}")
        if name in self._class:
            raise BehaviourError(f"behaviour.toml: {name} is listed twice ({self._class[name]}, {cls})")
        self._class[name] = cls

    def of(self, name: str) -> str:
        """The class of a parameter or service command (exact catalog spelling, or any case)."""
        cls = self._class.get(name)
        if cls is not None:
            return cls
        p = self.catalog.param(name)
        if p is not None:
            return self._class[p.name]
        low = name.lower()
        cmd = next((c for n, c in self.commands.items() if n.lower() == low), None)
        if cmd is None:
            raise KeyError(name)
        return cmd.behaviour

    def param_of(self, p: Param) -> str:
        return self._class[p.name]

    def get(self, name: str) -> str | None:
        """The class of a parameter by its exact catalog name; None for a name this catalog lacks."""
        return self._class.get(name)

    def names(self, cls: str) -> list[str]:
        """Every parameter (and service command) of a class, in catalog order."""
        out = [n for n, c in self._class.items() if c == cls]
        order = {n: i for i, n in enumerate(self.catalog.params)}
        out.sort(key=lambda n: order[n])
        return out + [n for n, c in self.commands.items() if c.behaviour == cls]

    def counts(self) -> dict[str, Counter[str]]:
        """Per service: how many parameters and service commands of each class."""
        out: dict[str, Counter[str]] = {s: Counter() for s in self.catalog.services}
        for name, cls in self._class.items():
            out[self.catalog.params[name].service][cls] += 1
        for cmd in self.commands.values():
            out[cmd.service][cmd.behaviour] += 1
        return out


@lru_cache(maxsize=1)
def load_behaviour() -> BehaviourMap:
    """The map of the process-wide catalog (immutable)."""
    return BehaviourMap(load_catalog(), tomllib.loads(BEHAVIOUR_FILE.read_text(encoding="utf-8")))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(behaviour: BehaviourMap) -> str:
    """``docs/parameters.md``: the classes, per-service counts, then one table per service."""
    cat = behaviour.catalog
    counts = behaviour.counts()
    total: Counter[str] = Counter()
    for c in counts.values():
        total.update(c)
    lines = [
        "# Parameters: what the emulator does with each",
        "",
        "Generated from the catalog (`firmware_model/catalog/`) and its behaviour map",
        "(`firmware_model/catalog/behaviour.toml`) by `dgw-emulator parameters --markdown > docs/parameters.md`;",
        "do not edit by hand. The behaviour classes are an emulator addition: the hardware has no such notion.",
        "",
        "| class | meaning |",
        "|---|---|",
        *(f"| `{cls}` | {MEANING[cls]} |" for cls in CLASSES),
        "",
        "Setting a `stored` parameter to a value other than its default raises the notification Conf 9030",
        "(an emulator addition), once per parameter per boot. A row command that the emulator does not run",
        "(class `stored`) is refused: \"command ... is not available on this unit\". Service commands",
        "(`Nlm.StartPCapture`...) are not catalog rows; they are listed after their service's parameters.",
        "",
        "## Counts",
        "",
        "| service | id | " + " | ".join(CLASSES) + " | total |",
        "|---|---:|" + "---:|" * (len(CLASSES) + 1),
    ]
    for name, svc in cat.services.items():
        c = counts[name]
        lines.append(f"| [{name}](#{name.lower()}) | {svc.numkey} | "
                     + " | ".join(str(c[k]) for k in CLASSES) + f" | {sum(c.values())} |")
    lines.append("| **all** | | " + " | ".join(f"**{total[k]}**" for k in CLASSES)
                 + f" | **{sum(total.values())}** |")
    for name, svc in cat.services.items():
        lines += ["", f"## {name}", "", f"{svc.display} (service {svc.numkey}).", "",
                  "| parameter | access | behaviour | note |", "|---|---|---|---|"]
        params = list(svc.params.values()) + [c for t in svc.tables.values() for c in t.columns.values()]
        for p in params:
            cls = behaviour.param_of(p)
            notes = []
            if p.addition:
                notes.append("emulator addition")
            if p.is_command:
                notes.append("row command")
            if p.restart and cls not in ("restart", "hardware"):
                notes.append("marks the service as needing a restart")
            if cls == "hardware":
                notes.append(behaviour.reasons[p.name])
            if cls == "restart" and not p.restart and p.name not in behaviour.deletes:
                notes.append("the unit does not mark the service: restart it yourself")
            if p.name in behaviour.notes:
                notes.append(behaviour.notes[p.name])
            if p.name in behaviour.not_acting:
                notes.append("named by the code but not acted on: " + behaviour.not_acting[p.name])
            access = "command" if p.is_command else p.access
            lines.append(f"| `{p.name}` | {access} | {cls} | {_cell('; '.join(notes))} |")
        for cmd in behaviour.commands.values():
            if cmd.service == name:
                lines.append(f"| `{cmd.name}` | service command | {cmd.behaviour} | {_cell(cmd.summary)} |")
    return "\n".join(lines) + "\n"

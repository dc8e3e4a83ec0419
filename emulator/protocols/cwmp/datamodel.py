"""The CWMP data model of a DGW unit (TR-106 ``Device:1`` or TR-098 ``InternetGatewayDevice:1``).

Root = ``Cwmp.RootElement``. Standard objects: ``DeviceSummary``, ``DeviceInfo``, ``ManagementServer``,
``Time`` and (Device root) ``LAN.IPAddress``; every DGW parameter is exposed as a vendor extension
(TR-106 §3.3 "X_<OUI>_" with Media5's OUI ``0090F8``):

    <Root>.X_0090F8_<Service>.<Param>                   a scalar
    <Root>.X_0090F8_<Service>.<Table>.<i>.<Column>      a table cell; <Table> is a multi-instance object
    <Root>.X_0090F8_<Service>.<Table>NumberOfEntries    row count (TR-106 §3.2.1 convention)
    <Root>.X_0090F8_<Service>.<Command>                 a service command (``CRout.ApplyConfig``...): a boolean
                                                        read false, run by a true (emulator addition, see
                                                        :mod:`firmware_model.service_commands`)

With ``Cwmp.Tr104Enable`` = Enable, TR-104 ``Services.VoiceService.1`` (:mod:`.voice`: one SIP voice profile over
the SipEp service, one ``Line`` per endpoint, each value mapped onto the SipEp/Mipt parameter that holds it).

Types follow the catalog: uint -> ``unsignedInt``, int -> ``int``, uint64 -> ``unsignedLong``, an enum whose
values are exactly ``Disable``/``Enable`` -> ``boolean`` (true/false), any other enum -> ``string`` (its label),
addresses and text -> ``string``. Writability follows the catalog access; secrets read as "" (TR-069 A.3.2.1).

Instance numbers (TR-069 §A.3.2.4: stable for the life of the row): a row whose single index is a number
``n >= 1`` gets instance ``n`` when that number is free; any other row (index 0, text or composite indexes,
or a clash) gets ``highest instance ever given + 1``. The mapping is kept in :class:`ModelState`, persisted
by the engine with the other CWMP state, so numbers survive restarts and are never reused for another row.
"""

from __future__ import annotations

import json
import time as _time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from emulator.protocols.cwmp.leaf import Leaf, cell_address, config_set, fault_of, to_bool_label, vendor_leaf, xsd_type
from emulator.protocols.cwmp.soap import CwmpFault
from emulator.protocols.cwmp.voice import LineRuntime, VoiceService
from firmware_model.config import ConfigError, Index
from firmware_model.schema import Catalog, Param, Table
from firmware_model.service_commands import ServiceCommand, service_commands

__all__ = ["OUI", "VENDOR", "DataModel", "Leaf", "ModelState", "xsd_type"]

OUI = "0090F8"
VENDOR = f"X_{OUI}_"
MANUFACTURER = "Media5"
def iso_time(epoch: float) -> str:
    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(epoch))


@dataclass(slots=True)
class ModelState:
    """Persistent CWMP data-model state (part of the engine's state file)."""

    parameter_key: str = ""
    provisioning_code: str = ""
    notifications: dict[str, int] = field(default_factory=dict)  # path -> 1 passive / 2 active
    access: dict[str, list[str]] = field(default_factory=dict)  # path -> AccessList
    instances: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> index key -> instance
    highwater: dict[str, int] = field(default_factory=dict)  # table -> highest instance ever given
    dirty: bool = False

    def to_doc(self) -> dict[str, Any]:
        return {
            "parameter_key": self.parameter_key,
            "provisioning_code": self.provisioning_code,
            "notifications": self.notifications,
            "access": self.access,
            "instances": self.instances,
            "highwater": self.highwater,
        }

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> ModelState:
        return cls(
            parameter_key=str(d.get("parameter_key", "")),
            provisioning_code=str(d.get("provisioning_code", "")),
            notifications={str(k): int(v) for k, v in d.get("notifications", {}).items()},
            access={str(k): [str(x) for x in v] for k, v in d.get("access", {}).items()},
            instances={str(t): {str(k): int(v) for k, v in m.items()} for t, m in d.get("instances", {}).items()},
            highwater={str(k): int(v) for k, v in d.get("highwater", {}).items()},
        )


def _index_key(index: Index) -> str:
    return json.dumps(list(index))


class DataModel:
    """Names, values and objects of one unit, for the RPC handlers. ``unit`` is an ``emulator.runtime.unit.Unit``."""

    def __init__(self, unit: Any, state: ModelState | None = None,
                 connection_request_url: Callable[[], str] | None = None) -> None:
        self.unit = unit
        self.config = unit.config
        self.catalog: Catalog = unit.config.catalog
        self.state = state or ModelState()
        self.connection_request_url = connection_request_url or (lambda: "")
        self.source = "cwmp"
        self._std: tuple[str, dict[str, Leaf]] | None = None
        self.line_runtime: LineRuntime | None = None  # the running lines (calls, counters): set by the engine
        self.voice = VoiceService(self.config, self.source, self._strict, lambda: self.line_runtime)

    # ------------------------------------------------------------------ naming
    @property
    def root(self) -> str:
        return str(self.config.get("Cwmp.RootElement") or "Device")

    def _strict(self) -> bool:
        return self.config.get("Cwmp.InteropParameterTypeValidation") == "Strict"

    # ------------------------------------------------------------------ standard objects
    def _standard(self) -> dict[str, Leaf]:
        """Standard (non-vendor) leaves, by path relative to the root (built once per root)."""
        root = self.root
        if self._std is None or self._std[0] != root:
            self._std = (root, self._build_standard(root))
        return self._std[1]

    def _build_standard(self, root: str) -> dict[str, Leaf]:
        u, c = self.unit, self.config
        summary = (
            "Device:1.0[](Baseline:1)" if root == "Device" else "InternetGatewayDevice:1.1[](Baseline:1)"
        )
        ro = lambda fn: (fn, False)  # noqa: E731
        leaves: dict[str, Leaf] = {}

        def add(rel: str, typ: str, get: Callable[[], str], setter: Any = None, cfg: str | None = None,
                active_ok: bool = True) -> None:
            leaves[rel] = Leaf(f"{root}.{rel}", typ, setter is not None, get, setter, cfg, active_ok)

        del ro
        add("DeviceSummary", "string", lambda: summary)
        add("DeviceInfo.Manufacturer", "string", lambda: MANUFACTURER)
        add("DeviceInfo.ManufacturerOUI", "string", lambda: OUI)
        add("DeviceInfo.ModelName", "string", lambda: u.profile.product)
        add("DeviceInfo.Description", "string", lambda: f"{u.profile.product} (DGW firmware emulator)")
        add("DeviceInfo.ProductClass", "string", lambda: u.profile.series)
        add("DeviceInfo.SerialNumber", "string", lambda: u.identity.serial)
        add("DeviceInfo.HardwareVersion", "string", lambda: u.profile.hardware_revision)
        add("DeviceInfo.SoftwareVersion", "string", lambda: u.version)
        if root == "InternetGatewayDevice":
            add("DeviceInfo.SpecVersion", "string", lambda: "1.0")
        add("DeviceInfo.ProvisioningCode", "string", lambda: self.state.provisioning_code,
            self._state_setter("provisioning_code", 64))
        add("DeviceInfo.UpTime", "unsignedInt", lambda: str(int(u.clock.uptime())), active_ok=False)
        ms = "ManagementServer."
        add(ms + "URL", "string", lambda: c.get_text("Cwmp.AcsStaticUrl"), self._cfg_setter("Cwmp.AcsStaticUrl"),
            "Cwmp.AcsStaticUrl")
        add(ms + "Username", "string", lambda: c.get_text("Cwmp.Username"), self._cfg_setter("Cwmp.Username"),
            "Cwmp.Username")
        add(ms + "Password", "string", lambda: "", self._cfg_setter("Cwmp.Password"), "Cwmp.Password")
        add(ms + "PeriodicInformEnable", "boolean",
            lambda: "true" if c.get("Cwmp.PeriodicInformEnable") == "Enable" else "false",
            self._cfg_setter("Cwmp.PeriodicInformEnable", boolean=True), "Cwmp.PeriodicInformEnable")
        add(ms + "PeriodicInformInterval", "unsignedInt", lambda: c.get_text("Cwmp.PeriodicInformInterval"),
            self._cfg_setter("Cwmp.PeriodicInformInterval", numeric=True), "Cwmp.PeriodicInformInterval")
        add(ms + "PeriodicInformTime", "dateTime", lambda: c.get_text("Cwmp.PeriodicInformTime"),
            self._cfg_setter("Cwmp.PeriodicInformTime", datetime=True), "Cwmp.PeriodicInformTime")
        add(ms + "ParameterKey", "string", lambda: self.state.parameter_key, active_ok=False)
        add(ms + "ConnectionRequestURL", "string", self.connection_request_url)
        add(ms + "ConnectionRequestUsername", "string", lambda: c.get_text("Cwmp.ConnectionRequestUsername"),
            self._cfg_setter("Cwmp.ConnectionRequestUsername"), "Cwmp.ConnectionRequestUsername")
        add(ms + "ConnectionRequestPassword", "string", lambda: "",
            self._cfg_setter("Cwmp.ConnectionRequestPassword"), "Cwmp.ConnectionRequestPassword")
        add(ms + "UpgradesManaged", "boolean", lambda: "false")
        add("Time.CurrentLocalTime", "dateTime", lambda: iso_time(u.clock.now()), active_ok=False)
        add("Time.LocalTimeZone", "string", lambda: c.get_text("Hoc.StaticTimeZone"), None, "Hoc.StaticTimeZone")
        if root == "Device":
            add("LAN.IPAddress", "string", lambda: str(u.host))
        return leaves

    def forced_inform(self) -> list[str]:
        """Forced inform parameters (TR-098/TR-106 tables: "Forced Inform")."""
        r = self.root
        names = [f"{r}.DeviceSummary", f"{r}.DeviceInfo.HardwareVersion", f"{r}.DeviceInfo.SoftwareVersion",
                 f"{r}.DeviceInfo.ProvisioningCode", f"{r}.ManagementServer.ConnectionRequestURL",
                 f"{r}.ManagementServer.ParameterKey"]
        if r == "InternetGatewayDevice":
            names.insert(1, f"{r}.DeviceInfo.SpecVersion")
        else:
            names.append(f"{r}.LAN.IPAddress")
        return names

    def _state_setter(self, attr: str, max_len: int) -> Callable[[str], Callable[[], None] | None]:
        def setter(value: str) -> Callable[[], None] | None:
            if len(value) > max_len:
                raise CwmpFault(9007, f"longer than {max_len} characters")

            def commit() -> None:
                setattr(self.state, attr, value)
                self.state.dirty = True

            return commit

        return setter

    def _cfg_setter(self, name: str, boolean: bool = False, numeric: bool = False,
                    datetime: bool = False) -> Callable[[str], Callable[[], None] | None]:
        def setter(value: str) -> Callable[[], None] | None:
            v = value
            if boolean:
                v = self._to_bool_label(value)
            elif numeric and not value.strip().isdigit():
                raise CwmpFault(9007, f"{value!r} is not an unsignedInt")
            elif datetime:
                v = _canonical_datetime(value)
            self._config_set(name, v)
            return None

        return setter

    def _to_bool_label(self, value: str) -> str:
        return to_bool_label(value, self._strict())

    def _config_set(self, name: str, value: str) -> None:
        config_set(self.config, name, value, self.source)

    # ------------------------------------------------------------------ vendor objects
    def _vendor_leaf(self, p: Param, index: Index | None, path: str) -> Leaf:
        addr = p.name if index is None else cell_address(str(p.table), index, str(p.column))
        writable = p.writable and (p.table is None or not self.catalog.tables[p.table].status)
        return vendor_leaf(self.config, p, addr, path, writable=writable, strict=self._strict, source=self.source)

    def instances(self, table: Table) -> list[tuple[int, Index]]:
        """(instance number, row index) of every row, in row order (see module doc for the mapping)."""
        indexes = self.config.indexes(table.name)
        m = self.state.instances.get(table.name, {})
        keys = [_index_key(i) for i in indexes]
        if set(keys) != set(m):
            m = {k: v for k, v in m.items() if k in keys}
            used = set(m.values())
            hw = self.state.highwater.get(table.name, 0)
            for k, idx in zip(keys, indexes, strict=True):
                if k in m:
                    continue
                n = idx[0] if len(idx) == 1 and isinstance(idx[0], int) and idx[0] >= 1 else 0
                if not n or n in used or n > 4294967295:
                    n = max(hw, *used, 0) + 1 if used else hw + 1
                m[k] = n
                used.add(n)
                hw = max(hw, n)
            self.state.instances[table.name] = m
            self.state.highwater[table.name] = hw
            self.state.dirty = True
        return [(m[k], idx) for k, idx in zip(keys, indexes, strict=True)]

    def index_of(self, table: Table, instance: int) -> Index | None:
        for n, idx in self.instances(table):
            if n == instance:
                return idx
        return None

    def instance_of(self, table: Table, index: Index) -> int | None:
        for n, idx in self.instances(table):
            if idx == index:
                return n
        return None

    # ------------------------------------------------------------------ lookup
    def leaf(self, path: str) -> Leaf:
        """The leaf at a full parameter path; CwmpFault 9005 when there is none."""
        root = self.root
        if not path.startswith(root + ".") or path.endswith("."):
            raise CwmpFault(9005, f"{path}: invalid parameter name")
        rel = path[len(root) + 1:]
        if not rel.startswith(VENDOR):
            std = self._standard().get(rel) or self._voice().get(rel)
            if std is None:
                raise CwmpFault(9005, f"{path}: invalid parameter name")
            return std
        parts = rel[len(VENDOR):].split(".")
        svc = self.catalog.services.get(parts[0])
        if svc is None:
            raise CwmpFault(9005, f"{path}: invalid parameter name")
        if len(parts) == 2:
            p = svc.params.get(parts[1])
            if p is not None:
                return self._vendor_leaf(p, None, path)
            command = next((c for c in service_commands(self.unit) if c.name == f"{svc.name}.{parts[1]}"), None)
            if command is not None:
                return self._command_leaf(command, path)
            if parts[1].endswith("NumberOfEntries"):
                t = svc.tables.get(parts[1][: -len("NumberOfEntries")])
                if t is not None:
                    return self._count_leaf(path, t)
        if len(parts) == 4 and parts[2].isdigit():
            t = svc.tables.get(parts[1])
            col = t.columns.get(parts[3]) if t is not None else None
            if t is not None and col is not None:
                idx = self.index_of(t, int(parts[2]))
                if idx is not None:
                    return self._vendor_leaf(col, idx, path)
        raise CwmpFault(9005, f"{path}: invalid parameter name")

    def _command_leaf(self, command: ServiceCommand, path: str) -> Leaf:
        """A service command: reads false; true runs it (last in its SetParameterValues), false does nothing."""
        run = self.unit.commands[command.name]

        def setter(value: str) -> None:
            if to_bool_label(value, self._strict()) == "Enable":
                try:
                    run()
                except ConfigError as e:
                    raise fault_of(e) from None
            return None

        return Leaf(path, "boolean", True, lambda: "false", setter, None, False, last=True)

    def _count_leaf(self, path: str, t: Table) -> Leaf:
        def count() -> str:
            return str(len(self.config.indexes(t.name)))

        return Leaf(path, "unsignedInt", False, count, active_ok=False)

    def table_at(self, path: str) -> tuple[Table, int | None]:
        """A multi-instance object path ``...X_0090F8_Svc.Table.`` (or ``....Table.<i>.``)."""
        root = self.root
        if not path.startswith(f"{root}.{VENDOR}") or not path.endswith("."):
            raise CwmpFault(9005, f"{path}: not a multi-instance object")
        parts = path[len(root) + 1 + len(VENDOR): -1].split(".")
        svc = self.catalog.services.get(parts[0])
        t = svc.tables.get(parts[1]) if svc is not None and len(parts) in (2, 3) else None
        if t is None:
            raise CwmpFault(9005, f"{path}: not a multi-instance object")
        if len(parts) == 3:
            if not parts[2].isdigit():
                raise CwmpFault(9005, f"{path}: not an object instance")
            return t, int(parts[2])
        return t, None

    # ------------------------------------------------------------------ walking
    def walk(self, prefix: str = "") -> Iterator[tuple[str, bool, Leaf | None]]:
        """Every object (path ending in '.') and leaf under ``prefix``, depth-first, with writability."""
        root = self.root
        if not prefix or prefix == root + ".":
            yield root + ".", False, None
            yield from self._walk_all(root)
            return
        if not prefix.startswith(root + "."):
            raise CwmpFault(9005, f"{prefix}: invalid parameter name")
        if not prefix.endswith("."):
            yield prefix, False, self.leaf(prefix)
            return
        found = False
        for item in self._walk_all(root, prefix):
            if item[0].startswith(prefix):
                found = True
                yield item
        if not found:
            raise CwmpFault(9005, f"{prefix}: invalid parameter name")

    def _walk_all(self, root: str, prefix: str = "") -> Iterator[tuple[str, bool, Leaf | None]]:
        objects_seen: set[str] = set()
        if not prefix or not prefix.startswith(f"{root}.{VENDOR}"):
            for rel, lf in (self._standard() | self._voice()).items():
                parts = rel.split(".")
                for i in range(1, len(parts)):
                    obj = f"{root}." + ".".join(parts[:i]) + "."
                    if obj not in objects_seen:
                        objects_seen.add(obj)
                        yield obj, False, None
                yield lf.path, lf.writable, lf
        svc_filter = None
        if prefix.startswith(f"{root}.{VENDOR}"):
            svc_filter = prefix[len(root) + 1 + len(VENDOR):].split(".")[0]
        commands: dict[str, list[ServiceCommand]] = {}
        for c in service_commands(self.unit):
            commands.setdefault(c.service, []).append(c)
        for svc in self.catalog.services.values():
            if svc_filter is not None and svc.name != svc_filter:
                continue
            base = f"{root}.{VENDOR}{svc.name}."
            yield base, False, None
            for short, p in svc.params.items():
                lf = self._vendor_leaf(p, None, base + short)
                yield lf.path, lf.writable, lf
            for command in commands.get(svc.name, ()):
                lf = self._command_leaf(command, base + command.command)
                yield lf.path, True, lf
            for tshort, t in svc.tables.items():
                lf = self._count_leaf(f"{base}{tshort}NumberOfEntries", t)
                yield lf.path, False, lf
                tpath = f"{base}{tshort}."
                if prefix and not (tpath.startswith(prefix) or prefix.startswith(tpath)):
                    continue
                yield tpath, t.dynamic, None
                for inst, idx in self.instances(t):
                    ipath = f"{tpath}{inst}."
                    yield ipath, t.dynamic, None
                    for cname, col in t.columns.items():
                        lf = self._vendor_leaf(col, idx, ipath + cname)
                        yield lf.path, lf.writable, lf

    def names(self, path: str, next_level: bool) -> list[tuple[str, bool]]:
        """GetParameterNames (TR-069 A.3.2.3)."""
        if path and not path.endswith("."):
            lf = self.leaf(path)
            if next_level:
                raise CwmpFault(9003, "NextLevel true with a parameter name")
            return [(lf.path, lf.writable)]
        items = list(self.walk(path))
        if not next_level:
            return [(n, w) for n, w, _ in items]
        base = path or ""
        depth = base.count(".")
        out = []
        for n, w, _ in items:
            if n == base:
                continue
            d = n.count(".") - (1 if n.endswith(".") else 0)
            if d == depth:
                out.append((n, w))
        if not base:
            return [(f"{self.root}.", False)]
        return out

    def values(self, paths: list[str]) -> list[tuple[str, str, str]]:
        """GetParameterValues: (name, xsd type, value); partial paths expand to every leaf below."""
        out: list[tuple[str, str, str]] = []
        for p in paths:
            if p == "" or p.endswith("."):
                for _n, _w, lf in self.walk(p):
                    if lf is not None:
                        out.append((lf.path, lf.type, lf.get()))
            else:
                lf = self.leaf(p)
                out.append((lf.path, lf.type, lf.get()))
        return out

    def leaves_under(self, path: str) -> list[Leaf]:
        if path == "" or path.endswith("."):
            return [lf for _n, _w, lf in self.walk(path) if lf is not None]
        return [self.leaf(path)]

    # ------------------------------------------------------------------ VALUE CHANGE
    def paths_for_change(self, config_name: str, index: Index | None, param: Param) -> list[str]:
        """CWMP paths showing a DGW parameter (or cell) that changed."""
        root = self.root
        out = []
        if index is None:
            out.append(f"{root}.{VENDOR}{param.service}.{param.short}")
        elif param.table is not None:
            t = self.catalog.tables[param.table]
            inst = self.instance_of(t, index)
            if inst is not None:
                out.append(f"{root}.{VENDOR}{t.service}.{t.short}.{inst}.{param.column}")
        for rel, lf in (self._standard() | self._voice()).items():
            if lf.config_name is not None and lf.config_name.lower() == config_name.lower():
                out.append(f"{root}.{rel}")
        return out

    # ------------------------------------------------------------------ TR-104
    def _voice(self) -> dict[str, Leaf]:
        """TR-104 ``Services.VoiceService.1`` when ``Cwmp.Tr104Enable`` is Enable (:mod:`.voice`): one SIP voice
        profile, one Line per ``SipEp.UserAgent`` row (instance numbers as for the vendor tables)."""
        if self.config.get("Cwmp.Tr104Enable") != "Enable":
            return {}
        return self.voice.leaves(self.root, self.instances(self.catalog.tables["SipEp.UserAgent"]))


def _canonical_datetime(value: str) -> str:
    """xsd:dateTime -> the 20-character UTC form the DGW stores (``YYYY-MM-DDTHH:MM:SSZ``)."""
    import datetime as dt

    v = value.strip()
    try:
        d = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise CwmpFault(9007, f"{value!r} is not an xsd:dateTime") from None
    if d.tzinfo is not None:
        d = d.astimezone(dt.UTC).replace(tzinfo=None)
    return d.strftime("%Y-%m-%dT%H:%M:%SZ") if d.year > 1 else "0001-01-01T00:00:00Z"

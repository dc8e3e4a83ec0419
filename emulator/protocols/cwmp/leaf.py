"""One parameter of the CWMP data model (:class:`Leaf`) and the conversions between TR-069 values and the DGW
catalog's, shared by the vendor objects (:mod:`.datamodel`) and the TR-104 voice objects (:mod:`.voice`).

Types follow the catalog: uint -> ``unsignedInt``, int -> ``int``, uint64 -> ``unsignedLong``, an enum whose values
are exactly ``Disable``/``Enable`` -> ``boolean`` (true/false), any other enum -> ``string`` (its label), addresses
and text -> ``string``. A configuration refusal is the CWMP fault TR-069 A.5.1 gives for it (9008 read-only, 9005
unknown, 9007 invalid value); secrets read as "" (TR-069 A.3.2.1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.protocols.cwmp.soap import CwmpFault
from firmware_model.config import ConfigError, Index
from firmware_model.schema import Param

__all__ = ["Leaf", "Setter", "cell_address", "config_set", "fault_of", "to_bool_label", "vendor_leaf", "xsd_type"]

_BOOL_LABELS = frozenset({"Disable", "Enable"})
_FAULT_OF_KIND = {"read-only": 9008, "unknown": 9005, "no-row": 9005, "syntax": 9005}

# set(value) applies inside the Config batch (raises CwmpFault); may return a commit for after it
Setter = Callable[[str], Callable[[], None] | None]


@dataclass(slots=True)
class Leaf:
    """One parameter of the data model."""

    path: str
    type: str  # xsd type local name
    writable: bool
    get: Callable[[], str]
    set: Setter | None = None
    config_name: str | None = None  # the DGW parameter/cell address behind it (VALUE CHANGE)
    active_ok: bool = True  # False: active notification refused with 9009 (TR-069 A.3.2.4)
    last: bool = False  # a service command: set after the request's other values, in the same batch


def xsd_type(p: Param) -> str:
    k = p.type.kind
    if k == "enum":
        return "boolean" if frozenset(p.type.labels()) == _BOOL_LABELS else "string"
    return {"uint": "unsignedInt", "int": "int", "uint64": "unsignedLong"}.get(k, "string")


def cell_address(table: str, index: Index, column: str) -> str:
    """``Table["v1","v2"].Column``: a cell address whatever the index values hold."""
    parts = ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in index)
    return f"{table}[{parts}].{column}"


def to_bool_label(value: str, strict: bool) -> str:
    """An xsd:boolean (1/0/true/false; also Enable/Disable unless ``strict``) as the catalog's label."""
    t = value.strip().lower()
    if t in ("1", "true"):
        return "Enable"
    if t in ("0", "false"):
        return "Disable"
    if not strict and t in ("enable", "disable"):
        return "Enable" if t == "enable" else "Disable"
    raise CwmpFault(9007, f"{value!r} is not a boolean")


def config_set(config: Any, name: str, value: Any, source: str) -> None:
    """``Config.set`` with its refusal as the CWMP fault (inside the SetParameterValues batch)."""
    try:
        config.set(name, value, source=source)
    except ConfigError as e:
        raise fault_of(e) from None


def fault_of(e: ConfigError) -> CwmpFault:
    """The CWMP fault of a configuration refusal."""
    return CwmpFault(_FAULT_OF_KIND.get(e.kind, 9007), e.message)


def vendor_leaf(config: Any, p: Param, address: str, path: str, *, writable: bool, strict: Callable[[], bool],
                source: str) -> Leaf:
    """The leaf showing one DGW value (a scalar or the cell at ``address``) in its xsd type."""
    typ = xsd_type(p)

    def get() -> str:
        if p.secret:
            return ""
        try:
            v = config.get(address)
        except ConfigError:
            return ""
        if v is None:
            return ""
        if typ == "boolean":
            return "true" if v == "Enable" else "false"
        return str(v)

    setter: Setter | None = None
    if writable:

        def setter(value: str) -> Callable[[], None] | None:
            v = to_bool_label(value, strict()) if typ == "boolean" else value
            if typ in ("unsignedInt", "unsignedLong", "int"):
                s = value.strip()
                if not (s.lstrip("-").isdigit() and (typ == "int" or not s.startswith("-"))):
                    raise CwmpFault(9007, f"{value!r} is not an {typ}")
            config_set(config, address, v, source)
            return None

    return Leaf(path, typ, writable, get, setter, address, True)

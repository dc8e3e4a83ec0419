"""Unit models (profiles): endpoints, ports, interfaces, product strings, identity and factory rows.

Facts used: product names, the 00:90:F8 OUI, sysObjectID series branches (MX-PRODUCTS2-MIB), port
names (C7xx ``BRI1``/``BRI2``; 3xxx ``SlotN/E1T1``), ``Lan1`` as the default interface. Marked
"emulator choice" where the hardware's value is not known to us: the leaf of each sysObjectID, the
4102 endpoint ids ``Phone-Fax1/2``, the serial-number format and the firmware build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from firmware_model.config import Factory, Row
from firmware_model.schema import Catalog

__all__ = ["PROFILES", "Identity", "Profile", "factory_for", "get_profile", "identity_for"]

FIRMWARE_VERSION = "49.12.2941"  # emulator choice: a DGW 49 build named in the vendor SRTP guide
PRODUCTS_OID = "1.3.6.1.4.1.4935.1000.100.100"

# The services of the DGW firmware as Scm lists them (every catalog service but the MIB-only ones).
_NOT_SCM = {"Hardware"}


@dataclass(frozen=True, slots=True)
class Profile:
    key: str  # --profile value
    product: str  # Dcm.UnitInfoProductName, %product%
    series: str  # %productseries%
    sys_object_id: str
    endpoints: tuple[str, ...]  # EpAdm.Endpoint.EpId values
    endpoint_kind: str  # "fxs" | "bri" | "pri"
    ports: tuple[str, ...]  # hardware ports (BRI/PRI) or FXS lines
    links: tuple[str, ...]  # Ethernet links: (wan, lan)
    serial_prefix: str
    hardware_revision: str = "1.0"
    extra_rows: dict[str, list[Row]] = field(default_factory=dict)


def _profile(key: str, series: str, oid: str, endpoints: tuple[str, ...], kind: str) -> Profile:
    """A unit model: the product name and serial prefix follow from its model number."""
    return Profile(
        key=key,
        product=f"Mediatrix {key}",
        series=series,
        sys_object_id=f"{PRODUCTS_OID}.{oid}",
        endpoints=endpoints,
        endpoint_kind=kind,
        ports=endpoints,
        links=("eth1", "eth2"),
        serial_prefix=key,
    )


# sysObjectID: the series branch is the vendor's (MX-PRODUCTS2-MIB: 4100 = .300, C7 = .600, 3000 = .100); the
# leaf (after the branch) is an emulator choice. Endpoint names are emulator choices too (README).
PROFILES: dict[str, Profile] = {
    p.key: p
    for p in (
        _profile("4102", "4100", "300.102", ("Phone-Fax1", "Phone-Fax2"), "fxs"),
        _profile("C740", "C7", "600.740", ("Bri1", "Bri2"), "bri"),
        _profile("3621", "3000", "100.3621", ("Slot2/E1T1", "Slot3/E1T1"), "pri"),
    )
}


def get_profile(key: str) -> Profile:
    for k, p in PROFILES.items():
        if k.lower() == key.lower():
            return p
    raise KeyError(f"unknown profile {key!r}; known: {', '.join(PROFILES)}")


@dataclass(frozen=True, slots=True)
class Identity:
    """What makes one emulated unit distinct: MAC (OUI 00:90:F8) and serial number."""

    mac: str  # lower-case, no separators (the DGW %mac% form)
    serial: str

    @property
    def mac_colon(self) -> str:
        return ":".join(self.mac[i : i + 2] for i in range(0, 12, 2)).upper()


def identity_for(profile: Profile, unit_name: str) -> Identity:
    """Stable per unit name, so a lab restarted keeps its identities."""
    h = hashlib.sha256(f"{profile.key}/{unit_name}".encode()).digest()
    mac = "0090f8" + h[:3].hex()
    serial = f"{profile.serial_prefix}{int.from_bytes(h[3:6], 'big') % 10**7:07d}"  # emulator choice
    return Identity(mac=mac, serial=serial)


# Default routing of notifications (emulator choice, documented in README): everything to the
# remote syslog host and to the local log; each service's MinSeverity filters first.
DEFAULT_EVENT_RULES: list[Row] = [
    {"Index": 1, "Activation": "Enable", "Type": "Notification", "Criteria": "All", "Action": "SendViaSyslog"},
    {"Index": 2, "Activation": "Enable", "Type": "Notification", "Criteria": "All", "Action": "LogLocally"},
]


_FACTORIES: dict[tuple[int, str], Factory] = {}

# Factory call routing (emulator choice, documented in README and engines/crout): auto-routing on, matching the
# called SIP user name, so that a factory unit's lines call and are called through their SIP gateway.
FACTORY_SCALARS: dict[str, str] = {"CRout.AutoRoutingEnable": "Enable", "CRout.AutoRoutingCriteriaType": "SipUsername"}


# endpoint kind -> (the ISDN interface table, the hardware ports table) its ports appear in
_ISDN_TABLES = {
    "bri": ("Isdn.BasicRateInterface", "Hardware.BriPorts"),
    "pri": ("Isdn.PrimaryRateInterface", "Hardware.Ports"),
}


def factory_for(catalog: Catalog, profile: Profile) -> Factory:
    """Factory configuration of a model: the rows each table starts with. Shared by the units of
    one model (Config copies every row it takes from it, never changes it)."""
    key = (id(catalog), profile.key)
    cached = _FACTORIES.get(key)
    if cached is None:
        cached = _FACTORIES[key] = _build_factory(catalog, profile)
    return cached


def _build_factory(catalog: Catalog, profile: Profile) -> Factory:
    services = [s for s in catalog.services if s not in _NOT_SCM]
    rows: dict[str, list[Row]] = {}
    eps = list(profile.endpoints)
    for t in catalog.tables.values():
        if t.status:
            continue
        idx = t.index
        if idx == ("EpId",):
            rows[t.name] = [{"EpId": e} for e in eps]
        elif idx == ("GatewayName",):
            rows[t.name] = [{"GatewayName": "default"}]
        elif idx == ("InterfaceId",) and t.service == "TelIf":
            rows[t.name] = [{"InterfaceId": e} for e in eps]
        elif t.service == "Pots" and idx == ("Id",) and profile.endpoint_kind == "fxs":
            if t.short.startswith("Fxs"):
                rows[t.name] = [{"Id": e} for e in eps]
    rows["SipEp.Gateway"] = [{"Name": "default", "Type": "EndpointGateway"}] if _has_enum(
        catalog, "SipEp.Gateway.Type", "EndpointGateway"
    ) else [{"Name": "default"}]
    rows["Scm.ServiceCommands"] = [{"Name": s} for s in services]
    rows["Scm.ServicesConfig"] = [{"Name": s} for s in services]
    rows["Hoc.StaticSntpServers"] = [{"Priority": i} for i in range(1, 5)]
    # the ten rows of the DTMF map tables (Index 1..10, fixed: the MIB's tables have no Delete)
    rows["EpServ.CallDtmfMapAllowed"] = [{"Index": i} for i in range(1, 11)]
    rows["EpServ.CallDtmfMapRefuse"] = [{"Index": i} for i in range(1, 11)]
    rows["Hoc.StaticDnsServers"] = [{"Priority": i} for i in range(1, 5)]
    # The hardware's factory account: user "public" with an empty password, Admin rights.
    rows["Aaa.Users"] = [{"UserName": "public", "Password": "", "AccessRights": "Admin"}]
    rows["Aaa.ServicesAaaType"] = [{"Service": s} for s in ("Cli", "Web", "Cwmp")]
    rows["Nlm.Events"] = [dict(r) for r in DEFAULT_EVENT_RULES]
    # one row per SIP code its SipErrorCode column admits (406, 415, 488, 606), as on the hardware
    rows["SipEp.BehaviorOnT38InviteNotAccepted"] = [{"SipErrorCode": c} for c in (406, 415, 488, 606)]
    wan, lan = profile.links
    rows["Bni.NetworkInterfaces"] = [
        {"Idx": 1, "InterfaceName": "Uplink", "LinkName": wan, "ConnectionType": "IpDhcp", "Activation": "Enable"},
        {"Idx": 2, "InterfaceName": "Lan1", "LinkName": lan, "ConnectionType": "IpStatic",
         "StaticIpAddr": "192.168.0.10/24", "Activation": "Enable"},
    ]
    rows["Eth.Links"] = [{"Name": n} for n in profile.links]
    rows["Eth.Ports"] = [{"Name": n.upper()} for n in profile.links]
    rows["Bni.InterfaceStatistics"] = [{"LinkName": n} for n in profile.links]
    isdn = _ISDN_TABLES.get(profile.endpoint_kind)
    if isdn is not None:  # BRI and PRI ports: their interface tables, the D channels, the hardware ports
        interface, hardware = isdn
        for tn in (interface, f"{interface}Interop"):
            rows[tn] = [{"Name": p} for p in profile.ports]
        for tn in ("Isdn.SignalingChannel", "Isdn.SignalingChannelInterop", "Isdn.PhysicalLink"):
            rows[tn] = [{"InterfaceName": p} for p in profile.ports]
        rows[hardware] = [{"Port": p} for p in profile.ports]
    if profile.endpoint_kind != "fxs":  # auto-routing takes FXS lines by itself (HardwareDependent), not ports
        rows["CRout.AutoRouting"] = [{"EpId": e, "Autoroutable": "Enable"} for e in eps]
    for tn, extra in profile.extra_rows.items():
        rows[tn] = list(extra)
    # Keep only tables that exist in this catalog (additions may be absent in tests).
    rows = {k: v for k, v in rows.items() if k in catalog.tables}
    return Factory(scalars={k: v for k, v in FACTORY_SCALARS.items() if k in catalog.params}, rows=rows)


def _has_enum(catalog: Catalog, name: str, label: str) -> bool:
    p = catalog.params.get(name)
    return bool(p and label in p.type.labels())

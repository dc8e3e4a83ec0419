"""Who may do what through the SNMP agent, from the ``Snmp.*`` parameters and ``Aaa.Users`` (pure): the versions
on, the community's rights (those of the ``Aaa.Users`` user ``Snmp.SnmpUser`` names), the SNMPv3 USM users, the
snmpEngineID and the trap destinations. See :mod:`emulator.faces.snmp.agent` for how the agent applies it."""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware_model.config import Config

__all__ = ["MEDIA5", "RW_RIGHTS", "AccessPlan", "UsmUser", "access_plan", "engine_id_for", "trap_destinations"]

MEDIA5 = 4935  # the vendor's enterprise number
RW_RIGHTS = ("Admin", "User")


@dataclass(slots=True, frozen=True)
class UsmUser:
    name: str
    writable: bool
    auth_key: str = field(repr=False)  # never logged


@dataclass(slots=True, frozen=True)
class AccessPlan:
    """Who may do what, from the Snmp.* parameters and Aaa.Users (pure; see the module docstring)."""

    v1: bool
    v2c: bool
    v3: bool
    community: str = field(repr=False)  # never logged
    community_user: str = field(repr=False)  # the Aaa user whose rights the community has (may be the community)
    community_writable: bool | None  # None: no such user, no access
    auth: str  # "md5" | "sha"
    priv: str  # "none" | "des" | "aes"
    priv_key: str = field(repr=False)
    users: tuple[UsmUser, ...] = ()
    skipped: tuple[str, ...] = ()  # Aaa users that cannot use SNMPv3 (pass phrase under 8 characters)


def access_plan(config: Config) -> AccessPlan:
    def on(name: str) -> bool:
        return config.get(name) == "Enable"

    users = {str(r["UserName"]): r for r in config.rows("Aaa.Users")}
    community = str(config.get("Snmp.Community") or "")
    community_user = str(config.get("Snmp.SnmpUser") or "") or community
    row = users.get(community_user)
    writable = None if row is None else row.get("AccessRights") in RW_RIGHTS
    auth = "sha" if str(config.get("Snmp.AuthProtocol")).lower().startswith("sha") else "md5"
    priv_label = str(config.get("Snmp.PrivProtocol") or "None").lower()
    priv = "aes" if priv_label.startswith("aes") else "des" if priv_label.startswith("des") else "none"
    usm, skipped = [], []
    for name, r in users.items():
        key = str(r.get("Password") or "")
        if len(key) < 8:
            skipped.append(name)
            continue
        usm.append(UsmUser(name, r.get("AccessRights") in RW_RIGHTS, key))
    return AccessPlan(
        v1=on("Snmp.EnableSnmpV1"),
        v2c=on("Snmp.EnableSnmpV2"),
        v3=on("Snmp.EnableSnmpV3"),
        community=community,
        community_user=community_user,
        community_writable=writable,
        auth=auth,
        priv=priv,
        priv_key=str(config.get("Snmp.PrivPassword") or ""),
        users=tuple(usm),
        skipped=tuple(skipped),
    )


def engine_id_for(mac: str) -> bytes:
    """RFC 3411 snmpEngineID: enterprise 4935 with the high bit, format 3 (MAC address)."""
    return (0x80000000 | MEDIA5).to_bytes(4, "big") + b"\x03" + bytes.fromhex(mac)


def trap_destinations(text: str) -> list[tuple[str, int]]:
    """``Snmp.TrapDest``: up to 5 comma-separated ``host[:port]`` (port 162 by default)."""
    out: list[tuple[str, int]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        host, port = part, 162
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
        elif part.count(":") == 1:
            host, p = part.split(":")
            if p.isdigit():
                port = int(p)
        out.append((host, port))
    return out[:5]

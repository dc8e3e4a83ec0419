"""Minimal SMI base modules for net-snmp, written here from the SMI facts (RFC 2578/2579/2580,
RFC 1155/1213, RFC 3418): only the names and OIDs the vendor MX-*-MIB files import, plus the MIB-II
``system`` group and the ``snmpEngine`` group that the emulator's agent also serves.

Debian's ``snmp`` package ships no IETF MIB modules (they are in the non-free
``snmp-mibs-downloader``); without these stubs net-snmp cannot link the vendor MIBs to
``enterprises``. net-snmp knows the SMI macros and base types itself, so the stubs only need the
OID tree and the textual conventions.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_base_mibs"]

_SMI = """SNMPv2-SMI DEFINITIONS ::= BEGIN
org            OBJECT IDENTIFIER ::= { iso 3 }
dod            OBJECT IDENTIFIER ::= { org 6 }
internet       OBJECT IDENTIFIER ::= { dod 1 }
directory      OBJECT IDENTIFIER ::= { internet 1 }
mgmt           OBJECT IDENTIFIER ::= { internet 2 }
mib-2          OBJECT IDENTIFIER ::= { mgmt 1 }
transmission   OBJECT IDENTIFIER ::= { mib-2 10 }
experimental   OBJECT IDENTIFIER ::= { internet 3 }
private        OBJECT IDENTIFIER ::= { internet 4 }
enterprises    OBJECT IDENTIFIER ::= { private 1 }
security       OBJECT IDENTIFIER ::= { internet 5 }
snmpV2         OBJECT IDENTIFIER ::= { internet 6 }
snmpDomains    OBJECT IDENTIFIER ::= { snmpV2 1 }
snmpProxys     OBJECT IDENTIFIER ::= { snmpV2 2 }
snmpModules    OBJECT IDENTIFIER ::= { snmpV2 3 }
zeroDotZero    OBJECT IDENTIFIER ::= { 0 0 }
END
"""

_TC = """SNMPv2-TC DEFINITIONS ::= BEGIN
IMPORTS TimeTicks FROM SNMPv2-SMI;
DisplayString ::= TEXTUAL-CONVENTION
    DISPLAY-HINT "255a"
    STATUS current
    DESCRIPTION "Text (RFC 2579)."
    SYNTAX OCTET STRING (SIZE (0..255))
PhysAddress ::= TEXTUAL-CONVENTION
    DISPLAY-HINT "1x:"
    STATUS current
    DESCRIPTION "Media address (RFC 2579)."
    SYNTAX OCTET STRING
TruthValue ::= TEXTUAL-CONVENTION
    STATUS current
    DESCRIPTION "Boolean (RFC 2579)."
    SYNTAX INTEGER { true(1), false(2) }
TestAndIncr ::= TEXTUAL-CONVENTION
    STATUS current
    DESCRIPTION "Spin lock (RFC 2579)."
    SYNTAX INTEGER (0..2147483647)
AutonomousType ::= TEXTUAL-CONVENTION
    STATUS current
    DESCRIPTION "Independently extensible type (RFC 2579)."
    SYNTAX OBJECT IDENTIFIER
RowStatus ::= TEXTUAL-CONVENTION
    STATUS current
    DESCRIPTION "Row status (RFC 2579)."
    SYNTAX INTEGER { active(1), notInService(2), notReady(3), createAndGo(4), createAndWait(5), destroy(6) }
TimeStamp ::= TEXTUAL-CONVENTION
    STATUS current
    DESCRIPTION "sysUpTime at an event (RFC 2579)."
    SYNTAX TimeTicks
END
"""

_CONF = """SNMPv2-CONF DEFINITIONS ::= BEGIN
END
"""

_SNMPV2_MIB = """SNMPv2-MIB DEFINITIONS ::= BEGIN
IMPORTS MODULE-IDENTITY, OBJECT-TYPE, TimeTicks, mib-2, snmpModules FROM SNMPv2-SMI
        DisplayString FROM SNMPv2-TC;
snmpMIB MODULE-IDENTITY
    LAST-UPDATED "200210160000Z"
    ORGANIZATION "stub"
    CONTACT-INFO "stub"
    DESCRIPTION "Names of the RFC 3418 objects the emulator serves."
    ::= { snmpModules 1 }
snmpMIBObjects OBJECT IDENTIFIER ::= { snmpMIB 1 }
snmpTrap       OBJECT IDENTIFIER ::= { snmpMIBObjects 4 }
snmpTraps      OBJECT IDENTIFIER ::= { snmpMIBObjects 5 }
system         OBJECT IDENTIFIER ::= { mib-2 1 }
sysDescr OBJECT-TYPE SYNTAX DisplayString MAX-ACCESS read-only STATUS current DESCRIPTION "" ::= { system 1 }
sysObjectID OBJECT-TYPE SYNTAX OBJECT IDENTIFIER MAX-ACCESS read-only STATUS current DESCRIPTION "" ::= { system 2 }
sysUpTime OBJECT-TYPE SYNTAX TimeTicks MAX-ACCESS read-only STATUS current DESCRIPTION "" ::= { system 3 }
sysContact OBJECT-TYPE SYNTAX DisplayString MAX-ACCESS read-write STATUS current DESCRIPTION "" ::= { system 4 }
sysName OBJECT-TYPE SYNTAX DisplayString MAX-ACCESS read-write STATUS current DESCRIPTION "" ::= { system 5 }
sysLocation OBJECT-TYPE SYNTAX DisplayString MAX-ACCESS read-write STATUS current DESCRIPTION "" ::= { system 6 }
sysServices OBJECT-TYPE SYNTAX INTEGER (0..127) MAX-ACCESS read-only STATUS current DESCRIPTION "" ::= { system 7 }
snmpTrapOID OBJECT-TYPE SYNTAX OBJECT IDENTIFIER MAX-ACCESS accessible-for-notify STATUS current DESCRIPTION ""
    ::= { snmpTrap 1 }
END
"""

_FRAMEWORK = """SNMP-FRAMEWORK-MIB DEFINITIONS ::= BEGIN
IMPORTS MODULE-IDENTITY, OBJECT-TYPE, Integer32, snmpModules FROM SNMPv2-SMI;
snmpFrameworkMIB MODULE-IDENTITY
    LAST-UPDATED "200210140000Z"
    ORGANIZATION "stub"
    CONTACT-INFO "stub"
    DESCRIPTION "Names of the RFC 3411 snmpEngine group."
    ::= { snmpModules 10 }
snmpFrameworkMIBObjects OBJECT IDENTIFIER ::= { snmpFrameworkMIB 2 }
snmpEngine OBJECT IDENTIFIER ::= { snmpFrameworkMIBObjects 1 }
snmpEngineID OBJECT-TYPE SYNTAX OCTET STRING (SIZE(5..32)) MAX-ACCESS read-only STATUS current DESCRIPTION ""
    ::= { snmpEngine 1 }
snmpEngineBoots OBJECT-TYPE SYNTAX INTEGER (1..2147483647) MAX-ACCESS read-only STATUS current DESCRIPTION ""
    ::= { snmpEngine 2 }
snmpEngineTime OBJECT-TYPE SYNTAX INTEGER (0..2147483647) MAX-ACCESS read-only STATUS current DESCRIPTION ""
    ::= { snmpEngine 3 }
snmpEngineMaxMessageSize OBJECT-TYPE SYNTAX INTEGER (484..2147483647) MAX-ACCESS read-only STATUS current
    DESCRIPTION "" ::= { snmpEngine 4 }
END
"""

_RFC1155 = """RFC1155-SMI DEFINITIONS ::= BEGIN
internet    OBJECT IDENTIFIER ::= { iso org(3) dod(6) 1 }
directory   OBJECT IDENTIFIER ::= { internet 1 }
mgmt        OBJECT IDENTIFIER ::= { internet 2 }
experimental OBJECT IDENTIFIER ::= { internet 3 }
private     OBJECT IDENTIFIER ::= { internet 4 }
enterprises OBJECT IDENTIFIER ::= { private 1 }
END
"""

_RFC1213 = """RFC1213-MIB DEFINITIONS ::= BEGIN
IMPORTS mgmt FROM RFC1155-SMI OBJECT-TYPE FROM RFC-1212;
mib-2      OBJECT IDENTIFIER ::= { mgmt 1 }
interfaces OBJECT IDENTIFIER ::= { mib-2 2 }
ifTable    OBJECT IDENTIFIER ::= { interfaces 2 }
ifEntry    OBJECT IDENTIFIER ::= { ifTable 1 }
ifIndex OBJECT-TYPE SYNTAX INTEGER ACCESS read-only STATUS mandatory ::= { ifEntry 1 }
system     OBJECT IDENTIFIER ::= { mib-2 1 }
sysObjectID OBJECT-TYPE SYNTAX OBJECT IDENTIFIER ACCESS read-only STATUS mandatory ::= { system 2 }
END
"""

MODULES = {
    "SNMPv2-SMI": _SMI,
    "SNMPv2-TC": _TC,
    "SNMPv2-CONF": _CONF,
    "SNMPv2-MIB": _SNMPV2_MIB,
    "SNMP-FRAMEWORK-MIB": _FRAMEWORK,
    "RFC1155-SMI": _RFC1155,
    "RFC1213-MIB": _RFC1213,
}


def write_base_mibs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in MODULES.items():
        (folder / name).write_text(text)
    return folder

"""Minimal SMI base modules for net-snmp, written here from the SMI facts (RFC 2578/2579/2580,
RFC 1155/1213, RFC 3418): only the names and OIDs the vendor MX-*-MIB files import, plus the MIB-II
``system`` group and the ``snmpEngine`` group that the emulator's agent also serves. The modules are the
MIB files of ``base_mibs/`` (one per module, named after it).

Debian's ``snmp`` package ships no IETF MIB modules (they are in the non-free
``snmp-mibs-downloader``); without these stubs net-snmp cannot link the vendor MIBs to
``enterprises``. net-snmp knows the SMI macros and base types itself, so the stubs only need the
OID tree and the textual conventions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["BASE_MIBS", "write_base_mibs"]

BASE_MIBS = Path(__file__).with_name("base_mibs")


def write_base_mibs(folder: Path) -> Path:
    """A copy of the base modules in ``folder`` (net-snmp's MIB path then names it before the vendor MIBs)."""
    shutil.copytree(BASE_MIBS, folder, dirs_exist_ok=True)
    return folder

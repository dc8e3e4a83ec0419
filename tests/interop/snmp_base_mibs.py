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

import os
import shutil
from pathlib import Path

import pytest

from testkit.peers import REQUIRE_PEERS

__all__ = ["BASE_MIBS", "vendor_mibs", "write_base_mibs"]

BASE_MIBS = Path(__file__).with_name("base_mibs")
REPO = Path(__file__).resolve().parents[2]


def vendor_mibs() -> Path:
    """The folder of the vendor MX-*-MIB files: ``DGW_VENDOR_MIBS`` (relative to the checkout, or absolute), else
    ``<repo>/../shared/mibs``; missing -> skip, or fail under ``DGW_REQUIRE_PEERS=1``."""
    env = os.environ.get("DGW_VENDOR_MIBS")
    folder = (REPO / env if not Path(env).is_absolute() else Path(env)) if env else REPO.parent / "shared" / "mibs"
    if not (folder / "MX-SNMP-MIB").exists():
        msg = f"vendor MIBs not found in {folder} (set DGW_VENDOR_MIBS to the folder of the MX-*-MIB files)"
        if REQUIRE_PEERS:
            pytest.fail(msg)
        pytest.skip(msg + " [DGW_REQUIRE_PEERS unset]")
    return folder.resolve()


def write_base_mibs(folder: Path) -> Path:
    """A copy of the base modules in ``folder`` (net-snmp's MIB path then names it before the vendor MIBs)."""
    shutil.copytree(BASE_MIBS, folder, dirs_exist_ok=True)
    return folder

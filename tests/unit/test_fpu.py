"""The Fpu engine: firmware packs installed into the other bank from an in-test HTTP server, the status life cycle,
restarts (manual, automatic after the calls end), rollback, every kind of bad pack refused with the running bank
intact, and the bank files after a write cut short (real nginx, TFTP and kill -9 of a process:
tests/interop/test_fpu.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emulator.engines.fpu.banks import BankInfo, BankStore
from emulator.engines.fpu.engine import FpuEngine
from emulator.ops import policy
from emulator.runtime.unit import Unit
from firmware_model.mfp import Manifest, build_mfp
from firmware_model.profiles import FIRMWARE_VERSION
from testkit.http_files import serve_files
from tests.unit.engine_env import bare_unit

NEW = Manifest("DGW 49.12.3001", "49.12.3001", "SIP", ("Mediatrix 4102",))


def make_unit(tmp_path: Path, **kw: Any) -> tuple[Unit, FpuEngine]:
    unit = bare_unit(tmp_path, info_from="Fpu")
    kw.setdefault("poll_s", 0.02)
    fpu = FpuEngine(unit, **kw)
    unit.attach(fpu)
    return unit, fpu


@pytest.fixture
async def packs() -> AsyncIterator[tuple[str, dict[str, bytes]]]:
    async with serve_files() as server:
        yield server.base, server.files


def rows(unit: Unit) -> list[tuple[str, str]]:
    return [(r["MfpBank"], r["MfpVersion"]) for r in unit.config.rows("Fpu.MfpInstalledInfo")]


async def until(cond: Any, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_install_manual_restart_then_rollback(tmp_path: Path, packs: Any) -> None:
    base, files = packs
    files["4102/fw.mfp"] = build_mfp(NEW, b"image")
    unit, _ = make_unit(tmp_path)
    await unit.start()
    c = unit.config
    assert c.get("Fpu.Status") == "Idle" and unit.version == FIRMWARE_VERSION
    assert rows(unit) == [("MainInUse", FIRMWARE_VERSION), ("None", "")]
    assert c.get("Fpu.MfpLastInstallationResult") == "None" and c.get("Fpu.MfpRollbackAvailable") == "No"
    c.set("Fpu.MfpUrl", f"{base}/4102/fw.mfp")
    assert unit.run_script("Fpu.Install\n").ok
    await until(lambda: c.get("Fpu.Status") == "WaitingManualRestart")
    assert c.get("Fpu.MfpLastInstallationResult") == "Success"
    assert unit.version == FIRMWARE_VERSION  # still the running bank until the restart
    assert rows(unit) == [("MainInUse", FIRMWARE_VERSION), ("Recovery", "49.12.3001")]
    await unit.reboot()
    await until(lambda: c.get("Fpu.Status") == "Idle")
    assert unit.version == "49.12.3001"
    assert rows(unit) == [("Main", FIRMWARE_VERSION), ("RecoveryInUse", "49.12.3001")]
    assert c.get("Fpu.MfpRollbackAvailable") == "Yes"
    assert unit.run_script("Fpu.Rollback\n").ok
    await until(lambda: c.get("Fpu.Status") == "WaitingManualRestart")
    await unit.reboot()
    assert unit.version == FIRMWARE_VERSION and rows(unit)[0] == ("MainInUse", FIRMWARE_VERSION)
    ids = [n.msg_id for n in unit.notifications if n.service == "Fpu"]
    assert ids.count(9002) == 1 and ids.count(9005) == 1 and 9007 in ids
    # a new process on the same state directory runs the same bank
    unit2, _ = make_unit(tmp_path)
    assert unit2.version == FIRMWARE_VERSION
    await unit.stop()


@pytest.mark.parametrize(("name", "pack", "why"), [
    ("corrupt", b"PK\x03\x04 not a pack", "no DGW-MFP header"),
    ("truncated", build_mfp(NEW, b"image" * 50)[:100], "truncated"),
    ("unsigned", build_mfp(NEW, b"image", signed=False), "not signed"),
    ("foreign", build_mfp(NEW, b"image", Ed25519PrivateKey.generate()), "signature"),
    ("product", build_mfp(Manifest("DGW x", "50.0.1", "SIP", ("Mediatrix C740",)), b"image"), "not Mediatrix 4102"),
])
async def test_bad_packs_are_refused_with_the_bank_intact(tmp_path: Path, packs: Any, name: str, pack: bytes,
                                                          why: str) -> None:
    base, files = packs
    files["bad.mfp"] = pack
    unit, fpu = make_unit(tmp_path)
    await unit.start()
    assert await fpu.install(f"{base}/bad.mfp") == "Fail"
    c = unit.config
    assert c.get("Fpu.Status") == "Idle" and c.get("Fpu.MfpLastInstallationResult") == "Fail"
    assert rows(unit) == [("MainInUse", FIRMWARE_VERSION), ("None", "")]
    assert why in unit.notifications[-1].message
    assert not (unit.state_dir / "fpu" / "recovery.mfp").exists()
    assert await fpu.install(f"{base}/missing.mfp") == "Fail"
    assert await fpu.install("file://x.mfp") == "Fail"  # no File for packs (MX-FPU-MIB)
    await unit.stop()


async def test_automatic_restart_waits_for_calls_and_default_settings(tmp_path: Path, packs: Any) -> None:
    base, files = packs
    files["fw.mfp"] = build_mfp(NEW, b"image")
    calls = [1]
    unit, fpu = make_unit(tmp_path, active_calls=lambda: calls[0], minute_s=0.5)
    await unit.start()
    c = unit.config
    c.set("Cli.InactivityTimeOut", 42)
    assert unit.run_script("""
        Fpu.AutomaticRestartEnable = Enable
        Fpu.AutomaticRestartGraceDelay = 10
        Fpu.DefaultSettingsOnInstall = Enable
    """).ok
    task = asyncio.get_running_loop().create_task(fpu.install(f"{base}/fw.mfp"))
    await until(lambda: c.get("Fpu.Status") == "WaitingForGracefulRestart")
    await asyncio.sleep(0.2)
    assert fpu.restarts == 0  # a call is up: the restart waits
    calls[0] = 0
    await task
    await until(lambda: unit.version == "49.12.3001" and c.get("Fpu.Status") == "Idle")
    assert c.get("Cli.InactivityTimeOut") != 42  # factory settings with the new firmware
    assert c.get("Fpu.AutomaticRestartEnable") == "Disable"
    await unit.stop()


def test_a_pack_written_without_its_banks_json_is_an_empty_bank(tmp_path: Path) -> None:
    """kill -9 between the pack file and banks.json: the bank reads empty, the running bank is untouched."""
    factory = BankInfo("DGW f", "1.0", "4102")
    store = BankStore(tmp_path, factory)
    state = store.load()
    store.save(state)
    store.write_pack("Recovery", build_mfp(NEW, b"image"))  # ...killed here
    again = store.load()
    assert again.banks == {"Main": factory, "Recovery": None} and again.active == again.next_boot == "Main"
    (tmp_path / "fpu" / ".banks.json.1234.tmp").write_bytes(b"{half")  # a writer killed before its rename
    assert store.load().active == "Main" and not list((tmp_path / "fpu").glob(".*.tmp"))


def test_a_bank_to_run_whose_file_changed_falls_back(tmp_path: Path) -> None:
    factory = BankInfo("DGW f", "1.0", "4102")
    store = BankStore(tmp_path, factory)
    state = store.load()
    digest = store.write_pack("Recovery", b"pack")
    state.banks["Recovery"] = BankInfo("n", "2.0", "SIP", digest)
    state.next_boot = "Recovery"
    store.save(state)
    assert store.load().next_boot == "Recovery"
    (tmp_path / "fpu" / "recovery.mfp").write_bytes(b"other")
    loaded = store.load()
    assert loaded.banks["Recovery"] is None and loaded.next_boot == "Main"
    doc = json.loads((tmp_path / "fpu" / "banks.json").read_bytes())
    assert doc["next_boot"] == "Recovery"  # the disk is not rewritten by reading it


def test_install_rollback_backup_restore_are_admin_only(tmp_path: Path) -> None:
    """Every face asks emulator.ops.policy: a User may change the configuration, not the firmware or images."""
    user = SimpleNamespace(user="ops", rights="User", can=lambda what: what in ("read", "write"))
    unit = bare_unit(tmp_path)
    for command in ("Fpu.Install", "Fpu.Rollback", "Conf.ImageBackup", "Conf.ImageRestore"):
        with pytest.raises(policy.Forbidden, match="only an Admin user"):
            policy.check_command(user, command)
        with pytest.raises(policy.Forbidden):
            policy.check_script(user, unit.config, f"{command}\n")
    policy.check_command(user, "Conf.TransferScripts")  # transfer and export: User and Admin
    policy.check_command(user, "Conf.ExportScript")

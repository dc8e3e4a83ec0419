"""Atomic persistence: a kill -9 in the middle of a burst of writes loses nothing acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from firmware_model.config import Config
from firmware_model.profiles import factory_for, get_profile
from firmware_model.schema import load_catalog
from firmware_model.store import JsonStore

WRITER = r"""
import sys
from pathlib import Path
from firmware_model.config import Config
from firmware_model.profiles import factory_for, get_profile
from firmware_model.schema import load_catalog
from firmware_model.store import JsonStore
cat = load_catalog()
cfg = Config(cat, factory_for(cat, get_profile("4102")), JsonStore(Path(sys.argv[1])))
i = 0
while True:
    i += 1
    cfg.set("Hoc.SystemName", f"burst-{i}")
    cfg.set("Cli.InactivityTimeOut", 1 + i % 90)
    print(i, flush=True)  # acknowledged: both writes returned
"""


def _config(path: Path) -> Config:
    cat = load_catalog()
    return Config(cat, factory_for(cat, get_profile("4102")), JsonStore(path))


def test_kill9_during_write_burst_loses_nothing_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    root = Path(__file__).resolve().parents[2]
    for round_ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        assert proc.stdout is not None
        last = 0
        deadline = time.monotonic() + 20
        target = 40 + 37 * round_
        while last < target and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            last = int(line)
        os.kill(proc.pid, signal.SIGKILL)  # lands at an arbitrary point of a write
        proc.wait()
        assert last >= target, "writer did not get going"
        cfg = _config(path)  # must load: never a torn file
        name = str(cfg.get("Hoc.SystemName"))
        n = int(name.split("-")[1])
        assert n >= last, f"acknowledged write burst-{last} lost (file has {name})"
        assert cfg.get("Cli.InactivityTimeOut") in (1 + last % 90, 1 + (last + 1) % 90)
        leftovers = [p for p in tmp_path.iterdir() if p.name != "config.json"]
        assert all(p.name.endswith(".tmp") for p in leftovers)


def test_store_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    cfg = _config(path)
    cfg.set("Aaa.Users[public].Password", "s3cret")
    assert (path.stat().st_mode & 0o777) == 0o600  # holds passwords
    again = _config(path)
    assert again.get("Aaa.Users[public].Password") == "s3cret"

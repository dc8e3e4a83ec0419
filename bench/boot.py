"""Boot benchmark: seconds from process start to ready for one unit, and seconds and resident
memory to bring up 100 units in one process. Prints `name value unit` lines.

    .venv/bin/python bench/boot.py [--units 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def boot(args: list[str], ready: Path, timeout: float = 120) -> tuple[float, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "run", "--ready-file", str(ready), "--log-level", "warning", *args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while not ready.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {proc.returncode}")
            if time.monotonic() - t0 > timeout:
                raise TimeoutError("not ready in time")
            time.sleep(0.005)
        elapsed = time.monotonic() - t0
        rss = _rss_mb(proc.pid)
        n = len(json.loads(ready.read_text())["units"])
        assert n >= 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return elapsed, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        one = []
        for i in range(a.runs):
            secs, rss = boot(["--state-dir", str(t / f"one{i}"), "--port-mode", "auto"], t / f"ready{i}.json")
            one.append(secs)
        print(f"boot_one_unit_ready {statistics.median(one):.3f} s")
        print(f"boot_one_unit_rss {rss:.1f} MB")
        lab = {"unit": [{"name": f"u{i:03d}", "profile": ("4102", "C740", "3621")[i % 3],
                         "host": f"127.0.{1 + i // 250}.{1 + i % 250}"} for i in range(a.units)]}
        (t / "lab.json").write_text(json.dumps(lab))
        secs, rss = boot(["--lab", str(t / "lab.json"), "--state-dir", str(t / "lab")], t / "ready-lab.json")
        print(f"boot_{a.units}_units_ready {secs:.3f} s")
        print(f"boot_{a.units}_units_rss {rss:.1f} MB")
        # Second start of the same lab: state already on disk (host keys, configuration).
        secs, rss = boot(["--lab", str(t / "lab.json"), "--state-dir", str(t / "lab")], t / "ready-lab2.json")
        print(f"boot_{a.units}_units_warm_ready {secs:.3f} s")


if __name__ == "__main__":
    main()

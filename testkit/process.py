"""Starting and stopping a peer's process: its output goes to a log file, readiness is a marker in that log,
and stopping is SIGTERM, then SIGKILL if it lingers — so a test never leaves a peer running."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["spawn", "stop_process", "wait_for_marker"]


def spawn(argv: Sequence[str], log: Path, *, cwd: Path | None = None, stdin: int | None = subprocess.DEVNULL,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr into ``log`` (the file handle is the child's alone)."""
    with log.open("wb") as out:
        return subprocess.Popen(list(argv), stdin=stdin, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)


def wait_for_marker(path: Path, marker: str, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Wait until ``marker`` is in the log; a peer that exits first, or never says it, is an error with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and marker in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited ({proc.returncode}): {path.read_text(errors='replace')}")
        time.sleep(0.01)
    raise TimeoutError(f"peer not ready: {path.read_text(errors='replace') if path.exists() else ''}")


def stop_process(proc: subprocess.Popen[bytes], *, terms: int = 1, grace: float = 5.0) -> None:
    """SIGTERM (``terms`` times, ``grace`` seconds each), then SIGKILL; stdin is closed if we held it."""
    for _ in range(terms):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
    if proc.stdin:
        proc.stdin.close()

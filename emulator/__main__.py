"""``dgw-emulator`` (and ``python -m emulator``): the command itself is :mod:`emulator.command`.

This module stays small so that a stop signal is honoured from the first milliseconds of a start: SIGTERM or
SIGINT received while the command's modules are still being imported ends the process with status 0, as a
stop later on does (the event loop takes the signals over once it runs, before any unit is built). It ends it
at once (``os._exit``): nothing runs yet that could need a clean stop, and an exception raised from a signal
handler can be swallowed by the import machinery (its module-lock callbacks ignore exceptions). A ready file
an earlier process left is removed here too, first, before the command's modules load.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
from types import FrameType

__all__ = ["main"]

T0 = time.monotonic()  # the process start, as near as Python sees it (start-up figures count from here)


def _stop_early(signum: int, frame: FrameType | None) -> None:
    os._exit(0)


def _remove_stale_ready_file(argv: list[str]) -> None:
    """``run --ready-file FILE``: a FILE left by an earlier process goes first, before anything is imported, so
    a reader waiting for this process's ready file never takes the old one for it (the new one is written
    atomically once the units are up)."""
    if not argv or argv[0] != "run":
        return
    path = None
    for i, arg in enumerate(argv):
        if arg == "--ready-file" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--ready-file="):
            path = arg.split("=", 1)[1]
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:  # a folder, no permission: the command's own checks report it
            print(f"dgw-emulator: cannot remove the old ready file {path}: {e.strerror or e}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_early)
    signal.signal(signal.SIGINT, _stop_early)
    _remove_stale_ready_file(sys.argv[1:] if argv is None else argv)
    gc.disable()  # imports only add objects: no collection walks them meanwhile (~5-10 % of their CPU)
    try:
        from emulator.command import run_command  # composition: imported once the stop signals are handled
    finally:
        gc.enable()

    return run_command(argv, started_at=T0)


if __name__ == "__main__":
    sys.exit(main())

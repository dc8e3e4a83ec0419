"""The container's health check: healthy once the ready file names a running process and every unit it lists
answers on its control API's port (a TCP connection). Standard library only; exit status 0 healthy, 1 not."""

from __future__ import annotations

import json
import os
import socket
import sys
from urllib.parse import urlsplit


def check(path: str) -> str | None:
    """None when healthy, else the reason."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return f"no ready file yet ({e})"
    pid = doc.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"the ready file names process {pid}, which is not running (a previous start's file)"
        except PermissionError:
            pass
    units = doc.get("units") or []
    if not units:
        return "the ready file lists no unit"
    for unit in units:
        api = urlsplit(unit.get("api", ""))
        if not api.hostname or not api.port:
            return f"unit {unit.get('name')!r} has no control API in the ready file"
        host = "127.0.0.1" if api.hostname == "0.0.0.0" else api.hostname
        try:
            socket.create_connection((host, api.port), timeout=3).close()
        except OSError as e:
            return f"unit {unit.get('name')!r}: control API {host}:{api.port} does not answer ({e})"
    return None


if __name__ == "__main__":
    reason = check(os.environ.get("DGW_READY_FILE", "/var/lib/dgw/ready.json"))
    if reason:
        print(reason)
    sys.exit(1 if reason else 0)

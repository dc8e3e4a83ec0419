"""Driving a `dgw-emulator run` process from a test: where the repository is, and one HTTP API call (basic auth as
the factory account; a refusal's JSON body is returned with its status)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["AUTH", "ROOT", "api"]

ROOT = Path(__file__).resolve().parents[2]
AUTH = "Basic " + base64.b64encode(b"public:").decode()


def api(unit: dict[str, str], method: str, path: str, body: Any = None, raw: bytes | None = None,
        ctype: str = "application/json") -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(unit["api"] + path, data=data, method=method,
                                 headers={"Authorization": AUTH, "Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            return r.status, json.loads(text) if r.headers.get_content_type() == "application/json" else text.decode()
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

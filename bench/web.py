"""Web interface benchmark: server-side time to answer each page (GET over a real socket, logged in),
p50 and p95 per page. Goal: p95 < 50 ms. Prints `name value unit` lines.

    .venv/bin/python bench/web.py [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.engines.aaa import Aaa
from emulator.engines.cert.engine import CertEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from web_ui.app import WebEngine
from web_ui.pages import PAGES

GOAL_MS = 50.0


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


async def main(runs: int) -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        unit = Unit(name="bench", profile=get_profile("4102"), state_dir=Path(tmp) / "u",
                    ports=PortPolicy(mode="auto"), fsync=False)
        unit.config.set("Web.HttpMode", "Unsecure")
        aaa = Aaa(unit)
        unit.attach(aaa)
        certs = CertEngine(unit, factory_dir=Path(tmp))
        unit.attach(certs)
        unit.attach(WebEngine(unit, aaa, certs))
        await unit.start()
        base = unit.listening["web"]
        worst = 0.0
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async with http.get(base + "/login") as r:
                    html = await r.text()
                token = html.split('name="token" value="', 1)[1].split('"', 1)[0]
                async with http.post(base + "/login", data={"token": token, "username": "public", "password": ""}):
                    pass
                for page in PAGES:
                    times: list[float] = []
                    for i in range(runs + 5):
                        t0 = time.perf_counter()
                        async with http.get(base + page.path, allow_redirects=False) as r:
                            await r.read()
                            assert r.status == 200, (page.path, r.status)
                        if i >= 5:  # warm-up (template compilation)
                            times.append((time.perf_counter() - t0) * 1000)
                    p50, p95 = statistics.median(times), _pct(times, 0.95)
                    worst = max(worst, p95)
                    key = page.title.replace("/", ".").replace(" ", "_")
                    print(f"web.{key}.p50 {p50:.2f} ms")
                    print(f"web.{key}.p95 {p95:.2f} ms")
        finally:
            await unit.stop()
    print(f"web.worst_p95 {worst:.2f} ms (goal < {GOAL_MS:.0f} ms: {'met' if worst < GOAL_MS else 'NOT met'})")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=200)
    sys.exit(asyncio.run(main(ap.parse_args().runs)))

"""CWMP benchmark: bootstrap sessions per second and memory for N units in one process informing a local ACS.

A minimal ACS (aiohttp, 127.0.0.1) answers each Inform with an InformResponse and the empty POST with 204. All
units start together; the figure is sessions completed / wall time from the first Inform to the last session end.
Then ``--rounds`` more rounds of one session per unit (connection-request style, all units at once). Prints
``name value unit`` lines.

    .venv/bin/python bench/cwmp.py [--units 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

import structlog
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator.faces.cwmp import CwmpEngine  # noqa: E402
from emulator.runtime.unit import PortPolicy, Unit  # noqa: E402
from firmware_model.profiles import get_profile  # noqa: E402

ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class MiniAcs:
    def __init__(self) -> None:
        self.sessions = 0
        self.first = 0.0
        self.last = 0.0
        self.done = asyncio.Event()
        self.target = 0

    async def post(self, request: web.Request) -> web.Response:
        data = await request.read()
        if b"Inform>" in data or b"Inform " in data:
            if not self.first:
                self.first = time.perf_counter()
            start = data.find(b">", data.find(b"cwmp:ID")) + 1
            msg_id = data[start:data.find(b"<", start)].decode()
            body = (f'<soap:Envelope xmlns:soap="{ENV}" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header>'
                    f'<cwmp:ID soap:mustUnderstand="1">{msg_id}</cwmp:ID></soap:Header><soap:Body>'
                    "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap:Body>"
                    "</soap:Envelope>")
            return web.Response(text=body, content_type="text/xml")
        self.sessions += 1
        self.last = time.perf_counter()
        if self.sessions >= self.target:
            self.done.set()
        return web.Response(status=204)


async def main(units: int, rounds: int) -> None:
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    acs = MiniAcs()
    app = web.Application()
    app.router.add_post("/acs", acs.post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)  # 200 units connect at once
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/acs"  # type: ignore[union-attr]
    rss0 = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        lab = []
        for i in range(units):
            u = Unit(name=f"u{i}", profile=get_profile("4102"), state_dir=Path(tmp) / f"u{i}",
                     ports=PortPolicy(mode="auto"), fsync=False)
            e = CwmpEngine(u, dhcp_acs_url=url, http_timeout=30.0)
            u.attach(e)
            lab.append((u, e))
        build = time.perf_counter() - t0
        rss_built = rss_mb()
        acs.target = units
        await asyncio.gather(*(u.start() for u, _ in lab))
        await asyncio.wait_for(acs.done.wait(), 300)
        boot_rate = units / (acs.last - acs.first)
        failed = sum(e.sessions_failed for _, e in lab)
        rss_after = rss_mb()
        rates = []
        for _ in range(rounds):
            acs.done.clear()
            acs.target = acs.sessions + units
            acs.first = 0.0
            t = time.perf_counter()
            results = await asyncio.gather(*(e.run_session(url) for _, e in lab))
            rates.append(units / (time.perf_counter() - t))
            failed += results.count(False)
        await asyncio.gather(*(u.stop() for u, _ in lab))
    await runner.cleanup()
    print(f"cwmp_units {units} units")
    print(f"cwmp_unit_build {build / units * 1000:.2f} ms/unit")
    print(f"cwmp_bootstrap_sessions {boot_rate:.0f} sessions/s")
    if rates:
        print(f"cwmp_sessions_steady {sum(rates) / len(rates):.0f} sessions/s")
    print(f"cwmp_failed_sessions {failed} sessions")
    print(f"cwmp_rss_units {rss_built - rss0:.1f} MB")
    print(f"cwmp_rss_per_unit {(rss_after - rss0) / units * 1024:.0f} KB/unit")
    print(f"cwmp_rss_total {rss_after:.1f} MB")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(a.units, a.rounds))

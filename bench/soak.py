"""Soak (issue 14): a lab running for a long time with everything moving, run by hand. Prints ``name value unit``
lines, and a progress line a minute.

    .venv/bin/python bench/soak.py [--units 100] [--minutes 60] [--calls 10] [--call-seconds 5]
                                   [--change-every 3] [--inform-every 30] [--workers 2] [--keep DIR]

The units register over TLS to a Kamailio (their registrations refreshed every 60 s), ``--calls`` calls at
a time start and end between random pairs of units (answered, held ``--call-seconds``, hung up), every unit
informs a local ACS every ``--inform-every`` seconds (TR-069 periodic Informs) and a unit's configuration
changes every ``--change-every`` seconds (through its API). The lab says everything (no setup over the API).

Printed at the end: the resident memory of the process tree after 10 minutes and at the end (the goal: the
end within 5 % of minute 10), error lines in the emulator's log, calls that failed, registrations that were
not Registered when sampled, failed TR-069 sessions, and the counts of calls, Informs and changes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from fleet import Acs, Run, bench_env, numbered_units, scrape, tls_registration, tree_rss_mb  # noqa: E402

from testkit.kamailio import start_kamailio  # noqa: E402
from testkit.pki import Pki  # noqa: E402

AUTH = {"Authorization": aiohttp.encode_basic_auth("public", "")}
CWMP_FAILED = 'dgw_cwmp_sessions_total{outcome="failed"}'


def soak_lab(n: int, ca: Path, registrar: str, acs_url: str, inform_every: int) -> dict[str, Any]:
    settings: dict[str, Any] = {
        **tls_registration(registrar, acs_url),
        "SipEp.DefaultRegistrationExpirationValue": 60,
        "Cwmp.PeriodicInformEnable": "Enable", "Cwmp.PeriodicInformInterval": inform_every,
    }
    return {"defaults": {"assume_time_synchronized": True, "other_certificates": [str(ca)], "settings": settings},
            "unit": numbered_units(n, "s", 3)}


class Driver:
    def __init__(self, units: list[dict[str, Any]], session: aiohttp.ClientSession) -> None:
        self.units = units
        self.session = session
        self.busy: set[str] = set()
        self.calls_ok = 0
        self.calls_failed: list[str] = []
        self.changes = 0
        self.changes_failed = 0

    async def api(self, unit: dict[str, Any], method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, unit["api"] + "/api/v1" + path, json=body, headers=AUTH) as r:
            return r.status, await r.json(content_type=None)

    async def call(self, seconds: float) -> None:
        idle = [u for u in self.units if u["name"] not in self.busy]
        a, b = random.sample(idle, 2)
        self.busy |= {a["name"], b["name"]}
        try:
            status, body = await self.api(a, "POST", "/endpoints/Phone-Fax1/dial", {"number": b["name"]})
            if status != 200:
                raise RuntimeError(f"dial {status} {body}")
            for _ in range(100):  # ringing at the callee
                status, _ = await self.api(b, "POST", "/endpoints/Phone-Fax1/answer")
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("never rang")
            await asyncio.sleep(seconds)
            _, calls = await self.api(a, "GET", "/calls")
            if not any(c["state"] == "connected" for c in calls["calls"]):
                raise RuntimeError(f"not connected: {[c['state'] for c in calls['calls']][-3:]}")
            status, body = await self.api(a, "POST", "/endpoints/Phone-Fax1/hangup")
            if status not in (200, 202):
                raise RuntimeError(f"hangup {status} {body}")
            await asyncio.sleep(0.5)
            self.calls_ok += 1
        except Exception as e:
            self.calls_failed.append(f"{a['name']}->{b['name']}: {e}")
            for u in (a, b):
                await self.api(u, "POST", "/endpoints/Phone-Fax1/hangup")
        finally:
            self.busy -= {a["name"], b["name"]}

    async def calls(self, concurrent: int, seconds: float, until: float) -> None:
        async def lane() -> None:
            while time.monotonic() < until:
                await self.call(seconds)

        await asyncio.gather(*(lane() for _ in range(concurrent)))

    async def changes_loop(self, every: float, until: float) -> None:
        while time.monotonic() < until:
            unit = random.choice(self.units)
            status, _ = await self.api(unit, "PUT", "/parameters/Hoc.SystemName", {"value": f"soak-{self.changes}"})
            self.changes += 1
            self.changes_failed += status != 200
            await asyncio.sleep(every)


async def soak(a: argparse.Namespace, tmp: Path) -> None:
    pki = Pki("rsa")
    ca = pki.ca("Soak CA")
    (tmp / "ca.pem").write_bytes(ca.pem())
    crt, key = pki.leaf(ca, "127.0.0.1").write(tmp / "pki", "proxy")
    users = {f"s{i:03d}": f"pw{i:03d}" for i in range(a.units)}
    kamailio = start_kamailio(tmp / "kamailio", crt, key, users, tls_only=True, debug=1)
    acs = Acs()
    lab = tmp / "soak.json"
    lab.write_text(json.dumps(soak_lab(a.units, tmp / "ca.pem", kamailio.tls_address, acs.url, a.inform_every)))
    run = Run(["--lab", str(lab), "--state-dir", str(tmp / "state"), "--workers", str(a.workers),
               "--port-mode", "auto", "--metrics-port", "0"], tmp / "soak-ready.json", bench_env(None))
    try:
        urls = [w["metrics"] for w in run.doc()["workers"]]
        units = run.doc()["units"]
        start = time.monotonic()
        until = start + a.minutes * 60
        samples: list[tuple[float, float]] = []
        unregistered = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            driver = Driver(units, session)
            await asyncio.sleep(10)  # registrations
            work = asyncio.gather(driver.calls(a.calls, a.call_seconds, until),
                                  driver.changes_loop(a.change_every, until))
            while time.monotonic() < until:
                await asyncio.sleep(min(60.0, max(0.0, until - time.monotonic())))
                m: dict[str, float] = {}
                for url in urls:
                    for k, v in (await asyncio.to_thread(scrape, url)).items():
                        m[k] = m.get(k, 0.0) + v
                rss = tree_rss_mb(run.proc.pid)
                minute = (time.monotonic() - start) / 60
                samples.append((minute, rss))
                registered = m.get('dgw_registrations{state="Registered"}', 0)
                unregistered += int(a.units - registered)
                print(f"# {minute:5.1f} min rss {rss:.0f} MB registered {registered:.0f} calls "
                      f"{driver.calls_ok} ok {len(driver.calls_failed)} failed, informs {acs.informs}, "
                      f"cwmp failed {m.get(CWMP_FAILED, 0):.0f}, "
                      f"changes {driver.changes}", flush=True)
            await work
        at10 = next((rss for minute, rss in samples if minute >= 10), samples[0][1] if samples else 0.0)
        end = samples[-1][1] if samples else 0.0
        errors = [line for line in run.ready.with_suffix(".log").read_text().splitlines() if '"level": "error"' in line]
        print(f"soak_{a.units}_units_minutes {a.minutes}")
        print(f"soak_rss_minute_10 {at10:.0f} MB")
        print(f"soak_rss_end {end:.0f} MB ({100 * (end - at10) / at10 if at10 else 0:+.1f} %)")
        print(f"soak_error_lines {len(errors)}")
        print(f"soak_calls {driver.calls_ok} ok, {len(driver.calls_failed)} failed")
        print(f"soak_registrations_not_registered_when_sampled {unregistered}")
        print(f"soak_informs {acs.informs}")
        print(f"soak_cwmp_sessions_failed {m.get(CWMP_FAILED, 0):.0f}")
        print(f"soak_configuration_changes {driver.changes} ({driver.changes_failed} refused)")
        for line in (errors[:5] + driver.calls_failed[:5]):
            print("#", line[:300])
    finally:
        run.stop()
        kamailio.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--calls", type=int, default=10, help="calls at a time")
    ap.add_argument("--call-seconds", type=float, default=5)
    ap.add_argument("--change-every", type=float, default=3)
    ap.add_argument("--inform-every", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (logs)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) if a.keep is None else a.keep
        tmp.mkdir(parents=True, exist_ok=True)
        asyncio.run(soak(a, tmp))


if __name__ == "__main__":
    main()

"""Fleet benchmark (issue 14): how fast units become ready, what they weigh, and how fast a fleet registers and
informs. Prints ``name value unit`` lines.

    .venv/bin/python bench/fleet.py [--units 1000] [--workers 1,2] [--runs 5] [--kamailios 4]
                                    [--skip-boot] [--skip-register] [--metrics]

1. One unit, process start -> ready file, state on disk, bytecode cached (median of ``--runs``), and until the
   faces that come up after the ready file (SSH, listed under ``coming_up`` meanwhile) serve too.
2. ``--units`` units for each ``--workers`` value: first boot (no state: host keys made), cold (state on
   disk, no Python bytecode cached: every module compiled, as after an upgrade) and warm (state and bytecode
   cached): seconds from process start to the ready file, the CPU seconds the process tree used by then (a
   figure a machine shared with other jobs stretches much less than the wall time), and the resident memory
   of the whole process tree (supervisor and workers) at that moment. ``--metrics``: the seconds one scrape
   of every worker's Prometheus endpoint takes, once warm.
3. Register and inform: ``--units`` units register over TLS to ``--kamailios`` Kamailio processes found
   through DNS SRV (dnsmasq: ``_sips._tcp`` records of equal priority and weight, so each unit picks one as
   RFC 2782 says; Debian's Kamailio 5.6.3 crashes in its TLS module when hundreds of handshakes reach one
   process at once) and complete a TR-069 BOOTSTRAP Inform with a local ACS. The lab alone says everything
   (the proxies' CA, the DNS server, each unit's SIP user): no API call. The figure is the seconds from the
   measured process start until the last unit is registered (read from the workers' metrics) and the last
   BOOTSTRAP Inform answered (and when half, and 99 %, were), and the failures left after 120 s. The lab
   sets ``SipEp.DefaultRegistrationRetryTime`` to 10 s: a registration whose DNS query was lost retries
   sooner. The lab's first start (host keys made) runs while the proxies are down and the ACS answers 503,
   so the BOOTSTRAP event waits in each unit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testkit.dnsmasq import Dnsmasq, start_dnsmasq  # noqa: E402
from testkit.kamailio import Kamailio, start_kamailio  # noqa: E402
from testkit.peers import free_port  # noqa: E402
from testkit.pki import Pki  # noqa: E402

LOG_LEVEL = ["--log-level", "warning"]  # --log-level: every unit's events in the log beside the ready file (--keep)
DOMAIN = "fleet.test"
DNS_HOST = "127.0.0.61"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"


# ---------------------------------------------------------------------------------------------- processes
def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the supervisor and its workers)."""
    pids = [pid] + [int(p) for p in subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)],
                                                    capture_output=True, text=True).stdout.split()]
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its children have used: the work of a start, which a
    machine shared with other jobs stretches in wall time but not much in CPU time."""
    pids = [pid] + [int(p) for p in subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)],
                                                    capture_output=True, text=True).stdout.split()]
    ticks = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


class Run:
    """One ``dgw-emulator run``; ``ready_s`` from its start to the ready file, ``cpu_s`` used by then."""

    def __init__(self, args: list[str], ready: Path, env: dict[str, str], timeout: float = 300) -> None:
        ready.unlink(missing_ok=True)
        self.ready = ready
        t0 = time.monotonic()
        with open(ready.with_suffix(".log"), "ab") as log:  # beside the ready file
            self.proc = subprocess.Popen([sys.executable, "-m", "emulator", "run", "--ready-file", str(ready),
                                          *LOG_LEVEL, "--log-format", "json", *args],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.t0 = t0
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"dgw-emulator exited with {self.proc.returncode}")
            if time.monotonic() - t0 > timeout:
                self.stop()
                raise TimeoutError("not ready in time")
            time.sleep(0.002)
        self.ready_s = time.monotonic() - t0
        self.cpu_s = tree_cpu_s(self.proc.pid)
        self.rss_mb = tree_rss_mb(self.proc.pid)

    def served_s(self, timeout: float = 60) -> float:
        """Seconds from the start until no unit lists a face under ``coming_up`` (every face serving)."""
        while time.monotonic() - self.t0 < timeout:
            try:
                if not any(u.get("coming_up") for u in self.doc()["units"]):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.002)
        return time.monotonic() - self.t0

    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.ready.read_text())
        return doc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=90)


def bench_env(pycache: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if pycache is not None:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return {k: float(v) for k, v in (line.rsplit(" ", 1) for line in text.splitlines() if line[:1] not in ("#", ""))}


def total(urls: list[str], key: str) -> float:
    return sum(scrape(u).get(key, 0.0) for u in urls)


def totals(urls: list[str]) -> dict[str, float]:
    """Every sample of every endpoint, summed (one scrape each)."""
    out: dict[str, float] = {}
    for u in urls:
        for k, v in scrape(u).items():
            out[k] = out.get(k, 0.0) + v
    return out


# ---------------------------------------------------------------------------------------------- 1 and 2: boot
def boot_lab(n: int) -> dict[str, Any]:
    return {"unit": [{"name": f"u{i:04d}", "profile": ("4102", "C740", "3621")[i % 3],
                      "host": f"127.0.{1 + i // 250}.{1 + i % 250}"} for i in range(n)]}


def one_unit(tmp: Path, runs: int, warm: Path) -> None:
    times, cpu, served = [], [], []
    for i in range(runs + 1):  # the first run makes the unit's state
        r = Run(["--state-dir", str(tmp / "one"), "--port-mode", "auto"], tmp / "one.json", bench_env(warm))
        all_served = r.served_s()
        r.stop()
        if i:
            times.append(r.ready_s)
            cpu.append(r.cpu_s)
            served.append(all_served)
    print(f"fleet_one_unit_ready {statistics.median(times):.3f} s (load {os.getloadavg()[0]:.1f})")
    print(f"fleet_one_unit_ready_min {min(times):.3f} s")
    print(f"fleet_one_unit_ready_cpu {statistics.median(cpu):.2f} s")
    print(f"fleet_one_unit_every_face_served {statistics.median(served):.3f} s (no face left in coming_up)")


def boots(tmp: Path, units: int, workers: list[int], warm: Path, metrics: bool,
          kinds: tuple[str, ...] = ("first_boot", "cold", "warm")) -> None:
    lab = tmp / "boot.json"
    lab.write_text(json.dumps(boot_lab(units)))
    for w in workers:
        state = tmp / f"boot-w{w}"
        common = ["--lab", str(lab), "--state-dir", str(state), "--workers", str(w)]
        for kind in kinds:
            cache = tmp / f"pycache-cold-{w}" if kind == "cold" else warm
            extra = ["--metrics-port", "0"] if metrics and kind == "warm" else []
            r = Run(common + extra, tmp / "boot-ready.json", bench_env(cache))
            try:
                print(f"fleet_{units}_units_w{w}_{kind}_ready {r.ready_s:.2f} s")
                print(f"fleet_{units}_units_w{w}_{kind}_cpu {r.cpu_s:.1f} s (load {os.getloadavg()[0]:.1f})")
                print(f"fleet_{units}_units_w{w}_{kind}_rss {r.rss_mb:.0f} MB")
                if extra:
                    urls = [x["metrics"] for x in r.doc()["workers"]]
                    t = time.monotonic()
                    n = total(urls, 'dgw_services{state="Started"}')
                    print(f"fleet_{units}_units_w{w}_metrics_scrape {time.monotonic() - t:.3f} s "
                          f"({len(urls)} endpoints, {n:.0f} services started)")
            finally:
                r.stop()
            if kind == "cold":
                shutil.rmtree(cache, ignore_errors=True)  # the next cold start compiles again
        shutil.rmtree(state, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- 3: register
class Acs:
    """A TR-069 ACS that answers every Inform and counts the units whose BOOTSTRAP Inform it answered."""

    SERIAL = re.compile(rb"<SerialNumber>([^<]*)</SerialNumber>")

    def __init__(self) -> None:
        self.refuse = False  # answer 503 (the BOOTSTRAP Inform stays queued in the unit)
        self.bootstrapped: set[bytes] = set()
        self.informs = 0
        self.last = 0.0
        self.url = ""
        self._ready = threading.Event()
        threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True).start()
        self._ready.wait(10)

    async def _serve(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/acs", self._post)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/acs"
        self._ready.set()
        await asyncio.Event().wait()

    async def _post(self, request: web.Request) -> web.Response:
        data = await request.read()
        if self.refuse:
            return web.Response(status=503)
        if b"Inform>" not in data and b"Inform " not in data:
            return web.Response(status=204)
        self.informs += 1
        start = data.find(b">", data.find(b"cwmp:ID")) + 1
        msg_id = data[start:data.find(b"<", start)].decode(errors="replace")
        serial = self.SERIAL.search(data)
        if b"0 BOOTSTRAP" in data and serial:
            self.bootstrapped.add(serial.group(1))
            self.last = time.monotonic()
        body = (f'<soap:Envelope xmlns:soap="{ENV}" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header>'
                f'<cwmp:ID soap:mustUnderstand="1">{msg_id}</cwmp:ID></soap:Header><soap:Body><cwmp:InformResponse>'
                "<MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap:Body></soap:Envelope>")
        return web.Response(text=body, content_type="text/xml")


def tls_registration(registrar: str, acs_url: str) -> dict[str, Any]:
    """Settings of a unit whose Phone-Fax1 user agent registers over TLS with ``registrar`` and which informs the
    ACS at ``acs_url``."""
    return {
        "SipEp.TransportConfig[default].TlsEnable": "Enable",
        "SipEp.DefaultStaticRegistrarServerHost": registrar, "SipEp.DefaultStaticProxyHomeDomainHost": registrar,
        "SipEp.UserAgent[Phone-Fax1].Register": "Enable",
        "Cwmp.AcsUrlConfigSource": "Static", "Cwmp.AcsStaticUrl": acs_url,
    }


def numbered_units(n: int, prefix: str, digits: int) -> list[dict[str, Any]]:
    """``n`` units on 127.0.x.y, unit i named and registering as ``<prefix><i>`` (``digits`` wide), password
    ``pw<i>``."""
    units = []
    for i in range(n):
        number = f"{i:0{digits}d}"
        name = prefix + number
        units.append({"name": name, "host": f"127.0.{1 + i // 250}.{1 + i % 250}", "settings": {
            "SipEp.UserAgent[Phone-Fax1].Username": name,
            "SipEp.Authentication.Username[Index=1]": name, "SipEp.Authentication[1].Password": f"pw{number}",
        }})
    return units


def register_lab(n: int, ca: Path, dns: Dnsmasq, acs_url: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        **tls_registration(DOMAIN, acs_url),
        # a registration whose DNS query was lost in the start's burst (dnsmasq drops some of a thousand
        # simultaneous queries; the unit does not retransmit) tries again after 10 s, not the factory 120 s
        "SipEp.DefaultRegistrationRetryTime": 10,
        "Hoc.DnsServersConfigSource": "Static", "Hoc.StaticDnsServers[1].IpAddress": DNS_HOST,
    }
    return {"defaults": {"assume_time_synchronized": True, "other_certificates": [str(ca)],
                         "dns_port": dns.port, "settings": settings}, "unit": numbered_units(n, "r", 4)}


def wait(predicate: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def register_and_inform(tmp: Path, n: int, workers: int, kamailios: int) -> None:
    pki = Pki("rsa")
    ca = pki.ca("Fleet proxies CA")
    (tmp / "ca.pem").write_bytes(ca.pem())
    names = [f"k{k}.{DOMAIN}" for k in range(kamailios)]
    crt, key = pki.leaf(ca, DOMAIN, dns=(DOMAIN, *names), ips=("127.0.0.1",)).write(tmp / "pki", "proxy")
    users = {f"r{i:04d}": f"pw{i:04d}" for i in range(n)}
    ports = [free_port("127.0.0.1") for _ in range(kamailios)]
    records = [f"--srv-host=_sips._tcp.{DOMAIN},{name},{port},10,10" for name, port in zip(names, ports, strict=True)]
    records += [f"--host-record={name},127.0.0.1" for name in names]
    dns = start_dnsmasq(tmp / "dns", records, host=DNS_HOST, domain=DOMAIN, log_queries=False)
    acs = Acs()
    procs: list[Kamailio] = []
    try:
        lab = tmp / "register.json"
        lab.write_text(json.dumps(register_lab(n, tmp / "ca.pem", dns, acs.url)))
        args = ["--lab", str(lab), "--state-dir", str(tmp / "register-state"), "--workers", str(workers),
                "--port-mode", "auto", "--metrics-port", "0"]
        # The units' state first (host keys made), while the proxies are down and the ACS answers 503: the
        # BOOTSTRAP Inform stays queued in each unit, as after a first boot on a network not yet ready.
        acs.refuse = True
        Run(args, tmp / "register-ready.json", bench_env(None)).stop()
        acs.refuse = False
        procs = [start_kamailio(tmp / f"kamailio{k}", crt, key, users, tls_only=True, debug=1, tls_port=port)
                 for k, port in enumerate(ports)]
        r = Run(args, tmp / "register-ready.json", bench_env(None))
        try:
            urls = [x["metrics"] for x in r.doc()["workers"]]
            marks: dict[str, float] = {}
            timeline: list[str] = []  # where the seconds go: registrations by state, Informs, SipEp notices

            def progress() -> bool:
                sample = totals(urls)
                registered = sample.get('dgw_registrations{state="Registered"}', 0.0)
                states = {k.split('"')[1]: int(v) for k, v in sample.items()
                          if k.startswith("dgw_registrations{") and v}
                notices = int(sum(v for k, v in sample.items()
                                  if k.startswith("dgw_notifications_total{") and 'service="SipEp"' in k))
                line = f"{states} informed {len(acs.bootstrapped)} SipEp notifications {notices}"
                if not timeline or timeline[-1].split(": ", 1)[1] != line:
                    timeline.append(f"{time.monotonic() - r.t0:5.1f} s: {line}")
                both = min(registered, len(acs.bootstrapped))
                for what, count in (("", both), ("registered ", registered), ("informed ", len(acs.bootstrapped))):
                    for label, share in (("half", 0.5), ("99%", 0.99)):
                        if count >= share * n and what + label not in marks:
                            marks[what + label] = time.monotonic() - r.t0
                return both >= n

            ok = wait(progress, 120, every=0.5)
            done = time.monotonic() - r.t0
            registered = int(total(urls, 'dgw_registrations{state="Registered"}'))
            missing = n - min(n, registered), n - len(acs.bootstrapped)
            print(f"fleet_{n}_units_w{workers}_register_run_ready {r.ready_s:.2f} s ({r.cpu_s:.1f} s of CPU by then)")
            print(f"fleet_{n}_units_w{workers}_registered_tls_and_bootstrap_informed {done:.2f} s"
                  f"{'' if ok else ' (timed out)'} ({kamailios} Kamailio processes behind DNS SRV; half at "
                  f"{marks.get('half', float('nan')):.1f} s, 99 % at {marks.get('99%', float('nan')):.1f} s)")
            at = {k: f"{v:.1f} s" for k, v in marks.items()}
            print(f"# registered: half at {at.get('registered half')}, 99 % at {at.get('registered 99%')}; "
                  f"BOOTSTRAP informed: half at {at.get('informed half')}, 99 % at {at.get('informed 99%')}")
            print(f"fleet_{n}_units_w{workers}_failures {sum(missing)} ({missing[0]} not registered, "
                  f"{missing[1]} without BOOTSTRAP Inform; {acs.informs} Informs answered)")
            print(f"# load average at the end: {os.getloadavg()[0]:.1f}; timeline (registrations by state, "
                  "BOOTSTRAP Informs answered, SipEp notifications raised):")
            step = max(1, len(timeline) // 40)  # at most ~40 lines
            for line in [*timeline[:-1:step], timeline[-1]] if timeline else []:
                print(f"#   {line}")
        finally:
            r.stop()
    finally:
        for k in procs:
            k.stop()
        dns.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=1000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kamailios", type=int, default=4)
    ap.add_argument("--skip-boot", action="store_true")
    ap.add_argument("--skip-register", action="store_true")
    ap.add_argument("--metrics", action="store_true")
    ap.add_argument("--boot-kinds", default="first_boot,cold,warm",
                    help="which starts of part 2 (first_boot makes the state the others need)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (logs of Kamailio and dnsmasq)")
    ap.add_argument("--log-level", default="warning", help="the emulator's (debug: every unit's events; see --keep)")
    a = ap.parse_args()
    LOG_LEVEL[1] = a.log_level
    workers = [int(w) for w in a.workers.split(",")]
    print(f"# load average before: {os.getloadavg()[0]:.2f}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) if a.keep is None else a.keep
        tmp.mkdir(parents=True, exist_ok=True)
        warm = tmp / "pycache-warm"
        subprocess.run([sys.executable, "-c", "import emulator.lab, emulator.fleet.supervisor, emulator.faces.metrics"],
                       cwd=ROOT, env=bench_env(warm), check=True)
        if not a.skip_boot:
            one_unit(tmp, a.runs, warm)
            boots(tmp, a.units, workers, warm, a.metrics, tuple(a.boot_kinds.split(",")))
        if not a.skip_register:
            register_and_inform(tmp, a.units, max(workers), a.kamailios)


if __name__ == "__main__":
    main()

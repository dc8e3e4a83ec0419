"""Call attempts per second through the call router (CRout) between two units, beside a SIPp pair in the same run.

Two units (127.0.0.2 calling, 127.0.0.3 called), each a 4102 with ``--lines`` FXS lines (a bench profile: the
4102's with more lines), SIP over UDP, plain audio (SDP only: no media flows). Every call goes through both
routers: the calling unit's auto-routes send each line's calls to its SIP gateway with signaling properties
whose DestinationHost is the called unit (no proxy between them); the called unit's auto-routes (criteria
E164) ring the line whose number was dialled, which answers at once. Each calling line loops: dial, wait for
the answer, hang up (BYE), wait for the 200: setup + answer + BYE. The figure is completed calls per second
over ``--seconds``, all lines at once.

The peer measured in the same run: SIPp (Debian ``sip-tester``) as UAS and UAC on UDP over loopback, its
built-in scenarios (INVITE, 180, 200, ACK, BYE, 200, no pause), at most ``--lines`` calls at once, its offered rate
doubled step by step while every call completes (its best completed rate is the figure). Prints ``name value unit``
lines, and the ratio (goal ≥ 0.5).

Our calls are measured twice: both units in this process, then each unit in a worker process of its own (forked
from this one, as a two-worker lab puts units in two processes: each unit has a core, as each SIPp process has).
Beside the wall rate, the CPU seconds each process spent over the calls: a figure a shared machine disturbs less.

    .venv/bin/python bench/calls.py [--lines 100] [--seconds 10] [--sipp-seconds 3] [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import multiprocessing
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator.engines.crout.engine import CRoutEngine  # noqa: E402
from emulator.engines.nlm import NlmEngine  # noqa: E402
from emulator.engines.sipep.call import Call  # noqa: E402
from emulator.engines.sipep.call_state import CallState  # noqa: E402
from emulator.engines.sipep.engine import SipEpEngine  # noqa: E402
from emulator.fleet.run import serving_gc  # noqa: E402
from emulator.runtime.unit import PortPolicy, Unit  # noqa: E402
from firmware_model.profiles import get_profile  # noqa: E402
from testkit.peers import free_port  # noqa: E402


def bench_unit(work: Path, name: str, host: str, lines: int, first_number: int) -> tuple[Unit, SipEpEngine]:
    profile = dataclasses.replace(get_profile("4102"), key=f"4102x{lines}",
                                  endpoints=tuple(f"Phone-Fax{i}" for i in range(1, lines + 1)))
    profile = dataclasses.replace(profile, ports=profile.endpoints)
    unit = Unit(name=name, profile=profile, state_dir=work / name, host=host, ports=PortPolicy(mode="auto"),
                fsync=False)
    nlm = NlmEngine(unit)
    unit.attach(nlm)
    unit.nlm = nlm
    sip = SipEpEngine(unit)
    unit.attach(sip)
    unit.attach(CRoutEngine(unit, sip.calls))
    c = unit.config
    c.set("CRout.AutoRoutingCriteriaType", "E164")
    with c.batch():
        for i, ep in enumerate(profile.endpoints):
            c.set(f"SipEp.UserAgent[{ep}].Username", str(first_number + i))
    return unit, sip


def _answer_at_once(cb: SipEpEngine) -> None:
    """The called unit's lines pick up as soon as they ring."""
    def answer(call: Call) -> None:
        if call.direction == "incoming" and call.state is CallState.RINGING:
            cb.ua.spawn(cb.calls.answer(call.endpoint))

    cb.calls.listeners.append(answer)


def _route_to(caller: Unit, destination: str) -> None:
    """The calling unit's auto-routes send every call to ``destination`` (the called unit's SIP address)."""
    c = caller.config
    c.add_row("CRout.SignalingProperties", {"Name": "to-b", "DestinationHost": destination})
    c.set("CRout.AutoRoutingOutgoingSignalingProperties", "to-b")
    caller.commands["CRout.ApplyConfig"]()


async def _call_loop(ca: SipEpEngine, lines: int, seconds: float) -> tuple[int, int, float, float]:
    """Every line of the calling unit dials, waits for the answer, hangs up and waits for the BYE's 200, again
    until ``seconds`` are over: (completed, failed, wall seconds, CPU seconds of this process)."""
    settled: dict[int, asyncio.Event] = {}  # caller's call id -> set once answered or ended

    def on_caller(call: Call) -> None:
        if call.state in (CallState.CONNECTED, CallState.ENDED) and call.id in settled:
            settled[call.id].set()

    ca.calls.listeners.append(on_caller)
    # as a lab does once ready (fleet/run.py): what the start made stays out of later collections, and the young
    # generation is collected every 7,000 allocations instead of 700 (half the collector's CPU per call)
    serving_gc()
    done = failed = 0
    loop = asyncio.get_running_loop()
    stop = loop.time() + seconds

    async def line(i: int) -> None:
        nonlocal done, failed
        ep = f"Phone-Fax{i + 1}"
        while loop.time() < stop:
            call = await ca.calls.dial(ep, str(2000 + i))
            event = settled[call.id] = asyncio.Event()
            if call.state not in (CallState.CONNECTED, CallState.ENDED):
                await event.wait()
            del settled[call.id]
            if call.state is CallState.ENDED:
                failed += 1
                continue
            await ca.calls.hangup(ep)  # the BYE, and its 200 awaited
            done += 1

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(line(i) for i in range(lines)))
    return done, failed, time.perf_counter() - t0, time.process_time() - cpu0


async def our_rate(lines: int, seconds: float, work: Path) -> tuple[float, int, int, float]:
    """(completed calls per second, completed, failed, CPU seconds of the calls) between two units through their
    routers, both in this process."""
    caller, ca = bench_unit(work, "a", "127.0.0.2", lines, 1000)
    called, cb = bench_unit(work, "b", "127.0.0.3", lines, 2000)
    try:
        await called.start()
        await caller.start()
        _route_to(caller, called.listening["sip"])
        _answer_at_once(cb)
        done, failed, elapsed, cpu = await _call_loop(ca, lines, seconds)
        return done / elapsed, done, failed, cpu
    finally:
        await caller.stop()
        await called.stop()


# -- two worker processes: each unit has a core, as each SIPp process has ------------------------------------------
def _called_worker(conn: Connection, lines: int, work: Path) -> None:
    """The called unit in its own process: says where it listens, then its CPU seconds between "go" and "stop"."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    async def run() -> None:
        called, cb = bench_unit(work, "b", "127.0.0.3", lines, 2000)
        await called.start()
        try:
            _answer_at_once(cb)
            serving_gc()  # as _call_loop does on the calling side
            loop = asyncio.get_running_loop()
            conn.send(("ready", called.listening["sip"]))
            assert await loop.run_in_executor(None, conn.recv) == "go"
            cpu0 = time.process_time()
            assert await loop.run_in_executor(None, conn.recv) == "stop"
            conn.send(("cpu", time.process_time() - cpu0))
        finally:
            await called.stop()

    asyncio.run(run())


def _caller_worker(conn: Connection, lines: int, seconds: float, work: Path, destination: str) -> None:
    """The calling unit in its own process: after "go", the call loop; sends (completed, failed, wall, CPU)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    async def run() -> None:
        caller, ca = bench_unit(work, "a", "127.0.0.2", lines, 1000)
        await caller.start()
        try:
            _route_to(caller, destination)
            loop = asyncio.get_running_loop()
            conn.send(("ready", ""))
            assert await loop.run_in_executor(None, conn.recv) == "go"
            conn.send(("result", await _call_loop(ca, lines, seconds)))
        finally:
            await caller.stop()

    asyncio.run(run())


def two_workers_rate(lines: int, seconds: float, work: Path) -> tuple[float, int, int, float, float]:
    """The same calls with each unit in a worker process of its own: (completed calls per second, completed,
    failed, CPU seconds of the calling unit's process, of the called unit's) over the calls."""
    ctx = multiprocessing.get_context("fork")  # nothing runs yet in this process: no loop, no thread
    called_end, called_conn = ctx.Pipe()
    caller_end, caller_conn = ctx.Pipe()
    called = ctx.Process(target=_called_worker, args=(called_conn, lines, work), daemon=True)
    called.start()
    try:
        kind, destination = called_end.recv()
        caller = ctx.Process(target=_caller_worker, args=(caller_conn, lines, seconds, work, destination), daemon=True)
        caller.start()
        try:
            assert kind == "ready" and caller_end.recv()[0] == "ready"
            called_end.send("go")
            caller_end.send("go")
            _, (done, failed, elapsed, caller_cpu) = caller_end.recv()
            called_end.send("stop")
            _, called_cpu = called_end.recv()
        finally:
            caller.join(30)
    finally:
        called.join(30)
    return done / elapsed, done, failed, caller_cpu, called_cpu


def _sipp_counts(screen: str) -> tuple[int, int]:
    """(successful, failed) calls in a SIPp UAC's final statistics screen (the cumulative column)."""
    ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    failed = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return (int(ok[-1]) if ok else 0), (int(failed[-1]) if failed else 0)


def sipp_rate(lines: int, seconds: float, work: Path) -> tuple[float, int, float]:
    """The best completed calls per second of a SIPp UAC against a SIPp UAS (UDP, loopback): the offered rate
    doubles from 250 calls/s while the calls of a step complete (at most 1 % lost: on a machine shared with other
    work a busy moment loses a few, which stopped the steps too early), each step ``seconds`` long; (rate,
    offered rate of that step, calls per CPU second of both SIPp processes over every step)."""
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (Debian package sip-tester; make peers installs it)")
    port = free_port("127.0.0.5", 2)  # SOCK_DGRAM
    log = work / "sipp-uas.log"
    with log.open("wb") as out:
        uas = subprocess.Popen([sipp, "-sn", "uas", "-i", "127.0.0.5", "-p", str(port), "-nostdin"],
                               stdout=out, stderr=subprocess.STDOUT, cwd=work)
    best, offered, rate, total = 0.0, 0, 250, 0
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        time.sleep(0.5)
        while rate <= 64000:
            calls = int(rate * seconds)
            t0 = time.perf_counter()
            run = subprocess.run([sipp, "-sn", "uac", f"127.0.0.5:{port}", "-i", "127.0.0.4", "-p", "0", "-r",
                                  str(rate), "-rp", "1000", "-l", str(lines), "-m", str(calls), "-d", "0",
                                  "-nostdin", "-timeout", f"{int(4 * seconds + 30)}s"], cwd=work,
                                 capture_output=True, check=False)
            elapsed = time.perf_counter() - t0
            ok, failed = _sipp_counts(run.stdout.decode("utf-8", "replace"))
            total += calls
            if not ok or failed > calls // 100:  # calls lost (retransmission timeouts): past what the pair sustains
                break
            achieved = ok / elapsed
            if achieved > best:
                best, offered = achieved, rate
            if achieved < 0.8 * rate:
                break
            rate *= 2
    finally:
        uas.terminate()
        uas.wait(10)
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return best, offered, total / max(cpu, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--sipp-seconds", type=float, default=3.0, help="length of each SIPp step")
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                    help="the units' event loop: uvloop, as a lab runs them (emulator/command.py installs it), or "
                         "asyncio's own")
    args = ap.parse_args()
    loop_name = args.loop
    if loop_name == "uvloop":
        try:
            import uvloop  # the optional "speed" extra, as for a lab
        except ImportError:
            loop_name = "asyncio (uvloop not installed)"
        else:
            uvloop.install()  # before any loop: the forked workers run on it too
    print(f"loop {loop_name}", flush=True)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        (work / "one").mkdir()
        (work / "w2").mkdir()
        ours, done, failed, cpu = asyncio.run(our_rate(args.lines, args.seconds, work / "one"))
        print(f"crout_calls_per_s {ours:.0f} calls/s (both units in one process)", flush=True)
        print(f"crout_calls_completed {done} calls")
        print(f"crout_calls_failed {failed} calls")
        print(f"crout_calls_per_cpu_s {done / max(cpu, 1e-9):.0f} calls per CPU second (both units)")
        print(f"crout_cpu_ms_per_call {1000 * cpu / max(done, 1):.2f} ms (both units)", flush=True)
        w2, w2_done, w2_failed, cpu_a, cpu_b = two_workers_rate(args.lines, args.seconds, work / "w2")
        print(f"crout_w2_calls_per_s {w2:.0f} calls/s (each unit in a worker process of its own)", flush=True)
        print(f"crout_w2_calls_completed {w2_done} calls")
        print(f"crout_w2_calls_failed {w2_failed} calls")
        print(f"crout_w2_calls_per_cpu_s {w2_done / max(cpu_a + cpu_b, 1e-9):.0f} calls per CPU second (both units)")
        print(f"crout_w2_cpu_ms_per_call_caller {1000 * cpu_a / max(w2_done, 1):.2f} ms")
        print(f"crout_w2_cpu_ms_per_call_called {1000 * cpu_b / max(w2_done, 1):.2f} ms", flush=True)
        theirs, offered, theirs_cpu = sipp_rate(args.lines, args.sipp_seconds, work)
    print(f"sipp_calls_per_s {theirs:.0f} calls/s (offered {offered}/s)")
    print(f"sipp_calls_per_cpu_s {theirs_cpu:.0f} calls per CPU second (UAC and UAS)")
    print(f"sipp_cpu_ms_per_call {1000 / theirs_cpu:.3f} ms (UAC and UAS)")
    print(f"crout_vs_sipp {ours / theirs:.2f} x (one process)")
    print(f"crout_w2_vs_sipp {w2 / theirs:.2f} x (two workers)")
    print(f"crout_vs_sipp_per_cpu {done / max(cpu, 1e-9) / theirs_cpu:.2f} x")

if __name__ == "__main__":
    main()

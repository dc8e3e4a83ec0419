"""Capture bench: what a running Nlm packet capture costs the media path.

Two media engines (the units' ``MediaEngine``, as ``bench/media.py`` builds them: SDES-keyed G.711 SRTP calls, 50
packets/s each way, no SIP) carry ``--calls`` concurrent calls; the first engine's unit (a real ``Unit`` with its Nlm
engine) captures its address. The same calls run through windows of ``--seconds`` without a capture and with one
(``Nlm.StartPCapture`` before the window, ``Nlm.StopPCapture`` after it: the capture sees every media packet, both
ways), back to back, A/B ``--repeats`` times, so both sides see the same machine state.

Per window: process CPU (user + system: the kernel's copies to the packet socket happen in the sending syscalls
and count) per media packet sent, and loss (packets sent and not received). Prints ``name value unit`` lines: the
median of each side, the ratio with / without (goal <= 1.3), frames captured per media packet (1: every packet
once), the capture's stop (the pcapng file assembled and written into the unit's storage) in ms.

    .venv/bin/python bench/capture.py [--calls 200] [--seconds 3] [--repeats 3] [--loop asyncio|uvloop]
                                      [--hosts 127.0.0.82,127.0.0.83]

Needs CAP_NET_RAW (root) like the capture itself. The hosts default to addresses no other lab uses, so that the
capture holds this bench's packets only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.media import cpu, open_call, totals
from emulator.engines.mipt.engine import MediaEngine
from emulator.engines.mipt.stream import MediaStream
from emulator.engines.nlm import NlmEngine
from emulator.protocols.media.session_setup import KeyManagement, RtpSecurityMode, SecuritySettings
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

GOAL = 1.3


async def window(streams: list[MediaStream], seconds: float) -> tuple[float, int, float]:
    """(CPU µs per packet sent, packets sent, loss %) over one window."""
    s0, e0, r0, _ = totals(streams)
    c0 = cpu()
    await asyncio.sleep(seconds)
    c1 = cpu()
    s1, e1, r1, _ = totals(streams)
    sent = s1 - s0
    lost = max(0, (e1 - e0) - (r1 - r0))
    return 1e6 * (c1 - c0) / max(1, sent), sent, 100.0 * lost / max(1, sent)


async def run(calls: int, seconds: float, repeats: int, hosts: tuple[str, str], state: Path) -> None:
    unit = Unit(name="bench", profile=get_profile("4102"), state_dir=state, host=hosts[0],
                ports=PortPolicy(mode="auto"), fsync=False)
    nlm = NlmEngine(unit)
    unit.attach(nlm)
    unit.nlm = nlm
    await unit.start()
    unit.config.set("Nlm.PCaptureFileUrl", "file://captures/bench.pcapng")
    settings = SecuritySettings(mode=RtpSecurityMode.SECURE, key_management=KeyManagement.SDES,
                                regenerate_keys_on_update=False)
    a = MediaEngine(hosts[0], rtp_base_port=24000)
    b = MediaEngine(hosts[1], rtp_base_port=24000)
    streams: list[MediaStream] = []
    plain: list[float] = []
    captured: list[float] = []
    frames_per_packet: list[float] = []
    stops: list[float] = []
    drops: list[int] = []
    try:
        while len(streams) < 2 * calls:
            streams.extend(open_call(a, b, settings, len(streams) // 2))
            if len(streams) % 100 == 0:
                await asyncio.sleep(0)
        gc.collect()
        await asyncio.sleep(1.0)
        print(f"# {calls} calls, {seconds} s windows, load average {os.getloadavg()[0]:.2f}", flush=True)
        for r in range(repeats):
            us, sent, loss = await window(streams, seconds)
            plain.append(us)
            print(f"# round {r + 1} without capture: {us:.2f} us/packet, {sent} packets, loss {loss:.3f} %",
                  flush=True)
            capture = nlm.capture
            capture.start()
            assert capture.state == "Requested", (capture.state, capture.reason)
            await asyncio.sleep(0.2)  # the socket is reading
            f0 = capture.frames
            us, sent, loss = await window(streams, seconds)
            frames = capture.frames - f0
            captured.append(us)
            frames_per_packet.append(frames / max(1, sent))
            t = time.perf_counter()
            job = capture.stop()
            assert job is not None
            state = await job
            stops.append(1000 * (time.perf_counter() - t))
            assert state == "Completed", (state, capture.reason)
            drops.append(capture.kernel_drops)
            print(f"# round {r + 1} with capture: {us:.2f} us/packet, {sent} packets, {frames} frames, "
                  f"{capture.kernel_drops} dropped by the kernel, loss {loss:.3f} %", flush=True)
            gc.collect()
            await asyncio.sleep(0.5)
    finally:
        a.close()
        b.close()
        await unit.stop()
    without, with_ = statistics.median(plain), statistics.median(captured)
    ratio = with_ / without
    print(f"capture_media_cpu_per_packet_without {without:.2f} us")
    print(f"capture_media_cpu_per_packet_with {with_:.2f} us")
    print(f"capture_media_cpu_ratio {ratio:.2f} x (goal <= {GOAL} x: {'met' if ratio <= GOAL else 'NOT met'})")
    rounds = [w / p for p, w in zip(plain, captured, strict=True)]  # each round's pair, back to back
    print(f"capture_media_cpu_ratio_per_round {min(rounds):.2f}-{max(rounds):.2f} x (median "
          f"{statistics.median(rounds):.2f})")
    print(f"capture_frames_per_media_packet {statistics.median(frames_per_packet):.3f} frames")
    print(f"capture_frames_dropped_by_the_kernel {sum(drops)} frames")
    print(f"capture_stop_and_store {statistics.median(stops):.0f} ms")
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop"))
    ap.add_argument("--hosts", default="127.0.0.82,127.0.0.83")
    args = ap.parse_args()
    hosts = tuple(args.hosts.split(","))
    assert len(hosts) == 2
    with tempfile.TemporaryDirectory(prefix="bench-capture-") as state:
        coro = run(args.calls, args.seconds, args.repeats, (hosts[0], hosts[1]), Path(state))
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(coro)
        else:
            asyncio.run(coro)


if __name__ == "__main__":
    main()

"""Media bench: concurrent bidirectional G.711 SRTP calls between two units' media engines in one process.

Two :class:`~emulator.engines.mipt.engine.MediaEngine` on 127.0.0.2 and 127.0.0.3 (one per "unit"); each call is a
pair of streams keyed by an SDES offer/answer (``session_setup``), 50 packets/s each way, so the process
sends 100 and receives 100 packets/s per call. The call count ramps through the levels; at each level,
after a settling second, it measures for `--seconds`:

* loss %              — over the window, both directions: the gaps the receivers saw (RFC 3550 A.3) plus the
  packets sent but not yet seen beyond 2 ms of in-flight (a receive path that falls behind loses too);
* p99 send jitter ms  — 99th percentile of how late packets left against the ideal 20 ms schedule (ticker's
  histogram, the worse of the two engines; the criterion); also p99 |interval - 20 ms| (interval jitter);
* CPU µs per packet   — process CPU time (user + system, so the kernel's UDP work counts) / packets sent;
  each packet is protected, sent, received and unprotected inside the process.

Beside it, in the same run: raw pylibsrtp protect + unprotect µs per packet (public ``Session`` API; one
warm context, and as many contexts as the top level has streams), the kernel's UDP send + recv floor, and the
ratios. The levels run on each event loop asked for (default: the standard asyncio loop, then uvloop — the
loop ``dgw-emulator run`` uses when it is installed). Prints ``name value unit`` lines, then per loop the
highest level meeting < 0.1 % loss and p99 send jitter < 5 ms. The machine's load average is printed before
and after each loop's levels: other work on the machine shows in the figures.

Nothing is tuned for the bench that the emulator does not do: after opening each level's calls it collects
the garbage of that setup (``gc.collect()``) and lets the calls settle for a second; no ``gc.freeze``.

    .venv/bin/python bench/media.py [--levels 100,200,300,500,600] [--seconds 5] [--loops asyncio,uvloop]
                                    [--workers N] [--codecs PCMU,G722,G726-32,G729] [--codec-calls 100]

``--codecs PCMU,G722,G726-32,G729`` adds a codec column: for each codec, ``--codec-calls`` plain calls that carry
it with the receive side decoding every packet (as a factory unit does: in-band DTMF detection, no RFC 4733), CPU
per packet beside the codec library's own encode + decode of a 20 ms frame measured in the same run
(``media_codec_<codec>_...`` lines; the goal: our cost minus the codec's at most 2x the codec's).

``--workers N`` measures the whole machine as a multi-process lab uses it: N processes at once, shared-nothing,
each with its own pair of units (127.0.0.2 and .3, .4 and .5, ...) and its share of every level's calls; they
ramp through the same levels in step. Per level: loss over every packet of every process, the worst p99 send
lateness of any process, CPU per packet = the processes' CPU / their packets (``media_workersN_...`` lines).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pylibsrtp import Policy, Session

from emulator.engines.mipt.engine import MediaEngine
from emulator.engines.mipt.playout import DtmfThresholds
from emulator.engines.mipt.stream import MediaStream
from emulator.protocols.media import codecs
from emulator.protocols.media.codec_policy import CodecEntry, CodecPolicy
from emulator.protocols.media.session_setup import (
    Answer,
    KeyManagement,
    LocalMedia,
    RtpSecurityMode,
    SecuritySettings,
    accept_answer,
    answer_offer,
    build_offer,
)
from emulator.protocols.media.srtp import SrtpSuite, libsrtp_version
from emulator.protocols.media.tones import ToneGenerator

LOSS_LIMIT = 0.1  # %
JITTER_LIMIT = 5.0  # ms


def raw_srtp_us(n: int = 50_000, contexts: int = 1) -> float:
    """Raw pylibsrtp protect + unprotect of a 172-octet G.711 RTP packet, µs (best of 3), cycling over
    `contexts` sender/receiver session pairs (1: one warm context; many: caches as cold as in a real run)."""
    key = os.urandom(30)
    profile = SrtpSuite.AES_CM_128_HMAC_SHA1_80.profile
    plain = [struct.pack("!BBHII", 0x80, 0, i & 0xFFFF, i * 160 & 0xFFFFFFFF, 0x1234) + bytes(160) for i in range(n)]
    best = float("inf")
    for _ in range(3):
        pairs = [
            (
                Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)),
                Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile)),
            )
            for _ in range(contexts)
        ]
        order = [pairs[i % contexts] for i in range(n)]
        seq = [plain[i // contexts] for i in range(n)]
        t = time.process_time()
        for (tx, rx), p in zip(order, seq, strict=True):
            rx.unprotect(tx.protect(p))
        best = min(best, (time.process_time() - t) / n)
    return best * 1e6


def kernel_udp_us(host: str, n: int = 20_000) -> float:
    """CPU µs (user + system) to send and receive one 182-octet datagram over loopback: the syscall floor
    under any Python media path on this machine (best of 3)."""
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        a.bind((host, 0))
        b.bind((host, 0))
        a.connect(b.getsockname())
        b.connect(a.getsockname())
        data = bytes(182)
        best = float("inf")
        for _ in range(3):
            c = cpu()
            for _ in range(n):
                a.send(data)
                b.recv(2048)
            best = min(best, (cpu() - c) / n)
        return best * 1e6
    finally:
        a.close()
        b.close()


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def open_call(a: MediaEngine, b: MediaEngine, settings: SecuritySettings, i: int) -> tuple[MediaStream, MediaStream]:
    sa = a.open_stream(secure=True, call=i, endpoint="Phone-Fax1")
    sb = b.open_stream(secure=True, call=i, endpoint="Phone-Fax1")
    now = time.time()
    offer = build_offer(settings, LocalMedia(a.host, sa.port, i + 1), now=now)
    ans = answer_offer(settings, offer.sdp, LocalMedia(b.host, sb.port, i + 1), now=now)
    assert isinstance(ans, Answer), ans
    sa.apply(accept_answer(settings, offer, ans.sdp))
    sb.apply(ans.plan)
    sa.set_source(ToneGenerator((1000.0,)))
    sb.set_source(ToneGenerator((440.0,)))
    return sa, sb


def totals(streams: list[MediaStream]) -> tuple[int, int, int, int]:
    """(sent, expected, received, errors) summed over the streams; expected/received from the receivers'
    RFC 3550 A.3 accounting (highest sequence seen), so packets still in flight are not counted as lost."""
    sent = sum(s.packets_sent for s in streams)
    expected = sum(s.reception.expected for s in streams)
    received = sum(s.reception.received for s in streams)
    bad = sum(s.undecryptable + s.dropped + s.send_errors for s in streams)
    return sent, expected, received, bad


async def run(levels: list[int], seconds: float, hosts: tuple[str, str]) -> list[dict[str, float]]:
    settings = SecuritySettings(
        mode=RtpSecurityMode.SECURE, key_management=KeyManagement.SDES, regenerate_keys_on_update=False
    )
    a = MediaEngine(hosts[0], rtp_base_port=20000)
    b = MediaEngine(hosts[1], rtp_base_port=20000)
    streams: list[MediaStream] = []
    results = []
    try:
        for level in levels:
            while len(streams) < 2 * level:
                streams.extend(open_call(a, b, settings, len(streams) // 2))
                if len(streams) % 100 == 0:
                    await asyncio.sleep(0)  # let the loop breathe while hundreds of calls start
            gc.collect()  # the setup's garbage, not the calls' steady state
            await asyncio.sleep(1.0)
            a.reset_lateness()
            b.reset_lateness()
            s0, e0, r0, bad0 = totals(streams)
            c0, t0 = cpu(), time.monotonic()
            await asyncio.sleep(seconds)
            c1, t1 = cpu(), time.monotonic()
            s1, e1, r1, bad1 = totals(streams)
            sent, expected, received = s1 - s0, e1 - e0, r1 - r0
            # lost = gaps the receivers saw (A.3) + packets sent but not yet seen beyond 2 ms of in-flight:
            # a receive path that falls behind counts as loss too
            in_flight = 0.002 * sent / (t1 - t0)
            undelivered = max(0.0, (sent - expected) - in_flight)
            loss = 100.0 * (max(0, expected - received) + undelivered) / sent if sent else 100.0
            jitter = 1000.0 * max(a.send_lateness(99.0), b.send_lateness(99.0))
            res = {
                "calls": level,
                "loss_pct": loss,
                "p99_jitter_ms": jitter,
                "p50_jitter_ms": 1000.0 * max(a.send_lateness(50.0), b.send_lateness(50.0)),
                "p99_interval_jitter_ms": 1000.0 * max(a.interval_jitter(99.0), b.interval_jitter(99.0)),
                "cpu_us_per_packet": 1e6 * (c1 - c0) / sent if sent else float("nan"),
                "cpu_load_pct": 100.0 * (c1 - c0) / (t1 - t0),
                "packets_per_s": sent / (t1 - t0),
                "errors": bad1 - bad0,
                "delivered_pct": 100.0 * received / sent if sent else 0.0,
            }
            results.append(res)
            if RESULTS_AS_JSON:
                print("RESULT " + json.dumps({**res, "cpu_s": c1 - c0, "sent": sent, "expected": expected,
                                              "received": received}), flush=True)
                continue
            print(
                f"calls={level} loss {loss:.3f} % p99_send_jitter {jitter:.2f} ms "
                f"p50 {res['p50_jitter_ms']:.2f} ms p99_interval_jitter {res['p99_interval_jitter_ms']:.2f} ms "
                f"cpu {res['cpu_us_per_packet']:.2f} us/packet "
                f"load {res['cpu_load_pct']:.0f} % rate {res['packets_per_s']:.0f} pkt/s "
                f"received/sent {res['delivered_pct']:.1f} % errors {res['errors']}",
                flush=True,
            )
    finally:
        a.close()
        b.close()
    return results


def codec_library_us(encoding: str, n: int = 2000) -> float:
    """The codec library's own encode + decode of one 20 ms frame of a tone, µs (best of 3)."""
    fmt = codecs.by_encoding(encoding)
    assert fmt is not None
    pcm = ToneGenerator((1000.0,)).read(160)
    best = float("inf")
    for _ in range(3):
        enc, dec = codecs.encoder_for(fmt), codecs.decoder_for(fmt)
        t = time.perf_counter()
        for _ in range(n):
            dec.decode(enc.encode(pcm))
        best = min(best, (time.perf_counter() - t) / n * 1e6)
    return best


async def run_codecs(names: list[str], calls: int, seconds: float, hosts: tuple[str, str]) -> list[tuple[str, float]]:
    """CPU µs per packet of `calls` plain calls per codec, every received packet decoded (and listened to for
    in-band digits, as on a factory unit)."""
    out = []
    for name in names:
        fmt = codecs.by_encoding(name)
        assert fmt is not None and codecs.carried(fmt), name
        pt = fmt.static_pt if fmt.static_pt is not None else 99
        settings = SecuritySettings(codecs=(CodecEntry(fmt, pt).codec(),),
                                    codec_policy=CodecPolicy(voice=(CodecEntry(fmt, pt),), telephone_event_pt=None))
        a = MediaEngine(hosts[0], rtp_base_port=30000)
        b = MediaEngine(hosts[1], rtp_base_port=30000)
        streams: list[MediaStream] = []
        try:
            for i in range(calls):
                sa, sb = a.open_stream(call=i), b.open_stream(call=i)
                offer = build_offer(settings, LocalMedia(a.host, sa.port, i + 1), now=time.time())
                ans = answer_offer(settings, offer.sdp, LocalMedia(b.host, sb.port, i + 1), now=time.time())
                assert isinstance(ans, Answer), ans
                sa.apply(accept_answer(settings, offer, ans.sdp))
                sb.apply(ans.plan)
                for s, tone in ((sa, 1000.0), (sb, 440.0)):
                    s.set_source(ToneGenerator((tone,)))
                    s.detect_inband_dtmf(DtmfThresholds())
                streams += [sa, sb]
            gc.collect()
            await asyncio.sleep(1.0)
            s0 = sum(s.packets_sent for s in streams)
            c0 = cpu()
            await asyncio.sleep(seconds)
            c1 = cpu()
            sent = sum(s.packets_sent for s in streams) - s0
            us = 1e6 * (c1 - c0) / sent if sent else float("nan")
            out.append((name, us))
            print(f"codec={name} calls={calls} cpu {us:.2f} us/packet ({sent} packets)", flush=True)
        finally:
            a.close()
            b.close()
    return out


def report_codecs(loop_name: str, rows: list[tuple[str, float]]) -> None:
    tag = "" if loop_name == "asyncio" else f"_{loop_name}"
    for name, us in rows:
        lib = codec_library_us(name)
        key = name.lower().replace("-", "_")
        print(f"media{tag}_codec_{key}_cpu_per_packet {us:.2f} us")
        print(f"media{tag}_codec_{key}_library_encode_decode {lib:.2f} us")
        print(f"media{tag}_codec_{key}_overhead_vs_codec {(us - lib) / lib:.2f} x"
              + (" (goal <= 2 x: " + ("met" if us - lib <= 2 * lib else "NOT met") + ")" if name not in
                 ("PCMU", "PCMA") else " (G.711's table lookups cost next to nothing: the goal is the codecs')"))


RESULTS_AS_JSON = False  # a worker of --workers: one RESULT line per level, for the parent to add up


def run_workers(workers: int, levels: list[int], seconds: float, loop: str) -> list[dict[str, float]]:
    """The levels in ``workers`` processes at once (each its own two units and 1/workers of the calls)."""
    procs = []
    for k in range(workers):
        share = ",".join(str(max(1, level // workers)) for level in levels)
        hosts = f"127.0.0.{2 + 2 * k},127.0.0.{3 + 2 * k}"
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", "--levels", share, "--seconds", str(seconds), "--loops", loop,
             "--hosts", hosts], stdout=subprocess.PIPE, text=True))
    outs = [[json.loads(line[7:]) for line in p.communicate()[0].splitlines() if line.startswith("RESULT ")]
            for p in procs]
    results = []
    for level, rows in zip(levels, zip(*outs, strict=True), strict=False):
        sent = sum(r["sent"] for r in rows)
        lost = sum(max(0.0, r["loss_pct"]) * r["sent"] / 100.0 for r in rows)
        window = seconds
        results.append({
            "calls": level,
            "loss_pct": 100.0 * lost / sent if sent else 100.0,
            "p99_jitter_ms": max(r["p99_jitter_ms"] for r in rows),
            "p50_jitter_ms": max(r["p50_jitter_ms"] for r in rows),
            "p99_interval_jitter_ms": max(r["p99_interval_jitter_ms"] for r in rows),
            "cpu_us_per_packet": 1e6 * sum(r["cpu_s"] for r in rows) / sent if sent else float("nan"),
            "cpu_load_pct": 100.0 * sum(r["cpu_s"] for r in rows) / window,
            "packets_per_s": sum(r["packets_per_s"] for r in rows),
            "errors": sum(r["errors"] for r in rows),
            "delivered_pct": 100.0 * sum(r["received"] for r in rows) / sent if sent else 0.0,
        })
        r = results[-1]
        print(f"calls={level} ({workers} processes) loss {r['loss_pct']:.3f} % p99_send_jitter "
              f"{r['p99_jitter_ms']:.2f} ms cpu {r['cpu_us_per_packet']:.2f} us/packet load {r['cpu_load_pct']:.0f} % "
              f"rate {r['packets_per_s']:.0f} pkt/s errors {r['errors']}", flush=True)
    return results


def report(loop_name: str, results: list[dict[str, float]], raw: float, floor: float, workers: int = 1) -> None:
    tag = ("" if loop_name == "asyncio" else f"_{loop_name}") + (f"_workers{workers}" if workers > 1 else "")
    for r in results:
        n = int(r["calls"])
        print(f"media{tag}_calls_{n}_loss {r['loss_pct']:.3f} %")
        print(f"media{tag}_calls_{n}_p99_send_jitter {r['p99_jitter_ms']:.2f} ms")
        print(f"media{tag}_calls_{n}_p99_interval_jitter {r['p99_interval_jitter_ms']:.2f} ms")
        print(f"media{tag}_calls_{n}_cpu_per_packet {r['cpu_us_per_packet']:.2f} us")
        print(f"media{tag}_calls_{n}_cost_vs_raw {r['cpu_us_per_packet'] / raw:.2f} x")
        print(f"media{tag}_calls_{n}_cost_vs_raw_plus_kernel {r['cpu_us_per_packet'] / (raw + floor):.2f} x")
    ok = [r for r in results if r["loss_pct"] < LOSS_LIMIT and r["p99_jitter_ms"] < JITTER_LIMIT]
    best = max((int(r["calls"]) for r in ok), default=0)
    print(
        f"media{tag}_max_calls {best} calls (loss < {LOSS_LIMIT} %, p99 send lateness < {JITTER_LIMIT} ms; "
        f"goal >= 500: {'met' if best >= 500 else 'NOT met'})"
    )
    ok_iv = [r for r in results if r["loss_pct"] < LOSS_LIMIT and r["p99_interval_jitter_ms"] < JITTER_LIMIT]
    best_iv = max((int(r["calls"]) for r in ok_iv), default=0)
    print(
        f"media{tag}_max_calls_interval_jitter {best_iv} calls "
        f"(loss < {LOSS_LIMIT} %, p99 |interval - 20 ms| < {JITTER_LIMIT} ms)"
    )
    at = max(ok, key=lambda r: r["calls"]) if ok else min(results, key=lambda r: r["calls"])
    ratio = at["cpu_us_per_packet"] / raw
    print(
        f"media{tag}_cost_vs_raw_at_{int(at['calls'])}_calls {ratio:.2f} x "
        f"(goal <= 3 x: {'met' if ratio <= 3 else 'NOT met'})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="100,200,300,400,500", help="call counts, comma-separated")
    ap.add_argument("--seconds", type=float, default=5.0, help="measurement window per level")
    ap.add_argument("--loops", default="asyncio,uvloop", help="event loops to run the levels on, in turn")
    ap.add_argument("--uvloop", action="store_true", help="same as --loops uvloop")
    ap.add_argument("--hosts", default="127.0.0.2,127.0.0.3", help="the two units' addresses")
    ap.add_argument("--workers", type=int, default=1, help="processes at once, each its share of the calls")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of --workers' processes
    ap.add_argument("--codecs", default="", help="codec column: codecs to measure (e.g. PCMU,G722,G726-32,G729)")
    ap.add_argument("--codec-calls", type=int, default=100, help="calls per codec of the codec column")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]
    codec_names = [x for x in args.codecs.split(",") if x]
    hosts = tuple(args.hosts.split(","))
    assert len(hosts) == 2
    loops = ["uvloop"] if args.uvloop else [x for x in args.loops.split(",") if x]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4 * max([*levels, args.codec_calls]) + 256
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    if args.worker:
        global RESULTS_AS_JSON
        RESULTS_AS_JSON = True
        one: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
        if loops == ["uvloop"]:
            import uvloop

            one = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=one) as runner:
            runner.run(run(levels, args.seconds, (hosts[0], hosts[1])))
        return
    raw = raw_srtp_us()
    raw_cold = raw_srtp_us(contexts=2 * max(levels or [1]))
    floor = kernel_udp_us(hosts[0])
    print(f"# {libsrtp_version()}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"raw_pylibsrtp_protect_unprotect {raw:.2f} us/packet")
    print(f"raw_pylibsrtp_protect_unprotect_{2 * max(levels or [1])}_contexts {raw_cold:.2f} us/packet")
    print(f"kernel_udp_send_recv {floor:.2f} us/packet")
    print(f"raw_plus_kernel_floor {raw + floor:.2f} us/packet")
    for name in loops:
        factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
        if name == "uvloop":
            try:
                import uvloop
            except ImportError:
                print("# uvloop not installed: skipped")
                continue
            factory = uvloop.new_event_loop
        print(f"# event loop: {name}, load average {os.getloadavg()[0]:.2f}", flush=True)
        if codec_names:
            with asyncio.Runner(loop_factory=factory) as runner:
                rows = runner.run(run_codecs(codec_names, args.codec_calls, args.seconds, (hosts[0], hosts[1])))
            report_codecs(name, rows)
        if not levels:
            continue
        if args.workers > 1:
            results = run_workers(args.workers, levels, args.seconds, name)
        else:
            with asyncio.Runner(loop_factory=factory) as runner:
                results = runner.run(run(levels, args.seconds, (hosts[0], hosts[1])))
        print(f"# load average after: {os.getloadavg()[0]:.2f}")
        report(name, results, raw, floor, args.workers)


if __name__ == "__main__":
    main()

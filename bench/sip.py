"""SIP message benchmark: parse + read every structured header + serialise, ours beside `sipmessage`.

On the same realistic mix (REGISTER with digest credentials, INVITE with SDP through a proxy, its
200 OK with Record-Route, BYE), each library parses the bytes, reads Via (transport, host, port,
branch), From and To (URI user and host, tag), CSeq (number, method), Contact (URIs), Call-ID and
Content-Length, and serialises the message back to bytes. Prints `name value unit` lines.

    .venv/bin/python bench/sip.py [--seconds 4] [--profile]

`sipmessage` (PyPI, pure Python, defers header parsing until access) is the peer; without it only
our figures are printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator.protocols.sip.message import parse_datagram  # noqa: E402
from testkit.sip_vectors import MIX  # noqa: E402


def ours(data: bytes) -> bytes:
    msg = parse_datagram(data)
    for via in msg.via:  # type: ignore[union-attr]
        _ = (via.transport, via.host, via.port, via.branch)
    for addr in (msg.from_, msg.to):  # type: ignore[union-attr]
        _ = (addr.uri.user, addr.uri.host, addr.tag)
    cseq = msg.cseq  # type: ignore[union-attr]
    _ = (cseq.seq, cseq.method)
    for contact in msg.contact:  # type: ignore[union-attr]
        _ = (contact.uri.user, contact.uri.host, contact.uri.port)
    _ = (msg.call_id, msg.content_length)  # type: ignore[union-attr]
    return msg.to_bytes()  # type: ignore[union-attr]


def peer() -> Callable[[bytes], bytes] | None:
    try:
        import sipmessage
    except ImportError:
        return None

    def theirs(data: bytes) -> bytes:
        msg = sipmessage.Message.parse(data)
        for via in msg.via:
            _ = (via.transport, via.host, via.port, via.parameters.get("branch"))
        for addr in (msg.from_address, msg.to_address):
            _ = (addr.uri.user, addr.uri.host, addr.parameters.get("tag"))
        cseq = msg.cseq
        _ = (cseq.sequence, cseq.method)
        for contact in msg.contact:
            _ = (contact.uri.user, contact.uri.host, contact.uri.port)
        _ = (msg.call_id, msg.content_length)
        return bytes(msg)

    return theirs


def _window(fn: Callable[[bytes], bytes], seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for data in MIX:
            fn(data)
        count += len(MIX)
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def rates(fns: list[Callable[[bytes], bytes]], seconds: float, window: float = 0.1) -> list[float]:
    """Messages per second of each function over the mix: short windows interleaved between the
    functions, best window kept, so that load from other processes hits every side alike."""
    for fn in fns:  # warm up, and check the work is real
        for data in MIX:
            assert fn(data)
    best = [0.0] * len(fns)
    rounds = max(1, int(seconds / (window * len(fns))))
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = max(best[i], _window(fn, window))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--profile", action="store_true", help="cProfile our side instead of measuring")
    args = parser.parse_args()
    if args.profile:
        import cProfile
        import pstats

        cProfile.runctx("for _ in range(5000):\n    [ours(d) for d in MIX]", globals(), locals(), "/tmp/sip.prof")
        pstats.Stats("/tmp/sip.prof").sort_stats("tottime").print_stats(25)
        return
    theirs = peer()
    if theirs is None:
        (mine,) = rates([ours], args.seconds)
        print(f"sip_parse_read_serialise {mine:.0f} msg/s")
        print("sipmessage_parse_read_serialise n/a msg/s  # pip install sipmessage")
        return
    mine, other = rates([ours, theirs], args.seconds)
    print(f"sip_parse_read_serialise {mine:.0f} msg/s")
    print(f"sipmessage_parse_read_serialise {other:.0f} msg/s")
    print(f"sip_vs_sipmessage {mine / other:.2f} x")

if __name__ == "__main__":
    main()

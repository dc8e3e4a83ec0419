"""Media core benchmark: CPU per packet of our SRTP path beside raw pylibsrtp in the same run (the bytes API
and the media engine's in-place pair, which also builds the RTP packet), the whole pure send/receive path
(no sockets), G.711 and the tone measure. Prints `name value unit` lines.

    .venv/bin/python bench/media_core.py [--packets 200000]

Run pinned to one core for stable figures: ``taskset -c 0 .venv/bin/python bench/media_core.py``.
"""

from __future__ import annotations

import argparse
import os
import struct
import time
from collections.abc import Callable

from pylibsrtp import Policy, Session

from emulator.protocols.media import g711, tones
from emulator.protocols.media.rtp import ReceptionStats, RtpSender
from emulator.protocols.media.srtp import SrtpContext, SrtpSuite, libsrtp_version
from emulator.protocols.sdp import mikey, sdes


def per_item(fn: Callable[[], object], n: int, repeat: int = 3) -> float:
    """Best of `repeat` runs, seconds per call."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def _best(run: Callable[[], float], repeat: int = 3) -> float:
    return min(run() for _ in range(repeat))


def bench_srtp(n: int, suite: SrtpSuite) -> dict[str, float]:
    """Seconds per packet for protect and unprotect of 172-octet G.711 RTP packets (incl. sequence wraps),
    raw pylibsrtp (public Session API) and our SrtpContext, each the best of 3 runs on fresh contexts."""
    key = os.urandom(30)
    plain = [
        struct.pack("!BBHII", 0x80, 0, i & 0xFFFF, (i * 160) & 0xFFFFFFFF, 0x11223344) + bytes(160) for i in range(n)
    ]

    def raw() -> tuple[float, float]:
        tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=suite.profile))
        rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=suite.profile))
        t = time.perf_counter()
        prot = [tx.protect(p) for p in plain]
        t1 = time.perf_counter()
        for p in prot:
            rx.unprotect(p)
        return (t1 - t) / n, (time.perf_counter() - t1) / n

    def ours() -> tuple[float, float]:
        tx = SrtpContext(suite, key, outbound=True)
        rx = SrtpContext(suite, key, outbound=False)
        t = time.perf_counter()
        prot = [tx.protect(p) for p in plain]
        t1 = time.perf_counter()
        for p in prot:
            rx.unprotect(p)
        assert rx.roc == tx.roc == (n - 1) >> 16
        return (t1 - t) / n, (time.perf_counter() - t1) / n

    def in_place() -> tuple[float, float]:
        """The media engine's path: header + payload packed into the context's buffer, protected there;
        the datagram copied into the receiver's buffer (as recv_into does) and unprotected there."""
        tx = SrtpContext(suite, key, outbound=True)
        rx = SrtpContext(suite, key, outbound=False)
        sender = RtpSender.create(0, ssrc=0x11223344, initial_sequence=0, initial_timestamp=0)
        payload = bytes(160)
        tbuf, rbuf = tx.buffer, rx.buffer
        wire = []
        t = time.perf_counter()
        for _ in range(n):
            seq = sender.sequence
            wire.append(tbuf[0 : tx.protect_in_place(sender.pack_next(tbuf, payload), seq)])
        t1 = time.perf_counter()
        for p in wire:
            m = len(p)
            rbuf[0:m] = p
            rx.unprotect_in_place(m)
        t2 = time.perf_counter()
        assert rx.roc == tx.roc == (n - 1) >> 16
        return (t1 - t) / n, (t2 - t1) / n

    raws = [raw() for _ in range(3)]
    ourss = [ours() for _ in range(3)]
    inplace = [in_place() for _ in range(3)]
    return {
        "raw_protect": min(r[0] for r in raws),
        "raw_unprotect": min(r[1] for r in raws),
        "ours_protect": min(r[0] for r in ourss),
        "ours_unprotect": min(r[1] for r in ourss),
        "in_place_protect": min(r[0] for r in inplace),  # incl. building the RTP packet
        "in_place_unprotect": min(r[1] for r in inplace),  # incl. copying the datagram in
    }


def bench_path(n: int) -> tuple[float, float]:
    """Whole pure path per packet: tone frame (pre-encoded) -> RTP -> SRTP, and SRTP -> RTP -> stats."""
    key = os.urandom(30)
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80

    def once() -> tuple[float, float]:
        gen = tones.ToneGenerator((1000.0,), level_dbm0=-10.0)
        sender = RtpSender.create(0, ssrc=0x01020304, initial_sequence=60000)
        tx = SrtpContext(suite, key, outbound=True)
        rx = SrtpContext(suite, key, outbound=False)
        stats = ReceptionStats(probation=0)
        wire: list[bytes] = []
        t = time.perf_counter()
        for _ in range(n):
            wire.append(tx.protect(sender.next_packet(gen.read_encoded("PCMU"))))
        send = (time.perf_counter() - t) / n
        now = 0.0
        t = time.perf_counter()
        for p in wire:
            plain = rx.unprotect(p)
            now += 0.02
            stats.update((plain[2] << 8) | plain[3], int.from_bytes(plain[4:8], "big"), now)
        recv = (time.perf_counter() - t) / n
        assert stats.received == n
        return send, recv

    runs = [once() for _ in range(3)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=200_000)
    a = ap.parse_args()
    n = a.packets
    print(f"# {libsrtp_version()}, {n} packets of 172 octets, AES_CM_128_HMAC_SHA1_80 unless named")
    for suite in SrtpSuite:
        r = bench_srtp(n, suite)
        tag = "" if suite is SrtpSuite.AES_CM_128_HMAC_SHA1_80 else "_sha1_32"
        for k, v in r.items():
            print(f"srtp_{k}{tag} {v * 1e6:.2f} us/packet")
        raw = r["raw_protect"] + r["raw_unprotect"]
        print(f"srtp_ours_vs_raw{tag} {(r['ours_protect'] + r['ours_unprotect']) / raw:.2f} x")
        print(f"srtp_in_place_vs_raw{tag} {(r['in_place_protect'] + r['in_place_unprotect']) / raw:.2f} x")
    send, recv = bench_path(n // 2)
    print(f"media_send_path {send * 1e6:.2f} us/packet")  # tone slice + RTP header + SRTP protect
    print(f"media_receive_path {recv * 1e6:.2f} us/packet")  # SRTP unprotect + A.1/A.8 statistics

    pcm = tones.ToneGenerator((440.0,), level_dbm0=-10.0).read(160)
    g711.ulaw_encode(pcm)  # build the table outside the timing
    g711.alaw_encode(pcm)
    print(f"g711_ulaw_encode {per_item(lambda: g711.ulaw_encode(pcm), 20000) * 1e6:.2f} us/20ms-frame")
    print(f"g711_alaw_encode {per_item(lambda: g711.alaw_encode(pcm), 20000) * 1e6:.2f} us/20ms-frame")
    enc = g711.ulaw_encode(pcm)
    print(f"g711_ulaw_decode {per_item(lambda: g711.ulaw_decode(enc), 20000) * 1e6:.2f} us/20ms-frame")
    gen = tones.ToneGenerator((440.0,), level_dbm0=-10.0)
    print(f"tone_frame_encoded {per_item(lambda: gen.read_encoded('PCMU'), 20000) * 1e6:.2f} us/20ms-frame")
    window = g711.ulaw_decode(b"".join(gen.read_encoded("PCMU") for _ in range(10)))
    tones.measure(window)
    print(f"tone_measure_200ms {per_item(lambda: tones.measure(window), 20) * 1e3:.2f} ms/measure")
    two = per_item(lambda: tones.measure(window, candidates=[440.0, 1000.0]), 50)
    print(f"tone_measure_200ms_2_candidates {two * 1e3:.2f} ms/measure")

    psk = b"bench-psk"
    now = time.time()
    msg, _ = mikey.build_initiation(psk=psk, now=now)
    print(f"mikey_psk_build {per_item(lambda: mikey.build_initiation(psk=psk, now=now), 500) * 1e6:.0f} us/message")
    print(
        f"mikey_psk_verify {per_item(lambda: mikey.verify_initiation(msg, psk=psk, now=now), 500) * 1e6:.0f} us/message"
    )
    offer = [a.serialize() for a in sdes.build_offer("Aes80And32")]
    print(f"sdes_select_answer {per_item(lambda: sdes.select_answer(offer), 5000) * 1e6:.1f} us/offer")


if __name__ == "__main__":
    main()

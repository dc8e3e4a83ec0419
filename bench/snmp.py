"""SNMP benchmark: GET requests/s and GETBULK varbinds/s against one unit's agent (SNMPv2c, the agent's
fast path), and GET requests/s through pysnmp (SNMPv1) for comparison.

The unit (its Snmp engine on 127.0.0.1, any port) runs in this process's event loop; the client is
another process sending datagrams built once (no encoding on the client side), keeping a window of
requests in flight. Prints `name value unit` lines.

    .venv/bin/python bench/snmp.py [--seconds 3] [--window 8]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyasn1.codec.ber import decoder, encoder  # noqa: E402
from pysnmp.proto.api import v1, v2c  # noqa: E402

from emulator.faces.snmp import SnmpEngine  # noqa: E402
from emulator.runtime.unit import PortPolicy, Unit  # noqa: E402
from firmware_model.profiles import get_profile  # noqa: E402

GET_OID = (1, 3, 6, 1, 4, 1, 4935, 1000, 100, 200, 100, 900, 1, 400, 0)  # Snmp.Port
BULK_FROM = (1, 3, 6, 1, 4, 1, 4935)


def build(kind: str, repetitions: int = 50) -> bytes:
    api: Any = v1 if kind == "get-v1" else v2c
    if kind == "bulk":
        pdu = v2c.GetBulkRequestPDU()
        v2c.apiBulkPDU.set_defaults(pdu)
        v2c.apiBulkPDU.set_non_repeaters(pdu, 0)
        v2c.apiBulkPDU.set_max_repetitions(pdu, repetitions)
        v2c.apiBulkPDU.set_varbinds(pdu, [(BULK_FROM, v2c.null)])
    else:
        pdu = api.GetRequestPDU()
        api.apiPDU.set_defaults(pdu)
        api.apiPDU.set_varbinds(pdu, [(GET_OID, api.null)])
    msg = api.Message()
    api.apiMessage.set_defaults(msg)
    api.apiMessage.set_community(msg, "public")
    api.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


def client(target: tuple[str, int], packet: bytes, seconds: float, window: int, out: multiprocessing.Queue) -> None:
    """Send ``packet`` keeping ``window`` requests in flight; report (responses, seconds, one response)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(target)
    s.settimeout(1.0)
    sample = b""
    for _ in range(window):
        s.send(packet)
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        try:
            data = s.recv(65535)
        except TimeoutError:
            s.send(packet)  # a lost datagram: keep the window full
            continue
        n += 1
        sample = data
        now = time.perf_counter()
        if now >= deadline:
            break
        s.send(packet)
    out.put((n, time.perf_counter() - t0, sample))
    s.close()


async def measure(target: tuple[str, int], packet: bytes, seconds: float, window: int) -> tuple[int, float, bytes]:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=client, args=(target, packet, seconds, window, q))
    p.start()
    while q.empty():
        await asyncio.sleep(0.05)
    result = q.get()
    await asyncio.to_thread(p.join)
    return result


def varbinds_in(data: bytes) -> int:
    msg, _ = decoder.decode(data, asn1Spec=v2c.Message())
    return len(v2c.apiPDU.get_varbinds(v2c.apiMessage.get_pdu(msg)))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--window", type=int, default=8)
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        unit = Unit(name="bench", profile=get_profile("4102"), state_dir=Path(tmp), ports=PortPolicy(mode="auto"),
                    fsync=False)
        unit.config.set("Snmp.EnableSnmpV2", "Enable")
        unit.config.set("Snmp.EnableSnmpV1", "Enable")
        unit.config.set("Snmp.EnableTrap", "Disable")
        engine = SnmpEngine(unit)
        unit.attach(engine)
        await unit.start()
        host, port = unit.listening["snmp"].rsplit(":", 1)
        target = (host, int(port))
        try:
            n, dt, sample = await measure(target, build("get"), args.seconds, args.window)
            assert varbinds_in(sample) == 1
            print(f"snmp_get_rate {n / dt:.0f} requests/s")
            print(f"snmp_get_latency {dt / n * args.window * 1e3:.2f} ms (window {args.window})")
            n, dt, sample = await measure(target, build("bulk", 50), args.seconds, args.window)
            per = varbinds_in(sample)
            print(f"snmp_getbulk_rate {n / dt:.0f} requests/s ({per} varbinds each)")
            print(f"snmp_getbulk_varbinds {n * per / dt:.0f} varbinds/s")
            n, dt, sample = await measure(target, build("get-v1"), args.seconds, args.window)
            print(f"snmp_get_rate_pysnmp {n / dt:.0f} requests/s (SNMPv1: pysnmp/pyasn1 path, for comparison)")
            t0 = time.perf_counter()
            tree = engine.tree
            assert tree is not None
            count = len(tree.instances())
            print(f"oidmap_instances {count} OIDs")
            print(f"oidmap_walk_core {count / (time.perf_counter() - t0):.0f} OIDs/s (pure next, no SNMP)")
        finally:
            await unit.stop()


if __name__ == "__main__":
    asyncio.run(main())

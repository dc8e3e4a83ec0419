"""REGISTER transactions per second through a real Kamailio over TLS, 100 registrations of one unit.

One unit (127.0.0.2) registers ``--endpoints`` accounts (``SipEp.UnitRegistrations`` rows) over its
persistent TLS link from port 16000 to Kamailio (Debian, TLS module, digest without a database);
each registration is a 401 challenge then a 200, i.e. two REGISTER transactions. After the
initial registration, ``--rounds`` rounds re-register every account at once. Prints
``name value unit`` lines.

    .venv/bin/python bench/sip_register.py [--endpoints 100] [--rounds 20]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator.engines.cert.engine import CertEngine  # noqa: E402
from emulator.engines.nlm import NlmEngine  # noqa: E402
from emulator.engines.sipep.engine import SipEpEngine  # noqa: E402
from emulator.runtime.unit import PortPolicy, Unit  # noqa: E402
from firmware_model.profiles import get_profile  # noqa: E402
from testkit.kamailio import start_kamailio  # noqa: E402
from testkit.pki import Pki  # noqa: E402


async def run(endpoints: int, rounds: int, work: Path) -> None:
    pki = Pki("rsa")
    ca = pki.ca("Bench CA")
    crt, key = pki.leaf(ca).write(work, "server")
    users = {f"user{i}": "benchpw" for i in range(1, endpoints + 1)}
    k = start_kamailio(work / "kamailio", crt, key, users, tls_only=True, debug=1)
    unit = Unit(name="bench", profile=get_profile("4102"), state_dir=work / "unit", host="127.0.0.2",
                ports=PortPolicy(mode="auto"), fsync=False)
    try:
        nlm = NlmEngine(unit)
        unit.attach(nlm)
        unit.nlm = nlm
        cert = CertEngine(unit, work / "factory")
        unit.attach(cert)
        unit.cert = cert
        sip = SipEpEngine(unit)
        unit.attach(sip)
        c = unit.config
        c.set("SipEp.TransportConfig[default].TlsEnable", "Enable")
        c.set("SipEp.DefaultStaticRegistrarServerHost", k.tls_address)
        c.set("SipEp.DefaultStaticProxyHomeDomainHost", k.tls_address)
        with c.batch():
            for user in users:
                c.add_row("SipEp.UnitRegistrations", {"Username": user, "GatewayName": "default"})
        c.add_row("SipEp.Authentication", {"Username": "", "Password": "benchpw"})
        await unit.start()
        cert.import_other(ca.pem())
        t0 = time.perf_counter()
        unit.clock.synchronized = True
        while sum(r.state == "Registered" for r in sip.registrations) < endpoints:
            if time.perf_counter() - t0 > 60:
                raise TimeoutError(f"only {sum(r.state == 'Registered' for r in sip.registrations)} registered")
            await asyncio.sleep(0.001)
        initial = time.perf_counter() - t0
        for reg in sip.registrations:  # the refresh loops would interfere with the measure
            if reg.task is not None:
                reg.task.cancel()
        t0 = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(sip.register_once(reg) for reg in sip.registrations))
        elapsed = time.perf_counter() - t0
        ok = sum(r.state == "Registered" for r in sip.registrations)
        transactions = 2 * endpoints * rounds  # a 401 then a 200 each
        print(f"sip_register_initial_{endpoints} {initial:.3f} s")
        print(f"sip_register_transactions_per_s {transactions / elapsed:.0f} tx/s")
        print(f"sip_registrations_per_s {endpoints * rounds / elapsed:.0f} reg/s")
        print(f"sip_register_still_registered {ok} of {endpoints}")
        print(f"sip_register_local_port {sip.links[0].connection.local[1] if sip.links[0].connection else 0} port")
    finally:
        await unit.stop()
        k.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoints", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(run(args.endpoints, args.rounds, Path(d)))


if __name__ == "__main__":
    main()

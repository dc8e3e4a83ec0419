"""TLS handshakes per second of a unit, as server and as client, beside a bare ``ssl`` loop
measured in the same run with the same certificate, version and suite. Prints `name value unit`.

* server: ``openssl s_time -new`` (a real peer in its own process, one handshake after the other)
  against the unit's ``tls_policy(unit, "SipEp").serve(...)`` (plain listener, ``start_tls``,
  context from the parameters), then against ``asyncio.start_server(ssl=ctx)`` with a hand-made
  context;
* client: the unit's ``tls_policy(unit, "SipEp").connect(...)`` (context from the parameters,
  certificate validated at HostName level on the unit clock after the handshake) against
  ``openssl s_server``, then ``asyncio.open_connection(ssl=ctx)`` with OpenSSL verifying the
  same chain and name.

Both at TLS 1.2, ``SipEp.TransportTlsCipherSuite`` = CS3, suite ECDHE-RSA-AES256-GCM-SHA384,
RSA-2048 server key.

    .venv/bin/python bench/tls.py [--seconds 3] [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from emulator.engines.cert.engine import CertEngine  # noqa: E402
from emulator.engines.cert.tls import tls_policy  # noqa: E402
from emulator.runtime.unit import PortPolicy, Unit  # noqa: E402
from firmware_model.certs import (  # noqa: E402
    build_ca_certificate,
    build_host_certificate,
    certificate_pem,
    key_pem,
)
from firmware_model.profiles import get_profile  # noqa: E402

SUITE = "ECDHE-RSA-AES256-GCM-SHA384"


async def _closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def s_time(openssl: str, port: int, seconds: int) -> float:
    proc = await asyncio.create_subprocess_exec(
        openssl, "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds), "-tls1_2",
        "-cipher", SUITE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out = (await proc.communicate())[0].decode()
    m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
    if m is None:
        raise RuntimeError(f"s_time: {out}")
    return int(m.group(1)) / float(m.group(2))


async def client_loop(connect: object, seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _reader, writer = await connect()  # type: ignore[operator]
        writer.close()
        n += 1
    return n / (time.perf_counter() - t0)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=2)
    a = ap.parse_args()
    openssl = shutil.which("openssl")
    if openssl is None:
        sys.exit("bench/tls.py needs the openssl command (Debian package openssl)")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        unit = Unit(name="bench", profile=get_profile("4102"), state_dir=d / "bench", ports=PortPolicy(mode="auto"),
                    fsync=False)
        engine = CertEngine(unit, d)
        unit.attach(engine)
        await unit.start()
        unit.clock.synchronized = True
        c = unit.config
        c.set("SipEp.TransportTlsVersion", "TLSv1_2")
        c.set("SipEp.TransportTlsCipherSuite", "CS3")
        policy = tls_policy(unit, "SipEp")

        # ---- server: the unit's serve() vs a bare asyncio ssl server, same cert and suite
        cert_file, key_file = engine.host_credentials("Sip", "TlsServer")  # type: ignore[misc]
        bare_srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        bare_srv_ctx.minimum_version = bare_srv_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        bare_srv_ctx.set_ciphers(SUITE)
        bare_srv_ctx.load_cert_chain(cert_file, key_file)
        ours = await policy.serve(_closed, 0)
        bare = await asyncio.start_server(_closed, "127.0.0.1", 0, ssl=bare_srv_ctx)
        ours_port, bare_port = (s.sockets[0].getsockname()[1] for s in (ours, bare))
        srv_ours, srv_bare = [], []
        for _ in range(a.runs):
            srv_ours.append(await s_time(openssl, ours_port, a.seconds))
            srv_bare.append(await s_time(openssl, bare_port, a.seconds))
        ours.close()
        bare.close()

        # ---- client: the unit's connect() (validated) vs a bare verifying ssl client, same peer
        now = dt.datetime.now(dt.UTC)
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = build_ca_certificate(ca_key, "bench CA", now)
        srv_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        srv = build_host_certificate(ca, ca_key, srv_key, "127.0.0.1", ["127.0.0.1"], [], now)
        (d / "ca.pem").write_bytes(certificate_pem([ca]))
        (d / "srv.pem").write_bytes(certificate_pem([srv]))
        (d / "srv.key").write_bytes(key_pem(srv_key))
        os.chmod(d / "srv.key", 0o600)
        engine.import_other(certificate_pem([ca]))
        port = _free_port()
        peer = subprocess.Popen(
            [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(d / "srv.pem"), "-key",
             str(d / "srv.key"), "-quiet", "-cipher", SUITE],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            await _wait_port(port)
            bare_cli_ctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
            bare_cli_ctx.minimum_version = bare_cli_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            bare_cli_ctx.set_ciphers(SUITE)

            def ours_connect() -> object:
                return policy.connect("127.0.0.1", port)

            def bare_connect() -> object:
                return asyncio.open_connection("127.0.0.1", port, ssl=bare_cli_ctx, local_addr=("127.0.0.1", 0))

            cli_ours, cli_bare = [], []
            for _ in range(a.runs):
                cli_ours.append(await client_loop(ours_connect, a.seconds))
                cli_bare.append(await client_loop(bare_connect, a.seconds))
        finally:
            peer.terminate()
            peer.wait(timeout=5)
        await unit.stop()

    so, sb = statistics.median(srv_ours), statistics.median(srv_bare)
    co, cb = statistics.median(cli_ours), statistics.median(cli_bare)
    print(f"# {ssl.OPENSSL_VERSION}; TLS 1.2 {SUITE}; RSA-2048; {os.cpu_count()} CPU; {a.runs}x{a.seconds}s medians")
    print(f"tls_server_handshakes_unit {so:.0f} handshakes/s")
    print(f"tls_server_handshakes_bare_ssl {sb:.0f} handshakes/s")
    print(f"tls_server_ratio {so / sb:.2f} x")
    print(f"tls_client_handshakes_unit {co:.0f} handshakes/s")
    print(f"tls_client_handshakes_bare_ssl {cb:.0f} handshakes/s")
    print(f"tls_client_ratio {co / cb:.2f} x")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        w.close()
        return
    raise TimeoutError(f"s_server on {port} not ready")


if __name__ == "__main__":
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    asyncio.run(main())

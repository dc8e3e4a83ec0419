"""The ``dgw-emulator`` command (started by :mod:`emulator.__main__`): run one unit, or a lab of units in one
process or in worker processes.

    dgw-emulator run [--profile 4102|C740|3621] [--state-dir DIR] [--ready-file FILE] [--lab FILE]
                     [--slice K/N] [--workers N] [--name NAME] [--host 127.0.0.1] [--port-mode hardware|auto]
                     [--api-port 8000] [--dhcp-interface IFACE]
    dgw-emulator crypt encrypt|decrypt --key HEX IN OUT
    dgw-emulator mfp build --version V [--name N] [--profile P] [--product P]... [--payload F] [--key PEM] OUT
    dgw-emulator mfp show FILE [--product P]
    dgw-emulator parameters [--markdown]      (what the emulator does with each parameter; docs/parameters.md)

``--dhcp-interface`` runs a DHCP client on that interface only (a container's or a network namespace's; none
runs by default): its lease gives TR-069 the ACS URL of option 43 and "Automatic" SNTP the servers of option 42.

A lab runs in ``--workers`` processes (default: one per core, never more than its units) under a supervisor:
shared-nothing, each worker runs its share of the units exactly as a one-process lab does
(:mod:`emulator.fleet`). ``--workers 1`` keeps every unit in this process. ``--slice K/N`` runs the K-th of N
contiguous shares of the lab's units only (a Kubernetes pod its share, from its index); ``--host`` given with a
lab puts every unit on that address (the pod's).

Once every face listens, FILE (if given) is written atomically with
``{"units": [{"name", "profile", "api", "ssh", ...}]}`` (faces not running are omitted), and written again
whenever a face opens, moves or closes. The faces slow to start (SSH, the web pages) listen by then and serve a
moment later: they are listed under ``coming_up`` until they do (:mod:`emulator.fleet.late`). A FILE left by an
earlier process is removed first of all (:mod:`emulator.__main__`). SIGTERM or SIGINT stops every unit cleanly, at
any moment (a second one ends the process at once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from emulator.fleet.logs import DETAIL
from emulator.fleet.run import install_stop_signals, run_units
from emulator.labfile import LabError, load_lab, parse_slice, specs_from_lab
from emulator.runtime.logging import LOG_FORMATS, configure_logging
from emulator.runtime.spec import DEFAULT_API_PORT, UnitSpec
from firmware_model.profiles import PROFILES
from firmware_model.store import atomic_write

__all__ = ["run_command", "run_units"]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dgw-emulator", description="Media5 Mediatrix DGW unit emulator")
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run one unit, or a lab of units, until SIGTERM")
    run.add_argument("--profile", default="4102", help=f"unit model: {', '.join(PROFILES)} (default 4102)")
    run.add_argument("--name", default="unit1", help="unit name (state folder name; default unit1)")
    run.add_argument("--state-dir", type=Path, default=Path("state"), help="folder holding each unit's state")
    run.add_argument("--ready-file", type=Path, help="write the listening addresses here once ready (JSON)")
    run.add_argument("--lab", type=Path, help="lab file (TOML or JSON) describing several units")
    run.add_argument(
        "--slice", metavar="K/N",
        help="with --lab: run only the K-th (from 0) of N contiguous shares of the lab's units, e.g. a pod's "
             "share from its index (names and addresses stay those of the whole lab)",
    )
    run.add_argument(
        "--host",
        help="address every socket of the unit binds to (default 127.0.0.1); with --lab: every unit's address, "
             "the lab's own ones ignored (one pod address: the units need different ports)",
    )
    run.add_argument(
        "--port-mode", choices=("hardware", "auto"), default="hardware",
        help="hardware: ports from the parameters (privileged ones +10000 when not permitted); auto: kernel-chosen",
    )
    run.add_argument("--api-port", type=int, default=DEFAULT_API_PORT, help="HTTP control API port (default 8000)")
    run.add_argument(
        "--assume-time-synchronized", action="store_true",
        help="treat the host clock as SNTP-synchronised from boot (the hardware boots unsynchronised)",
    )
    run.add_argument(
        "--dhcp-interface", metavar="IFACE",
        help="run a DHCP client on this interface only (container or network namespace; none by default): "
             "option 43 gives the TR-069 ACS URL, option 42 the SNTP servers",
    )
    run.add_argument("--no-fsync", action="store_true", help="skip fsync on configuration writes (faster, less safe)")
    run.add_argument(
        "--workers", type=int, metavar="N",
        help="worker processes for a lab (default: one per core, at most one per unit; 1: every unit in this "
             "process)",
    )
    run.add_argument(
        "--metrics-port", type=int, metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (worker k of a lab: PORT + k; 0: the kernel "
             "chooses; the ready file lists them); none by default",
    )
    run.add_argument("--metrics-host", default="127.0.0.1", help="address of the metrics endpoint (127.0.0.1)")
    _log_options(run)
    _file_tools(sub)
    worker = sub.add_parser("worker", help="(internal) one worker process of a lab, started by the supervisor")
    worker.add_argument("--control-fd", type=int, required=True, help="pipe to tell the supervisor about units")
    _log_options(worker)
    return ap


def _file_tools(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``crypt`` (encrypted scripts, firmware_model.crypt) and ``mfp`` (firmware packs, firmware_model.mfp)."""
    crypt = sub.add_parser("crypt", help="encrypt or decrypt a configuration script or image (emulator format)")
    crypt.add_argument("action", choices=("encrypt", "decrypt"))
    crypt.add_argument("--key", required=True, help="hexadecimal key, as Conf.ScriptsSecretKey holds it")
    crypt.add_argument("input", type=Path)
    crypt.add_argument("output", type=Path)
    mfp = sub.add_parser("mfp", help="build or check a firmware pack (emulator MFP format)")
    mfp_sub = mfp.add_subparsers(dest="mfp_cmd", required=True)
    build = mfp_sub.add_parser("build", help="write a signed firmware pack")
    build.add_argument("--version", required=True, help="firmware version, e.g. 49.12.3001 (Fpu MfpVersion)")
    build.add_argument("--name", help="MfpName (default: DGW <version>)")
    build.add_argument("--profile", default="SIP", help="MfpProfileName (default SIP)")
    build.add_argument("--product", action="append", default=[], help="a product it installs on, e.g. "
                       "'Mediatrix 4102' (repeat; default: every emulated model)")
    build.add_argument("--payload", type=Path, help="the firmware image bytes (default: none)")
    build.add_argument("--key", type=Path, help="PEM Ed25519 private key (default: the emulator's signing key)")
    build.add_argument("--unsigned", action="store_true", help="leave the signature out (a pack units refuse)")
    build.add_argument("output", type=Path)
    show = mfp_sub.add_parser("show", help="check a pack as a unit does and print its manifest")
    show.add_argument("input", type=Path)
    show.add_argument("--product", help="check it installs on this product")
    params = sub.add_parser("parameters", help="print how the emulator treats each parameter (behaviour map)")
    params.add_argument("--markdown", action="store_true",
                        help="the page docs/parameters.md (default: one 'name<TAB>class' line per parameter)")


def _run_file_tool(args: argparse.Namespace) -> int:
    # The file tools' modules (cryptography's key loading among them) load only for them: `run` starts faster.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from firmware_model.crypt import CryptError, decrypt, encrypt
    from firmware_model.mfp import Manifest, MfpError, build_mfp, read_mfp

    try:
        if args.cmd == "crypt":
            data = args.input.read_bytes()
            out = encrypt(data, args.key) if args.action == "encrypt" else decrypt(data, args.key)
            atomic_write(args.output, out, mode=0o600)
        elif args.mfp_cmd == "build":
            key = None
            if args.key is not None:
                loaded = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
                if not isinstance(loaded, Ed25519PrivateKey):
                    raise ValueError(f"{args.key}: not an Ed25519 private key")
                key = loaded
            products = tuple(args.product) or tuple(p.product for p in PROFILES.values())
            manifest = Manifest(args.name or f"DGW {args.version}", args.version, args.profile, products)
            payload = args.payload.read_bytes() if args.payload else b""
            atomic_write(args.output, build_mfp(manifest, payload, key, signed=not args.unsigned), mode=0o644)
        else:
            m, payload = read_mfp(args.input.read_bytes(), product=args.product)
            print(json.dumps({"name": m.name, "version": m.version, "profile": m.profile,
                              "products": list(m.products), "payload_bytes": len(payload)}, indent=1))
    except (CryptError, MfpError, OSError, ValueError) as e:
        print(f"dgw-emulator {args.cmd}: {e}", file=sys.stderr)
        return 1
    return 0


def _log_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-level", default="info", help="debug shows every event of every unit (default info)")
    p.add_argument(
        "--log-format", choices=LOG_FORMATS, default="auto",
        help="console: lines for a person, the unit first; json: one JSON object per line; auto (default): "
             "console on a terminal, json otherwise",
    )


def _specs(args: argparse.Namespace) -> list[UnitSpec]:
    if args.slice and not args.lab:
        raise LabError("--slice takes a share of a lab: give --lab FILE")
    if args.lab:
        part = parse_slice(args.slice) if args.slice else None
        specs = specs_from_lab(load_lab(args.lab), args.state_dir, args.port_mode, fsync=not args.no_fsync,
                               base_dir=Path(args.lab).parent, part=part, host=args.host)
        if args.assume_time_synchronized:
            for s in specs:
                s.assume_time_synchronized = True
        if args.dhcp_interface:
            if len(specs) != 1:
                raise LabError("--dhcp-interface names one unit's interface; set dhcp_interface per unit "
                               "in the lab file")
            specs[0].dhcp_interface = args.dhcp_interface
        return specs
    if args.profile.upper() not in {p.upper() for p in PROFILES}:
        raise LabError(f"unknown profile {args.profile!r}; known: {', '.join(PROFILES)}")
    return [
        UnitSpec(
            name=args.name, profile=args.profile, host=args.host or "127.0.0.1", state_dir=args.state_dir / args.name,
            api_port=args.api_port, port_mode=args.port_mode, fsync=not args.no_fsync,
            assume_time_synchronized=args.assume_time_synchronized,
            dhcp_interface=args.dhcp_interface or None,
        )
    ]


def _install_uvloop() -> None:
    try:
        import uvloop  # optional speed-up

        uvloop.install()
    except ImportError:
        pass


def run_command(argv: list[str] | None = None, started_at: float | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd in ("crypt", "mfp"):
        return _run_file_tool(args)
    if args.cmd == "parameters":
        from firmware_model.behaviour import load_behaviour, markdown

        behaviour = load_behaviour()
        if args.markdown:
            sys.stdout.write(markdown(behaviour))
        else:
            names = [*behaviour.catalog.params, *behaviour.commands]
            sys.stdout.write("".join(f"{n}\t{behaviour.of(n)}\n" for n in names))
        return 0
    if args.log_format == "auto":  # decided once, here: the workers write to the same stdout
        args.log_format = "console" if sys.stdout.isatty() else "json"
    DETAIL.verbose = args.log_level.lower() == "debug"
    configure_logging(args.log_level, fmt=args.log_format, processors=[DETAIL])
    t0 = time.monotonic() if started_at is None else started_at
    if args.cmd == "worker":
        return _worker(args, t0)
    return _run(args, t0)


def _run(args: argparse.Namespace, t0: float) -> int:
    try:
        specs = _specs(args)
    except (LabError, OSError) as e:
        print(f"dgw-emulator: {e}", file=sys.stderr)
        return 2
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        print("dgw-emulator: --workers must be 1 or more", file=sys.stderr)
        return 2
    DETAIL.units = len(specs)
    metrics = (args.metrics_host, args.metrics_port) if args.metrics_port is not None else None
    if min(workers, len(specs)) > 1:
        from emulator.fleet.supervisor import Supervisor

        worker_args = ["--log-level", args.log_level, "--log-format", args.log_format]

        async def _supervise() -> int:
            stop = asyncio.Event()
            return await Supervisor(specs, workers, args.ready_file, worker_args, t0, metrics).run(stop)

        return asyncio.run(_supervise())
    _install_uvloop()

    async def _main() -> int:
        stop = asyncio.Event()
        install_stop_signals(stop)
        return await run_units(specs, args.ready_file, stop, t0, metrics)

    return asyncio.run(_main())


def _worker(args: argparse.Namespace, t0: float) -> int:
    from emulator.fleet.worker import run_worker

    _install_uvloop()
    return asyncio.run(run_worker(args.control_fd, t0))

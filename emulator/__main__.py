"""``dgw-emulator`` command: run one unit or a lab of units in one process.

    dgw-emulator run [--profile 4102|C740|3621] [--state-dir DIR] [--ready-file FILE] [--lab FILE]
                     [--name NAME] [--host 127.0.0.1] [--port-mode hardware|auto] [--api-port 8000]
                     [--dhcp-interface IFACE]

``--dhcp-interface`` runs a DHCP client on that interface only (a container's or a network namespace's; none
runs by default): its lease gives TR-069 the ACS URL of option 43 and "Automatic" SNTP the servers of option 42.

Once every face listens, FILE (if given) is written atomically with
``{"units": [{"name", "profile", "api", "ssh", ...}]}`` (faces not running are omitted).
SIGTERM or SIGINT stops every unit cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import structlog

from emulator.lab import DEFAULT_API_PORT, LabError, RunningUnit, UnitSpec, build_unit, load_lab, specs_from_lab
from emulator.runtime.logging import configure_logging
from firmware_model.profiles import PROFILES
from firmware_model.store import atomic_write

__all__ = ["main", "run_units"]

T0 = time.monotonic()


async def run_units(specs: list[UnitSpec], ready_file: Path | None, stop: asyncio.Event) -> int:
    units: list[RunningUnit] = [build_unit(s) for s in specs]
    log = structlog.get_logger("dgw")
    try:
        # Units start concurrently; each binds only its own address.
        await asyncio.gather(*(u.start() for u in units))
        entries = [u.ready_entry() for u in units]
        if ready_file is not None:
            atomic_write(Path(ready_file), json.dumps({"units": entries}, indent=1).encode(), mode=0o644)
        for e in entries:
            faces = ", ".join(f"{k} {v}" for k, v in e.items() if k not in ("name", "profile"))
            print(f"unit {e['name']} ({e['profile']}): {faces}", file=sys.stderr, flush=True)
        log.info("ready", units=len(units), seconds=round(time.monotonic() - T0, 3))
        await stop.wait()
    finally:
        await asyncio.gather(*(u.stop() for u in units), return_exceptions=True)
        log.info("stopped", units=len(units))
    return 0


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dgw-emulator", description="Media5 Mediatrix DGW unit emulator")
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run one unit, or a lab of units, until SIGTERM")
    run.add_argument("--profile", default="4102", help=f"unit model: {', '.join(PROFILES)} (default 4102)")
    run.add_argument("--name", default="unit1", help="unit name (state folder name; default unit1)")
    run.add_argument("--state-dir", type=Path, default=Path("state"), help="folder holding each unit's state")
    run.add_argument("--ready-file", type=Path, help="write the listening addresses here once ready (JSON)")
    run.add_argument("--lab", type=Path, help="lab file (TOML or JSON) describing several units")
    run.add_argument("--host", default="127.0.0.1", help="address every socket of the unit binds to")
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
    run.add_argument("--log-level", default="info")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        if args.lab:
            specs = specs_from_lab(load_lab(args.lab), args.state_dir, args.port_mode, fsync=not args.no_fsync)
            if args.assume_time_synchronized:
                for s in specs:
                    s.assume_time_synchronized = True
            if args.dhcp_interface:
                if len(specs) != 1:
                    raise LabError("--dhcp-interface names one unit's interface; set dhcp_interface per unit "
                                   "in the lab file")
                specs[0].dhcp_interface = args.dhcp_interface
        else:
            if args.profile.upper() not in {p.upper() for p in PROFILES}:
                raise LabError(f"unknown profile {args.profile!r}; known: {', '.join(PROFILES)}")
            specs = [
                UnitSpec(
                    name=args.name, profile=args.profile, host=args.host, state_dir=args.state_dir / args.name,
                    api_port=args.api_port, port_mode=args.port_mode, fsync=not args.no_fsync,
                    assume_time_synchronized=args.assume_time_synchronized,
                    dhcp_interface=args.dhcp_interface or None,
                )
            ]
    except (LabError, OSError) as e:
        print(f"dgw-emulator: {e}", file=sys.stderr)
        return 2
    try:
        import uvloop  # optional speed-up

        uvloop.install()
    except ImportError:
        pass

    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_units(specs, args.ready_file, stop)

    return asyncio.run(_main())


if __name__ == "__main__":
    sys.exit(main())

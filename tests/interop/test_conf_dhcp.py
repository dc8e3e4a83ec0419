"""Configuration scripts named by DHCP: dnsmasq in a network namespace hands out options 66/67, or sub-options 66/67
of option 43, in each ``Conf.ScriptsDhcpOptionsFormat`` form; a unit process in the other namespace (``--dhcp-
interface``) fetches the script from an HTTP server in the server namespace and runs it once; started again on the
same state with ``ScriptsAllowRepeatedExecution`` off, it fetches the same script and skips it (or runs both again
when options 66 and 67 both name one, as the vendor documents).

The namespaces, dnsmasq and the unit process are those of tests/interop/test_dhcp_netns.py (its ``netns`` fixture
and helpers); the script server is testkit's small HTTP file server on a socket opened inside the server namespace.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from testkit.http_files import FileServer, serve_files
from tests.interop.netns import NetnsPair, lab_file, log_events, server_listener, start_dnsmasq, start_unit, wait_ready

pytestmark = pytest.mark.peer

SCRIPT_A = b"Cli.InactivityTimeOut = 37\n"
SCRIPT_B = b"Cli.WelcomeMessage = from option 67\n"


@pytest.fixture
async def scripts(netns: NetnsPair) -> AsyncIterator[FileServer]:
    async with serve_files(sock=server_listener(netns, 80)) as server:
        server.files.update({"a.cfg": SCRIPT_A, "b.cfg": SCRIPT_B, "prov/cfg/generic.cfg": SCRIPT_A})
        yield server


def lab(tmp: Path, pair: NetnsPair, settings: str) -> Path:
    return lab_file(pair, tmp, f"Conf.MinSeverity = Info\nConf.ScriptsAllowRepeatedExecution = Disable\n{settings}")


async def conf_notes(log: Path, want: set[int], total: int = 0, timeout: float = 30.0) -> list[int]:
    """The Conf notification ids 9010+ the unit logged, once every id of ``want`` is among them (and ``total``)."""
    deadline = time.monotonic() + timeout
    while True:
        ids = [int(e["msg_id"]) for e in log_events(log, "notification")
               if e.get("service") == "Conf" and int(e["msg_id"]) >= 9010]
        if (want <= set(ids) and len(ids) >= total) or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.2)


FORMS = {
    # form: (dnsmasq options, Conf settings, paths fetched in order)
    "FullyQualified": (lambda ip: [f"--dhcp-option=66,Script=http://{ip}/a.cfg",
                                   f"--dhcp-option=67,Script=http://{ip}/b.cfg"],
                       "Conf.ScriptsDhcpOptionsFormat = FullyQualified", ["/a.cfg", "/b.cfg"]),
    "Url": (lambda ip: [f"--dhcp-option=67,http://{ip}/prov/"],
            "Conf.ScriptsDhcpOptionsFormat = Url\nConf.ScriptsLocation = cfg\nConf.ScriptGenericFileName = generic.cfg",
            ["/prov/cfg/generic.cfg"]),
    "ServerHost": (lambda ip: [f"--dhcp-option=66,{ip}"],
                   "Conf.ScriptsDhcpOptionsFormat = ServerHost\nConf.ScriptsTransferProtocol = Http\n"
                   "Conf.ScriptsLocation = prov/cfg\nConf.ScriptGenericFileName = generic.cfg",
                   ["/prov/cfg/generic.cfg"]),
    "AutoDetect-option43": (lambda ip: [f"--dhcp-option=vendor:dslforum.org,66,Script=http://{ip}/a.cfg",
                                        f"--dhcp-option=vendor:dslforum.org,67,http://{ip}/b.cfg"],
                            "", ["/a.cfg", "/b.cfg"]),
}


@pytest.mark.parametrize("form", list(FORMS))
async def test_dhcp_named_script_runs_once(netns: NetnsPair, scripts: FileServer, tmp_path: Path,
                                           form: str) -> None:
    options, settings, paths = FORMS[form]
    start_dnsmasq(netns, tmp_path, *options(netns.srv_ip))
    unit, log = start_unit(netns, tmp_path, "--lab", str(lab(tmp_path, netns, settings)))
    await wait_ready(unit, tmp_path)
    ids = await conf_notes(log, {9013}, total=2 * len(paths))
    assert scripts.hits == paths, (scripts.hits, log.read_text()[-3000:])
    assert ids.count(9013) == len(paths), ids  # each script executed
    bound = log_events(log, "dhcp_bound")
    assert bound and bound[0]["address"] == netns.cpe_ip
    if form not in ("FullyQualified", "Url"):
        return
    # The same unit starts again and DHCP names the same scripts. One script: identical to the last one executed,
    # skipped (repeated execution off). Two (options 66 and 67): the service keeps only the last one executed, so
    # repeated execution "has no effect" (MX-CONF-MIB) and both run again.
    unit.terminate()
    assert unit.wait(20) == 0
    (tmp_path / "ready.json").unlink()
    log.rename(tmp_path / "unit-first.log")
    unit, log = start_unit(netns, tmp_path, "--lab", str(lab(tmp_path, netns, settings)))
    await wait_ready(unit, tmp_path)
    ids = await conf_notes(log, {9015} if len(paths) == 1 else {9013}, total=2 * len(paths))
    await asyncio.sleep(0.5)  # nothing more comes
    ids = await conf_notes(log, set())
    assert scripts.hits == paths + paths, scripts.hits
    assert ids == ([9010, 9015] if len(paths) == 1 else [9010, 9013, 9010, 9013]), ids

"""Fixtures shared by the interop test modules: the SIP lab (a PKI, Kamailio proxies, units — see siplab.py),
rsyslog and sslyze. Each peer is started by the test that needs it and stopped by PID."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from testkit.openssl import SSLYZE_VENV, Sslyze, sslyze_python
from testkit.peers import REQUIRE_PEERS
from testkit.process import stopped_at_exit
from testkit.rsyslog import Rsyslog, start_rsyslog
from tests.interop.baresip_lab import Phone
from tests.interop.netns import NetnsPair, netns_pair
from tests.interop.siplab import Pkis, make_pkis


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> Pkis:
    return make_pkis(tmp_path_factory.mktemp("sip-pki"))


@pytest.fixture
def kamailios() -> Iterator[list[Kamailio]]:
    with stopped_at_exit() as started:
        yield started


@pytest.fixture
async def phones(kamailios: list[Kamailio]) -> AsyncIterator[list[Phone]]:
    """The baresip phones a test starts (tests.interop.baresip_lab); each stops (un-REGISTER, BYE) before the
    proxies do."""
    started: list[Phone] = []
    yield started
    for p in started:
        try:
            await p.ctrl.close()
        finally:
            p.proc.stop()


@pytest.fixture
async def units(tmp_path: Path, pkis: Pkis, kamailios: list[Kamailio]) -> AsyncIterator[list[Unit]]:
    # depends on kamailios: the units stop (and unregister) before the proxies do
    made: list[Unit] = []
    yield made
    for u in made:
        await u.stop()


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    with start_rsyslog(tmp_path_factory.mktemp("rsyslog")) as peer:
        yield peer


@pytest.fixture(scope="session")
def sslyze() -> Iterator[Sslyze]:
    py = sslyze_python()
    if py is None:
        msg = f"real peer sslyze is not installed in {SSLYZE_VENV} and could not be installed there"
        if REQUIRE_PEERS:
            pytest.fail(msg)
        pytest.skip(msg + " [DGW_REQUIRE_PEERS unset]")
    yield Sslyze(py)


@pytest.fixture
def netns() -> Iterator[NetnsPair]:
    """A server and a unit namespace joined by a veth pair (see netns.py), deleted afterwards."""
    with netns_pair() as pair:
        yield pair

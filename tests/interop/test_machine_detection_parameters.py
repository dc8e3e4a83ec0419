"""TelIf machine detection, per interface: a 4102 whose two lines are each in a call with a small SIP peer in front
of libspandsp's T.38 terminal (testkit.spandsp_fax). Both lines' fax machines are armed in the same moment and
their tones are detected (or not) by the same detector on the same schedule, so one line's switch is the proof
that the other line would have switched by then had its settings let it:

* ``TelIf.DefaultMachineDetectionCedToneDetection`` Disable: a receiving machine's CED is not detected, while a
  line whose ``TelIf.SpecificMachineDetection`` row is enabled (``EnableConfig``) with ``CedToneDetection``
  Enable re-INVITEs to T.38 on it.
* A row acts only with ``EnableConfig`` Enable: its ``CngToneDetection`` Disable stops the sender's CNG switch
  there, and the same row disabled leaves the line on the defaults (CNG detected, T.38).
* The row's ``BehaviorOnCedToneDetection`` Faxmode makes its line re-INVITE to T.38 on CED where the default
  (Passthrough) keeps the other line's call in G.711 pass-through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emulator.protocols.sip.transaction import TimerConfig
from emulator.runtime.unit import Unit
from testkit.spandsp_fax import FaxSipPeer, T38Peer, make_page
from tests.interop.siplab import Pkis, endpoint_action, lab_unit, reg_state, sipep, wait_for

pytestmark = pytest.mark.peer

LINES = ("Phone-Fax1", "Phone-Fax2")
ROW = "TelIf.SpecificMachineDetection"


@pytest.fixture
async def peer() -> AsyncIterator[FaxSipPeer]:
    terminal = T38Peer("127.0.0.1")
    sip = await FaxSipPeer(terminal).start()
    yield sip
    sip.close()
    terminal.close()


async def _both_lines_in_calls(units: list[Unit], tmp_path: Path, pkis: Pkis, peer: FaxSipPeer,
                               settings: dict[str, Any]) -> Unit:
    u = await lab_unit(units, tmp_path, pkis, user="alice", registrar=peer.address, key_management="Sdes", tls=False,
                       settings={"Mipt.DefaultSecurityRtpMode": "Unsecure",
                                 "SipEp.UserAgent[Phone-Fax2].Username": "alice2", **settings},
                       timers=TimerConfig(t1=0.1, t2=1.0, t4=1.0, d=1.0))
    await wait_for(lambda: reg_state(u) == "Registered", what="registered to the peer")
    calls = [await sipep(u).calls.dial(line, "fax") for line in LINES]
    await wait_for(lambda: all(c.state == "connected" for c in calls), what="both lines answered")
    fax = Path(u.state_dir) / "fax"
    fax.mkdir(parents=True, exist_ok=True)
    make_page(fax / "page.tif")
    return u


def _job(u: Unit, line: str) -> dict[str, Any]:
    job = endpoint_action(u, "get-fax", endpoint=line)["fax"]
    assert job is not None, line
    return dict(job)


def _switched(u: Unit, line: str) -> list[str]:
    """Mipt 9004 of `line`: how its call switched."""
    return [e.message for e in u.notifications if (e.service, e.msg_id) == ("Mipt", 9004) and line in e.message]


async def _hang_up(u: Unit) -> None:
    for line in LINES:
        await sipep(u).calls.hangup(line)


async def test_ced_detection_off_by_default_on_for_the_enabled_row(units: list[Unit], peer: FaxSipPeer,
                                                                   tmp_path: Path, pkis: Pkis) -> None:
    u = await _both_lines_in_calls(units, tmp_path, pkis, peer, {
        "TelIf.DefaultMachineDetectionCedToneDetection": "Disable",
        "TelIf.DefaultMachineDetectionBehaviorOnCedToneDetection": "Faxmode",
        f"{ROW}[Phone-Fax2].EnableConfig": "Enable",
        f"{ROW}[Phone-Fax2].CedToneDetection": "Enable",
        f"{ROW}[Phone-Fax2].BehaviorOnCedToneDetection": "Faxmode",
    })
    for line in LINES:  # the line that must not detect first: its detector runs no later than the other's
        endpoint_action(u, "fax-receive", endpoint=line, file=f"in-{line}.tif")
    await wait_for(lambda: _job(u, "Phone-Fax2")["state"] == "t38", timeout=10, what="Phone-Fax2 in T.38 on CED")
    assert any("switched to T.38" in m for m in _switched(u, "Phone-Fax2"))
    assert _job(u, "Phone-Fax1")["state"] == "tones" and _switched(u, "Phone-Fax1") == []  # CED undetected
    # the default on again: Phone-Fax1's next machine is detected too
    u.config.set("TelIf.DefaultMachineDetectionCedToneDetection", "Enable")
    endpoint_action(u, "fax-receive", endpoint="Phone-Fax1", file="again.tif")
    await wait_for(lambda: _job(u, "Phone-Fax1")["state"] == "t38", timeout=10, what="Phone-Fax1 in T.38 on CED")
    await _hang_up(u)


async def test_a_row_acts_only_with_enable_config(units: list[Unit], peer: FaxSipPeer, tmp_path: Path,
                                                  pkis: Pkis) -> None:
    """CNG detection on by default; both rows say Disable, only Phone-Fax1's row is enabled."""
    u = await _both_lines_in_calls(units, tmp_path, pkis, peer, {
        f"{ROW}[Phone-Fax1].EnableConfig": "Enable",
        f"{ROW}[Phone-Fax1].CngToneDetection": "Disable",
        f"{ROW}[Phone-Fax2].EnableConfig": "Disable",
        f"{ROW}[Phone-Fax2].CngToneDetection": "Disable",
    })
    for line in LINES:
        endpoint_action(u, "fax-send", endpoint=line, file="page.tif")
    await wait_for(lambda: _job(u, "Phone-Fax2")["state"] == "t38", timeout=10, what="Phone-Fax2 in T.38 on CNG")
    assert any("switched to T.38" in m for m in _switched(u, "Phone-Fax2"))
    assert _job(u, "Phone-Fax1")["state"] == "tones" and _switched(u, "Phone-Fax1") == []  # CNG undetected
    # Phone-Fax1's row disabled: the defaults again, its CNG is detected
    u.config.set(f"{ROW}[Phone-Fax1].EnableConfig", "Disable")
    endpoint_action(u, "fax-send", endpoint="Phone-Fax1", file="page.tif")
    await wait_for(lambda: _job(u, "Phone-Fax1")["state"] == "t38", timeout=10, what="Phone-Fax1 in T.38 on CNG")
    await _hang_up(u)


async def test_the_rows_behaviour_on_ced(units: list[Unit], peer: FaxSipPeer, tmp_path: Path, pkis: Pkis) -> None:
    """Factory default Passthrough; Phone-Fax1's enabled row says Faxmode."""
    u = await _both_lines_in_calls(units, tmp_path, pkis, peer, {
        f"{ROW}[Phone-Fax1].EnableConfig": "Enable",
        f"{ROW}[Phone-Fax1].BehaviorOnCedToneDetection": "Faxmode",
    })
    for line in LINES:
        endpoint_action(u, "fax-receive", endpoint=line, file=f"in-{line}.tif")
    await wait_for(lambda: _job(u, "Phone-Fax1")["state"] == "t38" and _job(u, "Phone-Fax2")["state"] == "passthrough",
                   timeout=10, what="Phone-Fax1 in T.38, Phone-Fax2 in pass-through")
    assert any("switched to T.38" in m for m in _switched(u, "Phone-Fax1"))
    assert any("G.711 pass-through" in m and "CED detected" in m for m in _switched(u, "Phone-Fax2"))
    assert [m for m, body in peer.requests if "m=image" in body] == ["INVITE"]  # one re-INVITE: Phone-Fax1's
    await _hang_up(u)

"""A unit and libspandsp's T.38 terminal, driven from the test (testkit.spandsp_fax: its own ctypes use of the library
and its own UDPTL framing, not the emulator's fax code) behind a small SIP user agent: the terminal receives a page
the unit's fax machine sends (the unit re-INVITEs to T.38 on its machine's CNG), then sends one the unit receives
(the peer re-INVITEs). The pages compare equal pixel for pixel. Garbage sent to the unit's UDPTL port is dropped
and the fax goes on; a 488 to the unit's switch leaves the call up (bad input, end to end)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emulator.protocols.sip.transaction import TimerConfig
from emulator.runtime.unit import Unit
from testkit.spandsp_fax import FaxSipPeer, T38Peer, make_page, same_page
from tests.interop.siplab import Pkis, endpoint_action, lab_unit, reg_state, sipep, wait_for

pytestmark = pytest.mark.peer


@pytest.fixture
async def peers() -> AsyncIterator[list[Any]]:
    started: list[Any] = []
    yield started
    for p in started:
        p.close()


async def _unit_calling(units: list[Unit], peers: list[Any], tmp_path: Path, pkis: Pkis, terminal: T38Peer,
                        refuse: int | None = None) -> tuple[FaxSipPeer, Unit, Any]:
    """The SIP peer of ``terminal`` started (both closed at the end) and a unit registered to it (its registrar
    and proxy), in a call with it."""
    peer = await FaxSipPeer(terminal, refuse=refuse).start()
    peers += [terminal, peer]
    u = await lab_unit(units, tmp_path, pkis, user="alice", registrar=peer.address, key_management="Sdes", tls=False,
                       settings={"Mipt.DefaultSecurityRtpMode": "Unsecure"},
                       timers=TimerConfig(t1=0.1, t2=1.0, t4=1.0, d=1.0))  # Timer B 6.4 s: a loaded machine
    await wait_for(lambda: reg_state(u) == "Registered", what="registered to the peer")
    call = await sipep(u).calls.dial("Phone-Fax1", "fax")
    await wait_for(lambda: call.state == "connected", what="the peer answered")
    return peer, u, call


def _send_page(u: Unit) -> Path:
    """A page made in the unit's fax folder, which its fax machine starts sending; the page's path."""
    (Path(u.state_dir) / "fax").mkdir(parents=True, exist_ok=True)
    page = make_page(Path(u.state_dir) / "fax" / "page.tif")
    endpoint_action(u, "fax-send", file="page.tif")
    return page


def _job(u: Unit) -> Any:
    return endpoint_action(u, "get-fax")["fax"]  # None before any job


async def test_spandsp_receives_a_page_from_the_unit(units: list[Unit], peers: list[Any], tmp_path: Path,
                                                     pkis: Pkis) -> None:
    terminal = T38Peer("127.0.0.1", receive=tmp_path / "received.tif")
    peer, u, _ = await _unit_calling(units, peers, tmp_path, pkis, terminal)
    sent = _send_page(u)
    await wait_for(lambda: terminal.remote is not None, timeout=10, what="the unit's re-INVITE to T.38")
    assert [m for m, body in peer.requests if "m=image" in body] == ["INVITE"]
    assert await terminal.run() == 0
    assert same_page(sent, tmp_path / "received.tif")
    await wait_for(lambda: _job(u)["state"] == "done", timeout=20, what="the unit's job done")
    assert _job(u)["pages"] == 1
    await sipep(u).calls.hangup("Phone-Fax1")


async def test_spandsp_sends_a_page_to_the_unit_through_garbage(units: list[Unit], peers: list[Any], tmp_path: Path,
                                                                pkis: Pkis) -> None:
    page = make_page(tmp_path / "page.tif", stripes=24)
    terminal = T38Peer("127.0.0.1", send=page)
    peer, u, call = await _unit_calling(units, peers, tmp_path, pkis, terminal)
    endpoint_action(u, "fax-receive", file="in.tif")  # CED; BehaviorOnCedToneDetection Passthrough: the peer switches
    assert await peer.switch_to_t38() == 200
    assert terminal.remote is not None
    # garbage at the unit's UDPTL port, from the peer's address: counted, dropped, the fax goes on
    for junk in (b"", b"\x00", b"\xff" * 40, b"\x00\x01\x7f" + b"x" * 10):
        terminal.sock.sendto(junk, terminal.remote)
    assert await terminal.run() == 0
    await wait_for(lambda: _job(u)["state"] in ("done", "failed"), timeout=20, what="job ended")
    fax = endpoint_action(u, "get-fax")
    assert fax["fax"]["state"] == "done" and fax["fax"]["pages"] == 1, fax
    assert fax["udptl"]["malformed"] >= 3, fax["udptl"]
    assert same_page(page, Path(u.state_dir) / "fax" / "in.tif")
    assert call.state == "connected"
    await sipep(u).calls.hangup("Phone-Fax1")


async def test_bad_offers_get_488_or_are_read_past_and_the_call_goes_on(units: list[Unit], peers: list[Any],
                                                                         tmp_path: Path, pkis: Pkis) -> None:
    """Bad input end to end: a re-INVITE with an unknown payload type only gets 488 and the call goes on; one with
    a wrong ptime and malformed a=fmtp lines is answered with G.711; malformed a=T38* lines are read past and
    the switch to T.38 is taken."""
    terminal = T38Peer("127.0.0.1")
    peer, u, call = await _unit_calling(units, peers, tmp_path, pkis, terminal)
    head = "v=0\r\no=- 7 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    peer.version += 10
    unknown = head % peer.version + "m=audio 4100 RTP/AVP 99 3\r\na=rtpmap:99 X-WEIRD/8000\r\n"
    assert await peer.reinvite(unknown) == 488
    assert call.state == "connected"
    peer.version += 1
    odd = (head % peer.version + "m=audio 4100 RTP/AVP 0 18\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=?;;\r\n"
           "a=fmtp:zz\r\na=ptime:-5\r\n")
    assert await peer.reinvite(odd) == 200 and call.state == "connected"
    assert (call.media.stream.codec, call.media.stream.ptime) == ("PCMU", 30)  # ptime -5 ignored: the G.711 range
    assert await peer.switch_to_t38("a=T38FaxVersion:x\r\na=T38MaxBitRate:fast\r\na=T38FaxUdpEC:none\r\n") == 200
    await wait_for(lambda: (_job(u) or {}).get("state") == "t38", what="the unit's fax machine on T.38")
    assert call.state == "connected"
    await sipep(u).calls.hangup("Phone-Fax1")


async def test_a_refused_switch_leaves_the_call_up(units: list[Unit], peers: list[Any], tmp_path: Path,
                                                   pkis: Pkis) -> None:
    """The unit's own T.38 switch refused 488 (UsePreviousMediaNegotiation): the call stays up in pass-through."""
    terminal = T38Peer("127.0.0.1")
    _peer, u, call = await _unit_calling(units, peers, tmp_path, pkis, terminal, refuse=488)
    u.config.set("SipEp.BehaviorOnT38InviteNotAccepted[488].Behavior", "UsePreviousMediaNegotiation")
    _send_page(u)
    await wait_for(lambda: _job(u)["state"] == "passthrough", timeout=10, what="pass-through")
    await asyncio.sleep(0.3)
    assert call.state == "connected"
    await sipep(u).calls.hangup("Phone-Fax1")


async def test_machine_detection_settings_decide_who_switches(units: list[Unit], peers: list[Any], tmp_path: Path,
                                                              pkis: Pkis) -> None:
    """TelIf: with CNG detection off the sender's CNG plays but the unit does not switch; a receiver's CED with
    BehaviorOnCedToneDetection Faxmode makes the unit re-INVITE to T.38 (Passthrough, the factory value, does not:
    the other tests)."""
    terminal = T38Peer("127.0.0.1")
    _peer, u, _ = await _unit_calling(units, peers, tmp_path, pkis, terminal)
    u.config.set("TelIf.DefaultMachineDetectionCngToneDetection", "Disable")
    _send_page(u)
    await asyncio.sleep(1.5)  # CNG is recognised within 0.5 s when detection is on
    assert _job(u)["state"] == "tones" and terminal.remote is None
    u.config.set("TelIf.DefaultMachineDetectionBehaviorOnCedToneDetection", "Faxmode")
    endpoint_action(u, "fax-receive", file="in.tif")
    await wait_for(lambda: terminal.remote is not None, timeout=10, what="the unit's re-INVITE on CED")
    assert _job(u)["state"] == "t38" and _job(u)["mode"] == "receive"
    await sipep(u).calls.hangup("Phone-Fax1")
    await wait_for(lambda: _job(u)["state"] == "failed", what="the job ends with the call")

"""PRACK, UPDATE and session timers against a peer that has none of them: Debian's baresip 1.0.0 (libre 1.1) knows
neither 100rel (RFC 3262) nor UPDATE (RFC 3311) nor session timers (RFC 4028). Through a real Kamailio over TLS
(tests.interop.baresip_lab):

* ``SipEp.UacPrackSupport`` Supported: the unit's INVITE lists 100rel in Supported, baresip rings and answers
  unreliably, and the call completes with no PRACK on the wire (the proxy's log).
* ``UacPrackSupport`` Required: the unit's INVITE requires 100rel and baresip refuses it (what it really answers
  is asserted: 420 Bad Extension, which the unit ACKs); no call.
* Session timers with ``SessionRefreshRequestMethod`` Update: baresip's 200 OK has no Session-Expires (the unit is
  the refresher) and its Allow lacks UPDATE, so the unit refreshes by re-INVITE; the call stays up through several
  refreshes and no UPDATE crosses the proxy. Session time is compressed in the unit (``time_scale``, as in
  test_sip_extensions): the wire says 180 s, the unit refreshes every 2 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from tests.interop.baresip_lab import BARESIP_USER, Lab, Phone, baresip_pkis, start_lab
from tests.interop.siplab import Pkis, sipep, wait_for

pytestmark = pytest.mark.peer

EP = "Phone-Fax1"
SCALE = 45.0


@pytest.fixture(scope="module")
def pkis(tmp_path_factory: pytest.TempPathFactory) -> Pkis:
    return baresip_pkis(tmp_path_factory)


@pytest.fixture
async def lab(tmp_path: Path, pkis: Pkis, kamailios: list[Kamailio], units: list[Unit], phones: list[Phone]) -> Lab:
    return await start_lab(tmp_path, pkis, kamailios, units, phones)


def requests(lab: Lab, method: str) -> int:
    """How many `method` requests to baresip the proxy relayed (its request log; in the dialog the Request-URI is
    baresip's Contact, ``sip:baresip-0x...@``)."""
    return lab.kamailio.log().count(f"REQ {method} sip:{BARESIP_USER}")


async def test_uac_prack_supported_calls_baresip_without_prack(lab: Lab) -> None:
    lab.unit.config.set("SipEp.UacPrackSupport", "Supported")
    ctrl = lab.phone.ctrl
    since = len(ctrl.events)
    call = await lab.calls.dial(EP, BARESIP_USER)
    await ctrl.wait_event("CALL_ESTABLISHED", since=since, timeout=8)
    await wait_for(lambda: call.state == "connected", what=f"the call connected{lab.log()}")
    assert call.invite is not None and "100rel" in ",".join(call.invite.headers.get_all("Supported"))
    assert "100rel" not in ",".join(call.invite.headers.get_all("Require"))
    assert requests(lab, "PRACK") == 0 and requests(lab, "INVITE") == 1
    await lab.calls.hangup(EP)
    await ctrl.wait_event("CALL_CLOSED", since=since, timeout=5)


async def test_uac_prack_required_is_refused_by_baresip(lab: Lab) -> None:
    lab.unit.config.set("SipEp.UacPrackSupport", "Required")
    ctrl = lab.phone.ctrl
    since = len(ctrl.events)
    call = await lab.calls.dial(EP, BARESIP_USER)
    await wait_for(lambda: call.state == "ended", what=f"the INVITE refused{lab.log()}")
    assert call.invite is not None and "100rel" in ",".join(call.invite.headers.get_all("Require"))
    assert call.status == 420, (call.row(), lab.log())
    assert "CALL_ESTABLISHED" not in [e.get("type") for e in ctrl.events[since:]]
    assert requests(lab, "PRACK") == 0 and requests(lab, "ACK") == 1  # the 420 ACKed by the unit


async def test_session_refresh_to_baresip_goes_by_reinvite(lab: Lab) -> None:
    u = lab.unit
    for name, value in (("SipEp.DefaultSessionTimerEnable", "Enable"),
                        ("SipEp.DefaultSessionTimerMinimumExpirationDelay", "180"),
                        ("SipEp.DefaultSessionTimerMaximumExpirationDelay", "180"),
                        ("SipEp.SessionRefreshRequestMethod", "Update")):
        u.config.set(name, value)
    timers = sipep(u).calls.session_timers
    timers.time_scale = SCALE
    ctrl = lab.phone.ctrl
    since = len(ctrl.events)
    call = await lab.calls.dial(EP, BARESIP_USER)
    await ctrl.wait_event("CALL_ESTABLISHED", since=since, timeout=8)
    await wait_for(lambda: call.state == "connected", what="the call connected")
    assert call.invite is not None and call.invite.headers.get("Session-Expires") == "180"
    assert not timers.peer_allows(call, "UPDATE")  # baresip's Allow
    assert timers.state(call) == {"interval": 180, "refresher": "us"}, timers.state(call)
    try:
        await wait_for(lambda: requests(lab, "INVITE") >= 3, timeout=12, what="two refreshes by re-INVITE")
    except AssertionError as exc:
        relayed = "\n".join(line for line in lab.kamailio.log().splitlines() if "REQ " in line)
        raise AssertionError(f"{exc}; the proxy relayed:\n{relayed}{lab.log()}") from None
    assert call.state == "connected" and requests(lab, "UPDATE") == 0
    assert "CALL_CLOSED" not in [e.get("type") for e in ctrl.events[since:]]
    await lab.calls.hangup(EP)
    await ctrl.wait_event("CALL_CLOSED", since=since, timeout=5)

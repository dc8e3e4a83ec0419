"""SIP extensions against real peers: session timers (RFC 4028), UPDATE (RFC 3311) and PRACK (RFC 3262) between two
units through Kamailio over TLS, and a SIPp caller that never refreshes its session.

Session time is compressed in the units (``SessionTimers.time_scale``, as the fast SIP timers compress RFC 3261's):
the wire carries the configured intervals (180 s, the least SipEp accepts), the units act 45 times faster (a
refresh every 2 s, an expiry 3.3 s after the last one: margin for a loaded machine).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from testkit.peers import require_peer
from tests.interop.siplab import Pkis, kamailio, make_unit, reg_state, sipep, wait_for

pytestmark = pytest.mark.peer

EP = "Phone-Fax1"
SCALE = 45.0


def timer_settings(min_se: int = 180, max_se: int = 180, method: str = "ReInvite") -> dict[str, str]:
    return {"SipEp.DefaultSessionTimerEnable": "Enable",
            "SipEp.DefaultSessionTimerMinimumExpirationDelay": str(min_se),
            "SipEp.DefaultSessionTimerMaximumExpirationDelay": str(max_se),
            "SipEp.SessionRefreshRequestMethod": method}


async def two_units(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis,
                    settings_a: dict[str, str], settings_b: dict[str, str]) -> tuple[Kamailio, Unit, Unit]:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    a = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address, settings=settings_a)
    b = await make_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address, settings=settings_b)
    for u in (a, b):
        sipep(u).calls.session_timers.time_scale = SCALE
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    return k, a, b


async def connect(a: Unit, b: Unit) -> tuple[object, object]:
    ca, cb = sipep(a).calls, sipep(b).calls
    call = await ca.dial(EP, "bob")
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="B ringing")
    incoming = cb.current(EP)
    assert incoming is not None
    await cb.answer(EP)
    await wait_for(lambda: call.state == "connected" and incoming.acked.is_set(), what="connected and ACKed")
    return call, incoming


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["ReInvite", "Update"])
async def test_session_refreshed_through_kamailio_keeps_the_call(units: list[Unit], kamailios: list[Kamailio],
                                                                 tmp_path: Path, pkis: Pkis, method: str) -> None:
    k, a, b = await two_units(units, kamailios, tmp_path, pkis, timer_settings(method=method), timer_settings())
    call, incoming = await connect(a, b)
    ta, tb = sipep(a).calls.session_timers, sipep(b).calls.session_timers
    # the caller offered timer; the callee let it refresh (refresher=uac, Require: timer)
    assert ta.state(call) == {"interval": 180, "refresher": "us"}  # type: ignore[arg-type]
    assert tb.state(incoming) == {"interval": 180, "refresher": "them"}  # type: ignore[arg-type]
    verb = "UPDATE" if method == "Update" else "INVITE"
    pattern = re.compile(rf"REQ {verb} sip:bob@{re.escape(b.host)}\S* from {re.escape(a.host)}:16000 proto=tls")

    # Three refreshes: past the callee's expiry point (180 - 32 s after the last refresh) several times over
    await wait_for(lambda: len(pattern.findall(k.log())) >= 3, timeout=20, what=f"three {verb} refreshes")
    assert call.state == "connected" and incoming.state == "connected"  # type: ignore[attr-defined]
    assert tb.state(incoming) == {"interval": 180, "refresher": "them"}  # type: ignore[arg-type]
    await sipep(a).calls.hangup(EP)
    await wait_for(lambda: incoming.state == "ended", what="B ended")  # type: ignore[attr-defined]
    assert incoming.end_reason == "remote hangup"  # type: ignore[attr-defined]


async def test_422_raises_the_interval_to_the_callee_min_se(units: list[Unit], kamailios: list[Kamailio],
                                                            tmp_path: Path, pkis: Pkis) -> None:
    _, a, b = await two_units(units, kamailios, tmp_path, pkis, timer_settings(),
                              timer_settings(min_se=600, max_se=900))
    call, incoming = await connect(a, b)
    assert sipep(a).calls.session_timers.state(call) == {"interval": 600, "refresher": "us"}  # type: ignore[arg-type]
    assert sipep(b).calls.session_timers.state(incoming) == \
        {"interval": 600, "refresher": "them"}  # type: ignore[arg-type]
    assert call.invite is not None and call.invite.cseq.seq == 2  # type: ignore[attr-defined]
    assert call.invite.headers.get("Session-Expires") == "600"  # type: ignore[attr-defined]
    assert call.invite.headers.get("Min-SE") == "600"  # type: ignore[attr-defined]


async def test_update_with_sdp_changes_the_media_mid_call(units: list[Unit], kamailios: list[Kamailio],
                                                          tmp_path: Path, pkis: Pkis) -> None:
    k, a, b = await two_units(units, kamailios, tmp_path, pkis, timer_settings(), timer_settings())
    call, incoming = await connect(a, b)
    call.local_hold = True  # type: ignore[attr-defined]
    status = await sipep(a).calls.session_timers.update(call, sdp=True)  # type: ignore[arg-type]
    assert status == 200
    assert incoming.remote_hold and b"a=inactive" in call.remote_sdp  # type: ignore[attr-defined]
    assert "REQ UPDATE sip:bob@" in k.log()


# ---------------------------------------------------------------------------------------------------------------
async def test_reliable_ringing_is_pracked_through_kamailio(units: list[Unit], kamailios: list[Kamailio],
                                                            tmp_path: Path, pkis: Pkis) -> None:
    k, a, b = await two_units(units, kamailios, tmp_path, pkis, {"SipEp.UacPrackSupport": "Supported"},
                              {"SipEp.UasPrackSupport": "Supported"})
    ca, cb = sipep(a).calls, sipep(b).calls
    call = await ca.dial(EP, "bob")
    assert call.invite is not None and "100rel" in call.invite.headers.get_all("Supported")
    await wait_for(lambda: call.state == "alerting", what="A alerted by the reliable 180")
    incoming = cb.current(EP)
    assert incoming is not None
    await wait_for(lambda: not cb.prack.unacknowledged(incoming), what="B's 180 acknowledged")
    racks = ca.prack.pracks_sent[call]
    assert len(racks) == 1 and racks[0].endswith(" 1 INVITE")  # RAck: <B's RSeq> <the INVITE's CSeq> INVITE
    assert re.search(rf"REQ PRACK sip:bob@{re.escape(b.host)}\S* from {re.escape(a.host)}:16000 proto=tls", k.log())
    await cb.answer(EP)
    await wait_for(lambda: call.state == "connected" and incoming.acked.is_set(), what="connected")
    await ca.hangup(EP)
    await wait_for(lambda: incoming.state == "ended", what="B ended")


async def test_unreliable_ringing_when_the_callee_does_not_support_100rel(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    k, a, b = await two_units(units, kamailios, tmp_path, pkis, {"SipEp.UacPrackSupport": "Supported"},
                              {"SipEp.UasPrackSupport": "Unsupported"})
    ca, cb = sipep(a).calls, sipep(b).calls
    call = await ca.dial(EP, "bob")
    await wait_for(lambda: call.state == "alerting", what="A alerted")
    incoming = cb.current(EP)
    assert incoming is not None and not cb.prack.unacknowledged(incoming)
    await cb.answer(EP)
    await wait_for(lambda: call.state == "connected", what="connected")
    assert "REQ PRACK" not in k.log() and call not in ca.prack.pracks_sent


async def test_a_caller_requiring_100rel_gets_420_from_a_unit_without_it(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    _, a, b = await two_units(units, kamailios, tmp_path, pkis, {"SipEp.UacPrackSupport": "Required"},
                              {"SipEp.UasPrackSupport": "Unsupported"})
    call = await sipep(a).calls.dial(EP, "bob")
    await wait_for(lambda: call.state == "ended", what="the call refused")
    assert call.status == 420
    assert sipep(b).calls.current(EP) is None


async def test_an_unacknowledged_reliable_180_is_sent_again_then_the_invite_refused(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    """The caller asks for 100rel but never PRACKs (a SIPp scenario): the unit sends its 180 again (same RSeq)
    and, 64*T1 later, refuses the INVITE with 500."""
    sipp = require_peer("sipp")["sipp"]
    k = kamailio(kamailios, tmp_path, pkis)
    b = await make_unit(units, tmp_path, pkis, user="bob", registrar=k.udp_address, tls=False,
                        settings={"SipEp.UasPrackSupport": "Supported"})
    scenario = tmp_path / "no_prack.xml"
    scenario.write_text(SIPP_NO_PRACK.replace("{invite}", sipp_invite("Supported: 100rel")))
    host, port = b.listening["sip"].rsplit(":", 1)
    returncode, errors = await run_sipp(sipp, scenario, f"{host}:{port}", tmp_path)
    assert returncode == 0, errors
    received = (tmp_path / "no_prack_messages.log").read_text()
    rseqs = re.findall(r"^RSeq: *(\d+)", received, re.M)
    assert len(rseqs) >= 3 and len(set(rseqs)) == 1  # the same 180 again and again (SIPp absorbs the copies)
    ended = [c for c in sipep(b).calls.calls if c.endpoint == EP]
    assert ended and ended[-1].end_reason == "no PRACK" and ended[-1].status == 500


def sipp_invite(*extra: str) -> str:
    """The <send> of a SIPp caller's INVITE to bob with PCMU, plus ``extra`` header lines."""
    headers = "\n".join(extra)
    return f"""  <send retrans="500"><![CDATA[
INVITE sip:bob@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:bob@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
{headers}
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

]]></send>"""


async def run_sipp(sipp: str, scenario: Path, target: str, tmp_path: Path) -> tuple[int | None, str]:
    err_file = tmp_path / f"{scenario.stem}_err.log"
    proc = await asyncio.create_subprocess_exec(
        sipp, target, "-sf", str(scenario), "-i", "127.0.0.1", "-p", "0", "-m", "1", "-nostdin",
        "-timeout", "40s", "-timeout_error", "-trace_err", "-error_file", str(err_file), "-trace_msg",
        "-message_file", str(tmp_path / f"{scenario.stem}_messages.log"),
        cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 45)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, err.decode() + (err_file.read_text() if err_file.exists() else "")


SIPP_NO_PRACK = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller asking for 100rel that never sends PRACK">
{invite}
  <recv response="100" optional="true"/>
  <recv response="180">
    <action>
      <ereg regexp="100rel" search_in="hdr" header="Require:" check_it="true" assign_to="req"/>
      <ereg regexp="[0-9]+" search_in="hdr" header="RSeq:" check_it="true" assign_to="rseq1"/>
    </action>
  </recv>
  <recv response="500"/>
  <send><![CDATA[
ACK sip:bob@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <Reference variables="req,rseq1"/>
</scenario>
"""


# ---------------------------------------------------------------------------------------------------------------
SIPP_NO_REFRESH = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller that never refreshes its session">
{invite}
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true">
    <action>
      <ereg regexp="180;refresher=uac" search_in="hdr" header="Session-Expires:" check_it="true" assign_to="se"/>
      <ereg regexp="timer" search_in="hdr" header="Require:" check_it="true" assign_to="req"/>
    </action>
  </recv>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv request="BYE" timeout="30000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <Reference variables="se,req"/>
</scenario>
"""


async def test_a_caller_that_stops_refreshing_gets_a_bye(units: list[Unit], kamailios: list[Kamailio],
                                                         tmp_path: Path, pkis: Pkis) -> None:
    """SIPp calls a unit straight over UDP with a 180 s session it refreshes itself (refresher=uac), then never
    refreshes: the unit ends the call with a BYE before the session would expire, as RFC 4028 §10 says."""
    sipp = require_peer("sipp")["sipp"]
    k = kamailio(kamailios, tmp_path, pkis)
    b = await make_unit(units, tmp_path, pkis, user="bob", registrar=k.udp_address, tls=False,
                        settings=timer_settings())
    sipep(b).calls.session_timers.time_scale = SCALE
    cb = sipep(b).calls
    host, port = b.listening["sip"].rsplit(":", 1)
    scenario = tmp_path / "no_refresh.xml"
    scenario.write_text(SIPP_NO_REFRESH.replace(
        "{invite}", sipp_invite("Supported: timer", "Session-Expires: 180;refresher=uac", "Min-SE: 180")))
    proc = await asyncio.create_subprocess_exec(
        sipp, f"{host}:{port}", "-sf", str(scenario), "-i", "127.0.0.1", "-p", "0", "-m", "1", "-nostdin",
        "-timeout", "40s", "-timeout_error", "-trace_err", "-error_file", str(tmp_path / "sipp_err.log"),
        cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="ringing")
        incoming = cb.current(EP)
        assert incoming is not None
        await cb.answer(EP)
        await wait_for(lambda: incoming.acked.is_set(), what="ACK from SIPp")
        assert cb.session_timers.state(incoming) == {"interval": 180, "refresher": "them"}
        await wait_for(lambda: incoming.state == "ended", timeout=10, what="the unit's BYE")
        assert incoming.end_reason == "session expired"
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        errors = (tmp_path / "sipp_err.log").read_text() if (tmp_path / "sipp_err.log").exists() else ""
        assert proc.returncode == 0, (err.decode(), errors)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

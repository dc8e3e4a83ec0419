"""Call completion (RFC 6910), the unit as the caller's agent, against SIPp (Debian ``sip-tester``) as the callee and
as its call-completion monitor, on 127.0.0.1 over UDP:

the unit's line calls bob, who is busy: 486 naming its monitor (``Call-Info: <...>;purpose=call-completion``); the
user asks for completion (the endpoint action ``call-completion``; CCBS on:
``EpServ.DefaultCallCompletionBusySubscriberEnable``); the unit SUBSCRIBEs to the
``call-completion`` event at the monitor and ``EpServ.CallCompletionConfig`` lists the request; the monitor's NOTIFY
``cc-state: queued`` shows the target Busy, ``cc-state: ready`` makes the line call bob again with ``m=BS`` in the
Request-URI (checked by the callee), and the unit ends the subscription (SUBSCRIBE with Expires 0); the row goes."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from emulator.engines.sipep.call_state import CallState
from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from testkit.peers import free_port, require_peer, udp_bound
from tests.interop.siplab import EPS, Pkis, endpoint_action, lab_unit, sipep, wait_for

pytestmark = pytest.mark.peer

EP = EPS["4102"]

CALLEE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy callee, then the completion call">
  <recv request="INVITE">
    <action><ereg regexp="^INVITE sip:bob@[^ ]*;m=BS SIP/2.0" search_in="msg" check_it="false" assign_to="cc"/></action>
  </recv>
  <nop next="answer" test="cc"/>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]busy[call_number]
[last_Call-ID:]
[last_CSeq:]
Call-Info: <sip:monitor@127.0.0.1:MONITOR_PORT>;purpose=call-completion;m=BS
Content-Length: 0

]]></send>
  <recv request="ACK" next="end"/>
  <label id="answer"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]ok[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=bob 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="end"/>
</scenario>
"""

MONITOR = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call-completion monitor">
  <recv request="SUBSCRIBE" rrs="true">
    <action>
      <ereg regexp="call-completion" search_in="hdr" header="Event:" check_it="true" assign_to="event"/>
      <ereg regexp="application/call-completion" search_in="hdr" header="Accept:" check_it="true" assign_to="accept"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="subscriber"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]mon[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:monitor@[local_ip]:[local_port]>
Expires: 600
Content-Length: 0

]]></send>
  <send><![CDATA[
NOTIFY [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:bob@[local_ip]:[local_port]>;tag=[pid]mon[call_number]
To: [$subscriber]
Call-ID: [call_id]
CSeq: 1 NOTIFY
Contact: <sip:monitor@[local_ip]:[local_port]>
Max-Forwards: 70
Event: call-completion
Subscription-State: active;expires=600
Content-Type: application/call-completion
Content-Length: [len]

cc-state: queued
]]></send>
  <recv response="200"/>
  <pause milliseconds="1500"/>
  <send><![CDATA[
NOTIFY [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:bob@[local_ip]:[local_port]>;tag=[pid]mon[call_number]
To: [$subscriber]
Call-ID: [call_id]
CSeq: 2 NOTIFY
Contact: <sip:monitor@[local_ip]:[local_port]>
Max-Forwards: 70
Event: call-completion
Subscription-State: active;expires=600
Content-Type: application/call-completion
Content-Length: [len]

cc-state: ready
]]></send>
  <recv response="200"/>
  <recv request="SUBSCRIBE">
    <action><ereg regexp="^ *0 *$" search_in="hdr" header="Expires:" check_it="true" assign_to="unsubscribe"/></action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Expires: 0
Content-Length: 0

]]></send>
  <Reference variables="event,accept,unsubscribe"/>
</scenario>
"""


async def start_sipp(tmp_path: Path, name: str, scenario: str, port: int, calls: int) -> asyncio.subprocess.Process:
    sipp = require_peer("sipp")["sipp"]
    path = tmp_path / f"{name}.xml"
    path.write_text(scenario)
    proc = await asyncio.create_subprocess_exec(
        sipp, "-sf", str(path), "-i", "127.0.0.1", "-p", str(port), "-m", str(calls), "-nostdin", "-timeout", "40s",
        "-timeout_error", "-trace_err", "-error_file", str(tmp_path / f"{name}_err.log"), cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    await wait_for(lambda: udp_bound("127.0.0.1", port), what=f"SIPp {name} listening")
    return proc


async def finished(proc: asyncio.subprocess.Process, tmp_path: Path, name: str) -> None:
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    log = tmp_path / f"{name}_err.log"
    assert proc.returncode == 0, (name, err.decode(), log.read_text() if log.exists() else "")


async def test_busy_callee_completed_through_its_monitor(units: list[Unit], kamailios: list[Kamailio],
                                                         tmp_path: Path, pkis: Pkis) -> None:
    callee_port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    monitor_port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    procs = [await start_sipp(tmp_path, "callee", CALLEE.replace("MONITOR_PORT", str(monitor_port)), callee_port, 2),
             await start_sipp(tmp_path, "monitor", MONITOR, monitor_port, 1)]
    try:
        u = await lab_unit(units, tmp_path, pkis, user="alice", registrar=f"127.0.0.1:{callee_port}", tls=False,
                           settings={f"SipEp.UserAgent[{EP}].Register": "Disable",
                                     "EpServ.DefaultCallCompletionBusySubscriberEnable": "Enable"})
        calls = sipep(u).calls
        await wait_for(lambda: sipep(u).running, what="SipEp running")
        busy = await calls.dial(EP, "bob")
        await wait_for(lambda: busy.state is CallState.ENDED, what="bob busy")
        assert busy.status == 486, busy.row()
        asked = await endpoint_action(u, "call-completion")  # as the API's POST .../call-completion runs it
        monitor = f"sip:monitor@127.0.0.1:{monitor_port}"
        assert (asked["request"]["type"], asked["request"]["monitor"]) == ("Ccbs", monitor), asked
        rows = u.config.rows("EpServ.CallCompletionConfig")
        assert [(r["EpId"], r["Type"], r["TargetAddress"]) for r in rows] == [
            (EP, "Ccbs", "sip:bob@127.0.0.1")], rows  # the callee at the gateway's domain
        await wait_for(lambda: [r["TargetState"] for r in u.config.rows("EpServ.CallCompletionConfig")] == ["Busy"],
                       what="the monitor's queued NOTIFY: target busy")
        await wait_for(lambda: (c := calls.current(EP)) is not None and c.state is CallState.CONNECTED, timeout=10,
                       what="the completion call answered")
        call = calls.current(EP)
        assert call is not None and call.invite is not None and str(call.invite.uri).endswith(";m=BS")
        await wait_for(lambda: u.config.rows("EpServ.CallCompletionConfig") == [], what="the request done")
        await calls.hangup(EP)
        for proc, name in zip(procs, ("callee", "monitor"), strict=True):
            await finished(proc, tmp_path, name)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

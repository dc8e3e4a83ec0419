"""Call completion (RFC 6910), the unit as the caller's agent, against SIPp (Debian ``sip-tester``) as the callee and
as its call-completion monitor, on 127.0.0.1 over UDP:

the unit's line calls bob, who is busy (486), or whose phone rings until the caller hangs up (CCNR: 487); the refusal
names the monitor (``Call-Info: <...>;purpose=call-completion``); the user asks for completion (the endpoint action
``call-completion``; the service on: ``EpServ.DefaultCallCompletionBusySubscriberEnable`` / ``NoReplyEnable``); the
unit SUBSCRIBEs to the ``call-completion`` event at the monitor and ``EpServ.CallCompletionConfig`` lists the
request; the monitor's NOTIFY ``cc-state: queued`` shows the target Busy, ``cc-state: ready`` makes the line call bob
again with ``m=BS`` / ``m=NR`` in the Request-URI (checked by the callee), and the unit ends the subscription
(SUBSCRIBE with Expires 0); the row goes."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from emulator.engines.sipep.call_state import CallState
from emulator.protocols.sip.call_completion import MIME
from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from testkit.peers import free_port, require_peer, udp_bound
from tests.interop.siplab import EPS, Pkis, endpoint_action, lab_unit, sipep, wait_for

pytestmark = pytest.mark.peer

EP = EPS["4102"]

def reply(first_line: str, tag: str | None, *extra: str, body: str = "", cseq: str = "[last_CSeq:]") -> str:
    """A SIPp ``<send>`` of a response to the last request: its Via, From, To (with ``tag`` when given), Call-ID and
    CSeq, then ``extra`` header lines and ``body``."""
    to = f"[last_To:];tag=[pid]{tag}[call_number]" if tag else "[last_To:]"
    length = "Content-Length: [len]" if body else "Content-Length: 0"
    lines = [first_line, "[last_Via:]", "[last_From:]", to, "[last_Call-ID:]", cseq, *extra, length, "", body]
    return "  <send><![CDATA[\n" + "\n".join(lines) + "\n]]></send>\n"


def cc_notify(cseq: int, state: str) -> str:
    """The monitor's NOTIFY in the subscription's dialog: ``cc-state: <state>``."""
    lines = ["NOTIFY [next_url] SIP/2.0", "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
             "From: <sip:bob@[local_ip]:[local_port]>;tag=[pid]mon[call_number]", "To: [$subscriber]",
             "Call-ID: [call_id]", f"CSeq: {cseq} NOTIFY", "Contact: <sip:monitor@[local_ip]:[local_port]>",
             "Max-Forwards: 70", "Event: call-completion", "Subscription-State: active;expires=600",
             f"Content-Type: {MIME}", "Content-Length: [len]", "", f"cc-state: {state}"]
    return "  <send><![CDATA[\n" + "\n".join(lines) + "\n]]></send>\n  <recv response=\"200\"/>\n"


ANSWER_SDP = "\n".join(["v=0", "o=bob 1 1 IN IP4 [local_ip]", "s=-", "c=IN IP4 [local_ip]", "t=0 0",
                        "m=audio [media_port] RTP/AVP 0", "a=rtpmap:0 PCMU/8000", ""])
CALL_INFO = "Call-Info: <sip:monitor@127.0.0.1:{port}>;purpose=call-completion;m={m}"


def callee(kind: str, monitor_port: int) -> str:
    """bob's phone: the first call refused busy (Ccbs) or ringing until cancelled (Ccnr), naming the monitor; the
    second, whose Request-URI must carry the completion's ``m``, answered and released by the caller's BYE."""
    m = {"Ccbs": "BS", "Ccnr": "NR"}[kind]
    info = CALL_INFO.format(port=monitor_port, m=m)
    if kind == "Ccbs":
        first = reply("SIP/2.0 486 Busy Here", "busy", info)
    else:
        first = (reply("SIP/2.0 180 Ringing", "ring", "Contact: <sip:bob@[local_ip]:[local_port]>")
                 + '  <recv request="CANCEL"/>\n' + reply("SIP/2.0 200 OK", "ring")
                 + reply("SIP/2.0 487 Request Terminated", "ring", info, cseq="CSeq: [last_cseq_number] INVITE"))
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy or unanswered callee, then the completion call">
  <recv request="INVITE">
    <action><ereg regexp="^INVITE sip:bob@[^ ]*;m={m} SIP/2.0" search_in="msg" check_it="false" assign_to="cc"/>
    </action>
  </recv>
  <nop next="answer" test="cc"/>
{first}  <recv request="ACK" next="end"/>
  <label id="answer"/>
{reply("SIP/2.0 200 OK", "ok", "Contact: <sip:bob@[local_ip]:[local_port]>", "Content-Type: application/sdp",
       body=ANSWER_SDP)}  <recv request="ACK"/>
  <recv request="BYE"/>
{reply("SIP/2.0 200 OK", None)}  <label id="end"/>
</scenario>
"""


MONITOR = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call-completion monitor">
  <recv request="SUBSCRIBE" rrs="true">
    <action>
      <ereg regexp="call-completion" search_in="hdr" header="Event:" check_it="true" assign_to="event"/>
      <ereg regexp="{MIME}" search_in="hdr" header="Accept:" check_it="true" assign_to="accept"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="subscriber"/>
    </action>
  </recv>
{reply("SIP/2.0 200 OK", "mon", "Contact: <sip:monitor@[local_ip]:[local_port]>", "Expires: 600")}\
{cc_notify(1, "queued")}  <pause milliseconds="1500"/>
{cc_notify(2, "ready")}  <recv request="SUBSCRIBE">
    <action><ereg regexp="^ *0 *$" search_in="hdr" header="Expires:" check_it="true" assign_to="unsubscribe"/></action>
  </recv>
{reply("SIP/2.0 200 OK", None, "Expires: 0")}  <Reference variables="event,accept,unsubscribe"/>
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


@pytest.mark.parametrize("kind", ["Ccbs", "Ccnr"])
async def test_failed_call_completed_through_the_callees_monitor(units: list[Unit], kamailios: list[Kamailio],
                                                                 tmp_path: Path, pkis: Pkis, kind: str) -> None:
    """Ccbs: bob busy (486). Ccnr: bob's phone rings (180) until the caller hangs up (CANCEL, 487)."""
    callee_port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    monitor_port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    m_param = {"Ccbs": "BS", "Ccnr": "NR"}[kind]
    procs = [await start_sipp(tmp_path, "callee", callee(kind, monitor_port), callee_port, 2),
             await start_sipp(tmp_path, "monitor", MONITOR, monitor_port, 1)]
    try:
        service = "BusySubscriber" if kind == "Ccbs" else "NoReply"
        u = await lab_unit(units, tmp_path, pkis, user="alice", registrar=f"127.0.0.1:{callee_port}", tls=False,
                           settings={f"SipEp.UserAgent[{EP}].Register": "Disable",
                                     f"EpServ.DefaultCallCompletion{service}Enable": "Enable"})
        calls = sipep(u).calls
        await wait_for(lambda: sipep(u).running, what="SipEp running")
        failed = await calls.dial(EP, "bob")
        if kind == "Ccnr":
            await wait_for(lambda: failed.state is CallState.ALERTING, what="bob's phone ringing")
            await calls.hangup(EP)
        await wait_for(lambda: failed.state is CallState.ENDED, what="bob's call failed")
        assert failed.status == (486 if kind == "Ccbs" else 487), failed.row()
        asked = await endpoint_action(u, "call-completion")  # as the API's POST .../call-completion runs it
        monitor = f"sip:monitor@127.0.0.1:{monitor_port}"
        assert (asked["request"]["type"], asked["request"]["monitor"]) == (kind, monitor), asked
        rows = u.config.rows("EpServ.CallCompletionConfig")
        assert [(r["EpId"], r["Type"], r["TargetAddress"]) for r in rows] == [
            (EP, kind, "sip:bob@127.0.0.1")], rows  # the callee at the gateway's domain
        await wait_for(lambda: [r["TargetState"] for r in u.config.rows("EpServ.CallCompletionConfig")] == ["Busy"],
                       what="the monitor's queued NOTIFY: target busy")
        await wait_for(lambda: (c := calls.current(EP)) is not None and c.state is CallState.CONNECTED, timeout=10,
                       what="the completion call answered")
        call = calls.current(EP)
        assert call is not None and call.invite is not None and str(call.invite.uri).endswith(f";m={m_param}")
        await wait_for(lambda: u.config.rows("EpServ.CallCompletionConfig") == [], what="the request done")
        await calls.hangup(EP)
        for proc, name in zip(procs, ("callee", "monitor"), strict=True):
            await finished(proc, tmp_path, name)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

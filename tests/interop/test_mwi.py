"""Message waiting (RFC 3842) against a SIPp notifier: a unit whose line subscribes (SipEp.UserAgent MwiSubscribe)
sends SUBSCRIBE for message-summary to the messaging host; the notifier accepts it and sends a NOTIFY saying
messages wait; the unit answers 200, ``SipEp.MwiStatus`` shows the subscription Subscribed and the line's
message-waiting state lights as ``Pots`` says (visual indicator, stutter dial tone)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from testkit.peers import free_port, require_peer
from tests.interop.siplab import Pkis, kamailio, make_unit, sipep, wait_for

pytestmark = pytest.mark.peer

EP = "Phone-Fax1"

NOTIFIER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="message-summary notifier">
  <recv request="SUBSCRIBE" rrs="true">
    <action>
      <ereg regexp="message-summary" search_in="hdr" header="Event:" check_it="true" assign_to="event"/>
      <ereg regexp="^SUBSCRIBE sip:bob@" search_in="msg" check_it="true" assign_to="ruri"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="subscriber"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]mwi[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:mwi@[local_ip]:[local_port]>
Expires: 3600
Content-Length: 0

]]></send>
  <send><![CDATA[
NOTIFY [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:bob@[local_ip]:[local_port]>;tag=[pid]mwi[call_number]
To: [$subscriber]
Call-ID: [call_id]
CSeq: 1 NOTIFY
Contact: <sip:mwi@[local_ip]:[local_port]>
Max-Forwards: 70
Event: message-summary
Subscription-State: active;expires=3600
Content-Type: application/simple-message-summary
Content-Length: [len]

Messages-Waiting: yes
Message-Account: sip:bob@[local_ip]
Voice-Message: 2/8 (1/0)
]]></send>
  <recv response="200"/>
  <Reference variables="event,ruri"/>
</scenario>
"""


def bound(port: int) -> bool:
    """Whether something (SIPp) holds UDP ``port`` on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def defaults(host: str) -> dict[str, str]:
    """The messaging host and the indicator from the unit-wide settings (a visual indicator only)."""
    return {"SipEp.DefaultStaticMessagingHost": host, "Pots.FxsDefaultMessageWaitingIndicatorActivation": "Visual"}


def specific(host: str) -> dict[str, str]:
    """The gateway's own messaging host and the line's own indicator (the stutter tone only) override the defaults."""
    return {"SipEp.DefaultStaticMessagingHost": "192.0.2.1:5060",  # never used
            "SipEp.GwSpecificMwi[default].EnableConfig": "Enable",
            "SipEp.GwSpecificMwi[default].MessagingHost": host,
            f"Pots.FxsSpecificMessageWaitingIndicator[{EP}].EnableConfig": "Enable",
            f"Pots.FxsSpecificMessageWaitingIndicator[{EP}].Activation": "Tone"}


@pytest.mark.parametrize(("settings", "activation"), [(defaults, "Visual"), (specific, "Tone")],
                         ids=["defaults", "specific"])
async def test_a_notify_lights_the_line_and_mwi_status(units: list[Unit], kamailios: list[Kamailio],
                                                       tmp_path: Path, pkis: Pkis,
                                                       settings: Callable[[str], dict[str, str]],
                                                       activation: str) -> None:
    sipp = require_peer("sipp")["sipp"]
    port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    scenario = tmp_path / "notifier.xml"
    scenario.write_text(NOTIFIER)
    err_file = tmp_path / "notifier_err.log"
    proc = await asyncio.create_subprocess_exec(
        sipp, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin", "-timeout", "30s",
        "-timeout_error", "-trace_err", "-error_file", str(err_file), cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_for(lambda: bound(port), what="SIPp listening")
        k = kamailio(kamailios, tmp_path, pkis)
        u = await make_unit(units, tmp_path, pkis, user="bob", registrar=k.udp_address, tls=False, settings={
            f"SipEp.UserAgent[{EP}].MwiSubscribe": "Enable",
            "SipEp.GwSpecificMwi[default].UsernameInRequestUriEnable": "Enable",  # the notifier checks the user
            **settings(f"127.0.0.1:{port}")})
        mwi = sipep(u).mwi
        await wait_for(lambda: EP in mwi.lines, timeout=10, what="the NOTIFY at the line")
        line = mwi.lines[EP].row()
        assert line == {"waiting": True, "new": 2, "old": 8, "visual": activation == "Visual",
                        "stutter_tone": activation == "Tone", "activation": activation}
        rows = u.config.rows("SipEp.MwiStatus")
        assert [(r["Endpoint"], r["Username"], r["MessagingHost"], r["SubscriptionState"]) for r in rows] == [
            (EP, "bob", f"127.0.0.1:{port}", "Subscribed")]
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        errors = err_file.read_text() if err_file.exists() else ""
        assert proc.returncode == 0, (err.decode(), errors)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

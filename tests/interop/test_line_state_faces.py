"""A line's state on every face: ``Pots.Line`` State, its message-waiting indicator and the caller ID it presents,
read through the HTTP API (``GET /api/v1/endpoints`` and ``/endpoints/{EpId}/line``), the CLI (``line``) and the
web interface (System/Endpoints).

A far end written here over a real UDP socket on 127.0.0.1 sends the unit an INVITE with a P-Asserted-Identity (the
line rings: InUse, the asserted number and name shown), cancels it (Idle), sends a private one (``Privacy: id``:
Restricted, the private name of ``Pots.FxsCallerIdPrivateCallingPartyName``) and an unsolicited message-summary
NOTIFY (RFC 3842) that lights the line's indicator.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulator.engines.aaa import AuthResult
from emulator.engines.sipep.engine import SipEpEngine
from emulator.faces.api.server import ApiServer
from emulator.faces.cli.shell import CliShell
from emulator.runtime.unit import Unit
from tests.interop.siplab import FAST, sipep, wait_for
from tests.unit.web_env import Env, web_env

EP = "Phone-Fax1"
SDP = ("v=0\r\no=far 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


@dataclass
class Caller(asyncio.DatagramProtocol):
    """A UDP far end that sends requests to the unit and keeps its responses."""

    transport: Any = None
    port: int = 0
    responses: list[str] = field(default_factory=list)
    seq: Any = field(default_factory=lambda: itertools.count(1))

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.responses.append(data.decode(errors="replace"))

    def send(self, unit: tuple[str, int], lines: list[str], body: str = "") -> None:
        text = "\r\n".join([*lines, f"Content-Length: {len(body.encode())}", "", body])
        self.transport.sendto(text.encode(), unit)

    def request(self, unit: tuple[str, int], method: str, call_id: str, headers: list[str], body: str = "",
                branch: str | None = None, cseq: str | None = None, to: str = "<sip:alice@{host}>") -> str:
        branch = branch or f"z9hG4bKline{next(self.seq)}"
        self.send(unit, [f"{method} sip:alice@{unit[0]}:{unit[1]} SIP/2.0",
                         f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}", "Max-Forwards: 70",
                         f"To: {to.format(host=unit[0])}", f"Call-ID: {call_id}", f"CSeq: {cseq or '1 ' + method}",
                         f"Contact: <sip:far@127.0.0.1:{self.port}>", *headers], body)
        return branch


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    def attach(u: Unit) -> None:
        u.attach(SipEpEngine(u, timers=FAST, poll_s=0.05))

    async for e in web_env(tmp_path, attach=attach, **{
            "SipEp_TransportConfig[default]_TlsEnable": "Disable",
            "SipEp_DefaultStaticRegistrarServerHost": "home.example",
            "SipEp_UserAgent[Phone-Fax1]_Username": "alice"}):
        yield e


@pytest.fixture
async def caller() -> AsyncIterator[Caller]:
    transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(Caller,
                                                                                 local_addr=("127.0.0.1", 0))
    yield proto
    transport.close()


def web_row(page: str) -> list[str]:
    row = re.search(r'<tr data-row="Phone-Fax1">(.*?)</tr>', page, re.S)
    assert row is not None, page[:300]
    found = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in found]
    return cells[4:7]  # after EpId and the three EpAdm states: Line State, Message Waiting, Caller ID


async def faces(env: Env, api: str, http: aiohttp.ClientSession) -> tuple[dict[str, Any], dict[str, Any], str,
                                                                            list[str]]:
    """The line through the API (its resource and the endpoints listing), the CLI and the web page."""
    async with http.get(f"{api}/api/v1/endpoints/{EP}/line") as r:
        assert r.status == 200, await r.text()
        line = (await r.json())["line"]
    async with http.get(f"{api}/api/v1/endpoints") as r:
        listed = next(e for e in (await r.json())["endpoints"] if e["endpoint"] == EP)["line"]
    cli = CliShell(env.unit, AuthResult(True, "public", "Admin")).execute(f"line {EP}")
    assert cli.ok, cli.output
    status, page = await env.get("/System/Endpoints")
    assert status == 200
    return line, listed, cli.output, web_row(page)


async def test_line_state_caller_id_and_message_waiting_on_every_face(env: Env, caller: Caller) -> None:
    u = env.unit
    engine = sipep(u)
    unit_addr = (u.host, engine.ua.gateways["default"].ports["UDP"])
    api = ApiServer(u, env.aaa)
    await api.start(0)
    await env.login()
    auth = {"Authorization": "Basic cHVibGljOg=="}  # public, no password
    try:
        async with aiohttp.ClientSession(headers=auth) as http:
            base = u.listening["api"]
            line, listed, cli, web = await faces(env, base, http)
            assert line == listed and line["state"] == "Idle" and line["caller_id"] is None
            assert not line["message_waiting"]["waiting"]
            assert u.config.rows("Pots.Line")[0] == {"Id": EP, "TypeStatus": "Fxs", "State": "Idle"}
            assert web == ["Idle", "No", ""] and "line Idle" in cli and "no caller ID" in cli

            # an INVITE with an asserted identity: the line rings and shows it
            frm = '"Alice Smith" <sip:5551234@127.0.0.1>;tag=far1'
            invite = ["From: " + frm, 'P-Asserted-Identity: "Alice" <sip:+15550001@example.com>',
                      "Content-Type: application/sdp"]
            branch = caller.request(unit_addr, "INVITE", "line-1", invite, SDP)
            await wait_for(lambda: any(" 180 " in r.split("\r\n")[0] for r in caller.responses), what="180 Ringing")
            line, listed, cli, web = await faces(env, base, http)
            assert line == listed and line["state"] == "InUse"
            assert line["caller_id"] == {"number": "+15550001", "name": "Alice", "presentation": "Allowed",
                                         "absence_reason": "", "source": "P-Asserted-Identity", "method": "Fsk"}
            assert web == ["InUse", "No", '+15550001 "Alice"'], web
            assert 'caller ID +15550001 "Alice" (Allowed' in cli and "line InUse" in cli, cli
            assert u.config.rows("Pots.Line")[0]["State"] == "InUse"

            # cancelled: Idle again (the 487 ACKed)
            caller.request(unit_addr, "CANCEL", "line-1", ["From: " + frm], branch=branch, cseq="1 CANCEL")
            await wait_for(lambda: any(" 487 " in r.split("\r\n")[0] for r in caller.responses), what="487")
            final = next(r for r in caller.responses if " 487 " in r.split("\r\n")[0])
            to = next(h[3:].strip() for h in final.split("\r\n") if h.startswith("To:"))
            caller.request(unit_addr, "ACK", "line-1", ["From: " + frm], branch=branch, cseq="1 ACK", to=to)
            await wait_for(lambda: engine.line_status.state(EP) == "Idle", what="the line idle")

            # a private caller: Restricted, with the private name; "P" sends the reason for absence instead
            u.config.set("Pots.FxsCallerIdPrivateCallingPartyName", "P")
            caller.request(unit_addr, "INVITE", "line-2", ["From: " + frm.replace("far1", "far2"), "Privacy: id",
                                                            "Content-Type: application/sdp"], SDP)
            await wait_for(lambda: engine.line_status.caller_id(EP) is not None, what="the private call ringing")
            line, listed, cli, web = await faces(env, base, http)
            assert line["caller_id"]["presentation"] == "Restricted" and line["caller_id"]["number"] == ""
            assert (line["caller_id"]["name"], line["caller_id"]["absence_reason"]) == ("", "Private")
            assert web[2] == "(Private)" and "(Restricted, Private" in cli, (web, cli)
            # DTMF caller ID carries no name; the line's presentation off shows none
            u.config.set("Pots.FxsCallerIdPrivateCallingPartyName", "Anonymous")
            u.config.set("Pots.CallerIdCustomization", "EtsiDtmf")
            line, *_ = await faces(env, base, http)
            assert (line["caller_id"]["name"], line["caller_id"]["method"]) == ("", "Dtmf")
            u.config.set(f"Pots.FxsCallerId[{EP}].Activation", "Disable")
            line, listed, cli, web = await faces(env, base, http)
            assert line["caller_id"] is None and line["state"] == "InUse" and web[2] == "", web

            # an unsolicited message-summary NOTIFY lights the indicator
            caller.request(unit_addr, "NOTIFY", "line-mwi", [
                "From: <sip:vm@127.0.0.1>;tag=vm", "Event: message-summary", "Subscription-State: active",
                "Content-Type: application/simple-message-summary"],
                "Messages-Waiting: yes\r\nVoice-Message: 2/1 (0/0)\r\n")
            await wait_for(lambda: engine.mwi.lines.get(EP) is not None and bool(engine.mwi.lines[EP].visual),
                           what="the line's indicator lit")
            line, listed, cli, web = await faces(env, base, http)
            mw = line["message_waiting"]
            assert (mw["waiting"], mw["new"], mw["old"], mw["visual"]) == (True, 2, 1, True), mw
            assert web[1] == "Yes (2 new, 1 old)" and "message waiting yes (2 new, 1 old" in cli, (web, cli)
            await engine.calls.hangup(EP)
    finally:
        await api.stop()

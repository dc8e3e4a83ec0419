"""The SipEp.Interop* knobs the unit acts on, one row each, seen on the wire.

Each row sets a parameter to two values in turn on one unit (a media-engine unit with plain RTP, no registration,
its outbound proxy a far end written here over a real UDP socket on 127.0.0.1), runs the same call against the far
end under each value, and compares what the far end received: raw datagrams, read as text, no SIP stack of ours
parses them. The call: the unit dials; the far end answers; the far end sends an INFO with no body, refreshes the
session twice by re-INVITEs with one unchanged offer, puts the unit on hold (sendonly) and resumes; the unit puts
the far end on hold and hangs up. A keep-alive row runs over a persistent TCP link to a registrar written here.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from tests.interop.siplab import Pkis, lab_unit, pair, sipep, stream, wait_for

EP = "Phone-Fax1"
RESTART = {"SipEp.InteropMaxForwardsValue", "SipEp.InteropSendUaHeaderEnable", "SipEp.InteropUaHeaderFormat",
           "SipEp.InteropKeepAliveOptionFormat"}  # read when SipEp starts (behaviour map: restart)


def _headers(message: str) -> list[tuple[str, str]]:
    head = message.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    return [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in head)]


def header(message: str, name: str) -> str | None:
    return next((v for k, v in _headers(message) if k == name.lower()), None)


def body(message: str) -> str:
    return message.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in message else ""


def sdp_lines(message: str) -> list[str]:
    return [line for line in body(message).split("\r\n") if line]


def direction_of(sdp: list[str]) -> str:
    """The far end's reading of an offer: the last direction attribute, or sendrecv."""
    found = [line[2:] for line in sdp if line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive")]
    return found[-1] if found else "sendrecv"


@dataclass
class Dialog:
    call_id: str
    unit_from: str  # the unit's From (with its tag): our To in requests we send
    our_to: str  # the To we answered with (our tag): our From
    contact: tuple[str, int]  # where in-dialog requests to the unit go


@dataclass
class FarEnd(asyncio.DatagramProtocol):
    """A UDP far end: answers INVITE/BYE 200 (an answer to the unit's SDP), sends in-dialog requests to the unit and
    keeps everything it received."""

    rtp_port: int = 0
    received: list[str] = field(default_factory=list)
    transport: Any = None
    port: int = 0
    dialog: Dialog | None = None
    waiting: dict[str, asyncio.Future[str]] = field(default_factory=dict)  # CSeq -> the unit's final response
    cseq: Any = field(default_factory=lambda: itertools.count(1))
    branches: Any = field(default_factory=lambda: itertools.count(1))
    version: int = 1
    rtp: Any = None  # RtpSink
    directions: bool = True  # our bodies carry a direction attribute (False: an RFC 2543 peer)
    answer_later: bool = False  # keep initial INVITEs unanswered in `pending` (the test answers them)
    pending: list[tuple[str, tuple[str, int]]] = field(default_factory=list)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def requests(self, method: str) -> list[str]:
        return [m for m in self.received if m.startswith(f"{method} ")]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = data.decode(errors="replace")
        self.received.append(msg)
        if msg.startswith("SIP/2.0 "):
            status = int(msg.split(" ", 2)[1])
            cseq = header(msg, "CSeq") or ""
            fut = self.waiting.get(cseq)
            if status >= 200 and fut is not None and not fut.done():
                fut.set_result(msg)
            return
        method = msg.split(" ", 1)[0]
        if method == "INVITE" and self.answer_later and ";tag=" not in (header(msg, "To") or ""):
            self.pending.append((msg, addr))
        elif method == "INVITE":
            self._answer(msg, addr, self._sdp(direction_of(sdp_lines(msg))))
        elif method in ("BYE", "CANCEL", "INFO", "OPTIONS"):
            self._answer(msg, addr, None)

    def _sdp(self, offered: str) -> str:
        answer = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}.get(offered, "sendrecv")
        return self.offer(answer)

    def offer(self, direction: str) -> str:
        lines = ["v=0", f"o=far 7 {self.version} IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                 f"m=audio {self.rtp_port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000"]
        if self.directions:
            lines.append(f"a={direction}")
        return "\r\n".join(lines) + "\r\n"

    def _answer(self, request: str, addr: tuple[str, int], sdp: str | None) -> None:
        heads = _headers(request)
        keep = [f"Via: {v}" for k, v in heads if k == "via"]
        to = header(request, "To") or ""
        if ";tag=" not in to:
            to += ";tag=far"
        lines = ["SIP/2.0 200 OK", *keep, f"From: {header(request, 'From')}", f"To: {to}",
                 f"Call-ID: {header(request, 'Call-ID')}", f"CSeq: {header(request, 'CSeq')}",
                 f"Contact: <sip:far@127.0.0.1:{self.port}>"]
        if request.startswith("INVITE ") and self.dialog is None:
            contact = re.search(r"<sip:[^@>]*@?([\d.]+):(\d+)", header(request, "Contact") or "")
            assert contact is not None, request
            self.dialog = Dialog(header(request, "Call-ID") or "", header(request, "From") or "", to,
                                 (contact.group(1), int(contact.group(2))))
        content = sdp or ""
        if sdp is not None:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(content.encode())}")
        self.transport.sendto(("\r\n".join(lines) + "\r\n\r\n" + content).encode(), addr)

    async def request(self, method: str, sdp: str | None = None) -> str:
        """An in-dialog request to the unit; its final response (an INVITE's 2xx is ACKed)."""
        d = self.dialog
        assert d is not None
        seq = next(self.cseq)
        cseq = f"{seq} {method}"
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting[cseq] = fut
        self._send(method, cseq, sdp)
        response = await asyncio.wait_for(fut, 8)
        if method == "INVITE" and response.startswith("SIP/2.0 2"):
            self._send("ACK", f"{seq} ACK", None)
        return response

    async def call(self, unit: tuple[str, int], user: str, call_id: str, sdp: str | None = None) -> str:
        """A new call to `user` at the unit (our offer, or `sdp`): the unit's final response (a refusal is ACKed)."""
        host, port = unit
        cseq = f"{next(self.cseq)} INVITE"
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting[cseq] = fut
        via = f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bKout{next(self.branches)};rport"
        head = [f"sip:{user}@{host}:{port}", via, "Max-Forwards: 70", f"From: <sip:far@127.0.0.1>;tag=out{call_id}",
                f"Call-ID: {call_id}"]
        sdp = self.offer("sendrecv") if sdp is None else sdp
        self.transport.sendto(("\r\n".join([f"INVITE {head[0]} SIP/2.0", *head[1:], f"To: <{head[0]}>",
                                             f"CSeq: {cseq}", f"Contact: <sip:far@127.0.0.1:{self.port}>",
                                             "Content-Type: application/sdp", f"Content-Length: {len(sdp)}", "",
                                             sdp])).encode(), unit)
        response = await asyncio.wait_for(fut, 8)
        if not response.startswith("SIP/2.0 2"):
            ack = [f"ACK {head[0]} SIP/2.0", *head[1:], f"To: {header(response, 'To')}",
                   f"CSeq: {cseq.split()[0]} ACK", "Content-Length: 0", "", ""]
            self.transport.sendto("\r\n".join(ack).encode(), unit)
        return response

    def _send(self, method: str, cseq: str, sdp: str | None) -> None:
        d = self.dialog
        assert d is not None
        host, port = d.contact
        content = sdp or ""
        lines = [f"{method} sip:{host}:{port} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bKfar{next(self.branches)};rport",
                 "Max-Forwards: 70", f"From: {d.our_to}", f"To: {d.unit_from}", f"Call-ID: {d.call_id}",
                 f"CSeq: {cseq}", f"Contact: <sip:far@127.0.0.1:{self.port}>"]
        if sdp is not None:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(content.encode())}")
        self.transport.sendto(("\r\n".join(lines) + "\r\n\r\n" + content).encode(), (host, port))


@dataclass
class Capture:
    """What the far end saw in one call."""

    invite: str = ""
    info_status: int = 0
    refresh_answers: list[str] = field(default_factory=list)
    hold_answer: str = ""
    hold_invite: str = ""


class RtpSink(asyncio.DatagramProtocol):
    """The far end's RTP port: counts what arrives."""

    def __init__(self) -> None:
        self.packets = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets += 1


@pytest.fixture
async def far_end() -> AsyncIterator[FarEnd]:
    loop = asyncio.get_running_loop()
    rtp, sink = await loop.create_datagram_endpoint(RtpSink, local_addr=("127.0.0.1", 0))
    transport, proto = await loop.create_datagram_endpoint(
        lambda: FarEnd(rtp_port=rtp.get_extra_info("sockname")[1]), local_addr=("127.0.0.1", 0))
    proto.rtp = sink
    yield proto
    transport.close()
    rtp.close()


async def one_call(u: Unit, far: FarEnd) -> Capture:
    """The call of the module docstring; what the far end received."""
    calls = sipep(u).calls
    far.dialog, far.version, before = None, 1, len(far.received)
    out = Capture()
    call = await calls.dial(EP, "bob")
    await wait_for(lambda: call.state == "connected" and far.dialog is not None, what="the call connected")
    out.invite = next(m for m in far.received[before:] if m.startswith("INVITE "))
    out.info_status = int((await far.request("INFO")).split(" ", 2)[1])
    same = far.offer("sendrecv")
    for _ in range(2):  # a session refresh: one offer, unchanged
        out.refresh_answers.append(await far.request("INVITE", same))
    far.version += 1
    out.hold_answer = await far.request("INVITE", far.offer("sendonly"))
    far.version += 1
    await far.request("INVITE", far.offer("sendrecv"))
    mark = len(far.requests("INVITE"))
    await calls.hold(EP)
    out.hold_invite = far.requests("INVITE")[mark]
    await calls.hangup(EP)
    await wait_for(lambda: bool(far.requests("BYE")[-1:]) and far.requests("BYE")[-1].count(far.dialog.call_id)
                   if far.dialog else False, what="the BYE")
    return out


# ------------------------------------------------------------------ the rows
def origin(message: str) -> tuple[str, str]:
    o = next(line for line in sdp_lines(message) if line.startswith("o="))
    _, sid, version, *_ = o[2:].split(" ")
    return sid, version


def directions(message: str) -> list[str]:
    return [line[2:] for line in sdp_lines(message) if line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive")]


def connection(message: str) -> list[str]:
    return [line[2:] for line in sdp_lines(message) if line.startswith("c=")]


def before_media(message: str, attribute: str) -> bool:
    """`attribute` stands at session level (before the first m= line)."""
    lines = sdp_lines(message)
    first_m = next(i for i, line in enumerate(lines) if line.startswith("m="))
    return f"a={attribute}" in lines[:first_m]


@dataclass(frozen=True)
class Row:
    param: str
    values: tuple[Any, Any]
    show: Callable[[Capture], Any]  # what the wire shows under a value
    expected: tuple[Any, Any]  # ... under each value
    settings: dict[str, Any] = field(default_factory=dict)  # fixed beside the row's parameter
    far_directions: bool = True  # the far end's bodies carry direction attributes


ROWS = [
    Row("SipEp.InteropMaxForwardsValue", (70, 12), lambda c: header(c.invite, "Max-Forwards"), ("70", "12")),
    Row("SipEp.InteropSendUaHeaderEnable", ("Enable", "Disable"), lambda c: header(c.invite, "User-Agent") is None,
        (False, True)),
    Row("SipEp.InteropUaHeaderFormat", ("%product%/v%version% %profile%", "lab-%serial%%%"),
        lambda c: (header(c.invite, "User-Agent") or "").startswith("lab-")
        and (header(c.invite, "User-Agent") or "").endswith("%"), (False, True)),
    Row("SipEp.InteropSdpPTimeAttribute", ("Disabled", "DeclarativeConfigured"),
        lambda c: [x for x in sdp_lines(c.invite) if x.startswith("a=ptime")], ([], ["a=ptime:40"]),
        {"SipEp.InteropSdpPTimeAttributeValue": 40}),
    Row("SipEp.InteropSdpPTimeAttributeValue", (30, 40),
        lambda c: [x for x in sdp_lines(c.invite) if x.startswith("a=ptime")], (["a=ptime:30"], ["a=ptime:40"]),
        {"SipEp.InteropSdpPTimeAttribute": "DeclarativeConfigured"}),
    Row("SipEp.InteropSdpDirectionAttributeEnable", ("Enable", "Disable"),
        lambda c: (directions(c.invite), directions(c.hold_invite), connection(c.hold_invite)),
        ((["sendrecv"], ["inactive"], ["IN IP4 0.0.0.0"]), ([], [], ["IN IP4 0.0.0.0"]))),
    Row("SipEp.InteropSdpDirectionAttributeLevel", ("MediaOrSessionLevel", "MediaAndSessionLevel"),
        lambda c: (directions(c.invite), before_media(c.invite, "sendrecv")),
        ((["sendrecv"], True), (["sendrecv", "sendrecv"], True))),
    Row("SipEp.InteropOnHoldSdpConnectionAddress", ("HoldAddress", "MediaAddress"),
        lambda c: connection(c.hold_invite) == ["IN IP4 0.0.0.0"], (True, False)),
    Row("SipEp.InteropOnHoldSdpStreamDirection", ("Inactive", "Sendonly"), lambda c: directions(c.hold_invite),
        (["inactive"], ["sendonly"])),
    Row("SipEp.InteropOnHoldAnswerSdpStreamDirection", ("Recvonly", "Inactive"), lambda c: directions(c.hold_answer),
        (["recvonly"], ["inactive"])),
    Row("SipEp.InteropSdpOriginLineSessionIdAndVersionMaxLength", ("Max64bits", "Max32bits"),
        lambda c: len(origin(c.invite)[0]) <= 10 and int(origin(c.invite)[0]) < 2 ** 32, (False, True)),
    Row("SipEp.InteropIncrementSdpVersionWhenModified", ("Enable", "Disable"),
        lambda c: int(origin(c.refresh_answers[1])[1]) - int(origin(c.refresh_answers[0])[1]), (0, 1)),
    Row("SipEp.InteropSipInfoWithoutContentAnswer", ("UnsupportedMediaType", "Ok"), lambda c: c.info_status,
        (415, 200)),
    Row("SipEp.InteropSipUriUserParameterValue", ("", "phone"),
        lambda c: (c.invite.split("\r\n", 1)[0], (header(c.invite, "To") or "").endswith(";user=phone>")),
        (("INVITE sip:bob@home.example SIP/2.0", False), ("INVITE sip:bob@home.example;user=phone SIP/2.0", True))),
    Row("SipEp.InteropSdpDetectPeerDirectionAttributeSupportEnable", ("Enable", "Disable"),
        lambda c: (directions(c.invite), directions(c.hold_invite), connection(c.hold_invite)),
        ((["sendrecv"], [], ["IN IP4 0.0.0.0"]), (["sendrecv"], ["inactive"], ["IN IP4 0.0.0.0"])),
        far_directions=False),
    Row("SipEp.InteropSipContactDisplayNamePresence", ("Enable", "Disable"),
        lambda c: (header(c.invite, "Contact") or "").startswith('"Alice Lab" <'), (True, False),
        {"SipEp.UserAgent[Phone-Fax1].FriendlyName": "Alice Lab"}),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.param.removeprefix("SipEp.") for r in ROWS])
async def test_each_value_shows_on_the_wire(row: Row, units: list[Unit], tmp_path: Path, pkis: Pkis,
                                            far_end: FarEnd) -> None:
    u = await lab_unit(units, tmp_path, pkis, user="alice", registrar="home.example", key_management="Sdes",
                       tls=False, settings={
                           "SipEp.UserAgent[Phone-Fax1].Register": "Disable",
                           "SipEp.DefaultStaticProxyOutboundHost": f"127.0.0.1:{far_end.port}",
                           "Mipt.DefaultSecurityRtpMode": "Unsecure",
                           **row.settings, row.param: row.values[0]})
    shown = []
    far_end.directions = row.far_directions
    for value in row.values:
        if u.config.get(row.param) != value:
            u.config.set(row.param, value)
            if row.param in RESTART:
                await u.restart_service("SipEp")
        shown.append(row.show(await one_call(u, far_end)))
    assert tuple(shown) == row.expected, (row.param, shown)


# ------------------------------------------------------------------ the cause a refusal carries (RFC 3326, 3398)
async def test_cause_to_sip_mapping_sets_the_refusal_status_and_reason(units: list[Unit], tmp_path: Path, pkis: Pkis,
                                                                        far_end: FarEnd) -> None:
    """A call no route takes (CRout, factory auto-routing) is refused with Q.850 cause 3: 404 and ``Reason:
    Q.850;cause=3`` by RFC 3398, the ``SipEp.ErrorMappingCauseToSip`` row's SipCode once there is one."""
    u = await lab_unit(units, tmp_path, pkis, user="alice", registrar="home.example", tls=False, routing=True,
                       settings={"SipEp.UserAgent[Phone-Fax1].Register": "Disable"})
    unit = (u.host, sipep(u).ua.gateways["default"].ports["UDP"])
    seen = []
    for n, rows in enumerate(([], [{"Cause": 3, "SipCode": 480}])):
        for row in rows:
            u.config.add_row("SipEp.ErrorMappingCauseToSip", row)
        response = await far_end.call(unit, "nobody", f"cause-{n}")
        seen.append((response.split(" ", 2)[1], header(response, "Reason")))
    reason = 'Q.850;cause=3;text="No route to destination"'
    assert seen == [("404", reason), ("480", reason)], seen


# ------------------------------------------------------------------ an offer that cannot be read
async def test_reject_code_for_unsupported_sdp_offer(units: list[Unit], tmp_path: Path, pkis: Pkis,
                                                    far_end: FarEnd) -> None:
    """``SipEp.InteropRejectCodeForUnsupportedSdpOffer``: an INVITE whose SDP is not SDP is refused 415 Unsupported
    Media Type (factory) or 488 Not Acceptable Here."""
    u = await lab_unit(units, tmp_path, pkis, user="alice", registrar="home.example", key_management="Sdes",
                       tls=False, settings={"SipEp.UserAgent[Phone-Fax1].Register": "Disable",
                                            "Mipt.DefaultSecurityRtpMode": "Unsecure"})
    unit = (u.host, sipep(u).ua.gateways["default"].ports["UDP"])
    seen = []
    for n, value in enumerate(("UnsupportedMediaType", "NotAcceptableHere")):
        u.config.set("SipEp.InteropRejectCodeForUnsupportedSdpOffer", value)
        response = await far_end.call(unit, "alice", f"bad-sdp-{n}", sdp="v=0\r\nthis is not SDP\r\n")
        seen.append(response.split("\r\n", 1)[0])
    assert seen == ["SIP/2.0 415 Unsupported Media Type", "SIP/2.0 488 Not Acceptable Here"], seen


# ------------------------------------------------------------------ early media and the PRACK
async def early_rtp(far: FarEnd, unit: tuple[str, int], call_id: str) -> tuple[int, int]:
    """The far end calls the unit asking for 100rel: RTP packets it receives in 0.4 s after the unit's reliable 183
    and before its PRACK, then in 0.4 s after the PRACK's 200 (the call is cancelled after)."""
    host, port = unit
    uri = f"sip:alice@{host}:{port}"
    head = [f"Via: SIP/2.0/UDP 127.0.0.1:{far.port};branch=z9hG4bKem{call_id}", "Max-Forwards: 70",
            f"From: <sip:far@127.0.0.1>;tag=em{call_id}", f"Call-ID: {call_id}"]
    sdp = far.offer("sendrecv")
    mark = len(far.received)
    far.transport.sendto("\r\n".join([f"INVITE {uri} SIP/2.0", *head, f"To: <{uri}>", "CSeq: 1 INVITE",
                                       f"Contact: <sip:far@127.0.0.1:{far.port}>", "Supported: 100rel",
                                       "Content-Type: application/sdp", f"Content-Length: {len(sdp)}", "",
                                       sdp]).encode(), unit)
    await wait_for(lambda: any(m.startswith("SIP/2.0 183") for m in far.received[mark:]), what="the reliable 183")
    ringing = next(m for m in far.received[mark:] if m.startswith("SIP/2.0 183"))
    to = header(ringing, "To") or ""
    start = far.rtp.packets
    await asyncio.sleep(0.4)
    before = far.rtp.packets - start
    fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    far.waiting["2 PRACK"] = fut
    prack = [f"PRACK {uri} SIP/2.0", f"Via: SIP/2.0/UDP 127.0.0.1:{far.port};branch=z9hG4bKpr{call_id}",
             *head[1:], f"To: {to}", "CSeq: 2 PRACK", f"RAck: {header(ringing, 'RSeq')} 1 INVITE", "Content-Length: 0",
             "", ""]
    far.transport.sendto("\r\n".join(prack).encode(), unit)
    assert (await asyncio.wait_for(fut, 8)).startswith("SIP/2.0 200")
    start = far.rtp.packets
    await asyncio.sleep(0.4)
    after = far.rtp.packets - start
    cancelled: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    far.waiting["1 INVITE"] = cancelled
    far.transport.sendto("\r\n".join([f"CANCEL {uri} SIP/2.0", *head, f"To: <{uri}>", "CSeq: 1 CANCEL",
                                       "Content-Length: 0", "", ""]).encode(), unit)
    final = await asyncio.wait_for(cancelled, 8)
    far.transport.sendto("\r\n".join([f"ACK {uri} SIP/2.0", *head, f"To: {header(final, 'To')}", "CSeq: 1 ACK",
                                       "Content-Length: 0", "", ""]).encode(), unit)
    return before, after


async def test_early_media_waits_for_the_prack_when_asked(units: list[Unit], tmp_path: Path, pkis: Pkis,
                                                          far_end: FarEnd) -> None:
    """``SipEp.InteropActivateEarlyMediaOnProvisionalResponseAck``: the called line's ringback (early media of its
    reliable 183, ``UasPrackSupport`` Supported) reaches the far end before its PRACK with Disable (factory), only
    after the 200 to the PRACK with Enable."""
    u = await lab_unit(units, tmp_path, pkis, user="alice", registrar="home.example", key_management="Sdes",
                       tls=False, settings={"SipEp.UserAgent[Phone-Fax1].Register": "Disable",
                                            "Mipt.DefaultSecurityRtpMode": "Unsecure",
                                            "SipEp.UasPrackSupport": "Supported"})
    unit = (u.host, sipep(u).ua.gateways["default"].ports["UDP"])
    seen = {}
    for value in ("Disable", "Enable"):
        u.config.set("SipEp.InteropActivateEarlyMediaOnProvisionalResponseAck", value)
        seen[value] = await early_rtp(far_end, unit, f"early-{value}")
    (off_before, off_after), (on_before, on_after) = seen["Disable"], seen["Enable"]
    assert off_before > 5 and off_after > 5 and on_before == 0 and on_after > 5, seen


# ------------------------------------------------------------------ RTP before the answer
async def test_listen_for_early_rtp(units: list[Unit], tmp_path: Path, pkis: Pkis, far_end: FarEnd) -> None:
    """``SipEp.InteropListenForEarlyRtpEnable``: RTP the far end sends to the port of the unit's offer before it
    answers is received by the calling line with Enable, not with Disable (factory)."""
    u = await lab_unit(units, tmp_path, pkis, user="alice", registrar="home.example", key_management="Sdes",
                       tls=False, settings={"SipEp.UserAgent[Phone-Fax1].Register": "Disable",
                                            "SipEp.DefaultStaticProxyOutboundHost": f"127.0.0.1:{far_end.port}",
                                            "Mipt.DefaultSecurityRtpMode": "Unsecure"})
    far_end.answer_later = True
    seen = {}
    for value in ("Disable", "Enable"):
        u.config.set("SipEp.InteropListenForEarlyRtpEnable", value)
        far_end.pending.clear()
        call = await sipep(u).calls.dial(EP, "bob")
        await wait_for(lambda: bool(far_end.pending), what="the INVITE")
        invite, addr = far_end.pending[0]
        sdp = sdp_lines(invite)
        host = next(x for x in sdp if x.startswith("c="))[2:].split()[-1]
        port = int(next(x for x in sdp if x.startswith("m=audio"))[2:].split()[1])
        for seq in range(20):  # PCMU, 20 ms each
            far_end.rtp.transport.sendto(bytes([0x80, 0]) + seq.to_bytes(2, "big") + (seq * 160).to_bytes(4, "big")
                                         + b"\x12\x34\x56\x78" + b"\xff" * 160, (host, port))
        await asyncio.sleep(0.3)
        seen[value] = stream(call).packets_received
        far_end._answer(invite, addr, far_end._sdp("sendrecv"))
        await wait_for(lambda c=call: c.state == "connected", what="the call answered")
        await sipep(u).calls.hangup(EP)
    assert seen["Disable"] == 0 and seen["Enable"] >= 15, seen


# ------------------------------------------------------------------ secure transport and media: the Siemens header
async def test_siemens_transport_header_marks_a_secure_call(units: list[Unit], kamailios: list[Kamailio],
                                                            tmp_path: Path, pkis: Pkis) -> None:
    """``SipEp.InteropSiemensTransportHeaderEnable``: an INVITE over TLS offering SRTP (SDES) carries
    ``x-Siemens-Call-Type: ST-secure`` with Enable, not with Disable (factory); as bob's unit received it through
    Kamailio."""
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    seen = []
    for value in ("Disable", "Enable"):
        a.config.set("SipEp.InteropSiemensTransportHeaderEnable", value)
        await sipep(a).calls.dial(EP, "bob")
        await wait_for(lambda: (c := sipep(b).calls.current("Bri1")) is not None and c.invite is not None,
                       what="bob's unit rung")
        incoming = sipep(b).calls.current("Bri1")
        assert incoming is not None and incoming.invite is not None
        seen.append(incoming.invite.headers.get("x-Siemens-Call-Type"))
        await sipep(a).calls.hangup(EP)
        await wait_for(lambda: sipep(b).calls.current("Bri1") is None, what="bob's call ended")
    assert seen == [None, "ST-secure"], seen


# ------------------------------------------------------------------ the keep-alive OPTIONS' From
@dataclass
class OptionsRegistrar:
    """A TCP registrar answering REGISTER and OPTIONS 200 OK; keeps the OPTIONS it received."""

    server: asyncio.Server | None = None
    port: int = 0
    options: list[str] = field(default_factory=list)

    async def start(self) -> OptionsRegistrar:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = b""
        while data := await reader.read(4096):
            buf += data
            while b"\r\n\r\n" in buf:  # requests with no body (REGISTER, OPTIONS: Content-Length 0)
                head, buf = buf.split(b"\r\n\r\n", 1)
                text = head.decode(errors="replace")
                if not text.strip():
                    continue
                if text.startswith("OPTIONS "):
                    self.options.append(text)
                to = header(text, "To") or ""
                reply = ["SIP/2.0 200 OK", *[f"Via: {v}" for k, v in _headers(text) if k == "via"],
                         f"From: {header(text, 'From')}", f"To: {to};tag=reg", f"Call-ID: {header(text, 'Call-ID')}",
                         f"CSeq: {header(text, 'CSeq')}", "Expires: 3600", "Content-Length: 0"]
                if text.startswith("REGISTER "):
                    reply.insert(-2, f"Contact: {header(text, 'Contact')}")
                writer.write(("\r\n".join(reply) + "\r\n\r\n").encode())
        writer.close()


async def test_keepalive_option_format_sets_the_options_from(units: list[Unit], tmp_path: Path, pkis: Pkis) -> None:
    reg = await OptionsRegistrar().start()
    try:
        u = await lab_unit(units, tmp_path, pkis, user="alice", registrar=f"127.0.0.1:{reg.port}", tls=False,
                           settings={"SipEp.TransportConfig[default].TcpEnable": "Enable",
                                     "SipEp.TransportConfig[default].UdpEnable": "Disable",
                                     "SipEp.SipKeepAliveMethod": "SipOptions", "SipEp.SipKeepAliveInterval": 1,
                                     "SipEp.InteropKeepAliveOptionFormat": "ShortFrom"})
        froms = []
        for value in ("ShortFrom", "FullFrom"):
            if u.config.get("SipEp.InteropKeepAliveOptionFormat") != value:
                u.config.set("SipEp.InteropKeepAliveOptionFormat", value)
                await u.restart_service("SipEp")
            mark = len(reg.options)
            await wait_for(lambda m=mark: len(reg.options) > m, what=f"a keep-alive OPTIONS ({value})")
            froms.append((header(reg.options[mark], "From") or "").split(";tag=")[0])
        assert froms == [f"<sip:{u.host}>", f"<sip:alice@{u.host}>"], froms
    finally:
        assert reg.server is not None
        reg.server.close()

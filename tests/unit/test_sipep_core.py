"""Pure parts of the SIP transport and SipEp service: Via stamping and response routing (§18.2,
RFC 3581), the persistent port cycle, host:port and User-Agent formats, credential selection."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.aaa import AuthResult
from emulator.engines.sipep.engine import ServerAddr, SipEpEngine, parse_host_port, user_agent
from emulator.engines.sipep.transport import PortCycle, SipTransport
from emulator.ops import actions
from emulator.ops.errors import OpError
from emulator.protocols.sip import parse_message
from emulator.protocols.sip.message import Request, make_response
from emulator.protocols.sip.target import Target, response_target, stamp_via
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

REQ = (
    b"OPTIONS sip:gw@127.0.0.2 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP {via};branch=z9hG4bKabc\r\nVia: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bKold\r\n"
    b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:gw@127.0.0.2>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
    b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def request(via: str) -> Request:
    msg = parse_message(REQ.replace(b"{via}", via.encode()))
    assert isinstance(msg, Request)
    return msg


@pytest.mark.parametrize(("via", "source", "expected_via", "target"), [
    ("127.0.0.1:5070", ("127.0.0.1", 5070), "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc", ("127.0.0.1", 5070)),
    ("host.example:5070", ("127.0.0.1", 5070), "SIP/2.0/UDP host.example:5070;branch=z9hG4bKabc;received=127.0.0.1",
     ("127.0.0.1", 5070)),
    ("127.0.0.1:5070;rport", ("127.0.0.1", 40000),
     "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;received=127.0.0.1;rport=40000", ("127.0.0.1", 40000)),
    ("127.0.0.1", ("127.0.0.1", 5060), "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKabc", ("127.0.0.1", 5060)),
])
def test_stamp_via_and_response_target(via: str, source: tuple[str, int], expected_via: str,
                                       target: tuple[str, int]) -> None:
    req = request(via)
    stamp_via(req, *source)
    vias = req.headers.get_all("Via")
    assert len(req.via) == 2 and req.via[1].branch == "z9hG4bKold", vias
    top = str(req.via[0])
    for part in expected_via.split(";"):
        assert part in top, (top, expected_via)
    resp = make_response(req, 200)
    assert response_target(resp) == Target("UDP", *target)


def test_port_cycle() -> None:
    assert PortCycle(16000).ports()[:3] == [16000, 16001, 16002]
    cycle = PortCycle(16000, 100)
    assert cycle.ports()[0] == 16000 and len(cycle.ports()) == 101
    cycle.last = 16005
    assert cycle.ports()[:2] == [16006, 16007] and cycle.ports()[-1] == 16005
    cycle.last = 16100
    assert cycle.ports()[0] == 16000


def test_host_port_and_server_addr() -> None:
    assert parse_host_port("10.5.128.14:5063") == ("10.5.128.14", 5063)
    assert parse_host_port("proxy.example") == ("proxy.example", 0)
    assert parse_host_port("[::1]:5061") == ("::1", 5061)
    assert ServerAddr.parse("192.168.10.10:0") == ServerAddr("192.168.10.10", 0)
    assert ServerAddr.parse("0.0.0.0:0") is None and ServerAddr.parse("") is None
    assert ServerAddr("h", 0).target("TLS") == Target("TLS", "h", 5061)
    assert ServerAddr("h", 0).target("UDP") == Target("UDP", "h", 5060)


def test_user_agent_format() -> None:
    macros = {"product": "Mediatrix 4102", "version": "49.12.2941", "profile": "4102", "mac": "0090f8000001"}
    assert user_agent("%product%/v%version% %profile%", macros) == "Mediatrix 4102/v49.12.2941 4102"
    assert user_agent("%mac% 100%% %unknown%", macros) == "0090f8000001 100% %unknown%"


def test_credentials_follow_the_authentication_table(tmp_path: Path) -> None:
    u = Unit(name="u", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    eng = SipEpEngine(u)
    c = u.config
    c.set("SipEp.UserAgent[Phone-Fax1].Username", "5551001")
    c.set("SipEp.UserAgent[Phone-Fax1].Register", "Enable")
    c.set("SipEp.UserAgent[Phone-Fax2].Username", "5551002")
    c.set("SipEp.UserAgent[Phone-Fax2].Register", "Enable")
    c.add_row("SipEp.Authentication", {"CriteriaSelection": "Endpoint", "EpId": "Phone-Fax2", "Username": "fax2",
                                       "Password": "p2"})
    c.add_row("SipEp.Authentication", {"CriteriaSelection": "Unit", "Realm": "lab", "Username": "", "Password": "pu"})
    regs = eng.regs.read(eng.settings.gateways())
    assert [(r.endpoint, r.username, r.gateway) for r in regs] == [("Phone-Fax1", "5551001", "default"),
                                                                   ("Phone-Fax2", "5551002", "default")]
    assert eng.regs.credentials(regs[1], "lab") == ("fax2", "p2")
    assert eng.regs.credentials(regs[0], "lab") == ("5551001", "pu")  # empty user name: the registration's own
    assert eng.regs.credentials(regs[0], "other") is None  # ValidateRealm (factory Enable) with a realm set
    assert eng.user_agent() == "Mediatrix 4102/v49.12.2941 4102"
    c.set("SipEp.InteropSendUaHeaderEnable", "Disable")
    assert eng.user_agent() is None
    assert c.rows("SipEp.RegistrationStatus") == [] and c.rows("SipEp.TlsPersistentConnectionStatus") == []


async def test_endpoint_action_errors(tmp_path: Path) -> None:
    """The endpoint actions' refusals, as the ops action table gives them to every face (status and kind)."""
    u = Unit(name="u", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    eng = SipEpEngine(u)
    u.attach(eng)
    admin = AuthResult(True, "admin", "Admin")

    async def run(ep: str, name: str, body: dict[str, str] | None = None) -> Any:
        action = actions.find(name)
        assert action is not None, name
        answer = actions.invoke(u, admin, action, ep, body)
        return await answer if inspect.isawaitable(answer) else answer

    assert actions.find("jump") is None  # no such action: the API has no route for it (404)
    for ep, name, body, status, kind in [("Phone-Fax9", "dial", {"number": "1"}, 404, "call"),
                                         ("Phone-Fax1", "hangup", None, 503, "call")]:
        with pytest.raises(OpError) as err:
            await run(ep, name, body)
        assert (err.value.status, str(err.value.kind)) == (status, kind)
    eng.ua.start(SipTransport(u.host, eng.ua.receive), eng.settings.gateways(), "UDP")  # as if started (no socket)
    u.services["SipEp"].state = "Started"
    with pytest.raises(OpError) as err:
        await run("phone-fax1", "dial", {})
    assert (err.value.status, str(err.value.kind)) == (400, "bad-request")
    for name in ("answer", "hold", "resume"):
        with pytest.raises(OpError) as err:
            await run("Phone-Fax1", name)
        assert (err.value.status, str(err.value.kind)) == (409, "call")
    assert await run("Phone-Fax1", "hangup") == {"endpoint": "Phone-Fax1", "action": "hangup", "call": None}
    await eng.ua.stop()


def test_info_dtmf_bodies() -> None:
    from emulator.engines.sipep.calls import info_dtmf_digit

    assert info_dtmf_digit("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n") == "5"
    assert info_dtmf_digit("Application/DTMF-Relay; charset=x", b"signal= #\r\n") == "#"
    assert info_dtmf_digit("application/dtmf", b"11") == "#"  # event code 11
    assert info_dtmf_digit("application/dtmf", b"a") == "A"
    assert info_dtmf_digit("application/dtmf-relay", b"Duration=160") is None
    assert info_dtmf_digit("application/dtmf", b"X") is None
    assert info_dtmf_digit("text/plain", b"5") is None


def test_sipfrag_status_line() -> None:
    from emulator.engines.sipep.calls import sipfrag_status

    assert sipfrag_status(b"SIP/2.0 200 OK\r\n") == 200
    assert sipfrag_status(b"SIP/2.0 100 Trying") == 100
    assert sipfrag_status(b"SIP/2.0 486 Busy Here\nVia: x") == 486
    assert sipfrag_status(b"") is None and sipfrag_status(b"INVITE sip:a@b SIP/2.0") is None

"""The CPE session state machine, fed by hand (no sockets): auth, cookies, HoldRequests, namespaces, events."""

from __future__ import annotations

import random
import re
import time

import pytest

from emulator.protocols.cwmp.session import (
    CpeRequest,
    CwmpSession,
    DigestServer,
    EventQueue,
    HttpRequest,
    SessionEnd,
    answer_challenges,
    digest_authorization,
    parse_challenge,
    retry_wait,
)
from emulator.protocols.cwmp.soap import CWMP_NAMESPACES, Envelope, parse_envelope

ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def acs(body: str, msg_id: str = "1", ns: str = CWMP_NAMESPACES[0], hold: bool = False) -> bytes:
    h = f'<cwmp:ID soap:mustUnderstand="1">{msg_id}</cwmp:ID>'
    if hold:
        h += '<cwmp:HoldRequests soap:mustUnderstand="1">1</cwmp:HoldRequests>'
    return (f'<soap:Envelope xmlns:soap="{ENV}" xmlns:cwmp="{ns}"><soap:Header>{h}</soap:Header>'
            f"<soap:Body>{body}</soap:Body></soap:Envelope>").encode()


INFORM_RESPONSE = "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>"


def echo_handler(env: Envelope) -> str:
    return f"<cwmp:{env.method}Response/>"


def new_session(**kw: object) -> CwmpSession:
    return CwmpSession("http://127.0.0.1:9/acs", "<cwmp:Inform/>", echo_handler, **kw)  # type: ignore[arg-type]


def test_plain_session_flow() -> None:
    s = new_session()
    r = s.start(0.0)
    assert isinstance(r, HttpRequest) and b"<cwmp:Inform/>" in r.body and r.headers["SOAPAction"] == '""'
    assert r.deadline == 30.0
    r2 = s.receive(200, [("Set-Cookie", "sid=abc; Path=/; HttpOnly")], acs(INFORM_RESPONSE), 1.0)
    assert isinstance(r2, HttpRequest) and r2.body == b"" and r2.headers["Cookie"] == "sid=abc"
    assert "Content-Type" not in r2.headers  # empty POST
    r3 = s.receive(200, [], acs("<cwmp:GetRPCMethods/>", "acs-7", CWMP_NAMESPACES[2]), 2.0)
    assert isinstance(r3, HttpRequest)
    env = parse_envelope(r3.body)
    assert env.method == "GetRPCMethodsResponse" and env.id == "acs-7" and env.ns == CWMP_NAMESPACES[2]
    assert "SOAPAction" not in r3.headers and r3.headers["Cookie"] == "sid=abc"
    end = s.receive(204, [], b"", 3.0)
    assert end == SessionEnd(True, "ACS has no more requests")
    assert s.inform_acknowledged


def test_digest_challenge_answered_once_then_failure() -> None:
    s = new_session(username="cpe", password="pw")
    s.start(0.0)
    ch = 'Digest realm="acs", qop="auth", nonce="n1", opaque="o"'
    r = s.receive(401, [("WWW-Authenticate", ch)], b"", 0.1)
    assert isinstance(r, HttpRequest) and b"<cwmp:Inform/>" in r.body
    scheme, p = parse_challenge(r.headers["Authorization"])
    assert scheme == "digest" and p["username"] == "cpe" and p["uri"] == "/acs" and p["nc"] == "00000001"
    expected = digest_authorization({"realm": "acs", "qop": "auth", "nonce": "n1", "opaque": "o"}, "POST", "/acs",
                                    "cpe", "pw", 1, cnonce=p["cnonce"])
    assert parse_challenge(expected)[1]["response"] == p["response"]
    end = s.receive(401, [("WWW-Authenticate", ch)], b"", 0.2)
    assert isinstance(end, SessionEnd) and end.auth_failed and not end.ok


def test_basic_auth_and_no_credentials() -> None:
    s = new_session(username="u", password="p")
    s.start(0.0)
    r = s.receive(401, [("WWW-Authenticate", 'Basic realm="x"')], b"", 0.1)
    assert isinstance(r, HttpRequest) and r.headers["Authorization"] == "Basic dTpw"
    s2 = new_session()
    s2.start(0.0)
    end = s2.receive(401, [("WWW-Authenticate", 'Basic realm="x"')], b"", 0.1)
    assert isinstance(end, SessionEnd) and end.auth_failed


def test_hold_requests_delays_transfer_complete() -> None:
    acked: list[str] = []
    tc = CpeRequest("TransferComplete", lambda ns: f"<cwmp:TransferComplete><!--{ns}--></cwmp:TransferComplete>",
                    lambda env: acked.append(env.method))
    s = new_session(cpe_requests=[tc])
    s.start(0.0)
    r = s.receive(200, [], acs(INFORM_RESPONSE, hold=True, ns=CWMP_NAMESPACES[1]), 0.1)
    assert isinstance(r, HttpRequest) and r.body == b""  # held: empty POST instead of TransferComplete
    r = s.receive(200, [], acs("<cwmp:GetRPCMethods/>", "a", ns=CWMP_NAMESPACES[1], hold=True), 0.2)
    assert isinstance(r, HttpRequest) and b"GetRPCMethodsResponse" in r.body
    r = s.receive(204, [], b"", 0.3)  # ACS done and no longer holding: now the CPE's request
    assert isinstance(r, HttpRequest) and b"TransferComplete" in r.body and CWMP_NAMESPACES[1].encode() in r.body
    r = s.receive(200, [], acs("<cwmp:TransferCompleteResponse/>", "cpe-2", ns=CWMP_NAMESPACES[1]), 0.4)
    assert acked == ["TransferCompleteResponse"]
    assert isinstance(r, HttpRequest) and r.body == b""
    assert isinstance(s.receive(204, [], b"", 0.5), SessionEnd)


def test_failures() -> None:
    s = new_session()
    s.start(0.0)
    end = s.receive(500, [], b"", 0.1)
    assert isinstance(end, SessionEnd) and not end.ok and end.http_status == 500
    s = new_session()
    s.start(0.0)
    fault = acs("<soap:Fault><faultcode>Server</faultcode><faultstring>x</faultstring><detail><cwmp:Fault>"
                "<FaultCode>8005</FaultCode><FaultString>Retry</FaultString></cwmp:Fault></detail></soap:Fault>")
    end = s.receive(200, [], fault, 0.1)
    assert isinstance(end, SessionEnd) and not end.ok and "8005" in end.reason
    s = new_session()
    s.start(0.0)
    end = s.receive(200, [], b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", 0.1)
    assert isinstance(end, SessionEnd) and not end.ok
    assert s.timeout_expired(40.0).reason == "timeout"


def test_broken_acs_request_gets_a_fault_and_session_goes_on() -> None:
    s = new_session()
    s.start(0.0)
    s.receive(200, [], acs(INFORM_RESPONSE), 0.1)
    r = s.receive(200, [], b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "x">]><l>&a;</l>', 0.2)
    assert isinstance(r, HttpRequest)
    env = parse_envelope(r.body)
    assert env.method == "Fault" and env.fault_code == 9003
    assert isinstance(s.receive(204, [], b"", 0.3), SessionEnd)


def test_retry_wait_table() -> None:
    rnd = random.Random(1)
    table = {1: (5, 10), 2: (10, 20), 3: (20, 40), 4: (40, 80), 5: (80, 160), 6: (160, 320), 7: (320, 640),
             8: (640, 1280), 9: (1280, 2560), 10: (2560, 5120), 15: (2560, 5120)}
    for n, (lo, hi) in table.items():
        for _ in range(50):
            assert lo <= retry_wait(n, rnd=rnd) <= hi


def test_event_retention() -> None:
    q = EventQueue()
    q.on_boot()
    q.add("0 BOOTSTRAP")
    q.add("4 VALUE CHANGE")
    q.add("4 VALUE CHANGE")
    q.add("M Download", "k1")
    q.add("7 TRANSFER COMPLETE")
    q.transfers.append({"command_key": "k1"})
    assert q.events.count(("4 VALUE CHANGE", "")) == 1
    sent = list(q.events)
    q.delivered(sent, [])
    assert q.events == [("M Download", "k1"), ("7 TRANSFER COMPLETE", "")]  # held until TransferCompleteResponse
    q.transfer_acknowledged("k1")
    assert q.events == [] and q.transfers == []
    q.add("6 CONNECTION REQUEST")
    q.add("2 PERIODIC")
    q.on_failure()
    assert q.events == [("2 PERIODIC", "")]  # a connection request is not retried
    q.add("4 VALUE CHANGE")
    q.add("M Reboot", "r")
    q.on_boot()
    assert q.events == [("M Reboot", "r"), ("1 BOOT", "")]
    q.add("0 BOOTSTRAP")
    assert ("1 BOOT", "") in q.events and ("0 BOOTSTRAP", "") in q.events
    assert EventQueue.from_doc(q.to_doc()) == q


def test_digest_server() -> None:
    srv = DigestServer("Mediatrix 1", lifetime=60, secret=b"k")
    ch = parse_challenge(srv.challenge(1000.0))[1]
    good = digest_authorization(ch, "GET", "/1", "admin", "pw", 1)
    assert srv.verify(good, "GET", "admin", "pw", now=1001.0)
    assert not srv.verify(good, "GET", "admin", "other", now=1001.0)
    assert not srv.verify(good, "GET", "root", "pw", now=1001.0)
    assert not srv.verify(good, "GET", "admin", "pw", now=2000.0)  # nonce expired
    forged = re.sub(r'nonce="[^"]*"', 'nonce="3e8-000000000000000000000000"', good)
    assert not srv.verify(forged, "GET", "admin", "pw", now=1001.0)
    assert not srv.verify(None, "GET", "admin", "pw")
    assert not srv.verify("Basic YWRtaW46cHc=", "GET", "admin", "pw")


def test_file_server_challenges_are_answered() -> None:
    """A Download/Upload file server's 401: Digest when offered (for the URL's path), else Basic."""
    srv = DigestServer("files", lifetime=60, secret=b"k")
    offered = ['Basic realm="files"', srv.challenge(time.time())]
    answer = answer_challenges(offered, "GET", "http://127.0.0.1:8080/conf/unit.cfg", "admin", "pw")
    assert 'uri="/conf/unit.cfg"' in answer and srv.verify(answer, "GET", "admin", "pw")
    assert answer_challenges(['Basic realm="x"'], "PUT", "http://h/x", "admin", "pw") == "Basic YWRtaW46cHc="
    assert 'uri="/"' in answer_challenges([srv.challenge(time.time())], "GET", "http://h", "admin", "pw")


@pytest.mark.parametrize("status", [301, 404])
def test_unexpected_status_ends(status: int) -> None:
    s = new_session()
    s.start(0.0)
    assert isinstance(s.receive(status, [], b"", 0.1), SessionEnd)

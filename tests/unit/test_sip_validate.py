"""UAS request checks beyond the RFC 4475 table (RFC 3261 §8.2, §16.3, §8.2.2.2) and response drops (§8.1.3.3)."""

from __future__ import annotations

import pytest

from emulator.protocols.sip import Request, Response, SipParseError, parse_datagram, parse_message
from emulator.protocols.sip.dialog import uas_dialog_id
from emulator.protocols.sip.transaction import TransactionLayer, make_cancel
from emulator.protocols.sip.validate import (
    DGW_METHODS,
    MergedRequests,
    Policy,
    check_cancel,
    check_dialog,
    check_request,
    check_response,
    inspect_datagram,
    rejection_for_error,
)
from testkit.sip_vectors import INVITE_SDP, OK_INVITE, REGISTER


def invite(**replace: bytes) -> Request:
    data = INVITE_SDP
    for old, new in replace.items():
        data = data.replace(old.encode(), new)
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def test_a_good_invite_passes() -> None:
    assert check_request(invite()) is None


def test_require_420_honours_supported() -> None:
    req = invite(**{"Supported: replaces, timer": b"Require: timer, foo\r\nSupported: replaces, timer"})
    rejection = check_request(req)
    assert rejection is not None and rejection.status == 420 and rejection.headers == (("Unsupported", "timer, foo"),)
    rejection = check_request(req, Policy(supported=frozenset({"timer"})))
    assert rejection is not None and rejection.headers == (("Unsupported", "foo"),)
    assert check_request(req, Policy(supported=frozenset({"timer", "foo"}))) is None


def test_method_checks_carry_allow() -> None:
    req = parse_message(REGISTER)
    assert isinstance(req, Request)
    rejection = check_request(req)
    assert rejection is not None and rejection.status == 405
    assert dict(rejection.headers)["Allow"] == ", ".join(sorted(DGW_METHODS))
    assert check_request(req, Policy(allowed_methods=DGW_METHODS | {"REGISTER"})) is None


def test_body_checks() -> None:
    missing_type = invite(**{"Content-Type: application/sdp\r\n": b""})
    assert check_request(missing_type).status == 400  # type: ignore[union-attr]
    gz = invite(**{"Content-Type: application/sdp": b"Content-Type: application/sdp\r\nContent-Encoding: gzip"})
    rejection = check_request(gz)
    assert rejection is not None and rejection.status == 415 and rejection.headers == (("Accept-Encoding", "identity"),)
    assert check_request(invite(**{"Content-Type: application/sdp": b"Content-Type: Application/SDP"})) is None


def test_invite_contact_rules() -> None:
    two = invite(**{"Contact: <sip:5551001@127.0.0.1:16000;transport=tls>":
                    b"Contact: <sip:a@127.0.0.1>, <sip:b@127.0.0.1>"})
    assert check_request(two).status == 400  # type: ignore[union-attr]
    tel = invite(**{"Contact: <sip:5551001@127.0.0.1:16000;transport=tls>": b"Contact: <tel:+15551001>"})
    assert check_request(tel).status == 400  # type: ignore[union-attr]


def test_registrar_wildcard_needs_expires_zero() -> None:
    registrar = Policy(allowed_methods=DGW_METHODS | {"REGISTER"})
    star = parse_message(REGISTER.replace(b"Contact: <sip:5551001@127.0.0.1:16000;transport=tls>;expires=3600",
                                          b"Contact: *"))
    assert check_request(star, registrar).status == 400  # type: ignore[arg-type, union-attr]
    star0 = parse_message(REGISTER.replace(b"Contact: <sip:5551001@127.0.0.1:16000;transport=tls>;expires=3600",
                                           b"Contact: *").replace(b"Expires: 3600", b"Expires: 0"))
    assert check_request(star0, registrar) is None  # type: ignore[arg-type]


def test_an_ack_is_never_answered() -> None:
    ack = parse_message(INVITE_SDP.replace(b"INVITE sip:", b"ACK sip:").replace(b"101 INVITE", b"101 ACK")
                        .replace(b"Content-Type: application/sdp", b"Content-Type: text/weird"))
    rejection = check_request(ack)  # type: ignore[arg-type]
    assert rejection is not None and rejection.drop
    broken = INVITE_SDP.replace(b"INVITE sip:", b"ACK <sip:").replace(b"101 INVITE", b"101 ACK")
    assert inspect_datagram(broken).action == "drop"


def test_no_via_no_answer() -> None:
    no_via = INVITE_SDP.replace(b"Via: SIP/2.0/TLS 127.0.0.1:16000;branch=z9hG4bK4b2e8d0c11f3a9e7;rport\r\n", b"")
    assert inspect_datagram(no_via).action == "drop"
    with pytest.raises(SipParseError) as info:
        parse_datagram(no_via.replace(b"INVITE sip:", b"INVITE  sip:"))
    assert rejection_for_error(info.value).drop


def test_merged_requests_482() -> None:
    merged = MergedRequests()
    first = invite()
    assert merged.check(first, ("k", 1), 0.0) is None
    assert merged.check(first, ("k", 1), 0.1) is None  # same transaction: a retransmission
    forked = invite(**{"branch=z9hG4bK4b2e8d0c11f3a9e7": b"branch=z9hG4bKother"})
    rejection = merged.check(forked, ("k", 2), 0.2)
    assert rejection is not None and rejection.status == 482
    in_dialog = invite(**{"To: <sip:5551002@dgw.example.com>": b"To: <sip:5551002@dgw.example.com>;tag=x"})
    assert merged.check(in_dialog, ("k", 3), 0.3) is None


def test_response_drops() -> None:
    ok = parse_message(OK_INVITE)
    assert isinstance(ok, Response)
    assert check_response(ok) is None
    assert check_response(ok, sent_by=["127.0.0.1:16000"]) is None
    assert "not ours" in (check_response(ok, sent_by=["127.0.0.1:5060"]) or "")
    bad_cseq = parse_message(OK_INVITE.replace(b"CSeq: 101 INVITE", b"CSeq: x INVITE"))
    assert check_response(bad_cseq) is not None  # type: ignore[arg-type]


def test_outcome_response_is_addressed_like_the_request() -> None:
    outcome = inspect_datagram(INVITE_SDP.replace(b"Content-Type: application/sdp", b"Content-Type: text/html"))
    assert outcome.action == "reject" and outcome.status == 415 and outcome.response is not None
    wire = outcome.response.to_bytes()
    assert wire.startswith(b"SIP/2.0 415 Unsupported Media Type\r\nVia: SIP/2.0/TLS 127.0.0.1:16000;branch=")
    assert b"Accept: application/sdp\r\n" in wire and outcome.response.to.tag  # §8.2.6.2
    second = inspect_datagram(INVITE_SDP.replace(b"Content-Type: application/sdp", b"Content-Type: text/html"))
    assert second.response is not None and second.response.to.tag != outcome.response.to.tag
    assert inspect_datagram(b"\r\n\r\n").action == "keepalive"


def test_481_for_unknown_dialogs_and_cancels() -> None:
    in_dialog = invite(**{"To: <sip:5551002@dgw.example.com>": b"To: <sip:5551002@dgw.example.com>;tag=x"})
    assert check_dialog(invite(), set()) is None  # no To tag: not an in-dialog request
    assert check_dialog(in_dialog, {uas_dialog_id(in_dialog)}) is None
    rejection = check_dialog(in_dialog, set())
    assert rejection is not None and rejection.status == 481
    layer = TransactionLayer()
    cancel = make_cancel(invite())
    assert check_cancel(cancel, layer).status == 481  # type: ignore[union-attr]
    layer.receive(invite(), 0.0)
    assert check_cancel(cancel, layer) is None

"""What a message keeps parsed (emulator/protocols/sip/message.py): a change drops the parsed value of the field it
changed and only that one; a response made from a request starts with the request's parsed fields; a replaced top Via
stays parsed. In every case what the accessors give is what parsing the message's bytes again gives."""

from __future__ import annotations

import pytest

from emulator.protocols.sip import Request, Response, make_response, parse_message
from emulator.protocols.sip.errors import HeaderError
from emulator.protocols.sip.headers import Via, parse_token_list
from emulator.protocols.sip.target import response_target, stamp_via
from emulator.protocols.sip.transaction import (
    RELEASE_AFTER,
    Deliver,
    Effect,
    ServerInviteTransaction,
    State,
    TransactionLayer,
)
from testkit.sip_vectors import INVITE_SDP

PEER = ("127.0.0.1", 5060)
TWO_VIAS = (b"BYE sip:bob@127.0.0.3 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKtop;rport, SIP/2.0/UDP 127.0.0.8;branch=z9hG4bKnext\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.2>;tag=a1\r\nTo: <sip:bob@127.0.0.3>;tag=b1\r\n"
            b"Call-ID: c9@127.0.0.2\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n")


def _request(data: bytes) -> Request:
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def _fields(msg: Request | Response) -> tuple[object, ...]:
    """The structured fields as text, comparable across two parses."""
    return ([str(v) for v in msg.via], str(msg.from_), str(msg.to), msg.call_id, str(msg.cseq),
            [str(c) for c in msg.contact])


def _reparsed(msg: Request | Response) -> Request | Response:
    return parse_message(msg.to_bytes())


def test_a_change_drops_only_the_parsed_value_of_its_field() -> None:
    msg = _request(INVITE_SDP)
    from_, cseq = msg.from_, msg.cseq
    msg.headers.set("To", "<sip:carol@example.com>;tag=t9")
    assert msg.from_ is from_ and msg.cseq is cseq  # still the values read before
    assert msg.to.uri.user == "carol" and msg.to.tag == "t9"  # read again from the new value
    msg.headers.add("Supported", "100rel")
    assert "100rel" in msg.supported
    msg.headers.remove("Contact")
    assert msg.contact == [] and msg.from_ is from_


def test_replace_first_changes_the_first_value_of_a_list_field_in_place() -> None:
    msg = _request(TWO_VIAS)
    old = msg.headers.replace_first("v", "SIP/2.0/UDP 127.0.0.7;branch=z9hG4bKnew")
    assert old == "SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bKtop;rport"
    assert [v.branch for v in msg.via] == ["z9hG4bKnew", "z9hG4bKnext"]
    assert msg.headers.count("Via") == 1  # one field line still, both values on it
    assert msg.headers.replace_first("Route", "<sip:x;lr>") is None and "Route" not in msg.headers


def test_stamped_top_via_is_the_parsed_one_and_the_one_on_the_wire() -> None:
    msg = _request(TWO_VIAS)
    from_ = msg.from_
    stamp_via(msg, "127.0.0.10", 40000)
    top = msg.top_via
    assert top.received == "127.0.0.10" and top.rport == 40000 and top.branch == "z9hG4bKtop"
    assert msg.via[1].branch == "z9hG4bKnext" and msg.from_ is from_
    assert _fields(_reparsed(msg)) == _fields(msg)
    reply = make_response(msg, 200, to_tag="x")
    assert response_target(reply).host == "127.0.0.10" and response_target(reply).port == 40000


def test_set_top_via_on_a_copy_leaves_the_original_alone() -> None:
    msg = _request(INVITE_SDP)
    copy = Request(msg.method, msg.uri, msg.headers.copy(), msg.body)
    top = copy.top_via
    copy.set_top_via(Via(top.transport, top.host, top.port, {**top.params, "branch": "z9hG4bKother"}, top.protocol))
    assert copy.top_via.branch == "z9hG4bKother" and msg.top_via.branch == "z9hG4bK4b2e8d0c11f3a9e7"
    assert _reparsed(copy).top_via.branch == "z9hG4bKother"


@pytest.mark.parametrize("read_first", [True, False], ids=["request-read", "request-unread"])
@pytest.mark.parametrize("status", [100, 180, 200, 486])
def test_a_response_reads_as_its_bytes_whether_or_not_the_request_was_read(read_first: bool, status: int) -> None:
    request = _request(INVITE_SDP)
    if read_first:
        _fields(request)
    reply = make_response(request, status, to_tag="tt1", headers=[("Contact", "<sip:bob@127.0.0.3>")])
    assert _fields(reply) == _fields(_reparsed(reply))
    assert reply.to.tag == (None if status == 100 else "tt1")
    assert request.to.tag is None  # the request's To is not the response's


def test_a_field_the_caller_adds_is_read_from_the_response_not_copied_parsed() -> None:
    request = _request(INVITE_SDP)
    _fields(request)
    reply = make_response(request, 200, to_tag="t", headers=[("To", "<sip:x@example.com>;tag=given")])
    with pytest.raises(HeaderError):  # two To fields now: refused as parsing the bytes refuses them
        _ = reply.to
    assert reply.from_.tag == request.from_.tag


def test_a_to_tag_already_there_is_kept() -> None:
    request = _request(TWO_VIAS)
    _fields(request)
    reply = make_response(request, 200, to_tag="other")
    assert reply.to.tag == "b1" and _fields(reply) == _fields(_reparsed(reply))


@pytest.mark.parametrize("value, expected", [
    ("ACK, BYE,CANCEL ,\tINFO", ["ACK", "BYE", "CANCEL", "INFO"]),
    ("timer", ["timer"]),
    ("", []),
])
def test_token_list_fast_path_reads_as_the_general_one(value: str, expected: list[str]) -> None:
    assert parse_token_list([value], "Supported") == expected


@pytest.mark.parametrize("value", ["a, , b", "a b", "a,", "a;b"])
def test_token_list_refuses_what_it_refused(value: str) -> None:
    with pytest.raises(HeaderError):
        parse_token_list([value], "Supported")


# -- transactions waiting out their timers drop what their messages parsed (transaction.RELEASE_AFTER) -------------
def _incoming_invite() -> Request:
    return _request(INVITE_SDP)


def test_a_settled_transaction_drops_what_its_messages_parsed_and_still_matches() -> None:
    layer = TransactionLayer()
    invite = _incoming_invite()
    effects = layer.receive(invite, 0.0, peer=PEER)
    (server,) = [e.transaction for e in effects if isinstance(e, Deliver)]
    assert isinstance(server, ServerInviteTransaction)
    from_ = invite.from_
    ok = make_response(invite, 200, to_tag="bt")
    layer.respond(server, ok, 0.1)
    assert server.state is State.ACCEPTED
    layer.handle_timer(0.1 + RELEASE_AFTER / 2)
    assert invite.from_ is from_  # not yet: the transaction user may still be reading it
    layer.handle_timer(0.1 + RELEASE_AFTER)
    again = invite.from_
    assert again is not from_ and str(again) == str(from_)  # read again, the same value
    assert str(ok.to) == str(parse_message(ok.to_bytes()).to)
    # a retransmitted INVITE is still absorbed by the same transaction, an ACK for the 2xx passed up
    assert layer.receive(_incoming_invite(), 0.2 + RELEASE_AFTER, peer=PEER) == []
    ack = _request(INVITE_SDP.replace(b"INVITE sip:", b"ACK sip:", 1).replace(b" INVITE\r\n", b" ACK\r\n"))
    assert [type(e) for e in layer.receive(ack, 0.3 + RELEASE_AFTER, peer=PEER)] == [Deliver]


def test_a_transaction_still_waiting_for_its_answer_keeps_what_it_parsed() -> None:
    layer = TransactionLayer()
    invite = _incoming_invite()
    layer.receive(invite, 0.0, peer=PEER)
    from_ = invite.from_
    layer.handle_timer(10 * RELEASE_AFTER)
    assert invite.from_ is from_


def test_a_client_transaction_passes_2xx_retransmissions_after_the_release() -> None:
    layer = TransactionLayer()
    out = _request(INVITE_SDP)
    txn, _ = layer.send_request(out, 0.0, peer=PEER)
    ok = parse_message(make_response(out, 200, to_tag="t2").to_bytes())
    assert delivered_of(layer.receive(ok, 0.05, peer=PEER)) == [ok]
    assert txn.state is State.ACCEPTED
    layer.handle_timer(1.0 + RELEASE_AFTER)
    retransmitted = parse_message(ok.to_bytes())
    assert delivered_of(layer.receive(retransmitted, 1.1 + RELEASE_AFTER, peer=PEER)) == [retransmitted]
    assert out.cseq.seq == 101 and out.top_via.branch == "z9hG4bK4b2e8d0c11f3a9e7"


def delivered_of(effects: list[Effect]) -> list[Request | Response]:
    return [e.message for e in effects if isinstance(e, Deliver)]

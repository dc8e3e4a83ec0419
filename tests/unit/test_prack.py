"""RFC 3262 reliable provisionals, the pure core: who asks for 100rel, RSeq numbering, retransmission at T1
doubling until PRACK or 64*T1, RAck matching, and the caller's PRACK of each reliable provisional once."""

from __future__ import annotations

from emulator.protocols.sip import prack
from emulator.protocols.sip.message import Request, Response, make_response
from tests.helpers.sip_messages import invite


def test_what_each_setting_asks_and_accepts() -> None:
    assert prack.PrackPolicy(uac="Unsupported").invite_headers() == []
    assert prack.PrackPolicy(uac="Supported").invite_headers() == [("Supported", "100rel")]
    assert prack.PrackPolicy(uac="Required").invite_headers() == [("Supported", "100rel"), ("Require", "100rel")]
    supported, unsupported = prack.PrackPolicy(uas="Supported"), prack.PrackPolicy(uas="Unsupported")
    assert supported.reliable(invite("Supported: timer, 100rel"))
    assert supported.reliable(invite("Require: 100rel"))
    assert not supported.reliable(invite("Supported: timer"))
    assert not unsupported.reliable(invite("Supported: 100rel"))
    assert unsupported.refusal(invite("Require: 100rel")) == 420
    assert unsupported.refusal(invite("Supported: 100rel")) is None
    assert supported.refusal(invite("Require: 100rel")) is None


def test_rack_and_rseq_parsing() -> None:
    assert prack.parse_rack("776656 1 INVITE") == prack.RAck(776656, 1, "INVITE")
    assert str(prack.RAck(5, 7, "INVITE")) == "5 7 INVITE"
    assert prack.parse_rack("5 INVITE") is None
    assert prack.parse_rack(None) is None
    assert prack.parse_rseq(" 12 ") == 12
    assert prack.parse_rseq("x") is None


def _reliable_180(request: Request, sender: prack.ReliableSender) -> Response:
    return make_response(request, 180, to_tag="b", headers=sender.headers())


def test_sender_retransmits_doubling_until_the_matching_prack() -> None:
    req = invite("Supported: 100rel", cseq=7)
    sender = prack.ReliableSender(req, t1=0.5)
    ringing = _reliable_180(req, sender)
    rseq = int(ringing.headers["RSeq"])
    assert 1 <= rseq < 2**31 and ringing.headers["Require"] == "100rel"
    sender.sent(ringing, 10.0)
    assert sender.pending and sender.deadline() == 10.5
    assert sender.due(10.4) == (None, False)
    assert sender.due(10.5) == (ringing, False)
    assert sender.deadline() == 11.5  # the interval doubled
    assert sender.due(11.5) == (ringing, False) and sender.deadline() == 13.5
    assert not sender.prack(prack.RAck(rseq + 1, 7, "INVITE"))  # not ours: 481
    assert not sender.prack(prack.RAck(rseq, 8, "INVITE"))
    assert not sender.prack(None)
    assert sender.prack(prack.RAck(rseq, 7, "INVITE"))
    assert not sender.pending and sender.deadline() is None
    assert not sender.prack(prack.RAck(rseq, 7, "INVITE"))  # already acknowledged
    assert int(_reliable_180(req, sender).headers["RSeq"]) == rseq + 1  # the next one counts on


def test_sender_gives_up_after_64_t1() -> None:
    req = invite("Require: 100rel")
    sender = prack.ReliableSender(req, t1=1.0)
    sender.sent(_reliable_180(req, sender), 0.0)
    now, sent = 0.0, 0
    while True:
        deadline = sender.deadline()
        assert deadline is not None
        now = deadline
        again, give_up = sender.due(now)
        if give_up:
            break
        assert again is not None
        sent += 1
    assert now == 64.0 and sent == 6  # sent again at 1, 3, 7, 15, 31 and 63 s; given up at 64*T1
    assert not sender.pending


def test_receiver_pracks_each_reliable_provisional_once_in_order() -> None:
    req = invite("Supported: 100rel", cseq=7)
    rx = prack.ReliableReceiver()
    sender = prack.ReliableSender(req, t1=0.5)
    first = _reliable_180(req, sender)
    sender.sent(first, 0.0)
    rseq = int(first.headers["RSeq"])
    assert rx.accept(first) == prack.RAck(rseq, 7, "INVITE")
    assert rx.accept(first) is None  # its retransmission
    sender.prack(prack.RAck(rseq, 7, "INVITE"))
    second = make_response(req, 183, to_tag="b", headers=sender.headers())
    assert rx.accept(second) == prack.RAck(rseq + 1, 7, "INVITE")
    assert rx.accept(make_response(req, 180, to_tag="b")) is None  # unreliable: no PRACK
    assert rx.accept(make_response(req, 180, to_tag="b", headers=[("Require", "100rel"), ("RSeq", str(rseq + 5))])) \
        is None  # out of order

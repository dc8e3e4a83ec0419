"""SIP transactions (RFC 3261 §17, RFC 6026) driven by a fake clock: retransmissions, timeouts, absorption."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.protocols.sip import Request, Response, make_response, parse_message
from emulator.protocols.sip.dialog import build_request
from emulator.protocols.sip.headers import parse_address
from emulator.protocols.sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Deliver,
    Effect,
    ResponseRetransmitter,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    State,
    Terminated,
    TimedOut,
    TimerConfig,
    Transaction,
    TransactionError,
    TransactionLayer,
    Transmit,
    TransportFailed,
    make_cancel,
    new_branch,
    server_key,
)
from testkit.sip_vectors import rfc4475

T = TimerConfig()  # T1 0.5 s, T2 4 s, T4 5 s
PEER = ("127.0.0.1", 5060)


def request(method: str = "INVITE", branch: str | None = None, cseq: int = 1) -> Request:
    return build_request(
        method, "sip:bob@127.0.0.1:5070", from_=parse_address("<sip:alice@example.com>;tag=aa", "From"),
        to=parse_address("<sip:bob@example.com>", "To"), call_id="call-1@127.0.0.1", cseq=cseq,
        via="SIP/2.0/UDP 127.0.0.1:5060;rport", branch=branch, contact=parse_address("<sip:alice@127.0.0.1>", "C"),
        route=[parse_address("<sip:127.0.0.1:5080;lr>", "Route")])


def response_to(req: Request, status: int, tag: str | None = "bb") -> Response:
    return make_response(req, status, to_tag=tag if status > 100 else None)


def sent(effects: list[Effect]) -> list[Request | Response]:
    return [e.message for e in effects if isinstance(e, Transmit)]


def delivered(effects: list[Effect]) -> list[Request | Response]:
    return [e.message for e in effects if isinstance(e, Deliver)]


def run_until(txn: Transaction | TransactionLayer, end: float,
              on_effects: Callable[[float, list[Effect]], None] | None = None) -> list[tuple[float, Effect]]:
    """Fire timers up to ``end`` the way a transport's timer loop would, recording (time, effect)."""
    log: list[tuple[float, Effect]] = []
    while (deadline := txn.next_deadline()) is not None and deadline <= end:
        effects = txn.handle_timer(deadline)
        log += [(deadline, e) for e in effects]
        if on_effects:
            on_effects(deadline, effects)
    return log


def times_sent(log: list[tuple[float, Effect]]) -> list[float]:
    return [t for t, e in log if isinstance(e, Transmit)]


# -- client INVITE (§17.1.1) -----------------------------------------------------------------------------------
def test_invite_retransmits_at_t1_doubling_then_timer_b() -> None:
    txn = ClientInviteTransaction(request(), peer=PEER, timers=T)
    assert sent(txn.start(0.0))[0].method == "INVITE" and txn.state is State.CALLING
    log = run_until(txn, 100.0)
    assert times_sent(log) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # A: T1, 2T1, 4T1... not capped
    assert [(t, type(e)) for t, e in log if not isinstance(e, Transmit)] == [(32.0, TimedOut), (32.0, Terminated)]
    assert txn.terminated and txn.next_deadline() is None


def test_invite_over_reliable_transport_has_no_timer_a() -> None:
    txn = ClientInviteTransaction(request(), reliable=True, timers=T)
    txn.start(0.0)
    log = run_until(txn, 100.0)
    assert times_sent(log) == [] and isinstance(log[0][1], TimedOut) and log[0][0] == 32.0


def test_invite_provisional_stops_retransmissions_and_timer_b() -> None:
    req = request()
    txn = ClientInviteTransaction(req, timers=T)
    txn.start(0.0)
    run_until(txn, 0.6)
    effects = txn.receive(response_to(req, 180), 0.7)
    assert [m.status for m in delivered(effects)] == [180] and txn.state is State.PROCEEDING  # type: ignore[union-attr]
    assert txn.can_cancel and run_until(txn, 1000.0) == [] and not txn.terminated  # the TU decides (CANCEL)


def test_invite_non_2xx_is_acked_by_the_transaction() -> None:
    req = request()
    txn = ClientInviteTransaction(req, timers=T)
    txn.start(0.0)
    txn.receive(response_to(req, 100), 0.1)
    busy = response_to(req, 486, tag="to-tag-1")
    effects = txn.receive(busy, 0.2)
    (ack,) = sent(effects)
    assert delivered(effects) == [busy] and txn.state is State.COMPLETED
    assert isinstance(ack, Request) and ack.method == "ACK" and str(ack.uri) == str(req.uri)
    assert ack.cseq == (req.cseq.seq, "ACK") and ack.to.tag == "to-tag-1" and ack.call_id == req.call_id
    assert ack.from_.tag == "aa" and len(ack.via) == 1 and ack.via[0].branch == req.via[0].branch
    assert ack.headers.get_all("route") == req.headers.get_all("route") and ack.body == b""
    assert sent(txn.receive(busy, 5.0)) == [ack] and delivered(txn.receive(busy, 6.0)) == []  # retransmission
    log = run_until(txn, 100.0)
    assert [(t, type(e)) for t, e in log] == [(0.2 + 32.0, Terminated)]  # Timer D


def test_invite_non_2xx_over_reliable_terminates_at_once() -> None:
    req = request()
    txn = ClientInviteTransaction(req, reliable=True, timers=T)
    txn.start(0.0)
    effects = txn.receive(response_to(req, 603), 1.0)
    assert [type(e) for e in effects] == [Transmit, Deliver, Terminated]


def test_invite_2xx_enters_accepted_and_passes_retransmissions_up() -> None:
    req = request()
    txn = ClientInviteTransaction(req, timers=T)
    txn.start(0.0)
    ok = response_to(req, 200)
    assert delivered(txn.receive(ok, 1.0)) == [ok] and txn.state is State.ACCEPTED
    assert sent(txn.receive(ok, 1.5)) == [] and delivered(txn.receive(ok, 1.5)) == [ok]  # RFC 6026: TU re-ACKs
    assert delivered(txn.receive(response_to(req, 486), 2.0)) == []
    log = run_until(txn, 100.0)
    assert [(t, type(e)) for t, e in log] == [(33.0, Terminated)]  # Timer M = 64*T1


def test_transport_error() -> None:
    txn = ClientNonInviteTransaction(request("OPTIONS"), timers=T)
    txn.start(0.0)
    assert [type(e) for e in txn.transport_error(0.1)] == [TransportFailed, Terminated]
    assert txn.transport_error(0.2) == []
    with pytest.raises(TransactionError):
        txn.start(1.0)


# -- client non-INVITE (§17.1.2) ---------------------------------------------------------------------------------
def test_non_invite_retransmits_capped_at_t2_then_timer_f() -> None:
    txn = ClientNonInviteTransaction(request("REGISTER"), timers=T)
    txn.start(0.0)
    log = run_until(txn, 100.0)
    assert times_sent(log) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [(t, type(e)) for t, e in log if not isinstance(e, Transmit)] == [(32.0, TimedOut), (32.0, Terminated)]


def test_non_invite_proceeding_retransmits_every_t2() -> None:
    req = request("BYE")
    txn = ClientNonInviteTransaction(req, timers=T)
    txn.start(0.0)
    run_until(txn, 0.5)
    txn.receive(response_to(req, 100), 0.6)
    log = run_until(txn, 20.0)
    assert times_sent(log) == [1.5, 5.5, 9.5, 13.5, 17.5]  # the pending E (1.0 s) then T2 each time


def test_non_invite_final_then_timer_k_absorbs_retransmissions() -> None:
    req = request("OPTIONS")
    txn = ClientNonInviteTransaction(req, timers=T)
    txn.start(0.0)
    ok = response_to(req, 200)
    assert delivered(txn.receive(ok, 0.2)) == [ok] and txn.state is State.COMPLETED
    assert txn.receive(ok, 1.0) == []
    assert [(t, type(e)) for t, e in run_until(txn, 100.0)] == [(5.2, Terminated)]  # K = T4
    reliable = ClientNonInviteTransaction(req, reliable=True, timers=T)
    reliable.start(0.0)
    assert [type(e) for e in reliable.receive(ok, 0.1)] == [Deliver, Terminated]


def test_timers_are_configurable() -> None:
    fast = TimerConfig(t1=0.1, t2=0.4, t4=1.0)
    txn = ClientNonInviteTransaction(request("OPTIONS"), timers=fast)
    txn.start(0.0)
    log = run_until(txn, 100.0)
    assert times_sent(log) == pytest.approx([0.1, 0.3, 0.7, 1.1, 1.5, 1.9, 2.3, 2.7, 3.1, 3.5, 3.9, 4.3, 4.7, 5.1,
                                            5.5, 5.9, 6.3])
    assert log[-1][0] == pytest.approx(6.4)  # F = 64*T1


# -- server INVITE (§17.2.1) ------------------------------------------------------------------------------------
def test_server_invite_trying_retransmissions_and_timer_g_h() -> None:
    req = request()
    txn = ServerInviteTransaction(req, peer=PEER, timers=T)
    effects = txn.start(0.0)
    (trying,) = sent(effects)
    assert trying.status == 100 and delivered(effects) == [req] and txn.can_cancel  # type: ignore[union-attr]
    assert sent(txn.receive(req, 0.3)) == [trying]  # retransmitted INVITE -> last provisional
    ringing = response_to(req, 180)
    assert sent(txn.send(ringing, 0.4)) == [ringing] and sent(txn.receive(req, 0.5)) == [ringing]
    busy = response_to(req, 486)
    assert sent(txn.send(busy, 1.0)) == [busy] and txn.state is State.COMPLETED
    assert sent(txn.receive(req, 1.1)) == [busy]
    log = run_until(txn, 100.0)
    assert times_sent(log) == [1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5]  # G capped at T2
    assert [(t, type(e)) for t, e in log if not isinstance(e, Transmit)] == [(33.0, TimedOut), (33.0, Terminated)]
    with pytest.raises(TransactionError):
        txn.send(busy, 40.0)


def test_server_invite_ack_confirms_and_timer_i_absorbs() -> None:
    req = request()
    txn = ServerInviteTransaction(req, timers=T, send_trying=False)
    assert sent(txn.start(0.0)) == []
    busy = response_to(req, 486)
    txn.send(busy, 0.1)
    ack = parse_message(txn_ack_bytes(req, busy))
    assert txn.receive(ack, 0.2) == [] and txn.state is State.CONFIRMED  # absorbed, not passed up
    assert txn.receive(ack, 0.3) == [] and txn.receive(req, 0.3) == []
    log = run_until(txn, 100.0)
    assert [(t, type(e)) for t, e in log] == [(5.2, Terminated)]  # I = T4
    reliable = ServerInviteTransaction(req, reliable=True, timers=T)
    reliable.start(0.0)
    reliable.send(busy, 0.1)
    assert [type(e) for e in reliable.receive(ack, 0.2)] == [Terminated]


def txn_ack_bytes(req: Request, resp: Response) -> bytes:
    client = ClientInviteTransaction(req, timers=T)
    client.start(0.0)
    (ack,) = sent(client.receive(resp, 0.0))
    return ack.to_bytes()


def test_server_invite_2xx_accepted_absorbs_invites_passes_acks() -> None:
    req = request()
    txn = ServerInviteTransaction(req, timers=T)
    txn.start(0.0)
    ok = response_to(req, 200)
    assert sent(txn.send(ok, 1.0)) == [ok] and txn.state is State.ACCEPTED and not txn.can_cancel
    assert txn.receive(req, 1.5) == []  # RFC 6026: a retransmitted INVITE is absorbed, not a new transaction
    assert sent(txn.send(ok, 1.5)) == [ok]  # the TU's 2xx retransmission
    ack = build_request("ACK", req.uri, from_=req.from_, to=ok.to, call_id=req.call_id, cseq=1,
                        via="SIP/2.0/UDP 127.0.0.1:5060")
    assert delivered(txn.receive(ack, 2.0)) == [ack]
    assert [(t, type(e)) for t, e in run_until(txn, 100.0)] == [(33.0, Terminated)]  # Timer L


# -- server non-INVITE (§17.2.2) ---------------------------------------------------------------------------------
def test_server_non_invite() -> None:
    req = request("OPTIONS")
    txn = ServerNonInviteTransaction(req, timers=T)
    assert delivered(txn.start(0.0)) == [req] and txn.state is State.TRYING
    assert txn.receive(req, 0.1) == []  # absorbed in Trying
    trying = response_to(req, 100)
    txn.send(trying, 0.2)
    assert sent(txn.receive(req, 0.3)) == [trying]
    ok = response_to(req, 200)
    assert sent(txn.send(ok, 0.4)) == [ok] and sent(txn.receive(req, 0.5)) == [ok]
    assert [(t, type(e)) for t, e in run_until(txn, 100.0)] == [(32.4, Terminated)]  # J = 64*T1
    reliable = ServerNonInviteTransaction(req, reliable=True, timers=T)
    reliable.start(0.0)
    assert [type(e) for e in reliable.send(ok, 0.1)] == [Transmit, Terminated]
    with pytest.raises(TransactionError):
        reliable.send(ok, 0.2)


# -- the 2xx retransmissions of the UAS core (§13.3.1.4) ---------------------------------------------------------
def test_2xx_retransmitter() -> None:
    ok = response_to(request(), 200)
    r = ResponseRetransmitter(ok, timers=T)
    assert sent(r.start(0.0)) == [ok]
    log = run_until(r, 100.0)  # type: ignore[arg-type]
    assert times_sent(log) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert isinstance(log[-1][1], TimedOut) and log[-1][0] == 32.0
    acked = ResponseRetransmitter(ok, timers=T)
    acked.start(0.0)
    run_until(acked, 2.0)  # type: ignore[arg-type]
    acked.ack_received()
    assert acked.next_deadline() is None and acked.handle_timer(50.0) == []


# -- the layer: matching (§17.1.3, §17.2.3), CANCEL (§9.2), timers ------------------------------------------------
def test_layer_matches_responses_by_branch_and_method() -> None:
    layer = TransactionLayer(T)
    invite = request(branch=new_branch())
    txn, effects = layer.send_request(invite, 0.0, peer=PEER)
    assert [e.peer for e in effects if isinstance(e, Transmit)] == [PEER] and len(layer) == 1
    assert layer.client_transactions() == [txn] and isinstance(txn, ClientInviteTransaction)
    ringing = response_to(invite, 180)
    assert delivered(layer.receive(ringing, 0.1)) == [ringing]
    cancel = make_cancel(invite)
    assert cancel.via[0].branch == invite.via[0].branch and cancel.cseq == (invite.cseq.seq, "CANCEL")
    cancel_txn, _ = layer.send_request(cancel, 0.2)
    ok_cancel = response_to(cancel, 200)
    (d,) = [e for e in layer.receive(ok_cancel, 0.3) if isinstance(e, Deliver)]
    assert d.transaction is cancel_txn  # same branch, different CSeq method: the CANCEL's transaction
    terminated = response_to(invite, 487)
    effects = layer.receive(terminated, 0.4)
    assert [m.method for m in sent(effects)] == ["ACK"] and delivered(effects) == [terminated]  # type: ignore[union-attr]
    stray = response_to(request(branch=new_branch()), 200)
    assert layer.receive(stray, 0.5) == [Deliver(stray, None)]
    with pytest.raises(TransactionError):
        layer.send_request(invite, 0.6)  # same branch
    with pytest.raises(TransactionError):
        layer.send_request(request("ACK"), 0.6)
    run_until(layer, 100.0)
    assert len(layer) == 0


def test_layer_server_side_retransmissions_ack_and_cancel() -> None:
    layer = TransactionLayer(T)
    invite = request(branch="z9hG4bKinv1")
    effects = layer.receive(invite, 0.0, peer=PEER)
    (d,) = [e for e in effects if isinstance(e, Deliver)]
    server = d.transaction
    assert isinstance(server, ServerInviteTransaction) and server.key == server_key(invite)
    assert [m.status for m in sent(layer.receive(invite, 0.1))] == [100]  # type: ignore[union-attr]
    cancel = make_cancel(invite)
    assert layer.find_cancel_target(cancel) is server and server.can_cancel
    cancel_effects = layer.receive(cancel, 0.2)
    (cd,) = [e for e in cancel_effects if isinstance(e, Deliver)]
    assert isinstance(cd.transaction, ServerNonInviteTransaction)  # the CANCEL has its own transaction
    layer.respond(cd.transaction, response_to(cancel, 200), 0.2)
    layer.respond(server, response_to(invite, 487, tag="t1"), 0.2)  # the UAS core answers the INVITE
    ack = parse_message(txn_ack_bytes(invite, response_to(invite, 487, tag="t1")))
    assert layer.receive(ack, 0.3) == [] and server.state is State.CONFIRMED
    ack_2xx = build_request("ACK", invite.uri, from_=invite.from_, to=invite.to.with_tag("t1"),
                            call_id=invite.call_id, cseq=1, via="SIP/2.0/UDP 127.0.0.1:5060")
    assert layer.receive(ack_2xx, 0.4) == [Deliver(ack_2xx, None)]  # new branch: for the dialog
    run_until(layer, 100.0)
    assert len(layer) == 0 and layer.next_deadline() is None


def test_layer_sent_by_is_part_of_the_key() -> None:
    layer = TransactionLayer(T)
    a = request("OPTIONS", branch="z9hG4bKsame")
    b = parse_message(a.to_bytes().replace(b"127.0.0.1:5060;", b"127.0.0.1:5099;"))
    layer.receive(a, 0.0)
    assert len(delivered(layer.receive(b, 0.0))) == 1 and len(layer) == 2


def test_layer_rfc2543_fallback_matching() -> None:
    """inv2543 (RFC 4475 §3.4.1) has no branch: matching on Request-URI, tags, Call-ID, CSeq and top Via."""
    layer = TransactionLayer(T)
    invite = parse_message(rfc4475("inv2543"))
    assert isinstance(invite, Request) and server_key(invite)[0] == "2543"
    effects = layer.receive(invite, 0.0)
    (d,) = [e for e in effects if isinstance(e, Deliver)]
    server = d.transaction
    assert isinstance(server, ServerInviteTransaction)
    assert delivered(layer.receive(parse_message(rfc4475("inv2543")), 0.1)) == []  # retransmission
    cancel = make_cancel(invite)
    assert layer.find_cancel_target(cancel) is server
    busy = make_response(invite, 486, to_tag="2543tag")
    layer.respond(server, busy, 0.2)
    ack = parse_message(txn_ack_bytes(invite, busy))
    assert ack.via[0].branch is None
    assert layer.receive(ack, 0.3) == [] and server.state is State.CONFIRMED
    wrong = parse_message(ack.to_bytes().replace(b"tag=2543tag", b"tag=other"))
    assert layer.receive(wrong, 0.4) == [Deliver(wrong, None)]


def test_layer_timer_heap_across_transactions() -> None:
    layer = TransactionLayer(T)
    for i in range(50):
        layer.send_request(request("OPTIONS", branch=f"z9hG4bKn{i}"), i * 0.01)
    assert layer.next_deadline() == pytest.approx(0.5)
    log = run_until(layer, 10.0)
    assert sum(isinstance(e, Transmit) for _, e in log) == 50 * 4  # at +0.5, +1.5, +3.5 and +7.5 s
    times = sorted({round(t, 2) for t, _ in log})
    assert times[0] == 0.5 and times[-1] <= 10.0
    log = run_until(layer, 100.0)
    assert sum(isinstance(e, TimedOut) for _, e in log) == 50 and len(layer) == 0

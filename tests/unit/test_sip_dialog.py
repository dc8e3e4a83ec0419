"""Dialogs (RFC 3261 §12): creation on both sides, route sets, in-dialog requests, BYE, ACK for 2xx, re-INVITE."""

from __future__ import annotations

import pytest

from emulator.protocols.sip import Request, Response, make_response, parse_message
from emulator.protocols.sip.dialog import (
    Dialog,
    DialogError,
    DialogId,
    DialogState,
    build_request,
    new_call_id,
    new_tag,
    uac_dialog_id,
    uas_dialog_id,
)
from emulator.protocols.sip.headers import parse_address
from testkit.sip_vectors import BYE, INVITE_SDP, OK_INVITE

VIA = "SIP/2.0/TLS 127.0.0.1:16000;rport"


def uac_dialog() -> tuple[Request, Response, Dialog]:
    invite = parse_message(INVITE_SDP)
    ok = parse_message(OK_INVITE)
    assert isinstance(invite, Request) and isinstance(ok, Response)
    return invite, ok, Dialog.as_uac(invite, ok, secure=True)


def test_uac_dialog_state_from_the_2xx() -> None:
    invite, ok, dialog = uac_dialog()
    assert dialog.call_id == invite.call_id
    assert dialog.id == DialogId("2d9c4f7e1a3b4c5d@127.0.0.1", "a83b2c10", "77c0e5a1") == uac_dialog_id(ok)
    assert dialog.state is DialogState.CONFIRMED and dialog.local_seq == 101 and dialog.remote_seq is None
    assert str(dialog.remote_target) == "sip:5551002@127.0.0.1:16002;transport=tls"
    # §12.1.2: the Record-Route of the response, reversed
    assert [str(r.uri) for r in dialog.route_set] == ["sip:127.0.0.1:5062;transport=tls;lr",
                                                      "sip:127.0.0.1:5061;transport=tls;lr;r2=on"]
    assert dialog.local_uri.tag is None and str(dialog.local_uri.uri) == "sip:5551001@dgw.example.com"
    assert not dialog.secure  # the Request-URI is not SIPS


def test_bye_per_12_2_1_1_matches_the_reference_vector() -> None:
    _, _, dialog = uac_dialog()
    bye = dialog.create_request("BYE", via=VIA, branch="z9hG4bK09ad3c7e5b1f2a48",
                                headers=[("User-Agent", "Mediatrix 4102 DGW 48.0.1234")])
    reference = parse_message(BYE)
    assert str(bye.uri) == str(reference.uri)  # the remote target (loose routing)
    assert bye.headers.get_all("route") == [str(r) for r in reference.route]
    assert bye.cseq == (102, "BYE") == reference.cseq and dialog.local_seq == 102
    assert (bye.from_.tag, bye.to.tag, bye.call_id) == ("a83b2c10", "77c0e5a1", reference.call_id)
    assert bye.from_.uri == reference.from_.uri and bye.to.uri == reference.to.uri
    assert bye.via[0].branch == reference.via[0].branch and bye.via[0].has_rport
    assert bye.max_forwards == 70 and bye.contact == []  # BYE is no target refresh
    assert parse_message(bye.to_bytes()).cseq.seq == 102


def test_ack_for_2xx_reuses_the_invite_cseq_and_credentials() -> None:
    invite, _, dialog = uac_dialog()
    invite.headers.add("Proxy-Authorization", 'Digest username="u", realm="r", nonce="n", uri="sip:x", response="0"')
    ack = dialog.create_ack(invite, via=VIA)
    assert ack.method == "ACK" and ack.cseq == (101, "ACK") and dialog.local_seq == 101
    assert ack.via[0].branch != invite.via[0].branch and ack.via[0].branch.startswith("z9hG4bK")  # type: ignore[union-attr]
    assert ack.headers.get("Proxy-Authorization") == invite.headers.get("Proxy-Authorization")
    assert ack.to.tag == "77c0e5a1" and ack.headers.get_all("route") == [str(r) for r in dialog.route_set]


def test_reinvite_for_hold_is_a_target_refresh() -> None:
    _, _, dialog = uac_dialog()
    dialog.local_contact = parse_address("<sip:5551001@127.0.0.1:16000;transport=tls>", "Contact")
    reinvite = dialog.create_request("INVITE", via=VIA, body=b"v=0\r\n", headers=[("Content-Type", "application/sdp")])
    assert reinvite.cseq == (102, "INVITE") and reinvite.contact[0].uri.port == 16000
    ok = make_response(reinvite, 200, to_tag="ignored",
                       headers=[("Contact", "<sip:5551002@127.0.0.1:16010;transport=tls>")])
    dialog.receive_response(reinvite, ok)
    assert dialog.remote_target.port == 16010 and dialog.state is DialogState.CONFIRMED
    assert dialog.create_request("BYE", via=VIA).uri.port == 16010


def test_uas_dialog_and_incoming_requests() -> None:
    invite = parse_message(INVITE_SDP.replace(b"Route: <sip:127.0.0.1:5061;transport=tls;lr>",
                                              b"Record-Route: <sip:127.0.0.1:5061;lr>, <sip:127.0.0.1:5062;lr>"))
    assert isinstance(invite, Request)
    ok = make_response(invite, 200, to_tag="uas-tag", headers=[("Contact", "<sip:5551002@127.0.0.1:16002>")])
    dialog = Dialog.as_uas(invite, ok)
    assert dialog.id == DialogId(invite.call_id, "uas-tag", "a83b2c10") == uas_dialog_id(
        parse_message(make_bye_from_uac(invite, "uas-tag", 102).to_bytes()))
    assert [str(r.uri) for r in dialog.route_set] == ["sip:127.0.0.1:5061;lr", "sip:127.0.0.1:5062;lr"]  # in order
    assert dialog.remote_seq == 101 and dialog.local_seq is None
    assert str(dialog.remote_target) == "sip:5551001@127.0.0.1:16000;transport=tls"
    assert str(dialog.local_contact.uri) == "sip:5551002@127.0.0.1:16002"  # type: ignore[union-attr]
    info = make_bye_from_uac(invite, "uas-tag", 102, method="INFO")
    dialog.receive_request(info)
    assert dialog.remote_seq == 102
    with pytest.raises(DialogError) as err:
        dialog.receive_request(make_bye_from_uac(invite, "uas-tag", 100, method="INFO"))
    assert err.value.status_code == 500  # §12.2.2: lower CSeq
    # the UAS's own first request picks a local sequence number
    bye = dialog.create_request("BYE", via="SIP/2.0/UDP 127.0.0.1:5070")
    assert bye.cseq.seq == dialog.local_seq and 0 < bye.cseq.seq < 2**31
    assert bye.from_.tag == "uas-tag" and bye.to.tag == "a83b2c10"
    assert bye.headers.get_all("route") == ["<sip:127.0.0.1:5061;lr>", "<sip:127.0.0.1:5062;lr>"]
    dialog.receive_request(make_bye_from_uac(invite, "uas-tag", 103))
    assert dialog.state is DialogState.TERMINATED
    with pytest.raises(DialogError) as err:
        dialog.create_request("INFO", via=VIA)
    assert err.value.status_code == 481


def make_bye_from_uac(invite: Request, to_tag: str, cseq: int, method: str = "BYE") -> Request:
    return build_request(method, "sip:5551002@127.0.0.1:16002", from_=invite.from_, to=invite.to.with_tag(to_tag),
                         call_id=invite.call_id, cseq=cseq, via=VIA)


def test_strict_route_set() -> None:
    """§12.2.1.1: first route without lr -> it becomes the Request-URI, the remote target the last Route."""
    _, _, dialog = uac_dialog()
    dialog.route_set = [parse_address("<sip:127.0.0.1:5090;method=INVITE>", "Route"),
                        parse_address("<sip:127.0.0.1:5091;lr>", "Route")]
    bye = dialog.create_request("BYE", via=VIA)
    assert str(bye.uri) == "sip:127.0.0.1:5090"  # 'method' is not allowed in a Request-URI
    assert bye.headers.get_all("route") == ["<sip:127.0.0.1:5091;lr>", "<sip:5551002@127.0.0.1:16002;transport=tls>"]


def test_early_dialog_confirmed_with_recomputed_route_set() -> None:
    invite = parse_message(INVITE_SDP)
    assert isinstance(invite, Request)
    ringing = make_response(invite, 180, to_tag="e1", headers=[("Record-Route", "<sip:127.0.0.1:5061;lr>"),
                                                              ("Contact", "<sip:b@127.0.0.1:7000>")])
    dialog = Dialog.as_uac(invite, ringing)
    assert dialog.state is DialogState.EARLY and [str(r.uri) for r in dialog.route_set] == ["sip:127.0.0.1:5061;lr"]
    ok = make_response(invite, 200, to_tag="e1", headers=[("Record-Route", "<sip:127.0.0.1:5061;lr>"),
                                                         ("Record-Route", "<sip:127.0.0.1:5062;lr>"),
                                                         ("Contact", "<sip:b@127.0.0.1:7002>")])
    dialog.receive_response(invite, ok)
    assert dialog.state is DialogState.CONFIRMED and dialog.remote_target.port == 7002
    assert [str(r.uri) for r in dialog.route_set] == ["sip:127.0.0.1:5062;lr", "sip:127.0.0.1:5061;lr"]


@pytest.mark.parametrize(("status", "state"), [(481, DialogState.TERMINATED), (408, DialogState.TERMINATED),
                                               (486, DialogState.CONFIRMED), (200, DialogState.CONFIRMED)])
def test_in_dialog_failures(status: int, state: DialogState) -> None:
    _, _, dialog = uac_dialog()
    info = dialog.create_request("INFO", via=VIA)
    dialog.receive_response(info, make_response(info, status))
    assert dialog.state is state


def test_builders() -> None:
    assert len(new_tag()) >= 8 and new_tag() != new_tag()
    assert new_call_id("127.0.0.1").endswith("@127.0.0.1") and "@" not in new_call_id()
    r = build_request("REGISTER", "sip:dgw.example.com", from_=parse_address("<sip:a@dgw.example.com>;tag=1", "F"),
                      to=parse_address("<sip:a@dgw.example.com>", "T"), call_id="c", cseq=7,
                      via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfixed", headers=[("Expires", "3600")])
    assert r.via[0].branch == "z9hG4bKfixed" and r.cseq == (7, "REGISTER") and r.expires == 3600
    wire = r.to_bytes().decode()
    assert wire.index("Via:") < wire.index("Max-Forwards:") < wire.index("From:") < wire.index("CSeq:")

"""Diversion (RFC 5806) and History-Info (RFC 7044) as emulator.protocols.sip.diversion writes and reads them."""

from __future__ import annotations

from emulator.engines.sipep.forwarding import _best_contact, _diversions, _retargeted
from emulator.protocols.sip.diversion import (
    Diversion,
    HistoryEntry,
    original_called,
    parse_diversion,
    parse_history_info,
)
from emulator.protocols.sip.message import Request, Response
from emulator.protocols.sip.uri import Uri


def test_header_written_and_read_back() -> None:
    d = Diversion("sip:alice@127.0.0.10", "user-busy", 2)
    assert d.header() == "<sip:alice@127.0.0.10>;reason=user-busy;counter=2"
    assert parse_diversion([d.header()]) == [d]
    named = Diversion("sip:bob@example.net", "no-answer", 1, "Bob")
    assert named.header() == '"Bob" <sip:bob@example.net>;reason=no-answer;counter=1'
    assert parse_diversion([named.header()]) == [named]


def test_several_entries_most_recent_first_and_the_original_called_is_the_oldest() -> None:
    values = ['<sip:carol@x>;reason=no-answer;counter=2, <tel:+15551234>;reason="user-busy"',
              "<sip:alice@y>;reason=unconditional;privacy=off"]
    listed = parse_diversion(values)
    assert [d.uri for d in listed] == ["sip:carol@x", "tel:+15551234", "sip:alice@y"]
    assert [d.reason for d in listed] == ["no-answer", "user-busy", "unconditional"]
    assert [d.counter for d in listed] == [2, 1, 1]  # counter absent: 1 (RFC 5806 §4)
    assert original_called(listed, []) == Diversion("sip:alice@y", "unconditional", 1)


def test_garbage_entries_are_read_past() -> None:
    listed = parse_diversion(["<sip:alice@y;reason=user-busy", "<sip:bob@z>;counter=x", "", "<sip:c@d>;reason=away"])
    assert [(d.uri, d.counter) for d in listed] == [("sip:bob@z", 1), ("sip:c@d", 1)]
    assert parse_diversion([]) == [] and original_called([], []) is None


def test_history_info_cause_from_rfc4458_param_or_escaped_reason() -> None:
    values = ["<sip:bob@b.example?Reason=SIP%3Bcause%3D486%3Btext%3D%22Busy%22>;index=1.1",
              "<sip:alice@a.example>;index=1",
              "<sip:carol@c.example;cause=408>;index=1.1.1;mp=1.1"]
    entries = parse_history_info(values)
    assert [e.index for e in entries] == ["1", "1.1", "1.1.1"]
    assert entries[0] == HistoryEntry("sip:alice@a.example", "1", None)
    assert entries[1].cause == 486 and entries[2].cause == 408
    first = original_called([], entries)
    assert first is not None and (first.uri, first.reason, first.counter) == ("sip:alice@a.example", "user-busy", 2)


def test_history_info_of_one_entry_is_no_diversion_and_diversion_wins() -> None:
    assert original_called([], parse_history_info(["<sip:alice@a>;index=1"])) is None
    hist = parse_history_info(["<sip:alice@a>;index=1, <sip:bob@b;cause=302>;index=1.1"])
    assert original_called([], hist) == Diversion("sip:alice@a", "unconditional", 1)
    div = parse_diversion(["<sip:zed@z>;reason=deflection"])
    assert original_called(div, hist) == div[0]


def test_a_redirect_is_retargeted_with_the_3xx_diversion() -> None:
    """The caller's side of a 302 (engines/sipep/forwarding.py): the Contact to try (highest q first, a SIP URI not
    tried yet) and the INVITE rebuilt for it (the new Request-URI, the 3xx's Diversion headers in place of ours)."""
    response = Response(302, headers=[
        ("Contact", "<tel:+15551234>;q=1.0, <sip:carol@c.example>;q=0.5"),
        ("Contact", "<sip:dave@d.example>;q=0.9")])
    assert str(_best_contact(response, set())) == "sip:dave@d.example"
    assert str(_best_contact(response, {"sip:dave@d.example"})) == "sip:carol@c.example"
    assert _best_contact(response, {"sip:dave@d.example", "sip:carol@c.example"}) is None

    def make(cseq: int, auth: list[tuple[str, str]]) -> Request:
        return Request("INVITE", "sip:bob@b.example", [
            ("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKx"), ("To", "<sip:bob@b.example>"),
            ("From", "<sip:alice@a.example>;tag=1"), ("Call-ID", "c1"), ("CSeq", f"{cseq} INVITE"),
            ("Diversion", "<sip:old@o.example>;reason=unknown"), *auth], b"")

    again = _retargeted(make, Uri.parse("sip:carol@c.example"), ["<sip:bob@b.example>;reason=user-busy;counter=1"])
    invite = again(2, [("Proxy-Authorization", "Digest x")])
    assert str(invite.uri) == "sip:carol@c.example" and invite.cseq.seq == 2
    assert invite.headers.get_all("Diversion") == ["<sip:bob@b.example>;reason=user-busy;counter=1"]
    assert str(invite.to.uri) == "sip:bob@b.example"  # the To stays the party first called (RFC 3261 §8.1.3.4)
    assert invite.headers.get("Proxy-Authorization") == "Digest x" and _diversions(invite) == 1
    assert _diversions(make(1, [])) == 1 and _diversions(Request("INVITE", "sip:x@y", [], b"")) == 0

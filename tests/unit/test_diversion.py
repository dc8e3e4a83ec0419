"""Diversion (RFC 5806) and History-Info (RFC 7044) as emulator.protocols.sip.diversion writes and reads them."""

from __future__ import annotations

from emulator.protocols.sip.diversion import (
    Diversion,
    HistoryEntry,
    original_called,
    parse_diversion,
    parse_history_info,
)


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

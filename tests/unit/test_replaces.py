"""The Replaces header (RFC 3891 §6.1) and the Refer-To of an attended transfer (RFC 5589 §7)."""

from __future__ import annotations

import pytest

from emulator.protocols.sip.headers import parse_address
from emulator.protocols.sip.replaces import Replaces, ReplacesError, invite_target, refer_to
from emulator.protocols.sip.uri import Uri


def test_parse_the_rfc_example() -> None:
    r = Replaces.parse("425928@bobster.example.org;to-tag=7743;from-tag=6472")
    assert (r.call_id, r.to_tag, r.from_tag, r.early_only) == ("425928@bobster.example.org", "7743", "6472", False)
    assert Replaces.parse(" abc;FROM-TAG=2;To-Tag=1;early-only ") == Replaces("abc", "1", "2", True)
    assert str(Replaces("abc", "1", "2", True)) == "abc;to-tag=1;from-tag=2;early-only"


@pytest.mark.parametrize("value", ["", ";to-tag=1;from-tag=2", "abc;to-tag=1", "abc;from-tag=2", "abc",
                                   "a b;to-tag=1;from-tag=2", "abc;to-tag=;from-tag=2"])
def test_malformed_values_are_refused(value: str) -> None:
    with pytest.raises(ReplacesError):
        Replaces.parse(value)


def test_a_dialog_is_named_as_the_far_end_sees_it() -> None:
    # our dialog: local tag "a" (ours), remote tag "c" (the target's); at the target, to-tag is its own tag
    r = Replaces.of_dialog("cid@host", local_tag="a", remote_tag="c")
    assert (r.to_tag, r.from_tag) == ("c", "a")
    assert r.matches("cid@host", local_tag="c", remote_tag="a")
    assert not r.matches("cid@host", local_tag="a", remote_tag="c")
    assert not r.matches("other@host", local_tag="c", remote_tag="a")


def test_refer_to_escapes_the_header_and_the_transferee_gets_it_back() -> None:
    target = Uri.parse("sip:carol@example.com;transport=tls")
    r = Replaces("12345@127.0.0.2", "c-tag", "a-tag")
    value = refer_to(target, r)
    assert value == ("<sip:carol@example.com;transport=tls"
                     "?Replaces=12345%40127.0.0.2%3Bto-tag%3Dc-tag%3Bfrom-tag%3Da-tag>")
    uri = parse_address(value, "Refer-To").uri
    call, replaces = invite_target(uri)
    assert str(call) == "sip:carol@example.com;transport=tls" and not call.headers
    assert replaces == r


def test_a_blind_refer_to_has_no_replaces() -> None:
    call, replaces = invite_target(Uri.parse("sip:bob@example.com"))
    assert replaces is None and str(call) == "sip:bob@example.com"
    with pytest.raises(ReplacesError):
        invite_target(Uri.parse("sip:bob@example.com?Replaces=onlyacallid"))

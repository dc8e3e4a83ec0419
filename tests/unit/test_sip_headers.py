"""Structured header values (RFC 3261 §20, ABNF §25.1; RFC 3581 rport)."""

from __future__ import annotations

import datetime

import pytest

from emulator.protocols.sip import Address, HeaderError, Uri
from emulator.protocols.sip import headers as h


def test_canonical_names() -> None:
    assert [h.canonical_name(n) for n in ("v", "VIA", "i", "Call-Id", "l", "k", "Content-Length  ")] == [
        "via", "via", "call-id", "call-id", "content-length", "supported", "content-length"]
    with pytest.raises(HeaderError):
        h.canonical_name("Bad Name")


def test_via_common_and_ipv6() -> None:
    v = h.parse_via("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK776asdhds;received=127.0.0.1;rport=5070;ttl=16;"
                    "maddr=x.com")
    assert (v.transport, v.host, v.port, v.branch) == ("UDP", "127.0.0.1", 5060, "z9hG4bK776asdhds")
    assert v.received == "127.0.0.1" and v.rport == 5070 and v.has_rport and v.ttl == 16 and v.maddr == "x.com"
    assert str(v) == ("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK776asdhds;received=127.0.0.1;rport=5070;ttl=16;"
                      "maddr=x.com")
    v6 = h.parse_via("SIP/2.0/TLS [::1]:5061;branch=z9hG4bKa;received=[::1];rport")
    assert v6.host == "[::1]" and v6.port == 5061 and v6.sent_by == "[::1]:5061" and v6.received == "[::1]"
    assert v6.has_rport and v6.rport is None and v6.sent_by_key == ("[::1]", 5061)


def test_via_whitespace_forms() -> None:
    v = h.parse_via("SIP  /   2.0  / tcp     spindle.example.com : 5070  ;  branch  =   z9hG4bK9ikj8 ; Rport")
    assert (v.protocol, v.transport, v.host, v.port, v.branch, v.has_rport) == (
        "SIP/2.0", "TCP", "spindle.example.com", 5070, "z9hG4bK9ikj8", True)
    vias = h.parse_via_list(["SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b;branch=2", "SIP/2.0/UDP c"])
    assert [x.branch for x in vias] == ["1", "2", None]


@pytest.mark.parametrize("text", ["SIP/2.0/UDP", "SIP/2.0 127.0.0.1", "SIP/2.0/UDP 127.0.0.1;;",
                                  "SIP/2.0/UDP h;ttl=300", "SIP/2.0/UDP h;rport=x", "SIP/2.0/UDP h;branch",
                                  "SIP/2.0/UDP h;branch=",
                                  "SIP/2.0/UDP h:70000", "SIP/2.0/UDP h extra"])
def test_via_invalid(text: str) -> None:
    with pytest.raises(HeaderError):
        h.parse_via(text)


def test_name_addr_and_addr_spec() -> None:
    a = h.parse_address('"Mr. \\"Watson\\"" <sip:watson@worcester.example.com;transport=udp>;tag=1;q=0.7', "From")
    assert a.display_name == 'Mr. "Watson"' and a.uri.params == {"transport": "udp"} and a.tag == "1"
    assert a.params == {"tag": "1", "q": "0.7"} and a.q == 0.7
    assert str(a) == '"Mr. \\"Watson\\"" <sip:watson@worcester.example.com;transport=udp>;tag=1;q=0.7'
    b = h.parse_address("sip:+12125551212@server.example.com;tag=887s", "To")
    assert b.display_name is None and b.tag == "887s" and b.uri.params == {}  # params are header params
    c = h.parse_address("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8", "From")
    assert c.display_name == "Anonymous" and c.uri.user == "c8oqz84zk7z"
    d = h.parse_address("<sip:[::1]:5070>;expires=0", "Contact")
    assert d.uri.host == "[::1]" and d.expires == 0
    e = h.parse_address('"" <sip:%61@example.com>', "To")
    assert e.display_name == "" and e.uri.user == "a"
    assert h.parse_address("<tel:+1-555>", "To").uri.scheme == "tel"
    assert str(a.with_tag("9").tag) == "9" and a.tag == "1"


def test_contact_wildcard_and_lists() -> None:
    (star,) = h.parse_address_list(["*"], "Contact", allow_wildcard=True)
    assert star.is_wildcard and str(star) == "*" and Address.wildcard().is_wildcard
    with pytest.raises(HeaderError):
        h.parse_address_list(["*, <sip:a@example.com>"], "Contact", allow_wildcard=True)
    with pytest.raises(HeaderError):
        h.parse_address_list(["*"], "Route")
    two = h.parse_address_list(['"A, B" <sip:a@example.com>;expires=99999999999, sip:b@example.com;q=1'], "Contact")
    assert [x.display_name for x in two] == ["A, B", None] and two[0].expires == 0xFFFFFFFF and two[1].q == 1.0
    with pytest.raises(HeaderError):
        h.parse_address_list(["<sip:a@example.com>,,<sip:b@example.com>"], "Route")


@pytest.mark.parametrize("text", ['"unterminated <sip:a@example.com>', "Bell, Alexander <sip:a@example.com>",
                                  "< sip:a@example.com >", "<sip:a@example.com", "sip:a@example.com?Route=x",
                                  '"a" sip:a@example.com', "<sip:a@example.com> junk", "<sip:a@example.com>;;",
                                  "<sip:a@example.com>;tag=a b", "<>"])
def test_address_invalid(text: str) -> None:
    with pytest.raises(HeaderError):
        h.parse_address(text, "To")


def test_scalars() -> None:
    assert h.parse_cseq("4711 INVITE") == h.CSeq(4711, "INVITE") and str(h.CSeq(1, "BYE")) == "1 BYE"
    assert h.parse_cseq("0009   INVITE").seq == 9 and h.parse_cseq(f"{2**32 - 1} ACK").seq == 2**32 - 1
    for bad in ("INVITE", "1", f"{2**32} INVITE", "-1 INVITE", "1 INV ITE", "12345678901 X"):
        with pytest.raises(HeaderError):
            h.parse_cseq(bad)
    assert h.parse_call_id("f81d4fae-7dec-11d0-a765-00a0c91e6bf6@foo.bar.com").endswith("bar.com")
    for bad in ("a b", "a@b@c", "", "a\x00"):
        with pytest.raises(HeaderError):
            h.parse_call_id(bad)
    assert h.parse_int("0068", "Max-Forwards", 255) == 68
    for bad in ("256", "-1", "", "1e3", "\u0662", "9" * 40):
        with pytest.raises(HeaderError):
            h.parse_int(bad, "Max-Forwards", 255)


def test_lists_media_and_params() -> None:
    assert h.parse_token_list(["100rel, timer", "", "replaces"], "Supported") == ["100rel", "timer", "replaces"]
    with pytest.raises(HeaderError):
        h.parse_token_list(["a b"], "Require")
    mt = h.parse_media_type("Multipart/Mixed ; boundary=\"7a9c\" ;charset=utf-8")
    assert mt.mime == "multipart/mixed" and mt.params == {"boundary": '"7a9c"', "charset": "utf-8"}
    assert h.unquote_string(mt.params["boundary"] or "") == "7a9c"
    ranges = h.parse_accept(["application/sdp;level=1, application/*", "*/*;q=0.1"])
    assert [r.matches("application/sdp") for r in ranges] == [True, True, True]
    assert not h.parse_accept(["text/plain"])[0].matches("application/sdp")
    assert h.parse_params(' ; a = "x;y" ;b', "X") == {"a": '"x;y"', "b": None}
    assert h.split_commas('"a,b" <sip:x@y>, <sip:c,d@e>, f') == ['"a,b" <sip:x@y>', "<sip:c,d@e>", "f"]
    assert h.quote_string('a"b\\c') == '"a\\"b\\\\c"' and h.unquote_string(h.quote_string('a"b\\c')) == 'a"b\\c'


def test_auth_fields() -> None:
    (challenge,) = h.parse_auth('Digest realm="atlanta.com", domain="sip:ss1.carrier.com", qop="auth",'
                              ' nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5',
                              "WWW-Authenticate")
    scheme, params = challenge
    assert scheme == "Digest" and params["realm"] == "atlanta.com" and params["opaque"] == ""
    assert params["stale"] == "FALSE" and params["algorithm"] == "MD5"
    two = h.parse_auth('Digest realm="a", algorithm=SHA-256, nonce="1", Digest realm="a", algorithm=MD5, nonce="2"',
                     "WWW-Authenticate")
    assert [p["algorithm"] for _, p in two] == ["SHA-256", "MD5"]
    with pytest.raises(HeaderError):
        h.parse_auth("", "Authorization")


def test_date() -> None:
    assert h.parse_date("Sat, 13 Nov 2010 23:29:00 GMT") == datetime.datetime(2010, 11, 13, 23, 29,
                                                                            tzinfo=datetime.UTC)
    for bad in ("Fri, 01 Jan 2010 16:00:00 EST", "yesterday GMT"):
        with pytest.raises(HeaderError):
            h.parse_date(bad)


def test_address_uri_is_a_uri() -> None:
    assert isinstance(h.parse_address("<sip:a@example.com>", "To").uri, Uri)

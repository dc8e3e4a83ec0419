"""SIP URIs: grammar (RFC 3261 §19.1, §25.1), escaping (§19.1.2) and the comparison rules of §19.1.4."""

from __future__ import annotations

import pytest

from emulator.protocols.sip import Uri, UriError
from emulator.protocols.sip.uri import escape, unescape


def test_components() -> None:
    u = Uri.parse("sips:alice:secret@Atlanta.example.com:5061;transport=TCP;lr;maddr=239.255.255.1?subject=a%20b&x=")
    assert (u.scheme, u.user, u.password, u.host, u.port) == ("sips", "alice", "secret", "Atlanta.example.com", 5061)
    assert u.params == {"transport": "TCP", "lr": None, "maddr": "239.255.255.1"}
    assert u.transport == "tcp" and u.lr and u.maddr == "239.255.255.1" and u.secure and u.is_sip
    assert u.headers == {"subject": "a b", "x": ""}
    assert u.host_port == "Atlanta.example.com:5061"


def test_host_only_ipv6_and_tel_like_users() -> None:
    assert Uri.parse("sip:example.com").user is None
    v6 = Uri.parse("sip:[::1]:5070;transport=udp")
    assert v6.host == "[::1]" and v6.port == 5070 and str(v6) == "sip:[::1]:5070;transport=udp"
    phone = Uri.parse("sip:+1-212-555-1212:1234@gateway.example.com;user=phone")
    assert phone.user == "+1-212-555-1212" and phone.password == "1234" and phone.params["user"] == "phone"
    assert Uri.parse("SIP:bob@example.com").scheme == "sip"


def test_other_schemes_are_opaque() -> None:
    tel = Uri.parse("tel:+358-555-1234567;postd=pp22")
    assert tel.scheme == "tel" and tel.opaque == "+358-555-1234567;postd=pp22" and not tel.is_sip
    assert str(tel) == "tel:+358-555-1234567;postd=pp22"
    urn = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
    assert Uri.parse(urn).opaque == urn[4:]


@pytest.mark.parametrize("text", [
    "<sip:bob@example.com>", "sip:bob@example.com ", " sip:bob@example.com", "sip:bob@", "sip:", "sip:b b@h",
    "sip:bob@example.com:99999", "sip:bob@[::g]", "sip:bob@example.com;=x", "sip:%zz@example.com",
    "sip:bob@example.com?x", "bob@example.com", "1sip:x", "sip:bob@exa mple.com", "sip:bob@example.com;a=b=c d",
])
def test_invalid(text: str) -> None:
    with pytest.raises(UriError) as info:
        Uri.parse(text)
    assert info.value.status_code == 400


def test_escaping_once_and_back() -> None:
    u = Uri.parse("sip:sips%3Auser%40example.com@example.net;n%61me=v%61lue%25%34%31")
    assert u.user == "sips:user@example.com" and u.params == {"name": "value%41"}
    assert str(u) == "sip:sips%3Auser%40example.com@example.net;name=value%2541"
    assert Uri.parse(str(u)) == u
    assert unescape("%E2%82%AC") == "€" and escape("a b;c") == "a%20b;c" and escape("ok") == "ok"
    built = Uri("sip", user="I have spaces", host="example.net")
    assert str(built) == "sip:I%20have%20spaces@example.net"


# RFC 3261 §19.1.4, the examples of equivalent and non-equivalent URIs (addresses on loopback)
EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
]
DIFFERENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@127.0.0.1"),
    ("sip:bob@biloxi.com", "sips:bob@biloxi.com"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;maddr=127.0.0.1"),
    ("sip:bob@biloxi.com;ttl=1", "sip:bob@biloxi.com"),
    ("sip:bob@biloxi.com;user=phone", "sip:bob@biloxi.com"),
    ("sip:bob@biloxi.com;method=INVITE", "sip:bob@biloxi.com"),
    ("sip:bob@biloxi.com;lr", "sip:bob@biloxi.com;lr=on"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent(a: str, b: str) -> None:
    assert Uri.parse(a) == Uri.parse(b) and Uri.parse(b) == Uri.parse(a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different(a: str, b: str) -> None:
    assert Uri.parse(a) != Uri.parse(b) and Uri.parse(b) != Uri.parse(a)


def test_round_trip_and_copy() -> None:
    text = "sip:alice@atlanta.example.com:5060;transport=tls;lr?Replaces=abc%40h"
    u = Uri.parse(text)
    assert str(u) == text and repr(u) == f"Uri({text!r})"
    c = u.copy(port=5061)
    c.params["x"] = "1"
    assert u.port == 5060 and "x" not in u.params and c.port == 5061
    with pytest.raises(TypeError):
        hash(u)

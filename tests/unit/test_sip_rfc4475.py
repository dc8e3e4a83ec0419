"""Every RFC 4475 torture message, handled as the RFC says (vectors in sip_vectors/rfc4475, loopback-only).

The table gives, per file, its RFC 4475 section and the outcome at a DGW unit (a UA: the default
:class:`Policy`): ``accept`` (passed on to the transaction layer), ``reject`` with the response code,
or ``drop`` (silently discarded). Where the RFC leaves a choice, the comment says which one we take.

| file       | RFC 4475   | DGW UA outcome       | why                                                              |
|------------|------------|----------------------|------------------------------------------------------------------|
| wsinv      | 3.1.1.1    | accept               | valid: folding, SWS everywhere, compact forms                    |
| intmeth    | 3.1.1.2    | reject 501           | valid; the extension method is not implemented (§8.2.1)         |
| esc01      | 3.1.1.3    | accept               | valid % escapes                                                  |
| escnull    | 3.1.1.4    | reject 405           | valid; REGISTER is known but a UA is no registrar                |
| esc02      | 3.1.1.5    | reject 501           | valid; RE%47IST%45R is not REGISTER                              |
| lwsdisp    | 3.1.1.6    | accept               | valid                                                            |
| longreq    | 3.1.1.7    | accept               | valid                                                            |
| dblreq     | 3.1.1.8    | reject 405           | the REGISTER is read, the trailing INVITE discarded              |
| semiuri    | 3.1.1.9    | accept               | valid                                                            |
| transports | 3.1.1.10   | accept               | valid                                                            |
| mpart01    | 3.1.1.11   | reject 405           | valid; MESSAGE not supported by the DGW                          |
| unreason   | 3.1.1.12   | accept               | valid response                                                   |
| noreason   | 3.1.1.13   | accept               | valid response                                                   |
| badinv01   | 3.1.2.1    | reject 400           | empty Via / Contact parameters                                   |
| clerr      | 3.1.2.2    | reject 400           | Content-Length beyond the datagram                               |
| ncl        | 3.1.2.3    | reject 400           | negative Content-Length (a stream is closed)                     |
| scalar02   | 3.1.2.4    | reject 400           | CSeq above 2**32-1 (Max-Forwards 300 too)                        |
| scalarlg   | 3.1.2.5    | drop                 | response with overlarge scalars                                  |
| quotbal    | 3.1.2.6    | reject 400           | unterminated quoted display name                                 |
| ltgtruri   | 3.1.2.7    | reject 400           | <> around the Request-URI                                        |
| lwsruri    | 3.1.2.8    | reject 400           | LWS inside the Request-URI                                       |
| lwsstart   | 3.1.2.9    | reject 400           | several SP in the Request-Line                                   |
| trws       | 3.1.2.10   | reject 400           | SP after SIP-Version                                             |
| escruri    | 3.1.2.11   | reject 400           | headers in the Request-URI (the RFC allows ignoring them)        |
| baddate    | 3.1.2.12   | accept               | the RFC: reject only if Date matters; the DGW ignores Date       |
| regbadct   | 3.1.2.13   | reject 400           | addr-spec with ?headers needs <>                                 |
| badaspec   | 3.1.2.14   | reject 400           | blanks inside <>                                                 |
| baddn      | 3.1.2.15   | reject 400           | unquoted display name with a comma                               |
| badvers    | 3.1.2.16   | reject 505           | SIP/7.0                                                          |
| mismatch01 | 3.1.2.17   | reject 400           | CSeq method differs                                              |
| mismatch02 | 3.1.2.18   | reject 501           | unknown method first (the RFC prefers 501 to 400)                |
| bigcode    | 3.1.2.19   | drop                 | status code above 699                                            |
| badbranch  | 3.2.1      | reject 400           | branch is only the magic cookie (RFC allows 2543 fallback too)   |
| insuf      | 3.3.1      | reject 400           | no From, To, Call-ID                                             |
| unkscm     | 3.3.2      | reject 416           |                                                                  |
| novelsc    | 3.3.3      | reject 416           | soap.beep never acceptable here                                  |
| unksm2     | 3.3.4      | reject 405           | parses; a registrar answers 400 (tested below)                   |
| bext01     | 3.3.5      | reject 420           | Unsupported lists the Require tags; Proxy-Require ignored by a UA|
| invut      | 3.3.6      | reject 415           | with Accept: application/sdp                                     |
| regaut01   | 3.3.7      | reject 405           | parses (unknown scheme kept); a registrar challenges             |
| multi01    | 3.3.8      | reject 400           | repeated single-value fields                                     |
| mcl01      | 3.3.9      | reject 400           | conflicting Content-Length                                       |
| bcast      | 3.3.10     | drop                 | two Via values in a response at a UA (§8.1.3.3)                  |
| zeromf     | 3.3.11     | accept               | an endpoint goes on; a proxy answers 483 (tested below)          |
| cparam01   | 3.3.12     | reject 405           | parses: unknownparam is a header parameter                       |
| cparam02   | 3.3.13     | reject 405           | parses: unknownparam is a URI parameter                          |
| regescrt   | 3.3.14     | reject 405           | parses: the Contact URI carries a Route header                   |
| sdp01      | 3.3.15     | reject 406           | Accept excludes application/sdp                                  |
| inv2543    | 3.4.1      | accept               | RFC 2543 syntax: no Max-Forwards, tag, branch, Content-Length    |
| test       | (archive)  | drop                 | no SIP-Version, a line without ':' and no Via to answer to       |
"""

from __future__ import annotations

import pytest

from emulator.protocols.sip import SipParseError, StreamParser, Uri, parse_datagram
from emulator.protocols.sip.validate import DGW_METHODS, Policy, inspect_datagram
from testkit.sip_vectors import rfc4475, rfc4475_names
from testkit.sip_vectors.expected import ACCEPT, EXPECTED, reject

REGISTRAR = Policy(allowed_methods=DGW_METHODS | {"REGISTER"})
PROXY = Policy(role="proxy")


def test_every_vector_has_an_expectation() -> None:
    assert sorted(EXPECTED) == rfc4475_names()
    assert len(EXPECTED) == 50
    assert sum(1 for s, _ in EXPECTED.values() if s.startswith("3.1.1.")) == 13
    assert sum(1 for s, _ in EXPECTED.values() if s.startswith("3.1.2.")) == 19
    assert sum(1 for s, _ in EXPECTED.values() if s.startswith("3.3.")) == 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outcome_at_a_dgw_ua(name: str) -> None:
    _, (action, status) = EXPECTED[name]
    outcome = inspect_datagram(rfc4475(name))
    assert (outcome.action, outcome.status) == (action, status), outcome.detail
    if action == "reject":
        response = outcome.response
        assert response is not None and response.status == status
        again = parse_datagram(response.to_bytes())  # the answer itself is well formed
        assert again.headers.get_all("via") == outcome.message.headers.get_all("via")  # type: ignore[union-attr]
        assert again.headers.get("cseq") == outcome.message.headers.get("cseq")  # type: ignore[union-attr]


# -- the outcomes that depend on the element's role -------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [
    ("unksm2", reject(400)),  # §3.3.4: the AOR in To must be SIP/SIPS
    ("cparam01", ACCEPT), ("cparam02", ACCEPT), ("regescrt", ACCEPT), ("escnull", ACCEPT), ("dblreq", ACCEPT),
    ("regaut01", ACCEPT),  # the authentication layer then challenges (§3.3.7)
    ("scalar02", reject(400)), ("regbadct", reject(400)),
])
def test_outcome_at_a_registrar(name: str, expected: tuple[str, int | None]) -> None:
    outcome = inspect_datagram(rfc4475(name), REGISTRAR)
    assert (outcome.action, outcome.status) == expected, outcome.detail


def test_zeromf_at_a_proxy_is_483() -> None:
    outcome = inspect_datagram(rfc4475("zeromf"), PROXY)
    assert (outcome.action, outcome.status) == ("reject", 483)


def test_bext01_unsupported_lists_the_require_tags() -> None:
    ua = inspect_datagram(rfc4475("bext01"))
    assert ua.response is not None
    assert ua.response.unsupported == ["nothingSupportsThis", "nothingSupportsThisEither"]
    proxy = inspect_datagram(rfc4475("bext01"), PROXY)
    assert proxy.response is not None and "noProxiesSupportThis" in proxy.response.unsupported


def test_invut_415_carries_accept() -> None:
    outcome = inspect_datagram(rfc4475("invut"))
    assert outcome.response is not None and outcome.response.headers.get("Accept") == "application/sdp"


def test_mismatch02_501_carries_allow() -> None:
    outcome = inspect_datagram(rfc4475("mismatch02"))
    assert outcome.response is not None and "INVITE" in outcome.response.allow


def test_framing_errors_on_a_stream_close_it() -> None:
    for name in ("ncl", "mcl01"):
        stream = StreamParser()
        stream.feed(rfc4475(name))
        with pytest.raises(SipParseError) as info:
            stream.next_event()
        assert info.value.close_connection and info.value.status_code == 400
        assert stream.closed


def test_clerr_on_a_stream_waits_for_the_body() -> None:
    stream = StreamParser(max_size=20000)
    stream.feed(rfc4475("clerr"))
    assert stream.next_event() is None  # 9999 octets announced: wait for them


# -- valid messages parse with the right values (§3.1.1) --------------------------------------------------------
def test_wsinv() -> None:
    m = parse_datagram(rfc4475("wsinv"))
    assert m.method == "INVITE" and m.uri.params == {"unknownparam": None}  # type: ignore[union-attr]
    assert m.to.uri == Uri.parse("sip:vivekg@chair-dnrc.example.com") and m.to.tag == "1918181833n"
    assert m.from_.display_name == 'J Rosenberg \\"' and m.from_.tag == "98asjd8"
    assert m.max_forwards == 68 and m.content_length == 150 and len(m.body) == 150
    assert (m.cseq.seq, m.cseq.method) == (9, "INVITE")
    assert [(v.transport, v.host, v.branch) for v in m.via] == [
        ("UDP", "127.0.0.1", "390skdjuw"), ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "127.0.0.1", "z9hG4bK30239")]
    assert m.headers.get("Subject") == ""
    assert m.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    assert m.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert m.route[0].uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    (contact,) = m.contact
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"} and contact.q == 0.33


def test_intmeth() -> None:
    m = parse_datagram(rfc4475("intmeth"))
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.method == method and m.cseq.method == method  # type: ignore[union-attr]
    uri = m.uri  # type: ignore[union-attr]
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)" and uri.host == "example.com"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.max_forwards == 255
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert m.via[0].branch == "z9hG4bK-.!%66*_+`'~"


def test_esc01() -> None:
    m = parse_datagram(rfc4475("esc01"))
    assert m.uri.user == "sips:user@example.com" and m.uri.host == "example.net"  # type: ignore[union-attr]
    assert m.to.uri == Uri.parse("sip:user@example.com")
    assert m.from_.uri.user == "I have spaces"
    (contact,) = m.contact
    assert contact.uri.user == "caller"
    assert contact.uri.params == {"lr": None, "name": "value%41"}  # unescaped once, not twice
    assert m.content_type is not None and m.content_type.mime == "application/sdp"


def test_escnull() -> None:
    m = parse_datagram(rfc4475("escnull"))
    assert m.to.uri.user == "null-\x00-null" and m.from_.uri.user == "null-\x00-null"
    assert [c.uri.user for c in m.contact] == ["\x00", "\x00\x00"]
    assert str(m.contact[0].uri) == "sip:%00@host5.example.com"


def test_esc02() -> None:
    m = parse_datagram(rfc4475("esc02"))
    assert m.method == "RE%47IST%45R" != "REGISTER"  # type: ignore[union-attr]
    assert m.to.display_name == "%Z%45" and m.from_.display_name == "%Z%45"
    assert [c.uri.host for c in m.contact] == ["host1.example.com", "host3.example.com"]  # two, not three
    assert m.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert m.via[0].branch == "z9hG4bK209%fzsnel234"


def test_lwsdisp() -> None:
    m = parse_datagram(rfc4475("lwsdisp"))
    assert m.from_.display_name == "caller" and m.from_.tag == "323"


def test_longreq() -> None:
    m = parse_datagram(rfc4475("longreq"))
    assert len(m.via) == 34 and m.via[0].host == "sip33.example.com" and m.via[-1].host == "host.example.com"
    assert m.to.uri.port == 6000 and m.to.uri.params["unknownparam1"].startswith("verylong")
    assert m.to.display_name.startswith("I have a user name of extreme")
    assert len(m.from_.tag) == 155 and len(m.body) == 150
    assert m.contact[0].uri.user.startswith("amazinglylongcallername")


def test_dblreq() -> None:
    m = parse_datagram(rfc4475("dblreq"))
    assert m.method == "REGISTER" and m.body == b"" and m.content_length == 0  # type: ignore[union-attr]
    assert m.call_id.startswith("dblreq.0ha0isndaksdj99")


def test_semiuri() -> None:
    m = parse_datagram(rfc4475("semiuri"))
    uri = m.uri  # type: ignore[union-attr]
    assert uri.user == "user;par=u@example.net" and uri.host == "example.com" and uri.params == {}
    assert [a.mime for a in m.accept or []] == [
        "application/sdp", "application/pkcs7-mime", "multipart/mixed", "multipart/signed", "message/sip",
        "message/sipfrag"]


def test_transports() -> None:
    m = parse_datagram(rfc4475("transports"))
    assert [v.transport for v in m.via] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01() -> None:
    data = rfc4475("mpart01")
    m = parse_datagram(data)
    assert m.content_type is not None and m.content_type.mime == "multipart/mixed"
    assert m.content_type.params == {"boundary": "7a9cbec02ceef655"}
    assert len(m.body) == 553 and m.body == data[-553:] and m.body.startswith(b"--7a9cbec02ceef655")
    assert m.via[0].has_rport and m.via[0].rport is None
    assert m.to_bytes() == data  # binary body and all


def test_unreason_and_noreason() -> None:
    m = parse_datagram(rfc4475("unreason"))
    assert m.status == 200  # type: ignore[union-attr]
    assert m.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"  # type: ignore[union-attr]
    n = parse_datagram(rfc4475("noreason"))
    assert (n.status, n.reason) == (100, "")  # type: ignore[union-attr]


# -- messages that parse, for the layers above (§3.3, §3.4) -----------------------------------------------------
def test_application_layer_messages_parse() -> None:
    unksm2 = parse_datagram(rfc4475("unksm2"))
    assert str(unksm2.to.uri) == "isbn:2983792873" and unksm2.from_.uri.scheme == "http"
    assert str(unksm2.contact[0].uri) == "name:John_Smith"
    cparam01 = parse_datagram(rfc4475("cparam01"))
    assert cparam01.contact[0].params == {"unknownparam": None} and cparam01.contact[0].uri.params == {}
    cparam02 = parse_datagram(rfc4475("cparam02"))
    assert cparam02.contact[0].params == {} and cparam02.contact[0].uri.params == {"unknownparam": None}
    regescrt = parse_datagram(rfc4475("regescrt"))
    assert regescrt.contact[0].uri.headers == {"Route": "<sip:sip.example.com>"}
    regaut01 = parse_datagram(rfc4475("regaut01"))
    (cred,) = regaut01.authorization
    assert cred.scheme == "NoOneKnowsThisScheme" and cred.params == {"opaque-data": "here"}
    inv = parse_datagram(rfc4475("inv2543"))
    assert inv.max_forwards is None and inv.content_length is None and len(inv.body) == 105
    assert inv.from_.tag is None and inv.via[0].branch is None
    assert inv.record_route[0].uri.maddr == "ss1.example.com"
    bcast = parse_datagram(rfc4475("bcast"))
    assert len(bcast.via) == 2


def test_value_errors_are_typed_header_errors() -> None:
    from emulator.protocols.sip import HeaderError

    for name, attribute in [("scalar02", "cseq"), ("scalar02", "max_forwards"), ("scalarlg", "cseq"),
                            ("quotbal", "to"), ("baddate", "date"), ("regbadct", "contact"), ("badaspec", "to"),
                            ("baddn", "from_"), ("badinv01", "via"), ("badinv01", "contact"), ("multi01", "cseq")]:
        message = parse_datagram(rfc4475(name))
        with pytest.raises(HeaderError):
            getattr(message, attribute)

"""SIP message reader/writer (RFC 3261 §7, §18.3, §20.14): grammar, framing, size, serialisation, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.protocols.sip import (
    Headers,
    KeepAlive,
    MessageTooLarge,
    Request,
    Response,
    SipParseError,
    StreamParser,
    VersionNotSupported,
    make_response,
    parse_datagram,
    parse_message,
)
from emulator.protocols.sip.validate import inspect_datagram
from testkit.sip_vectors import BYE, INVITE_SDP, MIX, OK_INVITE, REGISTER, rfc4475, rfc4475_names

OPTIONS = (b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
           b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa1\r\n"
           b"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
           b"Call-ID: c1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


def test_realistic_mix_round_trips_byte_for_byte() -> None:
    for data in MIX:
        message = parse_message(data)
        assert message.to_bytes() == data
        assert bytes(message) == data


def test_content_length_keeps_its_place_and_follows_the_body() -> None:
    m = parse_message(rfc4475("wsinv"))
    lines = m.to_bytes().split(b"\r\n")
    assert lines[5] == b"Content-Length   : 150"  # where it was (6th field), spelled as it was
    m.body = b"v=0\r\n"
    assert m.to_bytes().split(b"\r\n")[5] == b"Content-Length   : 5"
    m.headers.add("l", "99")  # a second one is never written
    assert m.to_bytes().count(b"Content-Length") == 1 and b"\r\nl: " not in m.to_bytes()


def test_request_fields() -> None:
    m = parse_message(INVITE_SDP)
    assert isinstance(m, Request) and m.method == "INVITE" and str(m.uri) == "sip:5551002@dgw.example.com"
    assert m.top_via.branch == "z9hG4bK4b2e8d0c11f3a9e7" and m.top_via.has_rport and m.top_via.port == 16000
    assert m.from_.display_name == "Port 1" and m.from_.tag == "a83b2c10" and m.to.tag is None
    assert m.call_id == "2d9c4f7e1a3b4c5d@127.0.0.1" and m.cseq == (101, "INVITE")
    assert m.contact[0].uri.transport == "tls" and m.route[0].uri.lr
    assert m.supported == ["replaces", "timer"] and "REFER" in m.allow
    assert m.content_type is not None and m.content_type.mime == "application/sdp"
    assert m.content_length == len(m.body) == 316 and m.body.startswith(b"v=0\r\n")
    assert m.max_forwards == 70 and m.expires is None and m.require == []


def test_response_fields() -> None:
    m = parse_message(OK_INVITE)
    assert isinstance(m, Response) and (m.status, m.reason) == (200, "OK") and m.is_final
    assert m.top_via.received == "127.0.0.1" and m.top_via.rport == 16000
    assert [str(r.uri) for r in m.record_route] == ["sip:127.0.0.1:5061;transport=tls;lr;r2=on",
                                                    "sip:127.0.0.1:5062;transport=tls;lr"]
    assert m.to.tag == "77c0e5a1"


def test_compact_forms_map_to_long_names() -> None:
    compact = (b"OPTIONS sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\n"
               b"f: <sip:a@example.com>;tag=9\r\nt: sip:bob@example.com\r\ni: abc\r\nCSeq: 4 OPTIONS\r\n"
               b"m: <sip:a@127.0.0.1>\r\nk: timer\r\nc: text/plain\r\ns: hello\r\ne: identity\r\no: dialog\r\n"
               b"r: <sip:c@example.com>\r\nu: presence\r\nx: 1800\r\ny: abc\r\na: *;audio\r\nl: 2\r\n\r\nhi")
    m = parse_message(compact)
    assert m.top_via.branch == "z9hG4bKx" and m.from_.tag == "9" and m.to.uri.user == "bob"
    assert m.call_id == "abc" and m.contact[0].uri.host == "127.0.0.1" and m.supported == ["timer"]
    assert m.content_type is not None and m.content_type.mime == "text/plain" and m.body == b"hi"
    for long_name, value in [("Subject", "hello"), ("Content-Encoding", "identity"), ("Event", "dialog"),
                             ("Refer-To", "<sip:c@example.com>"), ("Allow-Events", "presence"),
                             ("Session-Expires", "1800"), ("Identity", "abc"), ("Accept-Contact", "*;audio"),
                             ("Content-Length", "2")]:
        assert m.headers.get(long_name) == value
        assert m.headers.get(long_name.upper()) == value
    assert m.to_bytes() == compact  # names are written back as received


def test_multi_valued_fields_combine_lines_and_commas_in_order() -> None:
    data = (b"OPTIONS sip:b@example.com SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1, SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK2\r\n"
            b"Via: SIP/2.0/UDP [::1]:5080;branch=z9hG4bK3;received=::1\r\n"
            b'Contact: "Doe, John" <sip:j@127.0.0.1>;q=0.5, <sip:k@127.0.0.1;transport=tcp>;expires=60\r\n'
            b'WWW-Authenticate: Digest realm="a, b", nonce="n1", qop="auth,auth-int"\r\n'
            b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n")
    m = parse_message(data)
    assert [v.branch for v in m.via] == ["z9hG4bK1", "z9hG4bK2", "z9hG4bK3"]
    assert m.via[2].host == "[::1]" and m.via[2].port == 5080 and m.via[2].sent_by == "[::1]:5080"
    assert [c.display_name for c in m.contact] == ["Doe, John", None]
    assert m.contact[0].q == 0.5 and m.contact[1].expires == 60
    (challenge,) = m.www_authenticate  # not split at the commas inside it
    assert challenge.realm == "a, b" and challenge.qop_options == ["auth", "auth-int"]


def test_folding_is_undone() -> None:
    data = (b"OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n\t;branch=z9hG4bK1\r\n"
            b"Subject: a\r\n  b\r\n   c\r\nFrom: <sip:a@example.com>\r\n ;tag=1\r\nTo: <sip:b@example.com>\r\n"
            b"Call-ID: x\r\nCSeq: 1\r\n OPTIONS\r\n\r\n")
    m = parse_message(data)
    assert m.top_via.branch == "z9hG4bK1" and m.headers.get("subject") == "a b c"
    assert m.from_.tag == "1" and m.cseq == (1, "OPTIONS")


def test_bare_lf_line_ends_are_tolerated() -> None:
    m = parse_message(OPTIONS.replace(b"\r\n", b"\n"))
    assert m.call_id == "c1@127.0.0.1" and m.cseq.seq == 1


def test_leading_crlf_and_keepalives_on_datagrams() -> None:
    assert parse_message(b"\r\n\r\n" + OPTIONS).call_id == "c1@127.0.0.1"  # §7.5
    assert parse_datagram(b"\r\n\r\n") == KeepAlive(ping=True)
    assert parse_datagram(b"\r\n") == KeepAlive(ping=False)


@pytest.mark.parametrize(("start", "status"), [
    (b"OPTIONS sip:b@example.com SIP/2.1", 505), (b"OPTIONS sip:b@example.com SIP/3", 400),
    (b"OPTIONS  sip:b@example.com SIP/2.0", 400), (b"OPTIONS sip:b@example.com", 400),
    (b"OPT IONS sip:b@example.com SIP/2.0", 400), (b"OPTIONS <sip:b@example.com> SIP/2.0", 400),
    (b"OPTI\xc3\xa9NS sip:b@example.com SIP/2.0", 400), (b"OPTIONS sip:b@ SIP/2.0", 400),
])
def test_bad_request_lines(start: bytes, status: int) -> None:
    data = start + OPTIONS[OPTIONS.index(b"\r\n"):]
    with pytest.raises(SipParseError) as info:
        parse_datagram(data)
    assert info.value.status_code == status
    assert isinstance(info.value.message, Request)  # enough to answer from
    assert info.value.message.headers.get("call-id") == "c1@127.0.0.1"


@pytest.mark.parametrize("start", [b"SIP/2.0 99 Odd", b"SIP/2.0 700 Big", b"SIP/2.0 2000 OK", b"SIP/3.0 200 OK",
                                   b"SIP/2.0 abc OK", b"SIP/2.0 \xd9\xa2\xd9\xa0\xd9\xa0 OK"])
def test_bad_status_lines_are_dropped(start: bytes) -> None:
    with pytest.raises(SipParseError) as info:
        parse_datagram(start + b"\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n\r\n")
    assert info.value.status_code is None


def test_version_error_is_505_with_message() -> None:
    with pytest.raises(VersionNotSupported) as info:
        parse_datagram(OPTIONS.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1))
    assert info.value.status_code == 505 and info.value.reason == "Version Not Supported"


def test_header_line_without_colon_is_400() -> None:
    with pytest.raises(SipParseError) as info:
        parse_datagram(OPTIONS.replace(b"Max-Forwards: 70", b"Max-Forwards 70"))
    assert info.value.status_code == 400 and info.value.message is not None
    with pytest.raises(SipParseError):
        parse_datagram(OPTIONS.replace(b"Max-Forwards: 70", b"Max Forwards: 70"))  # name is not a token


# -- Content-Length and size ----------------------------------------------------------------------------------
def test_datagram_content_length_rules() -> None:
    body = b"v=0\r\n"
    with_length = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 5") + body
    assert parse_message(with_length + b"trailing junk").body == body  # §18.3: extra octets discarded
    without = OPTIONS.replace(b"Content-Length: 0\r\n", b"") + body
    message = parse_message(without)
    assert message.body == body and message.content_length is None  # body to the end of the datagram
    assert b"Content-Length: 5\r\n" in message.to_bytes()  # always written
    with pytest.raises(SipParseError) as info:
        parse_datagram(OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 6") + body)
    assert info.value.status_code == 400
    with pytest.raises(SipParseError):
        parse_datagram(OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 0x5") + body)
    twice = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 5\r\nl: 5") + body
    assert parse_message(twice).body == body  # repeated but equal is not ambiguous


def test_response_with_short_body_is_dropped() -> None:
    response = OK_INVITE[:-10]
    with pytest.raises(SipParseError) as info:
        parse_datagram(response)
    assert info.value.status_code is None


def test_message_too_large_is_513_for_requests() -> None:
    big = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 5200") + b"x" * 5200
    with pytest.raises(MessageTooLarge) as info:
        parse_datagram(big)
    assert info.value.status_code == 513 and isinstance(info.value.message, Request)
    outcome = inspect_datagram(big)
    assert outcome.action == "reject" and outcome.status == 513 and outcome.response is not None
    assert parse_datagram(big, max_size=6000).body == b"x" * 5200
    just_fits = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 4") + b"x" * 4
    assert len(just_fits) <= 5120 and parse_message(just_fits, max_size=len(just_fits)).body == b"xxxx"
    with pytest.raises(MessageTooLarge):
        parse_datagram(just_fits, max_size=len(just_fits) - 1)


# -- streams ------------------------------------------------------------------------------------------------------
def _drain(stream: StreamParser) -> list[object]:
    out = []
    while (event := stream.next_event()) is not None:
        out.append(event)
    return out


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_stream_frames_messages_fed_in_pieces(chunk: int) -> None:
    data = b"".join(MIX) * 2
    stream = StreamParser()
    events: list[object] = []
    for i in range(0, len(data), chunk):
        stream.feed(data[i:i + chunk])
        events.extend(_drain(stream))
    assert [e.to_bytes() for e in events] == list(MIX) * 2  # type: ignore[attr-defined]
    assert stream.buffered == 0


def test_stream_keepalives() -> None:
    stream = StreamParser()
    stream.feed(b"\r\n\r\n")
    assert _drain(stream) == [KeepAlive(ping=True)]
    stream.feed(b"\r\n")
    assert _drain(stream) == []  # could still become a ping
    stream.feed(REGISTER)
    events = _drain(stream)
    assert events[0] == KeepAlive(ping=False) and isinstance(events[1], Request)
    stream.awaiting_pong = True
    stream.feed(b"\r\n")
    assert _drain(stream) == [KeepAlive(ping=False)] and not stream.awaiting_pong


def test_stream_requires_content_length_but_keeps_going() -> None:
    stream = StreamParser()
    stream.feed(OPTIONS.replace(b"Content-Length: 0\r\n", b"") + BYE)
    with pytest.raises(SipParseError) as info:
        stream.next_event()
    assert info.value.status_code == 400 and not info.value.close_connection
    assert isinstance(info.value.message, Request)
    (bye,) = _drain(stream)
    assert bye.method == "BYE"  # type: ignore[attr-defined]


def test_stream_skips_an_oversized_body_and_resynchronises() -> None:
    big = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 6000") + b"y" * 6000
    stream = StreamParser()
    stream.feed(big[:3000])
    with pytest.raises(MessageTooLarge) as info:
        stream.next_event()
    assert info.value.status_code == 513 and not info.value.close_connection
    stream.feed(big[3000:] + BYE)
    (bye,) = _drain(stream)
    assert bye.method == "BYE"  # type: ignore[attr-defined]


def test_stream_without_end_of_headers_is_closed() -> None:
    stream = StreamParser(max_size=1000)
    stream.feed(b"OPTIONS sip:x@example.com SIP/2.0\r\n" + b"X-Filler: " + b"z" * 1200)
    with pytest.raises(MessageTooLarge) as info:
        stream.next_event()
    assert info.value.close_connection and stream.closed and stream.next_event() is None


def test_stream_bad_header_block_with_readable_length_is_skipped() -> None:
    bad = OPTIONS.replace(b"OPTIONS sip:bob@example.com", b"OPTIONS <sip:bob@example.com>")
    bad = bad.replace(b"Content-Length: 0", b"Content-Length: 3") + b"abc"
    stream = StreamParser()
    stream.feed(bad + BYE)
    with pytest.raises(SipParseError) as info:
        stream.next_event()
    assert info.value.status_code == 400 and not info.value.close_connection
    assert [e.method for e in _drain(stream)] == ["BYE"]  # type: ignore[attr-defined]


# -- building ----------------------------------------------------------------------------------------------------
def test_make_response_copies_per_8_2_6() -> None:
    request = parse_message(INVITE_SDP.replace(b"CSeq: 101 INVITE", b"CSeq: 101 INVITE\r\nTimestamp: 54"))
    assert isinstance(request, Request)
    trying = make_response(request, 100)
    assert trying.reason == "Trying" and trying.to.tag is None and trying.headers.get("timestamp") == "54"
    ringing = make_response(request, 180, to_tag="zz9")
    assert ringing.to.tag == "zz9" and ringing.headers.get("timestamp") is None
    for name in ("via", "from", "call-id", "cseq"):
        assert ringing.headers.get_all(name) == request.headers.get_all(name)
    busy = make_response(ringing_request := request, 486, "Busy Here", to_tag="zz9", headers=[("Retry-After", "30")])
    assert busy.to_bytes().startswith(b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/TLS 127.0.0.1:16000;branch=")
    assert busy.headers.get("Retry-After") == "30" and ringing_request is request
    assert parse_message(busy.to_bytes()).cseq == (101, "INVITE")


def test_headers_api_and_cache_invalidation() -> None:
    m = parse_message(BYE)
    assert m.via[0].branch == "z9hG4bK09ad3c7e5b1f2a48"
    m.headers.prepend("Via", "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKproxy")
    assert [v.branch for v in m.via] == ["z9hG4bKproxy", "z9hG4bK09ad3c7e5b1f2a48"]  # cache dropped
    assert m.headers.remove_first("via") == "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKproxy"
    assert len(m.via) == 1
    m.headers.set("Max-Forwards", "69")
    assert m.max_forwards == 69 and m.headers.count("max-forwards") == 1
    assert m.headers.remove("route") == 1 and m.route == []
    m.headers.add("X-Test", "1")
    assert "x-test" in m.headers and m.headers["X-TEST"] == "1" and ("X-Test", "1") in list(m.headers)
    m.body = b"abc"
    assert parse_message(m.to_bytes()).content_length == 3  # Content-Length follows the body
    with pytest.raises(KeyError):
        m.headers["missing"]


def test_building_a_request_from_scratch() -> None:
    r = Request("OPTIONS", "sip:bob@example.com", [
        ("Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKq"), ("From", "<sip:a@example.com>;tag=1"),
        ("To", "<sip:bob@example.com>"), ("Call-ID", "q1"), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "70")])
    wire = r.to_bytes()
    assert wire.startswith(b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: ")
    assert wire.endswith(b"Content-Length: 0\r\n\r\n")
    assert parse_message(wire).cseq.seq == 1
    assert Response(404).to_bytes().startswith(b"SIP/2.0 404 Not Found\r\n")
    assert isinstance(Headers([("v", "x")]).get_all("Via"), list)


# -- fuzzing: nothing but SipParseError ever escapes, and the checks never raise ------------------------------------
SEEDS = list(MIX) + [rfc4475(n) for n in rfc4475_names()]
TOKENS = [b":", b";", b",", b"\r\n", b" ", b"\t", b'"', b"\\", b"<", b">", b"%", b"%0", b"=", b"@", b"?", b"\x00",
          b"\r\n ", b"\r\n\r\n", b"SIP/2.0", b"z9hG4bK", b"\xff", b"\xc3\xa9", b"99999999999999999999", b"-1",
          b"Content-Length: 99\r\n", b"Via: SIP/2.0/UDP [::1\r\n", b"[", b"]", b"\xd9\xa2"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.integers(0, 3))
        if op == 0:
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == 1:
            data[pos:pos + draw(st.integers(1, 20))] = b""
        elif op == 2 and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        else:
            data[pos:pos] = draw(st.binary(max_size=8))
    return bytes(data)


def _without_length(headers: Headers) -> list[tuple[str, str]]:
    return [(n, v) for n, v in headers if n.lower() not in ("content-length", "l")]


def _exercise(data: bytes) -> None:
    try:
        message = parse_datagram(data)
    except SipParseError:
        pass
    else:
        if not isinstance(message, KeepAlive):
            for name in ("via", "from_", "to", "call_id", "cseq", "contact", "route", "record_route", "max_forwards",
                         "content_length", "content_type", "accept", "require", "supported", "expires",
                         "www_authenticate", "authorization", "date"):
                try:
                    getattr(message, name)
                except SipParseError:
                    pass
            again = parse_datagram(message.to_bytes())  # what we write, we read back the same
            assert not isinstance(again, KeepAlive)
            assert again.start_line() == message.start_line()
            assert _without_length(again.headers) == _without_length(message.headers)
            assert again.body == message.body and again.content_length == len(message.body)
    outcome = inspect_datagram(data)  # the unit keeps serving: no exception at all
    if outcome.response is not None:
        parse_message(outcome.response.to_bytes())
    stream = StreamParser()
    stream.feed(data)
    for _ in range(4):
        try:
            if stream.next_event() is None:
                break
        except SipParseError:
            pass


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _exercise(data)


@FUZZ
@given(st.binary(max_size=200).map(lambda tail: b"INVITE sip:a@example.com SIP/2.0\r\nVia: " + tail))
def test_fuzz_random_after_a_valid_start(data: bytes) -> None:
    _exercise(data)


@FUZZ
@given(mutated())
def test_fuzz_mutated_valid_messages(data: bytes) -> None:
    _exercise(data)

"""SDP (RFC 4566) parse/serialise and RFC 3264 offer/answer helpers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.protocols.sdp.sdp import (
    PCMA,
    PCMU,
    RTP_AVP,
    RTP_SAVP,
    TELEPHONE_EVENT,
    Codec,
    Connection,
    Direction,
    SdpError,
    SessionDescription,
    answer_direction,
    audio_media,
    hold_direction,
    is_hold,
    negotiate_codecs,
    reject_media,
)
from tests.helpers.fuzz import accepted_or_refused

# RFC 4566 §5 example description
RFC4566_EXAMPLE = (
    "v=0\r\n"
    "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
    "s=SDP Seminar\r\n"
    "i=A Seminar on the session description protocol\r\n"
    "u=http://www.example.com/seminars/sdp.pdf\r\n"
    "e=j.doe@example.com (Jane Doe)\r\n"
    "c=IN IP4 224.2.17.12/127\r\n"
    "t=2873397496 2873404696\r\n"
    "a=recvonly\r\n"
    "m=audio 49170 RTP/AVP 0\r\n"
    "m=video 51372 RTP/AVP 99\r\n"
    "a=rtpmap:99 h263-1998/90000\r\n"
)

DGW_LIKE_OFFER = (
    "v=0\r\n"
    "o=MxSIP 0 1 IN IP4 192.168.10.20\r\n"
    "s=-\r\n"
    "c=IN IP4 192.168.10.20\r\n"
    "t=0 0\r\n"
    "m=audio 5004 RTP/SAVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n"
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)


def test_rfc4566_example_round_trip() -> None:
    sd = SessionDescription.parse(RFC4566_EXAMPLE)
    assert sd.origin.username == "jdoe" and sd.origin.session_version == 2890842807
    assert sd.session_name == "SDP Seminar"
    assert sd.connection == Connection("224.2.17.12/127")
    assert sd.timings[0].start == 2873397496
    assert [m.media for m in sd.media] == ["audio", "video"]
    assert sd.media_direction(sd.media[0]) is Direction.RECVONLY  # session-level attribute applies
    assert sd.media[1].codecs() == [Codec(99, "h263-1998", 90000)]
    assert sd.serialize() == RFC4566_EXAMPLE


def test_dgw_like_offer() -> None:
    sd = SessionDescription.parse(DGW_LIKE_OFFER.encode())
    audio = sd.media[0]
    assert audio.is_secure and audio.proto == RTP_SAVP and not audio.rejected
    assert audio.ptime == 20
    assert audio.direction is Direction.SENDRECV
    assert [c.name for c in audio.codecs()] == ["PCMU", "PCMA", "telephone-event"]
    assert audio.codecs()[2].fmtp == "0-15"
    assert len(audio.attribute_values("crypto")) == 2  # preference order kept
    assert audio.attribute_values("crypto")[0].startswith("1 AES_CM_128_HMAC_SHA1_80")
    assert bytes(sd) == DGW_LIKE_OFFER.encode()


def test_lf_only_line_endings_are_accepted() -> None:
    sd = SessionDescription.parse(DGW_LIKE_OFFER.replace("\r\n", "\n"))
    assert sd.serialize() == DGW_LIKE_OFFER


def test_build_offer_and_bump_version() -> None:
    sd = SessionDescription.new("10.0.0.5", session_id=42)
    md = audio_media(5004, [PCMU, PCMA, TELEPHONE_EVENT], secure=True)
    md.add_attribute("crypto", "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR")
    sd.media.append(md)
    text = sd.serialize()
    assert "m=audio 5004 RTP/SAVP 0 8 101\r\n" in text
    assert "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n" in text
    assert text.endswith(
        "a=ptime:20\r\na=sendrecv\r\n"
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n"
    )
    back = SessionDescription.parse(text)
    assert back.serialize() == text
    sd.bump_version()
    assert sd.origin.session_version == 43 and sd.origin.session_id == 42


def test_plain_rtp_media() -> None:
    md = audio_media(6000, [PCMA], ptime=None, direction=None, rtpmap_static=False)
    assert md.proto == RTP_AVP and md.attributes == [] and md.formats == ["8"]


@pytest.mark.parametrize(
    ("offered", "local", "answer"),
    [
        (Direction.SENDRECV, Direction.SENDRECV, Direction.SENDRECV),
        (Direction.SENDONLY, Direction.SENDRECV, Direction.RECVONLY),
        (Direction.RECVONLY, Direction.SENDRECV, Direction.SENDONLY),
        (Direction.INACTIVE, Direction.SENDRECV, Direction.INACTIVE),
        (Direction.SENDRECV, Direction.SENDONLY, Direction.SENDONLY),
        (Direction.SENDONLY, Direction.SENDONLY, Direction.INACTIVE),
    ],
)
def test_answer_direction(offered: Direction, local: Direction, answer: Direction) -> None:
    assert answer_direction(offered, local) is answer


def test_hold_offers_and_detection() -> None:
    assert hold_direction(Direction.SENDRECV) is Direction.SENDONLY
    assert hold_direction(Direction.RECVONLY) is Direction.INACTIVE
    for direction in ("sendonly", "inactive"):
        sd = SessionDescription.parse(DGW_LIKE_OFFER.replace("a=sendrecv", f"a={direction}"))
        assert is_hold(sd, sd.media[0])
    sd = SessionDescription.parse(DGW_LIKE_OFFER.replace("c=IN IP4 192.168.10.20", "c=IN IP4 0.0.0.0"))
    assert is_hold(sd, sd.media[0])  # RFC 2543 style (RFC 3264 §8.4)
    sd = SessionDescription.parse(DGW_LIKE_OFFER)
    assert not is_hold(sd, sd.media[0])
    sd.media[0].direction = Direction.INACTIVE
    assert "a=inactive\r\n" in sd.serialize() and "a=sendrecv" not in sd.serialize()


def test_reject_and_negotiate() -> None:
    sd = SessionDescription.parse(DGW_LIKE_OFFER)
    rejected = reject_media(sd.media[0])
    assert rejected.port == 0 and rejected.rejected and rejected.formats == ["0", "8", "101"]
    assert rejected.serialize_lines() == ["m=audio 0 RTP/SAVP 0 8 101"]
    # dynamic payload type numbers are the offerer's (RFC 3264 §6.1)
    offer = DGW_LIKE_OFFER.replace(" 0 8 101", " 18 8 96").replace("rtpmap:101", "rtpmap:96")
    offer = offer.replace("fmtp:101", "fmtp:96").replace("a=rtpmap:0 PCMU/8000\r\n", "")
    got = negotiate_codecs(SessionDescription.parse(offer).media[0], [PCMU, PCMA, TELEPHONE_EVENT])
    assert [(c.payload_type, c.name) for c in got] == [(8, "PCMA"), (96, "telephone-event")]


MINIMAL = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"  # the lines every description needs


def test_rejected_stream_needs_no_connection() -> None:
    text = MINIMAL + "m=audio 0 RTP/AVP 0\r\n"
    assert SessionDescription.parse(text).media[0].rejected


@pytest.mark.parametrize(
    ("text", "fragment", "status"),
    [
        ("", "empty", 400),
        ("o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", "start with v=", 400),
        ("v=1\r\n", "version", 400),
        (MINIMAL + "x=1\r\n", "unknown SDP line type", 400),
        (MINIMAL + "a = x\r\n", "<type>=<value>", 400),
        ("v=0\r\ns=-\r\nt=0 0\r\n", "missing o=", 400),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nt=0 0\r\n", "missing s=", 400),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n", "missing t=", 400),
        ("v=0\r\no=- x 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n", "session id", 400),
        ("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\nt=0 0\r\n", "6 fields", 400),
        (MINIMAL + "m=audio 70000 RTP/AVP 0\r\n", "port", 400),
        (MINIMAL + "m=audio 5004 RTP/AVP\r\n", "m= needs", 400),
        (MINIMAL + "m=audio 5004 RTP/AVP 0\r\no=- 1 1 IN IP4 1.2.3.4\r\n", "after m=", 400),
        (MINIMAL + "m=audio 5004 RTP/AVP 0\r\n", "no c= line", 488),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4\r\nt=0 0\r\n", "c= needs", 400),
        (MINIMAL + "b=AS\r\n", "b= needs", 400),
        (MINIMAL + "a=:x\r\n", "token", 400),
    ],
)
def test_malformed_sdp_refused_with_reason(text: str, fragment: str, status: int) -> None:
    with pytest.raises(SdpError) as err:
        SessionDescription.parse(text)
    assert fragment in str(err.value)
    assert err.value.status_code == status


def test_bytes_limits() -> None:
    with pytest.raises(SdpError, match="UTF-8"):
        SessionDescription.parse(b"v=0\r\ns=\xff\r\n")
    with pytest.raises(SdpError, match="larger"):
        SessionDescription.parse(b"v=0\r\n" + b"a=x\r\n" * 20000)
    with pytest.raises(SdpError) as err:
        SessionDescription.parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nk\r\n")
    assert err.value.line_no == 3


# --------------------------------------------------------------------------------- fuzzing

_line = st.tuples(st.sampled_from(list("vosiuepcbtrzkamxV ")), st.text(max_size=30)).map(lambda t: f"{t[0]}={t[1]}")


@settings(max_examples=400, deadline=None)
@given(st.lists(_line, max_size=15))
def test_sdp_parser_fuzz_lines(lines: list[str]) -> None:
    sd = accepted_or_refused(SdpError, SessionDescription.parse, "\r\n".join(["v=0", *lines]) + "\r\n")
    if sd is not None:
        assert SessionDescription.parse(sd.serialize()).serialize() == sd.serialize()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_sdp_parser_fuzz_mutations(data: st.DataObject) -> None:
    raw = bytearray(DGW_LIKE_OFFER.encode())
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            raw[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[pos : pos + data.draw(st.integers(1, 20))]
        else:
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        if not raw:
            break
    accepted_or_refused(SdpError, SessionDescription.parse, bytes(raw))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_sdp_parser_fuzz_bytes(data: bytes) -> None:
    accepted_or_refused(SdpError, SessionDescription.parse, data)

"""SDES a=crypto (RFC 4568): the RFC's examples, offer/answer per Mipt.SrtpOffer/AnswerCryptoMode,
precise refusals, fuzzing, and an end-to-end SRTP exchange keyed by the negotiated lines."""

from __future__ import annotations

import base64
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.protocols.media.rtp import RtpSender
from emulator.protocols.media.srtp import SrtpSession, SrtpSuite
from emulator.protocols.sdp import sdes
from emulator.protocols.sdp.sdes import (
    AnswerCryptoMode,
    CryptoAttribute,
    KeyParam,
    OfferCryptoMode,
    SdesError,
    SdesKeyLengthError,
    SdesNoAcceptableCryptoError,
    SdesSessionParamError,
    SdesSyntaxError,
    SdesUnknownSuiteError,
    SdesUnsupportedError,
)
from tests.helpers.fuzz import accepted_or_refused

# RFC 4568 examples (§4, §5.1 offer and answer, §6.2 suite example)
RFC_EXAMPLE = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"
RFC_OFFER_1 = "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP"
RFC_OFFER_2 = (
    "2 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;"
    "inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP"
)
RFC_ANSWER = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4"
RFC_32 = "1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32"


def counter_rng() -> object:
    c = itertools.count(1)
    return lambda n: bytes([next(c) & 0xFF]) * n


def test_rfc4568_example_fields() -> None:
    a = CryptoAttribute.parse(RFC_EXAMPLE)
    assert (a.tag, a.suite, a.session_params) == (1, "AES_CM_128_HMAC_SHA1_80", ())
    (key,) = a.keys
    assert key.key_salt == base64.b64decode("PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR")
    assert len(key.key_salt) == 30
    assert key.lifetime == 1 << 20 and key.lifetime_text == "2^20"
    assert (key.mki, key.mki_length, key.mki_bytes) == (1, 32, (1).to_bytes(32, "big"))
    assert a.serialize() == RFC_EXAMPLE
    assert CryptoAttribute.parse("a=crypto:" + RFC_EXAMPLE) == a
    assert a.line() == "a=crypto:" + RFC_EXAMPLE


@pytest.mark.parametrize("value", [RFC_EXAMPLE, RFC_OFFER_1, RFC_OFFER_2, RFC_ANSWER, RFC_32])
def test_rfc4568_examples_round_trip(value: str) -> None:
    assert CryptoAttribute.parse(value).serialize() == value


def test_rfc4568_offer_answer_selection() -> None:
    # the §5.1 offer with the unsupported F8 line first: it is skipped with its reason
    ans = sdes.select_answer([RFC_OFFER_2, RFC_OFFER_1], rng=counter_rng())  # type: ignore[arg-type]
    assert ans.selected.tag == 1 and ans.answer.tag == 1
    assert ans.answer.suite == "AES_CM_128_HMAC_SHA1_80"
    assert isinstance(ans.skipped[0], SdesUnknownSuiteError)
    assert ans.remote.mki == b"\x00\x00\x00\x01"  # the offerer's packets carry its 4-octet MKI
    assert ans.local.master == bytes([1]) * 30 and ans.local.mki == b""
    assert ans.answer.serialize() == "1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes([1]) * 30).decode()


@pytest.mark.parametrize(
    ("mode", "suites"),
    [
        ("Aes80", ["AES_CM_128_HMAC_SHA1_80"]),
        ("Aes32", ["AES_CM_128_HMAC_SHA1_32"]),
        ("Aes80And32", ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"]),
    ],
)
def test_offer_modes(mode: str, suites: list[str]) -> None:
    lines = sdes.build_offer(mode)
    assert [a.suite for a in lines] == suites
    assert [a.tag for a in lines] == list(range(1, len(suites) + 1))
    keys = [a.keys[0].key_salt for a in lines]
    assert all(len(k) == 30 for k in keys) and len(set(keys)) == len(keys)  # one fresh key per line
    for a in lines:
        assert CryptoAttribute.parse(a.serialize()) == a
        a.check_acceptable()


def test_offer_with_lifetime_and_mki() -> None:
    (a,) = sdes.build_offer(OfferCryptoMode.AES80, lifetime="2^31", mki_length=1)
    assert a.serialize().endswith("|2^31|1:1")
    assert a.keying().mki == b"\x01"


@pytest.mark.parametrize(
    ("mode", "tag"),
    [(AnswerCryptoMode.AS_OFFERED, 1), (AnswerCryptoMode.AES80, 1), (AnswerCryptoMode.AES32, 2), ("aes32", 2)],
)
def test_answer_modes(mode: AnswerCryptoMode | str, tag: int) -> None:
    offer = sdes.build_offer(OfferCryptoMode.AES80_AND_32)
    ans = sdes.select_answer([a.serialize() for a in offer], mode)
    assert ans.answer.tag == tag and ans.selected.tag == tag
    assert ans.remote.master == offer[tag - 1].keys[0].key_salt


def test_answer_mode_without_matching_suite_is_488() -> None:
    offer = sdes.build_offer(OfferCryptoMode.AES32)
    with pytest.raises(SdesNoAcceptableCryptoError) as err:
        sdes.select_answer(offer, AnswerCryptoMode.AES80)
    assert err.value.status_code == 488
    assert "tag 1" in str(err.value) and "AES_CM_128_HMAC_SHA1_32" in str(err.value)
    with pytest.raises(SdesNoAcceptableCryptoError, match="no a=crypto"):
        sdes.select_answer([])


def test_end_to_end_srtp_with_negotiated_keys() -> None:
    offer = sdes.build_offer(OfferCryptoMode.AES80_AND_32)
    ans = sdes.select_answer([a.line() for a in offer], AnswerCryptoMode.AES32)
    local, remote = sdes.accept_answer(offer, ans.answer.serialize())
    assert local.suite is remote.suite is SrtpSuite.AES_CM_128_HMAC_SHA1_32
    offerer = SrtpSession(local, remote)
    answerer = SrtpSession(ans.local, ans.remote)
    a, b = RtpSender.create(0), RtpSender.create(8)
    for _ in range(5):
        p = a.next_packet(b"\xff" * 160)
        assert answerer.unprotect(offerer.protect(p)) == p
        q = b.next_packet(b"\xd5" * 160)
        assert offerer.unprotect(answerer.protect(q)) == q


def test_accept_answer_checks_tag_and_suite() -> None:
    offer = sdes.build_offer(OfferCryptoMode.AES80_AND_32)
    key = base64.b64encode(bytes(30)).decode()
    with pytest.raises(SdesSyntaxError, match="not offered"):
        sdes.accept_answer(offer, f"3 AES_CM_128_HMAC_SHA1_80 inline:{key}")
    with pytest.raises(SdesUnknownSuiteError, match="changes the suite"):
        sdes.accept_answer(offer, f"1 AES_CM_128_HMAC_SHA1_32 inline:{key}")
    with pytest.raises(SdesSyntaxError, match="exactly one"):
        sdes.accept_answer(offer, [])


KEY40 = base64.b64encode(bytes(range(30))).decode()
AES80_LINE = "1 AES_CM_128_HMAC_SHA1_80 inline:" + KEY40  # acceptable as it is; cases below append to it

# key-info fields after the key that do not parse (SdesSyntaxError) -> a fragment of the message
BAD_KEY_INFO = {
    "|2^49": "outside",
    "|1:0": "1..128",
    "|1:129": "1..128",
    "|256:1": "does not fit",
    "|1:4|2^20": "after the MKI",
    "|2^20|2^20": "two lifetime",
    "|x": "bad lifetime",
    "|1|2|3": "too many",
}

# session parameters that parse but that the DGW refuses (SdesSessionParamError) -> a fragment of the message
REFUSED_SESSION_PARAMS = {
    "KDR=1": "KDR=1",
    "UNENCRYPTED_SRTP": "UNENCRYPTED",
    "UNAUTHENTICATED_SRTP": "UNAUTH",
    "FEC_ORDER=SRTP_FEC": "FEC_ORDER",
    "WSH=32": "WSH",
    "FOO=1": "unknown session",
}


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        ("1 AES_CM_128_HMAC_SHA1_80", SdesSyntaxError, "needs <tag>"),
        ("x AES_CM_128_HMAC_SHA1_80 inline:" + KEY40, SdesSyntaxError, "tag must be"),
        ("1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + KEY40, SdesSyntaxError, "tag must be"),
        ("1 AES-CM inline:" + KEY40, SdesSyntaxError, "crypto-suite"),
        ("1 AES_CM_128_HMAC_SHA1_80 " + KEY40, SdesSyntaxError, "without ':'"),
        ("1 AES_CM_128_HMAC_SHA1_80 uri:http://x", SdesUnsupportedError, "key method"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:@@@@", SdesSyntaxError, "base64"),
        *((AES80_LINE + fields, SdesSyntaxError, fragment) for fields, fragment in BAD_KEY_INFO.items()),
    ],
)
def test_malformed_lines_refused_with_messages(value: str, error: type[SdesError], fragment: str) -> None:
    with pytest.raises(error) as err:
        CryptoAttribute.parse(value)
    assert fragment in str(err.value)
    assert err.value.status_code == 488


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(29)).decode(), SdesKeyLengthError, "got 29"),
        ("1 AES_CM_128_HMAC_SHA1_32 inline:" + base64.b64encode(bytes(46)).decode(), SdesKeyLengthError, "30 octets"),
        ("1 AES_256_CM_HMAC_SHA1_80 inline:" + KEY40, SdesUnknownSuiteError, "AES_256_CM_HMAC_SHA1_80"),
        ("1 AEAD_AES_128_GCM inline:" + KEY40, SdesUnknownSuiteError, "AEAD_AES_128_GCM"),
        (RFC_OFFER_2.replace("F8_128", "AES_CM_128"), SdesUnsupportedError, "2 master keys"),
        *(
            (f"{AES80_LINE} {param}", SdesSessionParamError, fragment)
            for param, fragment in REFUSED_SESSION_PARAMS.items()
        ),
    ],
)
def test_unacceptable_lines_refused_with_messages(value: str, error: type[SdesError], fragment: str) -> None:
    attr = CryptoAttribute.parse(value)  # syntactically fine
    with pytest.raises(error) as err:
        attr.check_acceptable()
    assert fragment in str(err.value)
    with pytest.raises(SdesNoAcceptableCryptoError) as none:
        sdes.select_answer([value])
    assert isinstance(none.value.problems[0], error)


def test_acceptable_session_params() -> None:
    for extra in (" WSH=128", " -X-VENDOR=1", " FEC_ORDER=FEC_SRTP"):
        CryptoAttribute.parse(AES80_LINE + extra).check_acceptable()


def test_duplicate_tags_and_mixed_lines() -> None:
    good, bad = sdes.parse_crypto_lines([AES80_LINE, "1 AES_CM_128_HMAC_SHA1_32 inline:" + KEY40, "garbage"])
    assert [a.tag for a in good] == [1]
    assert len(bad) == 2 and "duplicate tag" in str(bad[0])


def test_mode_parameters() -> None:
    assert OfferCryptoMode.from_parameter("Aes80And32") is OfferCryptoMode.AES80_AND_32
    assert AnswerCryptoMode.from_parameter("AsOffered") is AnswerCryptoMode.AS_OFFERED
    with pytest.raises(ValueError, match="Aes80"):
        OfferCryptoMode.from_parameter("Aes256")
    assert KeyParam(bytes(30), lifetime=1 << 20).serialize().endswith("|2^20")


# --------------------------------------------------------------------------------- fuzzing

_piece = st.sampled_from(
    [
        "1",
        "12",
        " ",
        "\t",
        "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32",
        "inline:",
        KEY40,
        "|",
        "2^20",
        "1:4",
        ";",
        "KDR=1",
        "WSH=64",
        "-x",
        ":",
        "=",
        "==",
        "\x00",
        "é",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_piece, max_size=12).map("".join))
def test_crypto_parser_fuzz_structured(value: str) -> None:
    attr = accepted_or_refused(SdesError, CryptoAttribute.parse, value)
    if attr is not None:
        assert CryptoAttribute.parse(attr.serialize()) == attr
        accepted_or_refused(SdesError, attr.keying)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_crypto_parser_fuzz_text(value: str) -> None:
    accepted_or_refused(SdesError, sdes.select_answer, [value])

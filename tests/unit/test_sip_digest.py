"""Digest authentication: RFC 2617 §3.5 and RFC 7616 §3.9.1 vectors (the SHA-256 of RFC 8760), client/server."""

from __future__ import annotations

import pytest

from emulator.protocols.sip import Challenge, parse_message
from emulator.protocols.sip.digest import (
    ALGORITHMS,
    DigestClient,
    DigestError,
    DigestServer,
    Verdict,
    compute_ha1,
    compute_response,
)
from emulator.protocols.sip.headers import parse_auth


def _challenge(text: str) -> Challenge:
    ((scheme, params),) = parse_auth(text, "WWW-Authenticate")
    return Challenge(scheme, params)


def test_rfc2617_section_3_5() -> None:
    """The Mufasa example: response 6629fae49393a05397450978507c4ef1."""
    challenge = _challenge('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                           'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    client = DigestClient("Mufasa", "Circle Of Life", cnonce_factory=lambda: "0a4f113b")
    credentials = client.authorize(challenge, "GET", "/dir/index.html")
    assert credentials.response == "6629fae49393a05397450978507c4ef1"
    p = credentials.params
    assert (p["qop"], p["nc"], p["cnonce"], p["opaque"]) == ("auth", "00000001", "0a4f113b",
                                                            "5ccc069c403ebaf9f0171e9517f40e41")
    text = str(credentials)
    assert 'response="6629fae49393a05397450978507c4ef1"' in text and "qop=auth, nc=00000001" in text
    assert compute_response(username="Mufasa", realm="testrealm@host.com", password="Circle Of Life", method="GET",
                            uri="/dir/index.html", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth",
                            nc="00000001", cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


RFC7616 = ('Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
           'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
           'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize(("alg", "expected"), [
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),  # RFC 8760 §2 algorithm
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),  # computed from the RFC's inputs (its printed HA1 is an erratum)
])
def test_rfc7616_section_3_9_1(alg: str, expected: str) -> None:
    client = DigestClient("Mufasa", "Circle of Life", cnonce_factory=lambda: RFC7616_CNONCE)
    credentials = client.authorize(_challenge(RFC7616.format(alg=alg)), "GET", "/dir/index.html")
    assert credentials.response == expected and credentials.algorithm == alg


def test_nonce_count_increments_and_resets() -> None:
    client = DigestClient("u", "p", cnonce_factory=lambda: "c")
    challenge = Challenge("Digest", {"realm": "r", "nonce": "n", "qop": "auth"})
    assert [client.authorize(challenge, "REGISTER", "sip:r").params["nc"] for _ in range(3)] == [
        "00000001", "00000002", "00000003"]
    other = Challenge("Digest", {"realm": "r", "nonce": "n2", "qop": "auth"})
    assert client.authorize(other, "REGISTER", "sip:r").params["nc"] == "00000001"
    client.forget("r")
    assert client.authorize(challenge, "REGISTER", "sip:r").params["nc"] == "00000001"


def test_rfc2069_without_qop_and_auth_int() -> None:
    plain = Challenge("Digest", {"realm": "r", "nonce": "n"})
    credentials = DigestClient("u", "p").authorize(plain, "INVITE", "sip:b@r")
    assert "qop" not in credentials.params and "nc" not in credentials.params
    ha1 = compute_ha1("MD5", "u", "r", "p")
    assert credentials.response == compute_response(username="u", realm="r", ha1=ha1, method="INVITE",
                                                    uri="sip:b@r", nonce="n")
    with_body = compute_response(username="u", realm="r", password="p", method="INVITE", uri="sip:b@r", nonce="n",
                                 qop="auth-int", nc="00000001", cnonce="c", body=b"v=0\r\n")
    assert with_body != compute_response(username="u", realm="r", password="p", method="INVITE", uri="sip:b@r",
                                         nonce="n", qop="auth-int", nc="00000001", cnonce="c", body=b"")


def test_algorithm_choice_follows_the_server_order() -> None:
    """RFC 8760 §2.4: the first challenge with a supported algorithm."""
    message = parse_message(
        b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
        b'WWW-Authenticate: Digest realm="r", nonce="1", algorithm=SHA-999, qop="auth"\r\n'
        b'WWW-Authenticate: Digest realm="r", nonce="2", algorithm=SHA-256, qop="auth"\r\n'
        b'WWW-Authenticate: Digest realm="r", nonce="3", algorithm=MD5, qop="auth"\r\n'
        b"From: <sip:a@r>;tag=1\r\nTo: <sip:a@r>;tag=2\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
    chosen = DigestClient("u", "p").choose(message.www_authenticate)
    assert chosen.nonce == "2" and chosen.algorithm == "SHA-256"
    assert DigestClient("u", "p", algorithms=("MD5",)).choose(message.www_authenticate).nonce == "3"
    with pytest.raises(DigestError):
        DigestClient("u", "p").choose([Challenge("Basic", {"realm": "r"})])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_server_round_trip(algorithm: str) -> None:
    server = DigestServer("dgw.example.com", secret=b"k" * 16, algorithm=algorithm)
    client = DigestClient("5551001", "pw")
    challenge = server.challenge(now=1000.0)
    assert challenge.algorithm == algorithm and challenge.qop_options == ["auth"]
    credentials = client.authorize(challenge, "REGISTER", "sip:dgw.example.com")
    assert server.verify(credentials, "REGISTER", 1001.0, password="pw") is Verdict.OK
    assert server.verify(credentials, "REGISTER", 1001.0, password="pw") is Verdict.REPLAY  # same nc
    again = client.authorize(challenge, "REGISTER", "sip:dgw.example.com")
    assert server.verify(again, "REGISTER", 1002.0, password="pw") is Verdict.OK  # nc=2
    assert server.verify(again, "REGISTER", 1002.0, password="wrong") is Verdict.BAD
    late = client.authorize(challenge, "REGISTER", "sip:dgw.example.com")
    assert server.verify(late, "REGISTER", 1000.0 + 301, password="pw") is Verdict.STALE
    assert server.challenge(1400.0, stale=True).stale


def test_server_refuses_forgeries() -> None:
    server = DigestServer("r", secret=b"s" * 16)
    client = DigestClient("u", "p")
    forged = client.authorize(Challenge("Digest", {"realm": "r", "nonce": "abc.def", "qop": "auth"}), "BYE", "sip:x")
    assert server.verify(forged, "BYE", 0.0, password="p") is Verdict.BAD
    other_realm = client.authorize(DigestServer("x", secret=b"s" * 16).challenge(0.0), "BYE", "sip:x")
    assert server.verify(other_realm, "BYE", 1.0, password="p") is Verdict.BAD
    good = client.authorize(server.challenge(0.0), "BYE", "sip:x")
    assert server.verify(good, "INVITE", 1.0, password="p") is Verdict.BAD  # method is part of A2
    assert server.verify(good, "BYE", 1.0, ha1=compute_ha1("MD5", "u", "r", "p")) is Verdict.OK
    server.expire(10_000.0)


def test_unsupported_algorithm_is_an_error() -> None:
    with pytest.raises(DigestError):
        compute_response(algorithm="SHA-1", username="u", realm="r", password="p", method="M", uri="u", nonce="n")

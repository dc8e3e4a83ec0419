"""Peer validation (firmware_model.cert_validation): levels, names, dates on a given clock, OCSP."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from firmware_model.cert_validation import (
    Level,
    OcspResult,
    Reason,
    Refusal,
    TrustLevel,
    apply_trust_level,
    check_ocsp_response,
    name_matches,
    notification_for,
    ocsp_request,
    ocsp_url,
    validate,
)
from testkit.pki import DAY, Issued, Pki, utcnow
from tests.helpers.pki import pki_fixtures

pki, ca = pki_fixtures("ec", "Root A")


NOW = utcnow()


# ------------------------------------------------------------------ names
@pytest.mark.parametrize(
    ("dns", "ips", "cn", "host", "ok"),
    [
        ((), ("10.5.128.14",), None, "10.5.128.14", True),
        ((), ("10.5.128.14",), None, "10.5.128.15", False),
        (("proxy.example.com",), (), None, "10.5.128.14", False),  # a DNS name never matches an IP host
        ((), (), "10.5.128.14", "10.5.128.14", True),  # lab certificates: the IP in the CN
        (("127.0.0.1",), (), None, "127.0.0.1", True),  # ... or spelt as a DNS SAN (mbedTLS habit)
        ((), ("::1",), None, "[::1]", True),
        ((), ("::1",), None, "0:0::1", True),
        (("proxy.example.com",), (), None, "PROXY.example.com.", True),
        (("proxy.example.com",), (), None, "example.com", False),
        ((), (), "proxy.example.com", "proxy.example.com", True),  # CN, as DGW says "CN/SAN"
        (("*.example.com",), (), None, "sip.example.com", True),
        (("*.example.com",), (), None, "a.sip.example.com", False),  # one label only
        (("*.example.com",), (), None, "example.com", False),
        (("*.com",), (), None, "example.com", False),  # no wildcard over a bare TLD
        (("s*.example.com",), (), None, "sip.example.com", False),  # partial wildcards: no
        (("sip.*.com",), (), None, "sip.example.com", False),
        (("*.example.com",), (), None, "10.0.0.1", False),
    ],
)
def test_name_matching(pki: Pki, dns: tuple[str, ...], ips: tuple[str, ...], cn: str | None, host: str,
                       ok: bool) -> None:
    cert = pki.leaf(None, cn, dns=dns, ips=ips).cert
    assert name_matches(cert, host) is ok


# ------------------------------------------------------------------ levels and reasons
def test_trusted_chain_accepted_at_every_level(pki: Pki, ca: Issued) -> None:
    leaf = pki.leaf(ca, "sip.example.com", dns=("sip.example.com",), ips=()).cert
    for level in Level:
        v = validate([leaf], [ca.cert], at=NOW, level=level, names=["sip.example.com"])
        assert v.ok, (level, v.refusal)
    v = validate([leaf], [ca.cert], at=NOW, level=Level.HOST_NAME, names=["sip.example.com"])
    assert v.path == (leaf, ca.cert) and v.issuer == ca.cert


def test_no_validation_accepts_anything_but_needs_a_certificate(pki: Pki) -> None:
    other = pki.ca("Unknown")
    bad = pki.leaf(other, "x", not_after=NOW - 10 * DAY, not_before=NOW - 20 * DAY).cert
    assert validate([bad], [], at=None, level="NoValidation").ok
    v = validate([], [], at=NOW, level="NoValidation")
    assert v.reason is Reason.NO_CERTIFICATE


def test_no_time_refuses_every_checking_level(pki: Pki, ca: Issued) -> None:
    leaf = pki.leaf(ca).cert
    for level in (Level.TRUSTED_CERTIFICATE, Level.DNS_SRV_RESPONSE, Level.HOST_NAME):
        assert validate([leaf], [ca.cert], at=None, level=level, names=["127.0.0.1"]).reason is Reason.NO_TIME


def test_unknown_issuer(pki: Pki, ca: Issued) -> None:
    other = pki.ca("Other Root", key_index=2)
    leaf = pki.leaf(other).cert
    v = validate([leaf], [ca.cert], at=NOW, level="TrustedCertificate")
    assert v.reason is Reason.UNKNOWN_ISSUER
    assert "Other Root" in v.refusal.detail  # type: ignore[union-attr]
    assert validate([leaf], [], at=NOW, level="HostName", names=["127.0.0.1"]).reason is Reason.UNKNOWN_ISSUER


def test_bad_signature_same_issuer_name_other_key(pki: Pki, ca: Issued) -> None:
    impostor = pki.ca("Root A", key_index=2)  # same subject as the trusted CA, another key
    leaf = pki.leaf(impostor).cert
    v = validate([leaf], [ca.cert], at=NOW, level="TrustedCertificate")
    assert v.reason is Reason.BAD_SIGNATURE


def test_intermediate_chain_and_missing_intermediate(pki: Pki, ca: Issued) -> None:
    inter = pki.ca("Intermediate", key_index=2, issuer=ca)
    leaf = pki.leaf(inter).cert
    v = validate([leaf, inter.cert], [ca.cert], at=NOW, level="HostName", names=["127.0.0.1"])
    assert v.ok and v.path == (leaf, inter.cert, ca.cert)
    assert validate([leaf], [ca.cert], at=NOW, level="TrustedCertificate").reason is Reason.UNKNOWN_ISSUER
    # an intermediate in the unit's store is a trust anchor as well
    assert validate([leaf], [inter.cert], at=NOW, level="TrustedCertificate").ok


def test_a_non_ca_cannot_issue(pki: Pki, ca: Issued) -> None:
    not_ca = pki.leaf(ca, "not a CA", key=pki.new_key())
    leaf = pki.leaf(not_ca).cert
    v = validate([leaf, not_ca.cert], [ca.cert], at=NOW, level="TrustedCertificate")
    assert v.reason is Reason.UNKNOWN_ISSUER


def test_trusted_certificate_the_peer_certificate_itself_in_store(pki: Pki) -> None:
    self_signed = pki.leaf(None, "peer.example.com", dns=("peer.example.com",), ips=()).cert
    assert validate([self_signed], [self_signed], at=NOW, level="TrustedCertificate").ok
    assert validate([self_signed], [], at=NOW, level="TrustedCertificate").reason is Reason.UNKNOWN_ISSUER


@pytest.mark.parametrize(
    ("at", "reason"),
    [(NOW + 400 * DAY, Reason.EXPIRED), (NOW - 2 * DAY, Reason.NOT_YET_VALID), (NOW, None)],
)
def test_dates_on_the_given_clock(pki: Pki, ca: Issued, at: dt.datetime, reason: Reason | None) -> None:
    leaf = pki.leaf(ca).cert  # valid from NOW-1d to NOW+365d
    assert validate([leaf], [ca.cert], at=at, level="TrustedCertificate").reason is reason


def test_expired_ca_in_the_path(pki: Pki) -> None:
    old_ca = pki.ca("Old Root", not_before=NOW - 100 * DAY, not_after=NOW - DAY)
    leaf = pki.leaf(old_ca).cert
    v = validate([leaf], [old_ca.cert], at=NOW, level="TrustedCertificate")
    assert v.reason is Reason.EXPIRED and "Old Root" in v.refusal.detail  # type: ignore[union-attr]


def test_unknown_issuer_wins_over_dates(pki: Pki) -> None:
    other = pki.ca("Elsewhere", key_index=2)
    leaf = pki.leaf(other, not_before=NOW - 10 * DAY, not_after=NOW - DAY).cert
    assert validate([leaf], [], at=NOW, level="TrustedCertificate").reason is Reason.UNKNOWN_ISSUER


def test_host_name_vs_dns_srv_vs_trusted_certificate(pki: Pki, ca: Issued) -> None:
    leaf = pki.leaf(ca, "sip1.example.com", dns=("sip1.example.com",), ips=()).cert
    kw = {"at": NOW, "names": ["proxy.example.com"], "srv_names": ["sip1.example.com"]}
    v = validate([leaf], [ca.cert], level="HostName", **kw)  # type: ignore[arg-type]
    assert v.reason is Reason.NAME_MISMATCH and v.refusal.expected == "proxy.example.com"  # type: ignore[union-attr]
    assert validate([leaf], [ca.cert], level="DnsSrvResponse", **kw).ok  # type: ignore[arg-type]
    assert validate([leaf], [ca.cert], level="TrustedCertificate", **kw).ok  # type: ignore[arg-type]
    v = validate([leaf], [ca.cert], level="DnsSrvResponse", at=NOW, names=["proxy.example.com"])
    assert v.reason is Reason.NAME_MISMATCH


def test_notifications_per_reason() -> None:
    cases = {
        Reason.EXPIRED: 9001, Reason.NOT_YET_VALID: 9002, Reason.UNKNOWN_ISSUER: 9003,
        Reason.NAME_MISMATCH: 9004, Reason.REVOKED: 9005, Reason.NO_TIME: 9006,
        Reason.BAD_SIGNATURE: 9007, Reason.NO_CERTIFICATE: 9007, Reason.REVOCATION_UNKNOWN: 9007,
    }
    from firmware_model.notifications import get_notification, render_message

    for reason, msg_id in cases.items():
        service, got, fields = notification_for(Refusal(reason, "why not", "sip.example.com"), "10.0.0.1:5061")
        assert (service, got) == ("Cert", msg_id)
        text = render_message(get_notification(service, got), fields)
        assert "10.0.0.1:5061" in text
        if reason is Reason.NAME_MISMATCH:
            assert "sip.example.com" in text
        if msg_id == 9007:
            assert "why not" in text


# ------------------------------------------------------------------ OCSP
# Responses are made at the real time (testkit.pki), so they are checked at the real time too: NOW is taken when the
# module is imported, minutes before these tests run in a long suite, and a response would look dated in the future.
@pytest.fixture(scope="module")
def ocsp_leaf(pki: Pki, ca: Issued) -> x509.Certificate:
    return pki.leaf(ca, ocsp_url="http://127.0.0.1:9/ocsp").cert


def test_ocsp_request_and_url(ocsp_leaf: x509.Certificate, ca: Issued) -> None:
    req = ocsp.load_der_ocsp_request(ocsp_request(ocsp_leaf, ca.cert))
    assert req.serial_number == ocsp_leaf.serial_number
    assert ocsp_url(ocsp_leaf) == "http://127.0.0.1:9/ocsp"
    assert ocsp_url(ca.cert) is None


@pytest.mark.parametrize(
    ("status", "want"),
    [(ocsp.OCSPCertStatus.GOOD, "good"), (ocsp.OCSPCertStatus.REVOKED, "revoked"),
     (ocsp.OCSPCertStatus.UNKNOWN, "unknown")],
)
def test_ocsp_statuses(pki: Pki, ca: Issued, ocsp_leaf: x509.Certificate, status: ocsp.OCSPCertStatus,
                       want: str) -> None:
    data = pki.ocsp_response(ocsp_leaf, ca, status)
    assert check_ocsp_response(data, ocsp_leaf, ca.cert, utcnow()).status == want


def test_ocsp_delegated_responder(pki: Pki, ca: Issued, ocsp_leaf: x509.Certificate) -> None:
    good = pki.leaf(ca, "OCSP responder", key=pki.new_key(), eku=(ExtendedKeyUsageOID.OCSP_SIGNING,))
    data = pki.ocsp_response(ocsp_leaf, ca, ocsp.OCSPCertStatus.GOOD, responder=good)
    assert check_ocsp_response(data, ocsp_leaf, ca.cert, utcnow()).status == "good"
    rogue = pki.leaf(ca, "not a responder", key=pki.new_key(), eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    data = pki.ocsp_response(ocsp_leaf, ca, ocsp.OCSPCertStatus.REVOKED, responder=rogue)
    r = check_ocsp_response(data, ocsp_leaf, ca.cert, utcnow())
    assert r.status == "unavailable" and "OCSP signing" in r.detail


def test_ocsp_response_signed_by_a_stranger(pki: Pki, ca: Issued, ocsp_leaf: x509.Certificate) -> None:
    stranger = pki.ca("Root A", key_index=2)  # same name, other key: the signature cannot verify
    data = pki.ocsp_response(ocsp_leaf, stranger, ocsp.OCSPCertStatus.GOOD)
    assert check_ocsp_response(data, ocsp_leaf, ca.cert, utcnow()).status == "unavailable"


def test_ocsp_stale_garbage_and_unsuccessful(pki: Pki, ca: Issued, ocsp_leaf: x509.Certificate) -> None:
    stale = pki.ocsp_response(ocsp_leaf, ca, ocsp.OCSPCertStatus.GOOD, this_update=NOW - 10 * DAY,
                              next_update=NOW - 9 * DAY)
    assert "out of date" in check_ocsp_response(stale, ocsp_leaf, ca.cert, utcnow()).detail
    assert check_ocsp_response(b"junk", ocsp_leaf, ca.cert, utcnow()).status == "unavailable"
    failed = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(
        serialization.Encoding.DER
    )
    r = check_ocsp_response(failed, ocsp_leaf, ca.cert, utcnow())
    assert r.status == "unavailable" and "TRY_LATER" in r.detail
    other = pki.leaf(ca, "someone else").cert
    data = pki.ocsp_response(other, ca, ocsp.OCSPCertStatus.GOOD)
    assert "does not cover" in check_ocsp_response(data, ocsp_leaf, ca.cert, utcnow()).detail


@pytest.mark.parametrize(
    ("trust", "status", "refused"),
    [
        ("LocallyTrusted", "revoked", None),
        ("OcspOptional", "good", None),
        ("OcspOptional", "revoked", Reason.REVOKED),
        ("OcspOptional", "unknown", None),
        ("OcspOptional", "unavailable", None),
        ("OcspMandatory", "good", None),
        ("OcspMandatory", "revoked", Reason.REVOKED),
        ("OcspMandatory", "unknown", Reason.REVOCATION_UNKNOWN),
        ("OcspMandatory", "unavailable", Reason.REVOCATION_UNKNOWN),
    ],
)
def test_trust_levels(trust: str, status: str, refused: Reason | None) -> None:
    r = apply_trust_level(TrustLevel(trust), OcspResult(status, "responder down"))
    assert (None if r is None else r.reason) is refused

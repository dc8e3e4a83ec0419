"""emulator.protocols.snmp_ber: the fast-path codec agrees with pysnmp/pyasn1 both ways (X.690 BER, RFC 3416)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.proto.api import v1, v2c

from emulator.protocols.snmp_ber import (
    GET,
    GETBULK,
    GETNEXT,
    SET,
    decode_request,
    encode_response,
    encode_value,
    encode_varbind,
    message_error,
)

OID = (1, 3, 6, 1, 4, 1, 4935, 1000, 100, 200, 100, 900, 1, 400, 0)


def message(pdu: object, community: str = "public", api: object = v2c) -> bytes:
    msg = api.Message()  # type: ignore[attr-defined]
    api.apiMessage.set_defaults(msg)  # type: ignore[attr-defined]
    api.apiMessage.set_community(msg, community)  # type: ignore[attr-defined]
    api.apiMessage.set_pdu(msg, pdu)  # type: ignore[attr-defined]
    return bytes(encoder.encode(msg))


def get_pdu(*oids: tuple[int, ...], kind: type = v2c.GetRequestPDU, request_id: int = 4242) -> object:
    pdu = kind()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_varbinds(pdu, [(o, v2c.null) for o in oids])
    return pdu


def test_decodes_pysnmp_get_next_and_bulk() -> None:
    req = decode_request(message(get_pdu(OID, (1, 3, 6, 1, 2, 1, 1, 1, 0))))
    assert req is not None
    assert (req.version, req.community, req.pdu_type, req.request_id) == (1, b"public", GET, 4242)
    assert req.oids == [OID, (1, 3, 6, 1, 2, 1, 1, 1, 0)]
    req = decode_request(message(get_pdu(OID, kind=v2c.GetNextRequestPDU, request_id=-7)))
    assert req is not None and req.pdu_type == GETNEXT and req.request_id == -7
    bulk = v2c.GetBulkRequestPDU()
    v2c.apiBulkPDU.set_defaults(bulk)
    v2c.apiBulkPDU.set_non_repeaters(bulk, 1)
    v2c.apiBulkPDU.set_max_repetitions(bulk, 300)
    v2c.apiBulkPDU.set_varbinds(bulk, [((1, 3, 6, 1, 2, 1, 1, 3), v2c.null), ((1, 3, 6, 1, 4, 1, 4935), v2c.null)])
    req = decode_request(message(bulk, community="x" * 200))
    assert req is not None and req.pdu_type == GETBULK
    assert (req.non_repeaters, req.max_repetitions, req.community) == (1, 300, b"x" * 200)


def test_set_and_v1_are_decoded_v3_and_garbage_are_not() -> None:
    pdu = v2c.SetRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_varbinds(pdu, [(OID, rfc1902.Unsigned32(5))])
    req = decode_request(message(pdu))
    assert req is not None and req.pdu_type == SET
    v1pdu = v1.GetRequestPDU()
    v1.apiPDU.set_defaults(v1pdu)
    v1.apiPDU.set_varbinds(v1pdu, [(OID, v1.null)])
    req = decode_request(message(v1pdu, api=v1))
    assert req is not None and req.version == 0
    good = message(get_pdu(OID))
    assert decode_request(good[:-1]) is None
    assert decode_request(good + b"\x00") is None
    assert decode_request(b"") is None
    assert decode_request(b"\x30\x80\x02\x01\x01") is None  # indefinite length
    v3ish = bytearray(good)
    v3ish[4] = 3  # version INTEGER 3
    assert decode_request(bytes(v3ish)) is None


@given(st.binary(max_size=200))
def test_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    decode_request(data)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("int", 0, rfc1902.Integer32(0)),
        ("int", -1, rfc1902.Integer32(-1)),
        ("int", 2**31 - 1, rfc1902.Integer32(2**31 - 1)),
        ("int", -(2**31), rfc1902.Integer32(-(2**31))),
        ("uint", 0, rfc1902.Gauge32(0)),
        ("uint", 255, rfc1902.Gauge32(255)),
        ("uint", 2**32 - 1, rfc1902.Gauge32(2**32 - 1)),
        ("ticks", 12345678, rfc1902.TimeTicks(12345678)),
        ("octets", b"", rfc1902.OctetString(b"")),
        ("octets", bytes(range(256)) * 3, rfc1902.OctetString(bytes(range(256)) * 3)),
        ("oid", (1, 3, 6, 1, 4, 1, 4935, 1000, 100, 100, 300, 102),
         rfc1902.ObjectIdentifier("1.3.6.1.4.1.4935.1000.100.100.300.102")),
        ("oid", (2, 999, 2**32 - 1), rfc1902.ObjectIdentifier((2, 999, 2**32 - 1))),
    ],
)
def test_values_encode_like_pyasn1(kind: str, value: object, expected: object) -> None:
    ours = encode_value(kind, value)  # type: ignore[arg-type]
    decoded, rest = decoder.decode(ours, asn1Spec=expected.clone())  # type: ignore[attr-defined]
    assert rest == b"" and decoded == expected
    if value != -(2**31):  # pyasn1 spends a needless 0xff on it; X.690 §8.3.2 wants the minimal form
        assert ours == bytes(encoder.encode(expected))


def test_response_is_read_by_pysnmp() -> None:
    vbs = [
        encode_varbind(OID, encode_value("uint", 161)),
        encode_varbind((1, 3, 6, 1, 2, 1, 1, 1, 0), encode_value("octets", b"Mediatrix 4102 DGW 49.12.2941")),
        encode_varbind((1, 3, 6, 1, 4, 1, 4935, 9), encode_value("noSuchObject")),
        encode_varbind((1, 3, 6, 1, 4, 1, 4935, 9, 1), encode_value("noSuchInstance")),
        encode_varbind((1, 3, 6, 1, 4, 1, 4935, 9, 2), encode_value("endOfMibView")),
    ] + [encode_varbind((*OID, i), encode_value("int", i)) for i in range(200)]  # long form lengths
    data = encode_response(1, b"public", 2**31 - 1, 0, 0, vbs)
    msg, rest = decoder.decode(data, asn1Spec=v2c.Message())
    assert rest == b""
    assert bytes(v2c.apiMessage.get_community(msg)) == b"public"
    pdu = v2c.apiMessage.get_pdu(msg)
    assert pdu.isSameTypeWith(v2c.ResponsePDU())
    assert int(v2c.apiPDU.get_request_id(pdu)) == 2**31 - 1
    binds = v2c.apiPDU.get_varbinds(pdu)
    assert len(binds) == 205
    assert tuple(binds[0][0]) == OID and int(binds[0][1]) == 161
    assert bytes(binds[1][1]) == b"Mediatrix 4102 DGW 49.12.2941"
    assert binds[2][1].isSameTypeWith(rfc1905.noSuchObject)
    assert binds[3][1].isSameTypeWith(rfc1905.noSuchInstance)
    assert binds[4][1].isSameTypeWith(rfc1905.endOfMibView)
    assert int(binds[-1][1]) == 199


# Real requests as pysnmp 7 sends them: a v2c GET, the SNMPv3 discovery probe and an authNoPriv USM GET.
V2C_GET = bytes.fromhex("302802010104067075626c6963a01b02030753f0020100020100300e300c06082b060102010105000500")
V3_PROBE = bytes.fromhex(
    "303d020103301002030753f1020300ffe30401040201030410300e0400020100020100040004000400301404000400a00e0204008f5816"
    "0201000201003000")
V3_GET = bytes.fromhex(
    "3072020103301002030753f2020300ffe3040105020103042c302a040b80001347030090f83e2338020149020100040561646d696e040c"
    "b1552a251d0a55baa1cd0a090400302d040b80001347030090f83e23380400a01c0204008f5815020100020100300e300c06082b0601"
    "02010105000500")


def test_message_error_accepts_real_messages() -> None:
    for data in (V2C_GET, V3_PROBE, V3_GET):
        assert message_error(data) is None
    trap = v1.TrapPDU()
    v1.apiTrapPDU.set_defaults(trap)
    v1.apiTrapPDU.set_varbinds(trap, [(OID, rfc1902.OctetString(b"text"))])
    assert message_error(message(trap, api=v1)) is None
    values = [rfc1902.Integer32(-5), rfc1902.Unsigned32(5), rfc1902.Counter64(2**64 - 1), rfc1902.IpAddress("1.2.3.4"),
              rfc1902.TimeTicks(7), rfc1902.Counter32(9), rfc1902.ObjectIdentifier("1.3.6"), rfc1902.Opaque(b"x")]
    for kind in (v2c.SetRequestPDU, v2c.ResponsePDU, v2c.SNMPv2TrapPDU, v2c.InformRequestPDU, v2c.ReportPDU):
        pdu = kind()
        v2c.apiPDU.set_defaults(pdu)
        v2c.apiPDU.set_varbinds(pdu, [((*OID, i), value) for i, value in enumerate(values)])
        assert message_error(message(pdu)) is None, kind
    response = encode_response(1, b"public", 7, 0, 0, [
        encode_varbind(OID, encode_value(kind)) for kind in ("noSuchObject", "noSuchInstance", "endOfMibView")])
    assert message_error(response) is None
    assert message_error(b"\x30\x03\x02\x01\x07") is None  # version 7: a bad version, not a parse error
    # long-form lengths (net-snmp writes 0x82 0x00 0x2a where 0x2a would do): still BER
    long_form = b"\x30\x82\x00" + bytes((len(V2C_GET) - 2,)) + V2C_GET[2:]
    assert message_error(long_form) is None


@pytest.mark.parametrize(("data", "why"), [
    (b"", "truncated TLV"),
    (V2C_GET + b"\x00", "not one SEQUENCE"),
    (V2C_GET[:-1], "past the end"),
    (b"\x30\x80\x02\x01\x01\x00\x00", "indefinite"),  # RFC 3417 §8: definite lengths only
    (b"\x10" + V2C_GET[1:], "not one SEQUENCE"),  # a primitive SEQUENCE: pyasn1 raised TypeError on it
    (b"\x30\x02\x04\x00", "no INTEGER version"),
    (b"\x30\x02\x02\x00", "INTEGER of 0 octets"),
    (V2C_GET.replace(b"\x06\x08\x2b\x06\x01\x02\x01\x01\x05\x00", b"\x06\x08\x2b\x06\x01\x02\x01\x01\x05\x80"),
     "truncated OBJECT IDENTIFIER"),
    (V2C_GET.replace(b"\x04\x06public", b"\x24\x06public"), "constructed encoding"),
    (V2C_GET.replace(b"\x05\x00\x05\x00", b"\x05\x00\x0a\x00"), "expected"),  # no such value type
    (V2C_GET.replace(b"\xa0\x1b", b"\xb0\x1b"), "constructed encoding"),
    (V2C_GET.replace(b"\x06\x08\x2b", b"\x02\x08\x2b"), "expected"),  # a varbind name that is no OID
    (V3_GET.replace(b"\x04\x2c\x30\x2a", b"\x04\x2c\x31\x2a"), "USM security parameters"),
    (V3_GET.replace(b"\x04\x01\x05", b"\x02\x01\x05"), "expected"),  # msgFlags is an OCTET STRING
    (V3_PROBE.replace(b"\x30\x14\x04\x00\x04\x00\xa0", b"\x30\x14\x04\x00\x04\x00\x30"), "expected"),
])
def test_message_error_says_why(data: bytes, why: str) -> None:
    error = message_error(data)
    assert error is not None and why in error, error


@given(st.binary(max_size=300))
def test_message_error_never_raises(data: bytes) -> None:
    assert message_error(data) is None or isinstance(message_error(data), str)


@given(st.data())
def test_message_error_on_mutated_real_messages(data: st.DataObject) -> None:
    """Any byte of a real message changed: a verdict, never an exception; pysnmp's decoder then raises only
    its own error type on what passes (TypeError escaped it before)."""
    original = data.draw(st.sampled_from([V2C_GET, V3_PROBE, V3_GET]))
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    if message_error(bytes(mutated)) is None and mutated[4] in (0, 1):
        with contextlib.suppress(PyAsn1Error):
            decoder.decode(bytes(mutated), asn1Spec=v2c.Message())

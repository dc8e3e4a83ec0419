"""emulator.protocols.snmp_ber: the fast-path codec agrees with pysnmp/pyasn1 both ways (X.690 BER, RFC 3416)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
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

"""Sans-IO BER codec for community-based SNMP messages (RFC 1901/3416 over X.690 BER), read side only.

pysnmp decodes and encodes through pyasn1, which costs about 2 ms per message; the agent's fast path
uses this codec for SNMPv2c GET, GETNEXT and GETBULK requests (everything else — SNMPv1, SNMPv3,
SET, anything this decoder does not fully understand — goes to pysnmp). Only definite lengths and
the universal/application types of SNMP appear here.

:func:`message_error` says why a datagram is not the serialization of an SNMP message (v1, v2c or v3,
checked down to every TLV), so that the agent counts it in ``snmpInASNParseErrs`` and drops it before
pyasn1 sees it: pyasn1 answers some malformed encodings (a primitive SEQUENCE, for one) with a
TypeError instead of its own error, which escaped pysnmp as a traceback.

    Message ::= SEQUENCE { version INTEGER, community OCTET STRING, data PDUs }
    PDU     ::= [n] IMPLICIT SEQUENCE { request-id INTEGER, error-status/non-repeaters INTEGER,
                                        error-index/max-repetitions INTEGER, variable-bindings }
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "GET",
    "GETBULK",
    "GETNEXT",
    "RESPONSE",
    "SET",
    "Request",
    "decode_request",
    "encode_length",
    "encode_oid",
    "encode_response",
    "encode_value",
    "encode_varbind",
    "message_error",
]

OID = tuple[int, ...]

GET = 0xA0
GETNEXT = 0xA1
RESPONSE = 0xA2
SET = 0xA3
GETBULK = 0xA5
TRAP_V2 = 0xA7  # SNMPv2-Trap-PDU (RFC 3416 §3)

# Value tags (RFC 2578 / RFC 3416 exceptions).
_TAGS = {
    "int": 0x02,
    "octets": 0x04,
    "null": 0x05,
    "oid": 0x06,
    "ipaddress": 0x40,
    "counter": 0x41,
    "uint": 0x42,  # Unsigned32 / Gauge32
    "ticks": 0x43,
    "noSuchObject": 0x80,
    "noSuchInstance": 0x81,
    "endOfMibView": 0x82,
}


class _Malformed(Exception):
    pass


@dataclass(slots=True)
class Request:
    version: int  # 0 = SNMPv1, 1 = SNMPv2c
    community: bytes
    pdu_type: int
    request_id: int
    non_repeaters: int  # error-status for non-bulk PDUs
    max_repetitions: int  # error-index for non-bulk PDUs
    oids: list[OID]


# ------------------------------------------------------------------------------------ decoding
def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the TLV at ``pos``."""
    if pos + 2 > len(data):
        raise _Malformed(f"truncated TLV at {pos}")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _Malformed(f"high tag number at {pos}")  # never in SNMP
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or pos + k > len(data):
            raise _Malformed(f"indefinite or absurd length at {pos - 2}")
        n = int.from_bytes(data[pos : pos + k], "big")
        pos += k
    end = pos + n
    if end > len(data):
        raise _Malformed(f"length past the end at {pos}")
    return tag, pos, end


def _int(data: bytes, start: int, end: int) -> int:
    if start == end or end - start > 9:
        raise _Malformed(f"INTEGER of {end - start} octets")
    return int.from_bytes(data[start:end], "big", signed=True)


def _oid(data: bytes, start: int, end: int) -> OID:
    if start == end:
        raise _Malformed("empty OBJECT IDENTIFIER")
    out: list[int] = []
    value = 0
    for b in data[start:end]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            out.append(value)
            value = 0
    if data[end - 1] & 0x80:
        raise _Malformed("truncated OBJECT IDENTIFIER sub-identifier")
    first = out[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    return (*head, *out[1:])


def decode_request(data: bytes) -> Request | None:
    """A v1/v2c request, or None when the datagram is anything else (or malformed)."""
    try:
        tag, start, end = _tlv(data, 0)
        if tag != 0x30 or end != len(data):
            return None
        tag, s, e = _tlv(data, start)
        if tag != 0x02:
            return None
        version = _int(data, s, e)
        if version not in (0, 1):
            return None  # SNMPv3 (3) and the rest
        tag, s, e = _tlv(data, e)
        if tag != 0x04:
            return None
        community = data[s:e]
        pdu_type, s, pdu_end = _tlv(data, e)
        if pdu_type not in (GET, GETNEXT, SET, GETBULK) or pdu_end != end:
            return None
        fields = []
        pos = s
        for _ in range(3):
            tag, s, e = _tlv(data, pos)
            if tag != 0x02:
                return None
            fields.append(_int(data, s, e))
            pos = e
        tag, s, vb_end = _tlv(data, pos)
        if tag != 0x30 or vb_end != pdu_end:
            return None
        oids: list[OID] = []
        pos = s
        while pos < vb_end:
            tag, s, e = _tlv(data, pos)
            if tag != 0x30:
                return None
            tag, os_, oe = _tlv(data, s)
            if tag != 0x06:
                return None
            oids.append(_oid(data, os_, oe))
            _tlv(data, oe)  # the value (NULL in requests): must be well formed
            pos = e
        return Request(version, community, pdu_type, fields[0], fields[1], fields[2], oids)
    except (_Malformed, IndexError):
        return None


# ------------------------------------------------------------------------------------ validation
# RFC 3417 §8: definite lengths only, primitive encodings for the simple types; the types a varbind value
# may have (RFC 3416 §3: ObjectSyntax and the three exceptions).
_VALUE_TAGS = frozenset({0x02, 0x04, 0x05, 0x06, 0x40, 0x41, 0x42, 0x43, 0x44, 0x46, 0x80, 0x81, 0x82})
_NULL_TAGS = frozenset({0x05, 0x80, 0x81, 0x82})
_PDU_TAGS = frozenset(range(0xA0, 0xA9))  # Get .. Report (RFC 3416 §3; 0xA4 is the SNMPv1 Trap-PDU)
_V1_TRAP = 0xA4
_USM = 3  # msgSecurityModel of the User-based Security Model (RFC 3414)
_Tlv = tuple[int, int, int]


def _children(data: bytes, start: int, end: int) -> list[_Tlv]:
    """The TLVs exactly filling ``data[start:end]``."""
    out: list[_Tlv] = []
    pos = start
    while pos < end:
        tag, s, e = _tlv(data, pos)
        if e > end:
            raise _Malformed(f"a TLV at {pos} runs past its container")
        if tag & 0x20 and tag != 0x30 and tag not in _PDU_TAGS:
            raise _Malformed(f"constructed encoding of tag 0x{tag:02x} at {pos}")
        out.append((tag, s, e))
        pos = e
    return out


def _expect(data: bytes, items: list[_Tlv], *tags: int | frozenset[int]) -> None:
    if len(items) != len(tags):
        raise _Malformed(f"{len(items)} components where {len(tags)} are expected")
    for (tag, s, e), want in zip(items, tags, strict=True):
        if tag != want if isinstance(want, int) else tag not in want:
            raise _Malformed(f"tag 0x{tag:02x} where {want!r} is expected")
        _check_primitive(data, tag, s, e)


def _check_primitive(data: bytes, tag: int, start: int, end: int) -> None:
    if tag == 0x02 and start == end:
        raise _Malformed("INTEGER of 0 octets")
    if tag in _NULL_TAGS and start != end:
        raise _Malformed("a NULL with content octets")
    if tag == 0x06:
        _oid(data, start, end)


def _check_pdu(data: bytes, tag: int, start: int, end: int) -> None:
    fields = _children(data, start, end)
    if tag == _V1_TRAP:  # RFC 1157 §4.1.6: enterprise, agent-addr, generic, specific, time-stamp, varbinds
        _expect(data, fields, 0x06, 0x40, 0x02, 0x02, 0x43, 0x30)
    else:
        _expect(data, fields, 0x02, 0x02, 0x02, 0x30)
    for _tag, s, e in _children(data, *fields[-1][1:]):
        if _tag != 0x30:
            raise _Malformed("a varbind that is not a SEQUENCE")
        _expect(data, _children(data, s, e), 0x06, _VALUE_TAGS)


def _check_v3(data: bytes, parts: list[_Tlv]) -> None:
    """RFC 3412 §6: SNMPv3Message; the USM parameters (RFC 3414 §2.4) are a BER encoding in an OCTET STRING."""
    _expect(data, parts, 0x02, 0x30, 0x04, frozenset({0x30, 0x04}))
    header = _children(data, *parts[1][1:])
    _expect(data, header, 0x02, 0x02, 0x04, 0x02)  # msgID, msgMaxSize, msgFlags, msgSecurityModel
    if _int(data, *header[3][1:]) == _USM:
        tag, s, e = _tlv(data, parts[2][1])
        if tag != 0x30 or e != parts[2][2]:
            raise _Malformed("USM security parameters that are not one SEQUENCE")
        _expect(data, _children(data, s, e), 0x04, 0x02, 0x02, 0x04, 0x04, 0x04)
    tag, s, e = parts[3]
    if tag == 0x30:  # plaintext ScopedPDU; an encryptedPDU (OCTET STRING) is checked once decrypted
        scoped = _children(data, s, e)
        _expect(data, scoped, 0x04, 0x04, _PDU_TAGS)
        _check_pdu(data, *scoped[2])


def message_error(data: bytes) -> str | None:
    """Why ``data`` is not an SNMP message (RFC 3417 §8 encoding of an RFC 1157 / 1901 / 3412 message), or
    None. A version other than 0, 1 and 3 is not a parse error: the agent counts it as a bad version."""
    try:
        tag, start, end = _tlv(data, 0)
        if tag != 0x30 or end != len(data):
            return "not one SEQUENCE filling the datagram"
        parts = _children(data, start, end)
        if not parts or parts[0][0] != 0x02:
            return "no INTEGER version first"
        _check_primitive(data, *parts[0])
        version = _int(data, *parts[0][1:])
        if version == 3:
            _check_v3(data, parts)
        elif version in (0, 1):
            _expect(data, parts, 0x02, 0x04, _PDU_TAGS)
            _check_pdu(data, *parts[2])
        return None
    except _Malformed as e:
        return str(e)


# ------------------------------------------------------------------------------------ encoding
def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def _tlv_bytes(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + encode_length(len(value)) + value


def _signed(n: int) -> bytes:
    return n.to_bytes(max(1, (n + (n < 0)).bit_length() // 8 + 1), "big", signed=True)


def _unsigned(n: int) -> bytes:
    return n.to_bytes(n.bit_length() // 8 + 1, "big")


@lru_cache(maxsize=32768)  # pure; a unit serves about 2,000 distinct OIDs, the same in every unit
def encode_oid(oid: OID) -> bytes:
    """The OBJECT IDENTIFIER contents (without tag and length)."""
    if len(oid) < 2:
        oid = (*oid, 0, 0)[:2] if oid else (0, 0)
    subids = [oid[0] * 40 + oid[1], *oid[2:]]
    out = bytearray()
    for v in subids:
        chunk = [v & 0x7F]
        v >>= 7
        while v:
            chunk.append(0x80 | (v & 0x7F))
            v >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def encode_value(kind: str, value: int | bytes | OID | None = None) -> bytes:
    """A varbind value TLV: kind is one of int, uint, counter, ticks, octets, ipaddress, oid, null,
    noSuchObject, noSuchInstance, endOfMibView."""
    tag = _TAGS[kind]
    if kind in ("null", "noSuchObject", "noSuchInstance", "endOfMibView"):
        return bytes((tag, 0))
    if kind == "int":
        assert isinstance(value, int)
        return _tlv_bytes(tag, _signed(value))
    if kind in ("uint", "counter", "ticks"):
        assert isinstance(value, int)
        return _tlv_bytes(tag, _unsigned(value))
    if kind == "oid":
        assert isinstance(value, tuple)
        return _tlv_bytes(tag, encode_oid(value))
    assert isinstance(value, bytes)
    return _tlv_bytes(tag, value)


def encode_varbind(oid: OID, value_tlv: bytes) -> bytes:
    return _tlv_bytes(0x30, _tlv_bytes(0x06, encode_oid(oid)) + value_tlv)


def encode_response(
    version: int, community: bytes, request_id: int, error_status: int, error_index: int, varbinds: list[bytes],
    pdu_tag: int = RESPONSE,
) -> bytes:
    """A Response-PDU message (or another PDU of the same shape: ``pdu_tag`` :data:`TRAP_V2`); ``varbinds`` are
    already encoded (:func:`encode_varbind`)."""
    pdu = (
        _tlv_bytes(0x02, _signed(request_id))
        + _tlv_bytes(0x02, _signed(error_status))
        + _tlv_bytes(0x02, _signed(error_index))
        + _tlv_bytes(0x30, b"".join(varbinds))
    )
    body = _tlv_bytes(0x02, _signed(version)) + _tlv_bytes(0x04, community) + _tlv_bytes(pdu_tag, pdu)
    return _tlv_bytes(0x30, body)

"""What the emulator reads of a T.38 IFP packet (ITU-T T.38 §7, aligned PER, version 0..3): its kind, the
indicator or data type, and its fields' types — enough to tell a final frame and to name what went by. The
T.38 terminal (libspandsp) encodes and decodes the IFPs themselves; nothing here builds one.

First octet: bit 7 = a data field follows, bit 6 = t30-data (else t30-indicator), bit 5 = the type's extension
bit, bits 4..1 = the indicator or data rate. A data field is a count octet, then per field an octet with bit 7
= field data present and bits 6..4 = the field type, then (if present) a two-octet length - 1 and the data.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FIELD_TYPES", "INDICATORS", "Ifp", "IfpError", "is_final", "parse_ifp"]

INDICATORS = (
    "no-signal", "cng", "ced", "v21-preamble", "v27-2400-training", "v27-4800-training", "v29-7200-training",
    "v29-9600-training", "v17-7200-short-training", "v17-7200-long-training", "v17-9600-short-training",
    "v17-9600-long-training", "v17-12000-short-training", "v17-12000-long-training", "v17-14400-short-training",
    "v17-14400-long-training",
)
FIELD_TYPES = (
    "hdlc-data", "hdlc-sig-end", "hdlc-fcs-OK", "hdlc-fcs-BAD", "hdlc-fcs-OK-sig-end", "hdlc-fcs-BAD-sig-end",
    "t4-non-ecm-data", "t4-non-ecm-sig-end",
)
_SIG_END = frozenset({1, 4, 5, 7})  # the fields that end a signal: the "final frames" of a fax phase


class IfpError(ValueError):
    """Not an IFP packet this version of T.38 describes."""


@dataclass(frozen=True, slots=True)
class Ifp:
    data: bool  # t30-data, else t30-indicator
    value: int  # the indicator, or the data rate (0 = V.21)
    fields: tuple[int, ...] = ()  # the field types, in order

    @property
    def name(self) -> str:
        if not self.data:
            return INDICATORS[self.value] if self.value < len(INDICATORS) else f"indicator-{self.value}"
        return "data " + ",".join(FIELD_TYPES[f] for f in self.fields)


def parse_ifp(ifp: bytes) -> Ifp:
    """Read `ifp`; :class:`IfpError` when it is cut short or inconsistent."""
    if not ifp:
        raise IfpError("empty IFP")
    first = ifp[0]
    has_fields, data = bool(first & 0x80), bool(first & 0x40)
    value = (first >> 1) & 0x0F
    if first & 0x20:  # an extension value (T.38 version 1+): one more octet holds it
        if len(ifp) < 2:
            raise IfpError("extension value cut short")
        value = 16 + ((first & 0x01) << 6 | ifp[1] >> 2)
    if not has_fields:
        return Ifp(data, value)
    pos = 2 if first & 0x20 else 1
    if pos >= len(ifp):
        raise IfpError("data field count missing")
    count = ifp[pos]
    pos += 1
    fields: list[int] = []
    for _ in range(count):
        if pos >= len(ifp):
            raise IfpError(f"field {len(fields) + 1} of {count} missing")
        head = ifp[pos]
        pos += 1
        fields.append((head >> 4) & 0x07)
        if head & 0x80:
            if pos + 2 > len(ifp):
                raise IfpError("field length cut short")
            size = (ifp[pos] << 8 | ifp[pos + 1]) + 1
            pos += 2 + size
            if pos > len(ifp):
                raise IfpError("field data cut short")
    return Ifp(data, value, tuple(fields))


def is_final(ifp: bytes) -> bool:
    """Does `ifp` end a signal (a sig-end field)? Garbage is not final."""
    try:
        parsed = parse_ifp(ifp)
    except IfpError:
        return False
    return parsed.data and bool(parsed.fields) and parsed.fields[-1] in _SIG_END

"""SDP (RFC 4566) parse/serialise and the offer/answer helpers of RFC 3264 the endpoints need.

Model: :class:`SessionDescription` holds session-level lines and a list of :class:`MediaDescription`; every
``a=`` line is an :class:`Attribute` kept in order (so ``a=crypto`` lines keep their preference order and
unknown attributes survive a round trip). Parsing is strict about structure (RFC 4566 §5: ``v=`` first, the
mandatory ``o=``/``s=``/``t=``, one letter and no blanks around ``=``, a known type letter, media-level
letters only after ``m=``, a connection address for every active stream) and raises :class:`SdpError`
carrying the line number and the SIP status to answer with (400 for a broken body, 488 for a description
we cannot accept).

Offer/answer (RFC 3264): media direction and its answer (§6.1), hold detection and hold offers (§8.4,
including the old ``c=0.0.0.0`` form), rejected streams (port 0, §6, §8.2), codec negotiation keeping the
offerer's payload type numbers (§6.1), ``RTP/AVP`` vs ``RTP/SAVP`` (RFC 3551, RFC 3711 §12), ptime
(RFC 4566 §6), version bump on a modified offer (§8).
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "PCMA",
    "PCMU",
    "RTP_AVP",
    "RTP_SAVP",
    "STATIC_PAYLOAD_TYPES",
    "TELEPHONE_EVENT",
    "Attribute",
    "Codec",
    "Connection",
    "Direction",
    "MediaDescription",
    "Origin",
    "SdpError",
    "SessionDescription",
    "Timing",
    "answer_direction",
    "audio_media",
    "hold_direction",
    "is_hold",
    "negotiate_codecs",
    "reject_media",
]

RTP_AVP = "RTP/AVP"
RTP_SAVP = "RTP/SAVP"
MAX_SDP_SIZE = 65536

_LINE = re.compile(r"^([a-z])=(.*)$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")  # RFC 4566 token
_SESSION_ONLY = set("vosueptrz")
_MEDIA_LEVEL = set("icbka")
_KNOWN = set("vosiuepcbtrzkam")


class SdpError(ValueError):
    """A session description we cannot use. `status_code` is the SIP answer (400 broken, 488 unacceptable)."""

    def __init__(self, message: str, *, line_no: int | None = None, line: str | None = None, status_code: int = 400):
        where = f" (line {line_no}: {line!r})" if line_no is not None else ""
        super().__init__(message + where)
        self.reason = message
        self.line_no = line_no
        self.line = line
        self.status_code = status_code


# ----------------------------------------------------------------------------------------- model


@dataclass(slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`` (RFC 4566 §5.2)."""

    username: str
    session_id: int
    session_version: int
    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def serialize(self) -> str:
        return f"{self.username} {self.session_id} {self.session_version} {self.nettype} {self.addrtype} {self.address}"


@dataclass(slots=True)
class Connection:
    """``c=<nettype> <addrtype> <connection-address>`` (RFC 4566 §5.7)."""

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def serialize(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"

    @property
    def is_null(self) -> bool:
        """The RFC 2543 hold address (RFC 3264 §8.4)."""
        return self.address.split("/")[0] in ("0.0.0.0", "::")


@dataclass(slots=True)
class Attribute:
    """``a=<name>`` or ``a=<name>:<value>`` (RFC 4566 §5.13)."""

    name: str
    value: str | None = None

    def serialize(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(slots=True)
class Timing:
    """``t=<start> <stop>`` plus its ``r=`` lines (RFC 4566 §5.9, §5.10)."""

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)


class Direction(enum.Enum):
    """Media direction attributes (RFC 3264 §5.1, RFC 4566 §6)."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def of(cls, sends: bool, receives: bool) -> Direction:
        if sends and receives:
            return cls.SENDRECV
        if sends:
            return cls.SENDONLY
        if receives:
            return cls.RECVONLY
        return cls.INACTIVE


_DIRECTIONS = {d.value for d in Direction}
_DIRECTION_OF = {d.value: d for d in Direction}  # Direction(name) without the enum's lookup (hot: every body)


@dataclass(frozen=True, slots=True)
class Codec:
    """An RTP payload format: payload type, encoding name, clock rate (``a=rtpmap``), channels, fmtp."""

    payload_type: int
    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None

    def rtpmap(self) -> str:
        chans = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.name}/{self.clock_rate}{chans}"

    def same_format(self, other: Codec) -> bool:
        """Same encoding, clock and channels (payload type numbers may differ, RFC 3264 §6.1)."""
        return (
            self.name.lower() == other.name.lower()
            and self.clock_rate == other.clock_rate
            and self.channels == other.channels
        )


PCMU = Codec(0, "PCMU", 8000)
PCMA = Codec(8, "PCMA", 8000)
TELEPHONE_EVENT = Codec(101, "telephone-event", 8000, fmtp="0-15")

# RFC 3551 §6 static audio payload types (used when no rtpmap is given)
STATIC_PAYLOAD_TYPES: dict[int, Codec] = {
    0: PCMU,
    3: Codec(3, "GSM", 8000),
    4: Codec(4, "G723", 8000),
    8: PCMA,
    9: Codec(9, "G722", 8000),
    13: Codec(13, "CN", 8000),
    18: Codec(18, "G729", 8000),
}


class _Attributes:
    """The ``a=`` lines of a session or a media description (RFC 4566 §5.13) and the direction they carry."""

    __slots__ = ()
    attributes: list[Attribute]

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=name`` ('' for a property attribute), None if absent."""
        for a in self.attributes:
            if a.name == name:
                return "" if a.value is None else a.value
        return None

    def attribute_values(self, name: str) -> list[str]:
        return [a.value or "" for a in self.attributes if a.name == name]

    def has_attribute(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    def add_attribute(self, name: str, value: str | None = None) -> None:
        self.attributes.append(Attribute(name, value))

    def remove_attributes(self, name: str) -> None:
        self.attributes[:] = [a for a in self.attributes if a.name != name]

    @property
    def direction(self) -> Direction | None:
        """The direction attribute at this level, None if absent (then the session level applies)."""
        for a in self.attributes:
            direction = _DIRECTION_OF.get(a.name)
            if direction is not None:
                return direction
        return None

    @direction.setter
    def direction(self, value: Direction | None) -> None:
        self.attributes[:] = [a for a in self.attributes if a.name not in _DIRECTIONS]
        if value is not None:
            self.attributes.append(Attribute(value.value))


@dataclass(slots=True)
class MediaDescription(_Attributes):
    """One ``m=`` section (RFC 4566 §5.14) with its media-level lines."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    title: str | None = None
    connection: Connection | None = None
    bandwidths: list[tuple[str, int]] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in ms (RFC 4566 §6); None if absent or not a number."""
        v = self.attribute("ptime")
        try:
            return int(v) if v else None
        except ValueError:
            return None

    @property
    def is_secure(self) -> bool:
        """SRTP profile (RTP/SAVP, RFC 3711 §12; also RTP/SAVPF)."""
        return self.proto.upper() in ("RTP/SAVP", "RTP/SAVPF")

    @property
    def rejected(self) -> bool:
        """Port 0: a rejected or disabled stream (RFC 3264 §6, §8.2)."""
        return self.port == 0

    def codecs(self) -> list[Codec]:
        """The formats as codecs, in order: rtpmap/fmtp lines, else RFC 3551 static types; unknown skipped."""
        maps: dict[int, Codec] = {}
        fmtps: dict[int, str] = {}
        for a in self.attributes:
            if a.name == "rtpmap" and a.value:
                m = re.match(r"^(\d{1,3})\s+([^/\s]+)/(\d+)(?:/(\d+))?\s*$", a.value)
                if m:
                    pt = int(m.group(1))
                    maps[pt] = Codec(pt, m.group(2), int(m.group(3)), int(m.group(4) or 1))
            elif a.name == "fmtp" and a.value:
                pt_text, _, params = a.value.partition(" ")
                if pt_text.isdigit():
                    fmtps[int(pt_text)] = params.strip()
        out = []
        for f in self.formats:
            if not f.isdigit():
                continue
            pt = int(f)
            codec = maps.get(pt) or STATIC_PAYLOAD_TYPES.get(pt)
            if codec is None:
                continue
            if pt in fmtps:
                codec = Codec(pt, codec.name, codec.clock_rate, codec.channels, fmtps[pt])
            out.append(codec)
        return out

    def serialize_lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        lines = [f"m={self.media} {port} {self.proto} {' '.join(self.formats)}".rstrip()]
        if self.title is not None:
            lines.append(f"i={self.title}")
        if self.connection is not None:
            lines.append(f"c={self.connection.serialize()}")
        lines.extend(f"b={t}:{v}" for t, v in self.bandwidths)
        if self.key is not None:
            lines.append(f"k={self.key}")
        lines.extend(f"a={a.serialize()}" for a in self.attributes)
        return lines


@dataclass(slots=True)
class SessionDescription(_Attributes):
    """A whole SDP body (RFC 4566 §5)."""

    origin: Origin
    session_name: str = "-"
    version: int = 0
    info: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[tuple[str, int]] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=lambda: [Timing()])
    timezones: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    @classmethod
    def new(
        cls, address: str, *, session_id: int, username: str = "-", session_name: str = "-", addrtype: str = "IP4"
    ) -> SessionDescription:
        """A fresh description for an offer: o= with version = id (RFC 3264 §5), c= at session level, t=0 0."""
        return cls(
            origin=Origin(username, session_id, session_id, address, addrtype=addrtype),
            session_name=session_name,
            connection=Connection(address, addrtype=addrtype),
        )

    def media_direction(self, media: MediaDescription) -> Direction:
        """Effective direction: media level, else session level, else sendrecv (RFC 3264 §5.1)."""
        return media.direction or self.direction or Direction.SENDRECV

    def media_connection(self, media: MediaDescription) -> Connection | None:
        """Effective connection: media level overrides session level (RFC 4566 §5.7)."""
        return media.connection or self.connection

    def bump_version(self) -> None:
        """Increment o= sess-version: required for any modified offer in the same session (RFC 3264 §8)."""
        self.origin.session_version += 1

    # -- wire format

    def serialize(self) -> str:
        lines = [f"v={self.version}", f"o={self.origin.serialize()}", f"s={self.session_name}"]
        if self.info is not None:
            lines.append(f"i={self.info}")
        if self.uri is not None:
            lines.append(f"u={self.uri}")
        lines.extend(f"e={e}" for e in self.emails)
        lines.extend(f"p={p}" for p in self.phones)
        if self.connection is not None:
            lines.append(f"c={self.connection.serialize()}")
        lines.extend(f"b={t}:{v}" for t, v in self.bandwidths)
        for t in self.timings or [Timing()]:
            lines.append(f"t={t.start} {t.stop}")
            lines.extend(f"r={r}" for r in t.repeats)
        if self.timezones is not None:
            lines.append(f"z={self.timezones}")
        if self.key is not None:
            lines.append(f"k={self.key}")
        lines.extend(f"a={a.serialize()}" for a in self.attributes)
        for m in self.media:
            lines.extend(m.serialize_lines())
        return "\r\n".join(lines) + "\r\n"

    def __bytes__(self) -> bytes:
        return self.serialize().encode()

    def copy(self) -> SessionDescription:
        return copy.deepcopy(self)

    @classmethod
    def parse(cls, data: str | bytes) -> SessionDescription:
        """Parse an SDP body; raises :class:`SdpError` with the offending line."""
        return _Parser(data).parse()


# ---------------------------------------------------------------------------------------- parser


def _int_field(text: str, what: str, line_no: int, line: str, *, maximum: int | None = None) -> int:
    if not text.isdigit() or len(text) > 20:
        raise SdpError(f"{what} is not a number", line_no=line_no, line=line)
    value = int(text)
    if maximum is not None and value > maximum:
        raise SdpError(f"{what} out of range", line_no=line_no, line=line)
    return value


class _Parser:
    def __init__(self, data: str | bytes) -> None:
        if isinstance(data, bytes | bytearray):
            if len(data) > MAX_SDP_SIZE:
                raise SdpError(f"SDP body larger than {MAX_SDP_SIZE} bytes")
            try:
                data = bytes(data).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SdpError(f"SDP is not UTF-8 text: {exc.reason}") from None
        if len(data) > MAX_SDP_SIZE:
            raise SdpError(f"SDP body larger than {MAX_SDP_SIZE} characters")
        self.text = data

    def parse(self) -> SessionDescription:
        raw_lines = self.text.replace("\r\n", "\n").split("\n")
        while raw_lines and raw_lines[-1] == "":
            raw_lines.pop()
        if not raw_lines:
            raise SdpError("empty SDP body")
        version: int | None = None
        origin: Origin | None = None
        session_name: str | None = None
        sd_fields: dict[str, object] = {"emails": [], "phones": [], "bandwidths": [], "attributes": []}
        timings: list[Timing] = []
        media: list[MediaDescription] = []
        current: MediaDescription | None = None
        for no, line in enumerate(raw_lines, start=1):
            if "\r" in line or "\x00" in line:
                raise SdpError("stray CR or NUL in line", line_no=no, line=line)
            m = _LINE.match(line)
            if m is None:
                raise SdpError("not a '<type>=<value>' line", line_no=no, line=line)
            kind, value = m.group(1), m.group(2)
            if no == 1:
                if kind != "v":
                    raise SdpError("SDP must start with v=", line_no=no, line=line)
                if value != "0":
                    raise SdpError(f"unsupported SDP version {value!r}", line_no=no, line=line)
                version = 0
                continue
            if kind not in _KNOWN:
                raise SdpError(f"unknown SDP line type {kind!r}", line_no=no, line=line)
            if kind == "v":
                raise SdpError("second v= line", line_no=no, line=line)
            if kind == "m":
                current = self._media(value, no, line)
                media.append(current)
                continue
            if current is not None:
                if kind not in _MEDIA_LEVEL:
                    raise SdpError(f"{kind}= is not allowed after m=", line_no=no, line=line)
                self._media_line(current, kind, value, no, line)
                continue
            if kind == "o":
                if origin is not None:
                    raise SdpError("second o= line", line_no=no, line=line)
                origin = self._origin(value, no, line)
            elif kind == "s":
                if session_name is not None:
                    raise SdpError("second s= line", line_no=no, line=line)
                session_name = value
            elif kind == "i":
                sd_fields["info"] = value
            elif kind == "u":
                sd_fields["uri"] = value
            elif kind == "e":
                sd_fields["emails"].append(value)  # type: ignore[attr-defined]
            elif kind == "p":
                sd_fields["phones"].append(value)  # type: ignore[attr-defined]
            elif kind == "c":
                if "connection" in sd_fields:
                    raise SdpError("second session-level c= line", line_no=no, line=line)
                sd_fields["connection"] = self._connection(value, no, line)
            elif kind == "b":
                sd_fields["bandwidths"].append(self._bandwidth(value, no, line))  # type: ignore[attr-defined]
            elif kind == "t":
                parts = value.split(" ")
                if len(parts) != 2:
                    raise SdpError("t= needs <start> <stop>", line_no=no, line=line)
                timings.append(
                    Timing(_int_field(parts[0], "start time", no, line), _int_field(parts[1], "stop time", no, line))
                )
            elif kind == "r":
                if not timings:
                    raise SdpError("r= before any t=", line_no=no, line=line)
                timings[-1].repeats.append(value)
            elif kind == "z":
                sd_fields["timezones"] = value
            elif kind == "k":
                sd_fields["key"] = value
            elif kind == "a":
                sd_fields["attributes"].append(self._attribute(value, no, line))  # type: ignore[attr-defined]
        if version is None:  # pragma: no cover - first line is checked above
            raise SdpError("missing v=")
        if origin is None:
            raise SdpError("missing o= line")
        if session_name is None:
            raise SdpError("missing s= line")
        if not timings:
            raise SdpError("missing t= line")
        sd = SessionDescription(
            origin=origin,
            session_name=session_name,
            version=version,
            timings=timings,
            media=media,
            **sd_fields,  # type: ignore[arg-type]
        )
        for i, md in enumerate(sd.media):
            if md.port != 0 and sd.media_connection(md) is None:
                raise SdpError(f"no c= line for media #{i + 1} ({md.media}) nor at session level", status_code=488)
        return sd

    @staticmethod
    def _origin(value: str, no: int, line: str) -> Origin:
        parts = value.split(" ")
        if len(parts) != 6:
            raise SdpError("o= needs 6 fields", line_no=no, line=line)
        user, sid, sver, nettype, addrtype, address = parts
        if not user or not address:
            raise SdpError("o= has an empty field", line_no=no, line=line)
        return Origin(
            user,
            _int_field(sid, "o= session id", no, line),
            _int_field(sver, "o= session version", no, line),
            address,
            nettype,
            addrtype,
        )

    @staticmethod
    def _connection(value: str, no: int, line: str) -> Connection:
        parts = value.split(" ")
        if len(parts) != 3 or not all(parts):
            raise SdpError("c= needs <nettype> <addrtype> <connection-address>", line_no=no, line=line)
        return Connection(parts[2], parts[0], parts[1])

    @staticmethod
    def _bandwidth(value: str, no: int, line: str) -> tuple[str, int]:
        bwtype, sep, bw = value.partition(":")
        if not sep or not _TOKEN.match(bwtype or "-"):
            raise SdpError("b= needs <bwtype>:<bandwidth>", line_no=no, line=line)
        return bwtype, _int_field(bw, "bandwidth", no, line)

    @staticmethod
    def _attribute(value: str, no: int, line: str) -> Attribute:
        name, sep, val = value.partition(":")
        if not name or not _TOKEN.match(name):
            raise SdpError("a= attribute name is not a token", line_no=no, line=line)
        return Attribute(name, val if sep else None)

    def _media(self, value: str, no: int, line: str) -> MediaDescription:
        parts = value.split(" ")
        if len(parts) < 4 or not all(parts):
            raise SdpError("m= needs <media> <port> <proto> <fmt> ...", line_no=no, line=line)
        media, port_text, proto, *formats = parts
        if not _TOKEN.match(media):
            raise SdpError("m= media is not a token", line_no=no, line=line)
        port_s, slash, count_s = port_text.partition("/")
        port = _int_field(port_s, "m= port", no, line, maximum=65535)
        count = _int_field(count_s, "m= port count", no, line) if slash else None
        if not re.match(r"^[A-Za-z0-9_./-]+$", proto):
            raise SdpError("m= proto is not valid", line_no=no, line=line)
        for f in formats:
            if not _TOKEN.match(f):
                raise SdpError(f"m= format {f!r} is not a token", line_no=no, line=line)
        return MediaDescription(media, port, proto, formats, port_count=count)

    def _media_line(self, md: MediaDescription, kind: str, value: str, no: int, line: str) -> None:
        if kind == "i":
            md.title = value
        elif kind == "c":
            if md.connection is not None:
                raise SdpError(
                    "several c= lines in one media (multicast lists are not supported)", line_no=no, line=line
                )
            md.connection = self._connection(value, no, line)
        elif kind == "b":
            md.bandwidths.append(self._bandwidth(value, no, line))
        elif kind == "k":
            md.key = value
        else:
            md.attributes.append(self._attribute(value, no, line))


# ------------------------------------------------------------------------------- offer / answer


def answer_direction(offered: Direction, local: Direction = Direction.SENDRECV) -> Direction:
    """Direction of the answer for an offered stream (RFC 3264 §6.1), given what we want (`local`).

    sendonly -> recvonly, recvonly -> sendonly, inactive -> inactive, sendrecv -> our own choice; each
    narrowed by what we want to do.
    """
    return Direction.of(sends=offered.receives and local.sends, receives=offered.sends and local.receives)


def hold_direction(current: Direction) -> Direction:
    """Direction for a hold re-offer (RFC 3264 §8.4): sendrecv -> sendonly, recvonly -> inactive."""
    return Direction.of(sends=current.sends, receives=False)


def is_hold(sd: SessionDescription, media: MediaDescription) -> bool:
    """True if the peer's offer puts `media` on hold: it no longer wants to receive (sendonly, inactive),
    or it uses the RFC 2543 c=0.0.0.0 form (RFC 3264 §8.4)."""
    conn = sd.media_connection(media)
    return not sd.media_direction(media).receives or (conn is not None and conn.is_null)


def reject_media(offered: MediaDescription) -> MediaDescription:
    """The answer's m-line for a stream we refuse: same media, proto and formats, port 0 (RFC 3264 §6)."""
    return MediaDescription(offered.media, 0, offered.proto, list(offered.formats) or ["0"])


def negotiate_codecs(offered: MediaDescription, supported: Sequence[Codec]) -> list[Codec]:
    """Offered codecs we support, in the offerer's order and with the offerer's payload type numbers
    (RFC 3264 §6.1), fmtp taken from the offer (e.g. telephone-event's event list)."""
    out = []
    for codec in offered.codecs():
        if any(codec.same_format(s) for s in supported):
            out.append(codec)
    return out


def audio_media(
    port: int,
    codecs: Iterable[Codec],
    *,
    secure: bool = False,
    ptime: int | None = 20,
    direction: Direction | None = Direction.SENDRECV,
    connection: Connection | None = None,
    rtpmap_static: bool = True,
) -> MediaDescription:
    """An audio m-line: ``m=audio <port> RTP/AVP|RTP/SAVP <pts>`` with rtpmap/fmtp, ptime and direction."""
    codecs = list(codecs)
    md = MediaDescription(
        "audio", port, RTP_SAVP if secure else RTP_AVP, [str(c.payload_type) for c in codecs], connection=connection
    )
    for c in codecs:
        if rtpmap_static or c.payload_type >= 96 or c.payload_type not in STATIC_PAYLOAD_TYPES:
            md.add_attribute("rtpmap", c.rtpmap())
        if c.fmtp:
            md.add_attribute("fmtp", f"{c.payload_type} {c.fmtp}")
    if ptime:
        md.add_attribute("ptime", str(ptime))
    if direction is not None:
        md.direction = direction
    return md

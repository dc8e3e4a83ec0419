"""T.38 fax in SDP offer/answer (ITU-T T.38 Annex D, RFC 3362 ``image/t38``): the endpoint's T.38 settings, the
``m=image <port> udptl t38`` section with its ``a=T38*`` attributes, and the offer/answer of an image stream —
pure, no I/O. :mod:`~emulator.protocols.media.session_setup` hands image streams here.

Settings (:class:`T38Settings`): ``Mipt.DefaultCodecT38DataEnable``, ``RedundancyLevel``, ``FinalFramesRedundancy``,
``NoSignalEnable``/``NoSignalTimeout`` (or the endpoint's ``Mipt.EpSpecificCodecT38`` row when its
``EnableConfig`` is Enable), ``SipEp.InteropSdpT38ParametersEncoding``.

Attribute forms (``InteropSdpT38ParametersEncoding``): ``ItuT38AnnexD`` writes the boolean capabilities as
property attributes (``a=T38FaxFillBitRemoval`` present = true, absent = false);
``SippingRealTimeFax00InternetDraft`` (factory) gives them a value (``a=T38FaxFillBitRemoval:0``). Both forms are
read, names in any case. What the emulator offers (an emulator choice where the DGW's values are not public):
version 0, 14,400 bit/s, ``transferredTCF`` (T.38 Annex D: the one for UDP), buffer 2,000 octets, datagram 400,
``t38UDPRedundancy``; no fill bit removal, MMR or JBIG transcoding.

Bad input: a malformed ``a=T38*`` line (a version that is no number, an unknown rate management...) is ignored and
the value it would have set keeps its default — the stream is still usable. An offer of ``t38UDPFEC`` is answered
with ``t38UDPRedundancy`` (T.38 Annex D lets the answerer choose; the emulator sends no FEC). An image stream in
another format or over TCP (``TCP/TPKT/T38``) is not taken: refused with port 0, and an offer with nothing usable
at all is answered 488 (:mod:`~emulator.protocols.media.session_setup`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from emulator.protocols.sdp.sdp import Direction, MediaDescription, SessionDescription

__all__ = [
    "ANNEX_D",
    "DRAFT",
    "FaxPlan",
    "T38Params",
    "T38Settings",
    "accept_t38",
    "answer_t38",
    "image_media",
    "image_stream",
    "our_params",
    "parse_t38",
]

ANNEX_D = "ItuT38AnnexD"
DRAFT = "SippingRealTimeFax00InternetDraft"
UDPTL = "udptl"
_RATES = (2400, 4800, 7200, 9600, 12000, 14400)
_MANAGEMENT = {"localtcf": "localTCF", "transferredtcf": "transferredTCF"}
_EC = {"t38udpredundancy": "t38UDPRedundancy", "t38udpfec": "t38UDPFEC", "t38udpnoec": "t38UDPNoEC"}
_FLAGS = ("T38FaxFillBitRemoval", "T38FaxTranscodingMMR", "T38FaxTranscodingJBIG")


class _ConfigReader(Protocol):
    def get(self, name: str) -> Any: ...

    def rows(self, table_name: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class T38Settings:
    """The T.38 settings of one endpoint (see the module docstring)."""

    enabled: bool = True
    redundancy: int = 3
    final_redundancy: int = 0
    no_signal_timeout: int | None = None  # seconds between no-signal indicators while idle (None: off)
    encoding: str = DRAFT

    @classmethod
    def from_config(cls, config: _ConfigReader, endpoint: str | None = None) -> T38Settings:
        def get(name: str, default: Any) -> Any:
            try:
                value = config.get(name)
            except Exception:  # a catalog without it (older state): the factory value
                return default
            return default if value is None else value

        enable = get("Mipt.DefaultCodecT38DataEnable", "Enable")
        level = get("Mipt.DefaultCodecT38RedundancyLevel", 3)
        if endpoint is not None:
            for row in config.rows("Mipt.EpSpecificCodecT38"):
                if str(row.get("EpId")) == endpoint and str(row.get("EnableConfig")) == "Enable":
                    enable, level = row.get("DataEnable", enable), row.get("RedundancyLevel", level)
                    break
        no_signal = str(get("Mipt.DefaultCodecT38NoSignalEnable", "Disable")) == "Enable"
        return cls(
            enabled=str(enable) == "Enable",
            redundancy=int(level),
            final_redundancy=int(get("Mipt.DefaultCodecT38FinalFramesRedundancy", 0)),
            no_signal_timeout=int(get("Mipt.DefaultCodecT38NoSignalTimeout", 1)) if no_signal else None,
            encoding=str(get("SipEp.InteropSdpT38ParametersEncoding", DRAFT)),
        )


@dataclass(frozen=True, slots=True)
class T38Params:
    """The T.38 capabilities of an image stream (T.38 Annex D.2.3)."""

    version: int = 0
    max_bit_rate: int = 14400
    rate_management: str = "transferredTCF"
    max_buffer: int | None = 2000
    max_datagram: int | None = 400
    error_correction: str = "t38UDPRedundancy"
    fill_bit_removal: bool = False
    transcoding_mmr: bool = False
    transcoding_jbig: bool = False
    problems: tuple[str, ...] = field(default=(), compare=False)  # the malformed lines ignored

    def attributes(self, encoding: str = DRAFT) -> list[tuple[str, str | None]]:
        """The ``a=`` lines, boolean ones in the form `encoding` names."""
        out: list[tuple[str, str | None]] = [
            ("T38FaxVersion", str(self.version)), ("T38MaxBitRate", str(self.max_bit_rate)),
        ]
        flags = dict(zip(_FLAGS, (self.fill_bit_removal, self.transcoding_mmr, self.transcoding_jbig), strict=True))
        for name, on in flags.items():
            if encoding == ANNEX_D:
                if on:
                    out.append((name, None))
            else:
                out.append((name, "1" if on else "0"))
        out.append(("T38FaxRateManagement", self.rate_management))
        if self.max_buffer is not None:
            out.append(("T38FaxMaxBuffer", str(self.max_buffer)))
        if self.max_datagram is not None:
            out.append(("T38FaxMaxDatagram", str(self.max_datagram)))
        out.append(("T38FaxUdpEC", self.error_correction))
        return out


def _uint(text: str | None, low: int, high: int) -> int | None:
    t = (text or "").strip()
    if not t.isascii() or not t.isdigit() or len(t) > 9:
        return None
    n = int(t)
    return n if low <= n <= high else None


def parse_t38(md: MediaDescription) -> T38Params:
    """The T.38 capabilities an image section states; malformed lines are skipped (listed in ``problems``)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for a in md.attributes:
        name = a.name.lower()
        if not name.startswith("t38"):
            continue
        raw = a.value
        ok = True
        if name == "t38faxversion":
            ok = (v := _uint(raw, 0, 3)) is not None
            if ok:
                values["version"] = v
        elif name == "t38maxbitrate":
            ok = (v := _uint(raw, 300, 33600)) is not None
            if ok:
                values["max_bit_rate"] = v
        elif name == "t38faxratemanagement":
            ok = (raw or "").strip().lower() in _MANAGEMENT
            if ok:
                values["rate_management"] = _MANAGEMENT[(raw or "").strip().lower()]
        elif name in ("t38faxmaxbuffer", "t38faxmaxdatagram"):
            ok = (v := _uint(raw, 1, 65535)) is not None
            if ok:
                values["max_buffer" if name == "t38faxmaxbuffer" else "max_datagram"] = v
        elif name == "t38faxudpec":
            ok = (raw or "").strip().lower() in _EC
            if ok:
                values["error_correction"] = _EC[(raw or "").strip().lower()]
        elif name in (f.lower() for f in _FLAGS):
            key = {"t38faxfillbitremoval": "fill_bit_removal", "t38faxtranscodingmmr": "transcoding_mmr",
                   "t38faxtranscodingjbig": "transcoding_jbig"}[name]
            text = (raw or "").strip()
            ok = raw is None or text in ("0", "1")
            if ok:
                values[key] = raw is None or text == "1"
        else:
            continue  # a T.38 attribute we do not know (T38VendorInfo...): not an error
        if not ok:
            problems.append(f"a={a.serialize()}")
    return T38Params(**values, problems=tuple(problems))


def image_stream(sd: SessionDescription) -> MediaDescription | None:
    """The offer's active ``m=image ... udptl t38`` section, if any."""
    for m in sd.media:
        if m.media.lower() == "image" and not m.rejected and m.proto.lower() == UDPTL \
                and any(f.lower() == "t38" for f in m.formats):
            return m
    return None


def image_media(port: int, params: T38Params, encoding: str = DRAFT) -> MediaDescription:
    """``m=image <port> udptl t38`` with the ``a=T38*`` lines."""
    md = MediaDescription("image", port, UDPTL, ["t38"])
    for name, value in params.attributes(encoding):
        md.add_attribute(name, value)
    return md


@dataclass(frozen=True, slots=True)
class FaxPlan:
    """What the fax session must do after an offer/answer: where to send UDPTL, and with which parameters."""

    remote_host: str
    remote_port: int
    redundancy: int = 3  # secondary IFPs in each UDPTL packet we send
    final_redundancy: int = 0  # extra copies of a final frame
    no_signal_timeout: int | None = None
    params: T38Params = field(default_factory=T38Params)  # the peer's capabilities
    direction: Direction = Direction.SENDRECV


def _plan(sd: SessionDescription, md: MediaDescription, params: T38Params, settings: T38Settings) -> FaxPlan | None:
    conn = sd.media_connection(md)
    if conn is None or conn.is_null:
        return None
    return FaxPlan(conn.address, md.port, settings.redundancy, settings.final_redundancy,
                   settings.no_signal_timeout, params)


def our_params(settings: T38Settings, theirs: T38Params | None = None) -> T38Params:
    """Our capabilities; in an answer, lowered to the offer's version and rate, its rate management echoed."""
    mine = T38Params()
    if theirs is None:
        return mine
    return T38Params(
        version=min(mine.version, theirs.version),
        max_bit_rate=min(mine.max_bit_rate, theirs.max_bit_rate),
        rate_management=theirs.rate_management,
        max_buffer=mine.max_buffer,
        max_datagram=mine.max_datagram,
        error_correction="t38UDPRedundancy" if theirs.error_correction != "t38UDPNoEC" else "t38UDPNoEC",
    )


def answer_t38(settings: T38Settings, offer: SessionDescription, md: MediaDescription, port: int
               ) -> tuple[MediaDescription, FaxPlan] | None:
    """Our answer's image section and the plan for the offer's image stream `md`; None when we cannot take it
    (T.38 disabled, no address)."""
    if not settings.enabled:
        return None
    theirs = parse_t38(md)
    plan = _plan(offer, md, theirs, settings)
    if plan is None:
        return None
    return image_media(port, our_params(settings, theirs), settings.encoding), plan


def accept_t38(settings: T38Settings, answer: SessionDescription) -> FaxPlan | None:
    """Offerer side: the plan for the answer's image stream, None when the answer rejects it."""
    md = image_stream(answer)
    if md is None:
        return None
    return _plan(answer, md, parse_t38(md), settings)

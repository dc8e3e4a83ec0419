"""Media/Codecs as the offer/answer sees it: which voice codecs an endpoint offers and accepts, in which order, with
which payload types and packetization, and how an answer is shaped (pure; reads a Config-like object).

* Voice codecs: every ``Mipt.DefaultCodec<stem>VoiceEnable`` = Enable (or, when ``Mipt.EpSpecificCodec[ep]``
  enables it, the endpoint's ``Mipt.EpSpecificCodec<stem>`` row) whose library this machine has
  (:func:`~emulator.protocols.media.codecs.carried`), the higher ``VoicePriority`` first; ties keep the catalog
  order (G.711 u-law, A-law, G.722, G.726-16..40, G.729, clear mode...) — an emulator choice, the direction of the
  scale is not documented. G.723 is never offered (no kept implementation). Dynamic payload types from
  ``...PayloadType``; G.729 carries ``a=fmtp:18 annexb=no`` when ``...G729VoiceActivityDetection`` is Disable
  (RFC 3551 §4.5.6: Annex B is assumed otherwise).
* Packetization: each codec's ``MinPTime``..``MaxPTime``. We send with the peer's ``a=ptime`` when it is in that
  range, else the bound nearest to it (no ``a=ptime``: RFC 3551's 20 ms, brought into the range), in steps of
  the codec's frame. Our own ``a=ptime`` follows ``SipEp.InteropSdpPTimeAttribute``: Disabled (factory) none,
  DeclarativePreferredCodec the first codec's MinPTime, DeclarativeConfigured ``InteropSdpPTimeAttributeValue``.
* ``SipEp.AnswerCodecNegotiation``: AllCommon* answers every common codec, FirstCommon* the first one only; *Local
  orders them by our priority, *Peer keeps the offer's order. The codec we send with is the answer's first.
* ``SipEp.InteropUseDtmfPayloadTypeFoundInAnswer``: Enable sends RFC 4733 events with the answer's payload type,
  Disable (factory) with the one we offered. ``SipEp.InteropAllowLessMediaInResponse``: Disable (factory) refuses
  an answer with fewer ``m=`` lines than the offer (RFC 3264 §6), Enable accepts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from emulator.protocols.media.codecs import FORMATS, AudioFormat, by_encoding, carried
from emulator.protocols.sdp.sdp import TELEPHONE_EVENT, Codec

__all__ = [
    "DTMF_OVER_RTP",
    "CodecEntry",
    "CodecPolicy",
    "Negotiation",
    "choose_ptime",
    "dtmf_method",
    "format_of",
    "policy_from_config",
]

DTMF_OVER_RTP = frozenset({"OutOfBandUsingRtp", "SignalingProtocolDependent"})
DEFAULT_PTIME = 20  # RFC 3551 §4.5: the default packetization of the frame and sample codecs


class Negotiation:
    """``SipEp.AnswerCodecNegotiation`` values."""

    ALL_LOCAL = "AllCommonLocalPriority"
    FIRST_LOCAL = "FirstCommonLocalPriority"
    ALL_PEER = "AllCommonPeerPriority"
    FIRST_PEER = "FirstCommonPeerPriority"


class _ConfigReader(Protocol):
    def get(self, name: str) -> Any: ...

    def rows(self, table_name: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class CodecEntry:
    """One voice codec as an endpoint offers it."""

    fmt: AudioFormat
    payload_type: int
    min_ptime: int = DEFAULT_PTIME
    max_ptime: int = DEFAULT_PTIME
    vad: bool = False  # G.729 Annex B

    def codec(self) -> Codec:
        fmtp = None
        if self.fmt.stem == "G729":
            fmtp = "annexb=yes" if self.vad else "annexb=no"
        return Codec(self.payload_type, self.fmt.encoding, 8000, fmtp=fmtp)


_G711 = (CodecEntry(FORMATS[0], 0), CodecEntry(FORMATS[1], 8))  # the bench's and tests' plain default


@dataclass(frozen=True, slots=True)
class CodecPolicy:
    """An endpoint's Media/Codecs and the SipEp interop settings that shape its offers and answers."""

    voice: tuple[CodecEntry, ...] = _G711
    telephone_event_pt: int | None = TELEPHONE_EVENT.payload_type
    negotiation: str = Negotiation.ALL_LOCAL
    allow_less_media: bool = False
    dtmf_pt_from_answer: bool = False
    ptime_attribute: str = "Disabled"
    ptime_value: int = 30

    def codecs(self) -> tuple[Codec, ...]:
        """The rtpmap codecs we offer and accept, in preference order (telephone-event last)."""
        out = [e.codec() for e in self.voice]
        if self.telephone_event_pt is not None:
            out.append(Codec(self.telephone_event_pt, "telephone-event", 8000, fmtp=TELEPHONE_EVENT.fmtp))
        return tuple(out)

    def entry(self, encoding: str) -> CodecEntry | None:
        return next((e for e in self.voice if e.fmt.encoding.upper() == encoding.upper()), None)

    def offer_ptime(self) -> int | None:
        """Our ``a=ptime`` (``SipEp.InteropSdpPTimeAttribute``), None for none."""
        if self.ptime_attribute == "DeclarativeConfigured":
            return self.ptime_value
        if self.ptime_attribute == "DeclarativePreferredCodec" and self.voice:
            return self.voice[0].min_ptime
        return None

    def answer_order(self, common: Sequence[Codec]) -> list[Codec]:
        """The common codecs (offer order, the offerer's payload types) as our answer lists them."""
        voice = [c for c in common if c.name.lower() != "telephone-event"]
        events = [c for c in common if c.name.lower() == "telephone-event"]
        if self.negotiation in (Negotiation.ALL_LOCAL, Negotiation.FIRST_LOCAL):
            rank = {e.fmt.encoding.upper(): i for i, e in enumerate(self.voice)}
            voice.sort(key=lambda c: rank.get(c.name.upper(), len(rank)))
        if self.negotiation in (Negotiation.FIRST_LOCAL, Negotiation.FIRST_PEER):
            voice = voice[:1]
        return voice + events[:1]


def choose_ptime(entry: CodecEntry | None, remote_ptime: int | None) -> int:
    """The packetization we send with (see the module docstring), in ms."""
    want = remote_ptime or DEFAULT_PTIME
    if entry is None:
        return want
    step = entry.fmt.frame_ms
    lo, hi = entry.min_ptime, max(entry.min_ptime, entry.max_ptime)
    value = min(max(want, lo), hi)
    return max(step, value // step * step)


def _on(value: object) -> bool:
    return str(value) == "Enable"


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _opt(config: _ConfigReader, name: str, default: str) -> str:
    try:
        v = config.get(name)
    except Exception:  # a parameter an older catalog lacks
        return default
    return default if v is None else str(v)


def policy_from_config(config: _ConfigReader, endpoint: str | None = None) -> CodecPolicy:
    """The codec policy of `endpoint` (None: the Default settings)."""
    specific = endpoint is not None and any(
        str(r.get("EpId")) == endpoint and _on(r.get("EnableConfig")) for r in config.rows("Mipt.EpSpecificCodec")
    )
    chosen: list[tuple[int, int, CodecEntry]] = []
    for order, fmt in enumerate(FORMATS):
        stem = fmt.stem
        values: dict[str, object] = {}
        for col in ("VoiceEnable", "VoicePriority", "PayloadType", "MinPTime", "MaxPTime", "VoiceActivityDetection"):
            try:
                values[col] = config.get(f"Mipt.DefaultCodec{stem}{col}")
            except Exception:  # this codec has no such parameter (G.711 has no payload type...)
                continue
        if specific:
            for row in config.rows(f"Mipt.EpSpecificCodec{stem}"):
                if str(row.get("EpId")) == endpoint:
                    values.update({k: row[k] for k in values if k in row})
                    break
        if not _on(values.get("VoiceEnable")) or not carried(fmt):
            continue
        pt = fmt.static_pt if fmt.static_pt is not None else _int(values.get("PayloadType"), 96)
        lo = _int(values.get("MinPTime"), DEFAULT_PTIME)
        hi = _int(values.get("MaxPTime"), lo)
        entry = CodecEntry(fmt, pt, lo, max(lo, hi), vad=_on(values.get("VoiceActivityDetection")))
        chosen.append((-_int(values.get("VoicePriority"), 0), order, entry))
    voice = tuple(e for _, _, e in sorted(chosen, key=lambda t: (t[0], t[1])))
    te: int | None = None
    method = str(config.get("Mipt.DefaultDtmfTransportMethod"))
    pt_value: object = config.get("Mipt.DefaultDtmfTransportPayloadType")
    if endpoint is not None:
        for row in config.rows("Mipt.EpSpecificDtmfTransport"):
            if str(row.get("EpId")) == endpoint and _on(row.get("EnableConfig")):
                method, pt_value = str(row.get("Method", method)), row.get("PayloadType", pt_value)
                break
    if method in DTMF_OVER_RTP:
        te = _int(pt_value, 96)
    return CodecPolicy(
        voice=voice,
        telephone_event_pt=te,
        negotiation=_opt(config, "SipEp.AnswerCodecNegotiation", Negotiation.ALL_LOCAL),
        allow_less_media=_opt(config, "SipEp.InteropAllowLessMediaInResponse", "Disable") == "Enable",
        dtmf_pt_from_answer=_opt(config, "SipEp.InteropUseDtmfPayloadTypeFoundInAnswer", "Disable") == "Enable",
        ptime_attribute=_opt(config, "SipEp.InteropSdpPTimeAttribute", "Disabled"),
        ptime_value=_int(_opt(config, "SipEp.InteropSdpPTimeAttributeValue", "30"), 30),
    )


def dtmf_method(config: _ConfigReader, endpoint: str | None = None) -> str:
    """The DTMF transport method of `endpoint` (``Mipt.EpSpecificDtmfTransport`` when enabled, else the default)."""
    method = str(config.get("Mipt.DefaultDtmfTransportMethod") or "InBand")
    if endpoint is not None:
        for row in config.rows("Mipt.EpSpecificDtmfTransport"):
            if str(row.get("EpId")) == endpoint and _on(row.get("EnableConfig")):
                return str(row.get("Method", method))
    return method


def format_of(codec: Codec) -> AudioFormat | None:
    return by_encoding(codec.name)

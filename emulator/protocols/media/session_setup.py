"""Media session setup: the DGW's Media/Security settings applied to SDP offer/answer (pure, no I/O).

The SIP call logic calls three functions and hands the outcome (:class:`MediaPlan`) to
:meth:`emulator.engines.mipt.stream.MediaStream.apply`:

* :func:`build_offer` — our offer (initial INVITE, re-INVITE, hold/resume). ``RTP/AVP`` when the endpoint is
  Unsecure; ``RTP/SAVP`` when Secure or SecureWithFallback, with SDES ``a=crypto`` lines in the media section
  (RFC 4568; suites from ``Mipt.SrtpOfferCryptoMode``) or a MIKEY I_MESSAGE in ``a=key-mgmt:mikey`` at session
  level (RFC 3830/4567) as ``...KeyManagement`` says. Returns the SDP and an :class:`OfferState` to keep
  until the answer arrives (and for the next re-offer).
* :func:`accept_answer` — the peer's answer to our offer -> :class:`MediaPlan`, or :class:`SetupRefused`
  (the call must be ended: e.g. Secure and the peer answered plain RTP).
* :func:`answer_offer` — the peer's offer -> :class:`Answer` (SDP + plan + state for the next update) or
  :class:`Refusal` (SIP status, reason phrase and the notification to raise).

Decisions (DGW-BEHAVIOUR.md "Secure media", dgw-facts §8):

* Effective settings: the ``Mipt.EpSpecificSecurity`` row of the endpoint when its ``EnableConfig`` is
  Enable, else the ``Mipt.DefaultSecurity*`` scalars (:meth:`SecuritySettings.from_config`).
* Unsecure: offers ``RTP/AVP``; refuses an ``RTP/SAVP`` offer with 488; ignores ``a=crypto`` in an
  ``RTP/AVP`` offer (answers plain RTP).
* Secure / SecureWithFallback with key management K: an offer carrying only the *other* key management
  (SDES ``a=crypto`` for a MIKEY endpoint, ``a=key-mgmt`` for an SDES endpoint) -> **415 Unsupported Media**
  and Mipt 9001 (the SdpTools line "Received the wrong key management protocol. Secure stream disabled.").
  A plain ``RTP/AVP`` offer without keys: Secure -> 488, SecureWithFallback -> accepted unsecured. Keys we
  cannot use (no acceptable crypto line, bad MIKEY MAC...): 488, except SecureWithFallback with an
  ``RTP/AVP`` offer (best-effort SRTP), which falls back to plain RTP.
* ``Mipt.DefaultSecurityRtpEncryption`` = Null is a debug setting the hardware ignores with SDES; the media
  engine only implements AES_CM_128, so the emulator ignores it with MIKEY too (documented choice).
* Session updates: ``Mipt.SessionUpdateCryptoMode`` decides whether a re-offer/re-answer carries *new keys*
  (Regenerate, factory) or the same ones (Keep). ``Mipt.SrtpCryptoContextBehavior`` ("Crypto Context
  Behavior") decides what happens to the *crypto contexts* (ROC, replay window) whose key did not change:
  Keep goes on, Regenerate restarts them at ROC 0 — :attr:`SecuritySettings.context_behaviour`, passed to
  :meth:`MediaStream.apply`. Two peers that differ there lose audio after a rollover or a resume (Mipt 110).
* MIKEY pre-shared key: the emulator-addition parameter ``Mipt.MikeyPreSharedKey`` (secret; text, or hex
  after ``0x``). Empty: our offers use the NULL KEMAC (key data in clear, RFC 3830 §4.2.3, acceptable only
  because the DGW requires SIP over TLS for SRTP) — also GStreamer's form. Incoming NULL KEMACs are accepted.
  Key use: one crypto session -> the same SRTP master both ways (distinct SSRCs); two crypto sessions ->
  CS 1 protects initiator->responder, CS 2 responder->initiator.
* T.38 is never encrypted: :func:`t38_acceptable` says whether an unsecure T.38 stream may replace/join a
  secure call (SecureWithFallback + ``Mipt.AllowUnsecureT38WithSrtp``). A re-offer with an active
  ``m=image ... udptl t38`` stream that the endpoint's T.38 settings and security allow is answered with our image
  stream (:mod:`~emulator.protocols.media.t38_setup`): :attr:`Answer.fax` holds its plan, the audio stream is
  refused with port 0 and the audio plan stays for the return to voice. An initial offer takes its audio (the
  image stream refused with port 0); an offer with no usable audio nor image is answered 488. Other non-audio
  streams are refused with port 0.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from emulator.protocols.keying.suites import SrtpKeying
from emulator.protocols.media.codec_policy import CodecPolicy, choose_ptime, dtmf_method, policy_from_config
from emulator.protocols.media.codecs import by_encoding, carried
from emulator.protocols.media.srtp import ContextBehaviour
from emulator.protocols.media.t38_setup import FaxPlan, T38Settings, answer_t38, image_stream
from emulator.protocols.sdp import mikey, sdes
from emulator.protocols.sdp.sdp import (
    PCMA,
    PCMU,
    RTP_AVP,
    TELEPHONE_EVENT,
    Codec,
    Direction,
    MediaDescription,
    SdpError,
    SessionDescription,
    answer_direction,
    audio_media,
    negotiate_codecs,
    reject_media,
)

__all__ = [
    "KEY_MANAGEMENT_MIKEY",
    "KEY_MANAGEMENT_SDES",
    "Answer",
    "AnswerState",
    "KeyManagement",
    "LocalMedia",
    "MediaPlan",
    "OfferState",
    "Refusal",
    "RtpSecurityMode",
    "SecuritySettings",
    "SetupRefused",
    "accept_answer",
    "answer_offer",
    "build_offer",
    "parse_psk",
    "t38_acceptable",
]

KEY_MANAGEMENT_SDES = "SDES"
KEY_MANAGEMENT_MIKEY = "MIKEY"
DEFAULT_CODECS: tuple[Codec, ...] = (PCMU, PCMA, TELEPHONE_EVENT)

WRONG_KEY_MANAGEMENT = ("Mipt", 9001)  # SdpTools: "Received the wrong key management protocol..."


class RtpSecurityMode(enum.Enum):
    """``Mipt.DefaultSecurityRtpMode`` / ``EpSpecificSecurity.RtpMode``."""

    UNSECURE = "Unsecure"
    SECURE = "Secure"
    SECURE_WITH_FALLBACK = "SecureWithFallback"


class KeyManagement(enum.Enum):
    """``Mipt.DefaultSecurityKeyManagement`` / ``EpSpecificSecurity.KeyManagement``."""

    MIKEY = "Mikey"
    SDES = "Sdes"

    @property
    def label(self) -> str:
        return KEY_MANAGEMENT_MIKEY if self is KeyManagement.MIKEY else KEY_MANAGEMENT_SDES


def _enum(cls: type[Any], value: object) -> Any:
    text = str(value).strip().lower()
    for m in cls:
        if m.value.lower() == text:
            return m
    raise ValueError(f"unknown {cls.__name__} {value!r}")


def parse_psk(text: str) -> bytes:
    """``Mipt.MikeyPreSharedKey`` -> key octets: ``0x`` + hex, else the UTF-8 octets of the text."""
    t = text.strip()
    if t[:2].lower() == "0x":
        return bytes.fromhex(t[2:])
    return t.encode()


class _ConfigReader(Protocol):
    def get(self, name: str) -> Any: ...

    def rows(self, table_name: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """The Media/Security settings that apply to one endpoint."""

    mode: RtpSecurityMode = RtpSecurityMode.UNSECURE
    key_management: KeyManagement = KeyManagement.MIKEY
    encryption: str = "AesCm128"  # Null is ignored (see module docstring)
    offer_crypto: sdes.OfferCryptoMode = sdes.OfferCryptoMode.AES80_AND_32
    answer_crypto: sdes.AnswerCryptoMode = sdes.AnswerCryptoMode.AS_OFFERED
    context_behaviour: ContextBehaviour = ContextBehaviour.KEEP  # Mipt.SrtpCryptoContextBehavior
    regenerate_keys_on_update: bool = True  # Mipt.SessionUpdateCryptoMode == Regenerate
    allow_unsecure_t38: bool = False
    mikey_psk: bytes = field(default=b"", repr=False)
    # Media/Codecs and the DTMF transport (they shape the same offers and answers): the codecs we offer and
    # accept, in preference order; telephone-event among them when DTMF goes out of band in RTP.
    codecs: tuple[Codec, ...] = DEFAULT_CODECS
    dtmf_transport: str = "OutOfBandUsingRtp"  # Mipt.DefaultDtmfTransportMethod
    codec_policy: CodecPolicy = field(default_factory=CodecPolicy)  # ptimes, payload types, answer shaping
    t38: T38Settings = field(default_factory=T38Settings)  # Mipt.*CodecT38*, SipEp.InteropSdpT38ParametersEncoding

    @property
    def secure(self) -> bool:
        return self.mode is not RtpSecurityMode.UNSECURE

    @classmethod
    def from_config(cls, config: _ConfigReader, endpoint: str | None = None) -> SecuritySettings:
        """Read the settings of `endpoint` (an ``EpAdm`` EpId such as ``Phone-Fax1``; None = Default)."""
        mode: object = config.get("Mipt.DefaultSecurityRtpMode")
        km: object = config.get("Mipt.DefaultSecurityKeyManagement")
        enc: object = config.get("Mipt.DefaultSecurityRtpEncryption")
        if endpoint is not None:
            for row in config.rows("Mipt.EpSpecificSecurity"):
                if str(row.get("EpId")) == endpoint and str(row.get("EnableConfig")) == "Enable":
                    mode, km, enc = (
                        row.get("RtpMode", mode),
                        row.get("KeyManagement", km),
                        row.get("RtpEncryption", enc),
                    )
                    break

        def opt(name: str, default: str) -> str:
            try:
                v = config.get(name)
            except Exception:  # an emulator addition missing from an older catalog
                return default
            return default if v is None else str(v)

        policy = policy_from_config(config, endpoint)
        psk_text = opt("Mipt.MikeyPreSharedKey", "")
        try:
            psk = parse_psk(psk_text)
        except ValueError:
            psk = psk_text.encode()
        return cls(
            mode=_enum(RtpSecurityMode, mode),
            key_management=_enum(KeyManagement, km),
            encryption=str(enc),
            offer_crypto=sdes.OfferCryptoMode.from_parameter(opt("Mipt.SrtpOfferCryptoMode", "Aes80And32")),
            answer_crypto=sdes.AnswerCryptoMode.from_parameter(opt("Mipt.SrtpAnswerCryptoMode", "AsOffered")),
            context_behaviour=ContextBehaviour.from_parameter(opt("Mipt.SrtpCryptoContextBehavior", "Keep")),
            regenerate_keys_on_update=opt("Mipt.SessionUpdateCryptoMode", "Regenerate").lower() == "regenerate",
            allow_unsecure_t38=opt("Mipt.AllowUnsecureT38WithSrtp", "Disable") == "Enable",
            mikey_psk=psk,
            codecs=policy.codecs(),
            dtmf_transport=dtmf_method(config, endpoint),
            codec_policy=policy,
            t38=T38Settings.from_config(config, endpoint),
        )


def codecs_from_config(config: _ConfigReader, endpoint: str | None = None) -> tuple[Codec, ...]:
    """The rtpmap codecs an endpoint offers and accepts, in preference order, telephone-event (RFC 4733) last when
    its DTMF goes out of band in RTP (:mod:`~emulator.protocols.media.codec_policy` has the rules)."""
    return policy_from_config(config, endpoint).codecs()


def t38_acceptable(settings: SecuritySettings, call_is_secure: bool) -> bool:
    """May an unsecure T.38 stream be used in this call? Always when the call is not secure; with SRTP only
    in SecureWithFallback mode with ``Mipt.AllowUnsecureT38WithSrtp`` = Enable (dgw-facts §8)."""
    if not call_is_secure:
        return True
    return settings.mode is RtpSecurityMode.SECURE_WITH_FALLBACK and settings.allow_unsecure_t38


# ------------------------------------------------------------------------------------------ outcomes


@dataclass(frozen=True, slots=True)
class MediaPlan:
    """What the media stream must do after an offer/answer: where to send, which codec, which keys."""

    remote_host: str
    remote_port: int
    remote_rtcp_port: int
    payload_type: int
    codec: str  # the rtpmap encoding name, upper case: "PCMU", "PCMA", "G722", "G726-32", "G729"...
    direction: Direction = Direction.SENDRECV
    ptime: int = 20  # what we send with (codec_policy.choose_ptime)
    secure: bool = False
    key_management: str | None = None  # "SDES" | "MIKEY" | None
    local: SrtpKeying | None = field(default=None, repr=False)  # protects what we send
    remote: SrtpKeying | None = field(default=None, repr=False)  # unprotects what we receive
    tx_roc: int = 0
    rx_roc: int = 0
    telephone_event_pt: int | None = None
    fallback: bool = False  # SecureWithFallback settled on plain RTP
    vad: bool = False  # G.729 Annex B: both sides allow it (our VoiceActivityDetection, their annexb)

    @property
    def suite(self) -> str | None:
        return None if self.local is None else self.local.suite.value


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused offer: answer `status_code` `reason`, and raise `notification` (service, msg_id) if set."""

    status_code: int
    reason: str
    detail: str = ""
    notification: tuple[str, int] | None = None
    fields: dict[str, Any] = field(default_factory=dict)


class SetupRefused(Exception):
    """An answer (or offer) we cannot use; `status_code` is the SIP code that describes it."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.status_code} {refusal.reason}: {refusal.detail}")
        self.refusal = refusal

    @property
    def status_code(self) -> int:
        return self.refusal.status_code


@dataclass(slots=True)
class OfferState:
    """Kept by the offerer between offer and answer, and across re-offers (Keep reuses the keys)."""

    sdp: SessionDescription
    secure: bool
    key_management: KeyManagement | None
    sdes_offered: list[sdes.CryptoAttribute] = field(default_factory=list)
    mikey_message: bytes = b""
    mikey_keys: mikey.MikeyKeys | None = None
    plan: MediaPlan | None = None  # filled by accept_answer


@dataclass(slots=True)
class AnswerState:
    """Kept by the answerer for the next offer of the same call (Keep reuses our key)."""

    plan: MediaPlan
    sdes_answer: sdes.CryptoAttribute | None = None
    mikey_csb: tuple[int, bytes] | None = None  # (CSB ID, RAND) of the accepted I_MESSAGE


@dataclass(frozen=True, slots=True)
class Answer:
    sdp: SessionDescription
    plan: MediaPlan
    state: AnswerState
    fax: FaxPlan | None = None  # the offer switched the call to T.38: the image stream's plan (audio on hold)


@dataclass(frozen=True, slots=True)
class LocalMedia:
    """Our side of an offer or answer: where our stream listens, and the origin of our SDP (RFC 4566 §5.2)."""

    address: str
    port: int
    session_id: int
    session_version: int | None = None  # None: the session id (a first offer or answer)
    codecs: Sequence[Codec] | None = None  # what we offer/accept; None: the endpoint's (SecuritySettings.codecs)
    image_port: int = 0  # our UDPTL port for an image stream (0: none open, T.38 refused)

    def codecs_for(self, settings: SecuritySettings) -> Sequence[Codec]:
        return settings.codecs if self.codecs is None else self.codecs

    def description(self) -> SessionDescription:
        """An empty session description from us (origin and connection), to add the media to."""
        sd = SessionDescription.new(self.address, session_id=self.session_id)
        if self.session_version is not None:
            sd.origin.session_version = self.session_version
        return sd


# ------------------------------------------------------------------------------------------- offer


def build_offer(
    settings: SecuritySettings,
    local: LocalMedia,
    *,
    direction: Direction = Direction.SENDRECV,
    previous: OfferState | None = None,
    secure: bool | None = None,
    now: float,
    rng: Callable[[int], bytes] = os.urandom,
) -> OfferState:
    """Our offer; ``state.sdp`` is the body to send. `previous` (a re-offer in the same call) keeps the keys
    when ``SessionUpdateCryptoMode`` is Keep. `secure=False` forces a plain offer (e.g. SecureWithFallback
    re-trying after a 488/415 to its secure offer)."""
    want_secure = settings.secure if secure is None else secure and settings.secure
    sd = local.description()
    md = audio_media(local.port, local.codecs_for(settings), secure=want_secure, direction=direction,
                     ptime=settings.codec_policy.offer_ptime())
    sd.media.append(md)
    km = settings.key_management if want_secure else None
    state = OfferState(sd, want_secure, km)
    reuse = previous is not None and not settings.regenerate_keys_on_update and previous.key_management is km
    if km is KeyManagement.SDES:
        if reuse and previous is not None and previous.sdes_offered:
            state.sdes_offered = list(previous.sdes_offered)
        else:
            state.sdes_offered = sdes.build_offer(settings.offer_crypto, rng)
        for attr in state.sdes_offered:
            md.add_attribute("crypto", attr.serialize())
    elif km is KeyManagement.MIKEY:
        if reuse and previous is not None and previous.mikey_keys is not None:
            state.mikey_message, state.mikey_keys = previous.mikey_message, previous.mikey_keys
        else:
            suite = settings.offer_crypto.suites[0]
            psk = settings.mikey_psk
            state.mikey_message, state.mikey_keys = mikey.build_initiation(
                suite=suite,
                mode=mikey.KemacMode.PSK if psk else mikey.KemacMode.NULL,
                psk=psk or None,
                now=now,
                rng=rng,
            )
        sd.add_attribute("key-mgmt", mikey.key_mgmt_value(state.mikey_message))
    return state


def _refuse(status: int, reason: str, detail: str, notification: tuple[str, int] | None = None) -> Refusal:
    return Refusal(status, reason, detail, notification)


def _audio(sd: SessionDescription) -> MediaDescription | None:
    for m in sd.media:
        if m.media == "audio" and not m.rejected:
            return m
    return None


def _base_plan(
    sd: SessionDescription,
    md: MediaDescription,
    codecs: Sequence[Codec],
    direction: Direction,
    settings: SecuritySettings | None = None,
    offered_te: int | None = None,
) -> MediaPlan:
    """The plain plan of the peer's audio stream `md`: its address and ports, the first common voice codec we carry,
    telephone-event if common (its payload type: the answer's, or with `offered_te` the one we offered), the
    packetization we send with. SdpError (488) when there is no address or no common voice codec."""
    conn = sd.media_connection(md)
    if conn is None:
        raise SdpError("no connection address for the audio stream", status_code=488)
    audio = [c for c in codecs if (f := by_encoding(c.name)) is not None and carried(f)]
    if not audio:
        raise SdpError("no common voice codec", status_code=488)
    rtcp_port = md.port + 1
    rtcp = md.attribute("rtcp")
    if rtcp:
        head = rtcp.split()[0]
        if head.isdigit() and 0 < int(head) < 65536:
            rtcp_port = int(head)
    te = next((c.payload_type for c in codecs if c.name.lower() == "telephone-event"), None)
    if te is not None and offered_te is not None:
        te = offered_te
    codec = audio[0]
    policy = settings.codec_policy if settings is not None else CodecPolicy()
    entry = policy.entry(codec.name)
    vad = False
    if codec.name.upper() == "G729":
        theirs = (codec.fmtp or "").replace(" ", "").lower()
        vad = entry is not None and entry.vad and "annexb=no" not in theirs
    return MediaPlan(conn.address, md.port, rtcp_port, codec.payload_type, codec.name.upper(), direction,
                     choose_ptime(entry, md.ptime), telephone_event_pt=te, vad=vad)


def _null_connection(sd: SessionDescription, md: MediaDescription) -> bool:
    conn = sd.media_connection(md)
    return conn is not None and conn.is_null


def _key_mgmt_values(sd: SessionDescription, md: MediaDescription) -> list[str]:
    return md.attribute_values("key-mgmt") + sd.attribute_values("key-mgmt")


def _mikey_plan(plan: MediaPlan, keys: mikey.MikeyKeys, *, initiator: bool) -> MediaPlan:
    """`plan` keyed by MIKEY: CS 1 = initiator -> responder, CS 2 = responder -> initiator, each with the ROC its
    CS ID map gives; with a single crypto session both directions share its master key (distinct SSRCs) and
    the reverse starts at 0."""
    i2r = (keys.keying(0), keys.roc(0))
    r2i = (keys.keying(1), keys.roc(1)) if len(keys.masters) > 1 else (keys.keying(0), 0)
    tx, rx = (i2r, r2i) if initiator else (r2i, i2r)
    return replace(plan, secure=True, key_management=KEY_MANAGEMENT_MIKEY, local=tx[0], remote=rx[0],
                   tx_roc=tx[1], rx_roc=rx[1])


# ------------------------------------------------------------------------------------------ answer


def answer_offer(
    settings: SecuritySettings,
    offer: SessionDescription | str | bytes,
    local: LocalMedia,
    *,
    local_direction: Direction = Direction.SENDRECV,
    previous: AnswerState | None = None,
    now: float,
    rng: Callable[[int], bytes] = os.urandom,
) -> Answer | Refusal:
    """Process the peer's offer into our answer, or a refusal (see the module docstring for the rules)."""
    try:
        sd = offer if isinstance(offer, SessionDescription) else SessionDescription.parse(offer)
    except SdpError as exc:
        return _refuse(exc.status_code, "Bad Request" if exc.status_code == 400 else "Not Acceptable Here", str(exc))
    if previous is not None and (img := image_stream(sd)) is not None:
        fax = _answer_image(settings, sd, img, local, previous)
        if fax is not None:
            return fax
    md = _audio(sd)
    if md is None:
        return _refuse(488, "Not Acceptable Here", "no active audio stream in the offer")
    common = settings.codec_policy.answer_order(negotiate_codecs(md, local.codecs_for(settings)))
    direction = answer_direction(sd.media_direction(md), local_direction)
    if _null_connection(sd, md):  # RFC 2543 hold (c=0.0.0.0): nothing can be sent to the peer
        direction = Direction.of(sends=False, receives=direction.receives)
    try:
        plan = _base_plan(sd, md, common, direction, settings)
    except SdpError as exc:
        return _refuse(488, "Not Acceptable Here", exc.reason)
    crypto_lines = md.attribute_values("crypto")
    key_mgmt = _key_mgmt_values(sd, md)
    offered_secure = md.is_secure
    state = AnswerState(plan)
    mode = settings.mode
    aptime = settings.codec_policy.offer_ptime()

    def plain() -> Answer:
        return _answer(sd, md, local, common, direction, aptime, RTP_AVP, state, [])

    if mode is RtpSecurityMode.UNSECURE:
        if offered_secure:
            return _refuse(488, "Not Acceptable Here", "RTP/SAVP offered to an endpoint in Unsecure mode")
        return plain()
    km = settings.key_management
    has_sdes, has_mikey = bool(crypto_lines), bool(key_mgmt)
    if (km is KeyManagement.MIKEY and has_sdes and not has_mikey) or (
        km is KeyManagement.SDES and has_mikey and not has_sdes
    ):
        theirs = "SDES" if has_sdes else "MIKEY"
        return Refusal(
            415,
            "Unsupported Media",
            f"endpoint uses {km.label}, the offer {theirs}",
            WRONG_KEY_MANAGEMENT,
        )
    fallback_ok = mode is RtpSecurityMode.SECURE_WITH_FALLBACK and not offered_secure
    if not has_sdes and not has_mikey:
        if fallback_ok:
            state.plan = replace(plan, fallback=True)
            return plain()
        what = "plain RTP offer" if not offered_secure else "RTP/SAVP offer without keys"
        return _refuse(488, "Not Acceptable Here", f"{what} to an endpoint in {mode.value} mode")
    proto = md.proto if offered_secure else RTP_AVP  # best-effort SRTP (RTP/AVP + keys) answered in kind
    try:
        if km is KeyManagement.SDES:
            mine = None
            if previous is not None and not settings.regenerate_keys_on_update:
                mine = previous.sdes_answer
            sel = sdes.select_answer(crypto_lines, settings.answer_crypto, rng)
            answer_attr, ours = sel.answer, sel.local
            if mine is not None and mine.tag == sel.answer.tag and mine.suite == sel.answer.suite:
                answer_attr, ours = mine, mine.keying()
            state.sdes_answer = answer_attr
            state.plan = replace(plan, secure=True, key_management=KEY_MANAGEMENT_SDES, local=ours, remote=sel.remote)
            crypto = [("crypto", answer_attr.serialize())]
            return _answer(sd, md, local, common, direction, aptime, proto, state, crypto)
        # MIKEY
        message = mikey.parse_key_mgmt(key_mgmt[0])
        keys = mikey.verify_initiation(message, psk=settings.mikey_psk or None, now=now)
        state.mikey_csb = (keys.csb_id, keys.rand)
        state.plan = _mikey_plan(plan, keys, initiator=False)
        session_attrs = []
        if keys.v_flag:
            resp = mikey.build_response(keys, psk=settings.mikey_psk or None, now=now)
            session_attrs.append(("key-mgmt", mikey.key_mgmt_value(resp)))
        return _answer(sd, md, local, common, direction, aptime, proto, state, [], session_attrs)
    except (sdes.SdesError, mikey.MikeyError, ValueError) as exc:
        if fallback_ok:
            state.plan = replace(plan, fallback=True)
            return plain()
        return _refuse(488, "Not Acceptable Here", str(exc))


def _answer_image(settings: SecuritySettings, offer: SessionDescription, img: MediaDescription, local: LocalMedia,
                  previous: AnswerState) -> Answer | None:
    """The answer taking the re-offer's image stream `img` (T.38), or None when the endpoint cannot: T.38 disabled,
    no UDPTL port, or an SRTP call that may not go unsecure (then the audio stream, if any, is answered)."""
    if not local.image_port or not t38_acceptable(settings, previous.plan.secure):
        return None
    taken = answer_t38(settings.t38, offer, img, local.image_port)
    if taken is None:
        return None
    ours, fax = taken
    sd = local.description()
    sd.media.extend(ours if m is img else reject_media(m) for m in offer.media)
    return Answer(sd, previous.plan, previous, fax)


def _answer(
    offer: SessionDescription,
    md: MediaDescription,
    local: LocalMedia,
    common: Sequence[Codec],
    direction: Direction,
    ptime: int | None,
    proto: str,
    state: AnswerState,
    media_attrs: list[tuple[str, str]],
    session_attrs: Sequence[tuple[str, str]] = (),
) -> Answer:
    sd = local.description()
    for name, value in session_attrs:
        sd.add_attribute(name, value)
    for m in offer.media:
        if m is md:
            ours = audio_media(local.port, common, secure=False, ptime=ptime, direction=direction)
            ours.proto = proto
            for name, value in media_attrs:
                ours.add_attribute(name, value)
            sd.media.append(ours)
        else:
            sd.media.append(reject_media(m))
    return Answer(sd, state.plan, state)


def accept_answer(settings: SecuritySettings, state: OfferState, answer: SessionDescription | str | bytes) -> MediaPlan:
    """Offerer side: the peer's answer to `state` -> the plan for our stream. Raises :class:`SetupRefused`
    when the answer is unusable (the call must then be released, e.g. with BYE)."""
    try:
        sd = answer if isinstance(answer, SessionDescription) else SessionDescription.parse(answer)
    except SdpError as exc:
        raise SetupRefused(_refuse(exc.status_code, "Bad Request", str(exc))) from None
    md = _audio(sd)
    if md is None:
        raise SetupRefused(_refuse(488, "Not Acceptable Here", "the answer rejects the audio stream"))
    policy = settings.codec_policy
    if len(sd.media) < len(state.sdp.media) and not policy.allow_less_media:
        raise SetupRefused(_refuse(488, "Not Acceptable Here",
                                   f"the answer has {len(sd.media)} m= lines for the offer's {len(state.sdp.media)} "
                                   "(SipEp.InteropAllowLessMediaInResponse is Disable)"))
    offered = state.sdp.media[0]
    common = [c for c in md.codecs() if any(c.same_format(o) for o in offered.codecs())]
    ours = offered.direction or Direction.SENDRECV
    theirs = sd.media_direction(md)
    sends = ours.sends and theirs.receives and not _null_connection(sd, md)
    direction = Direction.of(sends=sends, receives=ours.receives and theirs.sends)
    offered_te = next((c.payload_type for c in offered.codecs() if c.name.lower() == "telephone-event"), None)
    try:
        plan = _base_plan(sd, md, common, direction, settings, None if policy.dtmf_pt_from_answer else offered_te)
    except SdpError as exc:
        raise SetupRefused(_refuse(488, "Not Acceptable Here", exc.reason)) from None
    crypto_lines = md.attribute_values("crypto")
    key_mgmt = _key_mgmt_values(sd, md)
    if not state.secure:
        state.plan = plan
        return plan
    if not md.is_secure and not crypto_lines:
        if settings.mode is RtpSecurityMode.SECURE_WITH_FALLBACK:
            state.plan = replace(plan, fallback=True)
            return state.plan
        raise SetupRefused(_refuse(488, "Not Acceptable Here", "plain RTP answer to a Secure offer"))
    try:
        if state.key_management is KeyManagement.SDES:
            local, remote = sdes.accept_answer(state.sdes_offered, crypto_lines)
            plan = replace(plan, secure=True, key_management=KEY_MANAGEMENT_SDES, local=local, remote=remote)
        else:
            keys = state.mikey_keys
            assert keys is not None
            if keys.v_flag:
                if not key_mgmt:
                    raise mikey.MikeyParseError("the answer carries no MIKEY verification message")
                mikey.verify_response(mikey.parse_key_mgmt(key_mgmt[0]), keys, psk=settings.mikey_psk or None)
            plan = _mikey_plan(plan, keys, initiator=True)
    except (sdes.SdesError, mikey.MikeyError, ValueError) as exc:
        raise SetupRefused(_refuse(488, "Not Acceptable Here", str(exc))) from None
    state.plan = plan
    return plan

"""The SipEp offer/answer hook: each call's media stream keyed as the endpoint's Media/Security settings say.

:class:`CallMedia` sits between the call layer (``emulator.engines.sipep.calls``, which calls ``offer``,
``answer``, ``answered``, ``check``, ``fallback_offer``, ``offer_withdrawn`` and ``ended``) and the pure
offer/answer logic (:mod:`emulator.protocols.media.session_setup`), and runs one
:class:`~emulator.engines.mipt.stream.MediaStream` per call on the unit's
:class:`~emulator.engines.mipt.engine.MediaEngine`. It also holds each endpoint's phone
(:mod:`emulator.engines.mipt.endpoint_audio`): what it plays and records, and the first RTP sequence number.
Fax (the endpoint's fax machine, the switch to T.38 and its image stream) is :class:`~.fax_calls.FaxCalls`'
(``CallMedia.fax``); the offers and answers it asks for go through here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog

from emulator.engines.mipt.call_tones import CallTones, country_tone_rows
from emulator.engines.mipt.conference import LineAudio
from emulator.engines.mipt.endpoint_audio import EndpointAudio
from emulator.engines.mipt.engine import MediaEngine
from emulator.engines.mipt.fax_calls import FaxCalls
from emulator.engines.mipt.playout import DtmfThresholds
from emulator.engines.mipt.sources import WavRecorder, WavSource
from emulator.engines.mipt.statistics import MiptStatistics
from emulator.engines.mipt.stream import MediaStream
from emulator.engines.mipt.user_gain import UserGain, user_gain
from emulator.engines.sipep.offer_answer import CallControl, CallView, MediaRefused
from emulator.protocols.media import session_setup
from emulator.protocols.media.jitter import JitterSettings, settings_from_config
from emulator.protocols.media.rtcp_xr import StreamReport, VoipMetrics, estimate_quality
from emulator.protocols.media.sdp_interop import OriginStamp, SdpInterop
from emulator.protocols.media.session_setup import (
    AnswerState,
    LocalMedia,
    MediaPlan,
    OfferState,
    Refusal,
    RtpSecurityMode,
    SecuritySettings,
    SetupRefused,
)
from emulator.protocols.media.t38_setup import accept_t38
from emulator.protocols.sdp.sdp import Direction, SdpError, SessionDescription

__all__ = ["CallMedia", "CallMediaState"]

log = structlog.get_logger("dgw.media")


@dataclass(slots=True)
class CallMediaState:
    """What :class:`CallMedia` keeps per call (in ``Call.media``): the stream and the offer/answer state."""

    stream: MediaStream
    settings: SecuritySettings
    session_id: int
    endpoint: str = ""
    version: int = 0
    offer: OfferState | None = None
    answer: AnswerState | None = None
    withdrawable: OfferState | None = None  # the offer before the one in flight (restored if it is refused)
    started: float = 0.0  # unit clock when the media started (the report's START)
    call: CallView | None = None
    fax_offer: bool = False  # our offer in flight is the switch to T.38
    interop: SdpInterop = field(default_factory=SdpInterop)  # SipEp.Interop* SDP knobs, read as the stream opens
    origin: OriginStamp | None = None  # our o= line: session id, version per InteropIncrementSdpVersionWhenModified
    peer_directions: bool | None = None  # the peer's first body had direction attributes (None: none received yet)
    listening_early: bool = False  # receiving before the answer (SipEp.InteropListenForEarlyRtpEnable)


class CallMedia:
    """The SipEp offer/answer hook (``emulator.engines.sipep.offer_answer.OfferAnswer``) over :mod:`session_setup` and
    a :class:`MediaEngine`: secure or plain audio per the endpoint's Media/Security settings.

    ``CallManager(engine, media=CallMedia.for_unit(unit, media_engine))``. A refused offer raises the call
    layer's ``MediaRefused`` with the status (415/488) after raising the refusal's notification (Mipt 9001
    for the wrong key management); a refused answer raises it too (the call layer then sends BYE). The
    call's stream (``call.media.stream``) is where the API sets the source and reads the measure/stats.
    """

    def __init__(
        self,
        engine: MediaEngine,
        settings_for: Callable[[str], SecuritySettings],
        *,
        clock: Callable[[], float] = time.time,
        audio_dir: Path | None = None,
        config: Any = None,
        fax_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.settings_for = settings_for
        self.clock = clock
        self.audio_dir = audio_dir
        self.config = config  # the unit's: jitter buffer, DTMF detection, the statistics tables (None: defaults)
        self.statistics = MiptStatistics(config, engine.notify, clock) if config is not None else None
        self.audio: dict[str, EndpointAudio] = {}  # per endpoint: what its phone plays and records
        self._open: dict[int, CallMediaState] = {}  # call id -> state, while the call has a stream
        self.fax = FaxCalls(fax_dir, config, engine.notify, engine.host)
        self.tones = CallTones(config)  # call progress tones of the unit's country (TelIf)
        self.lines = LineAudio(self.tones, self.audio_of, self.audio_dir)  # conferences, tones to the line alone

    @property
    def control(self) -> CallControl | None:
        """The call layer, for the re-INVITEs and hang-ups the fax machine asks for (wired by the lab)."""
        return self.fax.control

    @control.setter
    def control(self, value: CallControl | None) -> None:
        self.fax.control = value

    @classmethod
    def for_unit(cls, unit: Any, engine: MediaEngine | None = None) -> CallMedia:
        unit.config.provide_rows("TelIf.CountryToneStatus", lambda: country_tone_rows(unit.config))
        return cls(
            engine or MediaEngine.for_unit(unit),
            lambda ep: SecuritySettings.from_config(unit.config, ep),
            clock=unit.clock.now,
            audio_dir=Path(unit.state_dir) / "audio",
            config=unit.config,
            fax_dir=Path(unit.state_dir) / "fax",
        )

    # -- the endpoint's phone (emulator addition; see emulator.engines.mipt.endpoint_audio)

    def play_call_tone(self, call: CallView, tone: str | None) -> bool:
        """Send a call progress tone (``Ringback``, ``Busy``... of the unit's country) in the call's stream; None
        goes back to what the endpoint's phone plays. False when the country has no such tone."""
        stream = self._state(call).stream
        if self.tones.play(call.id, stream, tone):
            return True
        self._apply_source(stream, self.audio_of(call.endpoint))
        return tone is None

    def early_media_on_prack(self, call: CallView) -> bool:
        """``SipEp.InteropActivateEarlyMediaOnProvisionalResponseAck`` Enable: the early stream of `call` (its 183's)
        sends nothing until :meth:`activate_early_media` (our 200 to the PRACK). False (Disable): it already sends."""
        knob = None if self.config is None else \
            self.config.get("SipEp.InteropActivateEarlyMediaOnProvisionalResponseAck")
        if knob != "Enable":
            return False
        stream = self._state(call).stream
        stream.set_direction(Direction.of(sends=False, receives=stream.direction.receives))
        return True

    def activate_early_media(self, call: CallView) -> None:
        """The early media held back for the PRACK starts: the stream takes its negotiated direction again."""
        stream = self._state(call).stream
        if stream.plan is not None:
            stream.set_direction(stream.plan.direction)

    def audio_of(self, endpoint: str) -> EndpointAudio:
        return self.audio.get(endpoint) or EndpointAudio()

    def set_audio(self, endpoint: str, audio: EndpointAudio) -> None:
        """Keep `audio` for the endpoint's next calls and apply it to its calls in progress."""
        self.audio[endpoint] = audio
        for st in self._open.values():
            if st.endpoint == endpoint:
                self._apply_audio(st.stream, audio)

    def _apply_audio(self, stream: MediaStream, audio: EndpointAudio) -> None:
        gain = user_gain(self.config, stream.endpoint)  # the line's TelIf user gains (engines/mipt/user_gain.py)
        self._apply_source(stream, audio, gain)
        if audio.record and self.audio_dir is not None:
            self.audio_dir.mkdir(parents=True, exist_ok=True)
            stream.playout.record(WavRecorder(self._record_path(stream, self.audio_dir / audio.record),
                                              gain.output_factor))  # what the earpiece plays: the output gain
        else:
            stream.record(None)
        stream.impair(audio.impairment())

    def _record_path(self, stream: MediaStream, path: Path) -> Path:
        """The line's oldest call records into the phone's file; another call of the same line at once (call
        waiting, a second call, a conference: engines/sipep/line_calls.py) into ``<name>-call<id>.wav`` beside it,
        so that two streams never write one file (emulator choice)."""
        mine = [st.stream for st in self._open.values() if st.endpoint == stream.endpoint and not st.stream.closed]
        if mine and mine[0] is not stream:
            return path.with_name(f"{path.stem}-call{stream.call}{path.suffix}")
        return path

    def _apply_source(self, stream: MediaStream, audio: EndpointAudio, gain: UserGain | None = None) -> None:
        """What the endpoint's phone plays: its tone, its WAV file, or silence (with the line's input gain)."""
        gain = gain or user_gain(self.config, stream.endpoint)
        if audio.tones:
            stream.play_tone(*audio.tones, level_dbm0=gain.tone_level(audio.level_dbm0))
        elif audio.wav and self.audio_dir is not None:
            stream.set_source(WavSource(self.audio_dir / audio.wav, gain.input_factor))
        else:
            stream.set_source(None)

    def _state(self, call: CallView) -> CallMediaState:
        st = getattr(call, "media", None)
        if isinstance(st, CallMediaState):
            return st
        settings = self.settings_for(call.endpoint)
        stream = self.engine.open_stream(secure=settings.secure, call=call.id, endpoint=call.endpoint)
        interop = SdpInterop.from_config(self.config)
        session_id = interop.session_id(self.clock())
        st = CallMediaState(stream, settings, session_id=session_id, endpoint=call.endpoint, call=call,
                            interop=interop, origin=OriginStamp(interop, session_id))
        self.fax.opened(call, stream, settings)
        call.media = st
        call.media_port = stream.port
        self._open[call.id] = st
        stream.set_jitter_buffer(self._jitter_settings(call.endpoint))
        if self.statistics is not None:
            self.statistics.opened(call.id, call.endpoint, stream.quality)
        audio = self.audio.get(call.endpoint)
        if audio is not None:
            try:
                self._apply_audio(stream, audio)
            except (OSError, ValueError) as exc:  # a WAV file removed or spoilt since it was chosen: silence
                log.warning("endpoint_audio_failed", endpoint=call.endpoint, error=str(exc))
        return st

    def _jitter_settings(self, endpoint: str) -> JitterSettings:
        return JitterSettings() if self.config is None else settings_from_config(self.config, endpoint)

    def _dtmf_thresholds(self, endpoint: str) -> DtmfThresholds:
        """``TelIf.InteropDtmfDetection`` of the endpoint's interface (factory values when it has no row)."""
        rows = [] if self.config is None else self.config.rows("TelIf.InteropDtmfDetection")
        for row in rows:
            if str(row.get("InterfaceId")) == endpoint:
                return DtmfThresholds(int(row.get("PositiveTwist", 6)), int(row.get("NegativeTwist", 9)),
                                      int(row.get("MinPowerThreshold", -30)))
        return DtmfThresholds()

    def _start(self, st: CallMediaState, plan: MediaPlan) -> None:
        first = st.stream.plan is None or st.listening_early
        st.listening_early = False
        if first:
            st.started = self.clock()
        audio = self.audio.get(st.endpoint)
        initial = audio.initial_sequence if audio is not None and first else None
        st.stream.apply(plan, behaviour=st.settings.context_behaviour, initial_sequence=initial)
        # in-band digits are listened for when the call carries no RFC 4733 events (emulator choice, README)
        st.stream.detect_inband_dtmf(self._dtmf_thresholds(st.endpoint) if plan.telephone_event_pt is None else None)
        self.engine.keyed(st.stream)
        if st.call is not None:
            self.fax.audio_again(st.call)
            if first:
                self.fax.media_started(st.call)

    @staticmethod
    def _refused(status: int, reason: str) -> Exception:
        return MediaRefused(status, reason)

    def _next_version(self, st: CallMediaState) -> LocalMedia:
        """Our side of the call's next T.38 offer or answer: its stream's port, the next version of our SDP."""
        st.version += 1
        version = st.origin.next_version() if st.origin is not None else st.session_id + st.version - 1
        return LocalMedia(self.engine.host, st.stream.port, st.session_id, version)

    def _local(self, st: CallMediaState) -> LocalMedia:
        """Our side of the call's next audio offer or answer (its o= version is set by :meth:`_body`)."""
        st.version += 1
        return LocalMedia(self.engine.host, st.stream.port, st.session_id)

    @staticmethod
    def _body(st: CallMediaState, sd: SessionDescription) -> bytes:
        """The bytes of a body we send: a copy of `sd` shaped by the SipEp SDP interop knobs, its o= version
        bumped only as ``InteropIncrementSdpVersionWhenModified`` says (``emulator.protocols.media.sdp_interop``)."""
        out = st.interop.for_peer(st.peer_directions).finish(sd.copy())
        if st.origin is None:
            return bytes(out)
        return st.origin.stamp(out)

    @staticmethod
    def _received(st: CallMediaState, body: bytes) -> SessionDescription | bytes:
        """A body from the peer as the offer/answer rules should read it (direction attributes dropped when
        ``InteropSdpDirectionAttributeEnable`` is Disable); unparsable bodies go on as bytes to be refused there.
        The first one says whether the peer uses direction attributes (for the peer detection knob)."""
        if st.peer_directions is None:
            st.peer_directions = SdpInterop.has_directions(body)
        if st.interop.direction_attribute:
            return body
        try:
            sd = SessionDescription.parse(body)
        except SdpError:
            return body
        st.interop.received_direction(sd)
        return sd

    def _refuse_offer(self, refusal: Refusal) -> Exception:
        """The call layer's MediaRefused for a refused offer, after the refusal's notification (Mipt 9001...). An offer
        whose SDP cannot be read (400 from the rules) is refused as ``SipEp.InteropRejectCodeForUnsupportedSdpOffer``
        says: 415 Unsupported Media Type (factory) or 488 Not Acceptable Here."""
        if refusal.notification is not None and self.engine.notify is not None:
            self.engine.notify(*refusal.notification, **refusal.fields)
        if refusal.status_code == 400:
            code = None if self.config is None else self.config.get("SipEp.InteropRejectCodeForUnsupportedSdpOffer")
            if code == "NotAcceptableHere":
                return self._refused(488, "Not Acceptable Here")
            return self._refused(415, "Unsupported Media Type")
        return self._refused(refusal.status_code, refusal.reason)

    def _new_offer(self, st: CallMediaState, *, hold: bool, secure: bool | None = None, kind: str | None = None
                   ) -> bytes:
        local = self._local(st)
        only = self.fax.offer_codecs(st.settings.codecs, kind)  # the fax machine's data codecs, or None
        if only:
            local = LocalMedia(local.address, local.port, local.session_id, local.session_version, only)
        st.offer = session_setup.build_offer(
            st.settings,
            local,
            direction=st.interop.hold_offer_direction() if hold else Direction.SENDRECV,
            previous=st.offer if secure is None else None,
            secure=secure,
            now=self.clock(),
        )
        return self._body(st, st.offer.sdp)

    def offer(self, call: CallView, hold: bool) -> bytes:
        st = self._state(call)
        kind = self.fax.next_offer(call)
        if kind == "t38":
            sdp = self.fax.t38_offer(call, self._next_version(st).description())
            if sdp is not None:
                st.fax_offer = True
                return sdp
        st.fax_offer = False
        st.stream.rekey_pending = st.stream.plan is not None and st.stream.srtp is not None
        st.withdrawable = st.offer
        first = st.stream.plan is None and st.offer is None
        body = self._new_offer(st, hold=hold, kind=kind)
        if first and not hold:
            self._listen_early(st)
        return body

    def _listen_early(self, st: CallMediaState) -> None:
        """``SipEp.InteropListenForEarlyRtpEnable`` Enable, a plain RTP call we place: the stream receives from the
        INVITE on (RFC 3264 §5.1), before any answer; it sends nothing until the answer gives it a peer."""
        if self.config is None or self.config.get("SipEp.InteropListenForEarlyRtpEnable") != "Enable":
            return
        if st.offer is None or st.offer.secure:
            return
        audio = next((m for m in st.offer.sdp.media if m.media == "audio"), None)
        codec = next(iter(audio.codecs()), None) if audio is not None else None
        if codec is None:
            return
        st.stream.apply(MediaPlan("0.0.0.0", 0, 0, codec.payload_type, codec.name.upper(), Direction.RECVONLY))
        st.listening_early = True

    def offer_withdrawn(self, call: CallView) -> None:
        """Our re-offer was refused (or unanswered): the session stays as the last answer made it."""
        st = self._state(call)
        if st.fax_offer:  # the T.38 switch refused: the audio offer state never changed
            st.fax_offer = False
            self.fax.withdrawn(call)
            return
        st.stream.rekey_pending = False
        if st.withdrawable is not None:
            st.offer = st.withdrawable

    def fallback_offer(self, call: CallView) -> bytes | None:
        """SecureWithFallback: a plain RTP offer to retry with after the peer refused our secure one (415/488);
        None when the endpoint's mode does not fall back (Secure) or the refused offer was already plain."""
        st = self._state(call)
        if st.settings.mode is not RtpSecurityMode.SECURE_WITH_FALLBACK or st.offer is None or not st.offer.secure:
            return None
        return self._new_offer(st, hold=False, secure=False)

    def answered(self, call: CallView, answer: bytes) -> None:
        st = self._state(call)
        if st.fax_offer:  # the answer to our switch to T.38: an image stream, or none (its refusal)
            st.fax_offer = False
            try:
                fax = accept_t38(st.settings.t38, SessionDescription.parse(answer))
            except SdpError:
                fax = None
            if fax is not None:
                self.fax.t38_started(call, fax, "T.38 re-INVITE accepted")
            else:
                self.fax.withdrawn(call)
            return
        if st.offer is None:
            raise self._refused(488, "no offer of ours to answer")
        try:
            plan = session_setup.accept_answer(st.settings, st.offer, self._received(st, answer))
        except SetupRefused as exc:
            raise self._refused(exc.status_code, exc.refusal.detail) from None
        self._start(st, plan)

    def check(self, call: CallView, offer: bytes) -> None:
        """Refuse an incoming offer before the phone rings (415/488 and the notification), as a unit
        does: it never alerts for a call whose media it cannot accept. Opens no stream."""
        local = LocalMedia(self.engine.host, 9, 1)  # discarded: only the verdict matters
        result = session_setup.answer_offer(self.settings_for(call.endpoint), offer, local, now=self.clock())
        if isinstance(result, Refusal):
            raise self._refuse_offer(result)

    @staticmethod
    def _current(st: CallMediaState) -> AnswerState | None:
        """The session as our own offer and its answer made it (a call we placed, before any re-offer of theirs)."""
        plan = st.offer.plan if st.offer is not None else None
        return None if plan is None else AnswerState(plan)

    def answer(self, call: CallView, offer: bytes, hold: bool) -> bytes:
        st = self._state(call)
        local = self._local(st)
        if b"m=image" in offer and st.settings.t38.enabled:  # a switch to T.38 offered: our UDPTL port
            local = replace(self._next_version(st), image_port=self.fax.image_port(call))
        theirs = self._received(st, offer)
        offered = Direction.SENDRECV
        try:
            sd = theirs if isinstance(theirs, SessionDescription) else SessionDescription.parse(theirs)
            audio = next((m for m in sd.media if m.media == "audio" and m.port != 0), None)
            offered = sd.media_direction(audio) if audio is not None else offered
        except SdpError:
            pass  # refused by answer_offer below
        result = session_setup.answer_offer(
            st.settings,
            theirs,
            local,
            local_direction=st.interop.answer_local_direction(offered, hold),
            previous=st.answer or self._current(st),
            now=self.clock(),
        )
        if isinstance(result, Refusal):
            raise self._refuse_offer(result)
        st.answer = result.state
        if result.fax is not None:
            self.fax.t38_started(call, result.fax, "the peer's T.38 re-INVITE")
        else:
            self._start(st, result.plan)
            return self._body(st, result.sdp)
        return bytes(result.sdp)

    # -- DTMF (the call layer's CallManager.dtmf decides between these and SIP INFO)

    def dtmf_method(self, call: CallView) -> str:
        """"info" when ``Mipt.DefaultDtmfTransportMethod`` is OutOfBandUsingSignalingProtocol, else "rtp"."""
        return "info" if self._state(call).settings.dtmf_transport == "OutOfBandUsingSignalingProtocol" else "rtp"

    def send_dtmf(self, call: CallView, digits: str, duration_ms: int, gap_ms: int) -> str:
        """Digits in the call's stream: "rfc4733" when telephone-event was negotiated, else "inband"."""
        return self._state(call).stream.send_dtmf(digits, duration_ms, gap_ms)

    def dtmf_received(self, call: CallView, digit: str) -> None:
        """A digit that arrived by signalling (SIP INFO): counted with the stream's RFC 4733 digits."""
        self._state(call).stream.note_dtmf(digit)

    def quality(self, call: CallView) -> StreamReport | None:
        """The RFC 3611 VoIP metrics of what the call's stream received so far, with R factor and MOS estimated."""
        st = getattr(call, "media", None)
        if not isinstance(st, CallMediaState) or st.stream.plan is None:
            return None
        s = st.stream
        r = s.reception
        jb = s.playout.jb
        expected = max(1, r.expected)
        lost = max(0, r.lost) if r.received else 0
        metrics = VoipMetrics(
            ssrc=r.ssrc,
            loss_rate=lost / expected,
            discard_rate=(jb.late + jb.duplicates) / expected,
            gap_density=lost / expected,
            gap_duration=int((self.clock() - st.started) * 1000),
            round_trip_delay=0 if s.rtcp.rtt is None else round(s.rtcp.rtt * 1000),
            end_system_delay=round(jb.delay_ms + s.ptime),
            jb_nominal=jb.settings.nominal_ms,
            jb_maximum=round(jb.delay_max * 1000),
            jb_abs_max=jb.settings.max_ms,
        )
        estimate_quality(metrics, s.codec)
        remote = s.remote or ("0.0.0.0", 0)
        return StreamReport((self.engine.host, s.port, s.sender.ssrc), (remote[0], remote[1], r.ssrc),
                            s.payload_type, s.codec, s.ptime, st.started, self.clock(), metrics)

    def ended(self, call: CallView) -> None:
        st = getattr(call, "media", None)
        if isinstance(st, CallMediaState):
            self._open.pop(call.id, None)
            self.fax.ended(call)
            if self.statistics is not None:
                self.statistics.closed(call.id, st.stream.quality(), call=call.id, endpoint=call.endpoint)
            st.stream.close()

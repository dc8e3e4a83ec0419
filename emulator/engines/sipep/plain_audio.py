"""The default offer/answer hook of the call layer: plain RTP audio (RFC 3264), no media engine behind it.

:class:`PlainAudio` implements the whole :class:`~emulator.engines.sipep.offer_answer.OfferAnswer` contract:
one PCMU/PCMA audio stream on an even port of its own per call, sendrecv / sendonly (hold) / recvonly (held,
RFC 3264 §8.4). The Mipt engine's ``CallMedia`` replaces it on a real unit; tests use it where media do not
matter. Its bodies follow the SipEp SDP interop knobs of the unit's `config` as ``CallMedia``'s do
(:mod:`emulator.protocols.media.sdp_interop`: hold direction and address, direction attributes and their level,
o= length and version). :func:`sdp_direction` reads the direction of an SDP body's audio stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulator.engines.sipep.offer_answer import CallError, CallView, MediaRefused
from emulator.protocols.media.sdp_interop import OriginStamp, SdpInterop
from emulator.protocols.sdp.sdp import Codec, Direction, SessionDescription, audio_media

__all__ = ["PlainAudio", "sdp_direction"]


def sdp_direction(body: bytes) -> str:
    """The audio stream's direction in an SDP body: sendrecv, sendonly, recvonly or inactive."""
    text = body.decode("utf-8", "replace")
    direction = "sendrecv"
    for line in text.splitlines():
        line = line.strip()
        if line in ("a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv"):
            direction = line[2:]
        if line.startswith("c=") and line.endswith(" 0.0.0.0"):
            direction = "inactive"  # RFC 2543 hold
    return direction


@dataclass
class PlainAudio:
    """A default hook: plain RTP audio, PCMU and PCMA, one even port per call from ``base_port``."""

    host: str
    base_port: int = 5004
    _next: Any = field(default=None, repr=False)
    config: Any = None  # the unit's (SipEp.Interop* SDP knobs); None: factory values
    versions: dict[int, OriginStamp] = field(default_factory=dict)

    def _port(self, call: CallView) -> int:
        if call.media_port == 0:
            call.media_port = self.base_port + 2 * ((call.id - 1) % 500)
        return call.media_port

    def _sdp(self, call: CallView, direction: Direction) -> bytes:
        stamp = self.versions.get(call.id)
        if stamp is None:
            interop = SdpInterop.from_config(self.config)
            stamp = self.versions[call.id] = OriginStamp(interop, call.id)
        sd = SessionDescription.new(self.host, session_id=call.id)
        sd.media.append(audio_media(self._port(call), [Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000)],
                                    secure=False, direction=direction, ptime=20))
        return stamp.stamp(stamp.interop.finish(sd))

    def _interop(self, call: CallView) -> SdpInterop:
        stamp = self.versions.get(call.id)
        return stamp.interop if stamp is not None else SdpInterop.from_config(self.config)

    def offer(self, call: CallView, hold: bool) -> bytes:
        return self._sdp(call, self._interop(call).hold_offer_direction() if hold else Direction.SENDRECV)

    def answer(self, call: CallView, offer: bytes, hold: bool) -> bytes:
        if b"m=audio" not in offer:
            raise MediaRefused(488)
        remote = Direction(sdp_direction(offer))
        local = self._interop(call).answer_local_direction(remote, hold)
        answer = {Direction.SENDONLY: Direction.RECVONLY, Direction.RECVONLY: Direction.SENDONLY,
                  Direction.INACTIVE: Direction.INACTIVE}.get(remote, Direction.SENDRECV)
        return self._sdp(call, Direction.of(sends=answer.sends and local.sends,
                                            receives=answer.receives and local.receives))

    def answered(self, call: CallView, answer: bytes) -> None:
        pass

    def check(self, call: CallView, offer: bytes) -> None:
        pass  # anything with an audio line is answered (see answer)

    def fallback_offer(self, call: CallView) -> bytes | None:
        return None  # plain already: nothing to fall back to

    def offer_withdrawn(self, call: CallView) -> None:
        pass

    def dtmf_method(self, call: CallView) -> str:
        return "inband"

    def send_dtmf(self, call: CallView, digits: str, duration_ms: int, gap_ms: int) -> str:
        raise CallError("this endpoint has no media engine to send digits in band", 409)

    def dtmf_received(self, call: CallView, digit: str) -> None:
        pass

    def quality(self, call: CallView) -> None:
        """No media stream here: nothing measured."""
        return None

    def ended(self, call: CallView) -> None:
        self.versions.pop(call.id, None)

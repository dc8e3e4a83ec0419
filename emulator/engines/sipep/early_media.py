"""Early media (RFC 3261 §13.2.1, RFC 3960's gateway model): audio before the call is answered.

* **A ringing line sends its country's ringback** (TelIf) as early media when its provisionals go reliably (the
  caller listed 100rel and ``SipEp.UasPrackSupport`` is Supported): a 183 Session Progress carrying the SDP answer,
  the ringback played in that session until the line answers; the 200 OK then carries the same answer (RFC 3264:
  one answer per offer). Otherwise the line sends 180 Ringing without SDP, as before. Emulator choice: the
  hardware's rule for sending early media from an FXS line is not documented; this one keeps unreliable
  provisionals without SDP (their answer could be lost, RFC 3262 §1).
* **A caller hears early media**: an 18x with SDP is the answer to our offer; the media starts at once, so the
  caller hears the far end's early audio before the answer (the 2xx with the same SDP changes nothing). With
  ``SipEp.InteropListenForEarlyRtpEnable`` the caller's stream already receives from the INVITE on (CallMedia).
* **When the early media starts** (``SipEp.InteropActivateEarlyMediaOnProvisionalResponseAck``): Disable (factory)
  with the 183; Enable once our 200 OK to its PRACK went out — until then the stream sends nothing (the SDP
  negotiation is the same).

The tones themselves come from the media layer (:class:`TonePlayer`, implemented by
:class:`~emulator.engines.mipt.call_media.CallMedia`); a media hook without tones (plain audio) sends no early
media.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.offer_answer import OfferAnswer
from emulator.protocols.sip.message import Request, Response

__all__ = ["EarlyMedia", "TonePlayer"]


@runtime_checkable
class TonePlayer(Protocol):
    """A media hook that plays call progress tones into a call's stream."""

    def play_call_tone(self, call: Call, tone: str | None) -> bool: ...

    def early_media_on_prack(self, call: Call) -> bool:
        """Whether the early media of `call` waits for its PRACK (its stream then sends nothing until
        :meth:`activate_early_media`)."""
        ...

    def activate_early_media(self, call: Call) -> None: ...


class EarlyMedia:
    """Early media of one unit's calls (see the module docstring)."""

    def __init__(self) -> None:
        self._answered: dict[Call, bytes] = {}  # the early answer: ours (callee) or theirs (caller)
        self._waiting_prack: dict[Call, TonePlayer] = {}  # early media held back until the PRACK

    def ringback(self, media: OfferAnswer, call: Call, request: Request, reliable: bool) -> bytes:
        """As callee: the SDP answer of our 183 with ringback, or b"" (send 180 without SDP). Raises the media's
        refusal like an answer would."""
        if not reliable or not request.body or not isinstance(media, TonePlayer):
            return b""
        sdp = media.answer(call, request.body, call.local_hold)
        self._answered[call] = sdp
        media.play_call_tone(call, "Ringback")
        if media.early_media_on_prack(call):
            self._waiting_prack[call] = media
        return sdp

    def pracked(self, call: Call) -> None:
        """Our 200 OK to the PRACK of `call`'s reliable 183 went out: early media waiting for it starts."""
        media = self._waiting_prack.pop(call, None)
        if media is not None:
            media.activate_early_media(call)

    def answer_of(self, media: OfferAnswer, call: Call) -> bytes | None:
        """As callee answering: the early answer the 200 repeats (the ringback stops), None without one."""
        sdp = self._answered.pop(call, None)
        if sdp is not None and isinstance(media, TonePlayer):
            self.pracked(call)  # answered without a PRACK: the media starts with the 200 anyway
            media.play_call_tone(call, None)
        return sdp

    def provisional(self, media: OfferAnswer, call: Call, response: Response) -> None:
        """As caller: an 18x with SDP (the first) is the answer: start the media now."""
        if not response.body or call in self._answered or b"m=" not in response.body:
            return
        media.answered(call, response.body)
        call.remote_sdp = response.body
        self._answered[call] = response.body

    def already_answered(self, call: Call, body: bytes) -> bool:
        """As caller, at the 2xx: whether its SDP is the early answer already in force."""
        early = self._answered.pop(call, None)
        return early is not None and (not body or body == early)

    def changed(self, call: Call) -> None:
        """A call listener: an ended call's early answer is forgotten."""
        if not call.active:
            self._answered.pop(call, None)
            self._waiting_prack.pop(call, None)

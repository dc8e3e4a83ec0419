"""The contract between the SipEp call layer and the media layer (RFC 3264 offer/answer), and the errors
the call layer raises to faces.

The call layer (:mod:`emulator.engines.sipep.calls`) calls every method of :class:`OfferAnswer`; the Mipt
engine's :class:`~emulator.engines.mipt.call_media.CallMedia` implements it, and
:class:`~emulator.engines.sipep.calls.PlainAudio` is the plain-RTP default. The media layer sees a call
through :class:`CallView` only, so neither side imports the other's classes.
"""

from __future__ import annotations

from typing import Any, Protocol

from emulator.protocols.media.rtcp_xr import StreamReport

__all__ = ["CallControl", "CallError", "CallView", "MediaRefused", "OfferAnswer"]


class CallError(Exception):
    """An endpoint action that the endpoint's state does not allow (HTTP 409 in the API)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class MediaRefused(Exception):
    """Raised by an offer/answer hook: answer the INVITE with ``status`` (488 Not Acceptable Here, 415...)."""

    def __init__(self, status: int = 488, reason: str | None = None) -> None:
        super().__init__(reason or str(status))
        self.status = status
        self.reason = reason


class CallView(Protocol):
    """What the media layer reads and writes of a call."""

    id: int
    endpoint: str
    media_port: int
    media: Any  # the media layer's own state for this call (offer state, stream...)


class CallControl(Protocol):
    """What the media layer may ask of the call layer on its own (the fax machine's switch to T.38 and its
    fallbacks): a re-INVITE carrying the media layer's next offer, and a hang-up."""

    async def renegotiate(self, call: Any) -> int | None:
        """Send a re-INVITE with ``offer(call, hold)``; its final status (None: no answer)."""
        ...

    async def bye(self, call: Any, reason: str = "local hangup") -> None: ...


class OfferAnswer(Protocol):
    """The media layer's side of a call: every method the call layer calls."""

    def offer(self, call: CallView, hold: bool) -> bytes:
        """A new offer (initial INVITE, re-INVITE for hold or resume)."""
        ...

    def answer(self, call: CallView, offer: bytes, hold: bool) -> bytes:
        """The answer to the peer's offer; raises :class:`MediaRefused` to refuse it."""
        ...

    def check(self, call: CallView, offer: bytes) -> None:
        """Refuse an initial offer before the phone rings (raises :class:`MediaRefused`)."""
        ...

    def answered(self, call: CallView, answer: bytes) -> None:
        """The peer's answer to our offer; raises :class:`MediaRefused` when it cannot be used."""
        ...

    def fallback_offer(self, call: CallView) -> bytes | None:
        """A plain offer to retry with after a secure one was refused (SecureWithFallback), or None."""
        ...

    def offer_withdrawn(self, call: CallView) -> None:
        """Our re-offer was refused or not answered: the previous offer state comes back (RFC 3264 §8)."""
        ...

    def dtmf_method(self, call: CallView) -> str:
        """How digits go in this call: ``rfc4733``, ``inband`` or ``info``."""
        ...

    def send_dtmf(self, call: CallView, digits: str, duration_ms: int, gap_ms: int) -> str:
        """Send digits in the media (RFC 4733 or in band); returns the method used."""
        ...

    def dtmf_received(self, call: CallView, digit: str) -> None:
        """A digit arrived by signalling (SIP INFO)."""
        ...

    def quality(self, call: CallView) -> StreamReport | None:
        """The call's media quality so far (RFC 3611 metrics), for a vq-rtcpxr report; None without media."""
        ...

    def ended(self, call: CallView) -> None:
        """The call is over: release its media."""
        ...

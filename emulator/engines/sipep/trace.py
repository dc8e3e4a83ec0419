"""What the SIP transport tells its observers about every message it sends or receives: the SipEp signaling log
(``SipEp.DebugSignalingLog*``) and the HEP mirror (``SipEp.Hep*``), both in :mod:`~emulator.engines.sipep.mirrors`,
are such observers.

A :class:`SipTrace` is the message's bytes as they went on the wire (TLS: in clear, before encryption; a received
request: before ``received``/``rport`` were stamped on its Via), its transport, the unit's address and port and the
peer's. Observers are called only when there are some (:attr:`SipTransport.taps`): no cost otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SipTrace", "Tap"]


@dataclass(frozen=True, slots=True)
class SipTrace:
    direction: str  # "sent" | "received"
    transport: str  # UDP | TCP | TLS
    local: tuple[str, int]
    remote: tuple[str, int]
    data: bytes

    @property
    def src(self) -> tuple[str, int]:
        return self.local if self.direction == "sent" else self.remote

    @property
    def dst(self) -> tuple[str, int]:
        return self.remote if self.direction == "sent" else self.local

    @property
    def call_id(self) -> str:
        """The Call-ID header's value (long or compact form), "" when there is none."""
        head = self.data.split(b"\r\n\r\n", 1)[0]
        for line in head.split(b"\r\n")[1:]:
            name, sep, value = line.partition(b":")
            if sep and name.strip().lower() in (b"call-id", b"i"):
                return value.strip().decode("utf-8", "replace")
        return ""


Tap = Callable[[SipTrace], None]

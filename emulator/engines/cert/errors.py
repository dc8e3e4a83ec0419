"""The errors of a unit's TLS (``Cert`` store users): what an engine catches around a connection.

Kept apart from the policy so that a service may catch them without importing the TLS machinery.
"""

from __future__ import annotations

from firmware_model.cert_validation import Reason, Refusal

__all__ = ["PeerRefused", "TlsError", "TlsHandshakeError", "TlsSetupError"]


class TlsError(Exception):
    """Base of the TLS errors of a unit."""


class TlsSetupError(TlsError):
    """A context cannot be built (no host certificate for the service, nothing to offer...)."""


class TlsHandshakeError(TlsError):
    def __init__(self, peer: str, message: str) -> None:
        super().__init__(f"TLS handshake with {peer} failed: {message}")
        self.peer = peer
        self.message = message


class PeerRefused(TlsError):
    """The peer's certificate was refused; the Cert notification has been raised."""

    def __init__(self, peer: str, refusal: Refusal) -> None:
        super().__init__(f"certificate of {peer} refused ({refusal.reason}): {refusal.detail}")
        self.peer = peer
        self.refusal = refusal

    @property
    def reason(self) -> Reason:
        return self.refusal.reason

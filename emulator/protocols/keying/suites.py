"""The SRTP crypto suites the DGW offers and the keying of one direction, as key management hands it to media.

SDES (RFC 4568 §6.2) names the suites on the wire; MIKEY (RFC 3830 §6.10.1) spells them out as SRTP policy
parameters; both end in an :class:`SrtpKeying` (suite, master key || master salt, MKI) that the SRTP context
of one direction is built from.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SrtpKeying", "SrtpSuite", "generate_master"]

# libsrtp 2 srtp_profile_t values (srtp.h): what pylibsrtp's Policy.SRTP_PROFILE_* constants hold.
_PROFILE_AES128_CM_SHA1_80 = 1
_PROFILE_AES128_CM_SHA1_32 = 2


class SrtpSuite(enum.Enum):
    """The SDES crypto suites of RFC 4568 §6.2 that the DGW offers (AES_CM_128 with a 80- or 32-bit tag)."""

    AES_CM_128_HMAC_SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
    AES_CM_128_HMAC_SHA1_32 = "AES_CM_128_HMAC_SHA1_32"

    @property
    def key_length(self) -> int:
        """Master key length in bytes (RFC 4568 §6.2.1)."""
        return 16

    @property
    def salt_length(self) -> int:
        """Master salt length in bytes (112 bits)."""
        return 14

    @property
    def master_length(self) -> int:
        """Length of key || salt, the SDES inline value."""
        return 30

    @property
    def rtp_tag_length(self) -> int:
        """SRTP authentication tag length in bytes: 80 or 32 bits."""
        return 10 if self is SrtpSuite.AES_CM_128_HMAC_SHA1_80 else 4

    @property
    def rtcp_tag_length(self) -> int:
        """SRTCP authentication tag length: 80 bits for both suites (RFC 4568 §6.2.2)."""
        return 10

    @property
    def profile(self) -> int:
        """The libsrtp (pylibsrtp ``Policy.SRTP_PROFILE_*``) profile number."""
        if self is SrtpSuite.AES_CM_128_HMAC_SHA1_80:
            return _PROFILE_AES128_CM_SHA1_80
        return _PROFILE_AES128_CM_SHA1_32


def generate_master(
    suite: SrtpSuite = SrtpSuite.AES_CM_128_HMAC_SHA1_80, rng: Callable[[int], bytes] = os.urandom
) -> bytes:
    """A fresh master key || master salt for `suite` (RFC 3711 §8.1: random, never reused)."""
    return rng(suite.master_length)


@dataclass(frozen=True, slots=True)
class SrtpKeying:
    """What key management (SDES, MIKEY) hands to media for one direction: suite, key||salt and MKI."""

    suite: SrtpSuite
    master: bytes = field(repr=False)
    mki: bytes = b""  # RFC 3711 §3.1 MKI carried in each packet; empty = none

    def __post_init__(self) -> None:
        if len(self.master) != self.suite.master_length:
            raise ValueError(
                f"{self.suite.value} needs {self.suite.master_length} bytes of key||salt, got {len(self.master)}"
            )
        if len(self.mki) > 128:
            raise ValueError("MKI longer than 128 bytes")

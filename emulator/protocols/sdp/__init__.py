"""SDP and the key management it carries: RFC 4566/3264 (sdp.py), SDES a=crypto (sdes.py, RFC 4568),
MIKEY pre-shared-key and NULL modes in a=key-mgmt (mikey.py, RFC 3830/4567; its messages in mikey_payloads.py).
The SRTP suites and keys they hand to media are ``emulator.protocols.keying``."""

from __future__ import annotations

__all__: list[str] = []

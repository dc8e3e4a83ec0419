"""SRTP keying shared by the key-management protocols (``emulator.protocols.sdp``: SDES, MIKEY) and the media
cores (``emulator.protocols.media``: SRTP contexts, session setup): the crypto suites and the keying one
direction is given (suites.py), and the RFC 3711 key derivation (kdf.py). Both packages import it; it imports
neither, so imports between them run one way (media -> sdp).
"""

from __future__ import annotations

__all__: list[str] = []

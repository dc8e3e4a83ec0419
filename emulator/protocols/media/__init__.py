"""Media engines: RTP/RTCP (RFC 3550), SRTP (RFC 3711, pylibsrtp), G.711, tones and measurements.

Pure cores only here; the asyncio stream glue lives in ``stream.py`` (not part of these modules).
"""

from __future__ import annotations

__all__: list[str] = []

"""Q.850 causes and SIP status codes, both ways, as RFC 3398 maps them (§7.2.4.1 SIP -> cause, §8.2.6.1 cause
-> SIP); ``SipEp.ErrorMappingSipToCause`` / ``ErrorMappingCauseToSip`` rows override single entries. The call
router refuses, and hunts move on, by cause; the SIP side answers with the status the cause maps to, and a
``Reason: Q.850;cause=N`` header (RFC 3326)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "CAUSE_TEXT", "NO_ANSWER", "NO_CHANNEL", "NO_ROUTE", "USER_BUSY", "cause_for_status", "reason_header",
    "status_for_cause",
]

NO_ROUTE = 3  # "No route to destination": a call no route matches (emulator choice; see README)
USER_BUSY = 17
NO_ANSWER = 19  # "User alerting, no answer": a hunt whose last destination rang out its timeout
NO_CHANNEL = 34  # "No circuit/channel available": a line that cannot take a call (locked)

CAUSE_TEXT: dict[int, str] = {
    1: "Unassigned (unallocated) number", 2: "No route to specified transit network", 3: "No route to destination",
    16: "Normal call clearing", 17: "User busy", 18: "No user responding", 19: "User alerting, no answer",
    20: "Subscriber absent", 21: "Call rejected", 22: "Number changed", 27: "Destination out of order",
    28: "Invalid number format (incomplete number)", 31: "Normal, unspecified", 34: "No circuit/channel available",
    38: "Network out of order", 41: "Temporary failure", 42: "Switching equipment congestion",
    47: "Resource unavailable, unspecified", 65: "Bearer capability not implemented",
    88: "Incompatible destination", 102: "Recovery on time expiry", 127: "Interworking, unspecified",
}

# RFC 3398 §8.2.6.1 (causes not listed: 500)
_CAUSE_TO_SIP = {
    1: 404, 2: 404, 3: 404, 4: 404, 5: 404, 17: 486, 18: 408, 19: 480, 20: 480, 21: 403, 22: 410, 23: 410,
    26: 404, 27: 502, 28: 484, 29: 501, 31: 480, 34: 503, 38: 503, 41: 503, 42: 503, 44: 503, 47: 503, 55: 403,
    57: 403, 58: 503, 65: 488, 69: 501, 70: 488, 79: 501, 87: 403, 88: 503, 102: 504, 111: 500, 127: 500,
}
# RFC 3398 §7.2.4.1 (statuses not listed: 31 for other 4xx, 41 for 5xx, 31 for 6xx; 487 is the caller's CANCEL)
_SIP_TO_CAUSE = {
    400: 41, 401: 21, 402: 21, 403: 21, 404: 1, 405: 63, 406: 79, 407: 21, 408: 102, 410: 22, 413: 127,
    414: 127, 415: 79, 416: 127, 420: 127, 421: 127, 423: 127, 480: 18, 481: 41, 482: 25, 483: 25, 484: 28,
    485: 1, 486: 17, 487: 31, 488: 65, 500: 41, 501: 79, 502: 38, 503: 41, 504: 102, 505: 127, 513: 127,
    600: 17, 603: 21, 604: 1, 606: 58,
}


def status_for_cause(cause: int, overrides: Mapping[int, int] | None = None) -> int:
    """The SIP status a cause is answered with (``SipEp.ErrorMappingCauseToSip`` first)."""
    if overrides and cause in overrides:
        return overrides[cause]
    return _CAUSE_TO_SIP.get(cause, 500)


def cause_for_status(status: int, overrides: Mapping[int, int] | None = None) -> int:
    """The cause a SIP final response stands for (``SipEp.ErrorMappingSipToCause`` first)."""
    if overrides and status in overrides:
        return overrides[status]
    if status in _SIP_TO_CAUSE:
        return _SIP_TO_CAUSE[status]
    return 41 if 500 <= status < 600 else 31


def reason_header(cause: int) -> tuple[str, str]:
    """The RFC 3326 Reason header carrying ``cause``."""
    text = CAUSE_TEXT.get(cause)
    return ("Reason", f'Q.850;cause={cause}' + (f';text="{text}"' if text else ""))

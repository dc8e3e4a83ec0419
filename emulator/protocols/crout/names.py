"""Names the call router uses for interfaces, routes, hunts and redirects (MX-CROUT-MIB), and lists of them.

A name is ``<prefix><name>``: ``sip-`` (a SIP gateway), ``fxs-``/``fxo-`` (an analog line), ``isdn-``, ``r2-``,
``e&m-`` (a digital interface), ``route-`` (a label routes hand calls to: a route whose destination is
``route-x`` sends the call back through the routes whose sources name ``route-x``), ``hunt-`` (a hunt group) and
``SipRedirect-`` (a 302 redirect). Prefixes are compared without regard to case; the part after it exactly.
"""

from __future__ import annotations

__all__ = [
    "INTERFACE_PREFIXES", "LINE_PREFIXES", "PREFIXES", "kind_of", "posix_escape", "split_names", "suffix_of",
]

INTERFACE_PREFIXES = ("sip-", "isdn-", "r2-", "e&m-", "fxs-", "fxo-")
LINE_PREFIXES = ("isdn-", "r2-", "e&m-", "fxs-", "fxo-")  # the telephony side (TDM, analog)
PREFIXES = ("route-", "hunt-", "SipRedirect-", *INTERFACE_PREFIXES)


def kind_of(name: str) -> str | None:
    """The prefix of ``name`` as the vendor writes it (``sip-``, ``hunt-``, ``SipRedirect-``...), or None."""
    low = name.lower()
    for prefix in PREFIXES:
        if low.startswith(prefix.lower()) and len(name) > len(prefix):
            return prefix
    return None


def suffix_of(name: str) -> str:
    """``hunt-lines`` -> ``lines`` (the name without its prefix)."""
    prefix = kind_of(name)
    return name[len(prefix):] if prefix else name


def split_names(text: object) -> list[str]:
    """A comma-separated list of names (``"fxs-Phone-Fax1, route-out"``), blanks dropped."""
    return [part.strip() for part in str(text or "").split(",") if part.strip()]


def posix_escape(text: str) -> str:
    """``text`` as a POSIX extended regular expression that matches it literally."""
    return "".join("\\" + ch if ch in ".[]()*+?{}|^$\\" else ch for ch in text)

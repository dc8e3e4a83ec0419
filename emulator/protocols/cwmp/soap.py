"""SOAP 1.1 envelopes of CWMP (TR-069 §3.5 and Annex A): parse what the ACS sends, build what the CPE sends.

Parsing goes through :mod:`defusedxml` only: a DTD, an entity declaration or an external reference makes the
message refused (:class:`SoapError`, answered with HTTP 400 / fault 9003), so entity bombs never expand.
Every CWMP namespace from ``urn:dslforum-org:cwmp-1-0`` to ``cwmp-1-4`` is accepted; the CPE answers in the
namespace the ACS used (TR-069 §3.5: the CPE uses the version the ACS uses). CWMP 1.3 and 1.4 have no namespace
of their own: their schemas (cwmp-1-3.xsd, cwmp-1-4.xsd) keep ``urn:dslforum-org:cwmp-1-2``; an ACS writing
``cwmp-1-3``/``cwmp-1-4`` is therefore answered in ``cwmp-1-2``, the namespace those versions define.

Envelopes are built from text templates (escaped with :func:`xml.sax.saxutils.escape`): they are small and
the hot path of the bootstrap benchmark; ``tests/unit/test_cwmp_soap.py`` validates every kind against the
Broadband Forum schemas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

__all__ = [
    "CWMP_NAMESPACES",
    "DEFAULT_NS",
    "FAULT_STRINGS",
    "MAX_BODY",
    "SOAP_ENC",
    "SOAP_ENV",
    "XSI",
    "CwmpFault",
    "Envelope",
    "SoapError",
    "array",
    "build_envelope",
    "child",
    "child_text",
    "children",
    "esc",
    "fault_body",
    "local",
    "parse_envelope",
]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENC = "http://schemas.xmlsoap.org/soap/encoding/"
XSD = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CWMP_NAMESPACES = tuple(f"urn:dslforum-org:cwmp-1-{i}" for i in range(5))
_ANSWER_NS = {CWMP_NAMESPACES[3]: CWMP_NAMESPACES[2], CWMP_NAMESPACES[4]: CWMP_NAMESPACES[2]}
DEFAULT_NS = "urn:dslforum-org:cwmp-1-0"  # the first Inform speaks 1-0: every ACS understands it
MAX_BODY = 1024 * 1024  # bytes; a larger ACS message is refused (HTTP 413 / fault 9004)


FAULT_STRINGS = {
    9000: "Method not supported",
    9001: "Request denied (no reason specified)",
    9002: "Internal error",
    9003: "Invalid arguments",
    9004: "Resources exceeded",
    9005: "Invalid parameter name",
    9006: "Invalid parameter type",
    9007: "Invalid parameter value",
    9008: "Attempt to set a non-writable parameter",
    9009: "Notification request rejected",
    9010: "File transfer failure",
    9011: "Upload failure",
    9012: "File transfer server authentication failure",
    9013: "Unsupported protocol for file transfer",
    9014: "File transfer failure: unable to join multicast group",
    9015: "File transfer failure: unable to contact file server",
    9016: "File transfer failure: unable to access file",
    9017: "File transfer failure: unable to complete download",
    9018: "File transfer failure: file corrupted",
    9019: "File transfer failure: file authentication failure",
}


class CwmpFault(Exception):
    """A CWMP fault (TR-069 A.5.1, codes 9000-9019). ``set_faults`` are the per-parameter
    SetParameterValuesFault entries (name, code, string) of a 9003 answer to SetParameterValues."""

    def __init__(self, code: int, detail: str = "", set_faults: list[tuple[str, int, str]] | None = None) -> None:
        super().__init__(f"{code} {FAULT_STRINGS.get(code, 'Fault')}: {detail}" if detail else str(code))
        self.code = code
        self.detail = detail
        self.set_faults = set_faults or []

    @property
    def string(self) -> str:
        return FAULT_STRINGS.get(self.code, "Fault")


class SoapError(Exception):
    """A message that is not a usable CWMP envelope. ``http_status`` is what the CPE answers with on its
    own server faces; inside a session the CPE answers fault ``fault`` (9003 Invalid arguments)."""

    def __init__(self, message: str, http_status: int = 400, fault: int = 9003) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.fault = fault


@dataclass(slots=True)
class Envelope:
    """A parsed CWMP envelope: header values and the single body element."""

    ns: str  # the cwmp namespace the peer speaks
    id: str | None  # cwmp:ID header (None when absent)
    hold_requests: bool
    method: str  # local name of the body element: "InformResponse", "GetParameterValues", "Fault"...
    body: Element
    no_more_requests: bool = False
    fault_code: int | None = None  # for a SOAP Fault: the CWMP fault code in detail
    fault_string: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _ns_of(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def children(el: Element, name: str | None = None) -> list[Element]:
    """Child elements by local name (CWMP RPC arguments are unqualified, but ACSs vary)."""
    return [c for c in el if isinstance(c.tag, str) and (name is None or local(c.tag) == name)]


def child(el: Element, name: str) -> Element | None:
    for c in el:
        if isinstance(c.tag, str) and local(c.tag) == name:
            return c
    return None


def child_text(el: Element, name: str, default: str | None = None) -> str | None:
    c = child(el, name)
    if c is None:
        return default
    return (c.text or "").strip() if name != "Value" else (c.text or "")


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true")


def parse_envelope(data: bytes, max_size: int = MAX_BODY) -> Envelope:
    """Parse one SOAP envelope; refuse DTDs, entities, oversized and non-CWMP messages."""
    if len(data) > max_size:
        raise SoapError(f"message of {len(data)} bytes is over {max_size}", http_status=413, fault=9004)
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise SoapError(f"refused XML construct: {type(e).__name__}") from None
    except Exception as e:  # ParseError and friends
        raise SoapError(f"malformed XML: {e}") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapError("not a SOAP 1.1 envelope")
    header = body = None
    for c in root:
        if c.tag == f"{{{SOAP_ENV}}}Header":
            header = c
        elif c.tag == f"{{{SOAP_ENV}}}Body":
            body = c
    if body is None:
        raise SoapError("SOAP envelope without a Body")
    items = children(body)
    if len(items) != 1:
        raise SoapError(f"SOAP Body holds {len(items)} elements, expected 1")
    el = items[0]
    ns = _ns_of(el.tag)
    msg_id: str | None = None
    hold = nmr = False
    if header is not None:
        for h in children(header):
            hns, name = _ns_of(h.tag), local(h.tag)
            if hns in CWMP_NAMESPACES:
                if name == "ID":
                    msg_id = (h.text or "").strip()
                elif name == "HoldRequests":
                    hold = _bool(h.text)
                elif name == "NoMoreRequests":
                    nmr = _bool(h.text)
            elif h.get(f"{{{SOAP_ENV}}}mustUnderstand") in ("1", "true"):
                raise SoapError(f"header {h.tag} must be understood")
    if el.tag == f"{{{SOAP_ENV}}}Fault":
        code: int | None = None
        fstring = ""
        detail = child(el, "detail")
        cf = child(detail, "Fault") if detail is not None else None
        if cf is not None:
            ns = _ns_of(cf.tag) if _ns_of(cf.tag) in CWMP_NAMESPACES else ns
            try:
                code = int(child_text(cf, "FaultCode") or "")
            except ValueError:
                code = None
            fstring = child_text(cf, "FaultString") or ""
        if ns not in CWMP_NAMESPACES:
            ns = DEFAULT_NS
        return Envelope(_ANSWER_NS.get(ns, ns), msg_id, hold, "Fault", el, nmr, code, fstring)
    if ns not in CWMP_NAMESPACES:
        raise SoapError(f"body element {el.tag} is not in a CWMP namespace")
    return Envelope(_ANSWER_NS.get(ns, ns), msg_id, hold, local(el.tag), el, nmr)


def esc(text: object) -> str:
    return escape(str(text))


_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soap-env:Envelope xmlns:soap-env="' + SOAP_ENV + '" xmlns:soap-enc="' + SOAP_ENC + '"'
    ' xmlns:xsd="' + XSD + '" xmlns:xsi="' + XSI + '" xmlns:cwmp="{ns}">'
)


def build_envelope(ns: str, msg_id: str | None, body: str) -> bytes:
    """A complete envelope around ``body`` (XML text using the ``cwmp:`` / ``soap-enc:`` prefixes)."""
    head = _HEAD.format(ns=ns)
    header = (
        f'<soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">{esc(msg_id)}</cwmp:ID></soap-env:Header>'
        if msg_id is not None
        else ""
    )
    return f"{head}{header}<soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>".encode()


def fault_body(code: int, string: str, set_faults: Sequence[tuple[str, int, str]] = ()) -> str:
    """SOAP Fault carrying a CWMP Fault (TR-069 A.5): faultcode Client for 9003-9019 except 9002."""
    who = "Server" if code in (9000, 9001, 9002, 9004) or code < 9000 else "Client"
    spv = "".join(
        f"<SetParameterValuesFault><ParameterName>{esc(n)}</ParameterName><FaultCode>{c}</FaultCode>"
        f"<FaultString>{esc(s)}</FaultString></SetParameterValuesFault>"
        for n, c, s in set_faults
    )
    return (
        f"<soap-env:Fault><faultcode>{who}</faultcode><faultstring>CWMP fault</faultstring><detail>"
        f"<cwmp:Fault><FaultCode>{code}</FaultCode><FaultString>{esc(string)}</FaultString>{spv}</cwmp:Fault>"
        "</detail></soap-env:Fault>"
    )


def array(item_type: str, items: Iterable[str], count: int, tag: str) -> str:
    """A SOAP-encoded array element ``<tag soap-enc:arrayType="type[n]">items</tag>``."""
    return f'<{tag} soap-enc:arrayType="{item_type}[{count}]">{"".join(items)}</{tag}>'

"""CWMP (TR-069) core: SOAP envelopes, the unit's data model, RPC handlers and the CPE session state machine.

Pure code (no sockets, no event loop): ``emulator.faces.cwmp`` is the asyncio glue.
"""

from __future__ import annotations

from emulator.protocols.cwmp.datamodel import OUI, VENDOR, DataModel, ModelState, iso_time
from emulator.protocols.cwmp.rpc import (
    CPE_METHODS,
    Action,
    RpcHandler,
    inform_body,
    transfer_complete_body,
    transfer_fault,
)
from emulator.protocols.cwmp.session import CwmpSession, DigestServer, EventQueue, HttpRequest, SessionEnd, retry_wait
from emulator.protocols.cwmp.soap import (
    CWMP_NAMESPACES,
    DEFAULT_NS,
    MAX_BODY,
    CwmpFault,
    Envelope,
    SoapError,
    build_envelope,
    parse_envelope,
)

__all__ = [
    "CPE_METHODS",
    "CWMP_NAMESPACES",
    "DEFAULT_NS",
    "MAX_BODY",
    "OUI",
    "VENDOR",
    "Action",
    "CwmpFault",
    "CwmpSession",
    "DataModel",
    "DigestServer",
    "Envelope",
    "EventQueue",
    "HttpRequest",
    "ModelState",
    "RpcHandler",
    "SessionEnd",
    "SoapError",
    "build_envelope",
    "inform_body",
    "iso_time",
    "parse_envelope",
    "retry_wait",
    "transfer_complete_body",
    "transfer_fault",
]

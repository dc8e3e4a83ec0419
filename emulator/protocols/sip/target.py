"""Where SIP messages go (RFC 3261 §18, RFC 3581): transports, their default ports, targets, and the
routing rules for responses — pure, shared by server location (:mod:`emulator.protocols.sip.resolve`) and
the transport glue (:mod:`emulator.engines.sipep.transport`), which both sit above this module.

* :data:`DEFAULT_PORTS` — 5060 for UDP and TCP, 5061 for TLS (§19.1.2, §26.2.2).
* :class:`Target` — a transport, a host and a port; for TLS also the name the certificate must carry.
* :func:`stamp_via` — §18.2.1 with RFC 3581 §4: ``received`` / ``rport`` on a received request's top Via.
* :func:`response_target` — §18.2.2 with RFC 3581 §4: where a response goes without its connection.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from emulator.protocols.sip.headers import Via
from emulator.protocols.sip.message import Request, Response

__all__ = ["DEFAULT_PORTS", "TRANSPORTS", "Target", "is_ip", "response_target", "stamp_via"]

TRANSPORTS = ("UDP", "TCP", "TLS")
DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send: transport (``UDP``/``TCP``/``TLS``), host (IP or name) and port."""

    transport: str
    host: str
    port: int
    # TLS: the name the server's certificate must carry when ``host`` is an address found through DNS
    # (the configured server FQDN; "" = ``host``), and the DNS SRV target it was found under
    # (``SipEp.InteropTlsCertificateValidation`` = DnsSrvResponse accepts that one too). Not part of
    # equality: one connection per address, port and transport.
    name: str = field(default="", compare=False)
    srv_name: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"


def is_ip(host: str) -> bool:
    """An IPv4 or IPv6 address (brackets allowed), not a host name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def stamp_via(request: Request, host: str, port: int) -> None:
    """§18.2.1 and RFC 3581 §4: ``received`` when the sent-by host is not the source address,
    ``received`` and ``rport`` when the client asked for rport."""
    top = request.top_via
    params = dict(top.params)
    changed = False
    if top.host.strip("[]") != host:
        params["received"] = host
        changed = True
    if top.has_rport and top.rport is None:
        params["received"] = host
        params["rport"] = str(port)
        changed = True
    if changed:
        request.set_top_via(Via(top.transport, top.host, top.port, params, top.protocol))


def response_target(response: Response) -> Target:
    """§18.2.2 (with RFC 3581 §4): where a response goes when the request's connection is gone (or on UDP)."""
    top = response.top_via
    transport = top.transport.upper()
    host = top.received or top.maddr or top.host
    port = top.rport or top.port or DEFAULT_PORTS.get(transport, 5060)
    return Target(transport, host.strip("[]"), port)

"""Where the SipEp service copies its signaling, for diagnostics — both act at once when their parameters change:

* **Signaling log** (``SipEp.DebugSignalingLogEnable`` / ``DebugSignalingLogHost``, MX-SIPEP-MIB "logging client"):
  every SIP message the unit sends or receives, in order, one syslog datagram each to the host (port 0 or none:
  6000, the MIB's default). The vendor's logging-client wire format is not public: the emulator's (an emulator
  choice) is an RFC 3164 datagram, facility local0, severity debug, tag ``SipEp:``, whose message is a header line
  ``[<n>] <sent|received> <transport> <local> -> <remote>`` (``<-`` for received) then the SIP message with its
  line breaks; ``n`` counts from 1 since the service started, so a reader sees gaps and order. Datagrams may pass
  1024 bytes (RFC 5426 §3.2 allows it; rsyslog takes 8 KB and more).
* **HEP mirror** (emulator additions ``SipEp.HepEnable`` / ``HepCollectorHost`` / ``HepCaptureId``): every message
  as a HEP v3 packet (:mod:`emulator.protocols.hep`) over UDP to the collector (port 0 or none: 9060).

Both send from a UDP socket bound to the unit's address (:class:`~emulator.engines.nlm.SyslogSender`: names
resolved through the loop, an unreachable destination reported once per re-targeting by SipEp 9011).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.engines.nlm import SyslogSender
from emulator.engines.sipep.trace import SipTrace
from emulator.protocols import hep
from firmware_model.config import ChangeEvent
from firmware_model.nlm_rules import FACILITY_LOCAL0, rfc3164_timestamp
from firmware_model.notifications import SYSLOG_SEVERITY
from firmware_model.schema import split_host_port

__all__ = ["MAX_DATAGRAM", "TraceMirror", "hep_mirror", "signaling_log"]

MAX_DATAGRAM = 65000
SIGNALING_LOG_PORT = 6000
HEP_PORT = 9060


class TraceMirror:
    """One copy of the signaling: on while ``enable`` is Enable, to ``host`` (``default_port`` when it has none);
    each message made into one datagram by ``encode``. A :data:`~emulator.engines.sipep.trace.Tap`."""

    def __init__(self, unit: Any, *, what: str, enable: str, host: str, default_port: int,
                 encode: Callable[[SipTrace, int], bytes]) -> None:
        self.unit = unit
        self.what = what
        self.enable_param = enable
        self.host_param = host
        self.default_port = default_port
        self.encode = encode
        self.count = 0
        self.sender = SyslogSender(unit.host, unit.log, self._unreachable)
        self.enabled = False
        self.configure()
        unit.config.subscribe(self._changed)

    def configure(self) -> None:
        c = self.unit.config
        self.enabled = c.get_text(self.enable_param) == "Enable"
        text = c.get_text(self.host_param).strip()
        try:
            host, port = split_host_port(text) if text else ("", None)
        except ValueError:
            host, port = "", None
        host = host.strip("[]")
        target = f"[{host}]" if ":" in host else host
        self.sender.configure(f"{target}:{port or self.default_port}" if host and self.enabled else "")

    def _changed(self, ev: ChangeEvent) -> None:
        if ev.kind == "reset" or ev.param.name in (self.enable_param, self.host_param):
            self.configure()

    def restart(self) -> None:
        """The SipEp service started: the count starts from 1 again."""
        self.count = 0
        self.configure()

    def close(self) -> None:
        self.sender.close()

    def __call__(self, trace: SipTrace) -> None:
        if not self.enabled:
            return
        self.count += 1
        self.sender.send(self.encode(trace, self.count))

    def _unreachable(self, destination: str, reason: str) -> None:
        self.unit.notify("SipEp", 9011, what=self.what, host=destination, reason=reason)


def _log_datagram(unit: Any) -> Callable[[SipTrace, int], bytes]:
    pri = FACILITY_LOCAL0 * 8 + SYSLOG_SEVERITY["Debug"]

    def encode(trace: SipTrace, n: int) -> bytes:
        c = unit.config
        host = "".join(ch if 32 < ord(ch) < 127 else "-" for ch in (c.get_text("Hoc.HostName") or unit.name)) or "-"
        arrow = "->" if trace.direction == "sent" else "<-"
        head = (f"<{pri}>{rfc3164_timestamp(unit.local_time())} {host} SipEp: [{n}] {trace.direction} "
                f"{trace.transport} {trace.local[0]}:{trace.local[1]} {arrow} {trace.remote[0]}:{trace.remote[1]}\n")
        return (head.encode() + trace.data)[:MAX_DATAGRAM]

    return encode


def signaling_log(unit: Any) -> TraceMirror:
    """``SipEp.DebugSignalingLog*``: every message as a syslog datagram (see the module docstring)."""
    return TraceMirror(unit, what="Signaling log", enable="SipEp.DebugSignalingLogEnable",
                       host="SipEp.DebugSignalingLogHost", default_port=SIGNALING_LOG_PORT, encode=_log_datagram(unit))


def hep_mirror(unit: Any) -> TraceMirror:
    """``SipEp.Hep*``: every message as a HEP v3 packet (see the module docstring)."""

    def encode(trace: SipTrace, n: int) -> bytes:
        return hep.encode(hep.HepMessage(
            src=trace.src, dst=trace.dst, transport=trace.transport, time=unit.clock.now(), payload=trace.data,
            capture_id=int(unit.config.get("SipEp.HepCaptureId") or 0), correlation_id=trace.call_id))

    return TraceMirror(unit, what="HEP collector", enable="SipEp.HepEnable", host="SipEp.HepCollectorHost",
                       default_port=HEP_PORT, encode=encode)

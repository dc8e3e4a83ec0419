"""Call quality reports to a collector (RFC 6035): when a call ends, a SIP PUBLISH with ``Event: vq-rtcpxr`` and
an ``application/vq-rtcpxr`` body (:class:`~emulator.protocols.media.rtcp_xr.VqReport`) built from the media's
RFC 3611 metrics (``OfferAnswer.quality``) and the call's SIP identities.

Where: ``SipEp.GwSpecificRtcpXr[gateway].CollectorUri`` when that row's ``EnableConfig`` is Enable, else
``SipEp.DefaultStaticRtcpXrCollectorUri``; empty: no reports. The collector's URI gives the request URI, the To
and the next hop (its host and port, the unit's transport unless the URI names one); the From is the endpoint's
address of record. It listens to the call layer (:attr:`CallManager.listeners`) and sends through the user
agent's public request interface; a 401/407 is not answered (a collector does not challenge in the RFC's
examples — an emulator choice). Interval reports (``...PeriodicReportsInterval``) are not sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_ua import CallUA
from emulator.engines.sipep.calls import CallManager
from emulator.protocols.media.rtcp_xr import StreamReport, VqReport
from emulator.protocols.sip.dialog import build_request, new_call_id, new_tag
from emulator.protocols.sip.headers import Address
from emulator.protocols.sip.target import DEFAULT_PORTS, Target
from emulator.protocols.sip.uri import Uri, UriError

__all__ = ["VqPublisher", "collector_uri", "vq_report"]

EVENT = "vq-rtcpxr"
CONTENT_TYPE = "application/vq-rtcpxr"


def collector_uri(get: Callable[[str], Any], rows: Callable[[str], list[dict[str, Any]]], gateway: str) -> str:
    """The collector of `gateway` (the gateway's own row when enabled, else the default), "" for none."""
    for row in rows("SipEp.GwSpecificRtcpXr"):
        if str(row.get("GatewayName")) == gateway and str(row.get("EnableConfig")) == "Enable":
            return str(row.get("CollectorUri") or "")
    return str(get("SipEp.DefaultStaticRtcpXrCollectorUri") or "")


def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def vq_report(call: Call, media: StreamReport, user_agent: str = "") -> VqReport:
    """The session report (``CallTerm``) of an ended call: the caller is the origin (RFC 6035 §4.2 OrigID)."""
    local, remote = call.local_uri, call.remote_uri
    return VqReport(call.call_id, local, remote, local if call.direction == "outgoing" else remote,
                    media.local_addr, media.remote_addr, _utc(media.start), _utc(media.stop), media.payload_type,
                    media.codec, media.ptime, media.metrics, user_agent=user_agent)


class VqPublisher:
    """Publishes every ended call's report to its gateway's collector (see the module docstring)."""

    def __init__(self, calls: CallManager, ua: CallUA, config: Any, user_agent: Callable[[], str | None]) -> None:
        self.ua = ua
        self.config = config
        self.user_agent = user_agent
        self.sent: list[tuple[str, int | None]] = []  # (Call-ID, final status or None): what was published
        calls.listeners.append(self.on_call)

    def on_call(self, call: Call) -> None:
        if call.active or call.quality is None or not self.ua.running:
            return
        report, call.quality = call.quality, None  # once per call
        uri = collector_uri(self.config.get, self.config.rows, call.gateway)
        if uri:
            self.ua.spawn(self.publish(call, report, uri))

    async def publish(self, call: Call, media: StreamReport, collector: str) -> int | None:
        """One PUBLISH; the collector's final status (None: no answer, or a collector URI that does not parse)."""
        try:
            to = Uri.parse(collector)
        except UriError:
            self.sent.append((call.call_id, None))
            return None
        body = vq_report(call, media, self.user_agent() or "").serialize()
        request = build_request(
            "PUBLISH", to.copy(), from_=Address(Uri.parse(call.local_uri)).with_tag(new_tag()), to=Address(to),
            call_id=new_call_id(self.ua.host), cseq=1, via=self.ua.via(call.gateway),
            headers=[("Event", EVENT), ("Content-Type", CONTENT_TYPE), *self.ua.ua_headers()], body=body)
        transport = "TLS" if to.secure else (to.transport or self.ua.transport_kind).upper()
        target = Target(transport, to.maddr or to.host.strip("[]"), to.port or DEFAULT_PORTS.get(transport, 5060))
        response = await self.ua.request(request, target)
        status = None if response is None else response.status
        self.sent.append((call.call_id, status))
        return status

"""Requests inside a call other than re-INVITE and BYE: DTMF by SIP INFO, and blind transfer (REFER/NOTIFY).

* **INFO** (RFC 6086 legacy use, no Info-Package): DTMF relay bodies are read as digits
  (``application/dtmf-relay`` "Signal=5", ``application/dtmf`` "5" or an event number); anything else is
  accepted unread; one with no body gets 415 or 200 (``SipEp.InteropSipInfoWithoutContentAnswer``).
  Sending: one INFO per digit when the media layer says ``info`` (``Mipt.DefaultDtmfTransportMethod``
  OutOfBandUsingSignalingProtocol), with the body of
  ``SipEp.InteropDtmfTransportMethod`` (``InfoDtmfRelay`` = dtmf-relay, else application/dtmf).
* **Blind transfer** (RFC 3515, RFC 5589): as transferor, REFER the far end to a number and release the
  call (BYE) when its NOTIFY reports the new call answered (a 2xx ``message/sipfrag``, RFC 3420); as
  transferee, answer 202, call the Refer-To target, and report its progress by NOTIFY. A Refer-To carrying a
  ``Replaces`` header (an attended transfer, RFC 5589 §7) puts it in that INVITE (RFC 3891); the transferor's
  side of an attended transfer is :mod:`~emulator.engines.sipep.line_actions`'.

INFO, REFER and NOTIFY share the in-dialog acceptance of the call layer (481 without a dialog, 500 out of
CSeq order, §12.2.2).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.call_ua import CallUA
from emulator.engines.sipep.offer_answer import CallError, OfferAnswer
from emulator.engines.sipep.transport import Source
from emulator.protocols.media.dtmf import EVENTS, parse_digits
from emulator.protocols.sip.dialog import DialogError
from emulator.protocols.sip.headers import parse_address
from emulator.protocols.sip.message import Request, make_response
from emulator.protocols.sip.replaces import Replaces, ReplacesError, invite_target
from emulator.protocols.sip.target import Target
from emulator.protocols.sip.uri import Uri

__all__ = ["CallLayer", "InDialog", "info_dtmf_digit", "info_hook_flash", "sipfrag_status"]


class CallLayer(Protocol):
    """What the in-dialog handlers need of the call layer (:class:`~emulator.engines.sipep.calls.CallManager`)."""

    media: OfferAnswer
    invite_headers: dict[str, list[tuple[str, str]]]  # endpoint -> extra headers of its next INVITE

    def in_dialog(self, request: Request, txn: Any) -> Call | None: ...

    def dialog_target(self, call: Call) -> Target: ...

    def connected(self, endpoint: str) -> Call: ...

    def changed(self, call: Call) -> None: ...

    async def bye(self, call: Call, reason: str = "local hangup") -> None: ...

    async def dial(self, endpoint: str, number: str, *, transferred: bool = False) -> Call: ...


class InDialog:
    """INFO, REFER and NOTIFY of one unit's calls (see the module docstring)."""

    def __init__(self, calls: CallLayer, ua: CallUA) -> None:
        self.calls = calls
        self.ua = ua
        ua.request_handlers.update({"INFO": self.on_info, "REFER": self.on_refer, "NOTIFY": self.on_notify})

    # ------------------------------------------------------------------ DTMF
    def on_info(self, request: Request, txn: Any, source: Source) -> None:
        call = self.calls.in_dialog(request, txn)
        if call is None:
            return
        if not request.body and self.ua.settings.get("SipEp.InteropSipInfoWithoutContentAnswer",
                                                     "UnsupportedMediaType") != "Ok":
            # an INFO with no body: 415 (factory) or 200 (RFC 2976) as SipEp.InteropSipInfoWithoutContentAnswer says
            self.ua.respond(txn, make_response(request, 415, headers=[
                ("Accept", "application/dtmf-relay, application/dtmf"), *self.ua.ua_headers()]))
            return
        ctype = request.headers.get("Content-Type") or ""
        if info_hook_flash(ctype, request.body):
            call.flashes += 1  # the far end's line flashed (its TransmitUsingSignalingProtocol)
            self.calls.changed(call)
        digit = info_dtmf_digit(ctype, request.body)
        if digit is not None:
            self.calls.media.dtmf_received(call, digit)
        self.ua.respond(txn, make_response(request, 200, headers=self.ua.ua_headers()))

    async def dtmf(self, endpoint: str, digits: str, duration_ms: int = 100, gap_ms: int = 60) -> str:
        """Send DTMF in the endpoint's connected call as its Media settings say: "rfc4733" / "inband" (the
        media hook) or "info" (one SIP INFO per digit)."""
        call = self.calls.connected(endpoint)
        media = self.calls.media
        if media.dtmf_method(call) != "info":
            return media.send_dtmf(call, digits, duration_ms, gap_ms)
        relay = str(self.ua.settings.get("SipEp.InteropDtmfTransportMethod", "")) == "InfoDtmfRelay"
        for d in parse_digits(digits):
            if call.dialog is None or not call.active:
                break
            ctype, body = (("application/dtmf-relay", f"Signal={d}\r\nDuration={duration_ms}\r\n") if relay
                           else ("application/dtmf", d))
            request = call.dialog.create_request("INFO", via=self.ua.via(call.gateway), body=body.encode(),
                                                 headers=[("Content-Type", ctype), *self.ua.ua_headers()])
            await self.ua.request(request, self.calls.dialog_target(call), call.gateway)
        return "info"

    # ------------------------------------------------------------------ blind transfer, transferor
    async def transfer(self, endpoint: str, number: str) -> Call:
        """REFER the far end of the endpoint's connected call to ``number``; the call is released (BYE) when
        the far end reports by NOTIFY that the new call was answered (``call.transfer``)."""
        call = self.calls.connected(endpoint)
        dialog = call.dialog
        assert dialog is not None
        gw = self.ua.gateways[call.gateway]
        target = Uri.parse(number) if number.startswith(("sip:", "sips:")) else Uri("sip", user=number, host=gw.domain)
        request = dialog.create_request("REFER", via=self.ua.via(call.gateway), headers=[
            ("Refer-To", f"<{target}>"), ("Referred-By", f"<{call.local_uri}>"), *self.ua.ua_headers()])
        call.transfer = "pending"
        response = await self.ua.request(request, self.calls.dialog_target(call), call.gateway)
        if response is not None:
            dialog.receive_response(request, response)
        if response is None or not 200 <= response.status < 300:
            call.transfer = f"failed {response.status if response is not None else 408}"
            self.calls.changed(call)
            raise CallError(f"the far end refused the transfer ({response.status if response else 'no answer'})")
        self.calls.changed(call)
        return call

    def on_notify(self, request: Request, txn: Any, source: Source) -> None:
        """The transferee's report (RFC 3515 §2.4.5); a final 2xx sipfrag releases our call."""
        call = self.calls.in_dialog(request, txn)
        if call is None:
            return
        self.ua.respond(txn, make_response(request, 200, headers=self.ua.ua_headers()))
        status = sipfrag_status(request.body)
        if status is None or status < 200 or not call.transfer:
            return
        if status < 300:
            call.transfer = "done"
            self.ua.spawn(self.calls.bye(call, "transferred"))
        else:
            call.transfer = f"failed {status}"
        self.calls.changed(call)

    # ------------------------------------------------------------------ blind transfer, transferee
    def on_refer(self, request: Request, txn: Any, source: Source) -> None:
        """202, then call the Refer-To target and report its progress by NOTIFY (message/sipfrag)."""
        refer_to = request.headers.get("Refer-To") or request.headers.get("r")
        try:
            target = parse_address(refer_to.strip(), "Refer-To").uri if refer_to else None
        except ValueError:  # SipParseError
            target = None
        replaces: Replaces | None = None
        if target is not None and target.is_sip:
            try:
                target, replaces = invite_target(target)
            except ReplacesError:
                target = None
        if target is None or not target.is_sip:
            self.ua.respond(txn, make_response(request, 400, "Bad Refer-To"))
            return
        call = self.calls.in_dialog(request, txn)
        if call is None:
            return
        self.ua.respond(txn, make_response(request, 202, headers=self.ua.ua_headers()))
        self.ua.spawn(self._referred_call(call, str(target), replaces))

    async def _referred_call(self, call: Call, target: str, replaces: Replaces | None = None) -> None:
        await self._notify(call, "SIP/2.0 100 Trying", final=False)
        if replaces is not None:
            self.calls.invite_headers[call.endpoint] = [("Replaces", str(replaces))]
        try:
            new = await self.calls.dial(call.endpoint, target, transferred=True)
        except CallError as exc:
            self.calls.invite_headers.pop(call.endpoint, None)
            await self._notify(call, f"SIP/2.0 {exc.status} Not Possible", final=True)
            return
        waits = [asyncio.ensure_future(new.acked.wait()), asyncio.ensure_future(new.done.wait())]
        await asyncio.wait(waits, timeout=64 * self.ua.timers.t1 + 180, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        if new.state is CallState.CONNECTED:
            await self._notify(call, "SIP/2.0 200 OK", final=True)
        else:
            status = new.status if new.status and new.status >= 300 else 487
            await self._notify(call, f"SIP/2.0 {status} {new.end_reason or 'Failed'}", final=True)

    async def _notify(self, call: Call, frag: str, *, final: bool) -> None:
        dialog = call.dialog
        if dialog is None or not call.active:
            return
        try:
            request = dialog.create_request("NOTIFY", via=self.ua.via(call.gateway), body=(frag + "\r\n").encode(),
                                            headers=[("Event", "refer"),
                                                     ("Subscription-State",
                                                      "terminated;reason=noresource" if final else "active;expires=60"),
                                                     ("Content-Type", "message/sipfrag;version=2.0"),
                                                     *self.ua.ua_headers()])
        except DialogError:
            return
        response = await self.ua.request(request, self.calls.dialog_target(call), call.gateway)
        if response is not None and call.dialog is not None:
            call.dialog.receive_response(request, response)


def sipfrag_status(body: bytes) -> int | None:
    """The status code of a message/sipfrag status line (RFC 3420), e.g. b"SIP/2.0 200 OK" -> 200."""
    parts = body.split(b"\r\n", 1)[0].split(b"\n", 1)[0].split()
    if len(parts) >= 2 and parts[0].upper().startswith(b"SIP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def info_hook_flash(content_type: str, body: bytes) -> bool:
    """Whether an INFO carries a hook-flash: ``application/hook-flash`` ``signal=hf``, or ``application/dtmf-relay``
    with ``Signal=16`` (RFC 4733's flash event) or ``Signal=R`` (the forms of
    ``SipEp.InteropInfoDtmfRelayFlashEvent``)."""
    ctype = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if ctype == "application/hook-flash":
        return "signal=hf" in text.lower().replace(" ", "")
    if ctype == "application/dtmf-relay":
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip().lower() == "signal":
                return value.strip().upper() in ("16", "R")
    return False


def info_dtmf_digit(content_type: str, body: bytes) -> str | None:
    """The digit a DTMF-relay INFO carries, or None: ``application/dtmf-relay`` with a ``Signal=`` line, or
    ``application/dtmf`` whose body is the digit (an event number 0-15 is read as its digit too)."""
    ctype = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace").strip()
    if ctype == "application/dtmf-relay":
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip().lower() == "signal":
                text = value.strip()
                break
        else:
            return None
    elif ctype != "application/dtmf":
        return None
    if text.isdigit() and len(text) <= 2 and int(text) < len(EVENTS):
        return EVENTS[int(text)]
    return text.upper() if len(text) == 1 and text.upper() in EVENTS else None

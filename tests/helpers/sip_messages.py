"""Small SIP messages for the unit tests of the SIP extension cores (session timers, PRACK): an INVITE from alice to
bob and a 200 OK to it, with the extra header lines a test gives."""

from __future__ import annotations

from emulator.protocols.sip.message import Request, Response, parse_message

__all__ = ["invite", "ok"]

_DIALOG = ["From: <sip:alice@example.com>;tag=a", "Call-ID: c1"]


def invite(*extra: str, cseq: int = 1) -> Request:
    lines = ["INVITE sip:bob@example.com SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bK1", *_DIALOG,
             "To: <sip:bob@example.com>", f"CSeq: {cseq} INVITE", "Max-Forwards: 70", "Contact: <sip:alice@127.0.0.9>",
             *extra, "Content-Length: 0", "", ""]
    msg = parse_message("\r\n".join(lines).encode())
    assert isinstance(msg, Request)
    return msg


def ok(*extra: str) -> Response:
    lines = ["SIP/2.0 200 OK", "Via: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bK1", *_DIALOG,
             "To: <sip:bob@example.com>;tag=b", "CSeq: 1 INVITE", *extra, "Content-Length: 0", "", ""]
    msg = parse_message("\r\n".join(lines).encode())
    assert isinstance(msg, Response)
    return msg

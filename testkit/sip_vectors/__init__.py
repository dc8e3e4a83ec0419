"""SIP test vectors written for this project (every address is loopback), and the RFC 4475 loader.

The realistic mix below is what a DGW unit exchanges with its proxy: a REGISTER with digest
credentials, an INVITE with SDP through a record-routing proxy, the 200 OK answering it, a BYE.
``bench/sip.py`` measures on the same messages (unfolded, as the peer library cannot unfold).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BYE", "INVITE_SDP", "MIX", "OK_INVITE", "REGISTER", "RFC4475_DIR", "rfc4475", "rfc4475_names"]

RFC4475_DIR = Path(__file__).parent / "rfc4475"


def rfc4475(name: str) -> bytes:
    """The bytes of one RFC 4475 torture message (addresses rewritten to loopback, see its README)."""
    return (RFC4475_DIR / f"{name}.dat").read_bytes()


def rfc4475_names() -> list[str]:
    return sorted(p.stem for p in RFC4475_DIR.glob("*.dat"))


_AUTH = ", ".join([
    'Digest username="5551001"', 'realm="dgw.example.com"', 'nonce="18f3a9c2b1.4be1c0a27d"',
    'uri="sip:dgw.example.com"', 'response="9e7ac1b0f1d34c2e8a5b7c9d0e1f2a3b"', "algorithm=MD5",
    'cnonce="0a4f113b"', "qop=auth", "nc=00000001",
])


def _crlf(text: str, body: str = "") -> bytes:
    head = text.strip("\n").replace("\n", "\r\n")
    body_bytes = body.lstrip("\n").replace("\n", "\r\n").encode()
    head = head.replace("{length}", str(len(body_bytes))).replace("{auth}", _AUTH)
    return head.encode() + b"\r\n\r\n" + body_bytes


REGISTER = _crlf("""
REGISTER sip:dgw.example.com SIP/2.0
Via: SIP/2.0/TLS 127.0.0.1:16000;branch=z9hG4bK7c1a9f3e02d44b7e;rport
Max-Forwards: 70
From: <sip:5551001@dgw.example.com>;tag=3f9a41c2
To: <sip:5551001@dgw.example.com>
Call-ID: 6f1e0c2a9b7d4e8f@127.0.0.1
CSeq: 2 REGISTER
Contact: <sip:5551001@127.0.0.1:16000;transport=tls>;expires=3600
Authorization: {auth}
Expires: 3600
Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY, REFER, UPDATE
User-Agent: Mediatrix 4102 DGW 48.0.1234
Content-Length: 0
""")

_SDP = """
v=0
o=- 1749137582 1749137582 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 5004 RTP/SAVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
a=ptime:20
a=sendrecv
"""

INVITE_SDP = _crlf("""
INVITE sip:5551002@dgw.example.com SIP/2.0
Via: SIP/2.0/TLS 127.0.0.1:16000;branch=z9hG4bK4b2e8d0c11f3a9e7;rport
Max-Forwards: 70
Route: <sip:127.0.0.1:5061;transport=tls;lr>
From: "Port 1" <sip:5551001@dgw.example.com>;tag=a83b2c10
To: <sip:5551002@dgw.example.com>
Call-ID: 2d9c4f7e1a3b4c5d@127.0.0.1
CSeq: 101 INVITE
Contact: <sip:5551001@127.0.0.1:16000;transport=tls>
Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY, REFER, UPDATE
Supported: replaces, timer
Session-Expires: 1800
User-Agent: Mediatrix 4102 DGW 48.0.1234
Content-Type: application/sdp
Content-Length: {length}
""", _SDP)

OK_INVITE = _crlf("""
SIP/2.0 200 OK
Via: SIP/2.0/TLS 127.0.0.1:16000;branch=z9hG4bK4b2e8d0c11f3a9e7;rport=16000;received=127.0.0.1
Record-Route: <sip:127.0.0.1:5061;transport=tls;lr;r2=on>, <sip:127.0.0.1:5062;transport=tls;lr>
From: "Port 1" <sip:5551001@dgw.example.com>;tag=a83b2c10
To: <sip:5551002@dgw.example.com>;tag=77c0e5a1
Call-ID: 2d9c4f7e1a3b4c5d@127.0.0.1
CSeq: 101 INVITE
Contact: <sip:5551002@127.0.0.1:16002;transport=tls>
Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY, REFER, UPDATE
Supported: replaces, timer
Server: Mediatrix 4102 DGW 48.0.1234
Content-Type: application/sdp
Content-Length: {length}
""", _SDP.replace("5004", "5006"))

BYE = _crlf("""
BYE sip:5551002@127.0.0.1:16002;transport=tls SIP/2.0
Via: SIP/2.0/TLS 127.0.0.1:16000;branch=z9hG4bK09ad3c7e5b1f2a48;rport
Max-Forwards: 70
Route: <sip:127.0.0.1:5062;transport=tls;lr>, <sip:127.0.0.1:5061;transport=tls;lr;r2=on>
From: "Port 1" <sip:5551001@dgw.example.com>;tag=a83b2c10
To: <sip:5551002@dgw.example.com>;tag=77c0e5a1
Call-ID: 2d9c4f7e1a3b4c5d@127.0.0.1
CSeq: 102 BYE
User-Agent: Mediatrix 4102 DGW 48.0.1234
Content-Length: 0
""")

MIX = (REGISTER, INVITE_SDP, OK_INVITE, BYE)

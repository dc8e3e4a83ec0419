"""Sans-IO SIP (RFC 3261): messages, URIs, headers, digest, transactions, dialogs, validation.

No sockets and no asyncio here: every object is fed bytes or messages and the current time and
returns messages to send, events and its next deadline (see ``DESIGN.md``). ``transport.py`` is the
asyncio glue.
"""

from __future__ import annotations

from emulator.protocols.sip.errors import (
    HeaderError,
    MessageTooLarge,
    SipError,
    SipParseError,
    UriError,
    VersionNotSupported,
)
from emulator.protocols.sip.framing import StreamParser
from emulator.protocols.sip.headers import Address, Challenge, Credentials, CSeq, MediaType, Via
from emulator.protocols.sip.message import (
    MAX_MESSAGE_SIZE,
    Headers,
    KeepAlive,
    Message,
    Request,
    Response,
    make_response,
    parse_datagram,
    parse_message,
)
from emulator.protocols.sip.uri import Uri

__all__ = [
    "MAX_MESSAGE_SIZE",
    "Address",
    "CSeq",
    "Challenge",
    "Credentials",
    "HeaderError",
    "Headers",
    "KeepAlive",
    "MediaType",
    "Message",
    "MessageTooLarge",
    "Request",
    "Response",
    "SipError",
    "SipParseError",
    "StreamParser",
    "Uri",
    "UriError",
    "VersionNotSupported",
    "Via",
    "make_response",
    "parse_datagram",
    "parse_message",
]

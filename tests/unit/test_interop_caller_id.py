"""The caller ID a line presents for an incoming INVITE (emulator.protocols.sip.caller_id): identity from
P-Asserted-Identity or From, privacy (Privacy header, anonymous From), Pots.FxsCallerIdPrivateCallingPartyName,
Pots.CallerIdCustomization and the line's activation."""

from __future__ import annotations

from emulator.protocols.sip.caller_id import caller_id
from emulator.protocols.sip.message import Request, parse_message


def invite(*headers: str, from_: str = '"Alice Smith" <sip:5551234@example.com>;tag=a') -> Request:
    text = "\r\n".join(["INVITE sip:bob@127.0.0.2 SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1",
                        f"From: {from_}", "To: <sip:bob@127.0.0.2>", "Call-ID: c1", "CSeq: 1 INVITE",
                        "Max-Forwards: 70", *headers, "Content-Length: 0", "", ""])
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def test_from_or_asserted_identity() -> None:
    cid = caller_id(invite())
    assert cid is not None and (cid.number, cid.name, cid.source, cid.presentation) == (
        "5551234", "Alice Smith", "From", "Allowed")
    cid = caller_id(invite('P-Asserted-Identity: "Alice" <tel:+15550001;phone-context=x>'))
    assert cid is not None and (cid.number, cid.name, cid.source) == ("+15550001", "Alice", "P-Asserted-Identity")


def test_privacy_and_the_private_name() -> None:
    for request in (invite("Privacy: id"), invite(from_='"x" <sip:anonymous@anonymous.invalid>;tag=a')):
        cid = caller_id(request)
        assert cid is not None and (cid.number, cid.name, cid.presentation) == ("", "Anonymous", "Restricted")
    cid = caller_id(invite("Privacy: id"), private_name="P")
    assert cid is not None and (cid.name, cid.absence_reason) == ("", "Private")
    cid = caller_id(invite("Privacy: none"), private_name="Hidden")
    assert cid is not None and cid.presentation == "Allowed"


def test_dtmf_method_carries_no_name_and_activation_off_presents_nothing() -> None:
    cid = caller_id(invite(), customization="EtsiDtmf")
    assert cid is not None and (cid.number, cid.name, cid.method) == ("5551234", "", "Dtmf")
    assert caller_id(invite(), activation="Disable") is None

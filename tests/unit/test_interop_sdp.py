"""The SDP interop knobs of SipEp (emulator.protocols.media.sdp_interop) on bodies built by session_setup's rules:
direction attributes and their level, the hold address and direction, the o= session id length and version."""

from __future__ import annotations

from emulator.protocols.media.sdp_interop import OriginStamp, SdpInterop
from emulator.protocols.sdp.sdp import Codec, Direction, SessionDescription, audio_media

PCMU = Codec(0, "PCMU", 8000)


def body(direction: Direction, address: str = "127.0.0.5") -> SessionDescription:
    sd = SessionDescription.new(address, session_id=1)
    sd.media.append(audio_media(5004, [PCMU], secure=False, direction=direction))
    return sd


def lines(sd: SessionDescription) -> list[str]:
    return sd.serialize().splitlines()


def test_factory_puts_one_direction_at_session_level_and_holds_with_the_null_address() -> None:
    interop = SdpInterop()
    out = lines(interop.finish(body(Direction.SENDRECV)))
    assert out.index("a=sendrecv") < next(i for i, x in enumerate(out) if x.startswith("m="))
    assert out.count("a=sendrecv") == 1 and "c=IN IP4 127.0.0.5" in out
    held = lines(interop.finish(body(interop.hold_offer_direction())))
    assert "a=inactive" in held and "c=IN IP4 0.0.0.0" in held and "c=IN IP4 127.0.0.5" not in held


def test_each_knob_changes_the_body() -> None:
    both = lines(SdpInterop(both_levels=True).finish(body(Direction.SENDRECV)))
    assert both.count("a=sendrecv") == 2
    none = lines(SdpInterop(direction_attribute=False).finish(body(Direction.SENDONLY)))
    assert not [x for x in none if x[2:] in {"sendrecv", "sendonly", "recvonly", "inactive"}]
    assert "c=IN IP4 0.0.0.0" in none  # RFC 2543 hold
    media = SdpInterop(hold_address=False, hold_inactive=False)
    held = lines(media.finish(body(media.hold_offer_direction())))
    assert "a=sendonly" in held and "c=IN IP4 127.0.0.5" in held
    assert SdpInterop(hold_answer_inactive=True).answer_local_direction(Direction.SENDONLY, False) is Direction.INACTIVE
    assert SdpInterop().answer_local_direction(Direction.SENDONLY, False) is Direction.SENDRECV


def test_session_id_length_and_version_increments() -> None:
    now = 1_800_000_000.25
    assert len(str(SdpInterop(max_32_bits=True).session_id(now))) <= 10
    assert len(str(SdpInterop().session_id(now))) > 10
    stamp = OriginStamp(SdpInterop(), 42)
    first = stamp.stamp(body(Direction.SENDRECV))
    again = stamp.stamp(body(Direction.SENDRECV))
    assert b"o=- 42 42 " in first and b"o=- 42 42 " in again  # unchanged body: same version
    assert b"o=- 42 43 " in stamp.stamp(body(Direction.SENDONLY))
    always = OriginStamp(SdpInterop(increment_when_modified=False), 42)
    always.stamp(body(Direction.SENDRECV))
    assert b"o=- 42 43 " in always.stamp(body(Direction.SENDRECV))

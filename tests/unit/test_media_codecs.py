"""Media/Codecs: every carried codec round-trips a tone (kept libraries: libbcg729, PyPI G722, libspandsp), and the
codec settings shape offers and answers (enables, priorities, payload types, ptime, SipEp answer negotiation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.protocols.media import bcg729, codecs, spandsp
from emulator.protocols.media.codec_policy import CodecEntry, CodecPolicy, Negotiation, choose_ptime, policy_from_config
from emulator.protocols.media.session_setup import (
    LocalMedia,
    SecuritySettings,
    SetupRefused,
    accept_answer,
    answer_offer,
    build_offer,
)
from emulator.protocols.media.tones import ToneGenerator, measure
from emulator.protocols.sdp.sdp import SessionDescription
from tests.helpers.units import configured

TONE = ToneGenerator((1000.0,), -10.0)


@pytest.mark.parametrize("encoding", ["PCMU", "PCMA", "G722", "G726-16", "G726-24", "G726-32", "G726-40", "G729",
                                      "CLEARMODE"])
def test_every_carried_codec_round_trips_a_tone(encoding: str) -> None:
    fmt = codecs.by_encoding(encoding)
    assert fmt is not None and codecs.carried(fmt)
    pcm = ToneGenerator((1000.0,), -10.0).read(8000)
    enc, dec = codecs.encoder_for(fmt), codecs.decoder_for(fmt)
    payload = b"".join(enc.encode(pcm[i : i + 320]) for i in range(0, len(pcm), 320))  # 20 ms packets
    assert len(payload) == fmt.octets(1000)
    out = b"".join(dec.decode(payload[i : i + fmt.octets(20)]) for i in range(0, len(payload), fmt.octets(20)))
    m = measure(out[-3200:])
    assert m.frequency is not None and abs(m.frequency - 1000.0) < 5 and abs(m.level_dbm0 + 10.0) < 1.5, m
    assert m.tone_ratio > 0.9, m


def test_g723_is_never_carried() -> None:
    fmt = codecs.by_encoding("G723")
    assert fmt is not None and not codecs.carried(fmt)
    with pytest.raises(ValueError):
        codecs.encoder_for(fmt)


def test_g729_annex_b_vad_sends_sid_then_nothing_and_decodes_sid() -> None:
    enc = bcg729.G729Encoder(vad=True)
    sizes = [len(enc.encode(bytes(160))) for _ in range(10)]
    assert sizes[0] == bcg729.SID_BYTES and set(sizes[1:]) == {0}, sizes
    dec = bcg729.G729Decoder()
    assert len(dec.decode(b"\x00" * 12)) == 2 * 160  # a voice frame followed by a SID frame (RFC 3551 §4.5.6)
    assert len(dec.conceal(2)) == 2 * 160
    voice = bcg729.G729Encoder(vad=False)
    assert len(voice.encode(bytes(160))) == bcg729.FRAME_BYTES  # without VAD silence is voice frames


def test_g726_uses_the_aal2_octet_order() -> None:
    # 4-bit codes c0, c1: the AAL2 (I.366.2) order puts c0 in the high nibble; RFC 3551 in the low one
    left = spandsp.G726Codec(32000, spandsp.PACKING_LEFT).encode(TONE.read(160))
    right = spandsp.G726Codec(32000, spandsp.PACKING_RIGHT).encode(ToneGenerator((1000.0,), -10.0).read(160))
    assert left == bytes(((b & 0x0F) << 4) | (b >> 4) for b in right)
    assert codecs.encoder_for(codecs.by_stem("G726r32kbps")).encode(ToneGenerator((1000.0,), -10.0).read(160)) == left


def test_dtmf_and_connect_tone_detectors() -> None:
    det = spandsp.DtmfDetector()
    pcm = ToneGenerator((770.0, 1336.0), -7.0).read(800) + bytes(1600)
    assert det.feed(pcm) == "5"
    assert spandsp.DtmfDetector(threshold_dbm0=-10).feed(ToneGenerator((770.0, 1336.0), -25.0).read(800)) == ""
    cng = spandsp.ConnectToneDetector(spandsp.TONE_FAX_CNG)
    assert cng.feed(ToneGenerator((1100.0,), -10.0).read(4000)) == spandsp.TONE_FAX_CNG
    ced = spandsp.ConnectToneDetector(spandsp.TONE_FAX_CED_OR_PREAMBLE)
    assert ced.feed(ToneGenerator((2100.0,), -10.0).read(8000)) == spandsp.TONE_ANS


# ------------------------------------------------------------------------------------------ offer/answer


_config = configured


def _offer_of(settings: SecuritySettings) -> SessionDescription:
    return build_offer(settings, LocalMedia("127.0.0.1", 5004, 1), now=0.0).sdp


def test_priorities_payload_types_and_fmtp_shape_the_offer(tmp_path: Path) -> None:
    c = _config(tmp_path, Mipt__DefaultCodecG726r32kbpsVoiceEnable="Enable",
                Mipt__DefaultCodecG726r32kbpsVoicePriority=7, Mipt__DefaultCodecG726r32kbpsPayloadType=111,
                Mipt__DefaultCodecG729VoicePriority=9, Mipt__DefaultCodecG729VoiceActivityDetection="Disable",
                Mipt__DefaultCodecG723VoicePriority=10, Mipt__DefaultDtmfTransportMethod="OutOfBandUsingRtp")
    sd = _offer_of(SecuritySettings.from_config(c, "Phone-Fax1"))
    text = sd.serialize()
    assert sd.media[0].formats == ["18", "111", "0", "8", "9", "96"], text  # G.723 (priority 10) never offered
    assert "a=rtpmap:111 G726-32/8000" in text and "a=fmtp:18 annexb=no" in text, text
    assert "a=ptime" not in text  # SipEp.InteropSdpPTimeAttribute Disabled (factory)
    c.set("SipEp.InteropSdpPTimeAttribute", "DeclarativeConfigured")
    c.set("SipEp.InteropSdpPTimeAttributeValue", 40)
    assert "a=ptime:40" in _offer_of(SecuritySettings.from_config(c, "Phone-Fax1")).serialize()


def _peer_offer(formats: str, rtpmaps: str = "", ptime: str = "") -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n"
            f"m=audio 7000 RTP/AVP {formats}\r\n{rtpmaps}{ptime}")


@pytest.mark.parametrize(("mode", "formats"), [
    (Negotiation.ALL_LOCAL, ["18", "0", "9"]),
    (Negotiation.FIRST_LOCAL, ["18"]),
    (Negotiation.ALL_PEER, ["0", "9", "18"]),
    (Negotiation.FIRST_PEER, ["0"]),
])
def test_answer_codec_negotiation(tmp_path: Path, mode: str, formats: list[str]) -> None:
    c = _config(tmp_path, SipEp__AnswerCodecNegotiation=mode, Mipt__DefaultCodecG729VoicePriority=5,
                Mipt__DefaultCodecG711AlawVoiceEnable="Disable")
    ans = answer_offer(SecuritySettings.from_config(c, "Phone-Fax1"), _peer_offer("0 9 18 3"),
                       LocalMedia("127.0.0.2", 5004, 1), now=0.0)
    assert not hasattr(ans, "status_code"), ans
    assert ans.sdp.media[0].formats == formats  # type: ignore[union-attr]
    assert ans.plan.payload_type == int(formats[0])  # type: ignore[union-attr]


def test_ptime_follows_the_peer_within_the_codec_range(tmp_path: Path) -> None:
    g711 = CodecEntry(codecs.by_stem("G711Mulaw"), 0, 10, 30)
    assert choose_ptime(g711, None) == 20 and choose_ptime(g711, 40) == 30 and choose_ptime(g711, 5) == 10
    g729 = CodecEntry(codecs.by_stem("G729"), 18, 30, 80)
    assert choose_ptime(g729, 20) == 30 and choose_ptime(g729, 45) == 40
    c = _config(tmp_path)  # factory G.711: MinPTime = MaxPTime = 30
    ans = answer_offer(SecuritySettings.from_config(c, "Phone-Fax1"), _peer_offer("0", ptime="a=ptime:20\r\n"),
                       LocalMedia("127.0.0.2", 5004, 1), now=0.0)
    assert ans.plan.ptime == 30  # type: ignore[union-attr]
    bad = answer_offer(SecuritySettings(), _peer_offer("0", ptime="a=ptime:abc\r\n"),
                       LocalMedia("127.0.0.2", 5004, 1), now=0.0)
    assert bad.plan.ptime == 20  # type: ignore[union-attr]  # a malformed ptime is ignored


def test_unknown_payload_types_only_get_488(tmp_path: Path) -> None:
    refused = answer_offer(SecuritySettings(), _peer_offer("3 4 99", "a=rtpmap:99 X-WEIRD/8000\r\n"),
                           LocalMedia("127.0.0.2", 5004, 1), now=0.0)
    assert getattr(refused, "status_code", None) == 488


def test_dtmf_payload_type_found_in_answer_and_less_media(tmp_path: Path) -> None:
    settings = SecuritySettings(codec_policy=CodecPolicy(telephone_event_pt=101))
    state = build_offer(settings, LocalMedia("127.0.0.1", 5004, 1), now=0.0)
    answer = _peer_offer("0 100", "a=rtpmap:100 telephone-event/8000\r\n").replace("o=- 1 1", "o=- 2 2")
    assert accept_answer(settings, state, answer).telephone_event_pt == 101  # factory: the payload type we offered
    yes = SecuritySettings(codec_policy=CodecPolicy(telephone_event_pt=101, dtmf_pt_from_answer=True))
    state = build_offer(yes, LocalMedia("127.0.0.1", 5004, 1), now=0.0)
    assert accept_answer(yes, state, answer).telephone_event_pt == 100
    # an offer of two streams answered with one: refused unless InteropAllowLessMediaInResponse
    two = build_offer(settings, LocalMedia("127.0.0.1", 5004, 1), now=0.0)
    two.sdp.media.append(SessionDescription.parse(_peer_offer("0")).media[0])
    with pytest.raises(SetupRefused):
        accept_answer(settings, two, answer)
    less = SecuritySettings(codec_policy=CodecPolicy(allow_less_media=True))
    assert accept_answer(less, two, answer).codec == "PCMU"


def test_endpoint_specific_codec_rows(tmp_path: Path) -> None:
    c = _config(tmp_path)
    c.set("Mipt.EpSpecificCodec[Phone-Fax2].EnableConfig", "Enable")
    c.set("Mipt.EpSpecificCodecG729[Phone-Fax2].VoicePriority", 8)
    c.set("Mipt.EpSpecificCodecG729[Phone-Fax2].MinPTime", 20)
    p = policy_from_config(c, "Phone-Fax2")
    assert p.voice[0].fmt.stem == "G729" and (p.voice[0].min_ptime, p.voice[0].max_ptime) == (20, 80)
    assert policy_from_config(c, "Phone-Fax1").voice[0].fmt.stem == "G711Mulaw"

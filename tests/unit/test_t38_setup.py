"""T.38 in offer/answer (emulator.protocols.media.t38_setup and the image branch of session_setup), and the bad
input Must-show at the offer/answer level: unknown payload types, a wrong ptime, malformed a=fmtp and a=T38* lines
give the right SIP answer or are ignored, the rest of the session is used."""

from __future__ import annotations

from pathlib import Path

from emulator.protocols.media.session_setup import (
    Answer,
    AnswerState,
    LocalMedia,
    Refusal,
    RtpSecurityMode,
    SecuritySettings,
    answer_offer,
    build_offer,
)
from emulator.protocols.media.t38_setup import (
    ANNEX_D,
    DRAFT,
    T38Params,
    T38Settings,
    accept_t38,
    image_media,
    parse_t38,
)
from emulator.protocols.sdp.sdp import SessionDescription
from tests.helpers.units import configured

HEAD = "v=0\r\no=- 2 3 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n"
IMAGE = "m=image 7000 udptl t38\r\n"
T38_LINES = ("a=T38FaxVersion:0\r\na=T38MaxBitRate:9600\r\na=T38FaxRateManagement:transferredTCF\r\n"
             "a=T38FaxMaxDatagram:272\r\na=T38FaxUdpEC:t38UDPRedundancy\r\n")


def _previous(settings: SecuritySettings) -> AnswerState:
    """The state of a call in audio: our answer to a plain G.711 offer."""
    first = answer_offer(settings, HEAD + "m=audio 4000 RTP/AVP 0\r\n", LocalMedia("127.0.0.2", 5004, 1), now=0.0)
    assert isinstance(first, Answer)
    return first.state


def _reoffer(settings: SecuritySettings, body: str, image_port: int = 6004) -> Answer | Refusal:
    return answer_offer(settings, HEAD + body, LocalMedia("127.0.0.2", 5004, 1, 2, image_port=image_port),
                        previous=_previous(settings), now=0.0)


def test_a_reoffer_of_an_image_stream_is_taken_and_the_audio_refused() -> None:
    settings = SecuritySettings()
    ans = _reoffer(settings, "m=audio 0 RTP/AVP 0\r\n" + IMAGE + T38_LINES)
    assert isinstance(ans, Answer) and ans.fax is not None
    assert (ans.fax.remote_host, ans.fax.remote_port, ans.fax.redundancy) == ("127.0.0.9", 7000, 3)
    assert ans.fax.params.max_bit_rate == 9600 and ans.fax.params.max_datagram == 272
    audio, image = ans.sdp.media
    assert audio.port == 0
    assert (image.media, image.port, image.proto, image.formats) == ("image", 6004, "udptl", ["t38"])
    assert image.attribute("T38MaxBitRate") == "9600"  # lowered to the offer's
    assert image.attribute("T38FaxRateManagement") == "transferredTCF"
    assert ans.plan.codec == "PCMU"  # the audio plan stays for the return to voice


def test_parameters_encoding_annex_d_or_the_draft() -> None:
    params = T38Params(fill_bit_removal=True)
    draft = image_media(6004, params, DRAFT)
    assert draft.attribute("T38FaxFillBitRemoval") == "1" and draft.attribute("T38FaxTranscodingMMR") == "0"
    annex_d = image_media(6004, params, ANNEX_D)
    assert annex_d.attribute("T38FaxFillBitRemoval") == "" and annex_d.attribute("T38FaxTranscodingMMR") is None
    for md in (draft, annex_d):  # both read back the same
        assert parse_t38(md) == params


def test_malformed_t38_lines_are_ignored_the_stream_is_still_taken() -> None:
    bad = ("a=T38FaxVersion:zero\r\na=T38MaxBitRate:99999999999\r\na=T38FaxRateManagement:sometimes\r\n"
           "a=T38FaxFillBitRemoval:maybe\r\na=T38FaxUdpEC:t38UDPFEC\r\na=t38faxmaxdatagram:200\r\n"
           "a=T38VendorInfo:0 0 0\r\n")
    md = SessionDescription.parse(HEAD + IMAGE + bad).media[0]
    params = parse_t38(md)
    assert (params.version, params.max_bit_rate, params.rate_management) == (0, 14400, "transferredTCF")
    assert params.max_datagram == 200 and params.error_correction == "t38UDPFEC"  # names in any case
    assert len(params.problems) == 4, params.problems
    ans = _reoffer(SecuritySettings(), IMAGE + bad)
    assert isinstance(ans, Answer) and ans.fax is not None
    assert ans.sdp.media[0].attribute("T38FaxUdpEC") == "t38UDPRedundancy"  # we answer what we send


def test_t38_disabled_an_image_only_reoffer_gets_488_and_an_initial_one_too(tmp_path: Path) -> None:
    off = SecuritySettings.from_config(configured(tmp_path, Mipt__DefaultCodecT38DataEnable="Disable"), "Phone-Fax1")
    assert not off.t38.enabled
    refused = _reoffer(off, IMAGE + T38_LINES)
    assert isinstance(refused, Refusal) and refused.status_code == 488
    initial = answer_offer(SecuritySettings(), HEAD + IMAGE + T38_LINES,
                           LocalMedia("127.0.0.2", 5004, 1, image_port=6004), now=0.0)
    assert isinstance(initial, Refusal) and initial.status_code == 488  # a call starts in audio (emulator choice)


def test_image_streams_over_tcp_or_in_another_format_are_not_taken() -> None:
    for m in ("m=image 7000 TCP/TPKT/T38 t38\r\n", "m=image 7000 udptl x-other\r\n"):
        ans = _reoffer(SecuritySettings(), "m=audio 4000 RTP/AVP 0\r\n" + m)
        assert isinstance(ans, Answer) and ans.fax is None
        assert [md.port for md in ans.sdp.media] == [5004, 0]


def test_unsecure_t38_in_an_srtp_call_only_with_fallback_and_allow(tmp_path: Path) -> None:
    secure_plan = _previous(SecuritySettings())
    secure_state = AnswerState(plan=secure_plan.plan.__class__(**{**_plan_fields(secure_plan), "secure": True}))
    for mode, allow, taken in ((RtpSecurityMode.SECURE, True, False),
                               (RtpSecurityMode.SECURE_WITH_FALLBACK, False, False),
                               (RtpSecurityMode.SECURE_WITH_FALLBACK, True, True)):
        settings = SecuritySettings(mode=mode, allow_unsecure_t38=allow)
        ans = answer_offer(settings, HEAD + IMAGE + T38_LINES, LocalMedia("127.0.0.2", 5004, 1, 2, image_port=6004),
                           previous=secure_state, now=0.0)
        assert (isinstance(ans, Answer) and ans.fax is not None) is taken, (mode, allow)


def _plan_fields(state: AnswerState) -> dict[str, object]:
    p = state.plan
    return {name: getattr(p, name) for name in p.__dataclass_fields__}


def test_settings_from_the_catalog(tmp_path: Path) -> None:
    c = configured(tmp_path, Mipt__DefaultCodecT38RedundancyLevel=5, Mipt__DefaultCodecT38FinalFramesRedundancy=2,
                   Mipt__DefaultCodecT38NoSignalEnable="Enable", Mipt__DefaultCodecT38NoSignalTimeout=4,
                   SipEp__InteropSdpT38ParametersEncoding="ItuT38AnnexD")
    t = T38Settings.from_config(c, "Phone-Fax1")
    assert (t.redundancy, t.final_redundancy, t.no_signal_timeout, t.encoding) == (5, 2, 4, ANNEX_D)
    c.set("Mipt.EpSpecificCodecT38[Phone-Fax1].EnableConfig", "Enable")
    c.set("Mipt.EpSpecificCodecT38[Phone-Fax1].RedundancyLevel", 1)
    assert T38Settings.from_config(c, "Phone-Fax1").redundancy == 1
    assert T38Settings.from_config(c, "Phone-Fax2").redundancy == 5


def test_the_offerer_reads_the_answer_image_stream() -> None:
    settings = T38Settings(redundancy=2)
    plan = accept_t38(settings, SessionDescription.parse(HEAD + IMAGE + T38_LINES))
    assert plan is not None and plan.remote_port == 7000 and plan.redundancy == 2
    assert accept_t38(settings, SessionDescription.parse(HEAD + "m=image 0 udptl t38\r\n")) is None


def test_malformed_fmtp_lines_are_ignored_and_the_codec_used() -> None:
    offer = (HEAD + "m=audio 4000 RTP/AVP 18 0 101\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=perhaps;;=\r\n"
             "a=fmtp:zz garbage\r\na=fmtp:\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15,x-\r\n"
             "a=ptime:-20\r\n")
    ans = answer_offer(SecuritySettings(), offer, LocalMedia("127.0.0.2", 5004, 1), now=0.0)
    assert isinstance(ans, Answer), ans
    assert ans.plan.codec == "PCMU" and ans.plan.ptime == 20  # G.729 not in the default set; ptime -20 ignored
    state = build_offer(SecuritySettings(), LocalMedia("127.0.0.1", 5004, 1), now=0.0)
    assert state.sdp.media[0].port == 5004

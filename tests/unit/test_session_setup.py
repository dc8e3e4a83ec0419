"""Media/Security settings applied to SDP offer/answer (emulator.protocols.media.session_setup): pure, no sockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.protocols.media.session_setup import (
    Answer,
    KeyManagement,
    LocalMedia,
    Refusal,
    RtpSecurityMode,
    SecuritySettings,
    SetupRefused,
    accept_answer,
    answer_offer,
    build_offer,
    parse_psk,
    t38_acceptable,
)
from emulator.protocols.media.srtp import ContextBehaviour
from emulator.protocols.sdp.sdp import Direction, SessionDescription
from tests.helpers.units import configured

NOW = 1_750_000_000.0
SDES = SecuritySettings(mode=RtpSecurityMode.SECURE, key_management=KeyManagement.SDES)
MIKEY = SecuritySettings(mode=RtpSecurityMode.SECURE, key_management=KeyManagement.MIKEY, mikey_psk=b"lab secret")
MIKEY_NULL = SecuritySettings(mode=RtpSecurityMode.SECURE, key_management=KeyManagement.MIKEY)
PLAIN = SecuritySettings()
FALLBACK_SDES = SecuritySettings(mode=RtpSecurityMode.SECURE_WITH_FALLBACK, key_management=KeyManagement.SDES)


def offer_of(settings: SecuritySettings, **kw: object):  # type: ignore[no-untyped-def]
    return build_offer(settings, LocalMedia("127.0.0.1", 5004, 11), now=NOW, **kw)  # type: ignore[arg-type]


def answer_to(settings: SecuritySettings, offer: SessionDescription | str, **kw: object) -> Answer | Refusal:
    return answer_offer(settings, offer, LocalMedia("127.0.0.2", 5006, 22), now=NOW, **kw)  # type: ignore[arg-type]


def test_unsecure_offer_is_plain_rtp() -> None:
    st = offer_of(PLAIN)
    md = st.sdp.media[0]
    assert md.proto == "RTP/AVP" and not md.attribute_values("crypto")
    assert not st.sdp.attribute_values("key-mgmt")


def test_sdes_offer_puts_crypto_in_the_media_section() -> None:
    sd = SessionDescription.parse(offer_of(SDES).sdp.serialize())
    md = sd.media[0]
    assert md.proto == "RTP/SAVP"
    lines = md.attribute_values("crypto")
    assert [ln.split()[1] for ln in lines] == ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"]
    assert not sd.attribute_values("key-mgmt") and not md.attribute_values("key-mgmt")


def test_mikey_offer_puts_key_mgmt_at_session_level() -> None:
    sd = SessionDescription.parse(offer_of(MIKEY).sdp.serialize())
    assert sd.media[0].proto == "RTP/SAVP"
    (value,) = sd.attribute_values("key-mgmt")
    assert value.startswith("mikey ")
    assert not sd.media[0].attribute_values("crypto") and not sd.media[0].attribute_values("key-mgmt")


def test_sdes_round_trip_keys_cross() -> None:
    offer = offer_of(SDES)
    ans = answer_to(SDES, offer.sdp.serialize())
    assert isinstance(ans, Answer)
    assert ans.sdp.media[0].proto == "RTP/SAVP"
    assert len(ans.sdp.media[0].attribute_values("crypto")) == 1
    plan = accept_answer(SDES, offer, ans.sdp.serialize())
    assert plan.secure and ans.plan.secure
    assert plan.key_management == ans.plan.key_management == "SDES"
    assert plan.local == ans.plan.remote and plan.remote == ans.plan.local
    assert plan.local is not None and plan.local.master != plan.remote.master  # type: ignore[union-attr]
    assert (plan.remote_host, plan.remote_port, plan.remote_rtcp_port) == ("127.0.0.2", 5006, 5007)
    assert (ans.plan.remote_host, ans.plan.remote_port) == ("127.0.0.1", 5004)
    assert plan.codec == ans.plan.codec == "PCMU"


@pytest.mark.parametrize("settings", [MIKEY, MIKEY_NULL], ids=["psk", "null-kemac"])
def test_mikey_round_trip(settings: SecuritySettings) -> None:
    offer = offer_of(settings)
    ans = answer_to(settings, offer.sdp.serialize())
    assert isinstance(ans, Answer), ans
    plan = accept_answer(settings, offer, ans.sdp.serialize())
    assert plan.key_management == ans.plan.key_management == "MIKEY"
    assert plan.local == ans.plan.remote and plan.remote == ans.plan.local
    if settings.mikey_psk:  # PSK mode: the answer carries the verification message at session level
        assert ans.sdp.attribute_values("key-mgmt")


def test_mikey_wrong_psk_is_488() -> None:
    offer = offer_of(MIKEY)
    other = SecuritySettings(mode=RtpSecurityMode.SECURE, key_management=KeyManagement.MIKEY, mikey_psk=b"nope")
    ans = answer_to(other, offer.sdp.serialize())
    assert isinstance(ans, Refusal) and ans.status_code == 488


def test_mikey_endpoint_receiving_sdes_offer_answers_415_and_sdptools_notification() -> None:
    ans = answer_to(MIKEY, offer_of(SDES).sdp.serialize())
    assert isinstance(ans, Refusal)
    assert (ans.status_code, ans.reason) == (415, "Unsupported Media")
    assert ans.notification == ("Mipt", 9001)


def test_sdes_endpoint_receiving_mikey_offer_answers_415() -> None:
    ans = answer_to(SDES, offer_of(MIKEY).sdp.serialize())
    assert isinstance(ans, Refusal) and ans.status_code == 415 and ans.notification == ("Mipt", 9001)


def test_secure_refuses_plain_offer_with_488() -> None:
    ans = answer_to(SDES, offer_of(PLAIN).sdp.serialize())
    assert isinstance(ans, Refusal) and ans.status_code == 488 and ans.notification is None


def test_secure_with_fallback_accepts_plain_offer_unsecured() -> None:
    ans = answer_to(FALLBACK_SDES, offer_of(PLAIN).sdp.serialize())
    assert isinstance(ans, Answer)
    assert ans.sdp.media[0].proto == "RTP/AVP" and not ans.sdp.media[0].attribute_values("crypto")
    assert not ans.plan.secure and ans.plan.fallback and ans.plan.local is None


def test_unsecure_refuses_savp_offer() -> None:
    ans = answer_to(PLAIN, offer_of(SDES).sdp.serialize())
    assert isinstance(ans, Refusal) and ans.status_code == 488


def test_offerer_secure_refuses_plain_answer_fallback_accepts() -> None:
    offer = offer_of(SDES)
    plain_answer = answer_to(FALLBACK_SDES, offer_of(PLAIN).sdp.serialize())
    assert isinstance(plain_answer, Answer)
    with pytest.raises(SetupRefused) as exc:
        accept_answer(SDES, offer, plain_answer.sdp.serialize())
    assert exc.value.status_code == 488
    fb_offer = offer_of(FALLBACK_SDES)
    plan = accept_answer(FALLBACK_SDES, fb_offer, plain_answer.sdp.serialize())
    assert not plan.secure and plan.fallback


@pytest.mark.parametrize(
    "line",
    [
        "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",  # wrong key length
        "1 F8_128_HMAC_SHA1_80 inline:" + "A" * 40,  # unknown suite
        "x AES_CM_128_HMAC_SHA1_80",  # syntax
        "1 AES_CM_128_HMAC_SHA1_80 inline:" + "A" * 40 + " KDR=1",  # unsupported session parameter
    ],
)
def test_unusable_crypto_lines_488_never_crash(line: str) -> None:
    sd = offer_of(PLAIN).sdp
    sd.media[0].proto = "RTP/SAVP"
    sd.media[0].add_attribute("crypto", line)
    ans = answer_to(SDES, sd.serialize())
    assert isinstance(ans, Refusal) and ans.status_code == 488


def test_garbage_key_mgmt_is_488() -> None:
    sd = offer_of(PLAIN).sdp
    sd.media[0].proto = "RTP/SAVP"
    sd.add_attribute("key-mgmt", "mikey AAECAwQ=")
    ans = answer_to(MIKEY, sd.serialize())
    assert isinstance(ans, Refusal) and ans.status_code == 488


def test_broken_sdp_is_400() -> None:
    ans = answer_to(SDES, "v=0\r\nthis is not sdp\r\n")
    assert isinstance(ans, Refusal) and ans.status_code == 400


def test_answer_mode_aes32_picks_the_32_bit_suite() -> None:
    from emulator.protocols.sdp.sdes import AnswerCryptoMode

    settings = SecuritySettings(
        mode=RtpSecurityMode.SECURE, key_management=KeyManagement.SDES, answer_crypto=AnswerCryptoMode.AES32
    )
    ans = answer_to(settings, offer_of(SDES).sdp.serialize())
    assert isinstance(ans, Answer) and ans.plan.suite == "AES_CM_128_HMAC_SHA1_32"


@pytest.mark.parametrize("regenerate", [True, False])
def test_session_update_crypto_mode_keys(regenerate: bool) -> None:
    settings = SecuritySettings(
        mode=RtpSecurityMode.SECURE, key_management=KeyManagement.SDES, regenerate_keys_on_update=regenerate
    )
    first = offer_of(settings)
    again = offer_of(settings, previous=first, direction=Direction.SENDONLY)
    same = first.sdes_offered == again.sdes_offered
    assert same is (not regenerate)
    assert again.sdp.media[0].direction is Direction.SENDONLY
    # answerer side: Keep answers with the same key
    a1 = answer_to(settings, first.sdp.serialize())
    assert isinstance(a1, Answer)
    a2 = answer_to(settings, again.sdp.serialize(), previous=a1.state)
    assert isinstance(a2, Answer)
    assert (a1.plan.local == a2.plan.local) is (not regenerate)
    assert a2.plan.direction is Direction.RECVONLY


def test_from_config_uses_the_endpoint_override_row(tmp_path: Path) -> None:
    from emulator.runtime.unit import Unit
    from firmware_model.profiles import get_profile

    unit = Unit("u1", get_profile("4102"), tmp_path, fsync=False)
    cfg = unit.config
    cfg.set("Mipt.DefaultSecurityRtpMode", "SecureWithFallback")
    cfg.set("Mipt.SrtpCryptoContextBehavior", "Regenerate")
    cfg.set("Mipt.SessionUpdateCryptoMode", "Keep")
    cfg.set("Mipt.MikeyPreSharedKey", "0x00ff")
    cfg.set("Mipt.EpSpecificSecurity[Phone-Fax1].EnableConfig", "Enable")
    cfg.set("Mipt.EpSpecificSecurity[Phone-Fax1].RtpMode", "Secure")
    cfg.set("Mipt.EpSpecificSecurity[Phone-Fax1].KeyManagement", "Sdes")
    ep1 = SecuritySettings.from_config(cfg, "Phone-Fax1")
    ep2 = SecuritySettings.from_config(cfg, "Phone-Fax2")
    assert (ep1.mode, ep1.key_management) == (RtpSecurityMode.SECURE, KeyManagement.SDES)
    assert (ep2.mode, ep2.key_management) == (RtpSecurityMode.SECURE_WITH_FALLBACK, KeyManagement.MIKEY)
    assert ep1.context_behaviour is ContextBehaviour.REGENERATE and not ep1.regenerate_keys_on_update
    assert ep2.mikey_psk == b"\x00\xff"
    assert cfg.catalog.param("Mipt.MikeyPreSharedKey").secret  # type: ignore[union-attr]


def test_parse_psk_and_t38() -> None:
    assert parse_psk("0xA0b1") == b"\xa0\xb1" and parse_psk("lab") == b"lab"
    assert t38_acceptable(SDES, call_is_secure=False)
    assert not t38_acceptable(SDES, call_is_secure=True)
    allow = SecuritySettings(mode=RtpSecurityMode.SECURE_WITH_FALLBACK, allow_unsecure_t38=True)
    assert t38_acceptable(allow, call_is_secure=True)


def test_rfc2543_hold_address_means_do_not_send() -> None:
    sd = offer_of(SDES).sdp
    sd.connection.address = "0.0.0.0"  # type: ignore[union-attr]
    ans = answer_to(SDES, sd.serialize())
    assert isinstance(ans, Answer)
    assert not ans.plan.direction.sends and ans.plan.direction.receives


# ------------------------------------------------------------------ Media/Codecs and the DTMF transport


def _codec_config(tmp_path: Any, **values: str) -> Any:
    return configured(tmp_path, **values)


def test_codecs_follow_media_codecs_and_the_dtmf_method(tmp_path: Any) -> None:
    from emulator.protocols.media.session_setup import codecs_from_config

    c = _codec_config(tmp_path)
    # factory: G.711, G.722 and G.729 enabled at priority 0 (catalog order), G.723 never, DTMF in band
    assert [x.name for x in codecs_from_config(c)] == ["PCMU", "PCMA", "G722", "G729"]
    c.set("Mipt.DefaultCodecG711AlawVoicePriority", 5)
    assert [x.name for x in codecs_from_config(c)][:2] == ["PCMA", "PCMU"]  # the higher priority first
    for stem in ("G711Mulaw", "G722", "G729"):
        c.set(f"Mipt.DefaultCodec{stem}VoiceEnable", "Disable")
    c.set("Mipt.DefaultDtmfTransportMethod", "OutOfBandUsingRtp")
    c.set("Mipt.DefaultDtmfTransportPayloadType", 101)
    got = codecs_from_config(c)
    assert [(x.name, x.payload_type) for x in got] == [("PCMA", 8), ("telephone-event", 101)]
    # an endpoint's own codec settings, when Mipt.EpSpecificCodec enables them
    c.set("Mipt.EpSpecificCodec[Phone-Fax2].EnableConfig", "Enable")
    c.set("Mipt.EpSpecificCodecG711Mulaw[Phone-Fax2].VoiceEnable", "Enable")
    c.set("Mipt.EpSpecificCodecG711Alaw[Phone-Fax2].VoiceEnable", "Disable")
    # the endpoint's rows start from their own defaults (G.722 and G.729 enabled)
    assert [x.name for x in codecs_from_config(c, "Phone-Fax2")] == ["PCMU", "G722", "G729", "telephone-event"]
    assert [x.name for x in codecs_from_config(c, "Phone-Fax1")] == ["PCMA", "telephone-event"]


def test_offer_and_answer_use_the_endpoint_codecs(tmp_path: Any) -> None:
    c = _codec_config(tmp_path, Mipt__DefaultCodecG711MulawVoiceEnable="Disable",
                      Mipt__DefaultCodecG722VoiceEnable="Disable", Mipt__DefaultCodecG729VoiceEnable="Disable")
    settings = SecuritySettings.from_config(c, "Phone-Fax1")
    offer = build_offer(settings, LocalMedia("127.0.0.2", 5004, 1), now=0.0)
    assert offer.sdp.media[0].formats == ["8"]  # A-law only, no telephone-event (in-band DTMF)
    # an offer of u-law only finds nothing in common: 488
    plain = SecuritySettings()
    pcmu = [c0 for c0 in plain.codecs if c0.name == "PCMU"]
    u_only = build_offer(plain, LocalMedia("127.0.0.3", 5006, 2, codecs=pcmu), now=0.0)
    refused = answer_offer(settings, u_only.sdp, LocalMedia("127.0.0.2", 5004, 1), now=0.0)
    assert isinstance(refused, Refusal) and refused.status_code == 488

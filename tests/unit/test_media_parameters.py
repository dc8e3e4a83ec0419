"""Media parameters as the media layer reads them, parameter by parameter: the jitter buffer (voice and
voice-band data, Default and per endpoint), the endpoint's DTMF transport, the SRTP suites offered and accepted,
T.38 with SRTP, and the endpoint's T.38 row (emulator/protocols/media/: jitter.py, codec_policy.py,
session_setup.py, t38_setup.py)."""

from __future__ import annotations

from pathlib import Path

from emulator.protocols.media.codec_policy import dtmf_method, policy_from_config
from emulator.protocols.media.jitter import settings_from_config
from emulator.protocols.media.session_setup import SecuritySettings
from emulator.protocols.media.t38_setup import T38Settings
from emulator.protocols.sdp.sdes import SrtpSuite
from tests.helpers.units import configured

EP = "Phone-Fax1"


def test_default_jitter_buffer_custom_lengths(tmp_path: Path) -> None:
    c = configured(tmp_path)
    c.set("Mipt.DefaultJitterBufferLevel", "Custom")
    c.set("Mipt.DefaultJitterBufferCustomMinLength", 40)
    c.set("Mipt.DefaultJitterBufferCustomNomLength", 70)
    c.set("Mipt.DefaultJitterBufferCustomMaxLength", 200)
    got = settings_from_config(c, EP)
    assert (got.min_ms, got.nominal_ms, got.max_ms, got.adaptive) == (40, 70, 200, True)


def test_default_voice_band_data_jitter_buffer(tmp_path: Path) -> None:
    c = configured(tmp_path)
    c.set("Mipt.DefaultVbdJitterBufferCustomMinLength", 20)
    c.set("Mipt.DefaultVbdJitterBufferCustomNomLength", 90)
    c.set("Mipt.DefaultVbdJitterBufferCustomMaxLength", 300)
    vbd = settings_from_config(c, EP, vbd=True)
    assert (vbd.min_ms, vbd.nominal_ms, vbd.max_ms, vbd.adaptive) == (20, 90, 300, False)  # Fixed (factory)
    c.set("Mipt.DefaultVbdJitterBufferType", "AdaptiveImmediately")
    assert settings_from_config(c, EP, vbd=True).adaptive
    assert settings_from_config(c, EP).level == "Normal"  # voice keeps its own settings


def test_endpoint_jitter_buffer_row(tmp_path: Path) -> None:
    c = configured(tmp_path)
    c.set(f"Mipt.EpSpecificJitterBuffer[{EP}].Level", "Custom")
    c.set(f"Mipt.EpSpecificJitterBuffer[{EP}].CustomMinLength", 50)
    c.set(f"Mipt.EpSpecificJitterBuffer[{EP}].CustomNomLength", 60)
    c.set(f"Mipt.EpSpecificJitterBuffer[{EP}].CustomMaxLength", 250)
    c.set(f"Mipt.EpSpecificJitterBuffer[{EP}].CustomVbdMinLength", 10)
    c.set(f"Mipt.EpSpecificJitterBuffer[{EP}].CustomVbdNomLength", 80)
    c.set(f"Mipt.EpSpecificJitterBuffer[{EP}].CustomVbdMaxLength", 160)
    c.set(f"Mipt.EpSpecificJitterBuffer[{EP}].CustomVbdJitterBufferType", "AdaptiveSilence")
    assert settings_from_config(c, EP).level == "Normal"  # the row is not in force yet
    c.set(f"Mipt.EpSpecificJitterBuffer[{EP}].EnableConfig", "Enable")
    got = settings_from_config(c, EP)
    assert (got.level, got.min_ms, got.nominal_ms, got.max_ms) == ("Custom", 50, 60, 250)
    vbd = settings_from_config(c, EP, vbd=True)
    assert (vbd.min_ms, vbd.nominal_ms, vbd.max_ms, vbd.adaptive) == (10, 80, 160, True)
    assert settings_from_config(c, "Phone-Fax2").level == "Normal"


def test_endpoint_dtmf_transport_row(tmp_path: Path) -> None:
    c = configured(tmp_path)
    default = dtmf_method(c, EP)
    c.set(f"Mipt.EpSpecificDtmfTransport[{EP}].Method", "InBand")
    c.set(f"Mipt.EpSpecificDtmfTransport[{EP}].PayloadType", 120)
    assert dtmf_method(c, EP) == default  # not in force yet
    c.set(f"Mipt.EpSpecificDtmfTransport[{EP}].EnableConfig", "Enable")
    assert dtmf_method(c, EP) == "InBand"
    assert policy_from_config(c, EP).telephone_event_pt is None  # in band: no telephone-event offered
    c.set(f"Mipt.EpSpecificDtmfTransport[{EP}].Method", "OutOfBandUsingRtp")
    assert policy_from_config(c, EP).telephone_event_pt == 120
    assert dtmf_method(c, "Phone-Fax2") == default


def test_srtp_suites_offered_and_accepted(tmp_path: Path) -> None:
    c = configured(tmp_path)
    both = SecuritySettings.from_config(c, EP)
    assert both.offer_crypto.suites == (SrtpSuite.AES_CM_128_HMAC_SHA1_80, SrtpSuite.AES_CM_128_HMAC_SHA1_32)
    c.set("Mipt.SrtpOfferCryptoMode", "Aes32")
    c.set("Mipt.SrtpAnswerCryptoMode", "Aes80")
    s = SecuritySettings.from_config(c, EP)
    assert s.offer_crypto.suites == (SrtpSuite.AES_CM_128_HMAC_SHA1_32,)
    assert s.answer_crypto.allows(SrtpSuite.AES_CM_128_HMAC_SHA1_80)
    assert not s.answer_crypto.allows(SrtpSuite.AES_CM_128_HMAC_SHA1_32)


def test_t38_with_srtp_and_the_endpoint_t38_row(tmp_path: Path) -> None:
    c = configured(tmp_path)
    assert not SecuritySettings.from_config(c, EP).allow_unsecure_t38
    c.set("Mipt.AllowUnsecureT38WithSrtp", "Enable")
    assert SecuritySettings.from_config(c, EP).allow_unsecure_t38
    assert T38Settings.from_config(c, EP).enabled
    c.set(f"Mipt.EpSpecificCodecT38[{EP}].DataEnable", "Disable")
    c.set(f"Mipt.EpSpecificCodecT38[{EP}].RedundancyLevel", 1)
    assert T38Settings.from_config(c, EP).enabled  # not in force yet
    c.set(f"Mipt.EpSpecificCodecT38[{EP}].EnableConfig", "Enable")
    t38 = T38Settings.from_config(c, EP)
    assert (t38.enabled, t38.redundancy) == (False, 1)
    assert T38Settings.from_config(c, "Phone-Fax2").enabled

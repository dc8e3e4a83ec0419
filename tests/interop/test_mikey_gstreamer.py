"""Our MIKEY (RFC 3830 in SDP a=key-mgmt, RFC 4567) against an independent implementation: GStreamer's libgstsdp.

GStreamer runs in Debian's own ``/usr/bin/python3`` (python3-gi, gir1.2-gst-plugins-base-1.0) through
``tests/interop/gst_mikey_peer.py``, one subprocess per message:

* ours -> GStreamer: the NULL-KEMAC I_MESSAGE we build (and the one our SDP offer carries) is parsed by
  ``gst_mikey_message_new_from_data`` and turned into SRTP caps by ``gst_mikey_message_to_caps``: the same
  master key || salt, ``aes-128-icm`` and ``hmac-sha1-80`` / ``-32``; libgstsdp holds the same header, CS ID
  map, T, RAND, SP and key data, and serializes the message back octet for octet.
* GStreamer -> ours: what ``GstSdp.MIKEYMessage.new_from_caps`` builds is read by ``verify_initiation`` and by
  ``answer_offer`` (an SDP offer carrying it) with the same key, salt and suite, and the SRTP session built
  from it decrypts packets libsrtp (pylibsrtp) protected with the raw key — also at the ROC GStreamer's CS ID
  map carries.
* PSK: GStreamer does no MIKEY encryption at all (it neither decrypts nor checks a MAC; ``to_caps`` refuses any
  KEMAC but the NULL one), so the pre-shared-key KEMAC is checked against the RFC's own key derivation in
  ``tests/unit/test_sdp_mikey.py`` (``test_psk_message_decoded_from_the_rfc_alone``); here GStreamer only
  reads its structure and declines to produce keys from it.

Found about libgstsdp 1.22 (not bugs of ours, but limits a GStreamer peer imposes): it reads the SRTP tag
length from the SP "auth key length" parameter (type 3) and ignores the RFC's tag-length parameter (type 11),
which is why our NULL mode writes the tag length there (``gstreamer_compat``); it takes the key field of the
first key data as the whole SRTP key||salt, so only a TEK carrying both works (not TEK+SALT, not a TGK,
which it does not derive from — our NULL default is that TEK); it never sets the V flag, and
its parser loops forever on a V (or ID, ERR, general extension...) payload, so an R_MESSAGE must never be sent
to it — our answer to a GStreamer offer carries none.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import struct
import subprocess
import time
from functools import cache
from pathlib import Path
from typing import Any

import pylibsrtp
import pytest

from emulator.protocols.media import session_setup as setup
from emulator.protocols.media.srtp import SrtpContext, SrtpSession, SrtpSuite
from emulator.protocols.sdp import mikey, sdes
from emulator.protocols.sdp import mikey_payloads as wire
from emulator.protocols.sdp.mikey import CryptoSession, KemacMode
from testkit.peers import REQUIRE_PEERS, require_peer

pytestmark = pytest.mark.peer

PEER = Path(__file__).with_name("gst_mikey_peer.py")
SYSTEM_PYTHON = "/usr/bin/python3"
PSK = b"dgw-lab-pre-shared-key"
CAPS_NAMES = {
    SrtpSuite.AES_CM_128_HMAC_SHA1_80: ("aes-128-icm", "hmac-sha1-80"),
    SrtpSuite.AES_CM_128_HMAC_SHA1_32: ("aes-128-icm", "hmac-sha1-32"),
}
SUITES = list(SrtpSuite)
SUITE_IDS = ["80", "32"]
US = "192.0.2.10"
MIKEY_ENDPOINT = setup.SecuritySettings(mode=setup.RtpSecurityMode.SECURE, key_management=setup.KeyManagement.MIKEY)


def _missing(reason: str) -> None:
    if REQUIRE_PEERS:
        pytest.fail(reason)
    pytest.skip(reason + " [DGW_REQUIRE_PEERS unset]")


@cache
def _probe() -> str | None:
    """None when /usr/bin/python3 can load GstSdp, else the reason it cannot."""
    try:
        run = subprocess.run([SYSTEM_PYTHON, str(PEER), "probe"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{SYSTEM_PYTHON} {PEER.name} probe: {exc}"
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return f"GStreamer's SDP library is not usable from {SYSTEM_PYTHON}: {last}"
    return None


@pytest.fixture(scope="module")
def gst() -> None:
    require_peer(SYSTEM_PYTHON)
    reason = _probe()
    if reason is not None:
        _missing(reason + " (install python3-gi and gir1.2-gst-plugins-base-1.0; `make peers` as root)")


def gst_run(*args: str, timeout: float = 20.0) -> str:
    run = subprocess.run([SYSTEM_PYTHON, str(PEER), *args], capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"gst_mikey_peer {args[0]} failed: {run.stderr}"
    return run.stdout.strip()


def gst_parse(message: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(gst_run("parse", base64.b64encode(message).decode()))
    return result


def gst_build(
    key: bytes, salt: bytes, suite: SrtpSuite | str, *, ssrc: int | None = None, roc: int | None = None
) -> bytes:
    args = ["build", key.hex(), salt.hex(), suite if isinstance(suite, str) else suite.value]
    if ssrc is not None:
        args += ["--ssrc", str(ssrc)]
    if roc is not None:
        args += ["--roc", str(roc)]
    return base64.b64decode(gst_run(*args), validate=True)


def answer_gstreamer(message: bytes, session_id: int) -> setup.Answer | setup.Refusal:
    """What a Secure/MIKEY endpoint (no PSK: SIP over TLS) answers to an SDP offer carrying `message`."""
    offer = (
        "v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
        "m=audio 50000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        f"a=key-mgmt:{mikey.key_mgmt_value(message)}\r\n"
    )
    return setup.answer_offer(MIKEY_ENDPOINT, offer, setup.LocalMedia(US, 40000, session_id), now=time.time())


def rtp(seq: int, ssrc: int, payload: bytes = b"\xd5" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, 8, seq, seq * 160, ssrc) + payload


def assert_gst_sees(result: dict[str, Any], message: bytes, keys: mikey.MikeyKeys) -> None:
    """What libgstsdp parsed equals what we built, field by field, and its SRTP caps carry our key."""
    cipher, auth = CAPS_NAMES[keys.suite]
    assert result["parsed"] and result["to_caps"], result
    assert result["caps"] == {
        "srtp-key": keys.masters[0].hex(),
        "srtp-cipher": cipher,
        "srtp-auth": auth,
        "srtcp-cipher": cipher,
        "srtcp-auth": auth,
    }
    assert (result["version"], result["data_type"], result["v_flag"], result["prf"]) == (1, 0, False, 0)
    assert result["csb_id"] == keys.csb_id and result["map_type"] == 0
    assert result["crypto_sessions"] == [
        {"policy": cs.policy_no, "ssrc": cs.ssrc, "roc": cs.roc} for cs in keys.crypto_sessions
    ]
    t, rand, sp, kemac = result["payloads"]
    assert [p["type"] for p in (t, rand, sp, kemac)] == [wire.PT_T, wire.PT_RAND, wire.PT_SP, wire.PT_KEMAC]
    assert (t["ts_type"], t["ts_value"]) == (wire.TS_NTP_UTC, keys.timestamp.value_bytes.hex())
    assert rand["rand"] == keys.rand.hex()
    assert (sp["policy"], sp["proto"]) == (0, wire.PROTO_SRTP)
    params = {ptype: int(value, 16) for ptype, value in sp["params"]}
    assert params[wire.SP_ENC_ALG] == 1 and params[wire.SP_ENC_KEY_LEN] == 16
    assert params[wire.SP_AUTH_KEY_LEN] == keys.suite.rtp_tag_length  # GStreamer's reading of type 3
    assert (kemac["enc_alg"], kemac["mac_alg"]) == (wire.ENC_NULL, wire.MAC_NULL)
    assert kemac["subpayloads"] == [
        {"type": wire.PT_KEY_DATA, "key_type": wire.KD_TEK, "key": keys.masters[0].hex(), "salt": "", "kv_type": 0}
    ]
    # libgstsdp serializes what it read back to the very same octets
    assert base64.b64decode(result["reencoded"]) == message


# ------------------------------------------------------------------------------ ours -> GStreamer


@pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)
def test_our_null_kemac_is_read_by_gstreamer(gst: None, suite: SrtpSuite) -> None:
    sessions = (CryptoSession(ssrc=0x5EC0DE01, roc=2),)
    message, keys = mikey.build_initiation(suite=suite, mode=KemacMode.NULL, now=time.time(), crypto_sessions=sessions)
    assert_gst_sees(gst_parse(message), message, keys)


@pytest.mark.parametrize("offer_mode", [sdes.OfferCryptoMode.AES80, sdes.OfferCryptoMode.AES32])
def test_our_sdp_offer_is_read_by_gstreamer(gst: None, offer_mode: sdes.OfferCryptoMode) -> None:
    """The a=key-mgmt:mikey of the offer a Secure/MIKEY endpoint without a PSK sends (SIP over TLS)."""
    settings = dataclasses.replace(MIKEY_ENDPOINT, offer_crypto=offer_mode)
    state = setup.build_offer(settings, setup.LocalMedia(US, 40000, 1), now=time.time())
    assert state.mikey_keys is not None and state.mikey_keys.mode is KemacMode.NULL
    values = [v for line in state.sdp.serialize().splitlines() if (v := line.removeprefix("a=key-mgmt:")) != line]
    assert len(values) == 1
    message = mikey.parse_key_mgmt(values[0])
    assert message == state.mikey_message
    assert state.mikey_keys.suite is offer_mode.suites[0]
    assert_gst_sees(gst_parse(message), message, state.mikey_keys)


def test_gstreamer_needs_the_tag_length_in_auth_key_length(gst: None) -> None:
    """With the RFC's own SP (auth key length 20, tag length in type 11) libgstsdp misses the 32-bit tag:
    it reads only type 3. Hence ``gstreamer_compat`` (the default in NULL mode)."""
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_32
    rfc, _ = mikey.build_initiation(suite=suite, mode=KemacMode.NULL, now=time.time(), gstreamer_compat=False)
    assert gst_parse(rfc)["caps"]["srtp-auth"] == "hmac-sha1-80"  # GStreamer's misreading
    compat, _ = mikey.build_initiation(suite=suite, mode=KemacMode.NULL, now=time.time())
    assert gst_parse(compat)["caps"]["srtp-auth"] == "hmac-sha1-32"


@pytest.mark.parametrize("key_type", [wire.KD_TEK_SALT, wire.KD_TGK, wire.KD_TGK_SALT])
def test_gstreamer_needs_key_and_salt_in_one_tek(gst: None, key_type: int) -> None:
    """libgstsdp's to_caps takes the key data's key field as the whole SRTP key: with the RFC-valid TEK+SALT
    it drops the salt, and a TGK it uses as is (no §4.1.3 TEK derivation). Hence our NULL mode sends one TEK
    holding key || salt (the default ``key_type``), as GStreamer itself does."""
    message, keys = mikey.build_initiation(mode=KemacMode.NULL, now=time.time(), key_type=key_type)
    assert mikey.verify_initiation(message, psk=None).masters == keys.masters  # we read all three correctly
    result = gst_parse(message)
    assert result["to_caps"] and result["caps"]["srtp-key"] != keys.masters[0].hex()
    assert len(bytes.fromhex(result["caps"]["srtp-key"])) == 16  # a 16-octet key alone: unusable for SRTP
    assert base64.b64decode(result["reencoded"]) == message


def test_gstreamer_reads_a_psk_message_but_yields_no_keys(gst: None) -> None:
    """libgstsdp has no MIKEY encryption: it reads the structure of a PSK message and declines to_caps."""
    counter = iter(range(1 << 30))

    def rng(n: int) -> bytes:  # deterministic: libgstsdp parses the ciphertext as key data
        return bytes((next(counter) * 37 + 11) & 0xFF for _ in range(n))

    message, keys = mikey.build_initiation(mode=KemacMode.PSK, psk=PSK, now=time.time(), rng=rng)
    result = gst_parse(message)
    assert result["parsed"] and result["to_caps"] is False and "srtp-key" not in result["caps"]
    assert result["csb_id"] == keys.csb_id and result["v_flag"] is True
    assert [p["type"] for p in result["payloads"]] == [wire.PT_T, wire.PT_RAND, wire.PT_SP, wire.PT_KEMAC]
    assert result["payloads"][1]["rand"] == keys.rand.hex()
    kemac = result["payloads"][3]
    assert (kemac["enc_alg"], kemac["mac_alg"]) == (wire.ENC_AES_CM_128, wire.MAC_HMAC_SHA1_160)
    assert keys.masters[0].hex() not in json.dumps(result)


# ------------------------------------------------------------------------------ GStreamer -> ours


def libsrtp_session(master: bytes, suite: SrtpSuite, *, outbound: bool) -> pylibsrtp.Session:
    """A bare libsrtp session keyed with the raw key || salt (no code of ours involved)."""
    ssrc_type = pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
    return pylibsrtp.Session(pylibsrtp.Policy(key=master, ssrc_type=ssrc_type, srtp_profile=suite.profile))


@pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)
def test_gstreamer_message_is_read_by_ours(gst: None, suite: SrtpSuite) -> None:
    key, salt = os.urandom(16), os.urandom(14)
    message = gst_build(key, salt, suite)
    keys = mikey.verify_initiation(message, psk=None, now=time.time(), accept_null=True)
    assert keys.mode is KemacMode.NULL and keys.suite is suite
    assert keys.masters == (key + salt,) and keys.key_type == wire.KD_TEK
    assert keys.crypto_sessions == () and keys.roc() == 0 and keys.v_flag is False
    assert len(keys.rand) == 16
    ts = keys.timestamp.unix()
    assert ts is not None and abs(ts - time.time()) < 60  # GStreamer's NTP-UTC read as ours
    # the key is the usable one: libsrtp keyed with the raw key <-> our session keyed from the MIKEY message
    ours = SrtpSession(keys.keying(), keys.keying())
    theirs_tx, theirs_rx = (
        libsrtp_session(key + salt, suite, outbound=True),
        libsrtp_session(key + salt, suite, outbound=False),
    )
    for seq in (1, 2, 3):
        pkt = rtp(seq, 0x0BADCAFE)
        protected = theirs_tx.protect(pkt)
        assert len(protected) == len(pkt) + suite.rtp_tag_length
        assert ours.unprotect(protected) == pkt
        back = rtp(seq, 0x600DF00D)
        assert theirs_rx.unprotect(ours.protect(back)) == back
    # and GStreamer reads its own message the same way (the peer script is sound)
    cipher, auth = CAPS_NAMES[suite]
    result = gst_parse(message)
    assert result["caps"] == {
        "srtp-key": (key + salt).hex(),
        "srtp-cipher": cipher,
        "srtp-auth": auth,
        "srtcp-cipher": cipher,
        "srtcp-auth": auth,
    }
    assert result["csb_id"] == keys.csb_id and base64.b64decode(result["reencoded"]) == message


@pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)
def test_gstreamer_offer_is_answered_and_decrypted(gst: None, suite: SrtpSuite) -> None:
    """An SDP offer carrying GStreamer's message (CS ID map entry SSRC/ROC added with its add_cs_srtp) through
    answer_offer: plan keyed with GStreamer's key at its ROC; no R_MESSAGE in the answer (V flag clear)."""
    key, salt = os.urandom(16), os.urandom(14)
    ssrc, roc = 0x47535452, 5
    answer = answer_gstreamer(gst_build(key, salt, suite, ssrc=ssrc, roc=roc), session_id=2)
    assert isinstance(answer, setup.Answer), answer
    plan = answer.plan
    assert plan.secure and plan.key_management == "MIKEY" and plan.suite == suite.value
    assert plan.remote is not None and plan.local is not None
    assert plan.remote.master == key + salt and plan.local.master == key + salt
    assert (plan.rx_roc, plan.tx_roc) == (roc, 0)
    assert "key-mgmt" not in answer.sdp.serialize()
    # GStreamer's sender at ROC 5 (libsrtp's own ROC, set on a context keyed with the raw key) -> our receiver
    sender = SrtpContext(suite, key + salt, outbound=True, ssrc=ssrc, roc=roc)
    ours = SrtpSession(plan.local, plan.remote, tx_roc=plan.tx_roc, rx_roc=plan.rx_roc)
    for seq in (100, 101):
        pkt = rtp(seq, ssrc)
        assert ours.unprotect(sender.protect(pkt)) == pkt
    # the ROC matters: a receiver at ROC 0 cannot authenticate what was sent at ROC 5
    wrong = libsrtp_session(key + salt, suite, outbound=False)
    with pytest.raises(pylibsrtp.Error):
        wrong.unprotect(sender.protect(rtp(102, ssrc)))


@pytest.mark.parametrize(
    ("suite", "key_len", "salt_len", "fragment"),
    [
        ("AES_256_CM_HMAC_SHA1_80", 32, 14, "session encryption key length = 32"),
        ("AEAD_AES_128_GCM", 16, 12, "encryption algorithm (1 = AES-CM) = 6"),
    ],
)
def test_gstreamer_suites_we_lack_are_refused(
    gst: None, suite: str, key_len: int, salt_len: int, fragment: str
) -> None:
    """libgstsdp also keys AES-256-ICM and AES-GCM; our media engine has neither: a precise MIKEY error
    (§6.12 "invalid SP parameter") and a 488 answer, never a wrong key."""
    message = gst_build(os.urandom(key_len), os.urandom(salt_len), suite)
    with pytest.raises(mikey.MikeyUnsupportedError) as err:
        mikey.verify_initiation(message, psk=None, now=time.time())
    assert fragment in str(err.value) and err.value.error_code == wire.ERR_INVALID_SPPAR
    refusal = answer_gstreamer(message, session_id=3)
    assert isinstance(refusal, setup.Refusal) and refusal.status_code == 488, refusal

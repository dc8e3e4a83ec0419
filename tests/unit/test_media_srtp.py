"""SRTP contexts over pylibsrtp: consistency with our RFC 3711 key derivation, ROC across the sequence
wrap, explicit initial ROC, keep vs regenerate desynchronisation, MKI, SRTCP, typed errors."""

from __future__ import annotations

import os
import random
import struct

import pytest
from pylibsrtp import Policy

from emulator.protocols.media import srtp
from emulator.protocols.media.rtp import ReceiverReport, RtpExtension, RtpPacket, RtpSender, SourceDescription
from emulator.protocols.media.srtp import (
    ContextBehaviour,
    SrtpAuthError,
    SrtpContext,
    SrtpKeying,
    SrtpParseError,
    SrtpReplayError,
    SrtpSession,
    SrtpSuite,
)

SUITES = list(SrtpSuite)
MASTER = bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE41390EC675AD498AFEEBB6960B3AABE6")  # RFC 3711 B.3
SSRC = 0xCAFEBABE


def rtp(seq: int, ts: int = 0, ssrc: int = SSRC, payload: bytes = b"\xd5" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


# ------------------------------------------------------------------- consistency with our KDF


@pytest.mark.parametrize("suite", SUITES)
def test_libsrtp_output_equals_reference_transform(suite: SrtpSuite) -> None:
    """Bytes from libsrtp == bytes from the pure RFC 3711 transform keyed by our kdf, across the wrap."""
    tx = SrtpContext(suite, MASTER, outbound=True)
    roc = 0
    for seq in [*range(65530, 65536), *range(0, 6)]:
        if seq == 0:
            roc = 1
        plain = rtp(seq, seq * 160)
        assert tx.protect(plain) == srtp.reference_protect_rtp(MASTER, plain, roc=roc, tag_length=suite.rtp_tag_length)
    assert tx.roc == 1


@pytest.mark.parametrize("suite", SUITES)
def test_reference_transform_is_read_by_libsrtp(suite: SrtpSuite) -> None:
    rx = SrtpContext(suite, MASTER, outbound=False)
    packet = RtpPacket(
        0,
        1234,
        5678,
        SSRC,
        payload=os.urandom(100),
        marker=True,
        csrc=(1, 2),
        extension=RtpExtension(0xBEDE, b"\x10\xff\x00\x00"),
    ).serialize()
    protected = srtp.reference_protect_rtp(MASTER, packet, tag_length=suite.rtp_tag_length)
    assert rx.unprotect(protected) == packet
    assert srtp.reference_unprotect_rtp(MASTER, protected, tag_length=suite.rtp_tag_length) == packet


@pytest.mark.parametrize("suite", SUITES)
def test_srtcp_matches_reference_and_uses_80_bit_tag(suite: SrtpSuite) -> None:
    tx = SrtpContext(suite, MASTER, outbound=True)
    rx = SrtpContext(suite, MASTER, outbound=False)
    rtcp = ReceiverReport(SSRC).serialize() + SourceDescription.cname(SSRC, "unit@emulator").serialize()
    for _ in range(3):
        protected = tx.protect_rtcp(rtcp)
        assert len(protected) == len(rtcp) + 4 + 10  # E||index, then an 80-bit tag for both suites
        index = int.from_bytes(protected[-14:-10], "big")
        assert index >> 31 == 1  # E flag: encrypted
        assert protected == srtp.reference_protect_rtcp(MASTER, rtcp, index=index & 0x7FFFFFFF)
        assert rx.unprotect_rtcp(protected) == rtcp


@pytest.mark.parametrize("suite", SUITES)
def test_round_trip_and_tag_lengths(suite: SrtpSuite) -> None:
    master = srtp.generate_master(suite)
    tx = SrtpContext(suite, master, outbound=True)
    rx = SrtpContext(suite, master, outbound=False)
    plain = rtp(7)
    protected = tx.protect(plain)
    assert len(protected) == len(plain) + suite.rtp_tag_length
    assert protected[12:] != plain[12:]
    assert rx.unprotect(protected) == plain


# ---------------------------------------------------------------------------- rollover counter


def test_stream_crossing_65535_keeps_decrypting() -> None:
    sender = RtpSender.create(0, ssrc=SSRC, initial_sequence=65500)
    tx = SrtpContext(SrtpSuite.AES_CM_128_HMAC_SHA1_80, MASTER, outbound=True)
    rx = SrtpContext(SrtpSuite.AES_CM_128_HMAC_SHA1_80, MASTER, outbound=False)
    for i in range(200):
        plain = sender.next_packet(bytes([i & 0xFF]) * 160)
        assert rx.unprotect(tx.protect(plain)) == plain
    assert sender.wraps == 1
    assert tx.roc == rx.roc == 1
    assert tx.library_roc(SSRC) == rx.library_roc(SSRC) == 1
    assert rx.packet_index == (1 << 16) | ((65500 + 199) & 0xFFFF)


def test_reordering_across_the_wrap_is_accepted() -> None:
    tx = SrtpContext(SrtpSuite.AES_CM_128_HMAC_SHA1_80, MASTER, outbound=True)
    rx = SrtpContext(SrtpSuite.AES_CM_128_HMAC_SHA1_80, MASTER, outbound=False)
    packets = {seq: tx.protect(rtp(seq)) for seq in (65533, 65534, 65535, 0, 1, 2)}
    for seq in (65533, 0, 65535, 65534, 2, 1):  # late packets from before the wrap (v = ROC - 1)
        assert rx.unprotect(packets[seq]) == rtp(seq)
    assert rx.roc == 1


def test_explicit_initial_roc_both_sides() -> None:
    """A lab can start a stream at any packet index: the ROC is part of the authentication (RFC 3711 §4.2)."""
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    tx = SrtpContext(suite, MASTER, outbound=True, ssrc=SSRC, roc=5)
    protected = tx.protect(rtp(100))
    assert protected == srtp.reference_protect_rtp(MASTER, rtp(100), roc=5)
    assert tx.library_roc() == 5
    with pytest.raises(SrtpAuthError):
        SrtpContext(suite, MASTER, outbound=False).unprotect(protected)  # a fresh receiver assumes ROC 0
    rx = SrtpContext(suite, MASTER, outbound=False, roc=5)  # binds to the first packet's SSRC
    assert rx.unprotect(protected) == rtp(100)
    assert rx.ssrc == SSRC and rx.roc == 5


def test_new_ssrc_restarts_receiver_tracking() -> None:
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    rx = SrtpContext(suite, MASTER, outbound=False)
    tx1 = SrtpContext(suite, MASTER, outbound=True)
    for seq in (65534, 65535, 0):
        rx.unprotect(tx1.protect(rtp(seq, ssrc=1)))
    assert rx.roc == 1 and rx.library_roc() == 1
    tx2 = SrtpContext(suite, MASTER, outbound=True)  # the peer restarts with another SSRC
    assert rx.unprotect(tx2.protect(rtp(500, ssrc=2))) == rtp(500, ssrc=2)
    assert rx.roc == 0 and rx.s_l == 500 and rx.library_roc() == 0 and rx.library_roc(1) == 1


@pytest.mark.parametrize("suite", SUITES)
def test_in_place_pair_equals_the_bytes_api_across_the_wrap(suite: SrtpSuite) -> None:
    """The engine's path (packet packed into the context's buffer, datagram received into it) gives the same
    bytes, header fields and ROC tracking as protect/unprotect, across the sequence wrap."""
    sender = RtpSender.create(0, ssrc=SSRC, initial_sequence=65530, initial_timestamp=0)
    ref_sender = RtpSender.create(0, ssrc=SSRC, initial_sequence=65530, initial_timestamp=0)
    tx = SrtpContext(suite, MASTER, outbound=True)
    ref = SrtpContext(suite, MASTER, outbound=True)
    rx = SrtpContext(suite, MASTER, outbound=False)
    assert tx.inplace and rx.inplace
    for i in range(12):
        payload = bytes([i]) * 160
        seq = sender.sequence
        n = tx.protect_in_place(sender.pack_next(tx.buffer, payload), seq)
        wire = tx.buffer[0:n]
        plain = ref_sender.next_packet(payload)
        assert wire == ref.protect(plain) and n == 172 + suite.rtp_tag_length
        rx.buffer[0:n] = wire
        b0, b1, rseq, ts, ssrc = rx.unprotect_in_place(n)
        assert (b0, b1, rseq, ts, ssrc) == struct.unpack("!BBHII", plain[:12])
        assert rx.buffer[0 : n - rx.rtp_tag_length] == plain
    assert tx.roc == ref.roc == rx.roc == 1 and sender.wraps == 1
    assert rx.library_roc() == 1 and rx.packet_index == (1 << 16) | 5


def test_in_place_errors_are_classified_like_the_bytes_api() -> None:
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    tx = SrtpContext(suite, MASTER, outbound=True)
    rx = SrtpContext(suite, MASTER, outbound=False)

    def feed(data: bytes) -> tuple[int, int, int, int, int]:
        rx.buffer[0 : len(data)] = data
        return rx.unprotect_in_place(len(data))

    good = tx.protect(rtp(10))
    for junk in (b"", b"\x00\x01\x00\x00" + bytes(16), b"\xff" * 40, b"\x80" + bytes(20)):
        with pytest.raises(SrtpParseError):  # garbage: dropped, never a crypto error
            feed(junk)
    with pytest.raises(SrtpAuthError):
        feed(good[:-1] + bytes([good[-1] ^ 1]))
    assert rx.buffer[0 : len(good)] == good[:-1] + bytes([good[-1] ^ 1])  # left as received (old-key retry)
    assert feed(good)[2] == 10
    with pytest.raises(SrtpReplayError):
        feed(good)
    assert rx.auth_failures == 1 and rx.replay_failures == 1
    assert not SrtpContext(suite, MASTER, outbound=True, mki=b"\x01").inplace  # MKI: the bytes API only


def test_outbound_roc_needs_ssrc() -> None:
    with pytest.raises(ValueError):
        SrtpContext(SrtpSuite.AES_CM_128_HMAC_SHA1_80, MASTER, outbound=True, roc=1)


# ------------------------------------------------------------------- keep vs regenerate


def _pair(local: bytes, remote: bytes) -> tuple[SrtpSession, SrtpSession]:
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    a = SrtpSession(SrtpKeying(suite, local), SrtpKeying(suite, remote))
    b = SrtpSession(SrtpKeying(suite, remote), SrtpKeying(suite, local))
    return a, b


def _flow(src_sender: RtpSender, src: SrtpSession, dst: SrtpSession, n: int) -> tuple[int, int]:
    ok = failed = 0
    for _ in range(n):
        plain = src_sender.next_packet(b"\x55" * 160)
        try:
            assert dst.unprotect(src.protect(plain)) == plain
            ok += 1
        except SrtpAuthError as exc:
            assert exc.crypto_error
            failed += 1
    return ok, failed


def test_keep_vs_regenerate_after_rollover_is_undecryptable() -> None:
    """DGW troubleshooting case: A keeps its context on the re-INVITE, B regenerates its own -> after a
    sequence rollover B can no longer decrypt A (Mipt 110), while B -> A still works."""
    ka, kb = os.urandom(30), os.urandom(30)
    a, b = _pair(ka, kb)
    a_sender = RtpSender.create(0, ssrc=0x1111, initial_sequence=65530)
    b_sender = RtpSender.create(0, ssrc=0x2222, initial_sequence=100)
    assert _flow(a_sender, a, b, 20) == (20, 0)  # crosses 65535: both sides at ROC 1
    assert _flow(b_sender, b, a, 20) == (20, 0)
    assert b.rx.roc == 1

    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    kb2 = os.urandom(30)  # B regenerates: new key in its answer, fresh contexts, RTP restarts
    upd_a = a.update(SrtpKeying(suite, ka), SrtpKeying(suite, kb2), ContextBehaviour.KEEP)
    upd_b = b.update(SrtpKeying(suite, kb2), SrtpKeying(suite, ka), ContextBehaviour.REGENERATE)
    assert upd_a.tx_regenerated is False and upd_a.rx_regenerated is True  # A must take B's new key
    assert upd_b.tx_regenerated and upd_b.rx_regenerated
    b_sender.reset(random.Random(1))

    assert _flow(a_sender, a, b, 50) == (0, 50)  # A -> B: ROC 1 vs 0, every tag fails
    assert b.rx.auth_failures == 50
    assert _flow(b_sender, b, a, 50) == (50, 0)  # B -> A: fine


def test_keep_vs_regenerate_before_rollover_still_works() -> None:
    ka, kb = os.urandom(30), os.urandom(30)
    a, b = _pair(ka, kb)
    a_sender = RtpSender.create(0, ssrc=0x1111, initial_sequence=1000)
    assert _flow(a_sender, a, b, 20) == (20, 0)
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    a.update(SrtpKeying(suite, ka), SrtpKeying(suite, kb), ContextBehaviour.KEEP)
    b.update(SrtpKeying(suite, kb), SrtpKeying(suite, ka), ContextBehaviour.REGENERATE)
    assert _flow(a_sender, a, b, 20) == (20, 0)  # ROC 0 on both sides: the fresh receiver syncs


@pytest.mark.parametrize("behaviour", list(ContextBehaviour))
def test_same_behaviour_on_both_sides_survives_rollover(behaviour: ContextBehaviour) -> None:
    ka, kb = os.urandom(30), os.urandom(30)
    a, b = _pair(ka, kb)
    a_sender = RtpSender.create(0, ssrc=0x1111, initial_sequence=65530)
    assert _flow(a_sender, a, b, 20) == (20, 0)
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    upd = a.update(SrtpKeying(suite, ka), SrtpKeying(suite, kb), behaviour)
    b.update(SrtpKeying(suite, kb), SrtpKeying(suite, ka), behaviour)
    if upd.tx_regenerated:
        a_sender.reset(random.Random(2))
    assert _flow(a_sender, a, b, 50) == (50, 0)


@pytest.mark.parametrize(
    ("restart_seq", "error"),
    [(20000, SrtpAuthError), (40000, SrtpReplayError)],
)
def test_resume_from_hold_sender_regenerates_receiver_keeps(restart_seq: int, error: type[Exception]) -> None:
    """The other direction of the case: the sender restarts (same key, ROC 0, new random sequence) while
    the receiver keeps a context that has seen a wrap. Depending on where the new sequence falls, the
    receiver guesses ROC 1 (tag fails) or ROC 0 far behind its window (index too old): audio is lost."""
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    tx = SrtpContext(suite, MASTER, outbound=True)
    rx = SrtpContext(suite, MASTER, outbound=False)
    sender = RtpSender.create(0, ssrc=SSRC, initial_sequence=65000)
    for _ in range(1000):
        rx.unprotect(tx.protect(sender.next_packet(b"\x00" * 160)))
    assert rx.roc == 1
    tx = tx.regenerate()  # hold/resume on a Regenerate unit: fresh context, same key (kept in the answer)
    sender.reset(random.Random(3), initial_sequence=restart_seq)
    failures = 0
    for _ in range(30):
        try:
            rx.unprotect(tx.protect(sender.next_packet(b"\x00" * 160)))
        except error as exc:
            assert not isinstance(exc, SrtpReplayError) or exc.too_old
            failures += 1
    assert failures == 30


# -------------------------------------------------------------------------------- errors


def test_error_classes() -> None:
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    tx = SrtpContext(suite, MASTER, outbound=True)
    rx = SrtpContext(suite, MASTER, outbound=False)
    p1 = tx.protect(rtp(1))
    assert rx.unprotect(p1) == rtp(1)
    with pytest.raises(SrtpReplayError) as replay:
        rx.unprotect(p1)
    assert not replay.value.crypto_error and not replay.value.too_old
    p2 = bytearray(tx.protect(rtp(2)))
    p2[30] ^= 0x01
    with pytest.raises(SrtpAuthError) as auth:
        rx.unprotect(bytes(p2))
    assert auth.value.crypto_error and auth.value.status == 7
    assert rx.unprotect(tx.protect(rtp(3))) == rtp(3)  # a forged packet does not disturb the stream
    stun = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    for garbage in (b"", b"\x80", stun, rtp(4)[:12], b"\x8f" + rtp(5)[1:30], os.urandom(3)):
        with pytest.raises(SrtpParseError) as parse:
            rx.unprotect(garbage)
        assert not parse.value.crypto_error
    with pytest.raises(SrtpParseError):
        tx.protect(b"\x00" * 40)  # not version 2
    with pytest.raises(SrtpParseError):
        tx.protect(rtp(6, payload=bytes(2000)))
    with pytest.raises(SrtpParseError):
        rx.unprotect_rtcp(b"\x80\x00" + os.urandom(30))
    assert rx.auth_failures == 1 and rx.replay_failures == 1


def test_truncated_packets_never_crash() -> None:
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_32
    tx = SrtpContext(suite, MASTER, outbound=True)
    rx = SrtpContext(suite, MASTER, outbound=False)
    full = tx.protect(rtp(10))
    for cut in range(len(full)):
        with pytest.raises(srtp.SrtpError):
            rx.unprotect(full[:cut])
    assert rx.unprotect(full) == rtp(10)


def test_public_api_fallback_maps_errors_the_same() -> None:
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    tx = SrtpContext(suite, MASTER, outbound=True)
    rx = SrtpContext(suite, MASTER, outbound=False)
    tx._srtp = None  # force pylibsrtp's public Session methods
    rx._srtp = None
    p = tx.protect(rtp(1))
    assert p == srtp.reference_protect_rtp(MASTER, rtp(1))
    assert rx.unprotect(p) == rtp(1)
    with pytest.raises(SrtpReplayError):
        rx.unprotect(p)
    bad = bytearray(tx.protect(rtp(2)))
    bad[-1] ^= 0xFF
    with pytest.raises(SrtpAuthError):
        rx.unprotect(bytes(bad))


@pytest.mark.parametrize("public_api", [False, True], ids=["binding", "public-api"])
def test_srtcp_failures_are_counted_like_srtp_ones(public_api: bool) -> None:
    """A replayed or forged SRTCP packet counts among the context's replay / authentication failures, on
    libsrtp's binding as on pylibsrtp's public API (the binding path used to count neither replays)."""
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    tx = SrtpContext(suite, MASTER, outbound=True)
    rx = SrtpContext(suite, MASTER, outbound=False)
    if public_api:
        tx._srtp = None
        rx._srtp = None
    report = ReceiverReport(SSRC).serialize()
    protected = tx.protect_rtcp(report)
    assert rx.unprotect_rtcp(protected) == report
    with pytest.raises(SrtpReplayError):
        rx.unprotect_rtcp(protected)
    forged = bytearray(tx.protect_rtcp(report))
    forged[-1] ^= 0xFF
    with pytest.raises(SrtpAuthError):
        rx.unprotect_rtcp(bytes(forged))
    assert (rx.replay_failures, rx.auth_failures) == (1, 1)


def test_suite_profiles_are_libsrtp_ones() -> None:
    """The keying package names libsrtp's profiles without importing pylibsrtp: the numbers must agree."""
    assert SrtpSuite.AES_CM_128_HMAC_SHA1_80.profile == Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    assert SrtpSuite.AES_CM_128_HMAC_SHA1_32.profile == Policy.SRTP_PROFILE_AES128_CM_SHA1_32


# ----------------------------------------------------------------------------------- MKI


def test_mki_inserted_between_payload_and_tag() -> None:
    suite = SrtpSuite.AES_CM_128_HMAC_SHA1_80
    mki = b"\x00\x00\x00\x01"
    tx = SrtpContext(suite, MASTER, outbound=True, mki=mki)
    rx = SrtpContext(suite, MASTER, outbound=False, mki=mki)
    protected = tx.protect(rtp(9))
    assert protected == srtp.reference_protect_rtp(MASTER, rtp(9), mki=mki)  # RFC 3711 §3.1 layout
    assert rx.unprotect(protected) == rtp(9)
    other = SrtpContext(suite, MASTER, outbound=True, mki=b"\x00\x00\x00\x02").protect(rtp(10))
    with pytest.raises(SrtpParseError):
        rx.unprotect(other)
    rtcp = ReceiverReport(SSRC).serialize()
    assert rx.unprotect_rtcp(tx.protect_rtcp(rtcp)) == rtcp


def test_keying_validation() -> None:
    with pytest.raises(ValueError):
        SrtpKeying(SrtpSuite.AES_CM_128_HMAC_SHA1_80, bytes(29))
    with pytest.raises(ValueError):
        SrtpContext(SrtpSuite.AES_CM_128_HMAC_SHA1_80, bytes(31), outbound=True)
    assert ContextBehaviour.from_parameter("keep") is ContextBehaviour.KEEP
    with pytest.raises(ValueError):
        ContextBehaviour.from_parameter("Sometimes")


def test_estimate_roc_rfc3711_rules() -> None:
    assert srtp.estimate_roc(1, 100, 200) == 1
    assert srtp.estimate_roc(1, 100, 65000) == 0  # late packet from before the wrap
    assert srtp.estimate_roc(1, 65000, 5) == 2  # wrapped
    assert srtp.estimate_roc(1, 65000, 64000) == 1
    assert "libsrtp" in srtp.libsrtp_version()

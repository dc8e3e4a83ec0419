"""RFC 4733 telephone events: the sender's packet sequence, the receiver's digits, refusals."""

from __future__ import annotations

import struct

import pytest

from emulator.protocols.media.dtmf import DtmfError, DtmfReceiver, DtmfSender, parse_digits


def run(sender: DtmfSender, ticks: int, ts0: int = 1000) -> list[tuple[int, object]]:
    out = []
    for i in range(ticks):
        ts = ts0 + 160 * i
        out.append((ts, sender.step(ts)))
    return out


def test_one_digit_follows_rfc_4733() -> None:
    s = DtmfSender()
    s.queue("5", duration_ms=100, gap_ms=40)
    seq = run(s, 12)
    events = [(ts, p) for ts, p in seq if p is not None]
    assert len(events) == 5 + 2  # 5 packets of 20 ms, the end packet sent 3 times in all
    fields = [struct.unpack("!BBH", p.payload) for _, p in events]  # type: ignore[attr-defined]
    assert [f[0] for f in fields] == [5] * 7
    assert [f[2] for f in fields] == [160, 320, 480, 640, 800, 800, 800]  # growing duration, then repeated
    assert [bool(f[1] & 0x80) for f in fields] == [False] * 4 + [True] * 3  # E bit on the end packets
    assert [f[1] & 0x3F for f in fields] == [10] * 7  # volume -10 dBm0
    assert [p.marker for _, p in events] == [True] + [False] * 6  # type: ignore[attr-defined]
    assert {p.timestamp for _, p in events} == {1000}  # type: ignore[attr-defined]  # the event's start time
    assert [p is None for _, p in seq[7:]] == [True] * 5  # then audio: the 40 ms gap and after
    assert not s.busy


def test_digits_in_sequence_with_gaps_and_receiver_counts_each_once() -> None:
    s = DtmfSender()
    s.queue("1#", duration_ms=40, gap_ms=40)
    seq = run(s, 20)
    rx = DtmfReceiver()
    got = [rx.feed(p.payload, p.timestamp) for _, p in seq if p is not None]  # type: ignore[attr-defined]
    assert [g for g in got if g] == ["1", "#"] and rx.digits == "1#"
    first_ts = {p.timestamp for _, p in seq if p is not None}  # type: ignore[attr-defined]
    assert len(first_ts) == 2  # one start time per event
    assert rx.feed(b"\x20\x80\x00\xa0", 99) is None  # event 32 (not DTMF) ignored
    assert rx.feed(b"\x01", 98) is None  # truncated


@pytest.mark.parametrize(("digits", "why"), [("12x", "not DTMF digits: 'X'"), ("", "no digits"),
                                             ("1" * 65, "at most 64")])
def test_bad_digits(digits: str, why: str) -> None:
    with pytest.raises(DtmfError) as exc:
        parse_digits(digits)
    assert why in str(exc.value)


def test_bad_timings_queue_nothing() -> None:
    s = DtmfSender()
    with pytest.raises(DtmfError, match="duration_ms"):
        s.queue("1", duration_ms=5)
    with pytest.raises(DtmfError, match="gap_ms"):
        s.queue("1", gap_ms=5000)
    assert not s.busy
    assert parse_digits(" abcd*# ") == "ABCD*#"

"""TelIf.InteropDtmfDetection: the thresholds of the in-band DTMF detector of the called line. Two units registered
to a real Kamailio (alice on a 4102, bob on a C740); in alice's calls to bob her line plays a WAV the test made
(testkit.baresip.write_dtmf_wav) holding a digit 1 at the level or twist under test, then a reference 5 at -10 dBm0
with no twist, over and over. Bob's line detects digits in band (the call carries no RFC 4733 events). Each 5 bob
detects proves the 1 before it was heard: between his first two 5s stands the 1 when his row's threshold lets it
through, nothing when it does not. The same digit is detected with one value of the row and not with another.

The twist is the high (column) tone's level less the low (row) tone's: PositiveTwist bounds a low tone louder than
the high one (spandsp's twist), NegativeTwist a high tone louder than the low one (its reverse twist).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.runtime.unit import Unit
from testkit.baresip import write_dtmf_wav
from testkit.kamailio import Kamailio
from tests.interop.siplab import Pkis, endpoint_action, pair, sipep, stream, wait_for

pytestmark = pytest.mark.peer

ROW = "TelIf.InteropDtmfDetection[Bri1]"


async def _heard_between_references(a: Unit, b: Unit, wav: Path) -> str:
    """Alice calls bob and plays `wav`; what bob detected between the first two reference digits (5)."""
    call = await sipep(a).calls.dial("Phone-Fax1", "bob")
    assert b"telephone-event" not in call.local_sdp  # alice offers no RFC 4733 events: digits go in band
    await wait_for(lambda: (sipep(b).calls.current("Bri1") or call).state == "ringing", what="bob rings")
    await endpoint_action(b, "offhook", endpoint="Bri1")  # bob lifts the handset
    incoming = sipep(b).calls.connected("Bri1")
    await wait_for(lambda: call.state == "connected" and incoming.acked.is_set(), what="connected")
    assert stream(incoming).codec in ("PCMU", "PCMA")  # the levels cross G.711 unchanged
    stream(call).play_wav(wav)
    heard = stream(incoming)
    await wait_for(lambda: heard.dtmf_received.count("5") >= 2, timeout=10, what="two reference digits")
    received: str = heard.dtmf_received
    await sipep(a).calls.hangup("Phone-Fax1")
    await wait_for(lambda: incoming.state == "ended", what="bob's call ended")
    return received.split("5")[1]


async def _lab(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, level: float,
               twist: float) -> tuple[Unit, Unit, Path]:
    a, b = await pair(units, kamailios, tmp_path, pkis, "Sdes", "Sdes")
    wav = write_dtmf_wav(tmp_path / "digits.wav", "15", level_dbm0=[level, -10.0], twist_db=[twist, 0.0],
                         tail_ms=300)
    return a, b, wav


@pytest.mark.parametrize(("column", "level", "twist", "detected", "missed"), [
    ("MinPowerThreshold", -26.0, 0.0, -30, -20),  # each tone at -26 dBm0
    ("PositiveTwist", -12.0, -8.0, 10, 4),  # the high tone 8 dB under the low one
    ("NegativeTwist", -12.0, 8.0, 10, 4),  # the high tone 8 dB over the low one
])
async def test_a_digit_is_detected_at_one_threshold_and_not_at_another(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, column: str, level: float,
        twist: float, detected: int, missed: int) -> None:
    a, b, wav = await _lab(units, kamailios, tmp_path, pkis, level, twist)
    results: dict[int, Any] = {}
    for value in (missed, detected):  # read when a call's media starts: each call has the row as it is then
        b.config.set(f"{ROW}.{column}", value)
        results[value] = await _heard_between_references(a, b, wav)
    assert results == {missed: "", detected: "1"}, results

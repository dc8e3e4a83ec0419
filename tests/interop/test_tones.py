"""Country tones heard at the far end, and early media: two units through Kamailio over TLS (SRTP keyed by SDES).

The called unit's line rings with reliable provisionals (100rel on both sides), so it answers the offer in a 183
Session Progress and plays its country's ringback (TelIf.CountrySelection) in that early session. The caller
records what it receives before any answer; the recording's frequencies and cadence are those of the called
unit's country, for three countries. ``TelIf.CountryToneStatus`` shows the pattern played.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulator.engines.mipt.endpoint_audio import EndpointAudio
from emulator.runtime.unit import Unit
from testkit.baresip import read_wav_pcm, tone_blocks
from testkit.kamailio import Kamailio
from tests.helpers.tones import cadence_matches, runs
from tests.interop.siplab import Pkis, kamailio, lab_unit, reg_state, sipep, wait_for

pytestmark = pytest.mark.peer

EP = "Phone-Fax1"
BLOCK_MS = 50
ON_LEVEL = -35.0  # dBm0: a block louder than this hears the tone

# country -> (frequencies (Hz) of the ringback, on/off cadence (ms) of one cycle), per the national tone plans
RINGBACK = {
    "NorthAmerica1": ((440.0, 480.0), [2000, 4000]),
    "France1": ((440.0,), [1500, 3500]),
    "Uk1": ((400.0, 450.0), [400, 200, 400, 2000]),
}


@pytest.mark.parametrize("country", sorted(RINGBACK))
async def test_ringback_of_the_called_unit_country_heard_before_answer(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, country: str) -> None:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    a = await lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address, key_management="Sdes",
                       settings={"SipEp.UacPrackSupport": "Supported"})
    b = await lab_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address, key_management="Sdes",
                       settings={"SipEp.UasPrackSupport": "Supported", "TelIf.CountrySelection": country})
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    statuses = {r["Tone"]: r["Pattern"] for r in b.config.rows("TelIf.CountryToneStatus")}
    assert {"Dial", "Ringback", "Busy", "Congestion", "CallWaiting"} <= set(statuses)
    freqs, cadence = RINGBACK[country]
    assert all(f"={f:g}:" in statuses["Ringback"] for f in freqs), statuses["Ringback"]

    ca, cb = sipep(a).calls, sipep(b).calls
    ca.media.set_audio(EP, EndpointAudio(record="early.wav"))  # type: ignore[attr-defined]
    call = await ca.dial(EP, "bob")
    await wait_for(lambda: call.state == "alerting" and bool(call.remote_sdp), what="A alerted by the 183 with SDP")
    incoming = cb.current(EP)
    assert incoming is not None and incoming.state == "ringing"
    await asyncio.sleep((2 * sum(cadence) + 600) / 1000)  # about two cycles of ringback, unanswered
    assert call.state == "alerting"  # still not answered: what was heard is early media
    await ca.hangup(EP)
    await wait_for(lambda: incoming.state == "ended", what="B's ringing cancelled")

    _, _, _, pcm = read_wav_pcm(Path(a.state_dir) / "audio" / "early.wav")
    blocks = tone_blocks(pcm, block_ms=BLOCK_MS)
    heard = [m for m in blocks if m.level_dbm0 > ON_LEVEL]
    assert heard, "no early audio at the caller"
    on = [m.level_dbm0 > ON_LEVEL for m in blocks]
    inside = [m for i, m in enumerate(blocks[1:-1], 1) if on[i - 1] and on[i] and on[i + 1]]  # not a burst's edge
    assert len(inside) >= 0.5 * len(heard)
    for m in inside:
        assert m.frequency is not None and min(abs(m.frequency - f) for f in freqs) < 12, m
    pattern = runs(on)
    while pattern and not pattern[0][0]:  # silence before the 183's media flowed
        pattern.pop(0)
    inner = pattern[1:-1]  # the first and last runs may be cut by the start of the media and the hang-up
    assert len(inner) >= len(cadence), pattern
    assert any(cadence_matches(inner, cadence, k) for k in range(len(cadence))), (pattern, cadence)

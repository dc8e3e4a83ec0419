"""TelIf user gains on a call between two units through Kamailio over TLS (SRTP keyed by SDES).

Unit A's phone plays a 1 kHz tone at -10 dBm0 toward unit B, whose phone records what its earpiece plays. A first
call gives the reference: the level B receives (its stream's measure, decoded from the network) and the level of B's
recording. Then A's line gets an input offset of -6 dB (its ``TelIf.SpecificCountryCustomizationUserGain`` row,
enabled) and B's unit an output offset of -4 dB (``TelIf.DefaultCountryCustomizationUserGainOutputOffset``): on the
next call B receives the tone 6 dB lower, and B's recording is 4 dB lower again (10 dB under the first one).
"""

from __future__ import annotations

import asyncio
import math
import statistics
from array import array
from pathlib import Path

import pytest

from emulator.engines.mipt.endpoint_audio import EndpointAudio
from emulator.runtime.unit import Unit
from testkit.baresip import read_wav_pcm
from testkit.kamailio import Kamailio
from tests.interop.siplab import Pkis, kamailio, lab_unit, reg_state, sipep, stream, wait_for

pytestmark = pytest.mark.peer

EP = "Phone-Fax1"
TOLERANCE_DB = 1.0


def wav_level_db(path: Path, skip_s: float = 0.5) -> float:
    """The RMS level of a recording (dB relative to full scale), its first ``skip_s`` left out."""
    rate, _channels, _bits, pcm = read_wav_pcm(path)
    samples = array("h", pcm)[int(rate * skip_s):]
    assert len(samples) > rate // 2, f"{path.name}: {len(samples)} samples recorded"
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    return 20 * math.log10(rms / 32768)


async def one_call(a: Unit, b: Unit, record: str) -> tuple[float, float]:
    """A calls B, B answers; B's received level (median of measures) and its recording's level."""
    ca, cb = sipep(a).calls, sipep(b).calls
    cb.media.set_audio(EP, EndpointAudio(record=record))  # type: ignore[attr-defined]
    call = await ca.dial(EP, "bob")
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="B ringing")
    incoming = await cb.answer(EP)
    await wait_for(lambda: call.state == "connected", what="A connected")

    def hears() -> bool:
        m = stream(incoming).measure()
        return m.frequency is not None and abs(m.frequency - 1000.0) < 15

    await wait_for(hears, timeout=6, what="B hearing A's 1 kHz")
    levels = []
    for _ in range(8):
        await asyncio.sleep(0.2)
        levels.append(stream(incoming).measure().level_dbm0)
    await ca.hangup(EP)
    await wait_for(lambda: incoming.state == "ended", what="B hung up by the BYE")
    cb.media.set_audio(EP, EndpointAudio())  # type: ignore[attr-defined]  # the recording closed
    return statistics.median(levels), wav_level_db(b.state_dir / "audio" / record)


async def test_input_offset_lowers_what_the_far_end_hears_and_output_offset_what_the_earpiece_plays(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    a = await lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address, key_management="Sdes")
    b = await lab_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address, key_management="Sdes")
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    sipep(a).calls.media.set_audio(EP, EndpointAudio(tones=(1000.0,), level_dbm0=-10.0))  # type: ignore[attr-defined]

    heard0, recorded0 = await one_call(a, b, "reference.wav")
    assert abs(heard0 - -10.0) <= TOLERANCE_DB, heard0  # no offset: the tone as A's phone plays it

    a.config.set(f"TelIf.SpecificCountryCustomizationUserGain[{EP}].InputOffset", -6)
    a.config.set("TelIf.DefaultCountryCustomizationUserGainInputOffset", 5)  # overridden by the enabled row
    a.config.set(f"TelIf.SpecificCountryCustomizationUserGain[{EP}].EnableConfig", "Enable")
    b.config.set("TelIf.DefaultCountryCustomizationUserGainOutputOffset", -4)
    heard1, recorded1 = await one_call(a, b, "offsets.wav")
    assert abs((heard1 - heard0) - -6.0) <= TOLERANCE_DB, (heard0, heard1)  # A's input offset, on the network
    assert abs((recorded1 - recorded0) - -10.0) <= TOLERANCE_DB, (recorded0, recorded1)  # and B's output offset

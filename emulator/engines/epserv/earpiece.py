"""What a line's user hears from the unit itself while no call carries audio: the dial tone after lifting the
handset, the stutter (confirmation) tone of a service code, the reorder tone of a refused number or a dialling
timeout, the busy tone after a busy answer or the far end's hang-up (EpServ; the patterns of the unit's
country, ``TelIf.CountrySelection``, rendered by :mod:`emulator.protocols.media.tone_pattern`).

The tone goes where a call's received audio goes: the endpoint phone's recording (its ``record`` WAV file,
:mod:`emulator.engines.mipt.endpoint_audio`) and a 200 ms measure window (:meth:`Earpiece.measure`). Frames
of 20 ms are written at the pace of the event loop's clock (frames the loop fell behind on are written at
once, so the recording's length follows the time elapsed). A call's own audio takes over: the call layer's
stream records into the same file once the tone is stopped (:meth:`Earpiece.stop`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from emulator.engines.mipt.call_tones import tone_patterns
from emulator.engines.mipt.sources import WavRecorder, WavSource, pcm_source
from emulator.protocols.media.tone_pattern import PatternError, parse, render
from emulator.protocols.media.tones import ToneMeasurement, ToneMeter

__all__ = ["Earpiece"]

FRAME_S = 0.02
SAMPLES = 160


class Earpiece:
    """One endpoint's locally played tone (see the module docstring)."""

    def __init__(self, config: object, record_path: Callable[[], Path | None]) -> None:
        self.config = config
        self.record_path = record_path  # the endpoint phone's recording file now (None: not recording)
        self.tone: str | None = None
        self.meter = ToneMeter()
        self._task: asyncio.Task[None] | None = None
        self._recorder: WavRecorder | None = None

    def source(self, tone: str) -> WavSource | None:
        pattern = tone_patterns(self.config).get(tone)
        if not pattern:
            return None
        try:
            return pcm_source(render(parse(pattern)), f"{tone}.tone")
        except (PatternError, ValueError):
            return None

    def play(self, tone: str) -> bool:
        """Start ``tone`` (Dial, Busy, Reorder, Stutter...; replacing the one playing); False when the country has
        no such tone (silence)."""
        self.stop()
        source = self.source(tone)
        if source is None:
            return False
        self.tone = tone
        path = self.record_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._recorder = WavRecorder(path)
        self._task = asyncio.get_running_loop().create_task(self._run(source))
        return True

    def stop(self) -> None:
        """Silence; the recording file is closed (a call's stream may open it next)."""
        self.tone = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.close()

    def release(self) -> WavRecorder | None:
        """Silence, handing over the open recording (a call's stream records on into the same file) instead of
        closing it."""
        recorder, self._recorder = self._recorder, None
        self.stop()
        return recorder

    def measure(self) -> ToneMeasurement:
        """Frequency and level of the last 200 ms heard."""
        return self.meter.measure()

    async def _run(self, source: WavSource) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        written = 0
        while True:
            due = int((loop.time() - start) / FRAME_S) + 1
            while written < due:
                pcm = source.read(SAMPLES)
                self.meter.feed(pcm)
                if self._recorder is not None:
                    self._recorder.write_pcm(pcm)
                written += 1
            await asyncio.sleep(max(0.0, start + written * FRAME_S - loop.time()))

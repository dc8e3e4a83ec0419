"""The receive jitter buffer (pure): packets in arrival order in, frames in timestamp order out at their playout time.

Model (the usual adaptive playout of RFC 3550 receivers, sized by ``Mipt.DefaultJitterBuffer*``):

* a packet's playout time is ``ts / rate + base + delay``; ``base`` is the smallest transit seen (arrival minus
  timestamp time: the fastest path), ``delay`` the buffer's length;
* :meth:`JitterBuffer.pull` gives, at `now`, every frame whose playout time has come, in timestamp order; a frame
  that has not arrived by then is ``None`` (concealed: the caller plays silence or the codec's concealment);
* a packet arriving after its frame was played is **late** (discarded, counted — RFC 3611's discard count); one
  whose timestamp was already received is a duplicate (counted, dropped);
* adaptive (the voice levels and ``AdaptiveImmediately``/``AdaptiveSilence`` VBD types): ``delay`` follows the
  largest transit deviation of the last 2 s plus 10 ms, kept within [min, max]; fixed: ``delay`` = nominal.

Times are seconds (float) passed in; timestamps are 32-bit RTP timestamps (wrap handled); ``step`` is the samples
per packet, learnt from the smallest forward timestamp step seen.

Levels (an emulator choice, the vendor documents no lengths): OptimizeLatency 10/20/60 ms (min/nominal/max),
Normal 30/30/125, OptimizeQuality 60/90/250, FaxModem fixed 100; Custom takes ``CustomMin/Nom/MaxLength`` (a
nominal of 0 starts at the minimum).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["LEVELS", "JitterBuffer", "JitterSettings", "settings_from_config"]

LEVELS: dict[str, tuple[int, int, int, bool]] = {  # level -> (min, nominal, max ms, adaptive)
    "OptimizeLatency": (10, 20, 60, True),
    "Normal": (30, 30, 125, True),
    "OptimizeQuality": (60, 90, 250, True),
    "FaxModem": (100, 100, 100, False),
}
_WINDOW = 2.0  # seconds of transit deviations the adaptation looks at
_MARGIN = 0.010


@dataclass(frozen=True, slots=True)
class JitterSettings:
    min_ms: int = 30
    nominal_ms: int = 30
    max_ms: int = 125
    adaptive: bool = True
    level: str = "Normal"

    @classmethod
    def of(cls, level: str, custom: tuple[int, int, int] = (30, 0, 125), adaptive: bool = True) -> JitterSettings:
        if level in LEVELS:
            lo, nom, hi, ad = LEVELS[level]
            return cls(lo, nom, hi, ad, level)
        lo, nom, hi = custom
        hi = max(lo, hi)
        return cls(lo, min(max(nom or lo, lo), hi), hi, adaptive, level)


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def settings_from_config(config: Any, endpoint: str | None = None, *, vbd: bool = False) -> JitterSettings:
    """The jitter buffer of `endpoint`: ``Mipt.EpSpecificJitterBuffer[ep]`` when enabled, else the defaults; `vbd`
    (voice-band data: fax or modem over G.711) uses the VBD custom lengths and ``DefaultVbdJitterBufferType``."""
    level = str(config.get("Mipt.DefaultJitterBufferLevel") or "Normal")
    names = ("CustomMinLength", "CustomNomLength", "CustomMaxLength")
    vbd_names = names
    custom = tuple(_int(config.get(f"Mipt.DefaultJitterBuffer{n}"), d)
                   for n, d in zip(names, (30, 0, 125), strict=True))
    vbd_custom = tuple(_int(config.get(f"Mipt.DefaultVbdJitterBuffer{n}"), d)
                       for n, d in zip(vbd_names, (0, 67, 135), strict=True))
    vbd_type = str(config.get("Mipt.DefaultVbdJitterBufferType") or "Fixed")
    if endpoint is not None:
        for row in config.rows("Mipt.EpSpecificJitterBuffer"):
            if str(row.get("EpId")) == endpoint and str(row.get("EnableConfig")) == "Enable":
                level = str(row.get("Level", level))
                custom = tuple(_int(row.get(n), c) for n, c in zip(names, custom, strict=True))
                vbd_custom = tuple(_int(row.get(f"CustomVbd{n[6:]}"), c)
                                   for n, c in zip(vbd_names, vbd_custom, strict=True))
                vbd_type = str(row.get("CustomVbdJitterBufferType", vbd_type))
                break
    if vbd:
        return JitterSettings.of("Custom", vbd_custom, vbd_type != "Fixed")  # type: ignore[arg-type]
    return JitterSettings.of(level, custom)  # type: ignore[arg-type]


class JitterBuffer:
    """One stream's receive buffer (see the module docstring)."""

    __slots__ = (
        "_devs", "_last", "_next", "_pending", "_ref_ts", "base", "concealed", "delay", "delay_max", "duplicates",
        "late", "played", "rate", "received", "restarts", "settings", "step",
    )

    def __init__(self, settings: JitterSettings | None = None, *, rate: int = 8000, step: int = 160) -> None:
        self.settings = settings or JitterSettings()
        self.rate = rate
        self.step = step
        self.delay = self.settings.nominal_ms / 1000.0
        self.delay_max = self.delay
        self.base: float | None = None
        self._ref_ts: int | None = None  # the first timestamp: extended timestamps count from it
        self._next: int | None = None  # extended timestamp of the next frame to play
        self._pending: dict[int, bytes] = {}
        self._last = -(1 << 40)  # the highest extended timestamp received
        self._devs: deque[tuple[float, float]] = deque()  # (arrival, transit) of the last _WINDOW seconds
        self.received = self.late = self.duplicates = self.played = self.concealed = self.restarts = 0

    def _restart(self) -> None:
        self._ref_ts = self._next = self.base = None
        self._pending.clear()
        self._devs.clear()
        self._last = -(1 << 40)

    def push(self, arrival: float, ts: int, payload: bytes) -> None:
        """One received packet of audio (see :meth:`push_many`)."""
        self.push_many(((arrival, ts, payload),))

    def push_many(self, packets: Iterable[tuple[float, int, bytes]]) -> None:
        """Received packets of audio, ``(arrival, timestamp, payload)`` in arrival order: one call per batch, the
        loop inside. A timestamp more than a second behind what plays, or a minute ahead, is a new timeline (the
        peer regenerated its RTP state, or a new source): the buffer starts again from it."""
        rate = self.rate
        pending = self._pending
        devs = self._devs
        for arrival, ts, payload in packets:
            ref = self._ref_ts
            if ref is None:
                self._ref_ts = ref = ts
            ext = (ts - ref) & 0xFFFFFFFF
            if ext >= 0x80000000:
                ext -= 0x100000000
            nxt = self._next
            if nxt is not None and not -rate < ext - nxt < 60 * rate:
                self.restarts += 1
                self._restart()
                self._ref_ts, ext, nxt = ts, 0, None
            transit = arrival - ext / rate
            base = self.base
            if base is None or transit < base:
                self.base = base = transit
            # the window's largest transit, kept as a decreasing deque (the adaptation reads its head)
            while devs and devs[-1][1] <= transit:
                devs.pop()
            devs.append((arrival, transit))
            while devs[0][0] < arrival - _WINDOW:
                devs.popleft()
            if nxt is None:
                self._next = ext
            elif ext < nxt:
                self.late += 1
                continue
            elif not pending and nxt / rate + base + 2 * self.delay < arrival:
                self._next = ext  # the stream paused (hold, DTX) and resumes: play from here, nothing to conceal
            if ext in pending:
                self.duplicates += 1
                continue
            last = self._last
            if 0 < ext - last < self.step:
                self.step = max(80, ext - last)  # packets are shorter than assumed (learnt from the smallest step)
            if ext > last:
                self._last = ext
            pending[ext] = payload
            self.received += 1

    def _adapt(self) -> None:
        s = self.settings
        if not s.adaptive or not self._devs or self.base is None:
            return
        worst = self._devs[0][1] - self.base + _MARGIN  # the head of the decreasing deque: the window's largest
        self.delay = min(max(worst, s.min_ms / 1000.0), s.max_ms / 1000.0)
        self.delay_max = max(self.delay_max, self.delay)

    def pull(self, now: float) -> list[bytes | None]:
        """Frames due by `now`, in timestamp order; ``None`` for one that never arrived in time."""
        out: list[bytes | None] = []
        nxt = self._next
        if nxt is None or self.base is None:
            return out
        self._adapt()
        pending = self._pending
        due_offset = self.base + self.delay
        rate, step = self.rate, self.step
        while nxt / rate + due_offset <= now:
            frame = pending.pop(nxt, None)
            if frame is None and not pending:
                break  # nothing more has arrived: the stream paused (hold, DTX) rather than lost packets
            out.append(frame)
            if frame is None:
                self.concealed += 1
            else:
                self.played += 1
            nxt += step
        self._next = nxt
        return out

    @property
    def delay_ms(self) -> float:
        return self.delay * 1000.0

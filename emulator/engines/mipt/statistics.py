"""The Mipt statistics tables, filled from what the streams measured: ``Mipt.LastConnectionsStats`` (the last 10
connections, 1 the most recent), ``Mipt.LastPeriodsStats`` (the last 10 periods of ``StatsCollectionPeriodDuration``
minutes, 0 = no periods) and ``Mipt.ChannelStatistics`` (per endpoint since its ``Reset``), with the notifications
``StatsPerConnectionNotificationEnable`` / ``StatsPerPeriodNotificationEnable`` ask for (Mipt 9002, 9003).

A period holds the connections that ended in it. Jitter and latency are in milliseconds (the MIB gives no unit:
an emulator choice, README).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.engines.mipt.quality import StreamQuality

__all__ = ["MiptStatistics"]

KEEP = 10


@dataclass(slots=True)
class _Channel:
    quality: StreamQuality = field(default_factory=StreamQuality)


class MiptStatistics:
    """The three tables of one unit (``config.provide_rows``), fed with each connection's :class:`StreamQuality`."""

    def __init__(self, config: Any, notify: Callable[..., Any] | None, now: Callable[[], float],
                 local_time: Callable[[float], dt.datetime] | None = None) -> None:
        self.config = config
        self.notify = notify
        self.now = now
        self.local_time = local_time or (lambda t: dt.datetime.fromtimestamp(t))
        self.connections: deque[StreamQuality] = deque(maxlen=KEEP)  # most recent first
        self.periods: deque[tuple[float, float, StreamQuality]] = deque(maxlen=KEEP)
        self._period_start = now()
        self._period = StreamQuality()
        self._channels: dict[str, _Channel] = {}
        self._live: dict[int, tuple[str, Callable[[], StreamQuality]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        config.provide_rows("Mipt.LastConnectionsStats", self._connection_rows)
        config.provide_rows("Mipt.LastPeriodsStats", self._period_rows)
        config.provide_rows("Mipt.ChannelStatistics", self._channel_rows)
        with contextlib.suppress(Exception):  # a catalog without the command column
            config.on_command("Mipt.ChannelStatistics.Reset", self._reset_channel)

    # -- feeding

    def opened(self, key: int, endpoint: str, live: Callable[[], StreamQuality]) -> None:
        """A connection started on `endpoint`; `live` gives its figures so far (ChannelStatistics shows them)."""
        self._live[key] = (endpoint, live)
        self._channels.setdefault(endpoint, _Channel())
        self._arm()

    def closed(self, key: int, quality: StreamQuality, *, call: object = "", endpoint: str = "") -> None:
        """A connection ended with `quality`: a new LastConnectionsStats row, its period, its channel."""
        self._live.pop(key, None)
        self._roll(self.now())
        self.connections.appendleft(quality)
        self._period.add(quality)
        self._channels.setdefault(endpoint, _Channel()).quality.add(quality)
        if self._enabled("Mipt.StatsPerConnectionNotificationEnable") and self.notify is not None:
            self.notify("Mipt", 9002, call=call, endpoint=endpoint, **_fields(quality))

    # -- periods

    def _period_seconds(self) -> float:
        try:
            return 60.0 * int(str(self.config.get("Mipt.StatsCollectionPeriodDuration") or 0))
        except ValueError:
            return 0.0

    def _enabled(self, name: str) -> bool:
        try:
            return str(self.config.get(name)) == "Enable"
        except Exception:
            return False

    def _arm(self) -> None:
        length = self._period_seconds()
        if self._timer is not None or length <= 0:
            return
        with contextlib.suppress(RuntimeError):  # no running loop (a pure test): periods roll on reads
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, self._period_start + length - self.now()), self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._roll(self.now())
        self._arm()

    def _roll(self, now: float) -> None:
        length = self._period_seconds()
        if length <= 0:
            self._period_start = now
            return
        while now >= self._period_start + length:
            end = self._period_start + length
            q, self._period = self._period, StreamQuality()
            self.periods.appendleft((self._period_start, end, q))
            self._period_start = end
            if self._enabled("Mipt.StatsPerPeriodNotificationEnable") and self.notify is not None:
                self.notify("Mipt", 9003, begin=self._stamp(self.periods[0][0]), end=self._stamp(end), **_fields(q))

    def _stamp(self, t: float) -> str:
        return self.local_time(t).strftime("%Y-%m-%d %H:%M:%S")

    # -- the tables

    def _connection_rows(self) -> list[dict[str, Any]]:
        return [{"ConnectionsIndex": i, **q.row()} for i, q in enumerate(self.connections, start=1)]

    def _period_rows(self) -> list[dict[str, Any]]:
        self._roll(self.now())
        return [{"PeriodIndex": i, "PeriodBeginning": self._stamp(b), "PeriodEnd": self._stamp(e), **q.row()}
                for i, (b, e, q) in enumerate(self.periods, start=1)]

    def _channel_rows(self) -> list[dict[str, Any]]:
        rows = []
        for endpoint, ch in sorted(self._channels.items()):
            total = StreamQuality()
            total.add(ch.quality)
            for ep, live in self._live.values():
                if ep == endpoint:
                    total.add(live())
            rows.append({
                "EpChannelId": endpoint,
                "PacketsSent": total.packets_sent & 0xFFFFFFFF,
                "PacketsReceived": total.packets_received & 0xFFFFFFFF,
                "BytesSent": total.octets_sent & 0xFFFFFFFF,
                "BytesReceived": total.octets_received & 0xFFFFFFFF,
                "AverageReceiveInterarrivalJitter": round(total.jitter.average),
                "Reset": "NoOp",
            })
        return rows

    def _reset_channel(self, index: Any) -> None:
        key = index[0] if isinstance(index, tuple | list) else index
        ch = self._channels.get(str(key))
        if ch is not None:
            ch.quality = StreamQuality()
            # live connections count again from now: their figures so far are forgotten with the rest
            for k, (ep, live) in list(self._live.items()):
                if ep == str(key):
                    snapshot = live()
                    self._live[k] = (ep, _since(live, snapshot))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _since(live: Callable[[], StreamQuality], base: StreamQuality) -> Callable[[], StreamQuality]:
    """`live`'s counters minus `base`'s (a channel reset during a connection)."""

    def figures() -> StreamQuality:
        q = live()
        return StreamQuality(
            q.packets_sent - base.packets_sent, q.packets_received - base.packets_received,
            q.octets_sent - base.octets_sent, q.octets_received - base.octets_received,
            q.packets_lost - base.packets_lost, q.jitter, q.latency,
        )

    return figures


def _fields(q: StreamQuality) -> dict[str, Any]:
    return {
        "packets_sent": q.packets_sent, "packets_received": q.packets_received, "lost": max(0, q.packets_lost),
        "jitter": round(q.jitter.average), "latency": round(q.latency.average),
    }

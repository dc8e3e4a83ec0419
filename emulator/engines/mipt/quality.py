"""What a stream measured, as the Mipt statistics tables and the RTCP-XR reports want it: packets and octets each
way, loss, interarrival jitter and latency (minimum, maximum, average over the samples taken)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Measured", "StreamQuality"]


@dataclass(slots=True)
class Measured:
    """A quantity sampled during a connection or a period: minimum, maximum, average."""

    count: int = 0  # samples taken
    total: float = 0.0  # their sum (the average's numerator)
    low: float = 0.0  # the smallest (0 before any sample)
    high: float = 0.0  # the largest

    def add(self, value: float) -> None:
        if not self.count or value < self.low:
            self.low = value
        if not self.count or value > self.high:
            self.high = value
        self.count += 1
        self.total += value

    @property
    def average(self) -> float:
        return self.total / self.count if self.count else 0.0

    def merge(self, other: Measured) -> None:
        if not other.count:
            return
        if not self.count or other.low < self.low:
            self.low = other.low
        if not self.count or other.high > self.high:
            self.high = other.high
        self.count += other.count
        self.total += other.total


@dataclass(slots=True)
class StreamQuality:
    """One connection's (or one period's) figures. Jitter and latency are in milliseconds; latency is half the
    RTCP round trip (RFC 3550 §6.4.1) — the one-way delay the unit can know."""

    packets_sent: int = 0
    packets_received: int = 0
    octets_sent: int = 0
    octets_received: int = 0
    packets_lost: int = 0
    jitter: Measured = field(default_factory=Measured)
    latency: Measured = field(default_factory=Measured)

    def row(self) -> dict[str, Any]:
        """The columns of ``Mipt.LastConnectionsStats`` / ``LastPeriodsStats`` (without their index)."""
        return {
            "MinimumLatency": round(self.latency.low),
            "MaximumLatency": round(self.latency.high),
            "AverageLatency": round(self.latency.average),
            "OctetsTransmitted": self.octets_sent,
            "OctetsReceived": self.octets_received,
            "PacketsTransmitted": self.packets_sent,
            "PacketsReceived": self.packets_received,
            "PacketsLost": max(0, self.packets_lost),
            "MinimumInterarrivalJitter": round(self.jitter.low),
            "MaximumInterarrivalJitter": round(self.jitter.high),
            "AverageInterarrivalJitter": round(self.jitter.average),
        }

    def add(self, other: StreamQuality) -> None:
        self.packets_sent += other.packets_sent
        self.packets_received += other.packets_received
        self.octets_sent += other.octets_sent
        self.octets_received += other.octets_received
        self.packets_lost += other.packets_lost
        self.jitter.merge(other.jitter)
        self.latency.merge(other.latency)

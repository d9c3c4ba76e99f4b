"""Time series for the dashboard's charts, sampled when a dashboard asks (never in the background).

Each read takes a new sample only if the last one is at least ``interval`` seconds old, so any
number of open dashboards costs one sample per interval, and an unwatched node costs nothing
(its charts start when the first dashboard opens). Counter rates are differences between samples.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tickcast.auth.metering import Usage

SLOW_BYTES = 256 * 1024
"""A connection with at least this much queued in its outbox counts as a slow consumer."""


def counter_total(registry: Any, name: str) -> float:
    """The sum over every label set of the Prometheus counter ``name`` (0 when absent)."""
    total = 0.0
    for family in registry.collect():
        if family.name == name:
            total += sum(s.value for s in family.samples if s.name == f"{name}_total")
    return total


@dataclass(slots=True)
class Point:
    t: float
    events: float
    messages: float
    bytes: float
    drops: float
    refusals: float
    connections: dict[str, int]
    slow: int


@dataclass
class Series:
    """Overview samples, newest last, at most ``size``."""

    interval: float = 1.0
    size: int = 600
    points: deque[Point] = field(default_factory=deque)

    def due(self, now: float) -> bool:
        return not self.points or now - self.points[-1].t >= self.interval

    def add(self, point: Point) -> None:
        self.points.append(point)
        while len(self.points) > self.size:
            self.points.popleft()

    def rates(self) -> dict[str, list[float]]:
        """Per-second rates between consecutive samples, as columns for the charts."""
        columns: dict[str, list[float]] = {
            "t": [],
            "events": [],
            "messages": [],
            "bytes": [],
            "drops": [],
            "refusals": [],
            "connections": [],
            "slow": [],
        }
        previous: Point | None = None
        for point in self.points:
            if previous is not None and point.t > previous.t:
                dt = point.t - previous.t
                columns["t"].append(round(point.t, 3))
                for name in ("events", "messages", "bytes", "drops", "refusals"):
                    delta = max(0.0, getattr(point, name) - getattr(previous, name))
                    columns[name].append(round(delta / dt, 3))
                columns["connections"].append(float(sum(point.connections.values())))
                columns["slow"].append(float(point.slow))
            previous = point
        return columns


def sample_point(now: float, registry: Any, infos: Iterable[dict[str, object]]) -> Point:
    by_dialect: dict[str, int] = {}
    slow = 0
    for info in infos:
        dialect = str(info.get("dialect", "?"))
        by_dialect[dialect] = by_dialect.get(dialect, 0) + 1
        pending = info.get("pending_bytes", 0)
        if isinstance(pending, int) and pending >= SLOW_BYTES:
            slow += 1
    return Point(
        t=now,
        events=counter_total(registry, "tickcast_events_published"),
        messages=counter_total(registry, "tickcast_messages_delivered"),
        bytes=counter_total(registry, "tickcast_bytes_delivered"),
        drops=counter_total(registry, "tickcast_outbox_dropped_frames"),
        refusals=counter_total(registry, "tickcast_refusals"),
        connections=by_dialect,
        slow=slow,
    )


@dataclass(slots=True)
class StreamSeen:
    epoch: str
    seq: int
    changed_at: float
    rate: float = 0.0
    sampled_at: float = 0.0


class StreamRates:
    """Per stream: rate from seq differences and the time its seq was last seen to move."""

    def __init__(self) -> None:
        self.seen: dict[str, StreamSeen] = {}

    def observe(self, stream: str, epoch: str, seq: int, now: float) -> StreamSeen:
        last = self.seen.get(stream)
        if last is None or last.epoch != epoch:
            seen = self.seen[stream] = StreamSeen(epoch, seq, now, 0.0, now)
            return seen
        dt = now - last.sampled_at
        if dt >= 0.5:
            last.rate = max(0, seq - last.seq) / dt
            if seq != last.seq:
                last.changed_at = now
            last.seq, last.sampled_at = seq, now
        return last


@dataclass
class UsageSeries:
    """Usage totals per key over time (from the store, which the node flushes every few s)."""

    interval: float = 2.0
    size: int = 900
    samples: deque[tuple[float, dict[str, Usage]]] = field(default_factory=deque)

    def due(self, now: float) -> bool:
        return not self.samples or now - self.samples[-1][0] >= self.interval

    def add(self, now: float, totals: Mapping[str, Usage]) -> None:
        self.samples.append((now, dict(totals)))
        while len(self.samples) > self.size:
            self.samples.popleft()

    def for_keys(self, keys: set[str] | None) -> dict[str, dict[str, list[float]]]:
        """Columns per key: t, messages, bytes, connection_seconds, predictions (totals)."""
        result: dict[str, dict[str, list[float]]] = {}
        for t, totals in self.samples:
            for key_id, usage in totals.items():
                if keys is not None and key_id not in keys:
                    continue
                columns = result.setdefault(
                    key_id,
                    {
                        "t": [],
                        "messages": [],
                        "bytes": [],
                        "connection_seconds": [],
                        "predictions": [],
                    },
                )
                columns["t"].append(round(t, 3))
                columns["messages"].append(float(usage.messages))
                columns["bytes"].append(float(usage.bytes))
                columns["connection_seconds"].append(round(usage.connection_seconds, 3))
                columns["predictions"].append(float(usage.predictions))
        return result

    def csv_rows(self, keys: set[str] | None) -> Iterable[list[str]]:
        yield [
            "time",
            "key_id",
            "connections",
            "connection_seconds",
            "messages",
            "bytes",
            "predictions",
        ]
        for t, totals in self.samples:
            for key_id, u in sorted(totals.items()):
                if keys is None or key_id in keys:
                    yield [
                        f"{t:.3f}",
                        key_id,
                        str(u.connections),
                        f"{u.connection_seconds:.3f}",
                        str(u.messages),
                        str(u.bytes),
                        str(u.predictions),
                    ]

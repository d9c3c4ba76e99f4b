"""Time series for the dashboard's charts, as bounded rings.

The recorder (``recorder.py``) samples them once a second in the background; a page read also
samples when the last sample is at least ``interval`` seconds old, so any number of open
dashboards adds nothing. Counter rates are differences between samples.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tickcast.auth.metering import Usage

SLOW_BYTES = 256 * 1024
"""A connection with at least this much queued in its outbox counts as a slow consumer."""


COUNTERS = {
    "events": "tickcast_events_published",
    "messages": "tickcast_messages_delivered",
    "bytes": "tickcast_bytes_delivered",
    "drops": "tickcast_outbox_dropped_frames",
    "refusals": "tickcast_refusals",
    "encode_gaps": "tickcast_encode_failures",
    "resyncs": "tickcast_connector_resyncs",
    "trade_gaps": "tickcast_connector_trade_gaps",
    "reconnects": "tickcast_connector_reconnects",
}
"""Chart column → Prometheus counter (summed over labels) whose per-second rate it shows.
``drops``: frames an outbox refused, each later reported to its client as a gap notice or a
reset snapshot; ``encode_gaps``: events a dialect could not encode, sent as gap notices;
``resyncs`` / ``trade_gaps`` / ``reconnects``: the live venue connectors' (docs/connectors.md)."""

GAUGES = {"bus_holes": "tickcast_bus_holes"}
"""Monotonic gauges charted as rates like counters (Redis bus only)."""


def counter_totals(registry: Any) -> dict[str, float]:
    """The value of every name in ``COUNTERS`` and ``GAUGES`` (0 when absent), one collect."""
    wanted = {f"{metric}_total": name for name, metric in COUNTERS.items()}
    wanted |= {metric: name for name, metric in GAUGES.items()}
    totals = dict.fromkeys([*COUNTERS, *GAUGES], 0.0)
    for family in registry.collect():
        for sample in family.samples:
            name = wanted.get(sample.name)
            if name is not None:
                totals[name] += sample.value
    return totals


@dataclass(slots=True)
class Point:
    t: float
    totals: dict[str, float]
    connections: dict[str, int]
    slow: int


@dataclass
class Series:
    """Overview samples, newest last, at most ``size`` (10 min at one a second)."""

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
        names = [*COUNTERS, *GAUGES]
        columns: dict[str, list[float]] = {n: [] for n in ["t", *names, "connections", "slow"]}
        previous: Point | None = None
        for point in self.points:
            if previous is not None and point.t > previous.t:
                dt = point.t - previous.t
                columns["t"].append(round(point.t, 3))
                for name in names:
                    delta = max(0.0, point.totals[name] - previous.totals[name])
                    columns[name].append(round(delta / dt, 3))
                columns["connections"].append(float(sum(point.connections.values())))
                columns["slow"].append(float(point.slow))
            previous = point
        return columns

    def window_totals(self, seconds: float) -> dict[str, float]:
        """How much each counter grew over the last ``seconds`` (or as long as sampled)."""
        if not self.points:
            return dict.fromkeys([*COUNTERS, *GAUGES], 0.0)
        last = self.points[-1]
        first = next((p for p in self.points if last.t - p.t <= seconds), last)
        return {n: max(0.0, last.totals[n] - first.totals[n]) for n in last.totals}


def sample_point(now: float, registry: Any, infos: Iterable[dict[str, object]]) -> Point:
    by_dialect: dict[str, int] = {}
    slow = 0
    for info in infos:
        dialect = str(info.get("dialect", "?"))
        by_dialect[dialect] = by_dialect.get(dialect, 0) + 1
        pending = info.get("pending_bytes", 0)
        if isinstance(pending, int) and pending >= SLOW_BYTES:
            slow += 1
    return Point(t=now, totals=counter_totals(registry), connections=by_dialect, slow=slow)


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
    size: int = 1800
    """One hour at one sample every two seconds."""
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

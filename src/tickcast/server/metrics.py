"""Prometheus metrics of one node (its own registry, so several nodes can live in one process)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tickcast.sources.connectors.health import LAG_BUCKETS_S, ConnectorHealth


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge(
            "tickcast_connections", "Open client connections", ["dialect"], registry=self.registry
        )
        self.messages = Counter(
            "tickcast_messages_delivered", "Frames written to clients", registry=self.registry
        )
        self.bytes = Counter(
            "tickcast_bytes_delivered", "Bytes written to clients", registry=self.registry
        )
        self.events = Counter(
            "tickcast_events_published", "Events published on the bus", registry=self.registry
        )
        self.refusals = Counter(
            "tickcast_refusals",
            "Refused connections or commands",
            ["reason"],
            registry=self.registry,
        )
        self.overflows = Counter(
            "tickcast_outbox_dropped_frames",
            "Frames an outbox refused (conflated or reported as a gap)",
            registry=self.registry,
        )
        self.stage_failures = Counter(
            "tickcast_stage_failures",
            "Batches an ingest pipeline stage failed on (the other stages still ran)",
            ["stage"],
            registry=self.registry,
        )
        self.encode_failures = Counter(
            "tickcast_encode_failures",
            "Events a dialect could not encode (sent as a gap notice instead)",
            ["dialect"],
            registry=self.registry,
        )

        self.registry.register(GcPauseCollector())

    def render(self) -> bytes:
        return generate_latest(self.registry)


GC_PAUSE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class GcPauses:
    """Wall time of every garbage collection in this process, per generation (one instance,
    ``PAUSES``, fed by ``gc.callbacks``): a collection holds the GIL, so it is a pause of the
    event loop and of every thread (docs/performance.md, the collector's schedule)."""

    def __init__(self) -> None:
        generations = len(gc.get_threshold())
        self.buckets = [[0] * (len(GC_PAUSE_BUCKETS_S) + 1) for _ in range(generations)]
        self.sums = [0.0] * generations
        self._started = 0.0
        self._lock = threading.Lock()
        self._installed = False

    def install(self) -> None:
        with self._lock:
            if not self._installed:
                gc.callbacks.append(self._on_collection)
                self._installed = True

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = info["generation"]
        slot = next(
            (i for i, bound in enumerate(GC_PAUSE_BUCKETS_S) if seconds <= bound),
            len(GC_PAUSE_BUCKETS_S),
        )
        self.buckets[generation][slot] += 1
        self.sums[generation] += seconds


PAUSES = GcPauses()


class GcPauseCollector(Collector):
    """``tickcast_gc_pause_seconds{generation}`` from ``PAUSES`` at scrape time."""

    def __init__(self) -> None:
        PAUSES.install()

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "tickcast_gc_pause_seconds",
            "Garbage collections in this process by generation, wall time (the GIL is held)",
            labels=["generation"],
        )
        bounds = (*(str(b) for b in GC_PAUSE_BUCKETS_S), "+Inf")
        for generation, counts in enumerate(PAUSES.buckets):
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric([str(generation)], buckets, PAUSES.sums[generation])
        yield family


_CONNECTOR_COUNTERS = (
    ("messages", "Venue WebSocket messages received"),
    ("reconnects", "Venue connections lost or closed and reopened"),
    ("resyncs", "Books resynchronised after a break (sequence gap, stale snapshot)"),
    ("trade_gaps", "Trade losses no REST backfill could cover"),
    ("trades_backfilled", "Trades recovered from the venue's REST recent trades"),
    ("snapshots", "REST book snapshots received"),
)


class ConnectorCollector(Collector):
    """``tickcast_connector_*`` series read from the connectors' health at scrape time."""

    def __init__(self, connectors: Sequence[ConnectorHealth]) -> None:
        self._connectors = connectors

    def collect(self) -> Iterator[Metric]:
        for field, text in _CONNECTOR_COUNTERS:
            family = CounterMetricFamily(f"tickcast_connector_{field}", text, labels=["connector"])
            for health in self._connectors:
                family.add_metric([health.name], getattr(health, field))
            yield family
        live = GaugeMetricFamily(
            "tickcast_connector_live_connections", "Venue connections open", labels=["connector"]
        )
        lag = HistogramMetricFamily(
            "tickcast_connector_lag_seconds",
            "Receive time minus venue time of published venue messages",
            labels=["connector"],
        )
        for health in self._connectors:
            live.add_metric([health.name], health.live)
            cumulative, buckets = 0, []
            for bound, count in zip(
                (*LAG_BUCKETS_S, float("inf")), health.lag_buckets, strict=True
            ):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            lag.add_metric([health.name], buckets, health.lag_sum_s)
        yield live
        yield lag


def register_connector_metrics(
    registry: CollectorRegistry, connectors: Sequence[ConnectorHealth]
) -> None:
    if connectors:
        registry.register(ConnectorCollector(connectors))

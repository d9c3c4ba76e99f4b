"""Prometheus metrics of one node (its own registry, so several nodes can live in one process)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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

    def render(self) -> bytes:
        return generate_latest(self.registry)


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

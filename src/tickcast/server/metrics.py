"""Prometheus metrics of one node (its own registry, so several nodes can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


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

        self.encode_failures = Counter(
            "tickcast_encode_failures",
            "Events a dialect could not encode (sent as a gap notice instead)",
            ["dialect"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

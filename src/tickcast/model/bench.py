"""Benchmark events: a trade stamped with the monotonic time it was handed to the bus."""

from __future__ import annotations

from dataclasses import dataclass

from tickcast.model.events import Trade


@dataclass(frozen=True, slots=True)
class StampedTrade(Trade):
    """A :class:`Trade` (every dialect treats it as one) carrying ``t_ns``: CLOCK_MONOTONIC
    nanoseconds taken just before publishing, so a load client on the same host can measure
    publish-to-receive latency. The native dialect appends it as the last key of ``data``."""

    t_ns: int = 0

"""Benchmark events, stamped with the monotonic time they were handed to the bus."""

from __future__ import annotations

from dataclasses import dataclass

from tickcast.model.events import Ticker, Trade


@dataclass(frozen=True, slots=True)
class StampedTrade(Trade):
    """A :class:`Trade` (every dialect treats it as one) carrying ``t_ns``: CLOCK_MONOTONIC
    nanoseconds taken just before publishing, so a load client on the same host can measure
    publish-to-receive latency. The native dialect appends it as the last key of ``data``."""

    t_ns: int = 0


@dataclass(frozen=True, slots=True)
class StampedTicker(Ticker):
    """A :class:`Ticker` carrying a benchmark ``seq`` (dense over all stamped tickers) and
    ``t_ns`` (as in :class:`StampedTrade`); the Socket.IO feed appends both to its update."""

    seq: int = 0
    t_ns: int = 0

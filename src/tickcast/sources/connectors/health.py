"""Connector bookkeeping, sans-I/O: reconnect backoff, REST rate limiting, health and counters.

Nothing here sleeps or reads a clock by itself: times come in as arguments and the random source is
injected, so tests are deterministic. The server reads ``ConnectorHealth`` for ``/healthz`` and
``/metrics`` (docs/connectors.md, "Health and metrics").
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

NS = 1_000_000_000
LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds of the lag histogram (receive time - venue time), seconds."""


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits between d/2 and d, where
    d = min(cap, base * 2**n); ``reset`` after a connection that delivered data."""

    rng: random.Random
    base_s: float = 0.5
    cap_s: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling: float = min(self.cap_s, self.base_s * 2.0 ** min(self.attempt, 30))
        self.attempt += 1
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0


@dataclass(slots=True)
class RateLimiter:
    """A venue's REST weight budget per minute, as a token bucket refilled continuously.

    ``reserve(weight, now_ns)`` books the weight and returns how long to wait before sending
    (0 when the budget allows it now); reservations queue in call order."""

    per_minute: int
    _tokens: float = field(init=False)
    _at_ns: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._tokens = float(self.per_minute)

    def reserve(self, weight: int, now_ns: int) -> float:
        rate = self.per_minute / 60.0  # tokens per second
        if self._at_ns is not None:
            elapsed = max(0, now_ns - self._at_ns) / NS
            self._tokens = min(float(self.per_minute), self._tokens + elapsed * rate)
        self._at_ns = now_ns
        self._tokens -= weight
        return 0.0 if self._tokens >= 0 else -self._tokens / rate


@dataclass(slots=True)
class ConnectorHealth:
    """Per-connector state and counters (all connections of one source spec)."""

    name: str
    connections: int = 0
    """Connections wanted (one per shard)."""
    live: int = 0
    """Connections open and receiving."""
    messages: int = 0
    reconnects: int = 0
    resyncs: int = 0
    trade_gaps: int = 0
    """Losses of trades that no backfill could cover."""
    trades_backfilled: int = 0
    snapshots: int = 0
    last_message_ns: int | None = None
    last_error: str | None = None
    lag_buckets: list[int] = field(default_factory=lambda: [0] * (len(LAG_BUCKETS_S) + 1))
    lag_sum_s: float = 0.0
    lag_count: int = 0

    @property
    def state(self) -> str:
        """``live`` (every connection open), ``degraded`` (some), ``down`` (none)."""
        if self.connections and self.live == self.connections:
            return "live"
        return "degraded" if self.live else "down"

    def lag(self, recv_ns: int, venue_ns: int) -> None:
        seconds = max(0, recv_ns - venue_ns) / NS
        self.lag_buckets[bisect.bisect_left(LAG_BUCKETS_S, seconds)] += 1
        self.lag_sum_s += seconds
        self.lag_count += 1

    def report(self) -> dict[str, object]:
        """What ``/healthz`` shows of this connector."""
        return {
            "state": self.state,
            "connections": self.connections,
            "live": self.live,
            "messages": self.messages,
            "reconnects": self.reconnects,
            "resyncs": self.resyncs,
            "trade_gaps": self.trade_gaps,
            "trades_backfilled": self.trades_backfilled,
            "snapshots": self.snapshots,
            "last_message_ns": self.last_message_ns,
            "last_error": self.last_error,
        }

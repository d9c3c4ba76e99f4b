"""State the Coin Metrics dialect shares between its connections and requests on one node."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from tickcast.dialects.coinmetrics.wire import errors
from tickcast.dialects.coinmetrics.wire.streams import EncoderSet
from tickcast.model import AssetMetric, Envelope, Position, Quote, StreamKey, StreamKind
from tickcast.server.node import Node
from tickcast.state import StateKeeper
from tickcast.state.pipeline import Step
from tickcast.storage.base import Principal


class KeeperState:
    """``derive.MarketState`` over the hub's StateKeeper (current quotes, metrics, positions)."""

    def __init__(self, keeper: StateKeeper) -> None:
        self._keeper = keeper

    def quote(self, market: str) -> Quote | None:
        snapshot = self._keeper.snapshot(f"quotes:{market}")
        if snapshot is None or not snapshot.events:
            return None
        event = snapshot.events[-1]
        return event if isinstance(event, Quote) else None

    def metric(self, asset: str, metric: str) -> AssetMetric | None:
        snapshot = self._keeper.snapshot(f"metrics:{asset}")
        for event in snapshot.events if snapshot else ():
            if isinstance(event, AssetMetric) and event.metric == metric:
                return event
        return None

    def positions(self, market: str) -> Sequence[Position]:
        snapshot = self._keeper.snapshot(f"positions:{market}")
        if snapshot is None:
            return ()
        return [e for e in snapshot.events if isinstance(e, Position)]


class RateLimiter:
    """Requests per key per fixed minute window (the plan's ``requests_per_minute``)."""

    WINDOW_S = 60

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._windows: dict[str, tuple[int, int]] = {}

    def take(self, key_id: str, limit: int) -> tuple[bool, int, int]:
        """Count one request: (allowed, remaining, seconds until the window resets)."""
        now = self._now()
        window = int(now // self.WINDOW_S)
        reset = max(1, int((window + 1) * self.WINDOW_S - now + 0.999))
        current, count = self._windows.get(key_id, (window, 0))
        if current != window:
            count = 0
        if count >= limit:
            return False, 0, reset
        count += 1
        self._windows[key_id] = (window, count)
        if len(self._windows) > 100_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        return True, limit - count, reset


class Expandable(Protocol):
    def catalog_grew(self) -> None:
        """New markets were listed: join those the connection's patterns now match."""


class CoinMetricsService:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.state = KeeperState(node.keeper)
        self.encoders = EncoderSet(catalog=node.catalog, state=self.state, now=node.clock.time_ns)
        self.rate = RateLimiter(lambda: node.clock.time_ns() / 1e9)
        self.streams: set[Expandable] = set()
        """Open stream connections, told when the catalogue grows (patterns match new markets)."""
        self._catalog_size = len(node.catalog)
        self._unlisten = node.pipeline.add(
            Step.OBSERVE, "coinmetrics-catalogue", self._on_envelopes
        )

    def _on_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        """Markets are listed (publish API) just before their first events: notice it here."""
        size = len(self.node.catalog)
        if size != self._catalog_size:
            self._catalog_size = size
            for connection in list(self.streams):
                connection.catalog_grew()

    async def authenticate(self, key: str | None) -> Principal:
        """The key's principal; ``unauthorized`` without a key, ``wrong_credentials`` if bad."""
        if not key:
            raise errors.unauthorized()
        principal = await self.node.authenticate(key)
        if principal is None:
            raise errors.wrong_credentials()
        return principal

    def visible_to(self, principal: Principal) -> Callable[[str], bool]:
        """Which market ids a principal may see at all (test keys: simulated markets only)."""
        known = self.node.stream_known_to(principal)
        return lambda market: known(StreamKey(StreamKind.TRADES, market))

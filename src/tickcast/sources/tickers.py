"""Per-asset tickers and USD price metrics from the trades of the asset's spot markets.

Only spot markets quoted in USD or a USD stablecoin count (USDT = USD). Prices are rescaled to
the finest price decimals among an asset's markets, volumes to the finest size decimals.
The 24 h open/high/low/volume come from a rolling window of per-minute buckets. A ``Ticker`` is
emitted at most once per interval per asset, only when a trade arrived since the last one;
``PriceUSD`` (last price) and ``ReferenceRateUSD`` (median of the venues' last prices) are
emitted once per interval-aligned second for every asset with a price. ``seed`` gives an asset
a price before its first trade (the simulator seeds every market's opening mid).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from tickcast.model.events import AssetMetric, Ticker, Trade
from tickcast.model.markets import Market, MarketKind
from tickcast.model.numbers import rescale

USD_QUOTES = frozenset({"usd", "usdt", "usdc"})
MINUTE_NS = 60 * 1_000_000_000
WINDOW_MINUTES = 24 * 60


def median(values: list[int]) -> int:
    """The median of integers; the mean of the middle two rounded half away from zero."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return _half(ordered[middle - 1] + ordered[middle])


def _half(total: int) -> int:
    """``total / 2`` rounded half away from zero."""
    return rescale(total * 5, 1, 0)


@dataclass(slots=True)
class MinuteBucket:
    minute: int
    """Minute index since the epoch."""
    open: int
    high: int
    low: int
    volume: int


@dataclass(slots=True)
class _AssetState:
    decimals: int
    volume_decimals: int
    last_price: int | None = None
    venues: dict[str, int] = field(default_factory=dict)
    buckets: deque[MinuteBucket] = field(default_factory=deque)
    dirty: bool = False
    last_ticker_ns: int | None = None


class TickerAggregator:
    """Tickers and USD metrics for the assets of a set of markets."""

    def __init__(self, markets: Iterable[Market], *, interval_ns: int = 1_000_000_000) -> None:
        self.interval_ns = interval_ns
        self._markets: dict[str, Market] = {}
        by_asset: dict[str, list[Market]] = {}
        for market in markets:
            if market.kind is MarketKind.SPOT and market.quote in USD_QUOTES:
                self._markets[market.id] = market
                by_asset.setdefault(market.base, []).append(market)
        self._assets = {
            asset: _AssetState(
                decimals=max(m.price_decimals for m in group),
                volume_decimals=max(m.size_decimals for m in group),
            )
            for asset, group in by_asset.items()
        }
        self._metric_second: int | None = None

    def assets(self) -> list[str]:
        """The assets that get tickers, in first-seen order."""
        return list(self._assets)

    def on_trade(self, trade: Trade) -> None:
        """Record a trade of a USD spot market (other trades are ignored)."""
        market = self._markets.get(trade.market)
        if market is None:
            return
        state = self._assets[market.base]
        price = rescale(trade.price, market.price_decimals, state.decimals)
        size = rescale(trade.size, market.size_decimals, state.volume_decimals)
        state.last_price = price
        state.venues[market.id] = price
        state.dirty = True
        minute = trade.time_ns // MINUTE_NS
        last = state.buckets[-1] if state.buckets else None
        if last is not None and minute <= last.minute:
            last.high, last.low = max(last.high, price), min(last.low, price)
            last.volume += size
        else:
            state.buckets.append(MinuteBucket(minute, price, price, price, size))

    def seed(self, market_id: str, price: int) -> None:
        """A market's price before its first trade (the simulator's opening mid): the asset
        has a ticker and metrics from the start. Later trades replace it."""
        market = self._markets.get(market_id)
        if market is None:
            return
        state = self._assets[market.base]
        price = rescale(price, market.price_decimals, state.decimals)
        state.venues.setdefault(market.id, price)
        if state.last_price is None:
            state.last_price = price
            state.dirty = True

    def on_time(self, now_ns: int) -> list[Ticker | AssetMetric]:
        """The tickers and metrics due at ``now_ns``."""
        out: list[Ticker | AssetMetric] = []
        for asset, state in self._assets.items():
            if state.dirty and (
                state.last_ticker_ns is None or now_ns - state.last_ticker_ns >= self.interval_ns
            ):
                out.append(self._ticker(asset, state, now_ns))
                state.dirty = False
                state.last_ticker_ns = now_ns
        second = now_ns // self.interval_ns
        if self._metric_second is None or second > self._metric_second:
            self._metric_second = second
            for asset, state in self._assets.items():
                out.extend(self._metrics(asset, state, now_ns))
        return out

    def ticker(self, asset: str, now_ns: int) -> Ticker | None:
        """The current ticker of an asset, or None before its first trade."""
        state = self._assets.get(asset)
        if state is None or state.last_price is None:
            return None
        return self._ticker(asset, state, now_ns)

    def _ticker(self, asset: str, state: _AssetState, now_ns: int) -> Ticker:
        assert state.last_price is not None
        cutoff = now_ns // MINUTE_NS - WINDOW_MINUTES
        while state.buckets and state.buckets[0].minute <= cutoff:
            state.buckets.popleft()
        buckets = state.buckets
        price = state.last_price
        return Ticker(
            asset=asset,
            decimals=state.decimals,
            price=price,
            open_24h=buckets[0].open if buckets else price,
            high_24h=max((b.high for b in buckets), default=price),
            low_24h=min((b.low for b in buckets), default=price),
            volume_24h=sum(b.volume for b in buckets),
            volume_decimals=state.volume_decimals,
            time_ns=now_ns,
        )

    @staticmethod
    def _metrics(asset: str, state: _AssetState, now_ns: int) -> list[AssetMetric]:
        if state.last_price is None:
            return []
        reference = median(list(state.venues.values()))
        return [
            AssetMetric(asset, "PriceUSD", state.last_price, state.decimals, now_ns),
            AssetMetric(asset, "ReferenceRateUSD", reference, state.decimals, now_ns),
        ]

"""OHLCV candles built from trades, aligned to UTC interval boundaries.

A candle is emitted once its interval has closed: on the first trade or clock tick at or past
the interval's end. Intervals without trades produce no candle. ``quote_volume`` is the sum of
``price * size`` rescaled to the market's price decimals; ``time_ns`` is the emission time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tickcast.model.events import Candle, Trade
from tickcast.model.markets import Market
from tickcast.model.numbers import rescale
from tickcast.model.streams import CANDLE_INTERVALS

_MINUTE_NS = 60 * 1_000_000_000

INTERVAL_NS: dict[str, int] = {
    "1m": _MINUTE_NS,
    "5m": 5 * _MINUTE_NS,
    "10m": 10 * _MINUTE_NS,
    "15m": 15 * _MINUTE_NS,
    "30m": 30 * _MINUTE_NS,
    "1h": 60 * _MINUTE_NS,
    "4h": 240 * _MINUTE_NS,
    "1d": 1440 * _MINUTE_NS,
}

_NEVER = 2**63


def interval_ns(interval: str) -> int:
    """The length of a candle interval in nanoseconds; ValueError for unknown intervals."""
    try:
        return INTERVAL_NS[interval]
    except KeyError:
        raise ValueError(f"unknown candle interval {interval!r}") from None


def interval_start(time_ns: int, interval: str) -> int:
    """The start of the UTC-aligned interval containing ``time_ns``."""
    return time_ns - time_ns % interval_ns(interval)


@dataclass(slots=True)
class _Bucket:
    """An open candle being accumulated."""

    start_ns: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    notional: int = 0
    """Sum of price * size, scaled by price + size decimals."""
    trades: int = 0

    def add(self, price: int, size: int) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += size
        self.notional += price * size
        self.trades += 1


class CandleBuilder:
    """Candles of one market for a set of intervals."""

    def __init__(self, market: Market, intervals: Sequence[str] = CANDLE_INTERVALS) -> None:
        self.market = market
        self._lengths = {interval: interval_ns(interval) for interval in intervals}
        self._open: dict[str, _Bucket] = {}
        self.next_close_ns = _NEVER
        """The earliest end of an open interval (a cheap test for ``on_time``)."""

    def on_trade(self, trade: Trade) -> list[Candle]:
        """Add a trade; return the candles it closed."""
        closed = self.on_time(trade.time_ns)
        for interval, length in self._lengths.items():
            bucket = self._open.get(interval)
            if bucket is None:
                start = trade.time_ns - trade.time_ns % length
                price = trade.price
                bucket = self._open[interval] = _Bucket(start, price, price, price, price)
                self.next_close_ns = min(self.next_close_ns, start + length)
            bucket.add(trade.price, trade.size)
        return closed

    def on_time(self, now_ns: int) -> list[Candle]:
        """Close and return the candles whose interval ended at or before ``now_ns``."""
        if now_ns < self.next_close_ns:
            return []
        closed: list[Candle] = []
        for interval, length in self._lengths.items():
            bucket = self._open.get(interval)
            if bucket is not None and now_ns >= bucket.start_ns + length:
                closed.append(self._candle(interval, bucket, now_ns))
                del self._open[interval]
        self.next_close_ns = min(
            (b.start_ns + self._lengths[i] for i, b in self._open.items()), default=_NEVER
        )
        return closed

    def current(self, interval: str, now_ns: int) -> Candle | None:
        """The still-open candle of an interval, or None when it has no trades."""
        bucket = self._open.get(interval)
        return None if bucket is None else self._candle(interval, bucket, now_ns)

    def _candle(self, interval: str, bucket: _Bucket, now_ns: int) -> Candle:
        decimals = self.market.price_decimals
        return Candle(
            market=self.market.id,
            interval=interval,
            start_ns=bucket.start_ns,
            open=bucket.open,
            high=bucket.high,
            low=bucket.low,
            close=bucket.close,
            volume=bucket.volume,
            quote_volume=rescale(bucket.notional, decimals + self.market.size_decimals, decimals),
            trades=bucket.trades,
            time_ns=now_ns,
        )


class CandleAggregator:
    """Candle builders for many markets; trades of unknown markets are ignored."""

    def __init__(
        self, markets: Iterable[Market], intervals: Sequence[str] = CANDLE_INTERVALS
    ) -> None:
        self._builders = {market.id: CandleBuilder(market, intervals) for market in markets}
        self._next_close_ns = _NEVER

    def builder(self, market_id: str) -> CandleBuilder:
        """The builder of one market (KeyError when unknown)."""
        return self._builders[market_id]

    def on_trade(self, trade: Trade) -> list[Candle]:
        """Add a trade; return the candles of its market it closed."""
        builder = self._builders.get(trade.market)
        if builder is None:
            return []
        closed = builder.on_trade(trade)
        self._next_close_ns = min(self._next_close_ns, builder.next_close_ns)
        return closed

    def on_time(self, now_ns: int) -> list[Candle]:
        """Close every interval that ended at or before ``now_ns``, market by market."""
        if now_ns < self._next_close_ns:
            return []
        closed: list[Candle] = []
        for builder in self._builders.values():
            closed.extend(builder.on_time(now_ns))
        self._next_close_ns = min(
            (builder.next_close_ns for builder in self._builders.values()), default=_NEVER
        )
        return closed

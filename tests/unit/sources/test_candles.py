"""Candles from trades, aligned to UTC boundaries."""

from __future__ import annotations

import pytest

from tickcast.model.events import Candle, Side, Trade
from tickcast.model.markets import Market, MarketKind
from tickcast.sources.candles import CandleAggregator, CandleBuilder, interval_start

MARKET = Market("sim-abc-usd-spot", "sim", MarketKind.SPOT, "abc", "usd", "ABCUSD", 2, 3)
S = 1_000_000_000
DAY = 1_767_225_600 * S
"""2026-01-01T00:00:00Z."""


def trade(at_s: float, price: int, size: int, market: str = MARKET.id) -> Trade:
    return Trade(market, "1", price, size, Side.BUY, DAY + int(at_s * S))


def test_candles_ohlcv_across_boundary() -> None:
    """The first trade past a minute closes that minute's candle with its OHLCV."""
    builder = CandleBuilder(MARKET, ["1m", "5m"])
    for at, price, size in [(5, 10000, 1000), (20, 10250, 2000), (40, 9900, 500), (59, 10100, 1)]:
        assert builder.on_trade(trade(at, price, size)) == []
    closed = builder.on_trade(trade(61, 10500, 1000))
    notional = 10000 * 1000 + 10250 * 2000 + 9900 * 500 + 10100 * 1
    assert closed == [
        Candle(
            market=MARKET.id,
            interval="1m",
            start_ns=DAY,
            open=10000,
            high=10250,
            low=9900,
            close=10100,
            volume=3501,
            quote_volume=round(notional / 1000),
            trades=4,
            time_ns=DAY + 61 * S,
        )
    ]
    five = builder.current("5m", DAY + 61 * S)
    assert five is not None
    assert (five.open, five.close, five.trades, five.volume) == (10000, 10500, 5, 4501)


def test_candles_clock_tick_closes_and_empty_intervals_are_skipped() -> None:
    """A tick past the end emits the candle; later minutes without trades emit nothing."""
    builder = CandleBuilder(MARKET, ["1m"])
    builder.on_trade(trade(10, 10000, 1000))
    assert builder.on_time(DAY + 59 * S) == []
    (candle,) = builder.on_time(DAY + 60 * S)
    assert (candle.start_ns, candle.trades) == (DAY, 1)
    assert builder.on_time(DAY + 600 * S) == []
    assert builder.on_trade(trade(605, 10100, 1000)) == []
    (late,) = builder.on_time(DAY + 660 * S)
    assert late.start_ns == DAY + 600 * S


def test_candles_quote_volume_rounds_half_away_from_zero() -> None:
    """Quote volume is rescaled from price*size to price decimals with rounding."""
    builder = CandleBuilder(MARKET, ["1m"])
    builder.on_trade(trade(1, 123, 5))
    builder.on_trade(trade(2, 100, 5))
    (candle,) = builder.on_time(DAY + 60 * S)
    assert candle.quote_volume == 1
    assert candle.volume == 10


def test_candles_intervals_align_to_utc() -> None:
    """Every interval starts on its UTC boundary; all close together at midnight."""
    start = DAY + 13 * 3600 * S + 7 * 60 * S
    assert interval_start(start, "4h") == DAY + 12 * 3600 * S
    assert interval_start(start, "1d") == DAY
    assert interval_start(start, "10m") == DAY + 13 * 3600 * S
    builder = CandleBuilder(MARKET)
    builder.on_trade(Trade(MARKET.id, "1", 100, 1, Side.SELL, start))
    closed = builder.on_time(DAY + 86400 * S)
    assert [c.interval for c in closed] == ["1m", "5m", "10m", "15m", "30m", "1h", "4h", "1d"]
    assert [c.start_ns for c in closed][-2:] == [DAY + 12 * 3600 * S, DAY]


def test_candles_aggregator_routes_by_market() -> None:
    """The aggregator keeps markets apart and ignores unknown markets."""
    other = Market("sim-xyz-usd-spot", "sim", MarketKind.SPOT, "xyz", "usd", "XYZUSD", 2, 3)
    aggregator = CandleAggregator([MARKET, other], ["1m"])
    aggregator.on_trade(trade(1, 100, 1))
    aggregator.on_trade(trade(2, 200, 1, other.id))
    assert aggregator.on_trade(trade(3, 300, 1, "sim-nope-usd-spot")) == []
    closed = aggregator.on_time(DAY + 60 * S)
    assert sorted((c.market, c.close) for c in closed) == [(MARKET.id, 100), (other.id, 200)]
    assert aggregator.on_time(DAY + 120 * S) == []


def test_candles_unknown_interval_rejected() -> None:
    """Only the standard intervals are accepted."""
    with pytest.raises(ValueError, match="unknown candle interval"):
        CandleBuilder(MARKET, ["2m"])

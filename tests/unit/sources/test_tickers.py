"""Per-asset tickers and USD metrics."""

from __future__ import annotations

from tickcast.model.events import AssetMetric, Side, Ticker, Trade
from tickcast.model.markets import Market, MarketKind
from tickcast.sources.tickers import TickerAggregator, median

USD = Market("a-abc-usd-spot", "a", MarketKind.SPOT, "abc", "usd", "ABCUSD", 2, 3)
USDT = Market("b-abc-usdt-spot", "b", MarketKind.SPOT, "abc", "usdt", "ABCUSDT", 3, 2)
EUR = Market("c-abc-eur-spot", "c", MarketKind.SPOT, "abc", "eur", "ABCEUR", 2, 3)
PERP = Market("b-ABCUSDT-future", "b", MarketKind.FUTURE, "abc", "usdt", "ABCUSDT", 3, 2)
S = 1_000_000_000
H = 3600 * S
T0 = 1_767_225_600 * S


def trade(market: Market, at_ns: int, price: int, size: int) -> Trade:
    return Trade(market.id, "1", price, size, Side.BUY, T0 + at_ns)


def tickers(events: list[Ticker | AssetMetric]) -> list[Ticker]:
    return [e for e in events if isinstance(e, Ticker)]


def test_tickers_24h_window_math() -> None:
    """Open/high/low/volume cover the last 24 h of minute buckets; change = price - open."""
    agg = TickerAggregator([USD])
    agg.on_trade(trade(USD, 0, 10000, 1000))
    agg.on_trade(trade(USD, 1 * H, 15000, 1000))
    agg.on_trade(trade(USD, 1 * H + 60 * S, 12000, 2000))
    agg.on_trade(trade(USD, 2 * H, 9000, 500))
    agg.on_trade(trade(USD, 25 * H, 11000, 250))
    ticker = agg.ticker("abc", T0 + 25 * H)
    assert ticker is not None
    assert (ticker.price, ticker.open_24h, ticker.high_24h, ticker.low_24h) == (
        11000,
        12000,
        12000,
        9000,
    )
    assert ticker.price - ticker.open_24h == -1000
    assert (ticker.volume_24h, ticker.volume_decimals, ticker.decimals) == (2750, 3, 2)


def test_tickers_window_empty_falls_back_to_last_price() -> None:
    """With no trade in 24 h, open/high/low are the last price and volume is 0."""
    agg = TickerAggregator([USD])
    agg.on_trade(trade(USD, 0, 10000, 1000))
    ticker = agg.ticker("abc", T0 + 48 * H)
    assert ticker is not None
    assert (ticker.open_24h, ticker.high_24h, ticker.low_24h, ticker.volume_24h) == (
        10000,
        10000,
        10000,
        0,
    )


def test_tickers_merge_usd_and_usdt_venues() -> None:
    """USDT counts as USD; prices and volumes are rescaled; EUR and futures are ignored."""
    agg = TickerAggregator([USD, USDT, EUR, PERP])
    agg.on_trade(trade(USD, 0, 10000, 1000))  # 100.00 x 1.000
    agg.on_trade(trade(USDT, S, 100500, 150))  # 100.500 x 1.50
    agg.on_trade(trade(EUR, 2 * S, 9000, 1000))
    agg.on_trade(trade(PERP, 2 * S, 200000, 100))
    ticker = agg.ticker("abc", T0 + 3 * S)
    assert ticker is not None
    assert (ticker.decimals, ticker.price, ticker.high_24h, ticker.low_24h) == (
        3,
        100500,
        100500,
        100000,
    )
    assert (ticker.volume_24h, ticker.volume_decimals) == (2500, 3)


def test_tickers_emission_is_throttled() -> None:
    """A ticker goes out at most once a second, and only after new trades."""
    agg = TickerAggregator([USD])
    assert agg.on_time(T0) == []
    agg.on_trade(trade(USD, 100, 10000, 1000))
    assert len(tickers(agg.on_time(T0 + 100))) == 1
    agg.on_trade(trade(USD, 200, 10100, 1000))
    assert tickers(agg.on_time(T0 + S // 2)) == []
    assert len(tickers(agg.on_time(T0 + S + 100))) == 1
    assert tickers(agg.on_time(T0 + 5 * S)) == []


def test_tickers_metrics_once_per_second_with_median() -> None:
    """PriceUSD is the last price, ReferenceRateUSD the median of venue prices, each second."""
    third = Market("d-abc-usd-spot", "d", MarketKind.SPOT, "abc", "usd", "ABCUSD", 2, 3)
    agg = TickerAggregator([USD, USDT, third])
    agg.on_trade(trade(USD, 0, 10000, 1))
    agg.on_trade(trade(third, 0, 10400, 1))
    agg.on_trade(trade(USDT, 0, 100100, 1))
    metrics = [e for e in agg.on_time(T0 + 10) if isinstance(e, AssetMetric)]
    assert [(m.metric, m.value, m.decimals) for m in metrics] == [
        ("PriceUSD", 100100, 3),
        ("ReferenceRateUSD", 100100, 3),
    ]
    assert [e for e in agg.on_time(T0 + 20) if isinstance(e, AssetMetric)] == []
    assert len([e for e in agg.on_time(T0 + S) if isinstance(e, AssetMetric)]) == 2


def test_tickers_median_of_even_count_rounds() -> None:
    """The median of an even count is the rounded mean of the middle two."""
    assert median([1, 2]) == 2
    assert median([5, 1, 3]) == 3
    assert median([10, 20, 31, 41]) == 26

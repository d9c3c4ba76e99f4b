"""OpenCandles: one candle updated per trade gives what updating every interval would."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tickcast.model import Market, MarketKind, Side, Trade
from tickcast.model.numbers import rescale
from tickcast.state.candles import NS, OpenCandle, OpenCandles

BTC = Market("binance-btc-usdt-spot", "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 5)
INTERVALS = (60, 300, 900, 3600, 86400)


@dataclass
class _Naive:
    """Every interval's candle updated on every trade (a new window starts a new candle)."""

    candles: dict[int, OpenCandle]

    def on_trade(self, trade: Trade) -> None:
        notional = rescale(trade.price * trade.size, BTC.size_decimals, 0)
        for seconds in INTERVALS:
            start = trade.time_ns - trade.time_ns % (seconds * NS)
            candle = self.candles.get(seconds)
            if candle is None or candle.start_ns != start:
                p = trade.price
                candle = self.candles[seconds] = OpenCandle(start, p, p, p, p, 0, 0, 0)
            candle.high = max(candle.high, trade.price)
            candle.low = min(candle.low, trade.price)
            candle.close = trade.price
            candle.volume += trade.size
            candle.notional += notional
            candle.last_ns = trade.time_ns


def test_rolled_up_candles_equal_every_interval_updated_on_every_trade() -> None:
    rng = random.Random(7)
    candles = OpenCandles([BTC], INTERVALS)
    naive = _Naive({})
    now = 1_700_000_000 * NS
    for n in range(5_000):
        step = rng.choice((1, 5, 40, 200, 3_000)) * NS // 10
        now += -step if rng.random() < 0.05 else step  # now and then a trade from the past
        trade = Trade(BTC.id, str(n), rng.randint(100, 200), rng.randint(1, 9), Side.BUY, now)
        candles.on_trade(trade)
        naive.on_trade(trade)
        for seconds in INTERVALS:
            assert candles.open(BTC.id, seconds) == naive.candles[seconds], (n, seconds)
        assert candles.last_price(BTC.id) == trade.price


def test_flush_names_the_markets_that_traded_once_and_unknown_markets_are_ignored() -> None:
    candles = OpenCandles([BTC], INTERVALS)
    assert candles.open(BTC.id, 60) is None and candles.last_price(BTC.id) == 0
    for n in range(3):
        candles.on_trade(Trade(BTC.id, str(n), 100, 1, Side.BUY, NS))
    candles.on_trade(Trade("nowhere", "x", 100, 1, Side.BUY, NS))
    assert candles.flush() == [BTC.id]
    assert candles.flush() == []

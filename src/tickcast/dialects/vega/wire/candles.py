"""Open candles per (market, Vega interval), updated by every trade.

Vega streams the candle in progress (``lastUpdate`` moves, ``close`` follows the last trade);
tickcast's own candle stream only publishes closed candles, so the dialect keeps its own.
``volume`` is in size units; ``notional`` is the sum of price × size in price units.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickcast.dialects.vega.wire.ids import CANDLE_INTERVALS, candle_id, market_hex
from tickcast.dialects.vega.wire.jsonpb import I64, Message
from tickcast.model import Market, Trade
from tickcast.model.numbers import rescale


@dataclass(slots=True)
class OpenCandle:
    start_ns: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    notional: int
    last_ns: int

    def message(self) -> Message:
        """vega.Candle."""
        return {
            "start": I64(self.start_ns),
            "lastUpdate": I64(self.last_ns),
            "high": str(self.high),
            "low": str(self.low),
            "open": str(self.open),
            "close": str(self.close),
            "volume": I64(self.volume),
            "notional": I64(self.notional),
        }


class CandleBook:
    """Every market's open candles; remembers which changed since the last flush."""

    def __init__(self) -> None:
        self._candles: dict[str, OpenCandle] = {}
        self._changed: dict[str, None] = {}

    def on_trade(self, market: Market, trade: Trade) -> None:
        hex_id = market_hex(market.id)
        notional = rescale(trade.price * trade.size, market.size_decimals, 0)
        for interval, (_, seconds) in CANDLE_INTERVALS.items():
            key = candle_id(interval, hex_id)
            start = trade.time_ns - trade.time_ns % (seconds * 1_000_000_000)
            candle = self._candles.get(key)
            if candle is None or candle.start_ns != start:
                self._candles[key] = OpenCandle(
                    start, trade.price, trade.price, trade.price, trade.price, 0, 0, 0
                )
                candle = self._candles[key]
            candle.high = max(candle.high, trade.price)
            candle.low = min(candle.low, trade.price)
            candle.close = trade.price
            candle.volume += trade.size
            candle.notional += notional
            candle.last_ns = trade.time_ns
            self._changed[key] = None

    def get(self, key: str) -> OpenCandle | None:
        return self._candles.get(key)

    def flush(self) -> list[tuple[str, OpenCandle]]:
        """(candle id, candle) of every candle changed since the last flush."""
        out = [(key, self._candles[key]) for key in self._changed]
        self._changed.clear()
        return out

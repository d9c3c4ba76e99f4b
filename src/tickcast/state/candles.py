"""Open candles: every market's candle in progress for each interval, and its last price. Pure.

A pipeline stage at ``Step.DERIVE`` (docs/design.md, "The ingest pipeline"): each trade updates
one candle, the open one of the shortest interval; the longer intervals (whole multiples of it,
aligned on the epoch) keep the sum of the short candles they have already closed and combine it
with the open short candle when read. So a trade costs the same whatever the number of
intervals, and reading ``open(market, seconds)`` gives what updating every interval on every
trade would have given (open, high, low, close, volume, notional, last update).

``volume`` is in size units; ``notional`` the sum of price x size in price units.
(tickcast's own ``candles`` stream publishes closed candles only; the Vega dialect streams the
open ones.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from tickcast.model import Envelope, Market, Trade
from tickcast.model.numbers import rescale

NS = 1_000_000_000


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

    def then(self, later: OpenCandle) -> OpenCandle:
        """This candle followed by ``later`` (trades that arrived after it), as one candle."""
        return OpenCandle(
            self.start_ns,
            self.open,
            max(self.high, later.high),
            min(self.low, later.low),
            later.close,
            self.volume + later.volume,
            self.notional + later.notional,
            later.last_ns,
        )


@dataclass(slots=True)
class _Market:
    short: OpenCandle
    rolled: dict[int, OpenCandle]
    """Per longer interval: the short candles closed in its current window, combined."""


class OpenCandles:
    """Every market's open candles; remembers which markets traded since the last ``flush``."""

    def __init__(self, markets: Iterable[Market], intervals: Sequence[int]) -> None:
        self._markets = {market.id: market for market in markets}
        self.intervals = tuple(sorted(intervals))
        """Interval lengths in seconds; each a whole multiple of the shortest."""
        self._short_ns = self.intervals[0] * NS
        self._open: dict[str, _Market] = {}
        self._traded: dict[str, None] = {}

    def add_market(self, market: Market) -> None:
        self._markets[market.id] = market

    def __call__(self, envelopes: Sequence[Envelope]) -> None:
        """The pipeline stage."""
        for envelope in envelopes:
            event = envelope.event
            if isinstance(event, Trade):
                self.on_trade(event)

    def on_trade(self, trade: Trade) -> None:
        market = self._markets.get(trade.market)
        if market is None:
            return
        price, time_ns = trade.price, trade.time_ns
        notional = rescale(price * trade.size, market.size_decimals, 0)
        start = time_ns - time_ns % self._short_ns
        state = self._open.get(market.id)
        if state is None:
            state = self._open[market.id] = _Market(self._new(start, price), {})
        elif state.short.start_ns != start:
            self._roll(state)
            state.short = self._new(start, price)
        candle = state.short
        if price > candle.high:
            candle.high = price
        if price < candle.low:
            candle.low = price
        candle.close = price
        candle.volume += trade.size
        candle.notional += notional
        candle.last_ns = time_ns
        self._traded[market.id] = None

    @staticmethod
    def _new(start: int, price: int) -> OpenCandle:
        return OpenCandle(start, price, price, price, price, 0, 0, 0)

    def _roll(self, state: _Market) -> None:
        """The short candle closes: add it to each longer interval's window."""
        closed = state.short
        for seconds in self.intervals[1:]:
            start = closed.start_ns - closed.start_ns % (seconds * NS)
            rolled = state.rolled.get(seconds)
            if rolled is None or rolled.start_ns != start:
                state.rolled[seconds] = replace(closed, start_ns=start)
            else:
                state.rolled[seconds] = rolled.then(closed)

    def open(self, market: str, seconds: int) -> OpenCandle | None:
        """The open candle of ``market`` for an interval of ``seconds`` (None before a trade)."""
        state = self._open.get(market)
        if state is None:
            return None
        short = state.short
        if seconds == self.intervals[0]:
            return short
        start = short.start_ns - short.start_ns % (seconds * NS)
        rolled = state.rolled.get(seconds)
        if rolled is None or rolled.start_ns != start:
            return replace(short, start_ns=start)
        return rolled.then(short)

    def last_price(self, market: str) -> int:
        """The market's last traded price (0 before its first trade)."""
        state = self._open.get(market)
        return 0 if state is None else state.short.close

    def flush(self) -> list[str]:
        """The markets that traded since the last flush, in the order they first traded."""
        traded = list(self._traded)
        self._traded.clear()
        return traded

"""vega.Candle: the open candle of an interval, as the data-node streams it.

Vega streams the candle in progress (``lastUpdate`` moves, ``close`` follows the last trade);
the open candles themselves are derived state (``tickcast.state.candles.OpenCandles``).
``volume`` is in size units; ``notional`` is the sum of price x size in price units.
"""

from __future__ import annotations

from typing import Protocol

from tickcast.dialects.vega.wire.ids import CANDLE_INTERVALS
from tickcast.dialects.vega.wire.jsonpb import I64, Message

INTERVAL_SECONDS: tuple[int, ...] = tuple(seconds for _, seconds in CANDLE_INTERVALS.values())
"""The Vega candle intervals in seconds, shortest first (each a multiple of the shortest)."""


class CandleFields(Protocol):
    @property
    def start_ns(self) -> int: ...
    @property
    def open(self) -> int: ...
    @property
    def high(self) -> int: ...
    @property
    def low(self) -> int: ...
    @property
    def close(self) -> int: ...
    @property
    def volume(self) -> int: ...
    @property
    def notional(self) -> int: ...
    @property
    def last_ns(self) -> int: ...


def candle(fields: CandleFields) -> Message:
    """vega.Candle."""
    return {
        "start": I64(fields.start_ns),
        "lastUpdate": I64(fields.last_ns),
        "high": str(fields.high),
        "low": str(fields.low),
        "open": str(fields.open),
        "close": str(fields.close),
        "volume": I64(fields.volume),
        "notional": I64(fields.notional),
    }

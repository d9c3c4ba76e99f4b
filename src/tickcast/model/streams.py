"""Stream keys: ``<kind>:<subject>[:<variant>]``, and which stream each event belongs to.

STATE streams (book, quotes, ticker, metrics, orders, positions) can be summarised by a snapshot
and conflated; EVENT streams (trades, candles, predictions) cannot: a hole is reported as a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from tickcast.model.events import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Candle,
    Event,
    Order,
    Position,
    Prediction,
    Quote,
    Ticker,
    Trade,
    TradesGap,
)
from tickcast.model.markets import is_market_id

CANDLE_INTERVALS: tuple[str, ...] = ("1m", "5m", "10m", "15m", "30m", "1h", "4h", "1d")


class StreamKind(StrEnum):
    TRADES = "trades"
    BOOK = "book"
    QUOTES = "quotes"
    CANDLES = "candles"
    TICKER = "ticker"
    METRICS = "metrics"
    ORDERS = "orders"
    POSITIONS = "positions"
    PREDICTIONS = "predictions"


class StreamClass(Enum):
    STATE = "state"
    EVENT = "event"


STREAM_CLASS: dict[StreamKind, StreamClass] = {
    StreamKind.TRADES: StreamClass.EVENT,
    StreamKind.BOOK: StreamClass.STATE,
    StreamKind.QUOTES: StreamClass.STATE,
    StreamKind.CANDLES: StreamClass.EVENT,
    StreamKind.TICKER: StreamClass.STATE,
    StreamKind.METRICS: StreamClass.STATE,
    StreamKind.ORDERS: StreamClass.STATE,
    StreamKind.POSITIONS: StreamClass.STATE,
    StreamKind.PREDICTIONS: StreamClass.EVENT,
}

_MARKET_KINDS = {
    StreamKind.TRADES,
    StreamKind.BOOK,
    StreamKind.QUOTES,
    StreamKind.CANDLES,
    StreamKind.ORDERS,
    StreamKind.POSITIONS,
}


@dataclass(frozen=True, slots=True)
class StreamKey:
    kind: StreamKind
    subject: str
    variant: str | None = None

    def __str__(self) -> str:
        if self.variant is None:
            return f"{self.kind.value}:{self.subject}"
        return f"{self.kind.value}:{self.subject}:{self.variant}"

    @property
    def stream_class(self) -> StreamClass:
        return STREAM_CLASS[self.kind]

    @property
    def market(self) -> str | None:
        """The market id for market streams, else None."""
        return self.subject if self.kind in _MARKET_KINDS else None

    @classmethod
    def parse(cls, text: str) -> StreamKey:
        """Parse and validate a stream key; raise ValueError with a reason."""
        if not isinstance(text, str) or len(text) > 200:
            raise ValueError("stream key must be a string of at most 200 characters")
        kind_text, _, rest = text.partition(":")
        try:
            kind = StreamKind(kind_text)
        except ValueError:
            raise ValueError(f"unknown stream kind {kind_text!r}") from None
        if kind is StreamKind.CANDLES:
            subject, _, variant = rest.rpartition(":")
            if variant not in CANDLE_INTERVALS:
                raise ValueError(f"candle interval must be one of {', '.join(CANDLE_INTERVALS)}")
            return cls._checked(kind, subject, variant)
        if kind is StreamKind.PREDICTIONS:
            strategy, _, model = rest.partition(":")
            if not strategy or not model:
                raise ValueError("predictions stream must be predictions:<strategy>:<model>")
            return cls(kind, strategy, model)
        return cls._checked(kind, rest, None)

    @classmethod
    def _checked(cls, kind: StreamKind, subject: str, variant: str | None) -> StreamKey:
        if kind in _MARKET_KINDS and not is_market_id(subject):
            raise ValueError(f"not a market id: {subject!r}")
        if kind not in _MARKET_KINDS and not (subject.isascii() and subject.isalnum()):
            raise ValueError(f"not an asset code: {subject!r}")
        return cls(kind, subject, variant)


def stream_of(event: Event) -> StreamKey:
    """The stream an event is published on."""
    match event:
        case Trade() | TradesGap():
            return StreamKey(StreamKind.TRADES, event.market)
        case BookDelta() | BookSnapshot():
            return StreamKey(StreamKind.BOOK, event.market)
        case Quote():
            return StreamKey(StreamKind.QUOTES, event.market)
        case Candle():
            return StreamKey(StreamKind.CANDLES, event.market, event.interval)
        case Ticker():
            return StreamKey(StreamKind.TICKER, event.asset)
        case AssetMetric():
            return StreamKey(StreamKind.METRICS, event.asset)
        case Order():
            return StreamKey(StreamKind.ORDERS, event.market)
        case Position():
            return StreamKey(StreamKind.POSITIONS, event.market)
        case Prediction():
            return StreamKey(StreamKind.PREDICTIONS, event.strategy, event.model)
    raise TypeError(f"not an event: {event!r}")


@dataclass(frozen=True, slots=True)
class View:
    """A per-subscription view of a stream: book depth limit and/or party filter."""

    depth: int | None = None
    party: str | None = None


FULL_VIEW = View()

"""Domain model: events, envelopes, stream keys, markets and fixed-point numbers."""

from tickcast.model.envelope import Envelope, StreamPosition
from tickcast.model.events import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Candle,
    Event,
    Level,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Prediction,
    Quote,
    Side,
    Ticker,
    Trade,
    TradesGap,
)
from tickcast.model.markets import Market, MarketCatalog, MarketKind
from tickcast.model.numbers import format_fixed, parse_fixed
from tickcast.model.streams import FULL_VIEW, StreamClass, StreamKey, StreamKind, View, stream_of

__all__ = [
    "AssetMetric",
    "BookDelta",
    "BookSnapshot",
    "Candle",
    "Envelope",
    "Event",
    "Level",
    "Market",
    "MarketCatalog",
    "MarketKind",
    "Order",
    "OrderStatus",
    "OrderType",
    "Position",
    "Prediction",
    "Quote",
    "Side",
    "StreamClass",
    "StreamKey",
    "StreamKind",
    "StreamPosition",
    "Ticker",
    "Trade",
    "TradesGap",
    "format_fixed",
    "parse_fixed",
    "stream_of",
    "View",
    "FULL_VIEW",
]

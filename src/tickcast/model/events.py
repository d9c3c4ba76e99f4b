"""Normalised market events. Prices and sizes are scaled integers (see ``numbers``).

Market events take their decimals from the market in the ``MarketCatalog``; asset-level events
(Ticker, AssetMetric) carry their own decimals. Times are UTC nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    ACTIVE = "active"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


Level = tuple[int, int]
"""(price, size) in scaled integers; size 0 in a delta deletes the level."""


@dataclass(frozen=True, slots=True)
class Trade:
    market: str
    id: str
    price: int
    size: int
    side: Side
    """The aggressor's side."""
    time_ns: int
    buyer: str | None = None
    seller: str | None = None


@dataclass(frozen=True, slots=True)
class TradesGap:
    """Trades of ``market`` that the venue lost and no backfill recovered (issue 16).

    It takes one seq on the trades stream, so history, replay and resume keep it. The native
    dialect renders it as ``Gap {from: seq, to: seq, reason: "venue"}``; dialects that cannot
    express a gap (Coin Metrics, Vega) skip it; aggregations (candles, tickers, features) and the
    recorder ignore it. ``after_id`` / ``before_id``: the venue's last trade id before the loss
    and first after it, when known."""

    market: str
    time_ns: int
    reason: str = "venue"
    after_id: str | None = None
    before_id: str | None = None


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    market: str
    bids: tuple[Level, ...]
    """Best (highest) first."""
    asks: tuple[Level, ...]
    """Best (lowest) first."""
    time_ns: int
    checksum: int | None = None
    """Kraken v2 CRC32 of the top 10 levels after this event; set at ingest."""


@dataclass(frozen=True, slots=True)
class BookDelta:
    market: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    time_ns: int
    checksum: int | None = None
    """Kraken v2 CRC32 of the top 10 levels after this delta; set at ingest."""


@dataclass(frozen=True, slots=True)
class Quote:
    market: str
    bid_price: int
    bid_size: int
    ask_price: int
    ask_size: int
    time_ns: int


@dataclass(frozen=True, slots=True)
class Candle:
    market: str
    interval: str
    """One of 1m 5m 10m 15m 30m 1h 4h 1d."""
    start_ns: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    """Base volume in size units."""
    quote_volume: int
    """Quote volume in price units."""
    trades: int
    time_ns: int


@dataclass(frozen=True, slots=True)
class Ticker:
    asset: str
    decimals: int
    price: int
    open_24h: int
    high_24h: int
    low_24h: int
    volume_24h: int
    """Base-asset volume over 24 h across all markets, scaled by ``volume_decimals``."""
    volume_decimals: int
    time_ns: int


@dataclass(frozen=True, slots=True)
class AssetMetric:
    asset: str
    metric: str
    """e.g. ``PriceUSD`` or ``ReferenceRateUSD``."""
    value: int
    decimals: int
    time_ns: int


@dataclass(frozen=True, slots=True)
class Order:
    market: str
    id: str
    party: str
    side: Side
    type: OrderType
    price: int
    """Limit price; 0 for market orders."""
    size: int
    remaining: int
    status: OrderStatus
    created_ns: int
    time_ns: int


@dataclass(frozen=True, slots=True)
class Position:
    market: str
    party: str
    open_volume: int
    """Signed size units: positive long, negative short."""
    average_entry: int
    """Price units; 0 when flat."""
    realised_pnl: int
    """Quote currency scaled by the market's price decimals."""
    unrealised_pnl: int
    mark_price: int
    time_ns: int


@dataclass(frozen=True, slots=True)
class Prediction:
    strategy: str
    model: str
    value: str
    time_ns: int
    features: tuple[tuple[str, str], ...] = ()


Event = (
    Trade
    | TradesGap
    | BookSnapshot
    | BookDelta
    | Quote
    | Candle
    | Ticker
    | AssetMetric
    | Order
    | Position
    | Prediction
)

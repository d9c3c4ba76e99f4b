"""The ``data`` objects of native Snapshot and Update messages, one shape per event type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Candle,
    Event,
    Level,
    MarketCatalog,
    Order,
    Position,
    Prediction,
    Quote,
    StreamKind,
    Ticker,
    Trade,
    format_fixed,
)
from tickcast.model.timefmt import rfc3339_ns

_EMPTY: dict[StreamKind, dict[str, Any]] = {
    StreamKind.BOOK: {"asks": [], "bids": []},
    StreamKind.ORDERS: {"orders": []},
    StreamKind.POSITIONS: {"positions": []},
    StreamKind.METRICS: {"metrics": []},
}

DELETE = "0"
"""Size of a deleted level in a book Update."""


def _levels(levels: Sequence[Level], price_decimals: int, size_decimals: int) -> list[list[str]]:
    return [
        [format_fixed(price, price_decimals), format_fixed(size, size_decimals) if size else DELETE]
        for price, size in levels
    ]


def _pct(change: int, base: int) -> str:
    if base == 0:
        return "0.00"
    return str((Decimal(change) * 100 / Decimal(base)).quantize(Decimal("0.01")))


def event_data(event: Event, catalog: MarketCatalog) -> dict[str, Any]:
    """The JSON-ready ``data`` of one event."""
    render = _DATA.get(type(event))
    if render is None:
        raise TypeError(f"not an event: {event!r}")
    return render(event, catalog)


def _trade_data(event: Trade, catalog: MarketCatalog) -> dict[str, Any]:
    market = catalog.get(event.market)
    data: dict[str, Any] = {
        "id": event.id,
        "price": format_fixed(event.price, market.price_decimals),
        "size": format_fixed(event.size, market.size_decimals),
        "side": event.side.value,
        "time": rfc3339_ns(event.time_ns),
    }
    if event.buyer is not None:
        data["buyer"] = event.buyer
    if event.seller is not None:
        data["seller"] = event.seller
    return data


def _book_data(event: BookSnapshot | BookDelta, catalog: MarketCatalog) -> dict[str, Any]:
    market = catalog.get(event.market)
    p, s = market.price_decimals, market.size_decimals
    return {"asks": _levels(event.asks, p, s), "bids": _levels(event.bids, p, s)}


def _quote_data(event: Quote, catalog: MarketCatalog) -> dict[str, Any]:
    market = catalog.get(event.market)
    p, s = market.price_decimals, market.size_decimals
    return {
        "bid_price": format_fixed(event.bid_price, p),
        "bid_size": format_fixed(event.bid_size, s),
        "ask_price": format_fixed(event.ask_price, p),
        "ask_size": format_fixed(event.ask_size, s),
        "time": rfc3339_ns(event.time_ns),
    }


def _candle_data(event: Candle, catalog: MarketCatalog) -> dict[str, Any]:
    market = catalog.get(event.market)
    p, s = market.price_decimals, market.size_decimals
    return {
        "interval": event.interval,
        "start": rfc3339_ns(event.start_ns),
        "open": format_fixed(event.open, p),
        "high": format_fixed(event.high, p),
        "low": format_fixed(event.low, p),
        "close": format_fixed(event.close, p),
        "volume": format_fixed(event.volume, s),
        "quote_volume": format_fixed(event.quote_volume, p),
        "trades": event.trades,
        "time": rfc3339_ns(event.time_ns),
    }


def _ticker_data(event: Ticker, catalog: MarketCatalog) -> dict[str, Any]:
    d = event.decimals
    change = event.price - event.open_24h
    return {
        "asset": event.asset,
        "price": format_fixed(event.price, d),
        "open_24h": format_fixed(event.open_24h, d),
        "high_24h": format_fixed(event.high_24h, d),
        "low_24h": format_fixed(event.low_24h, d),
        "volume_24h": format_fixed(event.volume_24h, event.volume_decimals),
        "change_24h": format_fixed(change, d),
        "change_pct_24h": _pct(change, event.open_24h),
        "time": rfc3339_ns(event.time_ns),
    }


def _asset_metric_data(event: AssetMetric, catalog: MarketCatalog) -> dict[str, Any]:
    return {
        "asset": event.asset,
        "metric": event.metric,
        "value": format_fixed(event.value, event.decimals),
        "time": rfc3339_ns(event.time_ns),
    }


def _order_data(event: Order, catalog: MarketCatalog) -> dict[str, Any]:
    market = catalog.get(event.market)
    p, s = market.price_decimals, market.size_decimals
    return {
        "id": event.id,
        "party": event.party,
        "side": event.side.value,
        "type": event.type.value,
        "price": format_fixed(event.price, p),
        "size": format_fixed(event.size, s),
        "remaining": format_fixed(event.remaining, s),
        "status": event.status.value,
        "created": rfc3339_ns(event.created_ns),
        "time": rfc3339_ns(event.time_ns),
    }


def _position_data(event: Position, catalog: MarketCatalog) -> dict[str, Any]:
    market = catalog.get(event.market)
    p, s = market.price_decimals, market.size_decimals
    return {
        "party": event.party,
        "open_volume": format_fixed(event.open_volume, s),
        "average_entry": format_fixed(event.average_entry, p),
        "realised_pnl": format_fixed(event.realised_pnl, p),
        "unrealised_pnl": format_fixed(event.unrealised_pnl, p),
        "mark_price": format_fixed(event.mark_price, p),
        "time": rfc3339_ns(event.time_ns),
    }


def _prediction_data(event: Prediction, catalog: MarketCatalog) -> dict[str, Any]:
    return {
        "strategy": event.strategy,
        "model": event.model,
        "value": event.value,
        "features": dict(event.features),
        "time": rfc3339_ns(event.time_ns),
    }


_DATA: dict[type[Any], Callable[[Any, MarketCatalog], dict[str, Any]]] = {
    Trade: _trade_data,
    BookSnapshot: _book_data,
    BookDelta: _book_data,
    Quote: _quote_data,
    Candle: _candle_data,
    Ticker: _ticker_data,
    AssetMetric: _asset_metric_data,
    Order: _order_data,
    Position: _position_data,
    Prediction: _prediction_data,
}
"""The renderer of each event type (one dict lookup per event instead of a ``match`` chain)."""


def snapshot_data(
    kind: StreamKind, events: Sequence[Event], catalog: MarketCatalog
) -> dict[str, Any]:
    """The ``data`` of a STATE stream snapshot (``events`` as cut by the state keeper)."""
    if not events:
        return _EMPTY.get(kind, {})
    if len(events) == 1 and isinstance(events[0], BookSnapshot | Quote | Ticker):
        return event_data(events[0], catalog)
    if events and isinstance(events[0], Order):
        return {"orders": [event_data(event, catalog) for event in events]}
    if events and isinstance(events[0], Position):
        return {"positions": [event_data(event, catalog) for event in events]}
    if events and isinstance(events[0], AssetMetric):
        return {"metrics": [event_data(event, catalog) for event in events]}
    return {}

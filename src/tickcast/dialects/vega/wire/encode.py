"""tickcast events → Vega messages (``jsonpb.Message`` dicts, rendered by ``jsonpb``).

Prices are decimal integer strings scaled by the market's price decimals and sizes int64 strings
scaled by its size decimals (tickcast keeps both as scaled integers already); times are Unix
nanoseconds. Field names and enum numbers follow vega.proto (v0.79).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson

from tickcast.dialects.vega.wire.ids import market_hex, order_hex, trade_hex
from tickcast.dialects.vega.wire.jsonpb import I64, Enum, Message
from tickcast.model import Level, Market, Order, OrderStatus, OrderType, Position, Side, Trade

SIDE = {Side.BUY: Enum(1, "SIDE_BUY"), Side.SELL: Enum(2, "SIDE_SELL")}
TRADE_TYPE_DEFAULT = Enum(1, "TYPE_DEFAULT")
TIF_GTC = Enum(1, "TIME_IN_FORCE_GTC")
TIF_IOC = Enum(3, "TIME_IN_FORCE_IOC")
ORDER_TYPE = {OrderType.LIMIT: Enum(1, "TYPE_LIMIT"), OrderType.MARKET: Enum(2, "TYPE_MARKET")}
STATUS_ACTIVE = Enum(1, "STATUS_ACTIVE")
STATUS_CANCELLED = Enum(3, "STATUS_CANCELLED")
STATUS_FILLED = Enum(5, "STATUS_FILLED")
STATUS_REJECTED = Enum(6, "STATUS_REJECTED")
STATUS_PARTIALLY_FILLED = Enum(7, "STATUS_PARTIALLY_FILLED")
TRADING_MODE_CONTINUOUS = Enum(1, "TRADING_MODE_CONTINUOUS")
STATE_ACTIVE = Enum(5, "STATE_ACTIVE")


def trade(market: Market, event: Trade) -> Message:
    """vega.Trade. Order ids and fees are not modelled by the simulator (left out)."""
    price = str(event.price)
    return {
        "id": trade_hex(market.id, event.id),
        "marketId": market_hex(market.id),
        "price": price,
        "size": I64(event.size),
        "buyer": event.buyer or "",
        "seller": event.seller or "",
        "aggressor": SIDE[event.side],
        "timestamp": I64(event.time_ns),
        "type": TRADE_TYPE_DEFAULT,
        "assetPrice": price,
    }


def order_status(event: Order) -> Enum:
    """Vega has no "live and partly filled" status: such orders are ACTIVE; an IOC (market)
    order that filled partly and then ended is PARTIALLY_FILLED."""
    match event.status:
        case OrderStatus.ACTIVE | OrderStatus.PARTIALLY_FILLED:
            return STATUS_ACTIVE
        case OrderStatus.FILLED:
            return STATUS_FILLED
        case OrderStatus.REJECTED:
            return STATUS_REJECTED
        case OrderStatus.CANCELLED:
            partly = event.type is OrderType.MARKET and 0 < event.remaining < event.size
            return STATUS_PARTIALLY_FILLED if partly else STATUS_CANCELLED
    raise AssertionError(event.status)


def order(market: Market, event: Order, version: int = 1) -> Message:
    """vega.Order."""
    return {
        "id": order_hex(market.id, event.id),
        "marketId": market_hex(market.id),
        "partyId": event.party,
        "side": SIDE[event.side],
        "price": str(event.price) if event.type is OrderType.LIMIT else "",
        "size": I64(event.size),
        "remaining": I64(event.remaining),
        "timeInForce": TIF_GTC if event.type is OrderType.LIMIT else TIF_IOC,
        "type": ORDER_TYPE[event.type],
        "createdAt": I64(event.created_ns),
        "status": order_status(event),
        "updatedAt": I64(event.time_ns if event.time_ns != event.created_ns else 0),
        "version": I64(version),
    }


def position(market: Market, event: Position, *, realised: int, unrealised: int) -> Message:
    """vega.Position; PnL amounts are in the settlement asset's decimals (``accounts``)."""
    return {
        "marketId": market_hex(market.id),
        "partyId": event.party,
        "openVolume": I64(event.open_volume),
        "realisedPnl": str(realised),
        "unrealisedPnl": str(unrealised),
        "averageEntryPrice": str(event.average_entry),
        "updatedAt": I64(event.time_ns),
    }


OrderCount = Callable[[Side, int], int]
"""Live orders at (side, price) of the market being encoded."""


def _no_count(side: Side, price: int) -> int:
    return 0


def price_levels(
    levels: Sequence[Level], side: Side, count: OrderCount = _no_count
) -> list[Message]:
    """vega.PriceLevel list; a removed level (size 0) keeps only its price on streams."""
    return [
        {"price": str(price), "numberOfOrders": I64(count(side, price)), "volume": I64(size)}
        for price, size in levels
    ]


def market_depth(
    market: Market,
    bids: Sequence[Level],
    asks: Sequence[Level],
    sequence: int,
    count: OrderCount = _no_count,
) -> Message:
    """vega.MarketDepth: the whole book."""
    return {
        "marketId": market_hex(market.id),
        "buy": price_levels(bids, Side.BUY, count),
        "sell": price_levels(asks, Side.SELL, count),
        "sequenceNumber": I64(sequence),
    }


def market_depth_update(
    market: Market,
    bids: Sequence[Level],
    asks: Sequence[Level],
    sequence: int,
    previous: int,
    count: OrderCount = _no_count,
) -> Message:
    """vega.MarketDepthUpdate: changed levels only, absolute totals."""
    return market_depth(market, bids, asks, sequence, count) | {
        "previousSequenceNumber": I64(previous)
    }


def market_data(
    market: Market,
    *,
    best_bid: Level | None,
    best_ask: Level | None,
    last_price: int,
    open_interest: int,
    time_ns: int,
) -> Message:
    """vega.MarketData: the key fields (mark price = last trade price)."""
    bid_price, bid_volume = best_bid or (0, 0)
    ask_price, ask_volume = best_ask or (0, 0)
    mid = (bid_price + ask_price) // 2 if best_bid and best_ask else 0
    return {
        "markPrice": str(last_price),
        "bestBidPrice": str(bid_price),
        "bestBidVolume": I64(bid_volume),
        "bestOfferPrice": str(ask_price),
        "bestOfferVolume": I64(ask_volume),
        "bestStaticBidPrice": str(bid_price),
        "bestStaticBidVolume": I64(bid_volume),
        "bestStaticOfferPrice": str(ask_price),
        "bestStaticOfferVolume": I64(ask_volume),
        "midPrice": str(mid),
        "staticMidPrice": str(mid),
        "market": market_hex(market.id),
        "timestamp": I64(time_ns),
        "openInterest": I64(open_interest),
        "marketTradingMode": TRADING_MODE_CONTINUOUS,
        "marketState": STATE_ACTIVE,
        "lastTradedPrice": str(last_price),
    }


_TRADE_ITEM = (
    b'{"id":"%s","marketId":"%s","price":"%d",%s%s%s"aggressor":%d,%s"type":1,"assetPrice":"%d"}'
)


def _quoted(text: str) -> bytes:
    """A JSON string as orjson writes it (escaped as needed)."""
    return orjson.dumps(text)


def trade_item(market: Market, event: Trade) -> bytes:
    """``jsonpb.dumps(jsonpb.stream(trade(market, event)))``, byte for byte, in one format: the
    item of every trade of a block (the generic rendering walks the message per field)."""
    size = b'"size":"%d",' % event.size if event.size else b""
    buyer = b'"buyer":%s,' % _quoted(event.buyer) if event.buyer else b""
    seller = b'"seller":%s,' % _quoted(event.seller) if event.seller else b""
    stamp = b'"timestamp":"%d",' % event.time_ns if event.time_ns else b""
    return _TRADE_ITEM % (
        trade_hex(market.id, event.id).encode(),
        market_hex(market.id).encode(),
        event.price,
        size,
        buyer,
        seller,
        SIDE[event.side].value,
        stamp,
        event.price,
    )

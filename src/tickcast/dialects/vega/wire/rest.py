"""REST companions (``/api/v2/markets``, ``/parties``, ``/candle/intervals``,
``/market/depth/{id}/latest``): REST encoding (enum names, defaults emitted)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tickcast.dialects.vega.wire import encode, jsonpb
from tickcast.dialects.vega.wire.ids import CANDLE_INTERVALS, asset_hex, candle_id, market_hex
from tickcast.dialects.vega.wire.jsonpb import I64, Message
from tickcast.model import Level, Market, MarketKind


def _page(name: str, nodes: list[Message]) -> Message:
    """A data-node connection: edges with cursors and a single page."""
    edges = [{"node": node, "cursor": node["id"]} for node in nodes]
    first = nodes[0]["id"] if nodes else ""
    last = nodes[-1]["id"] if nodes else ""
    return {
        name: {
            "edges": edges,
            "pageInfo": {
                "hasNextPage": False,
                "hasPreviousPage": False,
                "startCursor": first,
                "endCursor": last,
            },
        }
    }


def market(item: Market) -> Message:
    """vega.Market (the fields clients use to find ids and decimals)."""
    hex_id = market_hex(item.id)
    quote = asset_hex(item.quote)
    product: Message
    if item.kind is MarketKind.SPOT:
        product = {"spot": {"baseAsset": asset_hex(item.base), "quoteAsset": quote}}
    else:
        product = {"perpetual": {"settlementAsset": quote, "quoteName": item.quote.upper()}}
    return jsonpb.rest(
        {
            "id": hex_id,
            "tradableInstrument": {
                "instrument": {
                    "id": hex_id,
                    "code": item.symbol,
                    "name": item.id,
                    "metadata": {
                        "tags": [
                            f"tickcast:{item.id}",
                            f"base:{item.base.upper()}",
                            f"quote:{item.quote.upper()}",
                        ]
                    },
                    **product,
                }
            },
            "decimalPlaces": I64(item.price_decimals),
            "positionDecimalPlaces": I64(item.size_decimals),
            "tickSize": str(item.tick),
            "state": encode.STATE_ACTIVE,
            "tradingMode": encode.TRADING_MODE_CONTINUOUS,
        }
    )


def markets(items: Iterable[Market]) -> Message:
    return _page("markets", [market(item) for item in items])


def parties(ids: Iterable[str]) -> Message:
    return _page("parties", [{"id": party, "alias": ""} for party in ids])


def candle_intervals(market_hex_id: str) -> Message:
    return {
        "intervalToCandleId": [
            {"interval": interval, "candleId": candle_id(interval, market_hex_id)}
            for interval in CANDLE_INTERVALS
        ]
    }


def latest_depth(
    item: Market,
    bids: Sequence[Level],
    asks: Sequence[Level],
    sequence: int,
    count: encode.OrderCount,
) -> Message:
    """GetLatestMarketDepthResponse (``lastTrade`` left out)."""
    depth = encode.market_depth(item, bids, asks, sequence, count)
    return jsonpb.rest(depth)


def error(code: int, message: str) -> Message:
    """A REST error body (google.rpc.Status)."""
    return {"code": code, "message": message, "details": []}

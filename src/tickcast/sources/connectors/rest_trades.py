"""REST recent trades of Kraken, OKX and Bybit v5, for the runner's trade backfill (sans-I/O).

Each venue gets a path builder (venue symbol -> path and query) and a parser (answer -> trades,
oldest first, with the same ids, sides and times as the venue's WebSocket trades), used through
``VenueDef.trades_path`` / ``VenueDef.parse_trades`` exactly like Binance's (docs/connectors.md,
"Lost trades"):

- Kraken ``GET /0/public/Trades?pair=XBTUSD&count=1000``: the last 1000 trades (``trade_id``,
  dense per pair, is the 7th field of each row; time in seconds with fractions).
- OKX ``GET /api/v5/market/trades?instId=BTC-USDT&limit=500``: the last 500 trades, newest first
  (``tradeId`` dense per instrument).
- Bybit ``GET /v5/market/recent-trade?category=linear&symbol=BTCUSDT&limit=1000`` (spot: at most
  60): newest first; ``execId`` is not dense, so the backfill places trades by their position in
  the answer (``backfill.recovered(..., dense=False)``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

import orjson

from tickcast.model.events import Side, Trade
from tickcast.model.markets import Market
from tickcast.model.numbers import parse_fixed

KRAKEN_COUNT = 1000
OKX_LIMIT = 500
BYBIT_LIMITS = {"spot": 60, "linear": 1000, "inverse": 1000}
_MS = 1_000_000
_KRAKEN_V1 = {"BTC": "XBT", "DOGE": "XDG"}


def kraken_trades_path(symbol: str) -> str:
    """``BTC/USD`` (a v2 symbol) -> the REST pair ``XBTUSD`` (Kraken's altname spelling)."""
    pair = "".join(_KRAKEN_V1.get(part, part) for part in symbol.split("/"))
    return f"/0/public/Trades?pair={quote(pair)}&count={KRAKEN_COUNT}"


def kraken_trades(market: Market, body: bytes) -> list[Trade]:
    """A ``/0/public/Trades`` answer: ``{"error": [], "result": {PAIR: [[price, volume, time,
    "b"|"s", type, misc, trade_id], ...], "last": ...}}``, oldest first."""
    document = orjson.loads(body)
    if document.get("error"):
        raise ValueError(f"Kraken Trades error: {document['error']}")
    [rows] = [value for key, value in document["result"].items() if key != "last"]
    return sorted((_kraken_trade(market, row) for row in rows), key=lambda trade: int(trade.id))


def _kraken_trade(market: Market, row: list[Any]) -> Trade:
    seconds = Decimal(str(row[2]))  # orjson reads a float; its repr is Kraken's decimal text
    return Trade(
        market=market.id,
        id=str(int(row[6])),
        price=parse_fixed(row[0], market.price_decimals),
        size=parse_fixed(row[1], market.size_decimals),
        side=Side.BUY if row[3] == "b" else Side.SELL,
        time_ns=int(seconds * 1_000_000_000),
    )


def okx_trades_path(inst_id: str) -> str:
    return f"/api/v5/market/trades?instId={quote(inst_id)}&limit={OKX_LIMIT}"


def okx_trades(market: Market, body: bytes) -> list[Trade]:
    """A ``/api/v5/market/trades`` answer (``code`` "0", ``data`` newest first), oldest first."""
    document = orjson.loads(body)
    if str(document.get("code")) != "0":
        raise ValueError(f"OKX trades error: {document.get('code')} {document.get('msg')}")
    trades = [
        Trade(
            market=market.id,
            id=str(item["tradeId"]),
            price=parse_fixed(item["px"], market.price_decimals),
            size=parse_fixed(item["sz"], market.size_decimals),
            side=Side.BUY if item["side"] == "buy" else Side.SELL,
            time_ns=int(item["ts"]) * _MS,
        )
        for item in document["data"]
    ]
    return sorted(trades, key=lambda trade: int(trade.id))


def bybit_trades_path(category: str, symbol: str) -> str:
    limit = BYBIT_LIMITS[category]
    return f"/v5/market/recent-trade?category={category}&symbol={quote(symbol)}&limit={limit}"


def bybit_trades(market: Market, body: bytes) -> list[Trade]:
    """A ``/v5/market/recent-trade`` answer (``retCode`` 0, ``result.list`` newest first), oldest
    first: the list reversed (ids are not ordered; equal times keep Bybit's order)."""
    document = orjson.loads(body)
    if document.get("retCode") != 0:
        raise ValueError(f"Bybit recent-trade error: {document.get('retMsg')}")
    return [
        Trade(
            market=market.id,
            id=str(item["execId"]),
            price=parse_fixed(item["price"], market.price_decimals),
            size=parse_fixed(item["size"], market.size_decimals),
            side=Side.BUY if item["side"] == "Buy" else Side.SELL,
            time_ns=int(item["time"]) * _MS,
        )
        for item in reversed(document["result"]["list"])
    ]

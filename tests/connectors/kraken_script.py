"""Kraken WebSocket v2 as a ``VenueScript`` for the fake venue (tests/connectors/fake_venue.py).

Frames: the venue-feeds fixture ``kraken/book-v2.jsonl.gz`` (real Kraken book messages of
2021-04-17, re-framed from v1 to v2 with values and checksums unchanged; see its README), cut to
the symbols asked for. REST: ``/0/public/AssetPairs`` from ``kraken/asset-pairs.json``, with
XBTCHF's price decimals set to the capture's. Kraken's own ``checksum`` of each book message is
kept, so a client's book can be checked against it.

Deliberately independent of ``tickcast``, the venue rebuilds each book (Decimals, truncated to
the 1,000 levels subscribed, as Kraken documents) and answers a ``book`` subscription with a
snapshot of it as it is now, checksummed with Kraken's documented algorithm (``kraken_checksum``),
as Kraken does on a resubscription.
"""

from __future__ import annotations

import gzip
import json
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures" / "connectors" / "kraken"
DEPTH = 1000
PRICE_DECIMALS, QTY_DECIMALS = 5, 8  # BTC/CHF as the capture printed it; ETH/CHF fits too
Side = dict[Decimal, Decimal]


def kraken_checksum(bids: Side, asks: Side) -> int:
    """Kraken's book checksum: the top 10 asks then bids, price and qty with the pair's decimals,
    ``.`` removed and leading zeros stripped, concatenated; CRC32."""

    def text(value: Decimal, decimals: int) -> str:
        return f"{value:.{decimals}f}".replace(".", "").lstrip("0")

    top = sorted(asks.items())[:10] + sorted(bids.items(), reverse=True)[:10]
    joined = "".join(text(p, PRICE_DECIMALS) + text(q, QTY_DECIMALS) for p, q in top)
    return zlib.crc32(joined.encode())


def _trade(symbol: str, trade_id: int, price: Decimal) -> str:
    item = {"symbol": symbol, "side": "buy" if trade_id % 3 else "sell", "price": float(price),
            "qty": 0.01, "ord_type": "market", "trade_id": trade_id,
            "timestamp": f"2021-04-17T10:00:{trade_id % 60:02d}.000000Z"}  # fmt: skip
    return json.dumps({"channel": "trade", "type": "update", "data": [item]})


class KrakenScript:
    def __init__(self, symbols: set[str], *, trades_every: int | None = None) -> None:
        raw = gzip.decompress((FIXTURES / "book-v2.jsonl.gz").read_bytes()).decode()
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        self.frames: list[tuple[int, str]] = [
            (item["ns"], item["frame"])
            for item in lines
            if "frame" in item and json.loads(item["frame"])["data"][0]["symbol"] in symbols
        ]
        self.checksums: dict[str, int] = {}
        """The last book checksum Kraken sent per symbol."""
        for _, frame in self.frames:
            data = json.loads(frame)["data"][0]
            if "checksum" in data:
                self.checksums[data["symbol"]] = data["checksum"]
        pairs = json.loads((FIXTURES / "asset-pairs.json").read_bytes())
        # The capture's checksums cover 5 price decimals (Kraken v1's price strings of April
        # 2021, see tests/unit/connectors/test_kraken.py); today's list says 1 for XBTCHF.
        pairs["result"]["XBTCHF"]["pair_decimals"] = 5
        self.asset_pairs = json.dumps(pairs).encode()
        self.books: dict[str, tuple[Side, Side]] = {}
        self.trade_ids: dict[str, list[str]] = {}
        self.trades: dict[str, list[list[Any]]] = {}
        """Trades that happened, as REST ``/0/public/Trades`` rows."""
        self.recent_limit = 1000
        """How many trades REST ``Trades`` answers with (Kraken: 1000 by default)."""
        if trades_every is not None:
            self.frames = self._with_trades(trades_every)

    def _with_trades(self, every: int) -> list[tuple[int, str]]:
        """After every ``every``-th book frame, a synthetic trade (dense ids from 1000) at the
        capture's first price level (synthetic; Kraken's v2 ``trade`` format)."""
        out: list[tuple[int, str]] = []
        for index, (ns, frame) in enumerate(self.frames):
            out.append((ns, frame))
            data = json.loads(frame, parse_float=Decimal)["data"][0]
            levels = data.get("asks") or data.get("bids")
            if index % every == every - 1 and levels:
                symbol = data["symbol"]
                ids = self.trade_ids.setdefault(symbol, [])
                ids.append(str(1000 + len(ids)))
                out.append((ns + 1, _trade(symbol, int(ids[-1]), levels[0]["price"])))
        return out

    def book(self, symbol: str) -> tuple[Side, Side]:
        bids, asks = self.books.get(symbol, ({}, {}))
        return dict(bids), dict(asks)

    def _snapshot(self, symbol: str) -> str:
        bids, asks = self.books[symbol]
        item: dict[str, Any] = {
            "symbol": symbol,
            "bids": [{"price": float(p), "qty": float(q)} for p, q in sorted(bids.items())[::-1]],
            "asks": [{"price": float(p), "qty": float(q)} for p, q in sorted(asks.items())],
            "checksum": kraken_checksum(bids, asks),
        }
        return json.dumps({"channel": "book", "type": "snapshot", "data": [item]})

    def subscribe(self, text: str) -> tuple[list[str], set[str]]:
        message = json.loads(text)
        params = message.get("params", {})
        if message.get("method") != "subscribe":
            return [], set()
        replies = [
            json.dumps({"method": "subscribe", "result": {"channel": params["channel"],
                        "symbol": symbol}, "success": True, "req_id": message.get("req_id")})
            for symbol in params["symbol"]
        ]  # fmt: skip
        if params["channel"] == "book":
            replies += [self._snapshot(s) for s in params["symbol"] if s in self.books]
        return replies, {f"{params['channel']}:{symbol}" for symbol in params["symbol"]}

    def topic(self, frame: str) -> str | None:
        message = json.loads(frame)
        return f"{message['channel']}:{message['data'][0]['symbol']}"

    def happened(self, index: int, frame: str) -> None:
        message = json.loads(frame, parse_float=Decimal)
        if message["channel"] == "trade":
            for item in message["data"]:
                side = "b" if item["side"] == "buy" else "s"
                row = [str(item["price"]), str(item["qty"]), 1618653600.5, side, "m", "",
                       item["trade_id"]]  # fmt: skip
                self.trades.setdefault(item["symbol"], []).append(row)
            return
        for item in message["data"]:
            if message["type"] == "snapshot":
                self.books[item["symbol"]] = ({}, {})
            bids, asks = self.books[item["symbol"]]
            for side, levels, best_first in (
                (bids, item["bids"], True),
                (asks, item["asks"], False),
            ):
                for level in levels:
                    price, qty = Decimal(level["price"]), Decimal(level["qty"])
                    if qty:
                        side[price] = qty
                    else:
                        side.pop(price, None)
                for price in sorted(side, reverse=best_first)[DEPTH:]:
                    del side[price]

    def subscribed(self) -> None:
        return None

    async def rest(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        if path == "/0/public/AssetPairs":
            return 200, self.asset_pairs
        if path == "/0/public/Trades":  # pair in REST spelling (XBTCHF): this script's symbol
            symbol = next(iter(self.trade_ids), "")
            count = min(self.recent_limit, int(query.get("count", "1000")))
            rows = self.trades.get(symbol, [])[-count:]
            result = {query["pair"]: rows, "last": "1618653600500000000"}
            return 200, json.dumps({"error": [], "result": result}).encode()
        return 404, b'{"error":["EGeneral:Unknown method"]}'

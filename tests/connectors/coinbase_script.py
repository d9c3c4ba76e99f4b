"""Coinbase Advanced Trade as a ``VenueScript`` for the fake venue (``fake_venue.py``).

Frames: ``coinbase/advanced-trade.jsonl.gz`` (real 2021 SKL-USD and BAND-GBP messages re-framed as
Advanced Trade by its ``build.py``), without the capture's ``subscriptions`` message. As on one
Advanced Trade connection, every message the venue sends carries the next ``sequence_num`` of the
connection, frames and subscription answers alike; a frame lost on the way (a fault) still takes
its number, so the client sees the jump.

Deliberately independent of ``tickcast``: the venue rebuilds each product's book with plain
Decimals. As Coinbase does, a ``level2`` subscription is answered with a snapshot of each book as
it is now, and a ``market_trades`` subscription with a snapshot of the recent trades (the last
``recent`` of each product). REST: ``/api/v3/brokerage/market/products`` answers the Exchange
product list ``coinbase/exchange-products.json`` (``parse_products`` reads both formats).
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent.parent / "fixtures" / "connectors" / "coinbase"
CHANNELS = {"level2": "l2_data", "market_trades": "market_trades", "ticker": "ticker"}
Book = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]


def product_of(message: dict[str, Any]) -> str:
    event = message["events"][0]
    if "product_id" in event:
        return str(event["product_id"])
    items = event.get("trades") or event.get("tickers")
    return str(items[0]["product_id"])


class CoinbaseScript:
    def __init__(self, recent: int = 100) -> None:
        raw = gzip.decompress((FIXTURES / "advanced-trade.jsonl.gz").read_bytes()).decode()
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        self.frames: list[tuple[int, str]] = [
            (item["ns"], item["frame"])
            for item in lines
            if "frame" in item and json.loads(item["frame"])["channel"] != "subscriptions"
        ]
        self.recent = recent
        self.sequence = 0
        self.current = ""
        """The last frame that happened, renumbered (what ``rewrite`` sends)."""
        self.books: dict[str, Book] = {}
        self.trades: dict[str, list[dict[str, Any]]] = {}
        self.trade_ids: dict[str, list[str]] = {}
        for _, frame in self.frames:
            message = json.loads(frame)
            if message["channel"] == "market_trades" and message["events"][0]["type"] == "update":
                for item in message["events"][0]["trades"]:
                    self.trade_ids.setdefault(item["product_id"], []).append(item["trade_id"])
        self.products = (FIXTURES / "exchange-products.json").read_bytes()

    def _numbered(self, message: dict[str, Any]) -> str:
        self.sequence += 1
        return json.dumps({**message, "sequence_num": self.sequence})

    def rewrite(self, frame: str) -> str:
        return self.current

    def book(self, product: str) -> Book:
        bids, asks = self.books.get(product, ({}, {}))
        return dict(bids), dict(asks)

    def subscribe(self, text: str) -> tuple[list[str], set[str]]:
        message = json.loads(text)
        channel = CHANNELS.get(message.get("channel", ""))
        if message.get("type") not in ("subscribe", "unsubscribe") or channel is None:
            return [], set()
        products = list(message["product_ids"])
        ack = {"channel": "subscriptions", "client_id": "", "timestamp": "2021-04-17T16:43:37Z",
               "events": [{"subscriptions": {message["channel"]: products}}]}  # fmt: skip
        replies = [self._numbered(ack)]
        if message["type"] == "unsubscribe":
            return replies, set()
        for product in products:
            answer = self._answer(channel, product)
            if answer is not None:
                replies.append(self._numbered(answer))
        return replies, {f"{channel}:{product}" for product in products}

    def _answer(self, channel: str, product: str) -> dict[str, Any] | None:
        stamp = {"client_id": "", "timestamp": "2021-04-17T16:43:37Z"}
        if channel == "l2_data" and product in self.books:
            bids, asks = self.books[product]
            updates = [
                {"side": side, "event_time": "1970-01-01T00:00:00Z", "price_level": str(price),
                 "new_quantity": str(size)}
                for side, levels in (("bid", bids), ("offer", asks))
                for price, size in sorted(levels.items(), reverse=side == "bid")
            ]  # fmt: skip
            event = {"type": "snapshot", "product_id": product, "updates": updates}
            return {"channel": channel, **stamp, "events": [event]}
        if channel == "market_trades" and self.trades.get(product):
            trades = list(reversed(self.trades[product][-self.recent :]))  # newest first
            return {"channel": channel, **stamp, "events": [{"type": "snapshot", "trades": trades}]}
        return None

    def topic(self, frame: str) -> str | None:
        message = json.loads(frame)
        return f"{message['channel']}:{product_of(message)}"

    def happened(self, index: int, frame: str) -> None:
        message = json.loads(frame)
        self.current = self._numbered(message)
        event = message["events"][0]
        if message["channel"] == "l2_data":
            if event["type"] == "snapshot":
                self.books[event["product_id"]] = ({}, {})
            bids, asks = self.books[event["product_id"]]
            for update in event["updates"]:
                side = bids if update["side"] == "bid" else asks
                price, size = Decimal(update["price_level"]), Decimal(update["new_quantity"])
                if size:
                    side[price] = size
                else:
                    side.pop(price, None)
        elif message["channel"] == "market_trades":
            for item in event["trades"]:
                self.trades.setdefault(item["product_id"], []).append(item)

    def subscribed(self) -> None:
        return None

    async def rest(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        if path == "/api/v3/brokerage/market/products":
            return 200, self.products
        return 404, b'{"error":"NOT_FOUND","message":"not found"}'

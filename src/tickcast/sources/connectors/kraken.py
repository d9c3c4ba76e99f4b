"""Kraken spot over the public WebSocket API v2, sans-I/O.

Endpoint ``wss://ws.kraken.com/v2``; instruments from REST ``GET /0/public/AssetPairs``.
Channels: ``book`` (depth 10/25/100/500/1000), ``trade``, ``ticker``; Kraken sends a
``heartbeat`` message every second once subscribed, so a silent connection is detected quickly.

Book synchronisation (Kraken "Book" v2 docs): a ``snapshot`` replaces the book, each ``update``
sets levels (qty 0 deletes), then the client truncates each side to the subscribed depth (Kraken
sends no deletes for levels pushed out of range) and checks ``checksum``: CRC32 of the top 10
asks then bids, price and qty written with the pair's precision, ``.`` removed, leading zeros
stripped. That is tickcast's own book checksum, so it is verified on every message with
``book_checksum`` over the market's decimals. A mismatch publishes an empty reset snapshot,
``Resynced``, and re-subscribes the symbol's book (unsubscribe + subscribe with a snapshot);
updates arriving before the new snapshot are dropped.

Trades: ``trade_id`` is dense per pair, so a gap is a ``TradesLost`` (last id, first id after) just
before the trade after it; a reconnect is a loss only when the ids skip; ids at or below the last
published one are duplicates and dropped (also across reconnects).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tickcast.book.checksum import CHECKSUM_DEPTH, book_checksum
from tickcast.book.orderbook import OrderBook
from tickcast.model.events import BookDelta, BookSnapshot, Event, Level, Side, Ticker, Trade
from tickcast.model.markets import Market, MarketKind, spot_market_id
from tickcast.model.numbers import parse_fixed
from tickcast.sources.connectors.feedkit import (
    Batch,
    Quotes,
    Silence,
    TradeIds,
    guarded,
    published,
    reset_books,
    rfc3339_ns,
    rounded,
    valid_market_id,
)
from tickcast.sources.connectors.protocol import Command, Instrument, Resynced, Send
from tickcast.sources.tickers import USD_QUOTES

WS_URL = "wss://ws.kraken.com/v2"
REST_URL = "https://api.kraken.com"
INSTRUMENTS_PATH = "/0/public/AssetPairs"
DEPTHS = (10, 25, 100, 500, 1000)
STALE_AFTER_NS = 10_000_000_000
"""No message (not even the 1 s heartbeat) for this long: the connection is silent."""

_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}


def v2_symbol(wsname: str) -> str:
    """The v2 symbol of a v1 ``wsname``: ``XBT/USD`` becomes ``BTC/USD``."""
    return "/".join(_ALIASES.get(part, part) for part in wsname.split("/"))


def parse_asset_pairs(body: str | bytes) -> list[Instrument]:
    """Instruments from a ``/0/public/AssetPairs`` answer (pairs without ``wsname`` skipped)."""
    document = json.loads(body)
    if document.get("error"):
        raise ValueError(f"Kraken AssetPairs error: {document['error']}")
    instruments: list[Instrument] = []
    for _, pair in sorted(document["result"].items()):
        wsname = pair.get("wsname")
        if not isinstance(wsname, str) or wsname.count("/") != 1:
            continue
        symbol = v2_symbol(wsname)
        base, quote = (part.lower() for part in symbol.split("/"))
        market_id = spot_market_id("kraken", base, quote)
        if not valid_market_id(market_id):
            continue
        price_decimals, size_decimals = int(pair["pair_decimals"]), int(pair["lot_decimals"])
        tick = parse_fixed(pair["tick_size"], price_decimals) if "tick_size" in pair else 1
        market = Market(
            market_id, "kraken", MarketKind.SPOT, base, quote, symbol,
            price_decimals, size_decimals, tick=tick, lot=1,
        )  # fmt: skip
        instruments.append(Instrument(symbol, market))
    return instruments


def number(value: Any, decimals: int) -> int:
    """A JSON number (kept as its text by the parser) or string, exactly, as a scaled int."""
    text = value if isinstance(value, str) else str(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return parse_fixed(text, decimals)


class KrakenFeed:
    """One Kraken v2 connection: books, trades and tickers of ``instruments``."""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        depth: int = 1000,
        tickers: bool = True,
        stale_after_ns: int = STALE_AFTER_NS,
    ) -> None:
        if depth not in DEPTHS:
            raise ValueError(f"Kraken book depth must be one of {DEPTHS}, not {depth}")
        self.depth = depth
        self.tickers = tickers
        self.stale_after_ns = stale_after_ns
        self._markets = {item.venue_symbol: item.market for item in instruments}
        self._books = {symbol: OrderBook() for symbol in self._markets}
        self._synced: set[str] = set()
        self._quotes = Quotes()
        self._trade_ids = TradeIds()
        """Last published trade id per symbol (kept across reconnects to drop duplicates)."""
        self._silence = Silence("Kraken")
        self._req_id = 0
        self.checksums_verified = 0
        self.errors: list[str] = []

    # -- the VenueFeed protocol -------------------------------------------------------------

    def connected(self) -> Sequence[Command]:
        self._synced.clear()
        self._silence.forget()
        symbols = sorted(self._markets)
        frames = [self._subscribe("book", symbols, depth=self.depth, snapshot=True)]
        frames.append(self._subscribe("trade", symbols, snapshot=False))
        if self.tickers:
            frames.append(self._subscribe("ticker", symbols))
        return frames

    def receive(self, data: str | bytes, recv_ns: int) -> Sequence[Command]:
        return guarded("Kraken", self._receive, data, recv_ns)

    def _receive(self, data: str | bytes, recv_ns: int) -> Sequence[Command]:
        self._silence.heard(recv_ns)
        message = json.loads(data, parse_float=str)
        if not isinstance(message, dict):
            return []
        channel = message.get("channel")
        if channel == "book":
            return self._book(message, recv_ns)
        if channel == "trade":
            return self._trades(message)
        if channel == "ticker":
            return self._ticker(message, recv_ns)
        if message.get("method") in ("subscribe", "unsubscribe") and not message.get("success"):
            self.errors.append(str(message.get("error", message)))
        return []

    def rest_snapshot(self, request_id: str, body: bytes, recv_ns: int) -> Sequence[Command]:
        return []  # the book snapshot comes on the WebSocket

    def disconnected(self, recv_ns: int) -> Sequence[Command]:
        self._silence.forget()
        symbols = sorted(self._synced)
        for symbol in symbols:
            self._reset(symbol)
        self._trade_ids.disconnected()  # the next ids tell whether any was lost
        return reset_books([self._markets[symbol] for symbol in symbols], "disconnected", recv_ns)

    def heartbeat(self, now_ns: int) -> Sequence[Command]:
        return self._silence.check(now_ns, self.stale_after_ns)

    # -- book --------------------------------------------------------------------------------

    def _book(self, message: dict[str, Any], recv_ns: int) -> list[Command]:
        events: list[Event] = []
        commands: list[Command] = []
        snapshot = message.get("type") == "snapshot"
        for item in message.get("data", ()):
            symbol = item.get("symbol")
            market = self._markets.get(symbol)
            if market is None or (not snapshot and symbol not in self._synced):
                continue
            time_ns = rfc3339_ns(item["timestamp"]) if "timestamp" in item else recv_ns
            bids = self._levels(item.get("bids", ()), market)
            asks = self._levels(item.get("asks", ()), market)
            book = self._books[symbol]
            if snapshot:
                book.apply_snapshot(bids, asks)
                self._truncate(book)
                top_bids, top_asks = book.top()
                events.append(BookSnapshot(market.id, top_bids, top_asks, time_ns))
            else:
                book.apply_delta(bids, asks)
                cut_bids, cut_asks = self._truncate(book)
                events.append(BookDelta(market.id, bids + cut_bids, asks + cut_asks, time_ns))
            if not self._verify(symbol, market, item.get("checksum")):
                self._reset(symbol)
                events.append(BookSnapshot(market.id, (), (), time_ns))
                commands.append(Resynced(market.id, "checksum mismatch"))
                commands.extend(self._resubscribe(symbol))
                continue
            self._synced.add(symbol)
            events.extend(self._quotes.update(symbol, book, market, time_ns))
        return published(events) + commands

    @staticmethod
    def _levels(raw: Sequence[dict[str, Any]], market: Market) -> tuple[Level, ...]:
        price_decimals, size_decimals = market.price_decimals, market.size_decimals
        return tuple(
            (number(level["price"], price_decimals), number(level["qty"], size_decimals))
            for level in raw
        )

    def _truncate(self, book: OrderBook) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Drop levels beyond the subscribed depth; return them as deletions."""
        if len(book) <= self.depth:
            return (), ()
        bids, asks = book.top()
        cut_bids = tuple((price, 0) for price, _ in bids[self.depth :])
        cut_asks = tuple((price, 0) for price, _ in asks[self.depth :])
        if cut_bids or cut_asks:
            book.apply_delta(cut_bids, cut_asks)
        return cut_bids, cut_asks

    def _verify(self, symbol: str, market: Market, expected: Any) -> bool:
        bids, asks = self._books[symbol].top(CHECKSUM_DEPTH)
        actual = book_checksum(
            bids, asks, price_decimals=market.price_decimals, size_decimals=market.size_decimals
        )
        self.checksums_verified += 1
        return isinstance(expected, int) and actual == expected

    def _reset(self, symbol: str) -> None:
        self._books[symbol] = OrderBook()
        self._synced.discard(symbol)
        self._quotes.forget(symbol)

    def _resubscribe(self, symbol: str) -> list[Command]:
        return [
            self._subscribe("book", [symbol], method="unsubscribe", depth=self.depth),
            self._subscribe("book", [symbol], depth=self.depth, snapshot=True),
        ]

    # -- trades and tickers ------------------------------------------------------------------

    def _trades(self, message: dict[str, Any]) -> list[Command]:
        batch = Batch()
        for item in message.get("data", ()):
            symbol = item.get("symbol")
            market = self._markets.get(symbol)
            if market is None:
                continue
            trade_id = int(item["trade_id"])
            fresh, lost = self._trade_ids.admit(symbol, market, trade_id)
            if fresh:
                batch.between(lost)
                batch.events.append(self._trade(item, market, trade_id))
        return batch.commands()

    @staticmethod
    def _trade(item: dict[str, Any], market: Market, trade_id: int) -> Trade:
        return Trade(
            market=market.id,
            id=str(trade_id),
            price=number(item["price"], market.price_decimals),
            size=number(item["qty"], market.size_decimals),
            side=Side.BUY if item["side"] == "buy" else Side.SELL,
            time_ns=rfc3339_ns(item["timestamp"]),
        )

    def _ticker(self, message: dict[str, Any], recv_ns: int) -> list[Command]:
        events: list[Event] = []
        for item in message.get("data", ()):
            market = self._markets.get(item.get("symbol"))
            if market is None or market.quote not in USD_QUOTES:
                continue
            decimals = market.price_decimals
            last = rounded(item["last"], decimals)
            events.append(
                Ticker(
                    asset=market.base,
                    decimals=decimals,
                    price=last,
                    open_24h=last - rounded(item.get("change", 0), decimals),
                    high_24h=rounded(item["high"], decimals),
                    low_24h=rounded(item["low"], decimals),
                    volume_24h=rounded(item["volume"], market.size_decimals),
                    volume_decimals=market.size_decimals,
                    time_ns=recv_ns,
                )
            )
        return published(events)

    def _subscribe(
        self, channel: str, symbols: Sequence[str], *, method: str = "subscribe", **extra: Any
    ) -> Send:
        self._req_id += 1
        params: dict[str, Any] = {"channel": channel, "symbol": list(symbols), **extra}
        return Send(json.dumps({"method": method, "params": params, "req_id": self._req_id}))

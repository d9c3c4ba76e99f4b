"""Coinbase spot over the Advanced Trade market-data WebSocket, sans-I/O.

Endpoint ``wss://advanced-trade-ws.coinbase.com`` (public channels need no JWT); instruments from
REST ``GET /api/v3/brokerage/market/products`` (the Exchange API's ``/products`` list is read too).
One subscribe message per channel: ``level2`` (messages on ``l2_data``), ``market_trades``,
``ticker`` and ``heartbeats`` (one message a second, which also keeps quiet subscriptions open).

The older Exchange feed (``ws-feed.exchange.coinbase.com``) is not used: its sequenced ``level2``
channel now needs authentication and the public ``level2_batch`` carries no sequence numbers.

Book synchronisation (Advanced Trade "Level2 channel", "Sequence numbers"): ``level2`` guarantees
delivery; each product's book starts with a ``snapshot`` event and continues with ``update``
events whose ``new_quantity`` is the level's new size (0 removes it). Every message of the
connection carries ``sequence_num``, one more than the previous message's: the feed checks this
on every message, and a gap (a message of any channel lost) restarts every book (empty reset
snapshot, ``Resynced``, unsubscribe + subscribe ``level2`` so Coinbase sends fresh snapshots).
Updates of a product that has no snapshot yet are dropped. Coinbase publishes no book checksum.

Trades: ``trade_id`` is dense per product, so a gap is a ``TradesLost`` (just before the trade
after it); ``side`` on public trades is the maker's, so the aggressor is the other side. The
``market_trades`` snapshot sent on (re)subscription sets the baseline on the first connection and,
after a reconnect, publishes the trades newer than the last one published: a disconnect is a
loss only if that snapshot (or the first live trade) does not continue the ids.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

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
    step_decimals,
    valid_market_id,
)
from tickcast.sources.connectors.protocol import Command, Instrument, Send
from tickcast.sources.tickers import USD_QUOTES

WS_URL = "wss://advanced-trade-ws.coinbase.com"
REST_URL = "https://api.coinbase.com"
INSTRUMENTS_PATH = "/api/v3/brokerage/market/products"
STALE_AFTER_NS = 5_000_000_000
"""The ``heartbeats`` channel ticks every second: 5 s of silence means a dead connection."""


def parse_products(body: str | bytes) -> list[Instrument]:
    """Spot instruments from an Advanced Trade ``products`` answer or an Exchange ``/products``."""
    document = json.loads(body)
    products = document["products"] if isinstance(document, dict) else document
    instruments: list[Instrument] = []
    for item in products:
        if item.get("product_type", "SPOT") != "SPOT":
            continue
        symbol = item.get("product_id") or item["id"]
        base = (item.get("base_currency_id") or item["base_currency"]).lower()
        quote = (item.get("quote_currency_id") or item["quote_currency"]).lower()
        price_step = item.get("price_increment") or item["quote_increment"]
        size_step = item["base_increment"]
        market_id = spot_market_id("coinbase", base, quote)
        if not valid_market_id(market_id):
            continue
        price_decimals, size_decimals = step_decimals(price_step), step_decimals(size_step)
        market = Market(
            market_id, "coinbase", MarketKind.SPOT, base, quote, symbol,
            price_decimals, size_decimals,
            tick=parse_fixed(price_step, price_decimals),
            lot=parse_fixed(size_step, size_decimals),
        )  # fmt: skip
        instruments.append(Instrument(symbol, market))
    return instruments


class CoinbaseFeed:
    """One Advanced Trade connection: books, trades and tickers of ``instruments``."""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        tickers: bool = True,
        stale_after_ns: int = STALE_AFTER_NS,
    ) -> None:
        self.tickers = tickers
        self.stale_after_ns = stale_after_ns
        self._markets = {item.venue_symbol: item.market for item in instruments}
        self._books: dict[str, OrderBook] = {}
        """Books that had their snapshot on this connection."""
        self._quotes = Quotes()
        self._sequence: int | None = None
        self._trade_ids = TradeIds()
        self._silence = Silence("Coinbase")
        self.sequence_checks = 0
        self.errors: list[str] = []

    # -- the VenueFeed protocol -------------------------------------------------------------

    def connected(self) -> Sequence[Command]:
        self._books.clear()
        self._quotes.clear()
        self._sequence = None
        self._silence.forget()
        channels = ["level2", "market_trades"] + (["ticker"] if self.tickers else [])
        frames = [self._frame("subscribe", channel) for channel in channels]
        frames.append(Send(json.dumps({"type": "subscribe", "channel": "heartbeats"})))
        return frames

    def receive(self, data: str | bytes, recv_ns: int) -> Sequence[Command]:
        return guarded("Coinbase", self._receive, data, recv_ns)

    def _receive(self, data: str | bytes, recv_ns: int) -> Sequence[Command]:
        self._silence.heard(recv_ns)
        message = json.loads(data)
        if message.get("type") == "error":
            self.errors.append(str(message.get("message")))
            return []
        head = self._check_sequence(message, recv_ns)
        channel = message.get("channel")
        if channel == "l2_data":
            return head + self._level2(message, recv_ns)
        if channel == "market_trades":
            return head + self._trades(message)
        if channel == "ticker":
            return head + self._ticker(message, recv_ns)
        return head

    def rest_snapshot(self, request_id: str, body: bytes, recv_ns: int) -> Sequence[Command]:
        return []  # snapshots come on the WebSocket

    def disconnected(self, recv_ns: int) -> Sequence[Command]:
        """Books restart. Trades: nothing yet; ids are dense, so the first trade after the
        reconnect (from the ``market_trades`` snapshot or live) tells exactly what was lost."""
        self._silence.forget()
        return self._reset_all("disconnected", recv_ns)

    def heartbeat(self, now_ns: int) -> Sequence[Command]:
        return self._silence.check(now_ns, self.stale_after_ns)

    # -- sequence numbers and books ----------------------------------------------------------

    def _check_sequence(self, message: dict[str, Any], recv_ns: int) -> list[Command]:
        number = message.get("sequence_num")
        if not isinstance(number, int):
            return []
        expected, self._sequence = self._sequence, number
        self.sequence_checks += 1
        if expected is None or number == expected + 1:
            return []
        reason = f"sequence_num {number} after {expected}"
        commands = self._reset_all(reason, recv_ns)
        symbols = sorted(self._markets)
        commands.append(self._frame("unsubscribe", "level2", symbols))
        commands.append(self._frame("subscribe", "level2", symbols))
        return commands

    def _reset_all(self, reason: str, time_ns: int) -> list[Command]:
        markets = [self._markets[symbol] for symbol in sorted(self._books)]
        self._books.clear()
        self._quotes.clear()
        return reset_books(markets, reason, time_ns)

    def _level2(self, message: dict[str, Any], recv_ns: int) -> list[Command]:
        events: list[Event] = []
        time_ns = rfc3339_ns(message["timestamp"]) if "timestamp" in message else recv_ns
        for event in message.get("events", ()):
            symbol = event.get("product_id")
            market = self._markets.get(symbol)
            if market is None:
                continue
            bids, asks = self._levels(event.get("updates", ()), market)
            if event.get("type") == "snapshot":
                book = self._books[symbol] = OrderBook()
                book.apply_snapshot(bids, asks)
                top_bids, top_asks = book.top()
                events.append(BookSnapshot(market.id, top_bids, top_asks, time_ns))
            elif symbol in self._books:
                self._books[symbol].apply_delta(bids, asks)
                events.append(BookDelta(market.id, bids, asks, time_ns))
            else:
                continue  # no snapshot yet on this connection
            events.extend(self._quotes.update(symbol, self._books[symbol], market, time_ns))
        return published(events)

    @staticmethod
    def _levels(
        updates: Sequence[dict[str, Any]], market: Market
    ) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        bids: list[Level] = []
        asks: list[Level] = []
        for update in updates:
            level = (
                parse_fixed(update["price_level"], market.price_decimals),
                parse_fixed(update["new_quantity"], market.size_decimals),
            )
            (bids if update["side"] == "bid" else asks).append(level)
        return tuple(bids), tuple(asks)

    # -- trades and tickers ------------------------------------------------------------------

    def _trades(self, message: dict[str, Any]) -> list[Command]:
        batch = Batch()  # a loss comes just before the first trade after it
        for event in message.get("events", ()):
            snapshot = event.get("type") == "snapshot"
            trades = sorted(event.get("trades", ()), key=lambda item: int(item["trade_id"]))
            if snapshot:
                self._baseline(trades)
            for item in trades:
                symbol = item.get("product_id")
                market = self._markets.get(symbol)
                if market is None:
                    continue
                fresh, lost = self._trade_ids.admit(symbol, market, int(item["trade_id"]))
                if fresh:
                    batch.between(lost)
                    batch.events.append(self._trade(item, market))
        return batch.commands()

    def _baseline(self, trades: Sequence[dict[str, Any]]) -> None:
        """A snapshot of a product never seen: its trades predate us, the newest id is the start."""
        fresh = {item.get("product_id") for item in trades} - self._trade_ids.last.keys()
        for item in trades:  # ascending ids: the newest wins
            symbol = item.get("product_id")
            if symbol in fresh and symbol in self._markets:
                self._trade_ids.last[symbol] = int(item["trade_id"])

    @staticmethod
    def _trade(item: dict[str, Any], market: Market) -> Trade:
        maker_buys = item["side"].upper() == "BUY"
        return Trade(
            market=market.id,
            id=str(item["trade_id"]),
            price=parse_fixed(item["price"], market.price_decimals),
            size=parse_fixed(item["size"], market.size_decimals),
            side=Side.SELL if maker_buys else Side.BUY,
            time_ns=rfc3339_ns(item["time"]),
        )

    def _ticker(self, message: dict[str, Any], recv_ns: int) -> list[Command]:
        events: list[Event] = []
        time_ns = rfc3339_ns(message["timestamp"]) if "timestamp" in message else recv_ns
        for event in message.get("events", ()):
            for item in event.get("tickers", ()):
                market = self._markets.get(item.get("product_id"))
                if market is not None and market.quote in USD_QUOTES:
                    events.append(self._ticker_event(item, market, time_ns))
        return published(events)

    @staticmethod
    def _ticker_event(item: dict[str, Any], market: Market, time_ns: int) -> Ticker:
        decimals = market.price_decimals
        price = Decimal(item["price"])
        change = Decimal(item.get("price_percent_chg_24_h") or "0")
        return Ticker(
            asset=market.base,
            decimals=decimals,
            price=parse_fixed(item["price"], decimals),
            open_24h=rounded(price / (1 + change / 100), decimals),
            high_24h=parse_fixed(item["high_24_h"], decimals),
            low_24h=parse_fixed(item["low_24_h"], decimals),
            volume_24h=rounded(Decimal(item["volume_24_h"]), market.size_decimals),
            volume_decimals=market.size_decimals,
            time_ns=time_ns,
        )

    def _frame(self, kind: str, channel: str, symbols: Sequence[str] | None = None) -> Send:
        products = sorted(self._markets) if symbols is None else list(symbols)
        return Send(json.dumps({"type": kind, "product_ids": products, "channel": channel}))

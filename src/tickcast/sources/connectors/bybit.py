"""Bybit over the public WebSocket API v5, sans-I/O; one feed per category and connection.

Endpoints ``wss://stream.bybit.com/v5/public/{spot,linear,inverse}``; instruments from REST
``GET /v5/market/instruments-info?category=...`` (paged with ``cursor``). Topics:
``orderbook.{depth}.{symbol}``, ``publicTrade.{symbol}``, ``tickers.{symbol}``; at most 10 topics
per subscribe request (the spot limit, used for every category). Keep-alive (Bybit docs
"Connect"): send ``{"op":"ping"}`` every 20 s; a connection silent for ``STALE_AFTER_NS`` is
reconnected.

Book synchronisation (Bybit v5 "Orderbook" docs): a ``snapshot`` message, or any message with
``u`` = 1 (a service restart), replaces the book; ``delta`` messages set levels (size 0 deletes)
and carry the update id ``u`` and the cross sequence ``seq``. The feed requires every delta's
``u`` to be the previous ``u`` + 1 (as in Bybit's own archives); a delta with an older ``u`` is
a duplicate and dropped; a snapshot whose ``seq`` is older than the book's is stale. A gap or a
stale snapshot publishes an empty reset snapshot, ``Resynced``, and re-subscribes the topic (Bybit
answers a subscription with a fresh snapshot); deltas before it are dropped. Bybit publishes no
book checksum.

Trades: Bybit trade ids are not dense (UUIDs on derivatives), so the first trade after a
reconnect is always a ``TradesLost`` (last id before, its id) for the REST backfill to check.
Tickers: derivatives send a snapshot then deltas of the changed fields only; the feed merges
them; ``Ticker`` events come from spot USD(T/C) markets only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tickcast.book.orderbook import OrderBook
from tickcast.model.events import BookDelta, BookSnapshot, Event, Level, Side, Ticker, Trade
from tickcast.model.markets import Market, MarketKind, future_market_id, spot_market_id
from tickcast.model.numbers import parse_fixed
from tickcast.sources.connectors.feedkit import (
    Batch,
    Quotes,
    Silence,
    TradeIds,
    guarded,
    reset_books,
    rounded,
    step_decimals,
    valid_market_id,
)
from tickcast.sources.connectors.protocol import Command, Instrument, Publish, Send
from tickcast.sources.tickers import USD_QUOTES

CATEGORIES = ("spot", "linear", "inverse")
REST_URL = "https://api.bybit.com"
DEPTHS = (1, 50, 200, 500, 1000)
TOPICS_PER_REQUEST = 10
PING_EVERY_NS = 20_000_000_000
STALE_AFTER_NS = 30_000_000_000


def ws_url(category: str) -> str:
    return f"wss://stream.bybit.com/v5/public/{category}"


def instruments_path(category: str, cursor: str | None = None) -> str:
    tail = f"&cursor={cursor}" if cursor else ""
    return f"/v5/market/instruments-info?category={category}&limit=1000{tail}"


def parse_instruments(body: str | bytes) -> tuple[list[Instrument], str | None]:
    """One page of ``instruments-info``: its instruments and the next page's cursor."""
    document = json.loads(body)
    if document.get("retCode") != 0:
        raise ValueError(f"Bybit instruments error {document.get('retCode')}: {document}")
    result = document["result"]
    category = result["category"]
    instruments: list[Instrument] = []
    for item in result["list"]:
        market = _market(item, category)
        if market is not None:
            instruments.append(Instrument(item["symbol"], market))
    return instruments, result.get("nextPageCursor") or None


def _market(item: dict[str, Any], category: str) -> Market | None:
    symbol = item["symbol"]
    base, quote = item["baseCoin"].lower(), item["quoteCoin"].lower()
    tick_text = item["priceFilter"]["tickSize"]
    lots = item["lotSizeFilter"]
    lot_text = lots.get("qtyStep") or lots["basePrecision"]
    if category == "spot":
        market_id, kind = spot_market_id("bybit", base, quote), MarketKind.SPOT
    elif category in ("linear", "inverse"):
        market_id, kind = future_market_id("bybit", symbol), MarketKind.FUTURE
    else:
        return None
    if not valid_market_id(market_id):
        return None
    price_decimals, size_decimals = step_decimals(tick_text), step_decimals(lot_text)
    return Market(
        market_id, "bybit", kind, base, quote, symbol, price_decimals, size_decimals,
        tick=parse_fixed(tick_text, price_decimals), lot=parse_fixed(lot_text, size_decimals),
    )  # fmt: skip


class _Book:
    __slots__ = ("book", "seq", "update_id")

    def __init__(self, update_id: int, seq: int) -> None:
        self.book = OrderBook()
        self.update_id = update_id
        self.seq = seq


class BybitFeed:
    """One Bybit v5 public connection of one category: books, trades and tickers."""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        category: str,
        depth: int = 200,
        tickers: bool = True,
        stale_after_ns: int = STALE_AFTER_NS,
    ) -> None:
        if category not in CATEGORIES or depth not in DEPTHS:
            raise ValueError(f"Bybit category {category!r} / depth {depth} not supported")
        self.category, self.depth, self.tickers = category, depth, tickers
        self.stale_after_ns = stale_after_ns
        self._silence = Silence("Bybit")
        self._markets = {item.venue_symbol: item.market for item in instruments}
        self._books: dict[str, _Book] = {}
        self._quotes = Quotes()
        self._ticker_state: dict[str, dict[str, Any]] = {}
        self._trade_ids = TradeIds()
        """Ids are not dense: the first trade after a reconnect is always a ``TradesLost``."""
        self._last_ping_ns: int | None = None
        self.sequence_checks = 0
        self.duplicates = 0
        self.errors: list[str] = []

    # -- the VenueFeed protocol -------------------------------------------------------------

    def connected(self) -> Sequence[Command]:
        self._books.clear()
        self._quotes.clear()
        self._ticker_state.clear()
        self._silence.forget()
        self._last_ping_ns = None
        topics: list[str] = []
        for symbol in self._markets:
            topics += [f"orderbook.{self.depth}.{symbol}", f"publicTrade.{symbol}"]
            topics += [f"tickers.{symbol}"] if self.tickers else []
        return [
            self._op("subscribe", topics[start : start + TOPICS_PER_REQUEST])
            for start in range(0, len(topics), TOPICS_PER_REQUEST)
        ]

    def receive(self, data: str | bytes, recv_ns: int) -> Sequence[Command]:
        return guarded("Bybit", self._receive, data, recv_ns)

    def _receive(self, data: str | bytes, recv_ns: int) -> Sequence[Command]:
        self._silence.heard(recv_ns)
        message = json.loads(data)
        topic = message.get("topic")
        if not isinstance(topic, str):
            if message.get("success") is False:
                self.errors.append(str(message.get("ret_msg")))
            return []
        kind, _, symbol = topic.rpartition(".")
        market = self._markets.get(symbol)
        if market is None:
            return []
        if kind.startswith("orderbook."):
            return self._book(message, symbol, market, recv_ns)
        if kind == "publicTrade":
            return self._trades(message["data"], symbol, market)
        if kind == "tickers":
            return self._ticker(message, symbol, market)
        return []

    def rest_snapshot(self, request_id: str, body: bytes, recv_ns: int) -> Sequence[Command]:
        return []  # the book snapshot comes on the WebSocket

    def disconnected(self, recv_ns: int) -> Sequence[Command]:
        self._silence.forget()
        markets = [self._markets[symbol] for symbol in sorted(self._books)]
        self._books.clear()
        self._quotes.clear()
        self._trade_ids.disconnected()  # the backfill checks the first trade after
        return reset_books(markets, "disconnected", recv_ns)

    def heartbeat(self, now_ns: int) -> Sequence[Command]:
        stale = self._silence.check(now_ns, self.stale_after_ns)
        if stale:
            return stale
        if self._last_ping_ns is None or now_ns - self._last_ping_ns >= PING_EVERY_NS:
            self._last_ping_ns = now_ns
            return [Send(json.dumps({"op": "ping", "req_id": str(now_ns)}))]
        return []

    # -- books -------------------------------------------------------------------------------

    def _book(
        self, message: dict[str, Any], symbol: str, market: Market, recv_ns: int
    ) -> list[Command]:
        data = message["data"]
        update_id, seq = int(data["u"]), int(data.get("seq", 0))
        time_ns = int(message["ts"]) * 1_000_000 if "ts" in message else recv_ns
        state = self._books.get(symbol)
        self.sequence_checks += 1
        bids, asks = (
            self._levels(data.get("b", ()), market),
            self._levels(data.get("a", ()), market),
        )
        if message.get("type") == "snapshot" or update_id == 1:
            if state is not None and seq < state.seq:
                return self._resync(
                    symbol, market, f"stale snapshot seq {seq} < {state.seq}", time_ns
                )
            state = self._books[symbol] = _Book(update_id, seq)
            state.book.apply_snapshot(bids, asks)
            top_bids, top_asks = state.book.top()
            events: list[Event] = [BookSnapshot(market.id, top_bids, top_asks, time_ns)]
        elif state is None:
            return []  # waiting for the snapshot
        elif update_id <= state.update_id:
            self.duplicates += 1
            return []
        elif update_id != state.update_id + 1:
            reason = f"update id {update_id} after {state.update_id}"
            return self._resync(symbol, market, reason, time_ns)
        else:
            state.update_id, state.seq = update_id, seq
            state.book.apply_delta(bids, asks)
            events = [BookDelta(market.id, bids, asks, time_ns)]
        events.extend(self._quotes.update(symbol, state.book, market, time_ns))
        return [Publish(tuple(events))]

    @staticmethod
    def _levels(raw: Sequence[Sequence[str]], market: Market) -> tuple[Level, ...]:
        price, size = market.price_decimals, market.size_decimals
        return tuple((parse_fixed(p, price), parse_fixed(q, size)) for p, q in raw)

    def _resync(self, symbol: str, market: Market, reason: str, time_ns: int) -> list[Command]:
        self._books.pop(symbol, None)
        self._quotes.forget(symbol)
        topic = [f"orderbook.{self.depth}.{symbol}"]
        return reset_books([market], reason, time_ns) + [
            self._op("unsubscribe", topic),
            self._op("subscribe", topic),
        ]

    # -- trades and tickers ------------------------------------------------------------------

    def _trades(self, data: list[dict[str, Any]], symbol: str, market: Market) -> list[Command]:
        batch = Batch()
        for item in data:  # ids are not dense: only REST can tell what was lost
            batch.between(self._trade_ids.admit_sparse(symbol, market, str(item["i"])))
            batch.events.append(
                Trade(
                    market=market.id,
                    id=str(item["i"]),
                    price=parse_fixed(item["p"], market.price_decimals),
                    size=parse_fixed(item["v"], market.size_decimals),
                    side=Side.BUY if item["S"] == "Buy" else Side.SELL,
                    time_ns=int(item["T"]) * 1_000_000,
                )
            )
        return batch.commands()

    def _ticker(self, message: dict[str, Any], symbol: str, market: Market) -> list[Command]:
        state = self._ticker_state.setdefault(symbol, {})
        if message.get("type") == "snapshot":
            state.clear()
        state.update(message["data"])
        if market.kind is not MarketKind.SPOT or market.quote not in USD_QUOTES:
            return []
        needed = ("lastPrice", "prevPrice24h", "highPrice24h", "lowPrice24h", "volume24h")
        if any(key not in state for key in needed):
            return []
        price, size = market.price_decimals, market.size_decimals
        ticker = Ticker(
            asset=market.base,
            decimals=price,
            price=rounded(state["lastPrice"], price),
            open_24h=rounded(state["prevPrice24h"], price),
            high_24h=rounded(state["highPrice24h"], price),
            low_24h=rounded(state["lowPrice24h"], price),
            volume_24h=rounded(state["volume24h"], size),
            volume_decimals=size,
            time_ns=int(message["ts"]) * 1_000_000,
        )
        return [Publish((ticker,))]

    @staticmethod
    def _op(op: str, args: Sequence[str]) -> Send:
        return Send(json.dumps({"op": op, "args": list(args)}))

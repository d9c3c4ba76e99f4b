"""OKX over the public WebSocket API v5, sans-I/O.

Endpoint ``wss://ws.okx.com:8443/ws/v5/public``; instruments from REST
``GET /api/v5/public/instruments?instType=SPOT|SWAP|FUTURES``. Channels: ``books`` (400 levels,
snapshot then 100 ms increments, with checksum and sequence ids), ``trades``, ``tickers``.
Keep-alive (OKX docs "Connect"): OKX closes a connection that pushed nothing for 30 s, so after
``PING_AFTER_NS`` without a message the feed sends the text ``ping`` (answer ``pong``) and gives
up after ``STALE_AFTER_NS``.

Book synchronisation (OKX docs "Order book channel"): ``action: snapshot`` (``prevSeqId`` -1)
replaces the book; every ``update`` must have ``prevSeqId`` equal to the previous message's
``seqId`` (a message with no change repeats ``seqId``; after maintenance ``seqId`` may be lower
than ``prevSeqId``: continuity is still prevSeqId == last seqId). After applying a message, the
CRC32 (as a signed 32-bit int) of ``bid1px:bid1sz:ask1px:ask1sz:...`` over the top 25 levels of
each side, with the venue's own strings, must equal ``checksum``. Messages without sequence ids
(captures older than 2023) are checked by checksum only. A break publishes an empty reset snapshot,
``Resynced``, and re-subscribes the instrument's book; updates before the new snapshot are dropped.

Trades: ``tradeId`` is dense per instrument (aggregated messages carry ``count`` trades ending at
``tradeId``), so a gap is a ``TradesLost`` (last id, first id after) just before the trade
after it; a reconnect is a loss only when the ids skip; already published ids are dropped.
"""

from __future__ import annotations

import json
import zlib
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
    published,
    reset_books,
    rounded,
    step_decimals,
    valid_market_id,
)
from tickcast.sources.connectors.protocol import Command, Instrument, Reconnect, Send
from tickcast.sources.tickers import USD_QUOTES

WS_URL = "wss://ws.okx.com:8443/ws/v5/public"
REST_URL = "https://www.okx.com"
INSTRUMENT_TYPES = ("SPOT", "SWAP", "FUTURES")
CHECKSUM_LEVELS = 25
ARGS_PER_REQUEST = 200
"""Subscription args per request, well under OKX's 64 KB limit on a request's channels."""
PING_AFTER_NS = 20_000_000_000
STALE_AFTER_NS = 30_000_000_000


def instruments_path(inst_type: str) -> str:
    return f"/api/v5/public/instruments?instType={inst_type}"


def parse_instruments(body: str | bytes) -> list[Instrument]:
    """Instruments from one ``/api/v5/public/instruments`` answer (SPOT, SWAP or FUTURES)."""
    document = json.loads(body)
    if str(document.get("code")) != "0":
        raise ValueError(f"OKX instruments error {document.get('code')}: {document.get('msg')}")
    instruments: list[Instrument] = []
    for item in document["data"]:
        market = _market(item)
        if market is not None:
            instruments.append(Instrument(item["instId"], market))
    return instruments


def _market(item: dict[str, Any]) -> Market | None:
    inst_type, inst_id = item["instType"], item["instId"]
    price_decimals, size_decimals = step_decimals(item["tickSz"]), step_decimals(item["lotSz"])
    if inst_type == "SPOT":
        base, quote = item["baseCcy"].lower(), item["quoteCcy"].lower()
        market_id, kind = spot_market_id("okx", base, quote), MarketKind.SPOT
    elif inst_type in ("SWAP", "FUTURES"):
        base, _, quote = (item.get("uly") or inst_id).lower().partition("-")
        quote = quote.partition("-")[0]
        market_id, kind = future_market_id("okx", inst_id), MarketKind.FUTURE
    else:
        return None
    if not valid_market_id(market_id):
        return None
    return Market(
        market_id, "okx", kind, base, quote, inst_id, price_decimals, size_decimals,
        tick=parse_fixed(item["tickSz"], price_decimals),
        lot=parse_fixed(item["lotSz"], size_decimals),
    )  # fmt: skip


def okx_checksum(bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]]) -> int:
    """OKX's book checksum of (price, size) venue strings, each side best first."""
    parts: list[str] = []
    for index in range(CHECKSUM_LEVELS):
        if index < len(bids):
            parts.append(f"{bids[index][0]}:{bids[index][1]}")
        if index < len(asks):
            parts.append(f"{asks[index][0]}:{asks[index][1]}")
    crc = zlib.crc32(":".join(parts).encode("ascii"))
    return crc - (1 << 32) if crc >= 1 << 31 else crc


class _Book:
    """One OKX book: the scaled levels plus the venue's strings of each price."""

    __slots__ = ("book", "seq", "texts")

    def __init__(self) -> None:
        self.book = OrderBook()
        self.texts: dict[tuple[int, int], tuple[str, str]] = {}
        """(side 0 bid / 1 ask, price) -> the venue's (price, size) strings."""
        self.seq: int | None = None

    def apply(self, raw: dict[str, Any], market: Market) -> tuple[tuple[Level, ...], ...]:
        sides: list[tuple[Level, ...]] = []
        for index, key in enumerate(("bids", "asks")):
            levels: list[Level] = []
            for price_text, size_text, *_ in raw.get(key, ()):
                price = parse_fixed(price_text, market.price_decimals)
                size = parse_fixed(size_text, market.size_decimals)
                levels.append((price, size))
                if size:
                    self.texts[index, price] = (price_text, size_text)
                else:
                    self.texts.pop((index, price), None)
            sides.append(tuple(levels))
        self.book.apply_delta(sides[0], sides[1])
        return tuple(sides)

    def checksum(self) -> int:
        bids, asks = self.book.top(CHECKSUM_LEVELS)
        texts = self.texts
        return okx_checksum([texts[0, p] for p, _ in bids], [texts[1, p] for p, _ in asks])


class OkxFeed:
    """One OKX v5 public connection: books, trades and tickers of ``instruments``."""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        tickers: bool = True,
        ping_after_ns: int = PING_AFTER_NS,
        stale_after_ns: int = STALE_AFTER_NS,
    ) -> None:
        self.tickers = tickers
        self.ping_after_ns = ping_after_ns
        self.stale_after_ns = stale_after_ns
        self._markets = {item.venue_symbol: item.market for item in instruments}
        self._books: dict[str, _Book] = {}
        """Synced (or syncing) books; an instrument absent here waits for a snapshot."""
        self._quotes = Quotes()
        self._trade_ids = TradeIds()
        self._silence = Silence("OKX")
        self._ping_sent = False
        self.checksums_verified = 0
        self.sequence_checks = 0
        self.errors: list[str] = []

    # -- the VenueFeed protocol -------------------------------------------------------------

    def connected(self) -> Sequence[Command]:
        self._books.clear()
        self._silence.forget()
        self._ping_sent = False
        channels = ["books", "trades"] + (["tickers"] if self.tickers else [])
        args = [{"channel": c, "instId": s} for c in channels for s in self._markets]
        return [
            Send(json.dumps({"op": "subscribe", "args": args[start : start + ARGS_PER_REQUEST]}))
            for start in range(0, len(args), ARGS_PER_REQUEST)
        ]

    def receive(self, data: str | bytes, recv_ns: int) -> Sequence[Command]:
        return guarded("OKX", self._receive, data, recv_ns)

    def _receive(self, data: str | bytes, recv_ns: int) -> Sequence[Command]:
        self._silence.heard(recv_ns)
        self._ping_sent = False
        if data in ("pong", b"pong"):
            return []
        message = json.loads(data)
        arg = message.get("arg") or {}
        channel, inst_id = arg.get("channel"), str(arg.get("instId"))
        if "event" in message:
            return self._event(message)
        market = self._markets.get(inst_id)
        if market is None or "data" not in message:
            return []
        if channel == "books":
            return self._book(message, inst_id, market, recv_ns)
        if channel == "trades":
            return self._trades(message["data"], inst_id, market)
        if channel == "tickers":
            return self._ticker(message["data"], market, recv_ns)
        return []

    def rest_snapshot(self, request_id: str, body: bytes, recv_ns: int) -> Sequence[Command]:
        return []  # the book snapshot comes on the WebSocket

    def disconnected(self, recv_ns: int) -> Sequence[Command]:
        self._silence.forget()
        markets = [self._markets[inst_id] for inst_id in sorted(self._books)]
        self._books.clear()
        self._quotes.clear()
        self._trade_ids.disconnected()  # the next ids tell whether any was lost
        return reset_books(markets, "disconnected", recv_ns)

    def heartbeat(self, now_ns: int) -> Sequence[Command]:
        if self._silence.last_recv_ns is None:
            self._silence.heard(now_ns)
            return []
        stale = self._silence.check(now_ns, self.stale_after_ns)
        if stale:
            return stale
        if self._silence.silent_ns(now_ns) > self.ping_after_ns and not self._ping_sent:
            self._ping_sent = True
            return [Send("ping")]
        return []

    # -- messages ----------------------------------------------------------------------------

    def _event(self, message: dict[str, Any]) -> list[Command]:
        event = message["event"]
        if event == "error":
            self.errors.append(f"{message.get('code')}: {message.get('msg')}")
        elif event == "notice":  # e.g. 64008: the connection will close for a service upgrade
            return [Reconnect(f"OKX notice {message.get('code')}: {message.get('msg')}")]
        return []

    def _book(
        self, message: dict[str, Any], inst_id: str, market: Market, recv_ns: int
    ) -> list[Command]:
        snapshot = message.get("action") == "snapshot"
        state = self._books.get(inst_id)
        if not snapshot and state is None:
            return []  # waiting for the snapshot
        events: list[Event] = []
        for raw in message["data"]:
            time_ns = int(raw["ts"]) * 1_000_000 if raw.get("ts") else recv_ns
            if snapshot:
                state = self._books[inst_id] = _Book()
            assert state is not None
            problem = self._sequence(state, raw, snapshot)
            if problem is None:
                bids, asks = state.apply(raw, market)
                if snapshot:
                    top_bids, top_asks = state.book.top()
                    events.append(BookSnapshot(market.id, top_bids, top_asks, time_ns))
                elif bids or asks:
                    events.append(BookDelta(market.id, bids, asks, time_ns))
                problem = self._verify(state, raw)
            if problem is not None:
                return self._resync(inst_id, market, events, problem, time_ns)
            events.extend(self._quotes.update(inst_id, state.book, market, time_ns))
        return published(events)

    def _sequence(self, state: _Book, raw: dict[str, Any], snapshot: bool) -> str | None:
        seq, previous = raw.get("seqId"), raw.get("prevSeqId")
        if seq is None:
            return None
        self.sequence_checks += 1
        if not snapshot and previous != state.seq:
            return f"prevSeqId {previous} is not the last seqId {state.seq}"
        state.seq = int(seq)
        return None

    def _verify(self, state: _Book, raw: dict[str, Any]) -> str | None:
        expected = raw.get("checksum")
        if expected is None:
            return None
        self.checksums_verified += 1
        actual = state.checksum()
        return None if actual == expected else f"checksum {actual} is not {expected}"

    def _resync(
        self, inst_id: str, market: Market, events: list[Event], reason: str, time_ns: int
    ) -> list[Command]:
        self._books.pop(inst_id, None)
        self._quotes.forget(inst_id)
        arg = [{"channel": "books", "instId": inst_id}]
        return reset_books([market], reason, time_ns, events) + [
            Send(json.dumps({"op": "unsubscribe", "args": arg})),
            Send(json.dumps({"op": "subscribe", "args": arg})),
        ]

    def _trades(self, data: list[dict[str, Any]], inst_id: str, market: Market) -> list[Command]:
        batch = Batch()
        for item in data:
            trade_id = int(item["tradeId"])
            first = trade_id - int(item.get("count") or 1) + 1
            fresh, lost = self._trade_ids.admit(inst_id, market, trade_id, first)
            if not fresh:
                continue
            batch.between(lost)
            batch.events.append(
                Trade(
                    market=market.id,
                    id=item["tradeId"],
                    price=parse_fixed(item["px"], market.price_decimals),
                    size=parse_fixed(item["sz"], market.size_decimals),
                    side=Side.BUY if item["side"] == "buy" else Side.SELL,
                    time_ns=int(item["ts"]) * 1_000_000,
                )
            )
        return batch.commands()

    def _ticker(self, data: list[dict[str, Any]], market: Market, recv_ns: int) -> list[Command]:
        if market.kind is not MarketKind.SPOT or market.quote not in USD_QUOTES:
            return []
        events: list[Event] = []
        price, size = market.price_decimals, market.size_decimals
        for item in data:
            events.append(
                Ticker(
                    asset=market.base,
                    decimals=price,
                    price=parse_fixed(item["last"], price),
                    open_24h=parse_fixed(item["open24h"], price),
                    high_24h=parse_fixed(item["high24h"], price),
                    low_24h=parse_fixed(item["low24h"], price),
                    volume_24h=rounded(item["vol24h"], size),
                    volume_decimals=size,
                    time_ns=int(item["ts"]) * 1_000_000 if item.get("ts") else recv_ns,
                )
            )
        return published(events)

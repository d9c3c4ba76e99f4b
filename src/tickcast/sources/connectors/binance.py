"""Binance spot, USD-M and COIN-M WebSocket feed, sans-I/O (one ``BinanceFeed`` per connection).

Streams per instrument: ``<symbol>@trade``, ``<symbol>@<depth_stream>`` and
``<symbol>@bookTicker`` on the combined-stream endpoint. The book follows Binance's documented
local order book procedure through the shared ``BinanceBookSync`` (also used by replay): the first
depth event of an unsynced book asks for a REST snapshot, events are buffered until it arrives, a
snapshot older than the buffer is refused and asked for again, and a broken ``U``/``u``/``pu``
chain publishes an empty reset snapshot, reports ``Resynced`` and asks for a new snapshot.

Trades are checked for consecutive ids (``t``): a jump reports ``TradesLost`` (the runner
backfills from REST ``trades``); a repeated id is dropped. ``bookTicker`` becomes a ``Quote``; one
whose update id ``u`` is older than the last one is dropped. Event times are the venue's (``T``,
else ``E``); spot ``bookTicker`` and spot snapshots carry none and take the latest venue time of
the market.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from tickcast.model.events import BookSnapshot, Event, Level, Quote, Side, Trade
from tickcast.model.markets import Market
from tickcast.model.numbers import parse_fixed
from tickcast.sources.connectors.binance_info import BinanceVenue
from tickcast.sources.connectors.protocol import (
    Command,
    FetchSnapshot,
    Instrument,
    Publish,
    Reconnect,
    Resynced,
    Send,
    TradesLost,
)
from tickcast.sources.replay.binance_book import BinanceBookSync, DepthEvent

_MS = 1_000_000
SUBSCRIBE_BATCH = 100
"""Streams per SUBSCRIBE message (Binance limits the size and rate of incoming messages)."""
PRICE_CACHE = 100_000
STALE_NS = 10 * 1_000_000_000
"""No message for this long on a subscribed connection: the feed is stale, reconnect."""


@dataclass(slots=True)
class _Book:
    """Per-instrument state of one connection."""

    instrument: Instrument
    sync: BinanceBookSync
    requested: bool = False
    """A snapshot request is outstanding."""
    last_trade: int | None = None
    last_quote: int = -1
    latest_ns: int = 0
    """Latest venue time seen for this market (for messages without one)."""
    breaks_seen: int = field(default=0)
    prices: dict[str, int] = field(default_factory=dict)
    """Parsed price strings (see ``_levels``)."""


class BinanceFeed:
    """``VenueFeed`` of one Binance connection carrying ``instruments``."""

    def __init__(
        self, venue: BinanceVenue, instruments: Sequence[Instrument], *, stale_ns: int = STALE_NS
    ) -> None:
        self.venue = venue
        self._stale_ns = stale_ns
        self._books = {
            item.venue_symbol: _Book(item, BinanceBookSync(item.market.id, futures=venue.futures))
            for item in instruments
        }
        self._symbols = {symbol.lower(): symbol for symbol in self._books}
        self._last_recv_ns: int | None = None
        self._request_id = 0

    # VenueFeed ------------------------------------------------------------------------------

    def connected(self) -> Sequence[Command]:
        streams = [
            f"{lower}@{suffix}"
            for lower in self._symbols
            for suffix in ("trade", self.venue.depth_stream, "bookTicker")
        ]
        commands: list[Command] = []
        for start in range(0, len(streams), SUBSCRIBE_BATCH):
            self._request_id += 1
            params = streams[start : start + SUBSCRIBE_BATCH]
            message = {"method": "SUBSCRIBE", "params": params, "id": self._request_id}
            commands.append(Send(orjson.dumps(message).decode()))
        self._last_recv_ns = None
        return commands

    def receive(self, data: str | bytes, recv_ns: int) -> Sequence[Command]:
        self._last_recv_ns = recv_ns
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return [Reconnect(f"{self.venue.name}: a message that is not JSON")]
        if not isinstance(message, dict):
            return []
        if "error" in message:
            return [Reconnect(f"{self.venue.name}: venue error {message['error']!r}")]
        payload = message.get("data")
        stream = message.get("stream")
        if not isinstance(payload, dict) or not isinstance(stream, str):
            return []  # subscription acknowledgements ({"result": null, "id": n})
        lower, _, kind = stream.partition("@")
        symbol = self._symbols.get(lower)
        if symbol is None:
            return []
        book = self._books[symbol]
        if kind.startswith("depth"):  # depth@100ms, depth@0ms...
            return self._depth(book, payload)
        if kind == "trade":
            return self._trade(book, payload)
        return self._quote(book, payload)

    def rest_snapshot(self, request_id: str, body: bytes, recv_ns: int) -> Sequence[Command]:
        book = self._books.get(request_id)
        if book is None:
            return []
        book.requested = False
        data = orjson.loads(body)
        market = book.instrument.market
        time_ns = self._time(book, data)
        events = book.sync.snapshot(
            int(data["lastUpdateId"]),
            _levels(data["bids"], market, book.prices),
            _levels(data["asks"], market, book.prices),
            time_ns,
        )
        return self._after_sync(book, events)

    def disconnected(self, recv_ns: int) -> Sequence[Command]:
        """Every book restarts (an empty reset snapshot for those that were live); trade ids are
        kept so that the first trade after the reconnect reveals what was lost."""
        events: list[Event] = []
        for book in self._books.values():
            if book.sync.synced:
                events.append(_empty(book))
            book.sync = BinanceBookSync(book.instrument.market.id, futures=self.venue.futures)
            book.requested = False
            book.breaks_seen = 0
            book.last_quote = -1
        self._last_recv_ns = None
        return [Publish(tuple(events))] if events else []

    def heartbeat(self, now_ns: int) -> Sequence[Command]:
        last = self._last_recv_ns
        if last is None:
            self._last_recv_ns = now_ns
            return []
        if now_ns - last > self._stale_ns:
            return [Reconnect(f"{self.venue.name}: no message for {(now_ns - last) / 1e9:.1f} s")]
        return []

    # messages -------------------------------------------------------------------------------

    def _time(self, book: _Book, data: dict[str, Any]) -> int:
        stamp = data.get("T", data.get("E"))
        if isinstance(stamp, int):
            book.latest_ns = max(book.latest_ns, stamp * _MS)
            return stamp * _MS
        return book.latest_ns

    def _depth(self, book: _Book, data: dict[str, Any]) -> list[Command]:
        market = book.instrument.market
        previous = data.get("pu")
        event = DepthEvent(
            first_id=int(data["U"]),
            last_id=int(data["u"]),
            previous_id=None if previous is None else int(previous),
            bids=_levels(data["b"], market, book.prices),
            asks=_levels(data["a"], market, book.prices),
            time_ns=self._time(book, data),
        )
        return self._after_sync(book, book.sync.depth(event))

    def _after_sync(self, book: _Book, events: list[Event]) -> list[Command]:
        """Publish what the sync produced; report new breaks; ask for a snapshot when unsynced."""
        commands: list[Command] = [Publish(tuple(events))] if events else []
        for item in book.sync.breaks[book.breaks_seen :]:
            commands.append(Resynced(book.instrument.market.id, item.reason))
        book.breaks_seen = len(book.sync.breaks)
        if not book.sync.synced and not book.requested:
            book.requested = True
            symbol = book.instrument.venue_symbol
            commands.append(
                FetchSnapshot(symbol, self.venue.depth_path(symbol), self.venue.depth_weight)
            )
        return commands

    def _trade(self, book: _Book, data: dict[str, Any]) -> list[Command]:
        trade_id = int(data["t"])
        last = book.last_trade
        if last is not None and trade_id <= last:
            return []  # a repeat: already published
        market = book.instrument.market
        trade = Trade(
            market=market.id,
            id=str(trade_id),
            price=_fixed(data["p"], market.price_decimals),
            size=_fixed(data["q"], market.size_decimals),
            side=Side.SELL if data["m"] else Side.BUY,  # the buyer made: the seller aggressed
            time_ns=self._time(book, data),
        )
        book.last_trade = trade_id
        commands: list[Command] = []
        if last is not None and trade_id > last + 1:
            reason = f"trade ids {last + 1}..{trade_id - 1} not received"
            commands.append(TradesLost(market.id, reason, str(last), before_trade_id=str(trade_id)))
        commands.append(Publish((trade,)))
        return commands

    def _quote(self, book: _Book, data: dict[str, Any]) -> list[Command]:
        update_id = int(data.get("u", 0))
        if update_id < book.last_quote:
            return []
        book.last_quote = update_id
        market = book.instrument.market
        p, s = market.price_decimals, market.size_decimals
        quote = Quote(
            market=market.id,
            bid_price=_fixed(data["b"], p),
            bid_size=_fixed(data["B"], s),
            ask_price=_fixed(data["a"], p),
            ask_size=_fixed(data["A"], s),
            time_ns=self._time(book, data),
        )
        return [Publish((quote,))]


def _empty(book: _Book) -> Event:
    return BookSnapshot(book.instrument.market.id, (), (), book.latest_ns)


def _fixed(text: str, decimals: int) -> int:
    """``parse_fixed`` with a fast path for what Binance sends: plain digits with exactly the
    market's decimals (``"61800.20"`` at 2); anything else goes the careful way."""
    whole, _, fraction = text.partition(".")
    if len(fraction) == decimals and whole.isdigit() and (not fraction or fraction.isdigit()):
        return int(whole + fraction)
    return parse_fixed(text, decimals)


def _levels(levels: list[list[str]], market: Market, prices: dict[str, int]) -> tuple[Level, ...]:
    """Scaled (price, size) levels; ``prices`` caches parsed price strings (a book's prices
    repeat message after message; it is emptied when it reaches ``PRICE_CACHE`` entries)."""
    p, s = market.price_decimals, market.size_decimals
    out: list[Level] = []
    for price_text, size_text in levels:
        price = prices.get(price_text)
        if price is None:
            if len(prices) >= PRICE_CACHE:
                prices.clear()
            price = prices[price_text] = _fixed(price_text, p)
        out.append((price, _fixed(size_text, s)))
    return tuple(out)

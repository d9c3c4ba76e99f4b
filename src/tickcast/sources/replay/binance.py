"""Raw Binance WebSocket captures, sans-I/O: ``<local ns> <json>`` lines in, events out.

The format hftbacktest's collector writes: each line is the local receive time in nanoseconds,
a space, and the message as received. Messages are combined-stream envelopes
(``{"stream": "btcusdt@trade", "data": {...}}``), bare stream events, or the REST depth snapshot
the collector fetched (``{"lastUpdateId": ..., "bids": [...], "asks": [...]}``, with ``symbol``,
``E`` and ``T`` on futures). Handled: ``depthUpdate`` (through ``BinanceBookSync``), ``trade``,
``aggTrade`` and ``bookTicker``; anything else is counted and skipped.

Event times are the exchange's: ``T`` (transaction time) when the message has one, else ``E``.
Spot ``bookTicker`` messages and spot REST snapshots carry no time: they take the latest exchange
time seen so far in the capture for that market.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tickcast.errors import ConfigError
from tickcast.model.events import Event, Level, Quote, Side, Trade
from tickcast.model.markets import Market, MarketKind
from tickcast.model.numbers import parse_fixed
from tickcast.sources.replay.binance_book import BinanceBookSync, BookBreak, DepthEvent
from tickcast.sources.replay.markets import DecimalsScan, market_for

logger = logging.getLogger("tickcast.sources.replay")

EXCHANGE = "binance"
_MS = 1_000_000


def parse_line(line: str) -> tuple[int, dict[str, Any]] | None:
    """Split a capture line into (local ns, message); None for a blank line."""
    text = line.strip()
    if not text:
        return None
    stamp, _, body = text.partition(" ")
    try:
        message = json.loads(body)
        local_ns = int(stamp)
    except ValueError:
        raise ValueError(f"not a '<local ns> <json>' capture line: {text[:80]!r}") from None
    if not isinstance(message, dict):
        raise ValueError(f"capture message is not a JSON object: {text[:80]!r}")
    return local_ns, message


def looks_like_capture(first_line: str) -> bool:
    stamp, _, body = first_line.strip().partition(" ")
    return stamp.isdigit() and body.startswith(("{", "["))


def unwrap(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(kind, payload): kind is ``snapshot``, ``depthUpdate``, ``trade``, ``aggTrade``,
    ``bookTicker`` or something to skip."""
    if "lastUpdateId" in message and "bids" in message:
        return "snapshot", message
    data = message.get("data", message)
    if not isinstance(data, dict):
        return "other", {}
    kind = data.get("e")
    if kind is None and {"u", "s", "b", "B", "a", "A"} <= data.keys():
        kind = "bookTicker"
    return str(kind), data


def _exchange_time(data: dict[str, Any]) -> int | None:
    stamp = data.get("T", data.get("E"))
    return int(stamp) * _MS if isinstance(stamp, int) else None


class BinanceScan:
    """A first pass over a capture: which markets it holds, spot or futures, and decimals."""

    def __init__(self, *, kind: MarketKind | None = None) -> None:
        self._forced_kind = kind
        self._futures: dict[str, bool] = {}
        self._decimals = DecimalsScan()
        self._anonymous_snapshots = 0

    def feed(self, message: dict[str, Any]) -> None:
        kind, data = unwrap(message)
        if kind == "snapshot":
            symbol = data.get("symbol")
            if symbol is None:
                self._anonymous_snapshots += 1
                symbol = "?"
            self._decimals.levels(symbol, data["bids"])
            self._decimals.levels(symbol, data["asks"])
            return
        symbol = data.get("s")
        if not isinstance(symbol, str):
            return
        futures = self._futures.get(symbol, "_" in symbol)
        if kind == "depthUpdate":
            futures = futures or "pu" in data
            self._decimals.levels(symbol, data["b"])
            self._decimals.levels(symbol, data["a"])
        elif kind in ("trade", "aggTrade"):
            futures = futures or "X" in data
            self._decimals.prices(symbol, data["p"])
            self._decimals.sizes(symbol, data["q"])
        elif kind == "bookTicker":
            futures = futures or "e" in data
            self._decimals.prices(symbol, data["b"], data["a"])
            self._decimals.sizes(symbol, data["B"], data["A"])
        self._futures[symbol] = futures

    def markets(self) -> dict[str, Market]:
        """Markets by Binance symbol."""
        symbols = sorted(self._futures)
        if self._anonymous_snapshots and len(symbols) != 1:
            raise ConfigError(
                "a Binance capture with depth snapshots that name no symbol must hold exactly "
                f"one symbol (found {', '.join(symbols) or 'none'})"
            )
        scan = self._decimals
        result = {}
        for symbol in symbols:
            prices = max(scan.price.get(symbol, 0), scan.price.get("?", 0))
            sizes = max(scan.size.get(symbol, 0), scan.size.get("?", 0))
            kind = self._forced_kind or (
                MarketKind.FUTURE if self._futures[symbol] else MarketKind.SPOT
            )
            result[symbol] = market_for(
                EXCHANGE, symbol, kind, price_decimals=prices, size_decimals=sizes
            )
        return result


class BinanceDecoder:
    """Second pass: messages in capture order become normalised events."""

    def __init__(self, markets: dict[str, Market]) -> None:
        self._markets = markets
        self._books = {
            symbol: BinanceBookSync(market.id, futures=market.kind is not MarketKind.SPOT)
            for symbol, market in markets.items()
        }
        self._latest: dict[str, int] = {}
        self.skipped = 0

    @property
    def breaks(self) -> list[BookBreak]:
        return [item for sync in self._books.values() for item in sync.breaks]

    def decode(self, message: dict[str, Any]) -> list[Event]:
        kind, data = unwrap(message)
        if kind == "snapshot":
            return self._snapshot(data)
        symbol = data.get("s")
        market = self._markets.get(symbol) if isinstance(symbol, str) else None
        if market is None or symbol is None:
            self.skipped += 1
            return []
        time_ns = self._time(symbol, data)
        if kind == "depthUpdate":
            return self._depth(symbol, market, data, time_ns)
        if kind in ("trade", "aggTrade"):
            return [self._trade(market, data, time_ns, "t" if kind == "trade" else "a")]
        if kind == "bookTicker":
            return [self._quote(market, data, time_ns)]
        self.skipped += 1
        return []

    def _time(self, symbol: str, data: dict[str, Any]) -> int:
        stamp = _exchange_time(data)
        latest = self._latest.get(symbol, 0)
        if stamp is None:
            return latest
        self._latest[symbol] = max(latest, stamp)
        return stamp

    def _snapshot(self, data: dict[str, Any]) -> list[Event]:
        symbol = data.get("symbol")
        if symbol is None:
            symbol = next(iter(self._markets))
        market = self._markets[symbol]
        time_ns = self._time(symbol, data)
        sync = self._books[symbol]
        before = len(sync.breaks)
        events = sync.snapshot(
            int(data["lastUpdateId"]),
            _levels(data["bids"], market),
            _levels(data["asks"], market),
            time_ns,
        )
        self._report(sync, before)
        return events

    def _depth(
        self, symbol: str, market: Market, data: dict[str, Any], time_ns: int
    ) -> list[Event]:
        sync = self._books[symbol]
        before = len(sync.breaks)
        previous = data.get("pu")
        event = DepthEvent(
            first_id=int(data["U"]),
            last_id=int(data["u"]),
            previous_id=None if previous is None else int(previous),
            bids=_levels(data["b"], market),
            asks=_levels(data["a"], market),
            time_ns=time_ns,
        )
        events = sync.depth(event)
        self._report(sync, before)
        return events

    def _report(self, sync: BinanceBookSync, before: int) -> None:
        for item in sync.breaks[before:]:
            logger.warning(
                "replay: depth updates lost on %s (%s: expected id %d, got %d); the book is "
                "reset to empty until the capture's next depth snapshot",
                item.market,
                item.reason,
                item.expected,
                item.got,
            )

    @staticmethod
    def _trade(market: Market, data: dict[str, Any], time_ns: int, id_key: str) -> Trade:
        # "m": the buyer is the maker, so the aggressor sold
        return Trade(
            market=market.id,
            id=str(data[id_key]),
            price=parse_fixed(data["p"], market.price_decimals),
            size=parse_fixed(data["q"], market.size_decimals),
            side=Side.SELL if data["m"] else Side.BUY,
            time_ns=time_ns,
        )

    @staticmethod
    def _quote(market: Market, data: dict[str, Any], time_ns: int) -> Quote:
        p, s = market.price_decimals, market.size_decimals
        return Quote(
            market=market.id,
            bid_price=parse_fixed(data["b"], p),
            bid_size=parse_fixed(data["B"], s),
            ask_price=parse_fixed(data["a"], p),
            ask_size=parse_fixed(data["A"], s),
            time_ns=time_ns,
        )


def _levels(levels: list[list[str]], market: Market) -> tuple[Level, ...]:
    p, s = market.price_decimals, market.size_decimals
    return tuple((parse_fixed(price, p), parse_fixed(size, s)) for price, size in levels)

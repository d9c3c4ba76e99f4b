"""tickcast recordings (``tickcast record``), sans-I/O: the format, written and read back.

A recording is JSON lines, gzip-compressed when the file name ends in ``.gz``. The first line
is a header; every other line is one message the recorder received, with its local receive
time ``t`` (UTC ns) and the native protocol's ``data`` object unchanged:

    {"format": "tickcast-recording", "version": 1, "recorded_at": "2026-...Z",
     "url": "ws://127.0.0.1:8080", "streams": ["trades:binance-btc-usdt-spot", ...],
     "markets": [{"id": "binance-btc-usdt-spot", "exchange": "binance", "kind": "spot",
                  "base": "btc", "quote": "usdt", "symbol": "BTCUSDT", "price_decimals": 2,
                  "size_decimals": 5, "tick": "0.01", "lot": "0.00001"}, ...]}
    {"t": 1723161255088176367, "stream": "book:...", "type": "snapshot", "seq": 1,
     "data": {"asks": [...], "bids": [...]}, "checksum": 123, "reset": true}
    {"t": ..., "stream": "trades:...", "type": "update", "seq": 2, "data": {...}}
    {"t": ..., "stream": "trades:...", "type": "gap", "from": 3, "to": 9, "reason": "overflow"}

Replayed, trades keep their recorded ``time``; book and quote events take the recording's
local time ``t`` when their data carries none. A snapshot at ``seq`` 0 (a stream that had no
data yet when the recorder subscribed) is skipped; a recorded gap is logged as lost data; a book
whose rebuilt checksum differs from the recorded one is logged.
"""

from __future__ import annotations

import calendar
import json
import logging
import time
from typing import Any

from tickcast.book import OrderBook, book_checksum
from tickcast.model.events import BookDelta, BookSnapshot, Event, Level, Quote, Side, Trade
from tickcast.model.markets import Market, MarketKind
from tickcast.model.numbers import format_fixed, parse_fixed
from tickcast.model.streams import StreamKey, StreamKind

logger = logging.getLogger("tickcast.sources.replay")

FORMAT = "tickcast-recording"
VERSION = 1
RECORDABLE = (StreamKind.TRADES, StreamKind.BOOK, StreamKind.QUOTES)
"""Stream kinds a recording can replay."""


def is_recording(first_line: str) -> bool:
    try:
        header = json.loads(first_line)
    except ValueError:
        return False
    return isinstance(header, dict) and header.get("format") == FORMAT


def market_json(market: Market) -> dict[str, Any]:
    return {
        "id": market.id,
        "exchange": market.exchange,
        "kind": market.kind.value,
        "base": market.base,
        "quote": market.quote,
        "symbol": market.symbol,
        "price_decimals": market.price_decimals,
        "size_decimals": market.size_decimals,
        "tick": format_fixed(market.tick, market.price_decimals),
        "lot": format_fixed(market.lot, market.size_decimals),
    }


def market_from_json(item: dict[str, Any]) -> Market:
    price_decimals, size_decimals = int(item["price_decimals"]), int(item["size_decimals"])
    return Market(
        id=str(item["id"]),
        exchange=str(item["exchange"]),
        kind=MarketKind(item["kind"]),
        base=str(item["base"]),
        quote=str(item["quote"]),
        symbol=str(item["symbol"]),
        price_decimals=price_decimals,
        size_decimals=size_decimals,
        tick=parse_fixed(str(item.get("tick", "0")), price_decimals) or 1,
        lot=parse_fixed(str(item.get("lot", "0")), size_decimals) or 1,
    )


def header(
    *, streams: list[str], markets: list[dict[str, Any]], url: str, now_ns: int
) -> dict[str, Any]:
    """The first line of a recording (``markets`` as the control plane lists them)."""
    seconds, nanos = divmod(now_ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
    return {
        "format": FORMAT,
        "version": VERSION,
        "recorded_at": stamp,
        "url": url,
        "streams": streams,
        "markets": markets,
    }


def parse_header(line: str) -> tuple[list[Market], list[str]]:
    """Markets and streams of a recording's header line; ValueError when it is not one."""
    item = json.loads(line)
    if not isinstance(item, dict) or item.get("format") != FORMAT:
        raise ValueError("not a tickcast recording (no header line)")
    if item.get("version") != VERSION:
        raise ValueError(f"unsupported tickcast recording version {item.get('version')!r}")
    return [market_from_json(m) for m in item["markets"]], [str(s) for s in item["streams"]]


def encode(record: dict[str, Any]) -> str:
    """One compact line (no trailing newline)."""
    return json.dumps(record, separators=(",", ":"))


def parse_rfc3339_ns(text: str) -> int:
    """``2024-08-08T23:54:15.342000000Z`` -> UTC nanoseconds."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0")[:9] or "0")


class RecordingDecoder:
    """Record objects in file order become events. Book records are checked against their
    recorded checksum (a mismatch, e.g. an edited file, is counted and logged)."""

    def __init__(self, markets: list[Market]) -> None:
        self._markets = {market.id: market for market in markets}
        self._books: dict[str, OrderBook] = {}
        self.skipped = 0
        self.mismatches = 0

    def decode(self, record: dict[str, Any]) -> list[Event]:
        kind = record.get("type")
        if kind == "gap":
            logger.warning(
                "replay: the recording lost %s events %s..%s (%s)",
                record.get("stream"),
                record.get("from"),
                record.get("to"),
                record.get("reason"),
            )
            return []
        if kind not in ("snapshot", "update") or (kind == "snapshot" and record["seq"] == 0):
            self.skipped += 1
            return []
        key = StreamKey.parse(str(record["stream"]))
        market = self._markets.get(key.market or "")
        if market is None or key.kind not in RECORDABLE:
            self.skipped += 1
            return []
        data, local = record["data"], int(record["t"])
        if key.kind is StreamKind.TRADES:
            return [_trade(market, data)]
        if key.kind is StreamKind.QUOTES:
            return [_quote(market, data, local)]
        bids, asks = _levels(data["bids"], market), _levels(data["asks"], market)
        book = self._books.setdefault(market.id, OrderBook())
        if kind == "snapshot":
            book.apply_snapshot(bids, asks)
            event: Event = BookSnapshot(market.id, bids, asks, local)
        else:
            book.apply_delta(bids, asks)
            event = BookDelta(market.id, bids, asks, local)
        self._check(record, book, market)
        return [event]

    def _check(self, record: dict[str, Any], book: OrderBook, market: Market) -> None:
        expected = record.get("checksum")
        if expected is None:
            return
        top_bids, top_asks = book.top(10)
        actual = book_checksum(
            top_bids,
            top_asks,
            price_decimals=market.price_decimals,
            size_decimals=market.size_decimals,
        )
        if actual != expected:
            self.mismatches += 1
            logger.warning(
                "replay: the recording's %s seq %s had checksum %s, the replayed book gives %s",
                record["stream"],
                record["seq"],
                expected,
                actual,
            )


def _levels(levels: list[list[str]], market: Market) -> tuple[Level, ...]:
    p, s = market.price_decimals, market.size_decimals
    return tuple((parse_fixed(price, p), parse_fixed(size, s)) for price, size in levels)


def _trade(market: Market, data: dict[str, Any]) -> Trade:
    return Trade(
        market=market.id,
        id=str(data["id"]),
        price=parse_fixed(data["price"], market.price_decimals),
        size=parse_fixed(data["size"], market.size_decimals),
        side=Side(data["side"]),
        time_ns=parse_rfc3339_ns(data["time"]),
        buyer=data.get("buyer"),
        seller=data.get("seller"),
    )


def _quote(market: Market, data: dict[str, Any], local_ns: int) -> Quote:
    p, s = market.price_decimals, market.size_decimals
    stamp = data.get("time")
    return Quote(
        market=market.id,
        bid_price=parse_fixed(data["bid_price"], p),
        bid_size=parse_fixed(data["bid_size"], s),
        ask_price=parse_fixed(data["ask_price"], p),
        ask_size=parse_fixed(data["ask_size"], s),
        time_ns=parse_rfc3339_ns(stamp) if isinstance(stamp, str) else local_ns,
    )

"""Tardis.dev CSV files, sans-I/O: rows in, events out.

Supported data types (recognised by their header): ``trades``, ``incremental_book_L2``,
``quotes`` and ``book_snapshot_<N>``. Timestamps are microseconds: ``timestamp`` (the exchange's)
becomes the event time, ``local_timestamp`` (Tardis' receive time) drives pacing.

``incremental_book_L2`` rows sharing one ``timestamp``, ``local_timestamp`` and ``is_snapshot``
form one event: a ``BookSnapshot`` when ``is_snapshot`` is true (a new snapshot resets the book,
as Tardis documents), a ``BookDelta`` otherwise (amount 0 deletes the level).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation

from tickcast.errors import ConfigError
from tickcast.model.events import BookDelta, BookSnapshot, Event, Level, Quote, Side, Trade
from tickcast.model.markets import Market, MarketKind
from tickcast.model.numbers import parse_fixed
from tickcast.sources.replay.markets import DecimalsScan, market_for

logger = logging.getLogger("tickcast.sources.replay")

Row = dict[str, str]

EXCHANGES: dict[str, tuple[str, MarketKind]] = {
    "binance": ("binance", MarketKind.SPOT),
    "binance-futures": ("binance", MarketKind.FUTURE),
    "binance-delivery": ("binance", MarketKind.FUTURE),
    "bitmex": ("bitmex", MarketKind.FUTURE),
    "deribit": ("deribit", MarketKind.FUTURE),
    "coinbase": ("coinbase", MarketKind.SPOT),
    "kraken": ("kraken", MarketKind.SPOT),
    "bitstamp": ("bitstamp", MarketKind.SPOT),
    "bitfinex": ("bitfinex", MarketKind.SPOT),
    "gemini": ("gemini", MarketKind.SPOT),
    "huobi": ("huobi", MarketKind.SPOT),
    "huobi-dm-swap": ("huobi", MarketKind.FUTURE),
    "okex": ("okex", MarketKind.SPOT),
    "okex-swap": ("okex", MarketKind.FUTURE),
    "okex-futures": ("okex", MarketKind.FUTURE),
    "bybit": ("bybit", MarketKind.FUTURE),
    "bybit-spot": ("bybit", MarketKind.SPOT),
    "kucoin": ("kucoin", MarketKind.SPOT),
}
"""Tardis exchange ids -> (Coin Metrics exchange, market kind)."""

_COMMON = ("exchange", "symbol", "timestamp", "local_timestamp")
KINDS = {
    "trades": {"id", "side", "price", "amount"},
    "incremental_book_L2": {"is_snapshot", "side", "price", "amount"},
    "quotes": {"ask_amount", "ask_price", "bid_price", "bid_amount"},
    "book_snapshot": {"asks[0].price", "asks[0].amount", "bids[0].price", "bids[0].amount"},
}


def data_type(header: Sequence[str]) -> str | None:
    """The Tardis data type a CSV header belongs to, or None."""
    columns = set(header)
    if not set(_COMMON) <= columns:
        return None
    for kind, needed in KINDS.items():
        if needed <= columns:
            return kind
    return None


def plain(text: str) -> str:
    """A decimal string without exponent (``1e-05`` -> ``0.00001``)."""
    if "e" not in text and "E" not in text:
        return text
    try:
        return format(Decimal(text), "f")
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None


def local_ns(row: Row) -> int:
    return int(row["local_timestamp"]) * 1000


def group_book_rows(rows: Iterable[Row]) -> Iterator[list[Row]]:
    """Consecutive incremental_book_L2 rows of one update (or one snapshot), together."""
    batch: list[Row] = []
    key: tuple[str, ...] | None = None
    for row in rows:
        row_key = (row["symbol"], row["timestamp"], row["local_timestamp"], row["is_snapshot"])
        if row_key != key and batch:
            yield batch
            batch = []
        key = row_key
        batch.append(row)
    if batch:
        yield batch


def _depth_of(row: Row) -> int:
    count = 0
    while f"asks[{count}].price" in row:
        count += 1
    return count


class TardisScan:
    """First pass: markets and decimals of Tardis rows."""

    def __init__(self) -> None:
        self._symbols: dict[tuple[str, str], None] = {}
        self._decimals = DecimalsScan()

    def feed(self, kind: str, row: Row) -> None:
        if None in row.values() or None in row:
            raise ValueError("a row's columns do not match the header")
        key = (row["exchange"], row["symbol"])
        self._symbols[key] = None
        label = "|".join(key)
        scan = self._decimals
        if kind in ("trades", "incremental_book_L2"):
            scan.prices(label, plain(row["price"]))
            scan.sizes(label, plain(row["amount"]))
        elif kind == "quotes":
            prices = [plain(row[c]) for c in ("ask_price", "bid_price") if row[c]]
            sizes = [plain(row[c]) for c in ("ask_amount", "bid_amount") if row[c]]
            if prices:
                scan.prices(label, *prices)
            if sizes:
                scan.sizes(label, *sizes)
        else:
            for index in range(_depth_of(row)):
                for side in ("asks", "bids"):
                    if row[f"{side}[{index}].price"]:
                        scan.prices(label, plain(row[f"{side}[{index}].price"]))
                        scan.sizes(label, plain(row[f"{side}[{index}].amount"]))

    def markets(self) -> dict[tuple[str, str], Market]:
        """Markets by (Tardis exchange, symbol)."""
        result = {}
        for exchange, symbol in self._symbols:
            mapped = EXCHANGES.get(exchange)
            if mapped is None:
                known = ", ".join(sorted(EXCHANGES))
                raise ConfigError(f"Tardis exchange {exchange!r} is not mapped (known: {known})")
            name, kind = mapped
            if name == "deribit" and symbol.endswith(("-C", "-P")):
                kind = MarketKind.OPTION
            label = f"{exchange}|{symbol}"
            result[(exchange, symbol)] = market_for(
                name,
                symbol,
                kind,
                price_decimals=self._decimals.price.get(label, 0),
                size_decimals=self._decimals.size.get(label, 0),
            )
        return result


class TardisDecoder:
    """Second pass: rows (book rows grouped) in local-time order become events."""

    def __init__(self, markets: dict[tuple[str, str], Market]) -> None:
        self._markets = markets
        self._trade_count = 0
        self.skipped = 0

    def decode(self, kind: str, rows: list[Row]) -> list[Event]:
        market = self._markets[(rows[0]["exchange"], rows[0]["symbol"])]
        time_ns = int(rows[0]["timestamp"]) * 1000
        if kind == "trades":
            return [self._trade(market, rows[0], time_ns)]
        if kind == "incremental_book_L2":
            return [self._book(market, rows, time_ns)]
        if kind == "quotes":
            return self._quote(market, rows[0], time_ns)
        return [self._snapshot(market, rows[0], time_ns)]

    def _trade(self, market: Market, row: Row, time_ns: int) -> Trade:
        self._trade_count += 1
        side = row["side"]
        if side not in ("buy", "sell"):
            self.skipped += 1  # "unknown" aggressor: replayed as a buy, counted
        return Trade(
            market=market.id,
            id=row["id"] or f"{row['timestamp']}-{self._trade_count}",
            price=parse_fixed(plain(row["price"]), market.price_decimals),
            size=parse_fixed(plain(row["amount"]), market.size_decimals),
            side=Side.SELL if side == "sell" else Side.BUY,
            time_ns=time_ns,
        )

    @staticmethod
    def _book(market: Market, rows: list[Row], time_ns: int) -> Event:
        bids: list[Level] = []
        asks: list[Level] = []
        for row in rows:
            level = (
                parse_fixed(plain(row["price"]), market.price_decimals),
                parse_fixed(plain(row["amount"]), market.size_decimals),
            )
            (bids if row["side"] == "bid" else asks).append(level)
        if rows[0]["is_snapshot"] == "true":
            bids.sort(reverse=True)
            asks.sort()
            return BookSnapshot(market.id, tuple(bids), tuple(asks), time_ns)
        return BookDelta(market.id, tuple(bids), tuple(asks), time_ns)

    def _quote(self, market: Market, row: Row, time_ns: int) -> list[Event]:
        if not all(row[c] for c in ("ask_price", "ask_amount", "bid_price", "bid_amount")):
            self.skipped += 1  # one side of the book was empty
            return []
        p, s = market.price_decimals, market.size_decimals
        return [
            Quote(
                market=market.id,
                bid_price=parse_fixed(plain(row["bid_price"]), p),
                bid_size=parse_fixed(plain(row["bid_amount"]), s),
                ask_price=parse_fixed(plain(row["ask_price"]), p),
                ask_size=parse_fixed(plain(row["ask_amount"]), s),
                time_ns=time_ns,
            )
        ]

    @staticmethod
    def _snapshot(market: Market, row: Row, time_ns: int) -> Event:
        p, s = market.price_decimals, market.size_decimals
        sides: dict[str, list[Level]] = {"bids": [], "asks": []}
        for index in range(_depth_of(row)):
            for side, levels in sides.items():
                price = row.get(f"{side}[{index}].price", "")
                if price:
                    amount = plain(row[f"{side}[{index}].amount"])
                    levels.append((parse_fixed(plain(price), p), parse_fixed(amount, s)))
        return BookSnapshot(market.id, tuple(sides["bids"]), tuple(sides["asks"]), time_ns)

"""A bounded in-memory record of what the bus carried since the server started.

It serves history-style REST queries (the Coin Metrics ``/v4/timeseries/*`` surface). Retention
(per market, asset or index; oldest dropped first):

* trades: the last ``trades_per_market`` (default 2 000);
* quotes: the last ``quotes_per_market`` (default 1 000);
* candles: closed candles of every interval for a day (1 440 of ``1m`` ... one ``1d``), and a
  week of ``1d``;
* order books: the top ``book_depth`` (100) levels every ``book_interval_s`` (30 s) for the last
  ``books_per_market`` (60) snapshots, i.e. 30 minutes; the first change of a book is recorded
  at once;
* asset metrics (hence index levels): one value per second for 15 minutes and the last value
  of each minute for a day.

Worst case with the simulator's 66 markets and 20 assets: about 130 MB.

Every record carries a recorder-wide increasing number (``rid``) that orders records of the same
time and anchors page tokens. The recorder reads current books from the StateKeeper, so it must
listen to the bus after the hub (which updates the keeper).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Candle,
    Envelope,
    Level,
    Quote,
    Trade,
)
from tickcast.model.streams import CANDLE_INTERVALS
from tickcast.state.keeper import StateKeeper

E = TypeVar("E")
K = TypeVar("K")

MINUTE_NS = 60_000_000_000
SECOND_NS = 1_000_000_000
CANDLES_KEPT: dict[str, int] = {
    "1m": 1440, "5m": 288, "10m": 144, "15m": 96, "30m": 48, "1h": 24, "4h": 6, "1d": 7,
}  # fmt: skip
assert set(CANDLES_KEPT) == set(CANDLE_INTERVALS)


@dataclass(frozen=True, slots=True)
class Record(Generic[E]):
    rid: int
    time_ns: int
    item: E


def _pack(levels: Sequence[Level]) -> array[int]:
    packed = array("q")
    for price, size in levels:
        packed.append(price)
        packed.append(size)
    return packed


def _unpack(packed: array[int], depth: int | None) -> tuple[Level, ...]:
    count = len(packed) // 2 if depth is None else min(depth, len(packed) // 2)
    return tuple((packed[2 * i], packed[2 * i + 1]) for i in range(count))


@dataclass(frozen=True, slots=True)
class BookRecord:
    """A book's top levels, packed as ``price, size`` pairs of 64-bit integers."""

    market: str
    packed_bids: array[int]
    packed_asks: array[int]
    time_ns: int
    seq: int

    @classmethod
    def of(
        cls, market: str, bids: Sequence[Level], asks: Sequence[Level], time_ns: int, seq: int
    ) -> BookRecord:
        return cls(market, _pack(bids), _pack(asks), time_ns, seq)

    def levels(self, depth: int | None = None) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """(bids best first, asks best first), at most ``depth`` of each."""
        return _unpack(self.packed_bids, depth), _unpack(self.packed_asks, depth)


class CandleLog:
    """The closed candles of one (market, interval), packed as 64-bit integers, oldest first.

    About 80 bytes per candle instead of ~600 as objects: a day of every interval for every
    market fits in a few MB.
    """

    _WIDTH = 10

    def __init__(self, market: str, interval: str, limit: int) -> None:
        self.market = market
        self.interval = interval
        self.limit = limit
        self._data = array("q")

    def append(self, rid: int, candle: Candle) -> None:
        values = (
            rid, candle.start_ns, candle.open, candle.high, candle.low, candle.close,
            candle.volume, candle.quote_volume, candle.trades, candle.time_ns,
        )  # fmt: skip
        try:
            self._data.extend(values)
        except OverflowError:  # beyond 64 bits: not recorded
            return
        excess = len(self._data) // self._WIDTH - self.limit
        if excess > self.limit // 4:
            del self._data[: excess * self._WIDTH]

    def __len__(self) -> int:
        return min(len(self._data) // self._WIDTH, self.limit)

    def __iter__(self) -> Iterator[Record[Candle]]:
        data, width = self._data, self._WIDTH
        first = max(0, len(data) // width - self.limit)
        for at in range(first * width, len(data), width):
            rid, start, open_, high, low, close, volume, notional, trades, time_ns = data[
                at : at + width
            ]
            candle = Candle(
                self.market, self.interval, start, open_, high, low, close, volume, notional,
                trades, time_ns,
            )  # fmt: skip
            yield Record(rid, start, candle)


class Recorder:
    def __init__(
        self,
        *,
        keeper: StateKeeper,
        trades_per_market: int = 2_000,
        quotes_per_market: int = 1_000,
        books_per_market: int = 60,
        book_interval_s: float = 30.0,
        book_depth: int = 100,
        metric_seconds: int = 900,
        metric_minutes: int = 1_440,
    ) -> None:
        self._keeper = keeper
        self._limits = (trades_per_market, quotes_per_market, books_per_market)
        self._book_interval_ns = int(book_interval_s * SECOND_NS)
        self._book_depth = book_depth
        self._metric_limits = (metric_seconds, metric_minutes)
        self._rid = 0
        self.trades: dict[str, deque[Record[Trade]]] = {}
        self.quotes: dict[str, deque[Record[Quote]]] = {}
        self.books: dict[str, deque[Record[BookRecord]]] = {}
        self.candles: dict[tuple[str, str], CandleLog] = {}
        self.metric_seconds: dict[tuple[str, str], deque[Record[AssetMetric]]] = {}
        self.metric_minutes: dict[tuple[str, str], deque[Record[AssetMetric]]] = {}

    def _next(self) -> int:
        self._rid += 1
        return self._rid

    def on_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            event = envelope.event
            match event:
                case Trade():
                    self._append(self.trades, event.market, self._limits[0], event.time_ns, event)
                case Quote():
                    self._append(self.quotes, event.market, self._limits[1], event.time_ns, event)
                case Candle():
                    self._candle(event)
                case BookSnapshot() | BookDelta():
                    self._book(envelope.stream, event.market, event.time_ns, envelope.seq)
                case AssetMetric():
                    self._metric(event)

    def _append(
        self, table: dict[K, deque[Record[E]]], key: K, limit: int, time_ns: int, item: E
    ) -> None:
        rows = table.get(key)
        if rows is None:
            rows = table[key] = deque(maxlen=limit)
        rows.append(Record(self._next(), time_ns, item))

    def _candle(self, candle: Candle) -> None:
        key = (candle.market, candle.interval)
        log = self.candles.get(key)
        if log is None:
            limit = CANDLES_KEPT.get(candle.interval, 1440)
            log = self.candles[key] = CandleLog(candle.market, candle.interval, limit)
        log.append(self._next(), candle)

    def _book(self, stream: str, market: str, time_ns: int, seq: int) -> None:
        rows = self.books.get(market)
        if rows and time_ns - rows[-1].time_ns < self._book_interval_ns:
            return
        book = self._keeper.book(stream)
        if book is None:
            return
        bids, asks = book.top(self._book_depth)
        record = BookRecord.of(market, bids, asks, time_ns, seq)
        self._append(self.books, market, self._limits[2], time_ns, record)

    def _metric(self, metric: AssetMetric) -> None:
        key = (metric.asset, metric.metric)
        seconds = self.metric_seconds.get(key)
        if seconds is None or metric.time_ns // SECOND_NS != seconds[-1].time_ns // SECOND_NS:
            self._append(self.metric_seconds, key, self._metric_limits[0], metric.time_ns, metric)
        minutes = self.metric_minutes.get(key)
        if minutes and metric.time_ns // MINUTE_NS == minutes[-1].time_ns // MINUTE_NS:
            minutes.pop()  # the minute's last value wins
        self._append(self.metric_minutes, key, self._metric_limits[1], metric.time_ns, metric)


def between(rows: Iterable[Record[E]], start_ns: int | None, end_ns: int | None) -> list[Record[E]]:
    """The records with ``start_ns <= time <= end_ns`` (None: unbounded), oldest first."""
    return [
        row
        for row in rows
        if (start_ns is None or row.time_ns >= start_ns)
        and (end_ns is None or row.time_ns <= end_ns)
    ]

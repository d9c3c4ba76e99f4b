"""StateKeeper: folds envelopes of STATE streams into their current state.

A snapshot carries the seq of the last update it includes, so a subscriber that receives the
snapshot and then every update from seq+1 holds exactly the publisher's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tickcast.book import OrderBook
from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Envelope,
    Event,
    Order,
    OrderStatus,
    Position,
    Quote,
    StreamPosition,
    Ticker,
)

_FINAL = {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED}


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    stream: str
    seq: int
    epoch: str
    events: tuple[Event, ...]
    """Book: one BookSnapshot. Quotes/ticker: the last event. Metrics: one per metric.
    Orders: every open order. Positions: one per party."""


class StateKeeper:
    """Current state of every STATE stream seen on the bus."""

    def __init__(self) -> None:
        self._latest: dict[str, Envelope] = {}
        """The last envelope of every stream (its position is made when read: most are not)."""
        self._read: dict[str, tuple[Envelope, StreamPosition]] = {}
        """The position last read of each stream, with its envelope: read again while no other
        envelope came, it is the same object (readers compare positions by identity)."""
        self._books: dict[str, OrderBook] = {}
        self._last: dict[str, Event] = {}
        self._keyed: dict[str, dict[str, Event]] = {}

    def apply_all(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            self.apply(envelope)

    def apply(self, envelope: Envelope) -> None:
        event = envelope.event
        stream = envelope.stream
        self._latest[stream] = envelope
        if type(event) is BookDelta:  # the common case first (what the match below does)
            book = self._books.get(stream)
            if book is not None:
                book.apply_delta(event.bids, event.asks)
                self._last[stream] = event
                return
        match event:
            case BookSnapshot():
                self._book(stream).apply_snapshot(event.bids, event.asks)
                self._last[stream] = event
            case BookDelta():
                self._book(stream).apply_delta(event.bids, event.asks)
                self._last[stream] = event
            case Quote() | Ticker():
                self._last[stream] = event
            case AssetMetric():
                self._keyed.setdefault(stream, {})[event.metric] = event
            case Order():
                orders = self._keyed.setdefault(stream, {})
                if event.status in _FINAL:
                    orders.pop(event.id, None)
                else:
                    orders[event.id] = event
            case Position():
                self._keyed.setdefault(stream, {})[event.party] = event
            case _:
                return

    def _book(self, stream: str) -> OrderBook:
        book = self._books.get(stream)
        if book is None:
            book = self._books[stream] = OrderBook()
        return book

    def book(self, stream: str) -> OrderBook | None:
        return self._books.get(stream)

    def position(self, stream: str) -> StreamPosition | None:
        """The position of the last envelope seen on a stream (STATE or EVENT)."""
        latest = self._latest.get(stream)
        if latest is None:
            return None
        read = self._read.get(stream)
        if read is not None and read[0] is latest:
            return read[1]
        position = latest.position
        self._read[stream] = (latest, position)
        return position

    def snapshot(self, stream: str, *, time_ns: int = 0) -> StateSnapshot | None:
        """The current state of a STATE ``stream``, or None if nothing was published on it."""
        position = self.position(stream)
        if position is None or not (
            stream in self._books or stream in self._keyed or stream in self._last
        ):
            return None
        book = self._books.get(stream)
        if book is not None:
            bids, asks = book.top()
            last = self._last.get(stream)
            market = getattr(last, "market", "")
            event_time = getattr(last, "time_ns", time_ns)
            events: tuple[Event, ...] = (BookSnapshot(market, bids, asks, event_time),)
        elif stream in self._keyed:
            events = tuple(self._keyed[stream].values())
        else:
            events = (self._last[stream],)
        return StateSnapshot(stream, position.seq, position.epoch, events)

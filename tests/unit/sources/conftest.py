"""Shared helpers for the simulated-exchange tests."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from tickcast.model.events import BookDelta, BookSnapshot, Event, Level, Quote


class L2Book:
    """An L2 book rebuilt from snapshots and deltas only, as a consumer would."""

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def apply(self, event: BookSnapshot | BookDelta) -> None:
        """Apply a snapshot (replace) or a delta (upsert; size 0 deletes)."""
        if isinstance(event, BookSnapshot):
            self.bids, self.asks = dict(event.bids), dict(event.asks)
            return
        for side, levels in ((self.bids, event.bids), (self.asks, event.asks)):
            for price, size in levels:
                if size == 0:
                    assert price in side, "delta removes a level that does not exist"
                    del side[price]
                else:
                    side[price] = size

    def levels(self) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """(bids best first, asks best first)."""
        bids = tuple(sorted(self.bids.items(), reverse=True))
        return bids, tuple(sorted(self.asks.items()))

    def quote(self) -> tuple[int, int, int, int]:
        """Best bid/ask as a Quote would carry them (zeros for an empty side)."""
        bid = max(self.bids.items(), default=(0, 0))
        ask = min(self.asks.items(), default=(0, 0))
        return bid[0], bid[1], ask[0], ask[1]

    def crossed(self) -> bool:
        return bool(self.bids and self.asks and max(self.bids) >= min(self.asks))


class L2Books:
    """Rebuilt books per market, checking quotes against the book as events stream by."""

    def __init__(self) -> None:
        self.books: dict[str, L2Book] = {}

    def feed(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, BookSnapshot | BookDelta):
                book = self.books.setdefault(event.market, L2Book())
                book.apply(event)
                assert not book.crossed(), f"crossed book in {event.market}"
            elif isinstance(event, Quote):
                quote = (event.bid_price, event.bid_size, event.ask_price, event.ask_size)
                assert quote == self.books[event.market].quote()


@pytest.fixture
def l2_books() -> L2Books:
    """A fresh set of rebuilt L2 books."""
    return L2Books()

"""Depth-limited views of a book: what a client keeping only the top N levels needs.

A ``DepthView`` remembers the top N levels it last reported. After the full book changed,
``update`` returns the levels that left the top N with size 0 and the levels that entered it or
changed size with their new size ("pull in levels as updates"), so that applying the snapshot
and every delta to an empty book always reproduces ``book.top(depth)``.
"""

from __future__ import annotations

from tickcast.book.orderbook import OrderBook, TopLevels
from tickcast.model.events import Level


def _diff(old: dict[int, int], new: tuple[Level, ...]) -> tuple[Level, ...]:
    """Levels turning ``old`` into ``new``: evictions (size 0) first, then changes."""
    current = dict(new)
    evicted = [(price, 0) for price in old if price not in current]
    changed = [(price, size) for price, size in new if old.get(price) != size]
    return tuple(evicted + changed)


class DepthView:
    """The top ``depth`` levels of one book as one client sees them."""

    __slots__ = ("_asks", "_bids", "depth")

    def __init__(self, depth: int) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, not {depth}")
        self.depth = depth
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}

    def snapshot(self, book: OrderBook) -> TopLevels:
        """The top ``depth`` levels of ``book``; later updates are relative to them."""
        bids, asks = book.top(self.depth)
        self._bids, self._asks = dict(bids), dict(asks)
        return bids, asks

    def update(self, book: OrderBook) -> TopLevels:
        """The delta from the last reported view to the current top of ``book``.

        Before any ``snapshot`` the view is empty, so the first update lists every level.
        """
        bids, asks = book.top(self.depth)
        delta = _diff(self._bids, bids), _diff(self._asks, asks)
        self._bids, self._asks = dict(bids), dict(asks)
        return delta

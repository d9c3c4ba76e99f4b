"""An L2 order book of scaled-integer (price, size) levels.

Each side keeps a ``dict`` price -> size and an ascending ``list`` of prices maintained with
``bisect``: updating an existing level is O(1), adding or removing one is O(log n) plus a short
memmove, and reading the best N levels is O(N). Bids are read from the end of their list so that
the busy top of the book sits where insertions are cheapest.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from tickcast.errors import BookError
from tickcast.model.events import Level

TopLevels = tuple[tuple[Level, ...], tuple[Level, ...]]
"""(bids best first, asks best first)."""


def _validated(levels: Iterable[Level]) -> tuple[Level, ...]:
    """Materialise ``levels`` and reject negative prices or sizes."""
    items = tuple(levels)
    for price, size in items:
        if price < 0 or size < 0:
            raise BookError(f"negative price or size in level ({price}, {size})")
    return items


class _BookSide:
    """One side of the book: sizes by price plus the sorted prices."""

    __slots__ = ("prices", "sizes")

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.prices: list[int] = []

    def set(self, price: int, size: int) -> None:
        """Set a level; size 0 deletes it (a missing level is ignored)."""
        sizes = self.sizes
        if size == 0:
            if sizes.pop(price, None) is not None:
                prices = self.prices
                del prices[bisect_left(prices, price)]
        else:
            if price not in sizes:
                insort(self.prices, price)
            sizes[price] = size

    def replace(self, levels: tuple[Level, ...]) -> None:
        """Replace every level (zero sizes are skipped, the last duplicate wins)."""
        latest = dict(levels)
        self.sizes = {price: size for price, size in latest.items() if size}
        self.prices = sorted(self.sizes)

    def ascending(self, depth: int | None) -> tuple[Level, ...]:
        """The lowest ``depth`` levels, lowest first."""
        sizes = self.sizes
        prices = self.prices if depth is None else self.prices[:depth]
        return tuple([(price, sizes[price]) for price in prices])

    def descending(self, depth: int | None) -> tuple[Level, ...]:
        """The highest ``depth`` levels, highest first."""
        sizes = self.sizes
        prices = self.prices
        start = 0 if depth is None else max(len(prices) - depth, 0)
        return tuple([(price, sizes[price]) for price in reversed(prices[start:])])

    def clone(self) -> _BookSide:
        """An independent copy."""
        other = _BookSide()
        other.sizes = dict(self.sizes)
        other.prices = list(self.prices)
        return other


class OrderBook:
    """An L2 book. Bids are best (highest) first, asks best (lowest) first."""

    __slots__ = ("_asks", "_bids")

    def __init__(self) -> None:
        self._bids = _BookSide()
        self._asks = _BookSide()

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the whole book. Raises ``BookError`` (book untouched) on negative values."""
        new_bids, new_asks = _validated(bids), _validated(asks)
        self._bids.replace(new_bids)
        self._asks.replace(new_asks)

    def apply_delta(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Set levels; size 0 deletes. Raises ``BookError`` (book untouched) on negative values."""
        new_bids, new_asks = _validated(bids), _validated(asks)
        for side, levels in ((self._bids, new_bids), (self._asks, new_asks)):
            if not levels:  # a delta often changes one side only
                continue
            sizes, prices = side.sizes, side.prices  # ``_BookSide.set``, inlined
            for price, size in levels:
                if size == 0:
                    if sizes.pop(price, None) is not None:
                        del prices[bisect_left(prices, price)]
                else:
                    if price not in sizes:
                        insort(prices, price)
                    sizes[price] = size

    def top(self, depth: int | None = None) -> TopLevels:
        """The best ``depth`` levels of each side (all of them if ``depth`` is None)."""
        if depth is not None and depth < 0:
            raise ValueError(f"depth must be >= 0, not {depth}")
        return self._bids.descending(depth), self._asks.ascending(depth)

    def best_bid(self) -> Level | None:
        """The highest bid, if any."""
        prices = self._bids.prices
        return (prices[-1], self._bids.sizes[prices[-1]]) if prices else None

    def best_ask(self) -> Level | None:
        """The lowest ask, if any."""
        prices = self._asks.prices
        return (prices[0], self._asks.sizes[prices[0]]) if prices else None

    def is_crossed(self) -> bool:
        """True when both sides exist and the best bid is at or above the best ask."""
        bids, asks = self._bids.prices, self._asks.prices
        return bool(bids and asks and bids[-1] >= asks[0])

    def copy(self) -> OrderBook:
        """An independent copy of the book."""
        other = OrderBook()
        other._bids = self._bids.clone()
        other._asks = self._asks.clone()
        return other

    def __len__(self) -> int:
        """The number of levels on both sides."""
        return len(self._bids.prices) + len(self._asks.prices)

    def __repr__(self) -> str:
        return f"OrderBook(bids={len(self._bids.prices)}, asks={len(self._asks.prices)})"

"""One side of a price-time-priority order book: resting orders queued per price level."""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass

from tickcast.model.events import Level, Order, OrderStatus, OrderType, Side


@dataclass(slots=True)
class RestingOrder:
    """A live order owned by the matching engine (mutable)."""

    id: str
    party: str
    side: Side
    type: OrderType
    price: int
    size: int
    """Total size: filled plus remaining."""
    remaining: int
    created_ns: int

    @property
    def status(self) -> OrderStatus:
        """ACTIVE, PARTIALLY_FILLED or FILLED from the fill state."""
        if self.remaining == 0:
            return OrderStatus.FILLED
        if self.remaining < self.size:
            return OrderStatus.PARTIALLY_FILLED
        return OrderStatus.ACTIVE

    def event(self, market: str, now_ns: int, status: OrderStatus | None = None) -> Order:
        """The order's current state as an ``Order`` event."""
        return Order(
            market=market,
            id=self.id,
            party=self.party,
            side=self.side,
            type=self.type,
            price=self.price,
            size=self.size,
            remaining=self.remaining,
            status=status or self.status,
            created_ns=self.created_ns,
            time_ns=now_ns,
        )


class Ladder:
    """Price levels of one side, each a FIFO queue of orders, with aggregated sizes."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self._prices: list[int] = []
        """Ascending; the best bid is last, the best ask first."""
        self._queues: dict[int, dict[str, RestingOrder]] = {}
        self._sizes: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._prices)

    def best_price(self) -> int | None:
        """The best price of this side, or None when empty."""
        if not self._prices:
            return None
        return self._prices[-1] if self.side is Side.BUY else self._prices[0]

    def best(self) -> Level | None:
        """The best level (price, aggregated size), or None when empty."""
        price = self.best_price()
        return None if price is None else (price, self._sizes[price])

    def head(self, price: int) -> RestingOrder:
        """The oldest order at a price level."""
        return next(iter(self._queues[price].values()))

    def size_at(self, price: int) -> int:
        """The aggregated resting size at a price (0 when no level)."""
        return self._sizes.get(price, 0)

    def matches(self, price: int | None) -> bool:
        """Whether an incoming opposite order limited at ``price`` crosses this side's best."""
        best = self.best_price()
        if best is None:
            return False
        if price is None:
            return True
        return price <= best if self.side is Side.BUY else price >= best

    def add(self, order: RestingOrder) -> None:
        """Queue an order at the back of its price level."""
        queue = self._queues.get(order.price)
        if queue is None:
            queue = self._queues[order.price] = {}
            self._sizes[order.price] = 0
            insort(self._prices, order.price)
        queue[order.id] = order
        self._sizes[order.price] += order.remaining

    def reduce(self, order: RestingOrder, amount: int) -> None:
        """Take ``amount`` off a resting order in place (keeps priority); drop it at zero."""
        order.remaining -= amount
        self._sizes[order.price] -= amount
        if order.remaining == 0:
            self._drop(order)

    def remove(self, order: RestingOrder) -> None:
        """Take a resting order off the book entirely."""
        self._sizes[order.price] -= order.remaining
        self._drop(order)

    def _drop(self, order: RestingOrder) -> None:
        """Unlink an order from its queue and delete the level when it empties."""
        queue = self._queues[order.price]
        del queue[order.id]
        if not queue:
            del self._queues[order.price]
            del self._sizes[order.price]
            del self._prices[bisect_left(self._prices, order.price)]

    def levels(self, depth: int | None = None) -> tuple[Level, ...]:
        """Aggregated levels, best first, optionally limited to ``depth``."""
        prices = reversed(self._prices) if self.side is Side.BUY else iter(self._prices)
        out: list[Level] = []
        for price in prices:
            if depth is not None and len(out) >= depth:
                break
            out.append((price, self._sizes[price]))
        return tuple(out)

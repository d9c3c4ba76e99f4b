"""Live limit orders per market and the number of them at each price level. Pure.

The state keeper already holds every open order of each ``orders`` stream; this adds the
orders that exist without ever having been published (a simulator seeds its books with resting
maker orders): they count until an event about the same order replaces them. A pipeline stage at
``Step.DERIVE`` (only while seeded orders remain, it looks at ``Order`` events at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tickcast.model import Envelope, Order, OrderStatus, OrderType, Side, StreamKey, StreamKind
from tickcast.state.keeper import StateKeeper

LIVE = (OrderStatus.ACTIVE, OrderStatus.PARTIALLY_FILLED)


def is_live_limit(order: Order) -> bool:
    return order.status in LIVE and order.type is OrderType.LIMIT


class LiveOrders:
    """Live limit orders: the keeper's open orders plus the seeded ones."""

    def __init__(self, keeper: StateKeeper) -> None:
        self._keeper = keeper
        self._seeded: dict[str, dict[str, Order]] = {}
        """Per market, by order id: seeded orders no event has replaced yet."""

    def seed(self, orders: Iterable[Order]) -> None:
        """Live orders that exist without having been published: in later snapshots and level
        counts, never sent as updates."""
        for order in orders:
            if is_live_limit(order):
                self._seeded.setdefault(order.market, {})[order.id] = order

    def __call__(self, envelopes: Sequence[Envelope]) -> None:
        """The pipeline stage: a published order replaces its seeded copy."""
        if not self._seeded:
            return
        for envelope in envelopes:
            event = envelope.event
            if isinstance(event, Order):
                seeded = self._seeded.get(event.market)
                if seeded is not None and seeded.pop(event.id, None) is not None and not seeded:
                    del self._seeded[event.market]

    def orders(self, market: str) -> list[Order]:
        """The market's live limit orders (seeded first, then published, by id)."""
        out = list(self._seeded.get(market, {}).values())
        snapshot = self._keeper.snapshot(str(StreamKey(StreamKind.ORDERS, market)))
        if snapshot is not None:
            out += [e for e in snapshot.events if isinstance(e, Order) and is_live_limit(e)]
        return out

    def counts(self, market: str) -> dict[tuple[Side, int], int]:
        """Live limit orders per (side, price) level of ``market``."""
        counts: dict[tuple[Side, int], int] = {}
        for order in self.orders(market):
            level = (order.side, order.price)
            counts[level] = counts.get(level, 0) + 1
        return counts

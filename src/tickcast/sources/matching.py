"""A per-market price-time-priority limit order book matching engine.

Every operation returns the events it caused, in this order: trades interleaved with the
resting (maker) orders' updates, the incoming order's own update, one ``BookDelta`` listing
each changed L2 level once with its new aggregated size (0 = removed), and a ``Quote`` when
the best bid or ask (price or size) changed. Trades execute at the resting order's price.
Self-trades are prevented by cancelling the resting order. The book is never left crossed.
"""

from __future__ import annotations

from collections.abc import Iterable

from tickcast.errors import BookError
from tickcast.model.events import (
    BookDelta,
    BookSnapshot,
    Event,
    Level,
    Order,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    Trade,
)
from tickcast.model.markets import Market
from tickcast.sources.ladder import Ladder, RestingOrder

_QuoteKey = tuple[int, int, int, int]


class _Operation:
    """Collects the events and level changes of one engine operation."""

    def __init__(self, engine: MatchingEngine, now_ns: int) -> None:
        self.now_ns = now_ns
        self.events: list[Event] = []
        self.touched: dict[tuple[Side, int], int] = {}
        self.quote_before = engine.quote_key()

    def touch(self, ladder: Ladder, price: int) -> None:
        """Remember a level's size before its first change in this operation."""
        self.touched.setdefault((ladder.side, price), ladder.size_at(price))


class MatchingEngine:
    """The order book of one market, with price-time priority matching."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self._bids = Ladder(Side.BUY)
        self._asks = Ladder(Side.SELL)
        self._orders: dict[str, RestingOrder] = {}
        self._next_order = 1
        self._next_trade = 1
        self._last_ns = 0

    # -- queries ---------------------------------------------------------------------------

    def best_bid(self) -> Level | None:
        """The best bid level, or None."""
        return self._bids.best()

    def best_ask(self) -> Level | None:
        """The best ask level, or None."""
        return self._asks.best()

    def levels(self, side: Side, depth: int | None = None) -> tuple[Level, ...]:
        """Aggregated levels of one side, best first."""
        return self._ladder(side).levels(depth)

    def order(self, order_id: str) -> Order | None:
        """The current state of a live (resting) order, or None when it is not on the book."""
        resting = self._orders.get(order_id)
        return None if resting is None else resting.event(self.market.id, self._last_ns)

    def has_order(self, order_id: str) -> bool:
        """Whether an order is resting on the book."""
        return order_id in self._orders

    def resting_orders(self) -> list[Order]:
        """Every live (resting) order, oldest first."""
        return [resting.event(self.market.id, self._last_ns) for resting in self._orders.values()]

    def quote_key(self) -> _QuoteKey:
        """(bid price, bid size, ask price, ask size); zeros for an empty side."""
        bid = self._bids.best() or (0, 0)
        ask = self._asks.best() or (0, 0)
        return (bid[0], bid[1], ask[0], ask[1])

    def snapshot(self, now_ns: int | None = None, depth: int | None = None) -> BookSnapshot:
        """The full (or ``depth``-limited) L2 book; time defaults to the last operation's."""
        return BookSnapshot(
            market=self.market.id,
            bids=self._bids.levels(depth),
            asks=self._asks.levels(depth),
            time_ns=self._last_ns if now_ns is None else now_ns,
        )

    # -- operations ------------------------------------------------------------------------

    def place_limit(
        self, party: str, side: Side, price: int, size: int, now_ns: int
    ) -> tuple[str, list[Event]]:
        """Place a limit order; it matches what it crosses and the remainder rests."""
        self._check_price(price)
        self._check_size(size)
        order = self._new_order(party, side, OrderType.LIMIT, price, size, now_ns)
        op = _Operation(self, now_ns)
        self._match(op, order, price)
        if order.remaining:
            self._rest(op, order)
        op.events.append(order.event(self.market.id, now_ns))
        return order.id, self._finish(op)

    def place_market(
        self, party: str, side: Side, size: int, now_ns: int
    ) -> tuple[str, list[Event]]:
        """Sweep the opposite side for ``size``; any unfilled remainder is cancelled."""
        self._check_size(size)
        order = self._new_order(party, side, OrderType.MARKET, 0, size, now_ns)
        op = _Operation(self, now_ns)
        self._match(op, order, None)
        status = OrderStatus.FILLED if order.remaining == 0 else OrderStatus.CANCELLED
        op.events.append(order.event(self.market.id, now_ns, status))
        return order.id, self._finish(op)

    def amend(
        self, order_id: str, now_ns: int, *, price: int | None = None, size: int | None = None
    ) -> list[Event]:
        """Change a resting order's price and/or remaining size.

        Reducing the size at the same price keeps time priority; a price change or a size
        increase re-queues the order (and may match). A size of 0 cancels. Unknown ids (for
        instance already filled orders) are ignored and return no events.
        """
        order = self._orders.get(order_id)
        if order is None:
            return []
        new_price = order.price if price is None else price
        new_remaining = order.remaining if size is None else size
        if new_remaining == 0:
            return self.cancel(order_id, now_ns)
        self._check_price(new_price)
        self._check_size(new_remaining)
        op = _Operation(self, now_ns)
        ladder = self._ladder(order.side)
        op.touch(ladder, order.price)
        if new_price == order.price and new_remaining <= order.remaining:
            order.size -= order.remaining - new_remaining
            ladder.reduce(order, order.remaining - new_remaining)
        else:
            self._requeue(op, order, new_price, new_remaining)
        op.events.append(order.event(self.market.id, now_ns))
        return self._finish(op)

    def cancel(self, order_id: str, now_ns: int) -> list[Event]:
        """Take a resting order off the book; unknown ids return no events."""
        order = self._orders.get(order_id)
        if order is None:
            return []
        op = _Operation(self, now_ns)
        self._cancel_resting(op, order)
        return self._finish(op)

    # -- internals -------------------------------------------------------------------------

    def _ladder(self, side: Side) -> Ladder:
        return self._bids if side is Side.BUY else self._asks

    def _new_order(
        self, party: str, side: Side, kind: OrderType, price: int, size: int, now_ns: int
    ) -> RestingOrder:
        order_id = str(self._next_order)
        self._next_order += 1
        self._last_ns = max(self._last_ns, now_ns)
        return RestingOrder(order_id, party, side, kind, price, size, size, now_ns)

    def _requeue(self, op: _Operation, order: RestingOrder, price: int, remaining: int) -> None:
        """Pull an order, change it, and re-enter it as if new (losing priority)."""
        ladder = self._ladder(order.side)
        ladder.remove(order)
        del self._orders[order.id]
        order.size += remaining - order.remaining
        order.remaining = remaining
        order.price = price
        self._match(op, order, price)
        if order.remaining:
            self._rest(op, order)

    def _rest(self, op: _Operation, order: RestingOrder) -> None:
        ladder = self._ladder(order.side)
        op.touch(ladder, order.price)
        ladder.add(order)
        self._orders[order.id] = order

    def _cancel_resting(self, op: _Operation, order: RestingOrder) -> None:
        ladder = self._ladder(order.side)
        op.touch(ladder, order.price)
        ladder.remove(order)
        del self._orders[order.id]
        op.events.append(order.event(self.market.id, op.now_ns, OrderStatus.CANCELLED))

    def _match(self, op: _Operation, taker: RestingOrder, limit: int | None) -> None:
        """Fill ``taker`` against the opposite side while it crosses ``limit``."""
        book = self._asks if taker.side is Side.BUY else self._bids
        while taker.remaining and book.matches(limit):
            price = book.best_price()
            assert price is not None
            maker = book.head(price)
            if maker.party == taker.party:
                self._cancel_resting(op, maker)
                continue
            fill = min(taker.remaining, maker.remaining)
            op.touch(book, price)
            book.reduce(maker, fill)
            taker.remaining -= fill
            if maker.remaining == 0:
                del self._orders[maker.id]
            op.events.append(self._trade(taker, maker, price, fill, op.now_ns))
            op.events.append(maker.event(self.market.id, op.now_ns))

    def _trade(
        self, taker: RestingOrder, maker: RestingOrder, price: int, size: int, now_ns: int
    ) -> Trade:
        trade_id = str(self._next_trade)
        self._next_trade += 1
        buyer, seller = (taker, maker) if taker.side is Side.BUY else (maker, taker)
        return Trade(
            market=self.market.id,
            id=trade_id,
            price=price,
            size=size,
            side=taker.side,
            time_ns=now_ns,
            buyer=buyer.party,
            seller=seller.party,
        )

    def _finish(self, op: _Operation) -> list[Event]:
        """Append the BookDelta and Quote an operation caused."""
        self._last_ns = max(self._last_ns, op.now_ns)
        bids = self._changed(op, self._bids)
        asks = self._changed(op, self._asks)
        if bids or asks:
            op.events.append(BookDelta(self.market.id, bids, asks, op.now_ns))
        after = self.quote_key()
        if after != op.quote_before:
            op.events.append(Quote(self.market.id, *after, time_ns=op.now_ns))
        return op.events

    @staticmethod
    def _changed(op: _Operation, ladder: Ladder) -> tuple[Level, ...]:
        levels: Iterable[Level] = (
            (price, ladder.size_at(price))
            for (side, price), before in op.touched.items()
            if side is ladder.side and ladder.size_at(price) != before
        )
        return tuple(sorted(levels, reverse=ladder.side is Side.BUY))

    def _check_price(self, price: int) -> None:
        if price <= 0 or price % self.market.tick:
            raise BookError(f"price {price} is not a positive multiple of the tick")

    def _check_size(self, size: int) -> None:
        if size <= 0 or size % self.market.lot:
            raise BookError(f"size {size} is not a positive multiple of the lot")

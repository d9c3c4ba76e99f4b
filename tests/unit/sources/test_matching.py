"""The price-time-priority matching engine."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tickcast.errors import BookError
from tickcast.model.events import (
    BookDelta,
    Event,
    Order,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    Trade,
)
from tickcast.model.markets import Market, MarketKind
from tickcast.sources.matching import MatchingEngine

MARKET = Market(
    id="sim-abc-usd-spot",
    exchange="sim",
    kind=MarketKind.SPOT,
    base="abc",
    quote="usd",
    symbol="ABCUSD",
    price_decimals=2,
    size_decimals=3,
    tick=5,
    lot=10,
)
T = 1_000


def of(events: list[Event], kind: type) -> list:  # type: ignore[type-arg]
    """The events of one type."""
    return [e for e in events if isinstance(e, kind)]


def engine_with_asks(*asks: tuple[str, int, int]) -> MatchingEngine:
    """An engine with resting asks (party, price, size) placed in order."""
    engine = MatchingEngine(MARKET)
    for party, price, size in asks:
        engine.place_limit(party, Side.SELL, price, size, T)
    return engine


def test_matching_limit_rests_when_not_crossing() -> None:
    """A non-crossing limit order rests: ACTIVE order, one-level delta, new quote."""
    engine = MatchingEngine(MARKET)
    order_id, events = engine.place_limit("a", Side.BUY, 1000, 50, T)
    assert [type(e) for e in events] == [Order, BookDelta, Quote]
    order = events[0]
    assert isinstance(order, Order)
    assert (order.id, order.status, order.remaining, order.type) == (
        order_id,
        OrderStatus.ACTIVE,
        50,
        OrderType.LIMIT,
    )
    assert events[1] == BookDelta(MARKET.id, ((1000, 50),), (), T)
    assert events[2] == Quote(MARKET.id, 1000, 50, 0, 0, T)


def test_matching_price_time_priority() -> None:
    """Better prices fill first, then earlier orders at the same price."""
    engine = engine_with_asks(("a", 1010, 30), ("b", 1010, 30), ("c", 1005, 30))
    _, events = engine.place_limit("t", Side.BUY, 1010, 70, T)
    trades = of(events, Trade)
    assert [(t.seller, t.price, t.size) for t in trades] == [
        ("c", 1005, 30),
        ("a", 1010, 30),
        ("b", 1010, 10),
    ]
    assert engine.best_ask() == (1010, 20)


def test_matching_partial_fill_of_resting_order() -> None:
    """A smaller taker partially fills the maker, who keeps the rest on the book."""
    engine = engine_with_asks(("m", 1000, 100))
    _, events = engine.place_limit("t", Side.BUY, 1000, 30, T)
    maker, taker = of(events, Order)
    assert (maker.party, maker.status, maker.remaining) == ("m", OrderStatus.PARTIALLY_FILLED, 70)
    assert (taker.party, taker.status, taker.remaining) == ("t", OrderStatus.FILLED, 0)
    assert of(events, BookDelta) == [BookDelta(MARKET.id, (), ((1000, 70),), T)]
    assert of(events, Quote) == [Quote(MARKET.id, 0, 0, 1000, 70, T)]


def test_matching_crossing_limit_rests_remainder() -> None:
    """A crossing limit order takes what it can and rests the rest at its limit."""
    engine = engine_with_asks(("m", 1000, 20), ("m", 1005, 20), ("m", 1020, 20))
    order_id, events = engine.place_limit("t", Side.BUY, 1005, 60, T)
    assert sum(t.size for t in of(events, Trade)) == 40
    taker = of(events, Order)[-1]
    assert (taker.id, taker.status, taker.remaining) == (
        order_id,
        OrderStatus.PARTIALLY_FILLED,
        20,
    )
    assert engine.best_bid() == (1005, 20)
    assert engine.best_ask() == (1020, 20)
    (delta,) = of(events, BookDelta)
    assert delta.bids == ((1005, 20),)
    assert delta.asks == ((1000, 0), (1005, 0))


def test_matching_market_order_sweeps_levels() -> None:
    """A market order walks up the asks, each trade at the resting price."""
    engine = engine_with_asks(("a", 1000, 20), ("b", 1005, 20), ("c", 1010, 40))
    _, events = engine.place_market("t", Side.BUY, 60, T)
    assert [(t.price, t.size) for t in of(events, Trade)] == [(1000, 20), (1005, 20), (1010, 20)]
    taker = of(events, Order)[-1]
    assert (taker.type, taker.status, taker.price) == (OrderType.MARKET, OrderStatus.FILLED, 0)
    (delta,) = of(events, BookDelta)
    assert delta.asks == ((1000, 0), (1005, 0), (1010, 20))
    assert of(events, Quote)[-1] == Quote(MARKET.id, 0, 0, 1010, 20, T)


def test_matching_market_order_remainder_cancelled() -> None:
    """A market order larger than the book fills what exists and cancels the rest."""
    engine = engine_with_asks(("a", 1000, 20))
    order_id, events = engine.place_market("t", Side.BUY, 50, T)
    taker = of(events, Order)[-1]
    assert (taker.status, taker.remaining) == (OrderStatus.CANCELLED, 30)
    assert engine.best_ask() is None
    assert not engine.has_order(order_id)
    _, empty = engine.place_market("t", Side.BUY, 50, T)
    assert [type(e) for e in empty] == [Order]


def test_matching_amend_size_decrease_keeps_priority() -> None:
    """Reducing size at the same price keeps the order's place in the queue."""
    engine = MatchingEngine(MARKET)
    first, _ = engine.place_limit("a", Side.SELL, 1000, 50, T)
    engine.place_limit("b", Side.SELL, 1000, 50, T)
    events = engine.amend(first, T, size=20)
    assert of(events, Order)[0].size == 20
    assert of(events, BookDelta) == [BookDelta(MARKET.id, (), ((1000, 70),), T)]
    _, events = engine.place_limit("t", Side.BUY, 1000, 20, T)
    assert of(events, Trade)[0].seller == "a"


def test_matching_amend_price_change_loses_priority() -> None:
    """A price change re-queues the order behind others, even when moved back."""
    engine = MatchingEngine(MARKET)
    first, _ = engine.place_limit("a", Side.SELL, 1000, 50, T)
    engine.place_limit("b", Side.SELL, 1000, 50, T)
    engine.amend(first, T, price=1005)
    events = engine.amend(first, T, price=1000)
    assert of(events, BookDelta)[0].asks == ((1000, 100), (1005, 0))
    _, events = engine.place_limit("t", Side.BUY, 1000, 20, T)
    assert of(events, Trade)[0].seller == "b"


def test_matching_amend_size_increase_loses_priority() -> None:
    """Increasing size re-queues the order at the back of its level."""
    engine = MatchingEngine(MARKET)
    first, _ = engine.place_limit("a", Side.SELL, 1000, 50, T)
    engine.place_limit("b", Side.SELL, 1000, 50, T)
    engine.amend(first, T, size=80)
    assert engine.best_ask() == (1000, 130)
    _, events = engine.place_limit("t", Side.BUY, 1000, 20, T)
    assert of(events, Trade)[0].seller == "b"


def test_matching_amend_through_the_book_trades() -> None:
    """Amending a bid above the best ask matches like a new crossing order."""
    engine = engine_with_asks(("m", 1005, 30))
    bid, _ = engine.place_limit("t", Side.BUY, 1000, 50, T)
    events = engine.amend(bid, T, price=1010)
    assert [(t.price, t.size, t.side) for t in of(events, Trade)] == [(1005, 30, Side.BUY)]
    order = of(events, Order)[-1]
    assert (order.id, order.status, order.remaining) == (bid, OrderStatus.PARTIALLY_FILLED, 20)
    assert engine.best_bid() == (1010, 20)
    assert engine.best_ask() is None


def test_matching_cancel_removes_order() -> None:
    """Cancel emits CANCELLED and deletes the emptied level; unknown ids are ignored."""
    engine = MatchingEngine(MARKET)
    order_id, _ = engine.place_limit("a", Side.BUY, 1000, 50, T)
    events = engine.cancel(order_id, T)
    assert of(events, Order)[0].status is OrderStatus.CANCELLED
    assert of(events, BookDelta) == [BookDelta(MARKET.id, ((1000, 0),), (), T)]
    assert of(events, Quote) == [Quote(MARKET.id, 0, 0, 0, 0, T)]
    assert engine.cancel(order_id, T) == []
    assert engine.amend(order_id, T, size=10) == []


def test_matching_trade_buyer_seller_and_side() -> None:
    """The aggressor's side is the trade side; buyer and seller are the right parties."""
    engine = MatchingEngine(MARKET)
    engine.place_limit("bidder", Side.BUY, 1000, 50, T)
    engine.place_limit("asker", Side.SELL, 1010, 50, T)
    _, sell = engine.place_market("seller", Side.SELL, 10, T)
    _, buy = engine.place_market("buyer", Side.BUY, 10, T)
    (t1,) = of(sell, Trade)
    (t2,) = of(buy, Trade)
    assert (t1.side, t1.buyer, t1.seller, t1.price) == (Side.SELL, "bidder", "seller", 1000)
    assert (t2.side, t2.buyer, t2.seller, t2.price) == (Side.BUY, "buyer", "asker", 1010)
    assert t1.id != t2.id


def test_matching_self_trade_cancels_resting_order() -> None:
    """An order never trades with its own party: the resting order is cancelled."""
    engine = engine_with_asks(("a", 1000, 20), ("b", 1005, 20))
    _, events = engine.place_market("a", Side.BUY, 20, T)
    cancelled = of(events, Order)[0]
    assert (cancelled.party, cancelled.status) == ("a", OrderStatus.CANCELLED)
    assert [(t.seller, t.price) for t in of(events, Trade)] == [("b", 1005)]


def test_matching_rejects_off_tick_and_off_lot() -> None:
    """Prices must be positive tick multiples and sizes positive lot multiples."""
    engine = MatchingEngine(MARKET)
    with pytest.raises(BookError):
        engine.place_limit("a", Side.BUY, 1001, 50, T)
    with pytest.raises(BookError):
        engine.place_limit("a", Side.BUY, 1000, 55, T)
    with pytest.raises(BookError):
        engine.place_market("a", Side.BUY, 0, T)


def random_operation(engine: MatchingEngine, rng: random.Random, live: list[str]) -> list[Event]:
    """One random place/amend/cancel/market operation around a price of 10000."""
    roll = rng.random()
    side = rng.choice([Side.BUY, Side.SELL])
    size = rng.randint(1, 20) * MARKET.lot
    price = rng.randint(1980, 2020) * MARKET.tick
    if roll < 0.45 or not live:
        order_id, events = engine.place_limit(f"p{rng.randint(0, 5)}", side, price, size, T)
        live.append(order_id)
        return events
    if roll < 0.9:
        order_id = rng.choice(live)
        if roll < 0.6:
            return engine.cancel(order_id, T)
        if roll < 0.75:
            return engine.amend(order_id, T, price=price)
        return engine.amend(order_id, T, size=size)
    return engine.place_market(f"p{rng.randint(0, 5)}", side, size, T)[1]


def test_matching_random_operations_keep_l2_consistent(l2_books: Any) -> None:
    """Snapshot + deltas always rebuild snapshot(); never crossed; quotes match the book."""
    rng = random.Random(7)
    engine = MatchingEngine(MARKET)
    l2_books.feed([engine.snapshot(T)])
    live: list[str] = []
    trade_ids: set[str] = set()
    for _ in range(3000):
        events = random_operation(engine, rng, live)
        live[:] = [oid for oid in live if engine.has_order(oid)]
        l2_books.feed(events)
        for delta in of(events, BookDelta):
            for levels in (delta.bids, delta.asks):
                assert len({price for price, _ in levels}) == len(levels)
        for trade in of(events, Trade):
            assert trade.id not in trade_ids
            trade_ids.add(trade.id)
        snapshot = engine.snapshot()
        assert l2_books.books[MARKET.id].levels() == (snapshot.bids, snapshot.asks)
    assert len(trade_ids) > 100

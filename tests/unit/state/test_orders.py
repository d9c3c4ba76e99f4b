"""LiveOrders: the keeper's open limit orders plus seeded ones until an event replaces them."""

from __future__ import annotations

from tickcast.model import Envelope, Order, OrderStatus, OrderType, Side, stream_of
from tickcast.state.keeper import StateKeeper
from tickcast.state.orders import LiveOrders

MARKET = "binance-btc-usdt-spot"


def _order(
    n: int, status: OrderStatus = OrderStatus.ACTIVE, kind: OrderType = OrderType.LIMIT
) -> Order:
    return Order(MARKET, str(n), "p", Side.BUY, kind, 100 + n % 2, 5, 5, status, n, n)


def _publish(keeper: StateKeeper, orders: LiveOrders, *events: Order) -> None:
    envelopes = [Envelope(str(stream_of(e)), 1, "e", e, 0) for e in events]
    keeper.apply_all(envelopes)
    orders(envelopes)


def test_seeded_orders_count_until_replaced_and_only_live_limit_orders_count() -> None:
    keeper = StateKeeper()
    orders = LiveOrders(keeper)
    orders.seed([_order(1), _order(2), _order(3, OrderStatus.FILLED)])
    _publish(keeper, orders, _order(4), _order(5, kind=OrderType.MARKET))
    assert sorted(o.id for o in orders.orders(MARKET)) == ["1", "2", "4"]
    assert orders.counts(MARKET) == {(Side.BUY, 101): 1, (Side.BUY, 100): 2}
    _publish(
        keeper, orders, _order(1, OrderStatus.CANCELLED), _order(2, OrderStatus.PARTIALLY_FILLED)
    )
    assert sorted(o.id for o in orders.orders(MARKET)) == ["2", "4"]
    assert [o.status for o in orders.orders(MARKET) if o.id == "2"] == [
        OrderStatus.PARTIALLY_FILLED
    ]
    assert orders.orders("elsewhere") == [] and orders.counts("elsewhere") == {}

"""VegaState: per-block batching, filters, snapshots, depth sequences, the account model."""

from __future__ import annotations

import json
from typing import Any

from tickcast.dialects.vega.endpoint.state import VegaState
from tickcast.dialects.vega.wire.accounts import DEPOSIT
from tickcast.dialects.vega.wire.filters import Filter, StreamName
from tickcast.dialects.vega.wire.ids import candle_id, market_hex
from tickcast.model import (
    BookDelta,
    BookSnapshot,
    Envelope,
    Event,
    Market,
    MarketKind,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Trade,
    stream_of,
)

BTC = Market("binance-btc-usdt-spot", "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 5)
ETH = Market("binance-eth-usdt-spot", "binance", MarketKind.SPOT, "eth", "usdt", "ETHUSDT", 2, 4)
ALICE, BOB, CAROL = "a" * 64, "b" * 64, "c" * 64
T0 = 1_700_000_000_000_000_000


def _state() -> VegaState:
    return VegaState([BTC, ETH], [ALICE, BOB, CAROL])


def _feed(state: VegaState, *events: Event, collect: bool = True) -> None:
    envelopes = [
        Envelope(str(stream_of(event)), n, "e", event, 0) for n, event in enumerate(events, 1)
    ]
    state.apply(envelopes, collect=collect)


def _trade(n: int, buyer: str, seller: str, market: Market = BTC) -> Trade:
    return Trade(market.id, str(n), 8_700_000 + n, 100, Side.BUY, T0 + n, buyer, seller)


def _order(n: int, party: str, status: OrderStatus = OrderStatus.ACTIVE) -> Order:
    return Order(
        BTC.id, str(n), party, Side.SELL, OrderType.LIMIT, 8_700_000 + n, 10, 10, status,
        T0 + n, T0 + n,
    )  # fmt: skip


def _decoded(lines: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def test_trades_are_batched_per_block_and_filtered_by_party() -> None:
    state = _state()
    everyone = Filter(StreamName.TRADES)
    alice = Filter(StreamName.TRADES, parties=frozenset({ALICE}))
    _feed(state, _trade(1, ALICE, BOB), _trade(2, BOB, CAROL), _trade(3, CAROL, ALICE))
    block = state.flush(T0 + 10, collect=True)
    (line,) = _decoded(block.lines(everyone, 0))
    trades = line["result"]["trades"]
    assert [t["buyer"] for t in trades] == [ALICE, BOB, CAROL]
    assert trades[0]["aggressor"] == 1 and trades[0]["type"] == 1
    assert trades[0]["size"] == "100" and trades[0]["price"] == "8700001"
    assert trades[0]["timestamp"] == str(T0 + 1)
    assert trades[0]["marketId"] == market_hex(BTC.id)
    (only,) = _decoded(block.lines(alice, 0))
    assert [(t["buyer"], t["seller"]) for t in only["result"]["trades"]] == [
        (ALICE, BOB),
        (CAROL, ALICE),
    ]
    # the same filter shares the same bytes; an empty next block yields nothing
    assert block.lines(alice, 0)[0] is block.lines(alice, 0)[0]
    assert state.flush(T0 + 20, collect=True).lines(everyone, 0) == []


def test_more_than_50_updates_in_a_block_are_chunked() -> None:
    state = _state()
    _feed(state, *(_trade(n, ALICE, BOB) for n in range(120)))
    lines = _decoded(state.flush(T0, collect=True).lines(Filter(StreamName.TRADES), 0))
    assert [len(line["result"]["trades"]) for line in lines] == [50, 50, 20]


def test_orders_snapshot_is_live_orders_newest_first_then_updates_after_join() -> None:
    state = _state()
    _feed(state, _order(1, ALICE), _order(2, BOB), _order(3, ALICE))
    _feed(state, _order(4, ALICE), _order(4, ALICE, OrderStatus.FILLED))
    selection = Filter(StreamName.ORDERS, parties=frozenset({ALICE}))
    (page,) = _decoded(state.snapshot(selection))
    snapshot = page["result"]["snapshot"]
    assert snapshot["lastPage"] is True
    assert [o["createdAt"] for o in snapshot["orders"]] == [str(T0 + 3), str(T0 + 1)]
    assert all(o["status"] == 1 and o["partyId"] == ALICE for o in snapshot["orders"])
    joined = state.index
    _feed(state, _order(3, ALICE, OrderStatus.CANCELLED), _order(5, BOB))
    (line,) = _decoded(state.flush(T0, collect=True).lines(selection, joined))
    (update,) = line["result"]["updates"]["orders"]
    assert update["status"] == 3 and update["createdAt"] == str(T0 + 3)


def test_empty_snapshot_for_a_party_without_orders() -> None:
    state = _state()
    selection = Filter(StreamName.ORDERS, parties=frozenset({CAROL}))
    assert _decoded(state.snapshot(selection)) == [{"result": {"snapshot": {"lastPage": True}}}]


def test_depth_updates_chain_sequence_numbers_and_depth_is_the_whole_book() -> None:
    state = _state()
    _feed(state, BookSnapshot(BTC.id, ((100, 5), (99, 1)), ((101, 2),), T0))
    first = state.flush(T0 + 1_234_567, collect=True)
    _feed(state, BookDelta(BTC.id, ((99, 0),), ((101, 7),), T0 + 5))
    second = state.flush(T0 + 2_000_000, collect=True)
    updates = Filter(StreamName.DEPTH_UPDATES)
    (a,) = _decoded(first.lines(updates, 0))[0]["result"]["update"]
    (b,) = _decoded(second.lines(updates, 0))[0]["result"]["update"]
    assert int(a["sequenceNumber"]) == (T0 + 1_234_000) + 1
    assert "previousSequenceNumber" not in a
    assert b["previousSequenceNumber"] == a["sequenceNumber"]
    assert b["buy"] == [{"price": "99"}]  # removed level: volume 0 omitted
    assert b["sell"] == [{"price": "101", "volume": "7"}]
    (depth,) = _decoded(second.lines(Filter(StreamName.MARKETS_DEPTH), 0))[0]["result"][
        "marketDepth"
    ]
    assert depth["buy"] == [{"price": "100", "volume": "5"}]
    assert depth["sequenceNumber"] == b["sequenceNumber"]
    assert state.depth.last_sequence(BTC.id) == int(b["sequenceNumber"])


def test_candles_follow_trades_of_their_market() -> None:
    state = _state()
    _feed(state, _trade(1, ALICE, BOB), _trade(2, ALICE, BOB), _trade(3, ALICE, BOB, ETH))
    selection = Filter(StreamName.CANDLES, candle_id=candle_id("1 minute", market_hex(BTC.id)))
    (line,) = _decoded(state.flush(T0, collect=True).lines(selection, 0))
    candle = line["result"]["candle"]
    assert candle["open"] == "8700001" and candle["close"] == "8700002"
    assert candle["volume"] == "200" and candle["lastUpdate"] == str(T0 + 2)


def test_position_changes_move_margin_and_pnl_through_the_ledger() -> None:
    state = _state()
    opened = Position(BTC.id, ALICE, 100_000, 8_700_000, 0, 0, 8_700_000, T0)
    closed = Position(BTC.id, ALICE, 0, 0, 50_000, 0, 8_750_000, T0 + 1)
    _feed(state, opened)
    first = state.flush(T0, collect=True)
    (levels,) = _decoded(first.lines(Filter(StreamName.MARGIN_LEVELS), 0))
    margin = levels["result"]["marginLevels"]
    # 1 BTC at 87,000.00 USDT: maintenance 10 % = 8,700 USDT in 6 decimals
    assert margin["maintenanceMargin"] == str(8_700 * 10**6)
    assert margin["initialMargin"] == str(8_700 * 12 * 10**5)
    (ledger,) = _decoded(first.lines(Filter(StreamName.LEDGER), 0))
    (entry,) = ledger["result"]["ledgerMovement"]["entries"]
    assert entry["type"] == 6 and entry["amount"] == margin["initialMargin"]
    _feed(state, closed)
    second = state.flush(T0 + 1, collect=True)
    (ledger,) = _decoded(second.lines(Filter(StreamName.LEDGER), 0))
    entries = ledger["result"]["ledgerMovement"]["entries"]
    assert [e["type"] for e in entries] == [5, 7]  # MTM win 500 USDT, margin released
    assert entries[0]["amount"] == str(500 * 10**6)
    general = Filter(StreamName.ACCOUNTS, parties=frozenset({ALICE}), account_type=4)
    (accounts,) = _decoded(second.lines(general, 0))
    (balance,) = accounts["result"]["updates"]["accounts"]
    assert balance["balance"] == str(DEPOSIT + 500 * 10**6)
    (page,) = _decoded(state.snapshot(general))
    assert page["result"]["snapshot"]["accounts"] == [balance]


def test_only_streams_with_subscribers_are_collected() -> None:
    state = _state()
    _feed(state, _trade(1, ALICE, BOB), collect=False)
    assert state.flush(T0, collect=True).lines(Filter(StreamName.TRADES), 0) == []
    only_orders = frozenset({StreamName.ORDERS})
    trade, order = _trade(2, ALICE, BOB), _order(3, ALICE)
    envelopes = [Envelope(str(stream_of(trade)), 1, "e", trade, 0)]
    envelopes.append(Envelope(str(stream_of(order)), 2, "e", order, 0))
    state.apply(envelopes, collect=only_orders)
    block = state.flush(T0, collect=only_orders)
    assert block.lines(Filter(StreamName.TRADES), 0) == []
    assert len(block.lines(Filter(StreamName.ORDERS), 0)) == 1


def test_unknown_ids_are_not_found() -> None:
    state = _state()
    assert state.unknown(Filter(StreamName.TRADES, parties=frozenset({ALICE}))) is None
    missing = state.unknown(Filter(StreamName.TRADES, markets=frozenset({"d" * 64})))
    assert missing is not None
    assert json.loads(missing)["error"]["code"] == 5
    bad_candle = Filter(StreamName.CANDLES, candle_id="trades_candle_1_minute_" + "d" * 64)
    assert state.unknown(bad_candle) is not None


def test_seeded_orders_are_in_snapshots_but_never_sent_as_updates() -> None:
    state = _state()
    state.seed_orders([_order(1, ALICE), _order(2, ALICE, OrderStatus.FILLED)])
    selection = Filter(StreamName.ORDERS, parties=frozenset({ALICE}))
    (page,) = _decoded(state.snapshot(selection))
    assert [o["createdAt"] for o in page["result"]["snapshot"]["orders"]] == [str(T0 + 1)]
    assert state.flush(T0, collect=True).lines(selection, 0) == []


def test_depth_levels_count_their_live_limit_orders() -> None:
    state = _state()
    live = OrderStatus.ACTIVE
    same_price = [
        Order(BTC.id, str(n), ALICE, Side.BUY, OrderType.LIMIT, 100, 5, 5, live, T0, T0)
        for n in (1, 2)
    ]
    state.seed_orders(same_price)
    _feed(state, BookSnapshot(BTC.id, ((100, 10),), (), T0))
    (depth,) = state.flush(T0, collect=True).lines(Filter(StreamName.MARKETS_DEPTH), 0)
    assert json.loads(depth)["result"]["marketDepth"][0]["buy"] == [
        {"price": "100", "numberOfOrders": "2", "volume": "10"}
    ]
    cancelled = Order(
        BTC.id, "2", ALICE, Side.BUY, OrderType.LIMIT, 100, 5, 5, OrderStatus.CANCELLED, T0, T0
    )
    _feed(state, cancelled, BookDelta(BTC.id, ((100, 5),), (), T0))
    (update,) = state.flush(T0, collect=True).lines(Filter(StreamName.DEPTH_UPDATES), 0)
    assert json.loads(update)["result"]["update"][0]["buy"] == [
        {"price": "100", "numberOfOrders": "1", "volume": "5"}
    ]

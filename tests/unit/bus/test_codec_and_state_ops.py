"""The bus's event codec and STATE-stream field maps, without Redis."""

from __future__ import annotations

import pytest

from tickcast.bus.codec import decode_event, encode_event
from tickcast.bus.names import stream_name
from tickcast.bus.state_ops import Ops, events_from_fields, ops_json, state_ops
from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Candle,
    Envelope,
    Event,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Prediction,
    Quote,
    Side,
    Ticker,
    Trade,
    TradesGap,
    stream_of,
)
from tickcast.state import StateKeeper

M = "acme-foo-usd-spot"
PARTY = "ab" * 32
EVERY_KIND: list[Event] = [
    Trade(M, "t1", 10050, 1000, Side.SELL, 5, PARTY, None),
    BookSnapshot(M, ((100, 1), (99, 2)), ((101, 3),), 6, checksum=4294967295),
    BookDelta(M, ((100, 0),), (), 7),
    Quote(M, 99, 1, 101, 2, 8),
    Candle(M, "1m", 0, 1, 3, 0, 2, 10, 20, 4, 9),
    Ticker("btc", 2, 8725050, 8600000, 8800000, 8500000, 123456789, 5, 10),
    AssetMetric("btc", "PriceUSD", 8725050, 2, 11),
    Order(M, "o1", PARTY, Side.BUY, OrderType.MARKET, 0, 5, 2, OrderStatus.PARTIALLY_FILLED, 1, 12),
    Position(M, PARTY, -5, 100, -20, 3, 101, 13),
    Prediction("mm", "v1", "0.42", 14, (("spread", "1.5"), ("vol", "0.2"))),
]


@pytest.mark.parametrize("event", EVERY_KIND, ids=lambda e: type(e).__name__)
def test_every_event_kind_round_trips(event: Event) -> None:
    assert decode_event(encode_event(event)) == event


@pytest.mark.parametrize("data", [b"", b"{}", b'["Nope", 1]', b'["Trade", "m"]', b"[1]"])
def test_garbage_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_event(data)


def apply(fields: dict[str, str], ops: Ops) -> None:
    """What the publish script does with an Ops."""
    if ops.reset:
        fields.clear()
    for name, value in ops.changes:
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value


def folded(events: list[Event], stream: str) -> StateKeeper:
    keeper = StateKeeper()
    for seq, event in enumerate(events, 1):
        keeper.apply(Envelope(stream, seq, "e", event, 0))
    return keeper


@pytest.mark.parametrize(
    ("stream", "events"),
    [
        (
            f"book:{M}",
            [
                BookSnapshot(M, ((100, 1), (99, 2)), ((101, 3), (102, 1)), 1),
                BookDelta(M, ((100, 0), (98, 7)), ((101, 4),), 2),
                BookDelta(M, ((97, 1),), ((102, 0), (103, 9)), 3),
            ],
        ),
        (
            f"orders:{M}",
            [
                Order(M, "a", PARTY, Side.BUY, OrderType.LIMIT, 99, 5, 5, OrderStatus.ACTIVE, 1, 1),
                Order(
                    M, "b", PARTY, Side.SELL, OrderType.LIMIT, 101, 5, 5, OrderStatus.ACTIVE, 2, 2
                ),
                Order(M, "a", PARTY, Side.BUY, OrderType.LIMIT, 99, 5, 0, OrderStatus.FILLED, 1, 3),
            ],
        ),
        (f"quotes:{M}", [Quote(M, 99, 1, 101, 2, 1), Quote(M, 98, 1, 100, 2, 2)]),
        (
            "metrics:btc",
            [
                AssetMetric("btc", "PriceUSD", 1, 2, 1),
                AssetMetric("btc", "ReferenceRateUSD", 2, 2, 2),
            ],
        ),
        (f"positions:{M}", [Position(M, PARTY, 1, 100, 0, 0, 100, 1)]),
    ],
)
def test_the_field_map_rebuilds_the_keepers_state(stream: str, events: list[Event]) -> None:
    fields: dict[str, str] = {}
    for event in events:
        ops = state_ops(event)
        assert ops is not None
        apply(fields, ops)
    live = folded(events, stream).snapshot(stream)
    rebuilt = folded(events_from_fields(fields), stream).snapshot(stream)
    assert live is not None and rebuilt is not None
    if stream.startswith("book:"):
        assert isinstance(rebuilt.events[0], BookSnapshot)
        assert isinstance(live.events[0], BookSnapshot)
        assert (rebuilt.events[0].bids, rebuilt.events[0].asks) == (
            live.events[0].bids,
            live.events[0].asks,
        )
    else:
        assert rebuilt.events == live.events


def test_event_streams_keep_no_state() -> None:
    assert state_ops(EVERY_KIND[0]) is None
    assert state_ops(EVERY_KIND[4]) is None
    assert state_ops(EVERY_KIND[9]) is None


def test_stream_name_is_the_stream_of_every_kind_cached_or_not() -> None:
    others = [
        Trade("acme-bar-usd-spot", "t9", 1, 1, Side.BUY, 1),
        BookDelta("acme-bar-usd-spot", (), ((1, 1),), 2),
        TradesGap(M, 3),
    ]
    for _ in range(2):  # the second round reads the cache
        for event in [*EVERY_KIND, *others]:
            assert stream_name(event) == str(stream_of(event))


def test_ops_json_is_the_ops_of_every_kind() -> None:
    deltas: list[Event] = [
        BookDelta(M, ((100, 0), (99, 7)), ((101, 0),), 20),
        BookDelta(M, (), ((10**18, 5),), 21),
        BookDelta(M, (), (), 22),
    ]
    for event in [*EVERY_KIND, *deltas]:
        ops = state_ops(event)
        assert ops_json(event) == (ops.to_json() if ops is not None else b"")

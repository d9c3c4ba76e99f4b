"""The HistoryStore contract's ``latest`` (the last event per key at or before T), on SQLite and
on PostgreSQL: it equals the live keeper's snapshot after the stream's last event at or before T,
with keyed checkpoints and without."""

from __future__ import annotations

import random

import pytest
from tests.unit.history.conftest import Opener

from tickcast.clock import ManualClock
from tickcast.history.base import HistoryStore
from tickcast.history.books import Checkpoint
from tickcast.history.keyed import KeyedCheckpointer, KeyedState
from tickcast.history.rows import Row, row_of
from tickcast.history.service import History
from tickcast.model import (
    AssetMetric,
    Envelope,
    Event,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    StreamPosition,
)
from tickcast.state import StateKeeper

T0 = 1_767_225_600_000_000_000  # 2026-01-01
MARKET = "binance-btc-usdt-spot"
STATUSES = [OrderStatus.ACTIVE, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
            OrderStatus.CANCELLED, OrderStatus.ACTIVE]  # fmt: skip


def metric(rng: random.Random, seq: int) -> Event:
    name = rng.choice(["PriceUSD", "ReferenceRateUSD", "SplyCur", "CapMrktCurUSD"])
    return AssetMetric("btc", name, rng.randrange(1, 10**6), 2, T0 + seq * 1_000)


def order(rng: random.Random, seq: int) -> Event:
    ident = str(rng.randrange(6))  # few ids: orders end and come back
    status = rng.choice(STATUSES)
    return Order(MARKET, ident, rng.choice("ab"), Side.BUY, OrderType.LIMIT, 100, 5,
                 rng.randrange(6), status, T0, T0 + seq * 1_000)  # fmt: skip


def position(rng: random.Random, seq: int) -> Event:
    party = rng.choice(["alice", "bob", "carol"])
    return Position(MARKET, party, rng.randrange(-9, 9), 100, 0, 0, 101, T0 + seq * 1_000)


MAKERS = {"metrics:btc": metric, f"orders:{MARKET}": order, f"positions:{MARKET}": position}


def stream_rows(stream: str, epoch: str, count: int, seed: int) -> list[Row]:
    rng, make = random.Random(seed), MAKERS[stream]
    return [
        row_of(Envelope(stream, seq, epoch, make(rng, seq), 0), T0 + seq * 1_000 + 7)
        for seq in range(1, count + 1)
    ]


def keyed_checkpoints(rows: list[Row], every: int) -> list[Checkpoint]:
    checkpointer = KeyedCheckpointer(every_events=every, every_ns=10**18)
    found = (checkpointer.observe(row, row.event) for row in rows)
    return [checkpoint for checkpoint in found if checkpoint is not None]


def keeper_events(rows: list[Row], stream: str, upto_seq: int) -> list[Event]:
    keeper = StateKeeper()
    keeper.apply_all([row.envelope() for row in rows if row.seq <= upto_seq])
    snapshot = keeper.snapshot(stream)
    return list(snapshot.events) if snapshot is not None else []


@pytest.mark.parametrize("stream", sorted(MAKERS))
@pytest.mark.parametrize("every", [0, 7])
async def test_latest_equals_the_live_state_at_every_time(
    store: HistoryStore, stream: str, every: int
) -> None:
    """At the time of every row (and between rows), ``latest`` lists what the live keeper held
    after that row, in the keeper's order; checkpoints every 7 rows or none at all."""
    rows = stream_rows(stream, "e1", 60, seed=len(stream) + every)
    checkpoints = keyed_checkpoints(rows, every) if every else []
    await store.append(rows, checkpoints)
    assert await store.latest(stream, T0) == []
    for row in rows:
        for time_ns in (row.time_ns, row.time_ns + 500):
            found = await store.latest(stream, time_ns)
            assert [r.event for r in found] == keeper_events(rows, stream, row.seq)
            assert all(r.time_ns <= time_ns and r.epoch == "e1" for r in found)
    checkpoint = await store.checkpoint_at(stream, rows[-1].time_ns)
    assert (checkpoint is not None) is bool(every)


async def test_a_new_epoch_starts_empty_and_old_epochs_stay_as_they_were(
    store: HistoryStore,
) -> None:
    """After a restart (new epoch) the state holds only the new epoch's keys; a time in the old
    epoch still gets the old state, even with a later checkpoint of the new epoch stored."""
    stream = "metrics:btc"
    old = stream_rows(stream, "old", 30, seed=1)
    new = [r._replace(time_ns=r.time_ns + 10**9) for r in stream_rows(stream, "new", 2, seed=2)]
    await store.append(old, keyed_checkpoints(old, 5))
    await store.append(new, keyed_checkpoints(new, 1))
    latest_new = await store.latest(stream, new[-1].time_ns)
    assert [r.event for r in latest_new] == keeper_events(new, stream, 2)
    latest_old = await store.latest(stream, old[-1].time_ns + 1)
    assert [r.event for r in latest_old] == keeper_events(old, stream, 30)


async def test_one_event_streams_give_their_last_row_and_others_nothing(
    store: HistoryStore,
) -> None:
    quotes = f"quotes:{MARKET}"
    rows = [
        row_of(Envelope(quotes, seq, "e1", Quote(MARKET, 1, 1, 2, 1, T0 + seq), 0), 0)
        for seq in (1, 2, 3)
    ]
    await store.append(rows, [])
    assert [r.seq for r in await store.latest(quotes, T0 + 2)] == [2]
    assert await store.latest(quotes, T0) == []
    assert await store.latest(f"trades:{MARKET}", T0 + 3) == []
    assert await store.latest(f"book:{MARKET}", T0 + 3) == []


def test_keyed_checkpoints_only_while_the_state_is_known() -> None:
    """From seq 1 of an epoch; a skipped seq (or joining mid-epoch) stops them for the epoch;
    the next epoch's seq 1 starts again. A checkpoint decodes to the state it was cut from."""
    rows = stream_rows(f"orders:{MARKET}", "e1", 12, seed=3)
    checkpointer = KeyedCheckpointer(every_events=2, every_ns=10**18)
    first = [checkpointer.observe(row, row.event) for row in rows[:6]]
    assert [c.seq for c in first if c is not None] == [1, 3, 5]
    assert all(checkpointer.observe(row, row.event) is None for row in rows[7:])  # 7 skipped
    again = [r._replace(epoch="e2") for r in rows[:2]]
    found = [checkpointer.observe(row, row.event) for row in again]
    assert [c.seq for c in found if c is not None] == [1]
    cut = first[4]
    assert cut is not None
    stored = Row(cut.stream, "orders", cut.epoch, cut.seq, cut.time_ns, 0, cut.data)
    state = KeyedState.decode(stored)
    assert [r.event for r in state.rows.values()] == keeper_events(rows, cut.stream, 5)
    with pytest.raises(ValueError, match="keyed checkpoint"):
        KeyedState.decode(stored._replace(data=b"[1]"))


async def test_events_after_counts_the_rest_of_an_epoch_later_epochs_and_live(
    opener: Opener,
) -> None:
    """``History.events_after`` (what ``history_depth`` is checked against): within the live
    epoch the seq difference; from an older epoch its stored rest, the stored epochs after it,
    and the live epoch's seq."""
    history = History(opener, clock=ManualClock(), writes=False)
    await history.start()
    try:
        stream = "metrics:btc"
        for epoch, count in (("a", 30), ("b", 12), ("c", 5)):
            await history.reader.append(stream_rows(stream, epoch, count, seed=4), [])
        live = StreamPosition(9, "c")
        assert await history.events_after(stream, StreamPosition(4, "c"), live) == 5
        assert await history.events_after(stream, StreamPosition(25, "a"), live) == 5 + 12 + 9
        assert await history.events_after(stream, StreamPosition(3, "b"), live) == 9 + 9
        assert await history.events_after(stream, StreamPosition(3, "gone"), live) == 9
    finally:
        await history.stop()

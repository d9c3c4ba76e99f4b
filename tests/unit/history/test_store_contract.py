"""The HistoryStore contract, on SQLite and on PostgreSQL (``opener`` in conftest.py)."""

from __future__ import annotations

import dataclasses

import pytest
from tests.unit.history.conftest import Opener

from tickcast.history.base import HistoryStore
from tickcast.history.books import Checkpoint
from tickcast.history.retention import DAY_NS
from tickcast.history.rows import Row, row_of
from tickcast.model import BookSnapshot, Envelope, Market, MarketKind, Side, Trade

T0 = 1_767_225_600_000_000_000  # 2026-01-01
TRADES = "trades:binance-btc-usdt-spot"
BOOK = "book:binance-btc-usdt-spot"
MARKET = "binance-btc-usdt-spot"


def trade_rows(epoch: str, count: int, *, start_seq: int = 1, step_ns: int = 1_000) -> list[Row]:
    rows = []
    for seq in range(start_seq, start_seq + count):
        trade = Trade("binance-btc-usdt-spot", str(seq), 100 + seq, 1, Side.BUY, T0 + seq * step_ns)
        rows.append(row_of(Envelope(TRADES, seq, epoch, trade, 0), T0 + seq * step_ns + 5))
    return rows


def seqs(rows: list[Row]) -> list[int]:
    return [row.seq for row in rows]


async def test_append_then_range_returns_rows_in_time_order_with_every_field(
    store: HistoryStore,
) -> None:
    """Rows come back whole (decoded event equal), in time order, within inclusive bounds."""
    written = trade_rows("e1", 10)
    await store.append(written, [])
    found = await store.range(TRADES, T0 + 3_000, T0 + 7_000, limit=100)
    assert seqs(found) == [3, 4, 5, 6, 7]
    first = found[0]
    assert (first.stream, first.kind, first.epoch, first.time_ns, first.recv_ns) == (
        TRADES, "trades", "e1", T0 + 3_000, T0 + 3_005,
    )  # fmt: skip
    assert first.event == written[2].event
    assert first.envelope().position.seq == 3
    assert await store.range("trades:other-btc-usd-spot", None, None, limit=10) == []


async def test_range_pages_with_cursor_both_directions(store: HistoryStore) -> None:
    """A cursor (the last row's id) continues a page exactly where it stopped, forwards and
    backwards, without repeating or skipping a row."""
    await store.append(trade_rows("e1", 25), [])
    forward: list[Row] = []
    after = None
    while page := await store.range(TRADES, None, None, limit=7, after=after):
        forward += page
        after = page[-1].id
    assert seqs(forward) == list(range(1, 26))
    backward: list[Row] = []
    after = None
    while page := await store.range(TRADES, None, None, limit=6, after=after, descending=True):
        backward += page
        after = page[-1].id
    assert seqs(backward) == list(range(25, 0, -1))


async def test_since_replays_one_epoch_in_seq_order(store: HistoryStore) -> None:
    """``since`` stays in the epoch asked for; epochs lists both, oldest first."""
    await store.append(trade_rows("old", 5), [])
    await store.append(trade_rows("new", 3, step_ns=10_000), [])
    assert seqs(await store.since(TRADES, "old", 2, limit=10)) == [3, 4, 5]
    assert seqs(await store.since(TRADES, "new", 0, limit=2)) == [1, 2]
    assert seqs(await store.since(TRADES, "old", 0, limit=10, until_ns=T0 + 2_000)) == [1, 2]
    assert await store.since(TRADES, "unknown", 0, limit=10) == []
    spans = await store.epochs(TRADES)
    assert [(s.epoch, s.first_seq, s.last_seq, s.rows) for s in spans] == [
        ("old", 1, 5, 5), ("new", 1, 3, 3),
    ]  # fmt: skip


async def test_checkpoints_newest_at_or_before(store: HistoryStore) -> None:
    """checkpoint_at picks the newest checkpoint at or before the time; none before the first."""
    snapshots = [Checkpoint(BOOK, "e1", seq, T0 + seq, b"[]") for seq in (10, 20, 30)]
    await store.append([], snapshots)
    assert await store.checkpoint_at(BOOK, T0 + 9) is None
    found = await store.checkpoint_at(BOOK, T0 + 25)
    assert found is not None and (found.seq, found.epoch) == (20, "e1")
    listed = await store.checkpoints(BOOK, T0 + 10, T0 + 30, limit=2)
    assert seqs(listed) == [10, 20]
    rest = await store.checkpoints(BOOK, T0 + 10, T0 + 30, limit=2, after=listed[-1].id)
    assert seqs(rest) == [30]


async def test_rows_survive_reopening(opener: Opener, store: HistoryStore) -> None:
    """What one store instance wrote, another on the same database reads (a restart)."""
    await store.append(trade_rows("e1", 4), [Checkpoint(BOOK, "e1", 1, T0, b"x")])
    again = opener()
    await again.open()
    try:
        assert seqs(await again.range(TRADES, None, None, limit=10)) == [1, 2, 3, 4]
        assert (await again.checkpoint_at(BOOK, T0)) is not None
        await again.append(trade_rows("e2", 1), [])
        assert [s.epoch for s in await store.epochs(TRADES)] == ["e1", "e2"]
    finally:
        await again.close()


async def test_expire_removes_old_rows_of_limited_kinds_in_chunks(store: HistoryStore) -> None:
    """Rows older than their kind's cut-off go, at most ``max_rows`` per stream per call; other
    kinds and newer rows stay."""
    old = trade_rows("e1", 5, step_ns=DAY_NS)  # days 1..5 after T0
    await store.append(old, [Checkpoint(BOOK, "e1", 1, T0, b"x")])
    cutoff = T0 + 3 * DAY_NS + 1  # days 1, 2, 3 expire
    assert await store.expire({"trades": cutoff}, max_rows=2) == 2
    assert await store.expire({"trades": cutoff}, max_rows=2) == 1
    assert await store.expire({"trades": cutoff}, max_rows=2) == 0
    assert seqs(await store.range(TRADES, None, None, limit=10)) == [4, 5]
    assert await store.checkpoint_at(BOOK, T0) is not None  # book has no cut-off here
    await store.expire({"book": T0 + 1}, max_rows=10)
    assert await store.checkpoint_at(BOOK, T0) is None


@pytest.mark.parametrize("count", [0, 1])
async def test_empty_and_single_batches(store: HistoryStore, count: int) -> None:
    """An empty batch writes nothing; a single row is found by every query."""
    await store.append(trade_rows("e1", count), [])
    assert len(await store.range(TRADES, None, None, limit=5)) == count
    assert len(await store.since(TRADES, "e1", 0, limit=5)) == count


async def test_scan_returns_every_stream_in_publish_order(store: HistoryStore) -> None:
    """``scan`` interleaves streams in insertion (publish) order, pages by id, filters by time."""
    book = [
        row_of(Envelope(BOOK, seq, "e1", BookSnapshot(MARKET, ((1, 1),), (), T0 + seq), 0), 0)
        for seq in (1, 2)
    ]
    trades = trade_rows("e1", 3)
    await store.append([trades[0], book[0], trades[1], book[1], trades[2]], [])
    found = await store.scan(None, None, after=0, limit=3)
    assert [(r.stream, r.seq) for r in found] == [(TRADES, 1), (BOOK, 1), (TRADES, 2)]
    rest = await store.scan(None, None, after=found[-1].id, limit=10)
    assert [(r.stream, r.seq) for r in rest] == [(BOOK, 2), (TRADES, 3)]
    assert rest[0].event == book[1].event
    timed = await store.scan(T0 + 2, T0 + 2, after=0, limit=10)
    assert {(r.stream, r.seq) for r in timed} == {(BOOK, 2)}


async def test_markets_are_stored_and_replaced(opener: Opener, store: HistoryStore) -> None:
    """Market definitions survive reopening; the latest definition of an id wins."""
    first = Market(MARKET, "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 4)
    other = Market("acme-foo-usd-spot", "acme", MarketKind.SPOT, "foo", "usd", "FOOUSD", 3, 1)
    await store.put_markets([first, other])
    await store.put_markets([dataclasses.replace(first, price_decimals=1)])
    again = opener()
    await again.open()
    try:
        found = await again.markets()
    finally:
        await again.close()
    assert found == [other, dataclasses.replace(first, price_decimals=1)]


async def test_one_append_of_interleaved_streams_and_epochs(store: HistoryStore) -> None:
    """Rows of several (stream, epoch) in one append, interleaved and in one-stream runs (the
    SQLite store groups a slice of one stream without a per-row loop), read back per stream."""
    other = "trades:binance-eth-usdt-spot"
    rows: list[Row] = []
    for seq in range(1, 1_501):  # a one-stream run, interleaved streams, interleaved epochs
        stream, epoch = (TRADES, "e1") if seq <= 600 or seq % 2 else (other, "e2")
        if seq > 1_200:
            stream, epoch = TRADES, ("e1" if seq % 2 else "e3")
        trade = Trade(stream[7:], str(seq), 100 + seq, 1, Side.BUY, T0 + seq)
        rows.append(row_of(Envelope(stream, seq, epoch, trade, 0), T0 + seq))
    await store.append(rows[:1_200], [])
    await store.append(rows[1_200:], [])  # one slice: one stream, two epochs
    for stream in (TRADES, other):
        found = await store.range(stream, None, None, limit=10_000)
        expected = [row for row in rows if row.stream == stream]
        assert [(r.seq, r.epoch, r.data) for r in found] == [
            (r.seq, r.epoch, r.data) for r in expected
        ]
    assert [r.seq for r in await store.since(TRADES, "e3", 0, limit=1_000)] == list(
        range(1_202, 1_501, 2)
    )

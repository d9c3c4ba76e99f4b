"""Segment layout: encoding, and the store contract where segments make it hard (small appends
merged into one segment, out-of-order times, overlapping segments, partial expiry), on SQLite
and PostgreSQL alike."""

from __future__ import annotations

import random

import pytest
from tests.unit.history.test_store_contract import T0, TRADES, seqs, trade_rows

from tickcast.history.base import HistoryStore
from tickcast.history.rows import Row
from tickcast.history.segments import columns_of, decode, encode
from tickcast.history.sqlite_segments import SEGMENT_EVENTS


def test_encode_decode_round_trip_keeps_columns_and_order_flags() -> None:
    columns = columns_of(
        [1, 5, 9], [3, 1, 2], [-(2**63), 0, 2**63 - 1], [7, 8, 9], [b"a", b"", b"xyz"]
    )
    again = decode(encode(columns))
    assert again == columns
    assert again.flags == columns.flags == 1  # time order, not seq order
    assert decode(encode(columns_of([], [], [], [], []))) == columns_of([], [], [], [], [])
    with pytest.raises(ValueError):
        decode(b"\x01")
    with pytest.raises(ValueError):
        decode(encode(columns)[:-1])


def shuffled_times(rows: list[Row], seed: int) -> list[Row]:
    """The rows with their times permuted (exchange times out of publish order)."""
    times = [row.time_ns for row in rows]
    random.Random(seed).shuffle(times)
    return [row._replace(time_ns=time) for row, time in zip(rows, times, strict=True)]


async def all_pages(store: HistoryStore, limit: int, descending: bool) -> list[Row]:
    found: list[Row] = []
    after = None
    while page := await store.range(
        TRADES, T0 + 50_000, T0 + 250_000, limit=limit, after=after, descending=descending
    ):
        found += page
        after = page[-1].id
    return found


async def test_small_appends_and_out_of_order_times_read_back_in_order(
    store: HistoryStore,
) -> None:
    """Appends of 1 to 7 rows (merged into shared segments), times shuffled within each append
    and overlapping across appends: pages in (time, id) order both ways, seq order for since,
    id order for scan."""
    rows = shuffled_times(trade_rows("e1", 300), seed=1)
    rng = random.Random(2)
    at = 0
    while at < len(rows):
        size = rng.randrange(1, 8)
        await store.append(rows[at : at + size], [])
        at += size
    stored = await store.range(TRADES, None, None, limit=1_000)
    assert len(stored) == 300
    assert [(r.time_ns, r.id) for r in stored] == sorted((r.time_ns, r.id) for r in stored)
    wanted = [r for r in stored if T0 + 50_000 <= r.time_ns <= T0 + 250_000]
    assert await all_pages(store, 17, descending=False) == wanted
    assert await all_pages(store, 13, descending=True) == wanted[::-1]
    assert seqs(await store.since(TRADES, "e1", 100, limit=50)) == list(range(101, 151))
    ids = sorted(r.id for r in stored)
    scanned = await store.scan(None, None, after=ids[0], limit=40)
    assert [r.id for r in scanned] == ids[1:41]


async def test_large_batch_spans_segments_and_expires_oldest_first(store: HistoryStore) -> None:
    """A batch longer than a segment reads back whole; expiry removes the oldest rows in chunks
    across segment boundaries."""
    count = SEGMENT_EVENTS * 2 + 10
    await store.append(trade_rows("e1", count), [])
    assert seqs(await store.range(TRADES, None, None, limit=count + 1)) == list(range(1, count + 1))
    cutoff = T0 + (SEGMENT_EVENTS + 5) * 1_000 + 1  # rows 1 .. SEGMENT_EVENTS + 5 expire
    removed = [await store.expire({"trades": cutoff}, max_rows=700) for _ in range(3)]
    assert removed == [700, SEGMENT_EVENTS + 5 - 700, 0]
    left = await store.range(TRADES, None, None, limit=count)
    assert seqs(left) == list(range(SEGMENT_EVENTS + 6, count + 1))
    spans = await store.epochs(TRADES)
    assert [(s.first_seq, s.last_seq, s.rows) for s in spans] == [
        (SEGMENT_EVENTS + 6, count, count - SEGMENT_EVENTS - 5)
    ]

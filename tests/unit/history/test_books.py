"""Books at any instant: checkpoints plus deltas rebuild exactly what the live checksummer had."""

from __future__ import annotations

import random
from pathlib import Path

from tickcast.book import OrderBook, book_checksum
from tickcast.bus.codec import encode_event
from tickcast.clock import ManualClock
from tickcast.history.books import Checkpointer, rebuild
from tickcast.history.rows import row_of
from tickcast.history.service import History
from tickcast.history.sqlite import SqliteHistory
from tickcast.model import BookDelta, BookSnapshot, Envelope, Event, Market, MarketCatalog
from tickcast.model.markets import MarketKind
from tickcast.state import BookChecksummer

MARKET = Market("binance-btc-usdt-spot", "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 4)
STREAM = f"book:{MARKET.id}"
T0 = 1_767_225_600_000_000_000


def book_events(count: int, seed: int) -> list[Event]:
    """A snapshot, then random deltas (adds, changes, deletes) with one more snapshot midway."""
    rng = random.Random(seed)
    events: list[Event] = []
    for n in range(count):
        time_ns = T0 + n * 7_000_000  # 7 ms apart: 10 s checkpoints every ~1 430 events
        if n in (0, count // 2):
            bids = tuple((10_000 - i, 1 + i) for i in range(30))
            asks = tuple((10_001 + i, 1 + i) for i in range(30))
            events.append(BookSnapshot(MARKET.id, bids, asks, time_ns))
            continue
        bids = tuple(
            (10_000 - rng.randrange(40), rng.choice((0, rng.randrange(1, 50)))) for _ in range(2)
        )
        asks = tuple(
            (10_001 + rng.randrange(40), rng.choice((0, rng.randrange(1, 50)))) for _ in range(2)
        )
        events.append(BookDelta(MARKET.id, bids, asks, time_ns))
    return events


def live(events: list[Event]) -> list[Envelope]:
    """Stamped as the node stamps them, in one epoch from seq 1."""
    annotated = BookChecksummer(catalog=MarketCatalog([MARKET])).annotate(events)
    return [Envelope(STREAM, seq, "e1", event, 0) for seq, event in enumerate(annotated, 1)]


def live_book_at(envelopes: list[Envelope], seq: int) -> OrderBook:
    book = OrderBook()
    for envelope in envelopes[:seq]:
        event = envelope.event
        assert isinstance(event, BookSnapshot | BookDelta)
        if isinstance(event, BookSnapshot):
            book = OrderBook()
            book.apply_snapshot(event.bids, event.asks)
        else:
            book.apply_delta(event.bids, event.asks)
    return book


def checksum(bids: tuple[tuple[int, int], ...], asks: tuple[tuple[int, int], ...]) -> int:
    return book_checksum(bids[:10], asks[:10], price_decimals=2, size_decimals=4)


def test_checkpointer_writes_at_snapshots_time_buckets_and_event_counts() -> None:
    """A checkpoint at each snapshot, each new 10 s bucket and every ``every_events`` events."""
    envelopes = live(book_events(3_000, seed=1))
    checkpointer = Checkpointer(every_events=500, every_ns=10_000_000_000)
    marks = [c.seq for e in envelopes if (c := checkpointer.observe(e)) is not None]
    assert marks[0] == 1 and 1_501 in marks  # the two snapshots
    assert all(b - a <= 500 for a, b in zip(marks, marks[1:], strict=False))
    assert len(marks) >= 3_000 // 500


def test_checkpointer_waits_for_a_snapshot_when_joining_mid_epoch() -> None:
    """Deltas of an epoch first seen after seq 1 give no checkpoint until a snapshot."""
    envelopes = live(book_events(100, seed=2))
    checkpointer = Checkpointer(every_events=1)
    assert [checkpointer.observe(e) for e in envelopes[10:49]] == [None] * 39
    assert checkpointer.observe(envelopes[50]) is not None  # count // 2 = 50: a snapshot


def test_rebuild_equals_live_level_for_level_at_every_seq() -> None:
    """From each checkpoint, every later seq's rebuilt book equals the live book and its
    checksum the one live stamped."""
    envelopes = live(book_events(400, seed=3))
    checkpointer = Checkpointer(every_events=97)
    rows = [row_of(e, 0) for e in envelopes]
    points = [(c.seq, c) for e in envelopes if (c := checkpointer.observe(e)) is not None]
    for start, point in points:
        base = row_of(Envelope(STREAM, point.seq, "e1", _decoded(point.data), 0), 0)
        for end in range(start, min(start + 120, len(rows)) + 1):
            state = rebuild(base, rows[start:end])
            assert state.seq == end
            assert (state.bids, state.asks) == live_book_at(envelopes, end).top()
            assert state.checksum == checksum(state.bids, state.asks)
            stamped = envelopes[end - 1].event
            assert isinstance(stamped, BookSnapshot | BookDelta)
            assert state.checksum == stamped.checksum


def _decoded(data: bytes) -> Event:
    from tickcast.bus.codec import decode_event

    return decode_event(data)


async def test_book_at_any_time_from_the_store(tmp_path: Path) -> None:
    """Written through the threaded writer, the book at random times equals the live book of
    the last event at or before that time."""
    clock = ManualClock()
    history = History(lambda: SqliteHistory(tmp_path / "h.sqlite3"), clock=clock)
    await history.start()
    envelopes = live(book_events(5_000, seed=4))
    for at in range(0, len(envelopes), 250):
        history.add(envelopes[at : at + 250])
    await history.flushed()
    rng = random.Random(5)
    for _ in range(25):
        seq = rng.randrange(1, len(envelopes) + 1)
        state = await history.book_at(STREAM, envelopes[seq - 1].event.time_ns + 1)
        assert state is not None and state.seq == seq
        assert (state.bids, state.asks) == live_book_at(envelopes, seq).top()
        assert state.checksum == checksum(state.bids, state.asks)
    assert await history.book_at(STREAM, T0 - 1) is None
    await history.stop()


def test_every_checkpoint_is_the_full_sorted_book_byte_for_byte() -> None:
    """The checkpointer's unordered book gives, at every seq, the bytes a checkpoint of the
    ordered ``OrderBook`` gives; a delta with a negative value drops the book until the next
    snapshot, as before."""
    events = book_events(1_200, seed=7)
    events.insert(300, BookDelta(MARKET.id, ((10_000, -1),), (), T0 + 300 * 7_000_000))
    envelopes = live(events[:300]) + [Envelope(STREAM, 301, "e1", events[300], 0)]
    rest = BookChecksummer(catalog=MarketCatalog([MARKET]))
    rest.annotate(events[:300])
    envelopes += [
        Envelope(STREAM, seq, "e1", event, 0)
        for seq, event in enumerate(rest.annotate(events[301:]), 302)
    ]
    resumed = next(
        e.seq for e in envelopes[301:] if isinstance(e.event, BookSnapshot)
    )  # refused at 301: no checkpoint until this snapshot
    checkpointer, book = Checkpointer(every_events=1), OrderBook()
    for envelope in envelopes:
        point = checkpointer.observe(envelope)
        event = envelope.event
        assert isinstance(event, BookSnapshot | BookDelta)
        if 301 <= envelope.seq < resumed:
            assert point is None
            continue
        if isinstance(event, BookSnapshot):
            book = OrderBook()
            book.apply_snapshot(event.bids, event.asks)
        else:
            book.apply_delta(event.bids, event.asks)
        assert point is not None
        bids, asks = book.top()
        snapshot = BookSnapshot(MARKET.id, bids, asks, event.time_ns, event.checksum)
        assert point.data == encode_event(snapshot)

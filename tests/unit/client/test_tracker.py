"""StreamTracker: positions, duplicate drop, hole detection and resets, without I/O."""

from __future__ import annotations

from tickcast.client.messages import (
    ChecksumMismatch,
    Gap,
    Reset,
    Snapshot,
    StreamStart,
    Subscribed,
    Update,
)
from tickcast.client.tracker import StreamTracker
from tickcast.model import StreamPosition

TRADES = "trades:binance-btc-usdt-spot"
BOOK = "book:binance-btc-usdt-spot"
QUOTES = "quotes:binance-btc-usdt-spot"


def tracker_with(stream: str, *, filtered: bool = False, seq: int = 5) -> StreamTracker:
    tracker = StreamTracker()
    tracker.add(stream, filtered=filtered)
    tracker.handle(Subscribed(1, (StreamStart(stream, "e1", seq),)))
    return tracker


def test_tracker_event_stream_starts_after_subscribed_seq() -> None:
    """A fresh event stream takes Subscribed's position as its baseline."""
    tracker = tracker_with(TRADES)
    assert tracker.positions == {TRADES: StreamPosition(5, "e1")}
    outcome = tracker.handle(Update(TRADES, 6, {}))
    assert outcome.messages == [Update(TRADES, 6, {})] and not outcome.resubscribe
    assert tracker.resume_from(TRADES) == StreamPosition(6, "e1")


def test_tracker_drops_duplicates() -> None:
    """Updates at or below the last seq are dropped and counted."""
    tracker = tracker_with(TRADES)
    tracker.handle(Update(TRADES, 6, {}))
    assert tracker.handle(Update(TRADES, 6, {})).messages == []
    assert tracker.handle(Update(TRADES, 3, {})).messages == []
    assert tracker.stats.duplicates == 2 and tracker.stats.updates == 1


def test_tracker_hole_in_event_stream_is_a_client_detected_gap() -> None:
    """A skipped seq yields Gap(client-detected), the update, and a resubscribe from it."""
    tracker = tracker_with(TRADES)
    outcome = tracker.handle(Update(TRADES, 9, {}))
    assert outcome.messages == [Gap(TRADES, "e1", 6, 8, "client-detected"), Update(TRADES, 9, {})]
    assert outcome.resubscribe == [TRADES]
    assert tracker.resume_from(TRADES) == StreamPosition(9, "e1")


def test_tracker_hole_in_filtered_stream_is_expected() -> None:
    """Party/depth views skip seqs legitimately: no gap is reported."""
    tracker = tracker_with(TRADES, filtered=True)
    outcome = tracker.handle(Update(TRADES, 9, {}))
    assert outcome.messages == [Update(TRADES, 9, {})] and not outcome.resubscribe


def test_tracker_hole_in_state_stream_waits_for_fresh_snapshot() -> None:
    """A state stream with a hole drops updates until a new snapshot, announced by Reset."""
    tracker = tracker_with(QUOTES)
    tracker.handle(Snapshot(QUOTES, "e1", 5, {}))
    outcome = tracker.handle(Update(QUOTES, 8, {}))
    assert outcome.messages == [Gap(QUOTES, "e1", 6, 7, "client-detected")]
    assert outcome.resubscribe == [QUOTES] and tracker.resume_from(QUOTES) is None
    assert tracker.handle(Update(QUOTES, 9, {})).messages == []
    fresh = Snapshot(QUOTES, "e1", 9, {})
    assert tracker.handle(fresh).messages == [Reset(QUOTES, "client-detected gap"), fresh]
    assert tracker.stats.resets == 1


def test_tracker_state_stream_ignores_updates_before_first_snapshot() -> None:
    """Updates of a state stream are only applied after its snapshot."""
    tracker = tracker_with(QUOTES)
    assert tracker.handle(Update(QUOTES, 6, {})).messages == []


def test_tracker_server_gap_moves_position_to_new_epoch() -> None:
    """A server Gap is passed on and the stream continues after its range."""
    tracker = tracker_with(TRADES)
    gap = Gap(TRADES, "e2", 1, 40, "epoch")
    assert tracker.handle(gap).messages == [gap]
    assert tracker.resume_from(TRADES) == StreamPosition(40, "e2")
    assert tracker.handle(Update(TRADES, 41, {})).messages == [Update(TRADES, 41, {})]


def test_tracker_book_checksum_mismatch_requests_fresh_snapshot() -> None:
    """A mismatching book update yields ChecksumMismatch, not the update, and asks a resubscribe."""
    tracker = tracker_with(BOOK)
    tracker.handle(Snapshot(BOOK, "e1", 5, {"bids": [["1.0", "1"]], "asks": []}))
    outcome = tracker.handle(Update(BOOK, 6, {"bids": [["1.0", "2"]], "asks": []}, checksum=1))
    assert len(outcome.messages) == 1 and isinstance(outcome.messages[0], ChecksumMismatch)
    assert outcome.resubscribe == [BOOK] and tracker.resume_from(BOOK) is None
    assert not tracker.books[BOOK].valid and tracker.stats.mismatches == 1

"""Books at any instant (sans-I/O): periodic full-book checkpoints plus the deltas after them.

Rules:

* A book stream's book is *known* from a ``BookSnapshot``, or from seq 1 of an epoch (the live
  checksummer starts every book empty, so a delta at seq 1 applies to an empty book). Anything
  else (the writer started mid-epoch, or a seq was skipped) makes it unknown until the next
  snapshot: no checkpoint is written from a book that might differ from the live one.
* While known, a checkpoint (the full book after ``seq``, as a ``BookSnapshot`` carrying the
  live checksum of that seq) is written at every snapshot, every ``every_events`` book events
  and whenever the event time crossed an ``every_ns`` boundary since the last one.
* The book at time T is the newest checkpoint at or before T, plus that epoch's events with a
  greater seq and a time at or before T, applied in seq order exactly as the live checksummer
  applies them (a snapshot replaces, a delta sets levels, size 0 deletes). The result carries
  the checksum the live stream stamped on its last event, so a reader can compare it with the
  checksum of the rebuilt levels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tickcast.book import OrderBook
from tickcast.bus.codec import encode_event
from tickcast.errors import BookError
from tickcast.history.rows import Row
from tickcast.model import BookDelta, BookSnapshot, Envelope, Level


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The full book of ``stream`` after ``(epoch, seq)``; ``data`` an encoded BookSnapshot."""

    stream: str
    epoch: str
    seq: int
    time_ns: int
    data: bytes


class _Levels:
    """The checkpointer's book: sizes by price per side, unordered. Between checkpoints only
    levels are set and deleted (a dict operation each, no ordering kept); a checkpoint sorts
    them once. The same rules as ``OrderBook`` (size 0 deletes, negative values refused)."""

    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def apply_snapshot(self, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> None:
        """Replace both sides (zero sizes skipped, the last duplicate wins); BookError if any
        value is negative (then the caller drops the book)."""
        _check(bids)
        _check(asks)
        self.bids = {price: size for price, size in dict(bids).items() if size}
        self.asks = {price: size for price, size in dict(asks).items() if size}

    def apply_delta(self, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> None:
        """Set levels in order, size 0 deletes; BookError if any value is negative (in one
        pass: the book may then be half applied, and the caller drops it)."""
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, size in levels:
                if price < 0 or size < 0:
                    raise BookError(f"negative price or size in level ({price}, {size})")
                if size:
                    side[price] = size
                else:
                    side.pop(price, None)

    def top(self) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Every level, best first (bids highest first, asks lowest first), as ``OrderBook``."""
        return tuple(sorted(self.bids.items(), reverse=True)), tuple(sorted(self.asks.items()))


def _check(levels: tuple[Level, ...]) -> None:
    for price, size in levels:
        if price < 0 or size < 0:
            raise BookError(f"negative price or size in level ({price}, {size})")


@dataclass
class _Tracked:
    epoch: str
    seq: int
    book: _Levels | None
    since: int = 0
    bucket: int = -1


class Checkpointer:
    def __init__(self, *, every_events: int = 2_000, every_ns: int = 10_000_000_000) -> None:
        self._every_events = every_events
        self._every_ns = every_ns
        self._streams: dict[str, _Tracked] = {}

    def observe(self, envelope: Envelope) -> Checkpoint | None:
        """Follow one book envelope (others are ignored); the checkpoint to write, if any."""
        event = envelope.event
        if type(event) is BookDelta:  # the common case first: the next delta of a known book
            tracked = self._streams.get(envelope.stream)
            if (
                tracked is not None
                and tracked.book is not None
                and tracked.epoch == envelope.epoch
                and tracked.seq + 1 == envelope.seq
            ):
                return self._next_delta(tracked, envelope, event, tracked.book)
        if not isinstance(event, BookSnapshot | BookDelta):
            return None
        tracked = self._streams.get(envelope.stream)
        continuous = (
            tracked is not None
            and tracked.epoch == envelope.epoch
            and tracked.seq + 1 == envelope.seq
        )
        if tracked is None or not continuous:
            book = _Levels() if envelope.seq == 1 else None
            tracked = self._streams[envelope.stream] = _Tracked(envelope.epoch, 0, book)
        tracked.seq = envelope.seq
        if isinstance(event, BookSnapshot):
            tracked.book = _Levels()
        if tracked.book is None:
            return None
        if not _apply(tracked.book, event):
            tracked.book = None
            return None
        tracked.since += 1
        bucket = event.time_ns // self._every_ns
        due = (
            isinstance(event, BookSnapshot)
            or tracked.since >= self._every_events
            or bucket != tracked.bucket
        )
        if not due:
            return None
        tracked.since, tracked.bucket = 0, bucket
        return _checkpoint(envelope, tracked.book, event)

    def _next_delta(
        self, tracked: _Tracked, envelope: Envelope, event: BookDelta, book: _Levels
    ) -> Checkpoint | None:
        """``observe`` of a delta that continues a known book (what the general path does)."""
        tracked.seq = envelope.seq
        try:
            book.apply_delta(event.bids, event.asks)
        except BookError:
            tracked.book = None
            return None
        tracked.since += 1
        bucket = event.time_ns // self._every_ns
        if tracked.since < self._every_events and bucket == tracked.bucket:
            return None
        tracked.since, tracked.bucket = 0, bucket
        return _checkpoint(envelope, book, event)


def _apply(book: OrderBook | _Levels, event: BookSnapshot | BookDelta) -> bool:
    """Apply as the live checksummer does; False if the event was refused (negative values)."""
    try:
        if isinstance(event, BookSnapshot):
            book.apply_snapshot(event.bids, event.asks)
        else:
            book.apply_delta(event.bids, event.asks)
    except BookError:
        return False
    return True


def _checkpoint(envelope: Envelope, book: _Levels, event: BookSnapshot | BookDelta) -> Checkpoint:
    bids, asks = book.top()
    snapshot = BookSnapshot(event.market, bids, asks, event.time_ns, event.checksum)
    return Checkpoint(
        envelope.stream, envelope.epoch, envelope.seq, event.time_ns, encode_event(snapshot)
    )


@dataclass(frozen=True, slots=True)
class BookState:
    """A book as of ``(epoch, seq)``: full depth, best first; ``checksum`` as live stamped it."""

    stream: str
    epoch: str
    seq: int
    time_ns: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    checksum: int | None


def rebuild(checkpoint: Row, rows: Iterable[Row]) -> BookState:
    """The book after applying ``rows`` (same epoch, seq order) from the checkpoint's seq on,
    up to the first row that does not follow (the state says which seq it is exact for)."""
    start = checkpoint.event
    if not isinstance(start, BookSnapshot):
        raise ValueError("a checkpoint holds a BookSnapshot")
    book = OrderBook()
    book.apply_snapshot(start.bids, start.asks)
    seq, time_ns, checksum = checkpoint.seq, checkpoint.time_ns, start.checksum
    for row in rows:
        if row.epoch != checkpoint.epoch or row.seq != seq + 1:
            break  # a hole (events not stored): the book is exact up to ``seq``
        event = row.event
        if isinstance(event, BookSnapshot | BookDelta) and _apply(book, event):
            checksum = event.checksum
        seq, time_ns = row.seq, row.time_ns
    bids, asks = book.top()
    return BookState(checkpoint.stream, checkpoint.epoch, seq, time_ns, bids, asks, checksum)

"""The frames of a replay from the history store, for one subscription's view and dialect
encoder (issue 17; native time travel and Coin Metrics ``start_time``).

The frames are the ones a live subscriber of that view got (``hub/frames.py``):

* a full view: every event, with the checksum live stamped on book events;
* a ``party`` view: only that party's trades, orders and positions (other events are not
  filtered), and a STATE snapshot lists only that party's entries;
* a ``depth`` view of a book: the full book as of T is followed event by event, a ``DepthView``
  turns each event into the change of the top ``depth`` levels (no frame when they did not
  change), with the checksum of the top ``min(depth, 10)`` levels, as live.

``prev`` of each Update is the seq of the frame sent before it (``prev`` starts at the Snapshot's
or the resume position's seq), so a filtered view's chain skips what the view skips.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tickcast.book import DepthView, OrderBook, book_checksum
from tickcast.bus import Bus
from tickcast.history.books import BookState
from tickcast.hub import Encoder, party_matches
from tickcast.model import (
    BookDelta,
    BookSnapshot,
    Envelope,
    Event,
    Level,
    MarketCatalog,
    StreamKey,
    StreamKind,
    StreamPosition,
    View,
)
from tickcast.model.events import TradesGap


class ViewFrames:
    """Frames of one stream for one view; ``prev`` is the seq of the last frame made."""

    def __init__(
        self, encoder: Encoder, catalog: MarketCatalog, key: StreamKey, view: View, prev: int
    ) -> None:
        self._encoder = encoder
        self._catalog = catalog
        self._key = key
        self._stream = str(key)
        self._view = view
        self.prev = prev
        self._book: OrderBook | None = None
        self._depth = DepthView(view.depth) if view.depth and key.kind is StreamKind.BOOK else None

    def book_snapshot(self, state: BookState) -> bytes:
        """The Snapshot of a book as of T (the view's depth of it)."""
        bids, asks, checksum = state.bids, state.asks, state.checksum
        if self._depth is not None:
            self._book = OrderBook()
            self._book.apply_snapshot(state.bids, state.asks)
            bids, asks = self._depth.snapshot(self._book)
            checksum = self._checksum(self._book)
        return self.snapshot(
            StreamPosition(state.seq, state.epoch),
            [self._levels(bids, asks, state.time_ns)],
            checksum,
        )

    def snapshot(
        self, position: StreamPosition, events: Iterable[Event], checksum: int | None = None
    ) -> bytes:
        """A (non-reset) Snapshot of ``events`` as of ``position``, the view's entries only."""
        party = self._view.party
        shown = tuple(e for e in events if party is None or party_matches(e, party))
        self.prev = position.seq
        return self._encoder.snapshot_frame(
            self._stream, self._key.kind, position, shown, checksum=checksum, reset=False
        )

    def frames(self, envelopes: Sequence[Envelope]) -> list[bytes]:
        """The frames of stored ``envelopes`` (seq order) for the view."""
        found = []
        for envelope in envelopes:
            frame = self._frame(envelope)
            if frame is not None:
                found.append(frame)
                self.prev = envelope.seq
        return found

    def _frame(self, envelope: Envelope) -> bytes | None:
        event, encoder, stream = envelope.event, self._encoder, self._stream
        party = self._view.party
        if party is not None and not party_matches(event, party):
            return None
        if isinstance(event, TradesGap):  # issue 16 (conn2): as live, a Gap of its one seq
            seq = envelope.seq
            return encoder.gap_frame(stream, envelope.epoch, seq, seq, "venue")
        if isinstance(event, BookSnapshot):
            bids, asks, checksum = event.bids, event.asks, event.checksum
            if self._depth is not None:
                self._book = OrderBook()
                self._book.apply_snapshot(event.bids, event.asks)
                bids, asks = self._depth.snapshot(self._book)
                checksum = self._checksum(self._book)
            return encoder.snapshot_frame(
                stream, StreamKind.BOOK, envelope.position,
                (self._levels(bids, asks, event.time_ns),), checksum=checksum, reset=True,
            )  # fmt: skip
        if isinstance(event, BookDelta):
            if self._depth is None or self._book is None:
                return encoder.update_frame(stream, envelope.seq, event, event.checksum, self.prev)
            self._book.apply_delta(event.bids, event.asks)
            bids, asks = self._depth.update(self._book)
            if not bids and not asks:
                return None
            delta = BookDelta(event.market, bids, asks, event.time_ns)
            checksum = self._checksum(self._book)
            return encoder.update_frame(stream, envelope.seq, delta, checksum, self.prev)
        return encoder.update_frame(stream, envelope.seq, event, None, self.prev)

    def _levels(self, bids: Sequence[Level], asks: Sequence[Level], time_ns: int) -> BookSnapshot:
        """A book snapshot stamped with the book's own time (what a dialect shows as ``time``)."""
        return BookSnapshot(self._key.subject, tuple(bids), tuple(asks), time_ns)

    def _checksum(self, book: OrderBook) -> int | None:
        """The checksum live stamps on a depth view's frames: its top ``min(depth, 10)``."""
        market = self._catalog.find(self._key.subject) if self._depth is not None else None
        if market is None or self._depth is None:
            return None
        bids, asks = book.top(min(self._depth.depth, 10))
        return book_checksum(
            bids, asks, price_decimals=market.price_decimals, size_decimals=market.size_decimals
        )


async def bus_misses(bus: Bus, stream: str, at: StreamPosition) -> bool:
    """Whether the bus cannot replay ``stream`` from ``at.seq + 1`` of ``at.epoch`` (a replay
    from the store must bridge the gap first)."""
    position = await bus.position(stream)
    if position.epoch != at.epoch or at.seq >= position.seq:
        return position.epoch != at.epoch
    held = await bus.history(stream)
    return not held or held[0].seq > at.seq + 1

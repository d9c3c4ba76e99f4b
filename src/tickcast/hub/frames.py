"""Frames of one (dialect, stream, view) group: live updates, snapshots, replays.

An event a dialect cannot encode never stops the others: it becomes a gap notice for its seq
(``unencodable``), logged once per event and counted through ``on_encode_failure``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from tickcast.book import OrderBook, book_checksum
from tickcast.hub.parts import Encoder, Group, party_matches
from tickcast.model import (
    BookDelta,
    BookSnapshot,
    Envelope,
    Event,
    MarketCatalog,
    StreamKind,
    StreamPosition,
    TradesGap,
)
from tickcast.state import StateKeeper

logger = logging.getLogger("tickcast.hub")


class Framer:
    def __init__(self, *, catalog: MarketCatalog, keeper: StateKeeper) -> None:
        self._catalog = catalog
        self.keeper = keeper
        self.on_encode_failure: Callable[[str], None] = lambda dialect: None
        """Called once per (dialect, event) that failed to encode (the node counts them)."""
        self._last_failure: tuple[str, str, int] | None = None

    def frame(self, group: Group, envelope: Envelope) -> bytes | None:
        event = envelope.event
        view = group.view
        if view.party is not None and not party_matches(event, view.party):
            return None
        encoder, prev = group.encoder, group.prev
        if isinstance(event, TradesGap):  # issue 16 (conn2): a venue loss is a Gap of one seq
            return self.venue_gap(encoder, envelope)
        if isinstance(event, BookSnapshot):
            if group.depth_view is not None:
                group.depth_view.snapshot(self.book(envelope.stream))
            return self.snapshot_frame(group, envelope.position, reset=True)
        if isinstance(event, BookDelta):
            if group.depth_view is not None:
                book = self.book(envelope.stream)
                bids, asks = group.depth_view.update(book)
                if not bids and not asks:
                    return None
                event = BookDelta(event.market, bids, asks, event.time_ns)
                checksum = self._view_checksum(group, book)
            else:
                checksum = event.checksum
        else:
            checksum = None
        return encoder.update_frame(
            envelope.stream, envelope.seq, event, checksum, prev, envelope.published_ns
        )

    @staticmethod
    def venue_gap(encoder: Encoder, envelope: Envelope) -> bytes:
        """A ``TradesGap`` (issue 16): the dialect's gap notice for its one seq, reason ``venue``
        (Coin Metrics renders no gap: an empty frame, skipped)."""
        return encoder.gap_frame(
            envelope.stream, envelope.epoch, envelope.seq, envelope.seq, "venue"
        )

    def unencodable(self, encoder: Encoder, envelope: Envelope) -> bytes:
        """An event the dialect could not encode: counted, logged once per event (with its
        traceback, a server bug or a poison event), and replaced by a gap notice for its seq."""
        self.on_encode_failure(encoder.name)
        ident = (envelope.epoch, envelope.stream, envelope.seq)
        if self._last_failure != ident:
            self._last_failure = ident
            logger.exception(
                "%s seq %d: cannot encode for %s; sent as a gap",
                envelope.stream,
                envelope.seq,
                encoder.name,
            )
        return encoder.gap_frame(
            envelope.stream, envelope.epoch, envelope.seq, envelope.seq, "unencodable"
        )

    def book(self, stream: str) -> OrderBook:
        return self.keeper.book(stream) or OrderBook()

    def _view_checksum(self, group: Group, book: OrderBook) -> int | None:
        if group.view.depth is None or group.key.market is None:
            return None
        market = self._catalog.get(group.key.market)
        bids, asks = book.top(min(group.view.depth, 10))
        return book_checksum(
            bids, asks, price_decimals=market.price_decimals, size_decimals=market.size_decimals
        )

    def snapshot_frame(self, group: Group, position: StreamPosition, *, reset: bool) -> bytes:
        stream = str(group.key)
        snapshot = self.keeper.snapshot(stream)
        events: tuple[Event, ...] = snapshot.events if snapshot else ()
        seq = snapshot.seq if snapshot else position.seq
        epoch = snapshot.epoch if snapshot else position.epoch
        checksum: int | None = None
        if group.key.kind is StreamKind.BOOK and group.key.market is not None:
            book = self.book(stream)
            depth = group.view.depth
            bids, asks = book.top(depth)
            events = (BookSnapshot(group.key.market, bids, asks, 0),)
            market = self._catalog.get(group.key.market)
            top_bids, top_asks = book.top(min(depth or 10, 10))
            checksum = book_checksum(
                top_bids,
                top_asks,
                price_decimals=market.price_decimals,
                size_decimals=market.size_decimals,
            )
        if group.view.party is not None:
            events = tuple(e for e in events if party_matches(e, group.view.party))
        return group.encoder.snapshot_frame(
            stream,
            group.key.kind,
            StreamPosition(seq, epoch),
            events,
            checksum=checksum,
            reset=reset,
        )

    def replay(
        self, group: Group, envelopes: Sequence[Envelope], prev: int
    ) -> tuple[tuple[bytes, ...], int]:
        """The frames of ``envelopes`` for the group's view, their ``prev`` chain starting at
        ``prev`` (the seq the subscriber received last); and the seq of the last frame."""
        frames = []
        for envelope in envelopes:
            frame = self.replay_frame(group, envelope, prev)
            if frame is not None:
                frames.append(frame)
                prev = envelope.seq
        return tuple(frames), prev

    def replay_frame(
        self, group: Group, envelope: Envelope, prev: int | None = None
    ) -> bytes | None:
        event = envelope.event
        if group.view.party is not None and not party_matches(event, group.view.party):
            return None
        if isinstance(event, TradesGap):  # issue 16 (conn2)
            return self.venue_gap(group.encoder, envelope)
        checksum = event.checksum if isinstance(event, BookDelta) else None
        try:
            return group.encoder.update_frame(
                envelope.stream, envelope.seq, event, checksum, prev, envelope.published_ns
            )
        except Exception:  # as on the live path: a gap for that seq, the replay goes on
            return self.unencodable(group.encoder, envelope)

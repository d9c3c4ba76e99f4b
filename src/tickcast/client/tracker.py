"""Sans-I/O stream bookkeeping: positions, duplicate drop, hole detection, local books.

``StreamTracker.handle`` takes one parsed server frame and returns what to yield to the user plus
the streams that must be subscribed again (the client sends those Subscribes with
``resume_from(stream)``, which is None when a fresh snapshot is wanted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tickcast.client.books import LocalBook
from tickcast.client.messages import (
    CLIENT_DETECTED,
    PREV_MISMATCH,
    ChecksumMismatch,
    Gap,
    Message,
    Reset,
    Snapshot,
    Subscribed,
    Update,
)
from tickcast.errors import TickcastError
from tickcast.model import StreamClass, StreamKey, StreamPosition

__all__ = ["ClientStats", "StreamTracker", "Outcome"]

logger = logging.getLogger(__name__)

STATE_KINDS = {"book", "quotes", "ticker", "metrics", "orders", "positions"}


@dataclass
class ClientStats:
    """Counters of what the client saw (a copy is returned by ``Client.stats``)."""

    updates: int = 0
    snapshots: int = 0
    duplicates: int = 0
    gaps: int = 0
    resets: int = 0
    mismatches: int = 0
    reconnects: int = 0


@dataclass
class _Stream:
    state: bool
    filtered: bool
    epoch: str | None = None
    seq: int | None = None
    confirmed: bool = False
    awaiting_snapshot: bool = False
    reset_reason: str | None = None
    loose: bool = True
    """The next Update is the first after a baseline (Subscribed, Snapshot, Gap): its ``prev``
    may be below ``seq`` (docs/protocol.md, "prev"); after it, ``prev`` must equal ``seq``."""


@dataclass
class Outcome:
    messages: list[Message] = field(default_factory=list)
    resubscribe: list[str] = field(default_factory=list)


def _is_state(stream: str) -> bool:
    try:
        return StreamKey.parse(stream).stream_class is StreamClass.STATE
    except ValueError:
        return stream.partition(":")[0] in STATE_KINDS


class StreamTracker:
    """Per-stream position and state for one client (all connections it goes through)."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self.books: dict[str, LocalBook] = {}
        self.stats = ClientStats()

    # -- registration ----------------------------------------------------------------------

    def add(self, stream: str, *, filtered: bool, resume: StreamPosition | None = None) -> None:
        """Start tracking ``stream`` (kept as is when already tracked).

        ``resume`` seeds the position of a new event stream (state streams need a snapshot).
        """
        current = self._streams.get(stream)
        if current is not None:
            current.filtered = filtered
            return
        state = _is_state(stream)
        tracked = self._streams[stream] = _Stream(state, filtered, awaiting_snapshot=state)
        if resume is not None and not state:
            tracked.epoch, tracked.seq = resume.epoch, resume.seq
        if stream.startswith("book:"):
            self.books[stream] = LocalBook(stream)

    def remove(self, stream: str) -> None:
        self._streams.pop(stream, None)
        self.books.pop(stream, None)

    def __contains__(self, stream: str) -> bool:
        return stream in self._streams

    def is_confirmed(self, stream: str) -> bool:
        tracked = self._streams.get(stream)
        return tracked is not None and tracked.confirmed

    def resume_from(self, stream: str) -> StreamPosition | None:
        """The position to resume ``stream`` from, or None for a fresh subscription."""
        tracked = self._streams.get(stream)
        if tracked is None or tracked.epoch is None or tracked.seq is None:
            return None
        if tracked.state and tracked.awaiting_snapshot:
            return None
        return StreamPosition(tracked.seq, tracked.epoch)

    @property
    def positions(self) -> dict[str, StreamPosition]:
        return {
            stream: StreamPosition(tracked.seq, tracked.epoch)
            for stream, tracked in self._streams.items()
            if tracked.seq is not None and tracked.epoch is not None
        }

    def disconnected(self) -> None:
        """The connection dropped: every stream needs a new Subscribed."""
        for tracked in self._streams.values():
            tracked.confirmed = False

    # -- frames ----------------------------------------------------------------------------

    def handle(self, message: Subscribed | Snapshot | Update | Gap) -> Outcome:
        outcome = Outcome()
        match message:
            case Subscribed():
                self._subscribed(message)
            case Snapshot():
                self._snapshot(message, outcome)
            case Update():
                self._update(message, outcome)
            case Gap():
                self._gap(message, outcome)
        return outcome

    def _subscribed(self, message: Subscribed) -> None:
        for start in message.streams:
            tracked = self._streams.get(start.stream)
            if tracked is None:
                continue
            tracked.confirmed = True
            tracked.loose = True
            if not tracked.state and tracked.seq is None:
                tracked.epoch, tracked.seq = start.epoch, start.seq

    def _snapshot(self, message: Snapshot, outcome: Outcome) -> None:
        tracked = self._streams.get(message.stream)
        if tracked is None:
            return
        if not self._apply_book(message, tracked, outcome):
            return
        if message.reset or tracked.reset_reason is not None:
            outcome.messages.append(Reset(message.stream, tracked.reset_reason or "reset snapshot"))
            self.stats.resets += 1
        tracked.epoch, tracked.seq = message.epoch, message.seq
        tracked.awaiting_snapshot, tracked.reset_reason = False, None
        tracked.loose = True
        self.stats.snapshots += 1
        outcome.messages.append(message)

    def _update(self, message: Update, outcome: Outcome) -> None:
        tracked = self._streams.get(message.stream)
        if tracked is None or (tracked.state and tracked.awaiting_snapshot):
            return
        last = tracked.seq
        if last is not None and message.seq <= last:
            self.stats.duplicates += 1
            return
        if last is not None and message.seq > last + 1 and not tracked.filtered:
            hole = Gap(
                message.stream, tracked.epoch or "", last + 1, message.seq - 1, CLIENT_DETECTED
            )
            outcome.messages.append(hole)
            self.stats.gaps += 1
            outcome.resubscribe.append(message.stream)
            if tracked.state:
                self._invalidate(tracked, "client-detected gap")
                return
        elif last is not None and message.prev is not None and self._broken(message.prev, tracked):
            hole = Gap(
                message.stream,
                tracked.epoch or "",
                min(message.prev, last) + 1,
                message.seq - 1,
                PREV_MISMATCH,
            )
            outcome.messages.append(hole)
            self.stats.gaps += 1
            outcome.resubscribe.append(message.stream)
            if tracked.state:
                self._invalidate(tracked, "prev mismatch")
                return
        if not self._apply_book(message, tracked, outcome):
            return
        tracked.seq = message.seq
        tracked.loose = False
        self.stats.updates += 1
        outcome.messages.append(message)

    @staticmethod
    def _broken(prev: int, tracked: _Stream) -> bool:
        """Whether an Update's ``prev`` breaks the chain: it must be the last seq received, or
        at most it for the first Update after a baseline."""
        assert tracked.seq is not None
        return prev > tracked.seq if tracked.loose else prev != tracked.seq

    def _gap(self, message: Gap, outcome: Outcome) -> None:
        tracked = self._streams.get(message.stream)
        if tracked is None:
            return
        outcome.messages.append(message)
        self.stats.gaps += 1
        if tracked.epoch != message.epoch or tracked.seq is None or message.to_seq > tracked.seq:
            tracked.epoch, tracked.seq = message.epoch, message.to_seq
        tracked.loose = True
        if tracked.state:
            self._invalidate(tracked, f"gap ({message.reason})")
            outcome.resubscribe.append(message.stream)

    def _apply_book(self, message: Snapshot | Update, tracked: _Stream, outcome: Outcome) -> bool:
        """Apply to the local book if any; False (and a resubscribe) when it went wrong."""
        book = self.books.get(message.stream)
        if book is None:
            return True
        try:
            mismatch: ChecksumMismatch | None = book.apply(message)
        except TickcastError as error:
            logger.warning("bad book data on %s: %s", message.stream, error)
            book.valid = False
            self._invalidate(tracked, "bad book data")
            outcome.resubscribe.append(message.stream)
            return False
        if mismatch is None:
            return True
        self.stats.mismatches += 1
        outcome.messages.append(mismatch)
        self._invalidate(tracked, "checksum mismatch")
        outcome.resubscribe.append(message.stream)
        return False

    @staticmethod
    def _invalidate(tracked: _Stream, reason: str) -> None:
        tracked.awaiting_snapshot = True
        tracked.loose = True
        tracked.reset_reason = reason

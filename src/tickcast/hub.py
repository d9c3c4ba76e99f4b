"""The hub: bus → local subscribers.

Each envelope is encoded once per (dialect, stream, view) group and the same ``bytes`` object is
appended to the outbox of every member of the group; per-connection work on the hot path is one
outbox push. Joining a stream is two-phase: the member first buffers live frames, then receives
Subscribed, its snapshot / replay / gap notice, then the buffered frames it has not seen yet.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tickcast.book import DepthView, OrderBook, book_checksum
from tickcast.bus import Bus
from tickcast.delivery.outbox import Outbox, Resync, Verdict
from tickcast.delivery.recovery import GapThenReplay, Replay, ResetSnapshot, plan_resume
from tickcast.model import (
    BookDelta,
    BookSnapshot,
    Envelope,
    Event,
    MarketCatalog,
    Order,
    Position,
    StreamClass,
    StreamKey,
    StreamKind,
    StreamPosition,
    Trade,
    View,
)
from tickcast.state import StateKeeper

logger = logging.getLogger("tickcast.hub")


class Encoder(Protocol):
    name: str

    def update_frame(self, stream: str, seq: int, event: Event, checksum: int | None) -> bytes: ...

    def snapshot_frame(
        self,
        stream: str,
        kind: StreamKind,
        position: StreamPosition,
        events: Sequence[Event],
        *,
        checksum: int | None,
        reset: bool,
    ) -> bytes: ...

    def gap_frame(
        self, stream: str, epoch: str, from_seq: int, to_seq: int, reason: str
    ) -> bytes: ...


class Subscriber(Protocol):
    outbox: Outbox

    def wake(self) -> None:
        """Frames were queued: schedule a write."""

    def overflow(self) -> None:
        """A frame was refused by the outbox (OVERFLOW verdict). Under the DISCONNECT policy the
        subscriber closes with its dialect's slow-consumer error; under RESYNC it only counts."""


@dataclass(slots=True)
class _Member:
    subscriber: Subscriber
    live: bool = False
    pending: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass(slots=True)
class _Group:
    key: StreamKey
    encoder: Encoder
    view: View
    depth_view: DepthView | None
    members: dict[int, _Member] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Joined:
    """What ``attach`` prepared for one stream: its position and the frames to send first."""

    stream: str
    position: StreamPosition
    frames: tuple[bytes, ...]
    last_seq: int


def _party_matches(event: Event, party: str) -> bool:
    match event:
        case Trade():
            return party in (event.buyer, event.seller)
        case Order() | Position():
            return event.party == party
    return True


def _replaces_state(envelopes: Sequence[Envelope]) -> bool:
    """Whether a replay range holds a full book snapshot (then a reset snapshot is sent)."""
    return any(isinstance(envelope.event, BookSnapshot) for envelope in envelopes)


class Hub:
    def __init__(
        self, *, bus: Bus, catalog: MarketCatalog, keeper: StateKeeper | None = None
    ) -> None:
        self._bus = bus
        self._catalog = catalog
        self.keeper = keeper or StateKeeper()
        self._groups: dict[str, dict[tuple[str, View], _Group]] = {}
        self._remove_listener = bus.listen(self.on_envelopes)
        self.frames_encoded = 0

    def close(self) -> None:
        self._remove_listener()

    # -- live path -----------------------------------------------------------------------

    def on_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        woken: dict[int, Subscriber] = {}
        for envelope in envelopes:
            self.keeper.apply(envelope)
            groups = self._groups.get(envelope.stream)
            if groups:
                for group in list(groups.values()):
                    self._fan_out(group, envelope, woken)
        for subscriber in woken.values():
            subscriber.wake()

    def _fan_out(self, group: _Group, envelope: Envelope, woken: dict[int, Subscriber]) -> None:
        frame = self._frame(group, envelope)
        if frame is None:
            return
        self.frames_encoded += 1
        state = group.key.stream_class is StreamClass.STATE
        for ident, member in group.members.items():
            if not member.live:
                member.pending.append((envelope.seq, frame))
                continue
            outbox = member.subscriber.outbox
            verdict = outbox.push(frame, stream=envelope.stream, seq=envelope.seq, state=state)
            if verdict is Verdict.OVERFLOW:
                member.subscriber.overflow()
            woken[ident] = member.subscriber

    def _frame(self, group: _Group, envelope: Envelope) -> bytes | None:
        event = envelope.event
        view = group.view
        if view.party is not None and not _party_matches(event, view.party):
            return None
        encoder = group.encoder
        if isinstance(event, BookSnapshot):
            if group.depth_view is not None:
                group.depth_view.snapshot(self._book(envelope.stream))
            return self._snapshot_frame(group, envelope.position, reset=True)
        if isinstance(event, BookDelta):
            if group.depth_view is not None:
                book = self._book(envelope.stream)
                bids, asks = group.depth_view.update(book)
                if not bids and not asks:
                    return None
                event = BookDelta(event.market, bids, asks, event.time_ns)
                return encoder.update_frame(
                    envelope.stream, envelope.seq, event, self._view_checksum(group, book)
                )
            return encoder.update_frame(envelope.stream, envelope.seq, event, event.checksum)
        return encoder.update_frame(envelope.stream, envelope.seq, event, None)

    def _book(self, stream: str) -> OrderBook:
        return self.keeper.book(stream) or OrderBook()

    def _view_checksum(self, group: _Group, book: OrderBook) -> int | None:
        if group.view.depth is None or group.key.market is None:
            return None
        market = self._catalog.get(group.key.market)
        bids, asks = book.top(min(group.view.depth, 10))
        return book_checksum(
            bids, asks, price_decimals=market.price_decimals, size_decimals=market.size_decimals
        )

    def _snapshot_frame(self, group: _Group, position: StreamPosition, *, reset: bool) -> bytes:
        stream = str(group.key)
        snapshot = self.keeper.snapshot(stream)
        events: tuple[Event, ...] = snapshot.events if snapshot else ()
        seq = snapshot.seq if snapshot else position.seq
        epoch = snapshot.epoch if snapshot else position.epoch
        checksum: int | None = None
        if group.key.kind is StreamKind.BOOK and group.key.market is not None:
            book = self._book(stream)
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
            events = tuple(e for e in events if _party_matches(e, group.view.party))
        return group.encoder.snapshot_frame(
            stream,
            group.key.kind,
            StreamPosition(seq, epoch),
            events,
            checksum=checksum,
            reset=reset,
        )

    # -- joining and leaving -------------------------------------------------------------

    def _group(self, key: StreamKey, encoder: Encoder, view: View) -> _Group:
        stream = str(key)
        groups = self._groups.setdefault(stream, {})
        group = groups.get((encoder.name, view))
        if group is None:
            depth_view = None
            if key.kind is StreamKind.BOOK and view.depth is not None:
                depth_view = DepthView(view.depth)
                depth_view.snapshot(self._book(stream))
            group = groups[(encoder.name, view)] = _Group(key, encoder, view, depth_view)
        return group

    async def attach(
        self,
        subscriber: Subscriber,
        encoder: Encoder,
        key: StreamKey,
        view: View,
        resume: StreamPosition | None,
        *,
        max_replay: int | None = None,
    ) -> Joined:
        """Join a stream: start buffering live frames, then prepare the first frames."""
        self.detach(subscriber, str(key))
        group = self._group(key, encoder, view)
        group.members[id(subscriber)] = _Member(subscriber)
        stream = str(key)
        position = await self._bus.position(stream)
        state = key.stream_class is StreamClass.STATE
        if resume is None:
            if state:
                return self._joined_with_snapshot(group, position, reset=False)
            return Joined(stream, position, (), position.seq)
        history = await self._bus.history(stream)
        plan = plan_resume(
            state=state,
            requested=resume,
            current=position,
            history=history,
            max_replay=max_replay,
        )
        match plan:
            case Replay() if group.depth_view is None and not _replaces_state(plan.envelopes):
                frames = self._replay(group, plan.envelopes)
                last = plan.envelopes[-1].seq if plan.envelopes else resume.seq
                return Joined(stream, position, frames, last)
            case Replay() | ResetSnapshot():
                return self._joined_with_snapshot(group, position, reset=True)
            case GapThenReplay():
                gap = encoder.gap_frame(
                    stream, position.epoch, plan.from_seq, plan.to_seq, plan.reason.value
                )
                frames = (gap, *self._replay(group, plan.envelopes))
                last = plan.envelopes[-1].seq if plan.envelopes else plan.to_seq
                return Joined(stream, position, frames, last)
        raise AssertionError(plan)

    def _joined_with_snapshot(
        self, group: _Group, position: StreamPosition, *, reset: bool
    ) -> Joined:
        stream = str(group.key)
        snapshot_position = self.keeper.position(stream) or position
        frame = self._snapshot_frame(group, snapshot_position, reset=reset)
        return Joined(stream, position, (frame,), snapshot_position.seq)

    def _replay(self, group: _Group, envelopes: Sequence[Envelope]) -> tuple[bytes, ...]:
        frames = []
        for envelope in envelopes:
            event = envelope.event
            if group.view.party is not None and not _party_matches(event, group.view.party):
                continue
            checksum = event.checksum if isinstance(event, BookDelta) else None
            frames.append(
                group.encoder.update_frame(envelope.stream, envelope.seq, event, checksum)
            )
        return tuple(frames)

    def go_live(self, subscriber: Subscriber, joined: Joined, encoder: Encoder) -> None:
        """Queue the joined frames, then the buffered live frames past ``last_seq``."""
        member = self._member(subscriber, joined.stream)
        if member is None:
            return
        outbox = subscriber.outbox
        for frame in joined.frames:
            outbox.push_control(frame)
        for seq, frame in member.pending:
            if seq > joined.last_seq:
                outbox.push_control(frame)
        member.pending = []
        member.live = True
        subscriber.wake()

    def _member(self, subscriber: Subscriber, stream: str) -> _Member | None:
        for group in self._groups.get(stream, {}).values():
            member = group.members.get(id(subscriber))
            if member is not None:
                return member
        return None

    def detach(self, subscriber: Subscriber, stream: str) -> None:
        groups = self._groups.get(stream)
        if not groups:
            return
        for group_key, group in list(groups.items()):
            if group.members.pop(id(subscriber), None) is not None and not group.members:
                del groups[group_key]
        if not groups:
            del self._groups[stream]
        subscriber.outbox.forget(stream)

    def resync(self, subscriber: Subscriber, resync: Resync) -> None:
        """After an overflow ended: queue a reset snapshot (STATE) or a gap notice (EVENT)."""
        for group in self._groups.get(resync.stream, {}).values():
            if id(subscriber) not in group.members:
                continue
            position = self.keeper.position(resync.stream)
            if resync.snapshot and position is not None:
                subscriber.outbox.push_control(self._snapshot_frame(group, position, reset=True))
            elif not resync.snapshot:
                epoch = position.epoch if position else ""
                frame = group.encoder.gap_frame(
                    resync.stream, epoch, resync.gap_from, resync.gap_to, "overflow"
                )
                subscriber.outbox.push_control(frame)
            return

    def subscriber_count(self) -> int:
        return sum(len(g.members) for groups in self._groups.values() for g in groups.values())

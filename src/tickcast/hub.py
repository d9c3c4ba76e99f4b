"""The hub: bus → local subscribers.

Each envelope is encoded once per (dialect, stream, view) group and the same ``bytes`` object is
appended to the outbox of every member of the group; per-connection work on the hot path is one
outbox push. Joining a stream is two-phase: the member first buffers live frames, then receives
Subscribed, its snapshot / replay / gap notice, then the buffered frames it has not seen yet.

Shared delivery (``SharedSubscriber``): a subscriber whose ``direct_sink()`` returns a
:class:`~tickcast.delivery.channel.Sink` is, once live, a member of the
:class:`~tickcast.delivery.channel.Channel` of its subscription set (its live groups plus its
sink's framing). Frames go to each channel once; once per loop pass every pending channel writes
ONE batch (the same ``bytes`` object) to all its direct members. A member falls back to its own
outbox while it lags or while it joins or leaves a stream, and its writer calls ``promote`` when
the outbox is empty again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from tickcast.book import DepthView, OrderBook, book_checksum
from tickcast.bus import Bus
from tickcast.delivery.channel import Channel, Sink
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

SETTLE_INTERVAL_S = 1.0
"""How often frames written by shared batches are reported to their subscribers (metering)."""


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


class RunEncoder(Encoder, Protocol):
    """An encoder that renders a run of consecutive events of one stream in one bus batch as one
    frame (Coin Metrics: the metrics of one asset published together are one message)."""

    def run_frame(self, stream: str, seq: int, events: Sequence[Event]) -> bytes: ...


class Subscriber(Protocol):
    outbox: Outbox

    def wake(self) -> None:
        """Frames were queued: schedule a write."""

    def overflow(self) -> None:
        """A frame was refused by the outbox (OVERFLOW verdict). Under the DISCONNECT policy the
        subscriber closes with its dialect's slow-consumer error; under RESYNC it only counts."""


class SharedSubscriber(Subscriber, Protocol):
    """A subscriber that can take shared batches (docs/performance.md, "Writer API")."""

    def direct_sink(self) -> Sink | None:
        """The transport to write shared batches to, or None (then the outbox path is used)."""

    def delivered(self, messages: int, nbytes: int) -> None:
        """Frames written for it by its channel, reported in arrears (see ``Hub.settle``)."""


@dataclass(slots=True)
class _Shared:
    subscriber: SharedSubscriber
    sink: Sink
    live: set[tuple[str, str, View]] = field(default_factory=set)
    channel: Channel | None = None


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
    outbox_members: dict[int, _Member] = field(default_factory=dict)
    """Members served frame by frame: every non-shared member, and shared ones while joining."""
    channels: dict[Hashable, Channel] = field(default_factory=dict)
    """The channels whose subscription set contains this group."""
    run: list[Event] | None = None
    """For a ``RunEncoder``: the events of the current run (else None)."""

    @property
    def ident(self) -> tuple[str, str, View]:
        return (str(self.key), self.encoder.name, self.view)


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


def _call_soon(callback: Callable[[], None]) -> None:
    """Run ``callback`` in the next loop pass; at once when no loop is running (sync tests)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
        return
    loop.call_soon(callback)


class Hub:
    def __init__(
        self,
        *,
        bus: Bus,
        catalog: MarketCatalog,
        keeper: StateKeeper | None = None,
        schedule: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._bus = bus
        self._catalog = catalog
        self.keeper = keeper or StateKeeper()
        self._groups: dict[str, dict[tuple[str, View], _Group]] = {}
        self._remove_listener = bus.listen(self.on_envelopes)
        self.frames_encoded = 0
        self._schedule = schedule or _call_soon
        self._shared: dict[int, _Shared] = {}
        self._channels: dict[Hashable, Channel] = {}
        self._dirty: list[Channel] = []
        self._flush_scheduled = False
        self._slow: set[int] = set()
        """Shared subscribers demoted because their transport backlog was over the limit."""
        self.batches_written = 0
        self._settled_at = time.monotonic()
        """Direct batch writes (one per direct member per flushed channel)."""

    def close(self) -> None:
        self._remove_listener()

    # -- live path -----------------------------------------------------------------------

    def on_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        woken: dict[int, Subscriber] = {}
        for index, envelope in enumerate(envelopes):
            groups = self._groups.get(envelope.stream)
            if groups:
                last = self.keeper.position(envelope.stream)
                if (
                    last is not None
                    and last.epoch == envelope.epoch
                    and envelope.seq > last.seq + 1
                ):
                    self._announce_hole(groups, envelope, last.seq + 1, woken)
            self.keeper.apply(envelope)
            if groups:
                following = envelopes[index + 1] if index + 1 < len(envelopes) else None
                more = following is not None and following.stream == envelope.stream
                for group in list(groups.values()):
                    if group.run is None:
                        self._fan_out(group, envelope, woken)
                    else:
                        self._fan_out_run(group, envelope, more, woken)
        for subscriber in woken.values():
            subscriber.wake()

    def _announce_hole(
        self,
        groups: dict[tuple[str, View], _Group],
        envelope: Envelope,
        first_missing: int,
        woken: dict[int, Subscriber],
    ) -> None:
        """The bus skipped seqs (a shared bus lost messages that its history no longer holds):
        EVENT subscribers get a Gap for the missing range before the next event, never a silent
        jump. (A dense bus such as MemoryBus never skips.)"""
        logger.warning(
            "%s: seqs %d..%d never arrived from the bus",
            envelope.stream,
            first_missing,
            envelope.seq - 1,
        )
        for group in list(groups.values()):
            if group.key.stream_class is StreamClass.STATE:
                continue
            frame = group.encoder.gap_frame(
                envelope.stream, envelope.epoch, first_missing, envelope.seq - 1, "history"
            )
            self._deliver(group, envelope.stream, envelope.seq - 1, frame, woken)

    def _fan_out(self, group: _Group, envelope: Envelope, woken: dict[int, Subscriber]) -> None:
        frame = self._frame(group, envelope)
        if frame is None:
            return
        self.frames_encoded += 1
        self._deliver(group, envelope.stream, envelope.seq, frame, woken)

    def _fan_out_run(
        self, group: _Group, envelope: Envelope, more: bool, woken: dict[int, Subscriber]
    ) -> None:
        """A ``RunEncoder`` group: the stream's consecutive events of a batch become one frame."""
        assert group.run is not None
        group.run.append(envelope.event)
        if more:
            return
        events, group.run = group.run, []
        encoder = cast(RunEncoder, group.encoder)
        frame = encoder.run_frame(envelope.stream, envelope.seq, events)
        self.frames_encoded += 1
        self._deliver(group, envelope.stream, envelope.seq, frame, woken)

    def _deliver(
        self, group: _Group, stream: str, seq: int, frame: bytes, woken: dict[int, Subscriber]
    ) -> None:
        """One encoded frame to every member of a group: outboxes and shared channels."""
        state = group.key.stream_class is StreamClass.STATE
        for ident, member in group.outbox_members.items():
            if not member.live:
                member.pending.append((seq, frame))
                continue
            outbox = member.subscriber.outbox
            verdict = outbox.push(frame, stream=stream, seq=seq, state=state)
            if verdict is Verdict.OVERFLOW:
                member.subscriber.overflow()
            woken[ident] = member.subscriber
        if group.channels:
            for channel in group.channels.values():
                if channel.add(stream, seq, state, frame):
                    self._dirty.append(channel)
                    if not self._flush_scheduled:
                        self._flush_scheduled = True
                        self._schedule(self.flush)

    def flush(self) -> None:
        """Write every channel's pending frames (once per loop pass; see the module doc)."""
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        writes = 0
        for channel in dirty:
            writes += channel.flush()
        self.batches_written += writes
        now = time.monotonic()
        if now - self._settled_at >= SETTLE_INTERVAL_S:  # keep usage and metrics current
            self._settled_at = now
            self.settle()

    def backlogged(self) -> bool:
        """Whether some shared subscriber is behind (its transport backlog overflowed)."""
        return bool(self._slow)

    def settle(self, subscriber: SharedSubscriber | None = None) -> None:
        """Report directly written frames to their subscribers (``delivered``): one of them,
        or all."""
        if subscriber is not None:
            shared = self._shared.get(id(subscriber))
            if shared is not None and shared.channel is not None:
                shared.channel.settle()
            return
        for channel in self._channels.values():
            channel.settle()

    def promote(self, subscriber: SharedSubscriber) -> bool:
        """The subscriber's outbox is empty: take shared batches directly again if possible."""
        shared = self._shared.get(id(subscriber))
        if shared is None or shared.channel is None:
            return False
        if shared.channel.promote(subscriber, shared.sink):
            self._slow.discard(id(subscriber))
            return True
        return False

    def is_direct(self, subscriber: SharedSubscriber) -> bool:
        shared = self._shared.get(id(subscriber))
        return (
            shared is not None
            and shared.channel is not None
            and (shared.channel.is_direct(subscriber))
        )

    def channel_count(self) -> int:
        return len(self._channels)

    def _on_demote(self, ident: int) -> None:
        self._slow.add(ident)

    def _rechannel(self, shared: _Shared) -> None:
        """Move a shared subscriber to the channel of its current live set (demoted)."""
        subscriber = shared.subscriber
        old = shared.channel
        if old is not None:
            old.leave(subscriber)
            if not len(old):
                self._drop_channel(old)
            shared.channel = None
        self._slow.discard(id(subscriber))
        if not shared.live:
            return
        key = (shared.sink.framing, frozenset(shared.live))
        channel = self._channels.get(key)
        if channel is None:
            channel = Channel(key, shared.sink.framing, on_demote=self._on_demote)
            self._channels[key] = channel
            for stream, name, view in shared.live:
                group = self._groups.get(stream, {}).get((name, view))
                if group is not None:
                    group.channels[key] = channel
        channel.join(subscriber)
        shared.channel = channel

    def _drop_channel(self, channel: Channel) -> None:
        self._channels.pop(channel.key, None)
        for groups in self._groups.values():
            for group in groups.values():
                group.channels.pop(channel.key, None)

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
            if hasattr(encoder, "run_frame"):
                group.run = []
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
        member = _Member(subscriber)
        group.members[id(subscriber)] = member
        group.outbox_members[id(subscriber)] = member
        direct_sink = getattr(subscriber, "direct_sink", None)
        if direct_sink is not None and id(subscriber) not in self._shared:
            sink = direct_sink()
            if sink is not None:
                self._shared[id(subscriber)] = _Shared(cast(SharedSubscriber, subscriber), sink)
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
        found = self._find(subscriber, joined.stream)
        if found is None:
            return
        group, member = found
        shared = self._shared.get(id(subscriber))
        if shared is not None:
            self.flush()  # the old channel's frames go out before the subscriber moves
        outbox = subscriber.outbox
        for frame in joined.frames:
            outbox.push_control(frame)
        for seq, frame in member.pending:
            if seq > joined.last_seq:
                outbox.push_control(frame)
        member.pending = []
        member.live = True
        if shared is not None:
            del group.outbox_members[id(subscriber)]
            shared.live.add(group.ident)
            self._rechannel(shared)
        subscriber.wake()

    def _find(self, subscriber: Subscriber, stream: str) -> tuple[_Group, _Member] | None:
        for group in self._groups.get(stream, {}).values():
            member = group.members.get(id(subscriber))
            if member is not None:
                return group, member
        return None

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
        ident = id(subscriber)
        shared = self._shared.get(ident)
        if shared is not None:
            self.flush()
        for group_key, group in list(groups.items()):
            member = group.members.pop(ident, None)
            if member is None:
                continue
            group.outbox_members.pop(ident, None)
            if shared is not None and group.ident in shared.live:
                shared.live.discard(group.ident)
                self._rechannel(shared)
            if not group.members:
                del groups[group_key]
        if not groups:
            del self._groups[stream]
        if shared is not None and not shared.live and not self._attached(ident):
            del self._shared[ident]
        subscriber.outbox.forget(stream)

    def _attached(self, ident: int) -> bool:
        return any(
            ident in group.members for groups in self._groups.values() for group in groups.values()
        )

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

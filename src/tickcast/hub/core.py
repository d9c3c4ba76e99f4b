"""The hub: bus → local subscribers (see the package docstring)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Sequence
from typing import cast

from tickcast.book import DepthView
from tickcast.bus import Bus
from tickcast.delivery.channel import Channel
from tickcast.delivery.outbox import Resync, Verdict
from tickcast.delivery.recovery import GapThenReplay, Replay, ResetSnapshot, plan_resume
from tickcast.hub.frames import Framer
from tickcast.hub.paging import ReplayPager
from tickcast.hub.parts import (
    SETTLE_INTERVAL_S,
    Encoder,
    Group,
    Joined,
    Member,
    RunEncoder,
    Shared,
    SharedSubscriber,
    Subscriber,
    call_soon,
    replaces_state,
)
from tickcast.model import (
    Envelope,
    MarketCatalog,
    StreamClass,
    StreamKey,
    StreamKind,
    StreamPosition,
    View,
)
from tickcast.state import StateKeeper

logger = logging.getLogger("tickcast.hub")


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
        self._keeper = keeper or StateKeeper()
        self._groups: dict[str, dict[tuple[str, View], Group]] = {}
        self._remove_listener = bus.listen(self.on_envelopes)
        self.frames_encoded = 0
        self._schedule = schedule or call_soon
        self._shared: dict[int, Shared] = {}
        self._channels: dict[Hashable, Channel] = {}
        self._dirty: list[Channel] = []
        self._flush_scheduled = False
        self._slow: set[int] = set()
        """Shared subscribers demoted because their transport backlog was over the limit."""
        self.batches_written = 0
        self._settled_at = time.monotonic()
        """Direct batch writes (one per direct member per flushed channel)."""
        self.framer = Framer(catalog=catalog, keeper=self._keeper)
        self.pager = ReplayPager(framer=self.framer, finish_join=self._finish_join)

    @property
    def on_encode_failure(self) -> Callable[[str], None]:
        """Called once per (dialect, event) that failed to encode (the node counts them)."""
        return self.framer.on_encode_failure

    @on_encode_failure.setter
    def on_encode_failure(self, callback: Callable[[str], None]) -> None:
        self.framer.on_encode_failure = callback

    def close(self) -> None:
        self._remove_listener()

    # -- live path -----------------------------------------------------------------------

    def on_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        woken: dict[int, Subscriber] = {}
        for index, envelope in enumerate(envelopes):
            groups = self._groups.get(envelope.stream)
            if groups:
                last = self._keeper.position(envelope.stream)
                if (
                    last is not None
                    and last.epoch == envelope.epoch
                    and envelope.seq > last.seq + 1
                ):
                    self._announce_hole(groups, envelope, last.seq + 1, woken)
            self._keeper.apply(envelope)
            if groups:
                following = envelopes[index + 1] if index + 1 < len(envelopes) else None
                more = following is not None and following.stream == envelope.stream
                for group in list(groups.values()):
                    if group.run is None:
                        self._fan_out(group, envelope, woken)
                    else:
                        self._fan_out_run(group, envelope, more, woken)
        self.pager.catch_up()
        for subscriber in woken.values():
            subscriber.wake()

    def _announce_hole(
        self,
        groups: dict[tuple[str, View], Group],
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

    def _fan_out(self, group: Group, envelope: Envelope, woken: dict[int, Subscriber]) -> None:
        try:
            frame = self.framer.frame(group, envelope)
        except Exception:  # one event that cannot be encoded must not stop the others
            frame = self.framer.unencodable(group.encoder, envelope)
        if frame is None:
            return
        self.frames_encoded += 1
        self._deliver(group, envelope.stream, envelope.seq, frame, woken)

    def _fan_out_run(
        self, group: Group, envelope: Envelope, more: bool, woken: dict[int, Subscriber]
    ) -> None:
        """A ``RunEncoder`` group: the stream's consecutive events of a batch become one frame;
        a run that cannot be encoded is a gap notice for each of its seqs."""
        assert group.run is not None
        group.run.append(envelope)
        if more:
            return
        run, group.run = group.run, []
        encoder = cast(RunEncoder, group.encoder)
        try:
            events = [e.event for e in run]
            frames = [(envelope.seq, encoder.run_frame(envelope.stream, envelope.seq, events))]
        except Exception:  # contained like one event's failure (``_fan_out``)
            frames = [(e.seq, self.framer.unencodable(encoder, e)) for e in run]
        for seq, frame in frames:
            self.frames_encoded += 1
            self._deliver(group, envelope.stream, seq, frame, woken)

    def _deliver(
        self, group: Group, stream: str, seq: int, frame: bytes, woken: dict[int, Subscriber]
    ) -> None:
        """One encoded frame to every member of a group: outboxes and shared channels."""
        state = group.key.stream_class is StreamClass.STATE
        for ident, member in group.outbox_members.items():
            if not member.live:
                member.pending.append((seq, frame))
                member.pending_bytes += len(frame)
                self.pager.buffered(group, member, seq)
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

    def _rechannel(self, shared: Shared) -> None:
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

    # -- joining and leaving -------------------------------------------------------------

    def _group(self, key: StreamKey, encoder: Encoder, view: View) -> Group:
        stream = str(key)
        groups = self._groups.setdefault(stream, {})
        group = groups.get((encoder.name, view))
        if group is None:
            depth_view = None
            if key.kind is StreamKind.BOOK and view.depth is not None:
                depth_view = DepthView(view.depth)
                depth_view.snapshot(self.framer.book(stream))
            group = groups[(encoder.name, view)] = Group(key, encoder, view, depth_view)
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
        page_replay: bool = False,
    ) -> Joined:
        """Join a stream: start buffering live frames, then prepare the first frames.

        With ``page_replay`` the replayed events are not encoded here: ``go_live`` pages them
        into the outbox within its budget, and ``replay_more`` continues as the client drains."""
        self.detach(subscriber, str(key))
        group = self._group(key, encoder, view)
        member = Member(subscriber)
        group.members[id(subscriber)] = member
        group.outbox_members[id(subscriber)] = member
        direct_sink = getattr(subscriber, "direct_sink", None)
        if direct_sink is not None and id(subscriber) not in self._shared:
            sink = direct_sink()
            if sink is not None:
                self._shared[id(subscriber)] = Shared(cast(SharedSubscriber, subscriber), sink)
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
            case Replay() if group.depth_view is None and not replaces_state(plan.envelopes):
                last = plan.envelopes[-1].seq if plan.envelopes else resume.seq
                if page_replay:
                    return Joined(stream, position, (), last, tuple(plan.envelopes))
                return Joined(stream, position, self.framer.replay(group, plan.envelopes), last)
            case Replay() | ResetSnapshot():
                return self._joined_with_snapshot(group, position, reset=True)
            case GapThenReplay():
                gap = encoder.gap_frame(
                    stream, position.epoch, plan.from_seq, plan.to_seq, plan.reason.value
                )
                last = plan.envelopes[-1].seq if plan.envelopes else plan.to_seq
                if page_replay:
                    return Joined(stream, position, (gap,), last, tuple(plan.envelopes))
                frames = (gap, *self.framer.replay(group, plan.envelopes))
                return Joined(stream, position, frames, last)
        raise AssertionError(plan)

    def _joined_with_snapshot(
        self, group: Group, position: StreamPosition, *, reset: bool
    ) -> Joined:
        stream = str(group.key)
        snapshot_position = self._keeper.position(stream) or position
        frame = self.framer.snapshot_frame(group, snapshot_position, reset=reset)
        return Joined(stream, position, (frame,), snapshot_position.seq)

    def go_live(self, subscriber: Subscriber, joined: Joined, encoder: Encoder) -> None:
        """Queue the joined frames, then the buffered live frames past ``last_seq``."""
        found = self._find(subscriber, joined.stream)
        if found is None:
            return
        group, member = found
        if id(subscriber) in self._shared:
            self.flush()  # the old channel's frames go out before the subscriber moves
        outbox = subscriber.outbox
        for frame in joined.frames:
            outbox.push_control(frame)
        member.last_seq = joined.last_seq
        if joined.replay:
            self.pager.start(group, member, joined.replay)
        else:
            self._finish_join(group, member)
        subscriber.wake()

    def _finish_join(self, group: Group, member: Member) -> None:
        """The replay (if any) is queued: queue the buffered live frames and go live."""
        subscriber = member.subscriber
        shared = self._shared.get(id(subscriber))
        if shared is not None:
            self.flush()
        outbox = subscriber.outbox
        for seq, frame in member.pending:
            if seq > member.last_seq:
                outbox.push_control(frame)
        member.pending = []
        member.pending_bytes = 0
        member.replay = None
        member.live = True
        if shared is not None:
            del group.outbox_members[id(subscriber)]
            shared.live.add(group.ident)
            self._rechannel(shared)

    def replay_more(self, subscriber: Subscriber) -> None:
        """The subscriber's writer drained its outbox: queue the next page of its replays."""
        self.pager.more(subscriber)

    def _find(self, subscriber: Subscriber, stream: str) -> tuple[Group, Member] | None:
        for group in self._groups.get(stream, {}).values():
            member = group.members.get(id(subscriber))
            if member is not None:
                return group, member
        return None

    def _member(self, subscriber: Subscriber, stream: str) -> Member | None:
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
            member.replay = None
            if shared is not None and group.ident in shared.live:
                shared.live.discard(group.ident)
                self._rechannel(shared)
            if not group.members:
                del groups[group_key]
        if not groups:
            del self._groups[stream]
        if not self._attached(ident):
            self.pager.forget(ident)
            if shared is not None and not shared.live:
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
            position = self._keeper.position(resync.stream)
            if resync.snapshot and position is not None:
                subscriber.outbox.push_control(
                    self.framer.snapshot_frame(group, position, reset=True)
                )
            elif not resync.snapshot:
                epoch = position.epoch if position else ""
                frame = group.encoder.gap_frame(
                    resync.stream, epoch, resync.gap_from, resync.gap_to, "overflow"
                )
                subscriber.outbox.push_control(frame)
            return

    def subscriber_count(self) -> int:
        return sum(len(g.members) for groups in self._groups.values() for g in groups.values())

"""Joining and leaving streams: two-phase join, resume (replay / reset snapshot / gap), resync
after an overflow (see the package docstring). The hub delegates to a :class:`Joiner`."""

from __future__ import annotations

from typing import cast

from tickcast.book import DepthView
from tickcast.bus import Bus
from tickcast.delivery.outbox import Resync
from tickcast.delivery.recovery import (
    GapThenReplay,
    Replay,
    ResetSnapshot,
    ResumePlan,
    plan_resume,
)
from tickcast.hub.bulk import BulkJoins
from tickcast.hub.channels import Groups, SharedChannels
from tickcast.hub.frames import Framer
from tickcast.hub.paging import ReplayPager
from tickcast.hub.parts import (
    Encoder,
    Group,
    Joined,
    Member,
    Shared,
    SharedSubscriber,
    Subscriber,
    replaces_state,
)
from tickcast.model import StreamClass, StreamKey, StreamKind, StreamPosition, View
from tickcast.state import StateKeeper


class Joiner(BulkJoins):
    """Members joining and leaving the hub's groups (``groups`` is the hub's own map); joins
    and leaves of several streams at once are in ``hub/bulk.py``."""

    def __init__(
        self,
        *,
        bus: Bus,
        groups: Groups,
        channels: SharedChannels,
        framer: Framer,
        keeper: StateKeeper,
    ) -> None:
        self._bus = bus
        self._groups = groups
        self._channels = channels
        self._framer = framer
        self._keeper = keeper
        self.pager = ReplayPager(framer=framer, finish_join=self.finish_join)

    def group(self, key: StreamKey, encoder: Encoder, view: View) -> Group:
        stream = str(key)
        groups = self._groups.setdefault(stream, {})
        group = groups.get((encoder.name, view))
        if group is None:
            depth_view = None
            if key.kind is StreamKind.BOOK and view.depth is not None:
                depth_view = DepthView(view.depth)
                depth_view.snapshot(self._framer.book(stream))
            group = groups[(encoder.name, view)] = Group(key, encoder, view, depth_view)
            position = self._keeper.position(stream)
            group.prev = position.seq if position is not None else 0
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
        group = self.group(key, encoder, view)
        member = Member(subscriber)
        group.members[id(subscriber)] = member
        group.outbox_members[id(subscriber)] = member
        self._register_shared(subscriber)
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
        return self._planned(group, encoder, position, resume, plan, page_replay=page_replay)

    def _forget_if_gone(self, ident: int, shared: Shared | None) -> None:
        if not self._attached(ident):
            self.pager.forget(ident)
            if shared is not None and not shared.live:
                del self._channels.shared[ident]

    def _register_shared(self, subscriber: Subscriber) -> None:
        """A subscriber with a direct sink becomes a shared subscriber (once)."""
        shared = self._channels.shared
        direct_sink = getattr(subscriber, "direct_sink", None)
        if direct_sink is not None and id(subscriber) not in shared:
            sink = direct_sink()
            if sink is not None:
                shared[id(subscriber)] = Shared(cast(SharedSubscriber, subscriber), sink)

    def _planned(
        self,
        group: Group,
        encoder: Encoder,
        position: StreamPosition,
        resume: StreamPosition,
        plan: ResumePlan,
        *,
        page_replay: bool,
    ) -> Joined:
        """The first frames of a resumed join, as ``plan_resume`` decided."""
        stream = str(group.key)
        match plan:
            case Replay() if group.depth_view is None and not replaces_state(plan.envelopes):
                last = plan.envelopes[-1].seq if plan.envelopes else resume.seq
                if page_replay:
                    return Joined(stream, position, (), last, tuple(plan.envelopes), resume.seq)
                frames, prev = self._framer.replay(group, plan.envelopes, resume.seq)
                return Joined(stream, position, frames, last, prev=prev if frames else None)
            case Replay() | ResetSnapshot():
                return self._joined_with_snapshot(group, position, reset=True)
            case GapThenReplay():
                gap = encoder.gap_frame(
                    stream, position.epoch, plan.from_seq, plan.to_seq, plan.reason.value
                )
                last = plan.envelopes[-1].seq if plan.envelopes else plan.to_seq
                if page_replay:
                    envelopes = tuple(plan.envelopes)
                    return Joined(stream, position, (gap,), last, envelopes, plan.to_seq)
                replayed, prev = self._framer.replay(group, plan.envelopes, plan.to_seq)
                prev_or_none = prev if replayed else None
                return Joined(stream, position, (gap, *replayed), last, prev=prev_or_none)
        raise AssertionError(plan)

    def _joined_with_snapshot(
        self, group: Group, position: StreamPosition, *, reset: bool
    ) -> Joined:
        stream = str(group.key)
        snapshot_position = self._keeper.position(stream) or position
        frame = self._framer.snapshot_frame(group, snapshot_position, reset=reset)
        return Joined(stream, position, (frame,), snapshot_position.seq)

    def go_live(self, subscriber: Subscriber, joined: Joined, encoder: Encoder) -> None:
        """Queue the joined frames, then the buffered live frames past ``last_seq``."""
        found = self._find(subscriber, joined.stream)
        if found is None:
            return
        group, member = found
        if id(subscriber) in self._channels.shared:
            self._channels.flush()  # the old channel's frames go out before the subscriber moves
        outbox = subscriber.outbox
        for frame in joined.frames:
            outbox.push_control(frame)
        member.last_seq = joined.last_seq
        member.prev = joined.prev
        member.replayed = joined.prev is not None and not joined.replay
        if joined.replay:
            self.pager.start(group, member, joined.replay)
        else:
            self.finish_join(group, member)
        subscriber.wake()

    def finish_join(self, group: Group, member: Member) -> None:
        """The replay (if any) is queued: queue the buffered live frames and go live."""
        subscriber = member.subscriber
        shared = self._channels.shared.get(id(subscriber))
        if shared is not None:
            self._channels.flush()
        outbox = subscriber.outbox
        chain = member.prev if member.replayed else None
        for seq, prev, frame in member.pending or ():
            if seq > member.last_seq:
                if chain is not None and prev != chain:
                    frame = self._continued(group.encoder, frame, chain)
                chain = None
                outbox.push_control(frame)
        if chain is not None:
            # No live frame since the replay's last Update: the group emitted none of the view
            # since it was created (else the replay holds it), so its chain restarts there.
            group.prev = chain
        member.prev, member.replayed = None, False
        member.pending = None
        member.pending_bytes = 0
        member.replay = None
        member.live = True
        if shared is not None:
            del group.outbox_members[id(subscriber)]
            shared.live = shared.live | {group.ident}
            self._channels.rechannel(shared)

    @staticmethod
    def _continued(encoder: Encoder, frame: bytes, prev: int) -> bytes:
        """The first live frame after a replay continues the replay's ``prev`` chain (the group's
        own chain differs when the group did not exist, or saw other frames, before the join)."""
        with_prev = getattr(encoder, "with_prev", None)
        return frame if with_prev is None else cast(bytes, with_prev(frame, prev))

    def replay_more(self, subscriber: Subscriber) -> None:
        """The subscriber's writer drained its outbox: queue the next page of its replays."""
        self.pager.more(subscriber)

    def _find(self, subscriber: Subscriber, stream: str) -> tuple[Group, Member] | None:
        for group in self._groups.get(stream, {}).values():
            member = group.members.get(id(subscriber))
            if member is not None:
                return group, member
        return None

    def detach(self, subscriber: Subscriber, stream: str) -> None:
        groups = self._groups.get(stream)
        if not groups:
            return
        ident = id(subscriber)
        shared = self._channels.shared.get(ident)
        if shared is not None:
            self._channels.flush()
        if self._drop_member(ident, stream, shared) and shared is not None:
            self._channels.rechannel(shared)
        self._forget_if_gone(ident, shared)
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
                    self._framer.snapshot_frame(group, position, reset=True)
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

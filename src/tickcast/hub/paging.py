"""Paged resume replays (docs/delivery.md, "Joining a stream").

A replay is kept as references to events history holds anyway; its frames are encoded and queued
as data frames only while they fit in the subscriber's outbox budget, and the next page is queued
each time the subscriber's writer drained its outbox (``more``). Live frames of the stream wait
in the member's buffer meanwhile; once they outgrow the budget the subscriber has fallen behind,
and the outbox's overflow policy takes over (``catch_up``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from tickcast.hub.frames import Framer
from tickcast.hub.parts import Group, Member, Subscriber
from tickcast.model import Envelope, StreamClass


class ReplayPager:
    def __init__(self, *, framer: Framer, finish_join: Callable[[Group, Member], None]) -> None:
        self._framer = framer
        self._finish_join = finish_join
        """Queues the member's buffered live frames and makes it live (``Hub``)."""
        self._replaying: dict[int, list[tuple[Group, Member]]] = {}
        """Members whose replay is paged, by subscriber."""
        self._behind: list[tuple[Group, Member, int]] = []
        """Replaying members whose live frames outgrew the budget (see ``catch_up``)."""

    def start(self, group: Group, member: Member, envelopes: Sequence[Envelope]) -> None:
        member.replay = deque(envelopes)
        self._replaying.setdefault(id(member.subscriber), []).append((group, member))
        self._page(group, member)

    def more(self, subscriber: Subscriber) -> None:
        """The subscriber's writer drained its outbox: queue the next page of its replays."""
        replaying = self._replaying.get(id(subscriber))
        if not replaying:
            return
        for group, member in replaying:
            if member.replay is not None and group.members.get(id(subscriber)) is member:
                self._page(group, member)
        replaying[:] = [(g, m) for g, m in replaying if m.replay is not None]
        if not replaying:
            del self._replaying[id(subscriber)]

    def buffered(self, group: Group, member: Member, seq: int) -> None:
        """A live frame was buffered for a joining member: note it if it fell behind."""
        if member.replay is not None and member.pending_bytes > member.subscriber.outbox.max_bytes:
            self._behind.append((group, member, seq))

    def catch_up(self) -> None:
        """Apply the overflow policy to the members that fell behind (after a publish: never
        while the hub iterates a group's members)."""
        behind, self._behind = self._behind, []
        for group, member, seq in behind:
            self._fall_behind(group, member, seq)

    def forget(self, ident: int) -> None:
        """The subscriber left every stream."""
        self._replaying.pop(ident, None)

    def _page(self, group: Group, member: Member) -> None:
        """Queue replay frames while they fit in the outbox budget; go live after the last.
        A frame is only encoded when it is queued (frames that do not fit wait, unencoded)."""
        replay = member.replay
        assert replay is not None
        outbox = member.subscriber.outbox
        state = group.key.stream_class is StreamClass.STATE
        while replay:
            envelope = replay[0]
            if outbox.is_dropping(envelope.stream):  # no need to encode what is dropped
                outbox.push(b"", stream=envelope.stream, seq=envelope.seq, state=state)
                replay.popleft()
                member.prev, member.replayed = envelope.seq, False  # within the outbox's Gap
                continue
            frame = self._framer.replay_frame(group, envelope, member.prev)
            if frame is not None:
                if outbox.pending_bytes and outbox.pending_bytes + len(frame) > outbox.max_bytes:
                    return  # the page is full: ``more`` goes on once the client drained
                outbox.push(frame, stream=envelope.stream, seq=envelope.seq, state=state)
                member.prev, member.replayed = envelope.seq, True
            replay.popleft()
        self._finish_join(group, member)

    def _fall_behind(self, group: Group, member: Member, seq: int) -> None:
        """Live frames outgrew the budget while a replay waited for the client: the rest of
        the replay and the buffered frames are dropped and reported by the outbox's overflow
        policy (a gap notice, or a reset snapshot for a STATE stream) once the client drains."""
        replay = member.replay
        if replay is None or group.members.get(id(member.subscriber)) is not member:
            return
        first = replay[0].seq if replay else member.last_seq + 1
        state = group.key.stream_class is StreamClass.STATE
        member.subscriber.outbox.fall_behind(
            str(group.key), state=state, gap_from=first, gap_to=seq
        )
        member.subscriber.overflow()
        member.last_seq = seq
        member.replayed = False  # the outbox's Gap sets the client's baseline
        self._finish_join(group, member)

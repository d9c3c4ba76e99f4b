"""Joining and leaving several streams at once (the Socket.IO feed joins every symbol of a
selection in one step): one move of a shared subscriber's channel instead of one per stream.
A mixin of :class:`~tickcast.hub.joining.Joiner`."""

from __future__ import annotations

from collections.abc import Iterable

from tickcast.hub.channels import Groups, SharedChannels
from tickcast.hub.parts import Encoder, Group, Member, Shared, Subscriber
from tickcast.model import StreamKey, View


class BulkJoins:
    """``join_live`` and ``leave``; the Joiner provides the state and helpers declared here."""

    _groups: Groups
    _channels: SharedChannels

    def group(self, key: StreamKey, encoder: Encoder, view: View) -> Group:
        raise NotImplementedError

    def _register_shared(self, subscriber: Subscriber) -> None:
        raise NotImplementedError

    def _forget_if_gone(self, ident: int, shared: Shared | None) -> None:
        raise NotImplementedError

    def join_live(
        self, subscriber: Subscriber, encoder: Encoder, keys: Iterable[StreamKey], view: View
    ) -> None:
        """Join streams at once, live from the state keeper's current position: no first
        frames and no buffering, since nothing is awaited (the caller sends what it needs from
        the keeper in the same step, e.g. the Socket.IO feed's ``initial-prices``). A shared
        subscriber moves to its new channel once, demoted. Streams already joined are kept."""
        self._register_shared(subscriber)
        ident = id(subscriber)
        shared = self._channels.shared.get(ident)
        if shared is not None:
            self._channels.flush()  # the old channel's frames go out before the subscriber moves
        member = Member(subscriber, live=True)  # live and never buffering: one for all groups
        joined: list[tuple[str, str, View]] = []
        for key in keys:
            group = self.group(key, encoder, view)
            if ident in group.members:
                continue
            group.members[ident] = member
            if shared is None:
                group.outbox_members[ident] = member
            else:
                joined.append(group.ident)
        if shared is not None:
            shared.live = shared.live.union(joined)
            self._channels.rechannel(shared)

    def leave(self, subscriber: Subscriber, streams: Iterable[str]) -> None:
        """:meth:`detach` from several streams, moving a shared subscriber's channel once."""
        ident = id(subscriber)
        shared = self._channels.shared.get(ident)
        if shared is not None:
            self._channels.flush()
        moved = False
        for stream in streams:
            if not self._groups.get(stream):
                continue
            moved = self._drop_member(ident, stream, shared) or moved
            subscriber.outbox.forget(stream)
        if moved and shared is not None:
            self._channels.rechannel(shared)
        self._forget_if_gone(ident, shared)

    def _drop_member(self, ident: int, stream: str, shared: Shared | None) -> bool:
        """Take subscriber ``ident`` out of every group of ``stream`` (and the groups left empty
        out of the hub); whether its shared channel's set of live groups changed."""
        groups = self._groups[stream]
        moved = False
        for group_key, group in list(groups.items()):
            member = group.members.pop(ident, None)
            if member is None:
                continue
            group.outbox_members.pop(ident, None)
            member.replay = None
            if shared is not None and group.ident in shared.live:
                shared.live = shared.live - {group.ident}
                moved = True
            if not group.members:
                del groups[group_key]
        if not groups:
            del self._groups[stream]
        return moved

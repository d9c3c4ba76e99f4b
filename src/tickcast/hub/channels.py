"""Shared delivery: the channels of the hub's shared subscribers (see the package docstring).

A shared subscriber (one whose ``direct_sink()`` gives a sink) is, once live, a member of the
:class:`~tickcast.delivery.channel.Channel` of its subscription set; frames go to each channel
once and, once per loop pass, every pending channel writes ONE batch to all its direct members.
A member demoted by its transport backlog uses its own outbox until ``promote``.

The channel of a subscription set whose encoder carries a conflation interval (``conflation_s``,
the Socket.IO feed's plans) is a :class:`~tickcast.hub.conflation.ConflatingChannel`: newest
frame per stream, flushed on the channel's own clock instead of every loop pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import cast

from tickcast.delivery.channel import Channel, Framing
from tickcast.hub.conflation import CallLater, ConflatingChannel, conflation_of
from tickcast.hub.parts import SETTLE_INTERVAL_S, Group, Shared, SharedSubscriber, call_later
from tickcast.model import View

Groups = dict[str, dict[tuple[str, View], Group]]
ChannelKey = tuple[Framing, frozenset[tuple[str, str, View]]]
"""A shared channel's key: its sinks' framing and its subscription set (group idents)."""


class SharedChannels:
    """The shared subscribers and their channels; ``groups`` is the hub's own group map."""

    def __init__(
        self,
        groups: Groups,
        schedule: Callable[[Callable[[], None]], None],
        later: CallLater = call_later,
    ) -> None:
        self._groups = groups
        self._schedule = schedule
        self._later = later
        self.shared: dict[int, Shared] = {}
        """Shared subscribers by ``id``."""
        self._channels: dict[Hashable, Channel] = {}
        self._dirty: list[Channel] = []
        self._flush_scheduled = False
        self._slow: set[int] = set()
        """Shared subscribers demoted because their transport backlog was over the limit."""
        self.batches_written = 0
        """Direct batch writes (one per direct member per flushed channel)."""
        self._settled_at = time.monotonic()

    def mark(self, channel: Channel) -> None:
        """A channel has frames to write: flush once this loop pass."""
        self._dirty.append(channel)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._schedule(self.flush)

    def flush(self) -> None:
        """Write every channel's pending frames (once per loop pass)."""
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
            shared = self.shared.get(id(subscriber))
            if shared is not None and shared.channel is not None:
                shared.channel.settle_member(subscriber)
            return
        for channel in self._channels.values():
            channel.settle()

    def promote(self, subscriber: SharedSubscriber) -> bool:
        """The subscriber's outbox is empty: take shared batches directly again if possible."""
        shared = self.shared.get(id(subscriber))
        if shared is None or shared.channel is None:
            return False
        if shared.channel.promote(subscriber, shared.sink):
            self._slow.discard(id(subscriber))
            return True
        return False

    def is_direct(self, subscriber: SharedSubscriber) -> bool:
        shared = self.shared.get(id(subscriber))
        return (
            shared is not None
            and shared.channel is not None
            and (shared.channel.is_direct(subscriber))
        )

    def count(self) -> int:
        return len(self._channels)

    def _on_demote(self, ident: int) -> None:
        self._slow.add(ident)

    def rechannel(self, shared: Shared) -> None:
        """Move a shared subscriber to the channel of its current live set (demoted)."""
        subscriber = shared.subscriber
        old = shared.channel
        if old is not None:
            old.leave(subscriber)
            if not len(old):
                self._drop(old)
            shared.channel = None
        self._slow.discard(id(subscriber))
        if not shared.live:
            return
        key = (shared.sink.framing, shared.live)
        channel = self._channels.get(key)
        if channel is None:
            channel = self._new_channel(key, shared)
            self._channels[key] = channel
            for stream, name, view in shared.live:
                group = self._groups.get(stream, {}).get((name, view))
                if group is not None:
                    group.channels[key] = channel
        else:
            shared.live = cast(ChannelKey, channel.key)[1]  # one set for the channel's members
        channel.join(subscriber)
        shared.channel = channel

    def _new_channel(self, key: Hashable, shared: Shared) -> Channel:
        """A channel for ``shared``'s live set: conflating if its encoder says so."""
        interval = 0.0
        for stream, name, view in shared.live:
            group = self._groups.get(stream, {}).get((name, view))
            if group is not None:
                interval = conflation_of(group.encoder)
                break
        if interval <= 0:
            return Channel(key, shared.sink.framing, on_demote=self._on_demote)
        return ConflatingChannel(
            key,
            shared.sink.framing,
            interval_s=interval,
            call_later=self._later,
            on_demote=self._on_demote,
            on_flushed=self._count_writes,
        )

    def _count_writes(self, writes: int) -> None:
        self.batches_written += writes

    def _drop(self, channel: Channel) -> None:
        if isinstance(channel, ConflatingChannel):
            channel.close()
        self._channels.pop(channel.key, None)
        for groups in self._groups.values():
            for group in groups.values():
                group.channels.pop(channel.key, None)

"""The hub: bus → local subscribers (see the package docstring). ``Hub`` is the façade: the
live path (fold into the state keeper, encode once per group, deliver) is here; shared channels
are in ``channels``, joining and resuming in ``joining``, frames in ``frames``, paged replays in
``paging``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from tickcast.bus import Bus
from tickcast.delivery.outbox import Resync, Verdict
from tickcast.hub.channels import Groups, SharedChannels
from tickcast.hub.conflation import CallLater
from tickcast.hub.frames import Framer
from tickcast.hub.joining import Joiner
from tickcast.hub.parts import (
    Encoder,
    Group,
    Joined,
    RunEncoder,
    SharedSubscriber,
    Subscriber,
    call_later,
    call_soon,
)
from tickcast.model import Envelope, MarketCatalog, StreamClass, StreamKey, StreamPosition, View
from tickcast.state import StateKeeper

logger = logging.getLogger("tickcast.hub")


def _nothing() -> None:
    return None


class Hub:
    def __init__(
        self,
        *,
        bus: Bus,
        catalog: MarketCatalog,
        keeper: StateKeeper | None = None,
        schedule: Callable[[Callable[[], None]], None] | None = None,
        later: CallLater | None = None,
        listen: bool = True,
    ) -> None:
        """``listen=False``: the caller feeds :meth:`on_envelopes` itself (the node's ingest
        pipeline, ``state/pipeline.py``, runs the hub as its first stage). ``schedule`` runs a
        callback in the next loop pass, ``later`` after a delay (conflating channels)."""
        self._keeper = keeper or StateKeeper()
        self._groups: Groups = {}
        self._remove_listener = bus.listen(self.on_envelopes) if listen else _nothing
        self.frames_encoded = 0
        self._channels = SharedChannels(self._groups, schedule or call_soon, later or call_later)
        self.framer = Framer(catalog=catalog, keeper=self._keeper)
        self._joins = Joiner(
            bus=bus,
            groups=self._groups,
            channels=self._channels,
            framer=self.framer,
            keeper=self._keeper,
        )
        self.pager = self._joins.pager

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
        prev, group.prev = group.prev, seq  # the next Update's ``prev`` (docs/protocol.md)
        for ident, member in group.outbox_members.items():
            if not member.live:
                if member.pending is None:
                    member.pending = []
                member.pending.append((seq, prev, frame))
                member.pending_bytes += len(frame)
                self.pager.buffered(group, member, seq)
                continue
            outbox = member.subscriber.outbox
            verdict = outbox.push(frame, stream=stream, seq=seq, state=state)
            if verdict is Verdict.OVERFLOW:
                member.subscriber.overflow()
            woken[ident] = member.subscriber
        if group.channels:
            mark = self._channels.mark
            for channel in group.channels.values():
                if channel.add(stream, seq, state, frame):
                    mark(channel)

    # -- shared channels (``channels``) ----------------------------------------------------

    @property
    def batches_written(self) -> int:
        """Direct batch writes (one per direct member per flushed channel)."""
        return self._channels.batches_written

    def flush(self) -> None:
        """Write every channel's pending frames (once per loop pass)."""
        self._channels.flush()

    def backlogged(self) -> bool:
        """Whether some shared subscriber is behind (its transport backlog overflowed)."""
        return self._channels.backlogged()

    def settle(self, subscriber: SharedSubscriber | None = None) -> None:
        """Report directly written frames to their subscribers: one of them, or all."""
        self._channels.settle(subscriber)

    def promote(self, subscriber: SharedSubscriber) -> bool:
        """The subscriber's outbox is empty: take shared batches directly again if possible."""
        return self._channels.promote(subscriber)

    def is_direct(self, subscriber: SharedSubscriber) -> bool:
        return self._channels.is_direct(subscriber)

    def channel_count(self) -> int:
        return self._channels.count()

    # -- joining and leaving (``joining``) -------------------------------------------------

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
        """Join a stream: start buffering live frames, then prepare the first frames
        (``Joiner.attach``)."""
        return await self._joins.attach(
            subscriber, encoder, key, view, resume, max_replay=max_replay, page_replay=page_replay
        )

    def join_live(
        self, subscriber: Subscriber, encoder: Encoder, keys: Iterable[StreamKey], view: View
    ) -> None:
        """Join streams at once from the keeper's current position, without first frames
        (``Joiner.join_live``; the Socket.IO feed)."""
        self._joins.join_live(subscriber, encoder, keys, view)

    def leave(self, subscriber: Subscriber, streams: Iterable[str]) -> None:
        """Detach from several streams at once (``Joiner.leave``)."""
        self._joins.leave(subscriber, streams)

    def go_live(self, subscriber: Subscriber, joined: Joined, encoder: Encoder) -> None:
        """Queue the joined frames, then the buffered live frames past ``last_seq``."""
        self._joins.go_live(subscriber, joined, encoder)

    def replay_more(self, subscriber: Subscriber) -> None:
        """The subscriber's writer drained its outbox: queue the next page of its replays."""
        self.pager.more(subscriber)

    def detach(self, subscriber: Subscriber, stream: str) -> None:
        self._joins.detach(subscriber, stream)

    def resync(self, subscriber: Subscriber, resync: Resync) -> None:
        """After an overflow ended: queue a reset snapshot (STATE) or a gap notice (EVENT)."""
        self._joins.resync(subscriber, resync)

    def subscriber_count(self) -> int:
        return self._joins.subscriber_count()

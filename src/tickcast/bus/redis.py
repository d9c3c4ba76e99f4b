"""RedisBus: the bus shared by every node of a cluster (with ``redis_shard``, one instance, and
``redis_publish``, the publish queue: the modules importing ``redis``).

Per stream, in the Redis instance the stream's name hashes to (several URLs shard streams):

- ``tc:m:{stream}`` hash ``seq``, ``epoch``: the last seq and the stream's epoch;
- ``tc:h:{stream}`` Redis Stream with entry ids ``<seq>-0``: the bounded history (exact MAXLEN);
- ``tc:s:{stream}`` hash: the current state of a STATE stream (see ``bus.state_ops``);
- ``tc:streams`` set of the instance's streams, and the channel ``tc:bus`` carrying every
  envelope published there.

One Lua script per publish call assigns seqs, appends history, updates state and publishes, so
each of these is atomic per stream. A stream gets a fresh random epoch when its keys are first
created, or when its history vanished while its counter survived; the epoch therefore survives
any number of gateway or ingest restarts while Redis keeps the stream, and changes when Redis lost
it (a restart without persistence, FLUSHALL, eviction).

A subscribing node listens on ``tc:bus`` of every instance. It subscribes first, then reads every
stream's state and position in one script (handed to the restore hook, e.g. the hub's
StateKeeper), then delivers what arrived since, dropping envelopes it already has and filling a
hole (a lost pub/sub message, a reconnect) from history before delivering past it. ``position``
waits (briefly) until this node has delivered what Redis reports, so a snapshot the hub cuts from
its StateKeeper right after is never older than the position it announces.

Every Redis error is turned into :class:`tickcast.errors.BusError` (``redis_shard.redis_errors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from tickcast.bus.base import Chain, Listener, Listeners
from tickcast.bus.codec import decode_event
from tickcast.bus.names import stream_name
from tickcast.bus.redis_publish import MAX_EVENTS_PER_CALL, Publisher, submit_sharded
from tickcast.bus.redis_scripts import (
    CHANNEL,
    POSITION_LUA,
    PUBLISH_LUA,
    RESTORE_LUA,
    STATE_LUA,
    STREAMS_KEY,
    meta_key,
    state_key,
)
from tickcast.bus.redis_shard import RedisShard, new_epoch, redis_errors, shard_of
from tickcast.bus.state_ops import events_from_fields
from tickcast.clock import Clock, SystemClock
from tickcast.errors import BusError
from tickcast.model import Envelope, Event, StreamPosition

logger = logging.getLogger("tickcast.bus")

RESYNC_KINDS = ("book:", "quotes:", "ticker:")
"""STATE streams whose whole state is one event, so a lost stretch is repaired by jumping to it."""
CATCH_UP_WAIT = 0.5
"""Seconds ``position`` waits for pub/sub to deliver what Redis already has (then: history)."""

__all__ = [
    "CHANNEL", "MAX_EVENTS_PER_CALL", "PUBLISH_LUA", "STREAMS_KEY", "RedisBus", "RedisShard",
    "new_epoch", "redis_errors", "shard_of",
]  # fmt: skip


class RedisBus:
    """The Bus contract over one or more Redis instances (streams sharded by name)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        history_size: int = 10_000,
        clock: Clock | None = None,
        subscribe: bool = True,
    ) -> None:
        if not urls:
            raise ValueError("RedisBus needs at least one redis:// URL")
        self._clock = clock or SystemClock()
        self._history_size = history_size
        self._subscribe = subscribe
        self.shards = [RedisShard(url) for url in urls]
        self._publishers = [Publisher(s, history_size, self._clock) for s in self.shards]
        self._listeners = Listeners()
        self._restore: Listener | None = None
        self._seen: dict[str, StreamPosition] = {}
        """Per stream, the last position delivered to listeners (subscribing buses)."""
        self._streams: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: list[asyncio.Event] = []
        self._waiters: dict[str, list[tuple[StreamPosition, asyncio.Future[None]]]] = {}
        self.holes = 0
        """Envelopes that could not be recovered from history before a later one was delivered."""

    @property
    def publishers(self) -> list[Publisher]:
        """The publish queue of each instance (read their ``max_in_flight``)."""
        return self._publishers

    @property
    def control(self) -> RedisShard:
        """The instance holding cluster-wide keys (connection leases): the first URL."""
        return self.shards[0]

    def on_restore(self, restore: Listener) -> None:
        """Receive, at start, each STATE stream's current state as envelopes at its last seq
        (a book as one full BookSnapshot), for the hub's StateKeeper and the ingest side's
        BookChecksummer."""
        self._restore = restore

    def _shard(self, stream: str) -> int:
        return shard_of(stream, len(self.shards))

    # -- the Bus contract -----------------------------------------------------------------

    async def publish(
        self,
        events: Sequence[Event],
        *,
        chain: Chain | None = None,
        encoded: list[bytes] | None = None,
    ) -> list[Envelope]:
        """``Bus.publish``; with ``chain``, the batch is one of a producer's batches in flight
        together (``bus.base.Chain``: once one fails, the later ones fail too, never applied);
        ``encoded``: each event's ``codec.encode_event`` bytes, if the caller made them."""
        if not events:
            return []
        streams = [stream_name(event) for event in events]
        results = await submit_sharded(self._publishers, events, streams, chain, encoded)
        envelopes = [
            Envelope(stream, seq, epoch, event, now)
            for stream, event, (seq, epoch, now) in zip(streams, events, results, strict=True)
        ]
        self._streams.update(streams)
        if not self._subscribe:
            self._deliver(envelopes)
        elif self._tasks:
            await self._delivered(envelopes)
        return envelopes

    async def _delivered(self, envelopes: list[Envelope]) -> None:
        """A subscribing bus's publish returns once its own pub/sub delivery has reached what it
        published (as on the memory bus, whose publish delivers before it returns): what the
        publisher does next, e.g. close a connection, comes after the events in every dialect."""
        last: dict[str, StreamPosition] = {}
        for envelope in envelopes:
            last[envelope.stream] = envelope.position
        for stream, position in last.items():
            await self._caught_up(stream, position)

    def listen(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    async def position(self, stream: str) -> StreamPosition:
        shard = self.shards[self._shard(stream)]
        seq, epoch = await shard.script(POSITION_LUA, [meta_key(stream)], [new_epoch()])
        position = StreamPosition(int(seq), epoch.decode())
        if self._subscribe and self._tasks:
            await self._caught_up(stream, position)
        return position

    async def history(self, stream: str) -> list[Envelope]:
        epoch, entries = await self.shards[self._shard(stream)].history(stream)
        return [_entry_envelope(stream, epoch, entry) for entry in entries]

    def streams(self) -> list[str]:
        return sorted(self._streams)

    async def start(self) -> None:
        for shard in self.shards:
            await shard.ping()
        if not self._subscribe:  # an ingest node: still hand the current state to the hook
            for index in range(len(self.shards)):
                await self._catch_up(index)
            return
        for index in range(len(self.shards)):
            ready = asyncio.Event()
            self._ready.append(ready)
            self._tasks.append(asyncio.create_task(self._listen_forever(index, ready)))
        for ready, task in zip(self._ready, self._tasks, strict=True):
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if task.done():
                await self.stop()
                task.result()  # the shard failed before it was ready: raise its BusError
                raise BusError("redis subscription ended before it was ready")

    async def stop(self) -> None:
        for publisher in self._publishers:
            publisher.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._listeners.clear()
        for shard in self.shards:
            await shard.close()

    # -- subscribing ----------------------------------------------------------------------

    async def _listen_forever(self, index: int, ready: asyncio.Event) -> None:
        shard = self.shards[index]
        delay = 0.1
        while True:
            try:
                async with shard.subscribe(CHANNEL) as subscription:
                    await self._catch_up(index)
                    ready.set()
                    delay = 0.1
                    while True:
                        payload = await subscription.next()
                        if payload is None:
                            continue
                        try:
                            await self._on_message(index, payload)
                        except BusError:
                            raise
                        except Exception:  # a bad message or a failing listener: go on
                            logger.exception("bus: message on %s not delivered", CHANNEL)
            except BusError as error:
                if not ready.is_set():
                    raise
                logger.warning("bus: %s; resubscribing in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _catch_up(self, index: int) -> None:
        """After (re)subscribing: the state of new streams, history of those already seen."""
        rows = await self.shards[index].script(RESTORE_LUA, [STREAMS_KEY], [])
        restored: list[Envelope] = []
        reset: list[Envelope] = []
        behind: list[str] = []
        for raw_stream, raw_seq, raw_epoch, fields in rows:
            stream = raw_stream.decode()
            position = StreamPosition(int(raw_seq), raw_epoch.decode())
            self._streams.add(stream)
            seen = self._seen.get(stream)
            if seen is not None and seen.epoch == position.epoch:
                if seen.seq < position.seq:
                    behind.append(stream)
                continue
            pairs = dict(zip(fields[::2], fields[1::2], strict=True))
            state = [
                Envelope(stream, position.seq, position.epoch, event, 0)
                for event in (events_from_fields(pairs) if pairs else [])
            ]
            if seen is not None and stream.startswith(RESYNC_KINDS):
                reset.extend(state[-1:])  # the epoch changed under us: subscribers get the state
            else:
                self._seen[stream] = position
                restored.extend(state)
        if restored and self._restore is not None:
            self._restore(restored)
        self._deliver(reset)
        for stream in behind:
            await self._fill(stream, None)

    async def _fill(self, stream: str, upto: int | None) -> None:
        """Deliver what history holds after the last delivered seq (up to ``upto`` exclusive).

        Called when this node is known to be behind. If history no longer starts right after
        the last delivered seq, a book, quote or ticker stream jumps to its current state (one
        envelope at the current seq: a full BookSnapshot resets the hub's book and its
        subscribers'); other streams get what is left (a hole, counted in ``holes``)."""
        seen = self._seen.get(stream)
        first = seen.seq + 1 if seen is not None else None
        epoch, entries = await self.shards[self._shard(stream)].history(stream, first)
        if seen is not None and epoch != seen.epoch:
            return  # history was lost meanwhile: the new epoch's messages are accepted as they come
        envelopes = [_entry_envelope(stream, epoch, entry) for entry in entries]
        envelopes = [e for e in envelopes if upto is None or e.seq < upto]
        if seen is None or (envelopes and envelopes[0].seq == seen.seq + 1):
            if upto is None or not envelopes or envelopes[-1].seq == upto - 1:
                self._deliver(envelopes)
                return
        self.holes += 1
        logger.warning(
            "bus: %s lost messages after seq %d (no longer in history)",
            stream,
            seen.seq if seen else 0,
        )
        if stream.startswith(RESYNC_KINDS):
            await self._resync(stream)
        else:
            self._deliver(envelopes)

    async def _resync(self, stream: str) -> None:
        """Deliver the stream's current state as one envelope at its current seq."""
        shard = self.shards[self._shard(stream)]
        raw_seq, raw_epoch, fields = await shard.script(
            STATE_LUA, [meta_key(stream), state_key(stream)], []
        )
        if raw_epoch is None or not fields:
            return
        events = events_from_fields(dict(zip(fields[::2], fields[1::2], strict=True)))
        seq, epoch = int(raw_seq), raw_epoch.decode()
        self._deliver([Envelope(stream, seq, epoch, event, 0) for event in events[-1:]])

    async def _on_message(self, index: int, payload: bytes) -> None:
        pending: list[Envelope] = []
        ahead: dict[str, StreamPosition] = {}
        for record in payload.split(b"\n"):
            try:
                envelope = _record_envelope(record)
            except ValueError:
                logger.warning("bus: ignored a malformed record on %s: %r", CHANNEL, record[:200])
                continue
            stream = envelope.stream
            last = ahead.get(stream) or self._seen.get(stream)
            if last is not None and last.epoch == envelope.epoch:
                if envelope.seq <= last.seq:
                    continue
                if envelope.seq > last.seq + 1:  # a lost message: replay it from history first
                    self._deliver(pending)
                    pending = []
                    ahead.clear()
                    await self._fill(stream, envelope.seq)
            pending.append(envelope)
            ahead[stream] = envelope.position
        self._deliver(pending)

    def _deliver(self, envelopes: list[Envelope]) -> None:
        """Hand envelopes to the listeners, each stream's once and in seq order."""
        fresh: list[Envelope] = []
        seen_by_stream = self._seen
        latest: dict[str, Envelope] = {}  # this call's last fresh envelope per stream
        for envelope in envelopes:
            stream = envelope.stream
            last = latest.get(stream) or seen_by_stream.get(stream)
            if last is not None and last.epoch == envelope.epoch and envelope.seq <= last.seq:
                continue
            latest[stream] = envelope
            fresh.append(envelope)
        if not fresh:
            return
        for stream, envelope in latest.items():
            seen_by_stream[stream] = envelope.position
        self._streams.update(latest)
        self._listeners.deliver(fresh)
        if self._waiters:
            for envelope in fresh:
                for target, future in self._waiters.get(envelope.stream, ()):
                    if self._reached(envelope.stream, target) and not future.done():
                        future.set_result(None)

    def _reached(self, stream: str, target: StreamPosition) -> bool:
        seen = self._seen.get(stream)
        if seen is None:
            return target.seq == 0
        return seen.epoch == target.epoch and seen.seq >= target.seq

    async def _caught_up(self, stream: str, target: StreamPosition) -> None:
        """Wait until this node has delivered ``target`` (a position just read from Redis), so
        that what the hub cuts from its StateKeeper is at least that new. Pub/sub trails Redis by
        a hop; after ``CATCH_UP_WAIT`` the rest is read from history instead."""
        if self._reached(stream, target):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(stream, [])
        waiters.append((target, future))
        try:
            await asyncio.wait_for(future, CATCH_UP_WAIT)
        except TimeoutError:
            await self._fill(stream, None)
        finally:
            waiters.remove((target, future))
            if not waiters:
                del self._waiters[stream]


def _entry_envelope(stream: str, epoch: str, entry: Any) -> Envelope:
    entry_id, fields = entry
    seq = int(entry_id.split(b"-")[0])
    return Envelope(stream, seq, epoch, decode_event(fields[b"e"]), int(fields[b"t"]))


def _record_envelope(record: bytes) -> Envelope:
    stream, seq, epoch, now, payload = record.split(b"\t", 4)
    return Envelope(stream.decode(), int(seq), epoch.decode(), decode_event(payload), int(now))

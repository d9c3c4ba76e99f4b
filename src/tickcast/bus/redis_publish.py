"""The publishing side of the Redis bus (``bus.redis``): one queue per instance, pipelined.

Each submission is encoded when it is submitted (in the caller's turn, while Redis runs earlier
calls) and split into chunks of at most ``MAX_EVENTS_PER_CALL`` events; queued chunks are merged
into script calls of at most that many events. The calls go out in order on a connection of the
publisher's own, up to ``WINDOW`` of them in flight: call k+1 is sent while call k's reply is
outstanding, and a reader resolves the replies in order.

Ordering across failures: every call carries the publisher's fence (``redis_scripts.PUBLISH_LUA``)
and the token of the call sent before it, so Redis applies a prefix of the calls sent, in order,
never a later call after an earlier one failed. When a connection breaks or a call fails, the
publisher opens a new connection and reads the fence: the calls it shows applied are resolved from
their stored replies (a reply lost with its connection is not a failure), the others fail with
``BusError`` (nothing of them was applied but by a script failing halfway, as before), and so does
every later chunk of a submission that failed. Callers retry (``server.cluster.publish_retrying``)
after the calls before theirs are settled. A submission may belong to a ``Chain`` (one source's
batches in flight together): once one of its submissions fails, its later ones are not sent (those
sent are fenced off by then) and fail with the same error, so the source's retry keeps its order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tickcast.bus.base import Chain
from tickcast.bus.codec import encode_event
from tickcast.bus.redis_scripts import CHANNEL, PUBLISH_LUA, SETTLE_LUA, STREAMS_KEY, fence_key
from tickcast.bus.redis_shard import RedisShard, redis_errors, reply_error, shard_of
from tickcast.bus.state_ops import ops_json
from tickcast.clock import Clock
from tickcast.errors import BusError
from tickcast.model import Event

logger = logging.getLogger("tickcast.bus")

MAX_EVENTS_PER_CALL = 512
"""Events per publish script call: bounds how long one call holds a Redis instance."""
WINDOW = 8
"""Script calls in flight at once on a publisher's connection."""
KEEP_REPLIES = 4 * WINDOW
"""Replies the fence keeps (those of the calls that can be in flight when a connection breaks)."""

NOT_RUN = ("TCFENCE", "NOSCRIPT")
"""Error replies of a call that changed nothing: it is sent again, after those before it."""
CLIENT_NAME = "tickcast-publisher"
"""The name of a publisher's connection in Redis' CLIENT LIST."""

Result = list[tuple[int, str, int]]


@dataclass(slots=True, eq=False)
class _Pending:
    """One submission: its future, its chunks not yet resolved, the results so far."""

    future: asyncio.Future[Result]
    chain: Chain | None = None
    chunks: int = 0
    results: Result = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Chunk:
    owner: _Pending
    records: bytes
    count: int


@dataclass(slots=True, eq=False)
class _Call:
    chunks: list[_Chunk]
    token: int
    now: int
    error: BusError | None = None
    """Its own error reply (not a fence's): it fails rather than going again."""


class _Epochs:
    """Fresh random epochs, one per call, drawn from the OS in blocks (not one read per call)."""

    def __init__(self) -> None:
        self._pool: list[str] = []

    def take(self) -> str:
        if not self._pool:
            block = secrets.token_hex(6 * 256)
            self._pool = [block[i : i + 12] for i in range(0, len(block), 12)]
        return self._pool.pop()


class Publisher:
    """Per-instance publish queue: calls go out in order, pipelined, fenced (module docstring)."""

    def __init__(self, shard: RedisShard, history_size: int, clock: Clock) -> None:
        self._shard = shard
        self._history_size = history_size
        self._clock = clock
        self._fence = fence_key(secrets.token_hex(8))
        self._queue: deque[_Chunk] = deque()
        self._inflight: deque[_Call] = deque()
        self._wake = asyncio.Event()
        self._sent = asyncio.Event()
        self._broken: BusError | None = None
        self._task: asyncio.Task[None] | None = None
        self._token = 0
        self._prev = ""
        self._sha = b""
        self._epochs = _Epochs()
        self.max_in_flight = 0
        """The most calls seen in flight at once (tests, benchmarks)."""

    @property
    def in_flight(self) -> int:
        """Calls sent and not yet answered."""
        return len(self._inflight)

    def submit(
        self,
        events: list[Event],
        streams: list[str],
        chain: Chain | None = None,
        encoded: list[bytes] | None = None,
    ) -> asyncio.Future[Result]:
        """``encoded``: each event's ``encode_event`` bytes if the caller made them already."""
        pending = _Pending(asyncio.get_running_loop().create_future(), chain)
        datas = encoded if encoded is not None else [encode_event(event) for event in events]
        for start in range(0, len(events), MAX_EVENTS_PER_CALL):
            end = start + MAX_EVENTS_PER_CALL
            part = zip(streams[start:end], events[start:end], datas[start:end], strict=True)
            records = [
                b"%s\t%s\t%s" % (stream.encode(), ops_json(event), data)
                for stream, event, data in part
            ]
            self._queue.append(_Chunk(pending, b"\n".join(records), len(records)))
            pending.chunks += 1
        if not pending.chunks:
            pending.future.set_result([])
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._serve())
        return pending.future

    def cancel(self) -> None:
        """Stop sending: queued and unanswered publishes fail with BusError."""
        if self._task is not None:
            self._task.cancel()
        self._fail_all(BusError("bus stopped"))

    def _fail_all(self, error: BusError) -> None:
        self._fail(error, [chunk for call in self._inflight for chunk in call.chunks])
        self._inflight.clear()
        self._fail(error, list(self._queue))
        self._queue.clear()

    # -- the connection -------------------------------------------------------------------

    async def _serve(self) -> None:
        try:
            await self._connections()
        except Exception as error:  # a bug, not Redis: no publish may wait forever
            logger.exception("bus: the redis publisher failed")
            self._fail_all(BusError(f"redis publisher failed: {error!r}"))

    async def _connections(self) -> None:
        """One connection after another, each until it breaks; settles what a broken one left."""
        while True:
            await self._wake.wait()
            connection = self._shard.connection()
            try:
                try:
                    await self._open(connection)
                except BusError as error:
                    self._fail_all(error)
                    self._wake.clear()
                    continue
                await self._session(connection)
            finally:
                with contextlib.suppress(Exception):
                    await connection.disconnect()

    async def _command(self, connection: Any, *args: Any) -> Any:
        with redis_errors("publish"):
            await connection.send_command(*args, check_health=False)
            return await connection.read_response()

    async def _open(self, connection: Any) -> None:
        """Connect, load the script, read the fence and settle the calls left in flight."""
        with redis_errors("publish"):
            await connection.connect()
        await self._command(connection, "CLIENT", "SETNAME", CLIENT_NAME)
        self._sha = await self._command(connection, "SCRIPT", "LOAD", PUBLISH_LUA)
        fresh = "s" + secrets.token_hex(6)
        tokens = [str(call.token) for call in self._inflight]
        _, *replies = await self._command(
            connection, "EVAL", SETTLE_LUA, 1, self._fence, fresh, *tokens
        )
        self._prev = fresh
        self._broken = None
        again: list[_Chunk] = []
        while self._inflight:
            call, reply = self._inflight.popleft(), replies.pop(0)
            if reply is not None:
                self._resolve(call, reply)
            elif call.error is not None:
                self._fail(call.error, call.chunks)
            else:  # fenced, or its reply lost with the connection: not applied, so it goes again
                again.extend(call.chunks)
        self._queue.extendleft(reversed(again))
        self._wake.set()

    async def _session(self, connection: Any) -> None:
        """Send while the window has room; a reader resolves replies; until a failure."""
        reader = asyncio.create_task(self._read(connection))
        try:
            while self._broken is None:
                call = self._next_call() if len(self._inflight) < WINDOW else None
                if call is None:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self._inflight.append(call)
                self.max_in_flight = max(self.max_in_flight, len(self._inflight))
                self._sent.set()
                try:
                    with redis_errors("publish"):
                        await connection.send_packed_command(self._pack(call), check_health=False)
                except BusError as error:
                    self._broken = self._broken or error
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read(self, connection: Any) -> None:
        try:
            while True:
                if not self._inflight:
                    self._sent.clear()
                    await self._sent.wait()
                    continue
                try:
                    with redis_errors("publish"):
                        reply = await connection.read_response()
                except BusError as error:
                    text = reply_error(error)
                    if text is not None and not text.startswith(NOT_RUN):
                        self._inflight[0].error = error
                    raise
                self._resolve(self._inflight.popleft(), reply)
                self._wake.set()
        except BusError as error:
            self._broken = error
            self._wake.set()

    # -- calls ----------------------------------------------------------------------------

    def _next_call(self) -> _Call | None:
        """The queued chunks (of submissions not failed, nor of a failed chain) for the next
        call, merged up to ``MAX_EVENTS_PER_CALL`` events."""
        chunks: list[_Chunk] = []
        count = 0
        queue = self._queue
        while queue and (not chunks or count + queue[0].count <= MAX_EVENTS_PER_CALL):
            chunk = queue.popleft()
            chain = chunk.owner.chain
            if chain is not None and chain.error is not None:
                self._fail(chain.error, [chunk])
            elif not chunk.owner.future.done():
                chunks.append(chunk)
                count += chunk.count
        if not chunks:
            return None
        self._token += 1
        return _Call(chunks, self._token, self._clock.monotonic_ns())

    def _pack(self, call: _Call) -> list[bytes]:
        token = str(call.token)
        drop = str(call.token - KEEP_REPLIES) if call.token > KEEP_REPLIES else ""
        records = b"\n".join(chunk.records for chunk in call.chunks)
        args = [self._history_size, self._epochs.take(), call.now, CHANNEL,
                self._prev, token, drop, records]  # fmt: skip
        self._prev = token
        packed: list[bytes] = self._shard.pack(
            "EVALSHA", self._sha, 2, STREAMS_KEY, self._fence, *args
        )
        return packed

    def _resolve(self, call: _Call, reply: bytes) -> None:
        items = reply.split(b",")
        epochs: dict[bytes, str] = {}
        offset = 0
        for chunk in call.chunks:
            owner = chunk.owner
            for item in items[offset : offset + chunk.count]:
                seq, epoch = item.split(b" ")
                text = epochs.get(epoch)
                if text is None:
                    text = epochs[epoch] = epoch.decode()
                owner.results.append((int(seq), text, call.now))
            offset += chunk.count
            owner.chunks -= 1
            if not owner.chunks and not owner.future.done():
                owner.future.set_result(owner.results)

    @staticmethod
    def _fail(error: BusError, chunks: list[_Chunk]) -> None:
        for chunk in chunks:
            owner = chunk.owner
            if owner.chain is not None and owner.chain.error is None:
                owner.chain.error = error
            if not owner.future.done():
                owner.future.set_exception(error)


async def submit_sharded(
    publishers: Sequence[Publisher],
    events: Sequence[Event],
    streams: list[str],
    chain: Chain | None,
    encoded: list[bytes] | None,
) -> Result:
    """``(seq, epoch, published_ns)`` of each event, its batch split by the shard its stream
    hashes to (``redis_shard.shard_of``), one ``submit`` per publisher, all in flight at once."""
    if len(publishers) == 1:
        return await publishers[0].submit(list(events), streams, chain, encoded)
    groups: dict[int, list[int]] = {}
    for index, stream in enumerate(streams):
        groups.setdefault(shard_of(stream, len(publishers)), []).append(index)
    futures = {
        shard: publishers[shard].submit(
            [events[i] for i in indexes],
            [streams[i] for i in indexes],
            chain,
            None if encoded is None else [encoded[i] for i in indexes],
        )
        for shard, indexes in groups.items()
    }
    results: Result = [(0, "", 0)] * len(events)
    for shard, future in futures.items():
        for index, position in zip(groups[shard], await future, strict=True):
            results[index] = position
    return results

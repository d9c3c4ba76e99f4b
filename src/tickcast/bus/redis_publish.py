"""The publishing side of the Redis bus (``bus.redis``): one queue per instance, calls in
order, coalesced, one script call per ``MAX_EVENTS_PER_CALL`` events and several calls in one
pipeline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from tickcast.bus.codec import encode_event
from tickcast.bus.redis_scripts import CHANNEL, PUBLISH_LUA, STREAMS_KEY
from tickcast.bus.redis_shard import RedisShard, new_epoch
from tickcast.bus.state_ops import ops_json
from tickcast.clock import Clock
from tickcast.errors import BusError
from tickcast.model import Event

MAX_EVENTS_PER_CALL = 512
"""Events per publish script call: bounds how long one call holds a Redis instance."""


@dataclass(slots=True)
class _Pending:
    events: list[Event]
    streams: list[str]
    future: asyncio.Future[list[tuple[int, str, int]]]


class Publisher:
    """Per-instance publish queue: calls go out in order, one script call at a time, coalesced."""

    def __init__(self, shard: RedisShard, history_size: int, clock: Clock) -> None:
        self._shard = shard
        self._history_size = history_size
        self._clock = clock
        self._queue: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None

    def submit(
        self, events: list[Event], streams: list[str]
    ) -> asyncio.Future[list[tuple[int, str, int]]]:
        future: asyncio.Future[list[tuple[int, str, int]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.append(_Pending(events, streams, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return future

    def cancel(self) -> None:
        """Stop sending: queued publishes fail with BusError."""
        if self._task is not None:
            self._task.cancel()
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(BusError("bus stopped"))
        self._queue.clear()

    async def _run(self) -> None:
        while self._queue:
            batch: list[_Pending] = []
            count = 0
            while self._queue and (not batch or count + len(self._queue[0].events) <= 4096):
                item = self._queue.pop(0)
                batch.append(item)
                count += len(item.events)
            events = [event for item in batch for event in item.events]
            streams = [stream for item in batch for stream in item.streams]
            try:
                results = await self._calls(events, streams)
            except BaseException as error:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(
                            error if isinstance(error, Exception) else BusError("publish cancelled")
                        )
                if not isinstance(error, Exception):
                    raise
                continue
            offset = 0
            for item in batch:
                if not item.future.done():
                    item.future.set_result(results[offset : offset + len(item.events)])
                offset += len(item.events)

    async def _calls(self, events: list[Event], streams: list[str]) -> list[tuple[int, str, int]]:
        """One script call per ``MAX_EVENTS_PER_CALL`` events, all of them sent in one pipeline
        (Redis runs them in order); the seqs and epochs they assigned, in event order."""
        now = self._clock.monotonic_ns()
        calls = [
            self._args(events[start : start + MAX_EVENTS_PER_CALL],
                       streams[start : start + MAX_EVENTS_PER_CALL], now)
            for start in range(0, len(events), MAX_EVENTS_PER_CALL)
        ]  # fmt: skip
        if len(calls) == 1:
            replies = [await self._shard.script(PUBLISH_LUA, [STREAMS_KEY], calls[0])]
        else:
            replies = await self._shard.scripts(PUBLISH_LUA, [STREAMS_KEY], calls)
        results: list[tuple[int, str, int]] = []
        epochs: dict[bytes, str] = {}
        for reply in replies:
            for item in reply.split(b","):
                seq, epoch = item.split(b" ")
                text = epochs.get(epoch)
                if text is None:
                    text = epochs[epoch] = epoch.decode()
                results.append((int(seq), text, now))
        return results

    def _args(self, events: list[Event], streams: list[str], now: int) -> list[Any]:
        records = []
        for event, stream in zip(events, streams, strict=True):
            records.append(b"%s\t%s\t%s" % (stream.encode(), ops_json(event), encode_event(event)))
        return [self._history_size, new_epoch(), now, CHANNEL, b"\n".join(records)]

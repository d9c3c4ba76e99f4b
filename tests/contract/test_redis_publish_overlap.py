"""The Redis bus publishes pipelined (several script calls in flight on one connection): seqs stay
dense and in submission order, a failing call lets no later call in before it, and calls cut off
with their connection go again exactly once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tickcast.bus.codec import encode_event
from tickcast.bus.redis import RedisBus, RedisShard
from tickcast.bus.redis_publish import CLIENT_NAME, MAX_EVENTS_PER_CALL
from tickcast.bus.redis_scripts import (
    PUBLISH_LUA,
    SETTLE_LUA,
    STREAMS_KEY,
    fence_key,
    meta_key,
)
from tickcast.errors import BusError
from tickcast.model import BookDelta, Envelope, Event, Side, Trade

SOURCES = 6
"""Concurrent publishers (sources), each on markets of its own."""
BATCH = MAX_EVENTS_PER_CALL // 2 + 44
"""Two queued batches do not fit one call: each batch is a call of its own."""


def market(source: int) -> str:
    return f"src{source}-foo-usd-spot"


def batch(source: int, n: int) -> list[Event]:
    """Trades and book deltas of the source's market, numbered so their order is checkable."""
    events: list[Event] = []
    for i in range(n * BATCH, (n + 1) * BATCH):
        if i % 4 == 0:
            events.append(BookDelta(market(source), ((100 - i % 9, i + 1),), ((101, i % 3),), i))
        else:
            events.append(Trade(market(source), f"t{i}", 100 + i, 1000, Side.BUY, i))
    return events


def per_stream(envelopes: list[Envelope]) -> dict[str, list[Envelope]]:
    streams: dict[str, list[Envelope]] = {}
    for envelope in envelopes:
        streams.setdefault(envelope.stream, []).append(envelope)
    return streams


async def until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def held(url: str, bus: RedisBus, calls: int) -> AsyncIterator[aioredis.Redis]:
    """Redis runs no script (CLIENT PAUSE WRITE) until ``calls`` calls of the bus are in flight:
    they overlap whatever the machine's scheduling. The publisher's connection must be open."""
    admin = aioredis.Redis.from_url(url)
    await admin.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
    try:
        yield admin
        await until(lambda: bus.publishers[0].in_flight == calls)
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()


async def test_overlapping_calls_keep_each_source_in_order_and_seqs_dense(redis_url: str) -> None:
    ingest = RedisBus([redis_url], history_size=10_000, subscribe=False)
    gateway = RedisBus([redis_url], history_size=10_000)
    received: list[Envelope] = []
    gateway.listen(received.extend)
    await ingest.start()
    await gateway.start()
    published: list[Envelope] = []

    async def source(index: int) -> None:
        for n in range(5):  # each source awaits its publish, as a source does
            events = batch(index, n)
            envelopes = await ingest.publish(events)
            assert [e.event for e in envelopes] == events
            published.extend(envelopes)

    try:
        await ingest.publish([Trade("warm-foo-usd-spot", "w", 1, 1, Side.BUY, 0)])
        async with held(redis_url, ingest, SOURCES):
            sources = [asyncio.create_task(source(i)) for i in range(SOURCES)]
        await asyncio.gather(*sources)
        assert ingest.publishers[0].max_in_flight >= SOURCES  # the first calls overlapped
        streams = per_stream(published)
        assert len(streams) == 2 * SOURCES
        for stream, envelopes in streams.items():
            assert [e.seq for e in envelopes] == list(range(1, len(envelopes) + 1)), stream
            assert len({e.epoch for e in envelopes}) == 1
            assert await gateway.history(stream) == envelopes
        async with asyncio.timeout(5):
            while len(received) < len(published) + 1:  # and the warm-up trade
                await asyncio.sleep(0.01)
        assert per_stream(received[1:]) == streams
    finally:
        await gateway.stop()
        await ingest.stop()


async def test_a_failing_call_lets_no_later_call_in_before_it(redis_url: str) -> None:
    """A batch of three calls whose first call fails (its first event's stream has a meta key of
    the wrong type): its other two calls, already sent, are fenced off (without the fence they would
    land without the first); the calls of other sources sent after it go again and land once; the
    retried batch lands whole and in order."""
    bus = RedisBus([redis_url], history_size=10_000, subscribe=False)
    client = aioredis.Redis.from_url(redis_url)
    await bus.start()
    try:
        broken = Trade("zzz-foo-usd-spot", "z", 1, 1, Side.SELL, 0)
        await client.set(meta_key(f"trades:{broken.market}"), "not a hash")
        big = [broken] + [e for n in range(4) for e in batch(1, n)][: 2 * MAX_EVENTS_PER_CALL + 10]
        batches = [batch(0, 0), big, batch(2, 0), batch(3, 0)]
        await bus.publish([Trade("warm-foo-usd-spot", "w", 1, 1, Side.BUY, 0)])
        # 5 calls: batch 0; three of the big batch (the third, 11 events, with batch 2); batch 3
        async with held(redis_url, bus, 5):
            publishing = [asyncio.create_task(bus.publish(events)) for events in batches]
        results = await asyncio.gather(*publishing, return_exceptions=True)
        assert isinstance(results[1], BusError)
        assert "WRONGTYPE" in str(results[1])
        for stream in (f"trades:{market(1)}", f"book:{market(1)}"):
            assert await bus.history(stream) == []  # nothing of the failed batch landed
        for index in (0, 2, 3):
            envelopes = results[index]
            assert isinstance(envelopes, list)
            assert [e.event for e in envelopes] == batches[index]
            for stream, mine in per_stream(envelopes).items():
                assert [e.seq for e in mine] == list(range(1, len(mine) + 1))
                assert await bus.history(stream) == mine  # once each: no duplicate
        await client.delete(meta_key(f"trades:{broken.market}"))
        retried = await bus.publish(big)  # what publish_retrying does next
        assert [e.event for e in retried] == big
        for stream, mine in per_stream(retried).items():
            assert [e.seq for e in mine] == list(range(1, len(mine) + 1))
            assert await bus.history(stream) == mine
    finally:
        await client.aclose()
        await bus.stop()


async def test_calls_cut_off_with_their_connection_go_again_exactly_once(redis_url: str) -> None:
    """Redis holds the publisher's calls (CLIENT PAUSE), the connection is killed with them
    unanswered: the publisher reads its fence on a new connection, finds them not applied and sends
    them again, in order; every publish succeeds and each event is in history once."""
    bus = RedisBus([redis_url], history_size=10_000, subscribe=False)
    admin = aioredis.Redis.from_url(redis_url)
    await bus.start()
    try:
        first = await bus.publish(batch(0, 0))  # the publisher's connection is open
        await admin.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
        publishing = [asyncio.create_task(bus.publish(batch(i, 1))) for i in range(4)]
        await until(lambda: bus.publishers[0].in_flight == 4)
        clients = await admin.client_list()
        [publisher] = [c for c in clients if c["name"] == CLIENT_NAME]
        await admin.client_kill_filter(_id=publisher["id"])
        await admin.execute_command("CLIENT", "UNPAUSE")
        results = await asyncio.gather(*publishing)
        for index, envelopes in enumerate(results):
            assert [e.event for e in envelopes] == batch(index, 1)
        everything = per_stream(first + [e for envelopes in results for e in envelopes])
        for stream, mine in everything.items():
            assert [e.seq for e in mine] == list(range(1, len(mine) + 1))
            assert await bus.history(stream) == mine
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")  # a no-op unless the test failed
        await admin.aclose()
        await bus.stop()


async def test_calls_refused_for_a_flushed_script_cache_go_again(redis_url: str) -> None:
    """SCRIPT FLUSH under an open publisher connection: its next calls are answered NOSCRIPT
    (they did not run); the publisher loads the script again and sends them, once each."""
    bus = RedisBus([redis_url], history_size=10_000, subscribe=False)
    admin = aioredis.Redis.from_url(redis_url)
    await bus.start()
    try:
        first = await bus.publish(batch(0, 0))
        await admin.script_flush()
        results = await asyncio.gather(*(bus.publish(batch(i, 1)) for i in range(3)))
        everything = per_stream(first + [e for envelopes in results for e in envelopes])
        for stream, mine in everything.items():
            assert [e.seq for e in mine] == list(range(1, len(mine) + 1))
            assert await bus.history(stream) == mine
    finally:
        await admin.aclose()
        await bus.stop()


async def test_the_fence_returns_lost_replies_and_shuts_out_the_old_connection(
    redis_url: str,
) -> None:
    """The scripts themselves: a call that ran stores its reply under its token; settling on a new
    connection returns it (a reply lost with its connection is not lost) and nil for a call that
    did not run, and sets a fresh ``last``, so a call of the old connection that Redis reads only
    now is refused."""
    shard = RedisShard(redis_url)
    fence = fence_key("test")
    record = b"trades:x\t\t" + encode_event(Trade("x", "1", 1, 1, Side.BUY, 0))

    async def call(prev: str, token: str) -> bytes:
        args = [100, "e", 0, "void", prev, token, "", record]
        reply: bytes = await shard.script(PUBLISH_LUA, [STREAMS_KEY, fence], args)
        return reply

    try:
        first = await call("", "1")
        assert first == b"1 e"
        with pytest.raises(BusError, match="TCFENCE 1"):
            await call("", "2")  # not after call 1: refused, nothing written
        last, ran, lost = await shard.script(SETTLE_LUA, [fence], ["s1", "1", "2"])
        assert (last, ran, lost) == (b"1", first, None)
        with pytest.raises(BusError, match="TCFENCE s1"):
            await call("1", "2")  # the old connection's next call, read after the settle
        assert await call("s1", "3") == b"2 e"
    finally:
        await shard.close()

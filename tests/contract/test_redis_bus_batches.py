"""Large and concurrent publishes on the Redis bus: several script calls pipelined, one meta read
per stream and call; seqs stay dense, in order, and a late gateway rebuilds the same state."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from tickcast.bus.redis import MAX_EVENTS_PER_CALL, RedisBus
from tickcast.bus.redis_scripts import history_key
from tickcast.model import BookDelta, BookSnapshot, Envelope, Event, Side, Trade, stream_of
from tickcast.state import StateKeeper

MARKETS = ("acme-foo-usd-spot", "acme-bar-usd-spot")


def mixed(count: int, offset: int = 0) -> list[Event]:
    """Trades and book deltas of two markets, interleaved."""
    events: list[Event] = []
    for i in range(offset, offset + count):
        market = MARKETS[i % 2]
        if i % 3 == 0:
            events.append(BookDelta(market, ((100 - i % 7, i + 1),), ((101 + i % 5, i % 4),), i))
        else:
            events.append(Trade(market, f"t{i}", 100 + i, 1000, Side.BUY, i))
    return events


def dense(envelopes: list[Envelope]) -> bool:
    last: dict[str, int] = {}
    for envelope in envelopes:
        if envelope.seq != last.get(envelope.stream, 0) + 1:
            return False
        last[envelope.stream] = envelope.seq
    return True


async def test_a_publish_larger_than_one_call_keeps_seqs_dense_and_state_exact(
    redis_url: str,
) -> None:
    ingest = RedisBus([redis_url], history_size=5000, subscribe=False)
    gateway = RedisBus([redis_url], history_size=5000)
    received: list[Envelope] = []
    gateway.listen(received.extend)
    await ingest.start()
    await gateway.start()
    try:
        snapshots: list[Event] = [BookSnapshot(m, ((90, 1),), ((110, 1),), 0) for m in MARKETS]
        events = snapshots + mixed(3 * MAX_EVENTS_PER_CALL + 17)
        envelopes = await ingest.publish(events)
        assert [e.event for e in envelopes] == events
        assert [e.stream for e in envelopes] == [str(stream_of(e)) for e in events]
        assert dense(envelopes)
        assert len({e.epoch for e in envelopes if e.stream == envelopes[-1].stream}) == 1
        async with asyncio.timeout(5):
            while len(received) < len(events):
                await asyncio.sleep(0.01)
        assert [(e.stream, e.seq, e.event) for e in received] == [
            (e.stream, e.seq, e.event) for e in envelopes
        ]
        for stream in {e.stream for e in envelopes}:
            history = await gateway.history(stream)
            assert history == [e for e in envelopes if e.stream == stream]
        live, late = StateKeeper(), StateKeeper()
        live.apply_all(envelopes)
        restoring = RedisBus([redis_url], history_size=5000)
        restoring.on_restore(late.apply_all)
        await restoring.start()
        await restoring.stop()
        for market in MARKETS:
            assert late.snapshot(f"book:{market}") == live.snapshot(f"book:{market}")
    finally:
        await gateway.stop()
        await ingest.stop()


async def test_concurrent_publishes_are_coalesced_in_order(redis_url: str) -> None:
    bus = RedisBus([redis_url], history_size=10_000, subscribe=False)
    await bus.start()
    try:
        batches = [mixed(300, offset=300 * n) for n in range(12)]
        results = await asyncio.gather(*(bus.publish(batch) for batch in batches))
        for batch, envelopes in zip(batches, results, strict=True):
            assert [e.event for e in envelopes] == batch
        assert dense([e for envelopes in results for e in envelopes])
    finally:
        await bus.stop()


async def test_history_lost_mid_stream_restarts_the_epoch_for_the_whole_call(
    redis_url: str,
) -> None:
    bus = RedisBus([redis_url], history_size=100, subscribe=False)
    await bus.start()
    client = aioredis.Redis.from_url(redis_url)
    try:
        first = await bus.publish(mixed(6))
        await client.delete(history_key(first[1].stream))
        second = await bus.publish(mixed(6, offset=6))
        lost = first[1].stream
        again = [e for e in second if e.stream == lost]
        assert [e.seq for e in again] == list(range(1, len(again) + 1))
        assert {e.epoch for e in again} != {first[1].epoch}
        assert len({e.epoch for e in again}) == 1
        kept = [e for e in second if e.stream != lost]
        assert all(e.seq > 1 for e in kept)
    finally:
        await client.aclose()
        await bus.stop()


async def test_state_of_large_snapshots_and_repeated_levels_is_exact(redis_url: str) -> None:
    """A 5,200-level snapshot and deltas repeating a level come back exactly from Redis state."""
    market = MARKETS[0]
    bids = tuple((10_000 - i, i + 1) for i in range(2600))
    asks = tuple((10_001 + i, i + 1) for i in range(2600))
    events: list[Event] = [
        BookSnapshot(market, bids, asks, 1),
        BookDelta(market, ((9999, 5), (9999, 0)), ((10_001, 0), (10_001, 7)), 2),
        BookDelta(market, ((9000, 0), (8000, 0), (9998, 3)), ((10_002, 0),), 3),
        BookDelta(market, ((9997, 0), (9997, 4), (9997, 0)), (), 4),
    ]
    bus = RedisBus([redis_url], history_size=100, subscribe=False)
    await bus.start()
    try:
        envelopes = await bus.publish(events)
    finally:
        await bus.stop()
    live, late = StateKeeper(), StateKeeper()
    live.apply_all(envelopes)
    restoring = RedisBus([redis_url], history_size=100)
    restoring.on_restore(late.apply_all)
    await restoring.start()
    await restoring.stop()
    assert late.snapshot(f"book:{market}") == live.snapshot(f"book:{market}")

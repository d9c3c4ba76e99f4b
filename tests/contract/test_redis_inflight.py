"""A source's sink keeps its batches in flight on the Redis bus (``server.inflight.InFlight``):
batch k+1 is sent while batch k's reply is outstanding, up to a window; the stream stays dense and
in the source's order; a failing batch is republished with every later one, in order."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from tickcast.bus.base import Chain
from tickcast.bus.redis import RedisBus
from tickcast.bus.redis_scripts import meta_key
from tickcast.model import Envelope, Event, Side, Trade
from tickcast.server.inflight import InFlight

from .test_redis_publish_overlap import batch, held, market, per_stream, until

WINDOW = 4


def sink_of(bus: RedisBus, published: list[Envelope], **options: object) -> InFlight:
    async def submit(events: list[Event], chain: Chain) -> None:
        published.extend(await bus.publish(events, chain=chain))

    return InFlight(submit, list, window=WINDOW, **options)  # type: ignore[arg-type]


def assert_dense_in_order(published: list[Envelope], events: list[Event]) -> None:
    assert [e.event for e in published] == events
    for stream, envelopes in per_stream(published).items():
        assert [e.seq for e in envelopes] == list(range(1, len(envelopes) + 1)), stream
        assert len({e.epoch for e in envelopes}) == 1


async def test_a_source_keeps_its_batches_in_flight_in_order(redis_url: str) -> None:
    bus = RedisBus([redis_url], history_size=10_000, subscribe=False)
    gateway = RedisBus([redis_url], history_size=10_000)
    await bus.start()
    await gateway.start()
    published: list[Envelope] = []
    sink = sink_of(bus, published)
    batches = [batch(0, n) for n in range(10)]
    try:
        await bus.publish([Trade("warm-foo-usd-spot", "w", 1, 1, Side.BUY, 0)])
        async with held(redis_url, bus, WINDOW):
            for events in batches[:WINDOW]:  # Redis runs nothing: each returns at once
                await sink.publish(events)
        for events in batches[WINDOW:]:
            await sink.publish(events)
        await sink.flush()
        assert sink.max_in_flight == WINDOW
        assert bus.publishers[0].max_in_flight >= WINDOW  # the source's calls overlapped
        assert_dense_in_order(published, [e for events in batches for e in events])
        for stream, envelopes in per_stream(published).items():
            assert await gateway.history(stream) == envelopes  # each event once
    finally:
        await gateway.stop()
        await bus.stop()


async def test_a_failed_batch_goes_again_with_the_later_ones_in_order(redis_url: str) -> None:
    """The source's first batch in flight fails (its first event's stream has a meta key of the
    wrong type); the three after it, sent meanwhile, are not applied before it: all four are
    republished in order once Redis is fixed (during the backoff), each event once."""
    bus = RedisBus([redis_url], history_size=10_000, subscribe=False)
    client = aioredis.Redis.from_url(redis_url)
    broken = Trade(market(0), "z", 1, 1, Side.SELL, 0)
    bad_key = meta_key(f"trades:{broken.market}")
    delays: list[float] = []

    async def backoff(delay: float) -> None:  # Redis is fixed while the sink waits
        delays.append(delay)
        await client.delete(bad_key)

    await bus.start()
    published: list[Envelope] = []
    sink = sink_of(bus, published, sleep=backoff)
    batches = [[broken, *batch(0, 0)]] + [batch(0, n) for n in range(1, 8)]
    try:
        await bus.publish([Trade("warm-foo-usd-spot", "w", 1, 1, Side.BUY, 0)])
        await client.set(bad_key, "not a hash")
        async with held(redis_url, bus, WINDOW):
            for events in batches[:WINDOW]:
                await sink.publish(events)
        for events in batches[WINDOW:]:
            await sink.publish(events)
        await sink.flush()
        assert delays == [0.05]  # one failure, one backoff
        assert_dense_in_order(published, [e for events in batches for e in events])
        for stream, envelopes in per_stream(published).items():
            assert await bus.history(stream) == envelopes  # nothing landed out of order
    finally:
        await client.aclose()
        await bus.stop()


async def test_the_window_bounds_what_a_source_hands_over(redis_url: str) -> None:
    """Beyond the window the source waits: while Redis runs nothing, the fifth hand-over does not
    return."""
    bus = RedisBus([redis_url], history_size=10_000, subscribe=False)
    await bus.start()
    published: list[Envelope] = []
    sink = sink_of(bus, published)
    try:
        await bus.publish([Trade("warm-foo-usd-spot", "w", 1, 1, Side.BUY, 0)])
        async with held(redis_url, bus, WINDOW):
            for n in range(WINDOW):
                await sink.publish(batch(1, n))
            fifth = asyncio.create_task(sink.publish(batch(1, WINDOW)))
            await until(lambda: bus.publishers[0].in_flight == WINDOW)
            assert not fifth.done()  # Redis has answered nothing: the source waits
            assert sink.max_in_flight == WINDOW
        await fifth
        await sink.flush()
        assert_dense_in_order(published, [e for n in range(WINDOW + 1) for e in batch(1, n)])
    finally:
        await bus.stop()


async def test_closing_the_sink_lets_the_batches_in_flight_finish(redis_url: str) -> None:
    """A source that stops (the node stopping) does not drop what it handed over: the batches in
    flight are sequenced and recorded before ``close`` returns."""
    bus = RedisBus([redis_url], history_size=10_000, subscribe=False)
    await bus.start()
    published: list[Envelope] = []
    sink = sink_of(bus, published)
    try:
        for n in range(WINDOW):
            await sink.publish(batch(2, n))
        await sink.close(within=30)
        assert_dense_in_order(published, [e for n in range(WINDOW) for e in batch(2, n)])
    finally:
        await bus.stop()

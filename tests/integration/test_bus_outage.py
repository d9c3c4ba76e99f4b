"""Redis going away under a publisher: sources wait and retry, nothing is lost or reordered."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.redis_server import RedisServer

from tickcast.bus.base import Chain
from tickcast.bus.redis import RedisBus
from tickcast.model import Envelope, Event, Side, Trade
from tickcast.server.cluster import publish_retrying
from tickcast.server.inflight import InFlight


def trade(n: int) -> Trade:
    return Trade("acme-foo-usd-spot", f"t{n}", 100, 1, Side.BUY, n)


async def test_publish_waits_while_redis_is_down_then_goes_on(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    bus = RedisBus([server.url], history_size=10, subscribe=False)
    try:
        await bus.start()
        [first] = await bus.publish([trade(1)])
        server.stop()
        pending = asyncio.create_task(publish_retrying(bus, [trade(2), trade(3)]))
        done, _ = await asyncio.wait([pending], timeout=0.5)
        assert not done, "published without Redis"
        server.start(port=server.port)  # restarted without persistence: the stream is gone
        second, third = await asyncio.wait_for(pending, 15)
        assert (second.seq, third.seq) == (1, 2)
        assert second.epoch == third.epoch != first.epoch  # history was lost: a new epoch
        assert [e.event for e in await bus.history(second.stream)] == [trade(2), trade(3)]
    finally:
        await bus.stop()
        server.stop()


async def test_a_source_sink_republishes_its_batches_in_flight_in_order(tmp_path: Path) -> None:
    """A source's batches in flight (``InFlight``) when Redis goes away all fail; the sink waits
    (its backoff is where Redis comes back here) and publishes them again, in the source's
    order, dense in the stream's new epoch."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    bus = RedisBus([server.url], history_size=100, subscribe=False)
    published: list[Envelope] = []
    delays: list[float] = []

    async def submit(events: list[Event], chain: Chain) -> None:
        published.extend(await bus.publish(events, chain=chain))

    async def backoff(delay: float) -> None:
        if not delays:
            server.start(port=server.port)  # without persistence: the stream is gone
        delays.append(delay)

    sink = InFlight(submit, list, window=4, sleep=backoff)
    try:
        await bus.start()
        await sink.publish([trade(1)])
        await sink.flush()
        server.stop()
        for n in range(2, 12):  # beyond the window the source waits: Redis is back by then
            await sink.publish([trade(n)])
        await sink.flush()
        assert delays[0] == 0.05
        assert [e.event for e in published] == [trade(n) for n in range(1, 12)]
        again = published[1:]
        assert [e.seq for e in again] == list(range(1, 11))
        assert len({e.epoch for e in again}) == 1 and again[0].epoch != published[0].epoch
        assert await bus.history(again[0].stream) == again
    finally:
        await bus.stop()
        server.stop()

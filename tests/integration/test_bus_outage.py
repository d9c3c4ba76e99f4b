"""Redis going away under a publisher: sources wait and retry, nothing is lost or reordered."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.redis_server import RedisServer

from tickcast.bus.redis import RedisBus
from tickcast.model import Side, Trade
from tickcast.server.cluster import publish_retrying


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

"""Cluster-wide connection counting over a real redis-server: two nodes, one limit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tickcast.bus.leases import ClusterConnectionCounter
from tickcast.bus.redis import RedisShard


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_two_nodes_share_one_limit_and_a_dead_node_is_forgotten(redis_url: str) -> None:
    shards = [RedisShard(redis_url) for _ in range(3)]
    a = ClusterConnectionCounter(shards[0], name="feed", node_id="a", lease=0.6)
    b = ClusterConnectionCounter(shards[1], name="feed", node_id="b", lease=0.6)
    await a.start()
    await b.start()
    try:
        assert a.try_acquire("u", 2)
        await until(lambda: b.count("u") == 1)
        assert b.try_acquire("u", 2)
        await until(lambda: a.count("u") == 2)
        assert not a.try_acquire("u", 2)
        assert not b.try_acquire("u", 2)
        assert a.try_acquire("v", 2)  # per user
        assert (a.total(), b.total()) == (2, 1)
        b.release("u")
        await until(lambda: a.count("u") == 1)
        assert a.try_acquire("u", 2)

        # b "dies": it stops heartbeating without a goodbye; its slot is back within the lease
        assert b.try_acquire("u", 3)
        await until(lambda: a.count("u") == 3)
        for task in b._tasks:
            task.cancel()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await until(lambda: a.count("u") == 2, timeout=0.6 * 4 / 3 + 1)
        assert loop.time() - started <= 0.6 * 4 / 3 + 0.5

        # a node joining later learns the current counts at start
        c = ClusterConnectionCounter(shards[2], name="feed", node_id="c", lease=0.6)
        await c.start()
        assert c.count("u") == 2 and c.count("v") == 1
        await c.stop()
    finally:
        await a.stop()
        await b.stop()
        for shard in shards:
            await shard.close()


async def test_release_without_acquire_is_an_error(redis_url: str) -> None:
    shard = RedisShard(redis_url)
    counter = ClusterConnectionCounter(shard, name="native", node_id="x")
    await counter.start()
    try:
        with pytest.raises(ValueError):
            counter.release("nobody")
    finally:
        await counter.stop()
        await shard.close()


async def test_acquire_is_strict_under_concurrent_connects_on_two_nodes(redis_url: str) -> None:
    """``acquire`` checks and takes a slot in one script: however the connects of one user
    interleave over the nodes, exactly ``limit`` succeed."""
    shards = [RedisShard(redis_url) for _ in range(2)]
    a = ClusterConnectionCounter(shards[0], name="native", node_id="a", lease=2)
    b = ClusterConnectionCounter(shards[1], name="native", node_id="b", lease=2)
    await a.start()
    await b.start()
    try:
        results = await asyncio.gather(
            *(node.acquire("u", 3) for _ in range(10) for node in (a, b))
        )
        assert results.count(True) == 3
        assert a.total() + b.total() == 3
        await until(lambda: a.count("u") == 3 and b.count("u") == 3)
        assert not await b.acquire("u", 3)
        (a if a.total() else b).release("u")
        await until(lambda: a.count("u") == 2 and b.count("u") == 2)
        assert await b.acquire("u", 3)
    finally:
        await a.stop()
        await b.stop()
        for shard in shards:
            await shard.close()

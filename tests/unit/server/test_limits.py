"""ConnectionLimits: one per-user mechanism, three pools, caps and "no cap"."""

from __future__ import annotations

import pytest

from tickcast.server.cluster import LocalSlots
from tickcast.server.limits import ConnectionLimits, Pool


def limits() -> ConnectionLimits:
    return ConnectionLimits({pool: LocalSlots() for pool in Pool})


async def test_pools_count_per_user_with_their_own_limits() -> None:
    slots = limits()
    assert await slots.acquire(Pool.STREAMS, "ann", 2)
    assert await slots.acquire(Pool.STREAMS, "ann", 2)
    assert not await slots.acquire(Pool.STREAMS, "ann", 2)
    assert await slots.acquire(Pool.STREAMS, "bob", 2)
    assert await slots.acquire(Pool.FEED, "ann", 2)  # another pool, another limit
    slots.release(Pool.STREAMS, "ann")
    assert await slots.acquire(Pool.STREAMS, "ann", 2)
    assert slots.count(Pool.STREAMS, "ann") == 2 and slots.total(Pool.STREAMS) == 3


async def test_no_cap_still_counts() -> None:
    slots = limits()
    for _ in range(50):
        assert await slots.acquire(Pool.PREDICTIONS, "ann", 0)
    assert slots.count(Pool.PREDICTIONS, "ann") == 50


def test_every_pool_needs_a_counter() -> None:
    with pytest.raises(ValueError, match="predictions"):
        ConnectionLimits({Pool.STREAMS: LocalSlots(), Pool.FEED: LocalSlots()})

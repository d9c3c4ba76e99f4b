"""Concurrent connections per user: one cluster-wide mechanism for every dialect.

Every dialect takes a slot with :meth:`ConnectionLimits.acquire` before it accepts a
connection and gives it back with :meth:`ConnectionLimits.release` when the connection ends.
Slots are counted per **user** (every key of the user together) in one of three pools, each with
its own limit:

===============  ==========================================  =====================================
pool             connections                                 limit
===============  ==========================================  =====================================
``STREAMS``      native ``/api/v1/ws``, Vega streams,        the plan's ``max_connections``
                 Coin Metrics ``timeseries-stream``
``FEED``         the Socket.IO price feed                    the plan's ``max_feed_connections``
                                                             (2 unless the plan says otherwise)
``PREDICTIONS``  ``/ws`` predictions                         the plan's
                                                             ``max_prediction_connections``
                                                             (0 = no cap)
===============  ==========================================  =====================================

With a Redis bus each pool is a :class:`~tickcast.bus.leases.ClusterConnectionCounter` and
``acquire`` is strict across the cluster (one Lua script sums the user's slots over the live
nodes and takes one only below the limit); with the memory bus it is an in-process counter.
A connection without a cap is still counted (the control plane and ``count`` see it).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol


class Pool(StrEnum):
    """A set of dialects sharing one per-user limit (the value names its Redis keys)."""

    STREAMS = "native"
    FEED = "feed"
    PREDICTIONS = "predictions"


NO_CAP = 1 << 30
"""The limit used for "any number" (a plan's 0)."""


class SlotCounter(Protocol):
    """Concurrent connections per user (``LocalSlots`` or ``ClusterConnectionCounter``)."""

    async def acquire(self, user: str, limit: int) -> bool:
        """Take a slot if fewer than ``limit`` are held (strict across a cluster)."""
        ...

    def release(self, user: str) -> None: ...

    def count(self, user: str) -> int: ...

    def total(self) -> int: ...


class ConnectionLimits:
    """The pools of one node. Limits always apply: a benchmark connects its thousands of clients
    with a key of the ``bench`` plan (plans.toml), whose limits are high enough."""

    def __init__(self, counters: Mapping[Pool, SlotCounter]) -> None:
        missing = set(Pool) - set(counters)
        if missing:
            raise ValueError(f"no counter for pool(s) {sorted(missing)}")
        self._counters = dict(counters)

    async def acquire(self, pool: Pool, user: str, limit: int) -> bool:
        """Take one of ``user``'s ``limit`` slots of ``pool`` (``limit`` 0: no cap)."""
        cap = limit if limit > 0 else NO_CAP
        return await self._counters[pool].acquire(user, cap)

    def release(self, pool: Pool, user: str) -> None:
        """Give back a slot taken by ``acquire``."""
        self._counters[pool].release(user)

    def count(self, pool: Pool, user: str) -> int:
        """``user``'s slots of ``pool`` across the cluster, as this node knows it."""
        return self._counters[pool].count(user)

    def total(self, pool: Pool) -> int:
        """Slots of ``pool`` held on this node."""
        return self._counters[pool].total()

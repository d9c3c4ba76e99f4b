"""Cluster-wide concurrent connections per user, kept in Redis with per-node leases.

Each node owns a hash ``tc:conn:<name>:<node>`` (user → connections it holds) with a TTL of
``lease`` seconds, renewed by a heartbeat every ``lease / 3`` seconds, and an entry in the sorted
set ``tc:conn:<name>:nodes`` scored by its lease's expiry (Redis server time). Every change is
written at once and announced on the channel ``tc:conn:<name>``; every heartbeat also re-reads all
live nodes' hashes. A node that dies without saying goodbye (SIGKILL, power loss, partition)
stops renewing: its connections stop counting at the other nodes at most ``lease + lease / 3``
seconds later (8 s with the default lease of 6 s).

Two ways to take a slot:

- ``await acquire(user, limit)`` (the native protocol) is strict: one Lua script sums the user's
  slots over the live nodes and takes one only if that is below the limit. If Redis cannot be
  reached it falls back to the local view below rather than refusing everyone.
- ``try_acquire(user, limit)`` is synchronous (the interface of ``auth.metering.ConnectionCounter``,
  used where the caller cannot wait: the Socket.IO feed) and decides from this node's exact count
  plus its view of the other nodes, which trails them by one pub/sub hop (well under a
  millisecond on a LAN): two connections of one user opened on two nodes within that window can
  both be admitted.

Every write of this node's hash happens under one lock, so what Redis holds for this node is
always what the last write computed from the local counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from tickcast.errors import BusError

logger = logging.getLogger("tickcast.bus")

HEARTBEAT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('DEL', KEYS[1])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local out = {}
for _, node in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if node ~= ARGV[1] then
    out[#out+1] = {node, redis.call('HGETALL', ARGV[3] .. node)}
  end
end
return out
"""

SET_LUA = """
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', ARGV[4], ARGV[1] .. '\\t' .. ARGV[2] .. '\\t' .. ARGV[3])
return 1
"""

ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total = 0
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf')) do
  local held = redis.call('HGET', ARGV[5] .. node, ARGV[2])
  if held then total = total + tonumber(held) end
end
if total >= tonumber(ARGV[3]) then return -1 end
local count = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[6], ARGV[1] .. '\\t' .. ARGV[2] .. '\\t' .. count)
return count
"""
"""Check the user's count across live nodes and take a slot, atomically (``acquire``)."""

GOODBYE_LUA = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[1] .. '\\t\\t-1')
return 1
"""


class Subscription(Protocol):
    async def next(self, wait: float = 1.0) -> bytes | None: ...


class Redis(Protocol):
    """What the counter needs of a Redis instance (``bus.redis.RedisShard``)."""

    async def script(self, source: str, keys: list[str], args: list[Any]) -> Any: ...

    def subscribe(self, channel: str) -> contextlib.AbstractAsyncContextManager[Subscription]: ...


class ClusterConnectionCounter:
    """``ConnectionCounter`` whose counts are shared by every node using the same Redis."""

    def __init__(self, redis: Redis, *, name: str, node_id: str, lease: float = 6.0) -> None:
        if lease <= 0:
            raise ValueError("lease must be positive")
        self._redis = redis
        self.node_id = node_id
        self.lease = lease
        self._prefix = f"tc:conn:{name}:"
        self._key = f"{self._prefix}{node_id}"
        self._nodes_key = f"{self._prefix}nodes"
        self._channel = f"tc:conn:{name}"
        self._local: dict[str, int] = {}
        self._remote: dict[str, dict[str, int]] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the ConnectionCounter interface ---------------------------------------------------

    def try_acquire(self, user: str, limit: int) -> bool:
        if self.count(user) >= limit:
            return False
        self._local[user] = self._local.get(user, 0) + 1
        self._changed(user)
        return True

    def release(self, user: str) -> None:
        current = self._local.get(user, 0)
        if current <= 0:
            raise ValueError(f"no connection slot held for user {user!r}")
        if current == 1:
            del self._local[user]
        else:
            self._local[user] = current - 1
        self._changed(user)

    async def acquire(self, user: str, limit: int) -> bool:
        """Take a slot if fewer than ``limit`` are held across the cluster (atomic in Redis)."""
        async with self._lock:
            args: list[Any] = [
                self.node_id,
                user,
                limit,
                int(self.lease * 1000),
                self._prefix,
                self._channel,
            ]
            try:
                count = int(
                    await self._redis.script(ACQUIRE_LUA, [self._key, self._nodes_key], args)
                )
            except BusError as error:
                logger.warning("connection leases: %s; deciding from the local view", error)
                return self.try_acquire(user, limit)
            if count < 0:
                return False
            self._local[user] = self._local.get(user, 0) + 1
            if self._local[user] != count:
                self._changed(user)  # a sync change raced with this one: rewrite the hash
            return True

    def count(self, user: str) -> int:
        """Slots held by ``user`` across the cluster, as this node knows it."""
        others = sum(counts.get(user, 0) for counts in self._remote.values())
        return self._local.get(user, 0) + others

    def total(self) -> int:
        """Slots held on this node."""
        return sum(self._local.values())

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the cluster (BusError if Redis cannot be reached)."""
        await self._heartbeat()
        ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._heartbeat_forever()),
            asyncio.create_task(self._write_forever()),
            asyncio.create_task(self._listen_forever(ready)),
        ]
        async with asyncio.timeout(10):
            await ready.wait()
        await self._heartbeat()  # what changed while subscribing

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(BusError):
            await self._redis.script(
                GOODBYE_LUA, [self._key, self._nodes_key], [self.node_id, self._channel]
            )

    def live_nodes(self) -> dict[str, int]:  # dashboard (issue 19): nodes on the Overview
        """Connections per live node of this pool: this node's exact, the others' as of their
        last heartbeat or notice (nodes whose lease expired drop out at the next heartbeat)."""
        nodes = {node: sum(counts.values()) for node, counts in self._remote.items()}
        nodes[self.node_id] = sum(self._local.values())
        return nodes

    def _changed(self, user: str) -> None:
        self._dirty.add(user)
        self._wake.set()

    async def _heartbeat(self) -> None:
        async with self._lock:
            args: list[Any] = [self.node_id, int(self.lease * 1000), self._prefix]
            for user, count in self._local.items():
                args += (user, count)
            rows = await self._redis.script(HEARTBEAT_LUA, [self._key, self._nodes_key], args)
        remote: dict[str, dict[str, int]] = {}
        for node, flat in rows:
            remote[node.decode()] = {
                user.decode(): int(count) for user, count in zip(flat[::2], flat[1::2], strict=True)
            }
        self._remote = remote

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self._heartbeat()
            except BusError as error:
                logger.warning("connection leases: %s", error)

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                user = self._dirty.pop()
                try:
                    async with self._lock:  # the count as of the write, not as of the change
                        args = [
                            self.node_id,
                            user,
                            self._local.get(user, 0),
                            self._channel,
                            int(self.lease * 1000),
                        ]
                        await self._redis.script(SET_LUA, [self._key], args)
                except BusError as error:
                    logger.warning("connection leases: %s", error)
                    self._dirty.add(user)
                    await asyncio.sleep(self.lease / 6)

    async def _listen_forever(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with self._redis.subscribe(self._channel) as subscription:
                    ready.set()
                    while True:
                        payload = await subscription.next()
                        if payload is not None:
                            self._on_notice(payload)
            except BusError as error:
                logger.warning("connection leases: %s", error)
                await asyncio.sleep(self.lease / 6)

    def _on_notice(self, payload: bytes) -> None:
        node, user, count = payload.decode().split("\t")
        if node == self.node_id:
            return
        if int(count) < 0:
            self._remote.pop(node, None)
            return
        counts = self._remote.setdefault(node, {})
        if int(count) > 0:
            counts[user] = int(count)
        else:
            counts.pop(user, None)

"""One connection lifecycle for every dialect: admit, open, deliver, close, end.

Every dialect's endpoint goes through the same four steps, written once here:

1. ``admission = await node.connections.admit(key, pool)``: the node is ready, the key is
   valid (``StorageError`` when the store is unreachable), and the user holds fewer than the
   pool's limit of connections across the cluster (``server/limits.py``). Failures raise the
   classes of :mod:`tickcast.errors` (``Unavailable``, ``InvalidApiKey``, ``LimitExceeded``,
   ``StorageError``); the endpoint renders them through :func:`refused`, which counts the
   refusal in ``tickcast_refusals`` and returns the dialect's wire form (``server/refusals.py``).
2. ``lease = admission.open(connection)`` (or ``async with admission.opened(connection)``):
   the connection is registered (the control plane lists and closes it), counted in
   ``tickcast_connections{dialect}`` and metered (``connection_opened``). An admission that is
   never opened gives its slot back with ``admission.cancel()``.
3. ``lease.delivered(messages, nbytes)``: frames handed to the transport, metered per key and
   counted in ``tickcast_messages`` / ``tickcast_bytes``.
4. ``lease.end()``, once, whatever the path (idempotent): unregistered, gauge decremented,
   connected time metered, the slot released.

Closing a client is the dialect's business (its wire form differs), but the time a close may
take is one constant, :data:`CLOSE_TIMEOUT_S`, and the node closes every registered connection
on shutdown through :meth:`ConnectionRegistry.close_all`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Protocol

from tickcast.auth.metering import Meter
from tickcast.auth.plans import Plan
from tickcast.errors import InvalidApiKey, LimitExceeded, TickcastError, Unavailable
from tickcast.server.limits import ConnectionLimits, Pool
from tickcast.server.metrics import NodeMetrics
from tickcast.server.refusals import Refusal, refusal_of
from tickcast.storage.base import Principal

logger = logging.getLogger("tickcast.server")

CLOSE_TIMEOUT_S = 2.0
"""How long a close may wait for queued frames to flush before the transport is dropped."""

MAX_KEY_LENGTH = 200


class LiveConnection(Protocol):
    """What the control plane and the node need of an open connection, in every dialect."""

    id: str
    dialect: str
    principal: Principal
    remote: str
    opened_at: float

    def info(self) -> dict[str, object]: ...

    async def close(self, code: int, reason: str, *, retry: bool) -> None: ...


def connection_info(
    connection: LiveConnection,
    *,
    subscriptions: list[str],
    pending_bytes: int,
    messages: int,
    nbytes: int,
) -> dict[str, object]:
    """What the control plane shows of one live connection, for every dialect."""
    return {
        "id": connection.id,
        "dialect": connection.dialect,
        "user": connection.principal.user,
        "key_id": connection.principal.key_id,
        "remote": connection.remote,
        "opened_at": connection.opened_at,
        "subscriptions": subscriptions,
        "pending_bytes": pending_bytes,
        "messages": messages,
        "bytes": nbytes,
    }


def plan_limit(pool: Pool, plan: Plan) -> int:
    """The per-user limit of ``pool`` a key on ``plan`` gets (0: no cap); the Socket.IO feed's
    pool has a dialect-wide limit instead, which its endpoint passes to ``admit``."""
    if pool is Pool.STREAMS:
        return plan.max_connections
    if pool is Pool.PREDICTIONS:
        return plan.max_prediction_connections
    raise ValueError(f"pool {pool} has no per-plan limit: pass limit=")


class Lease:
    """An open connection's hold on the node; :meth:`end` gives everything back, once."""

    __slots__ = ("connection", "pool", "_registry", "_ended")

    def __init__(
        self, registry: ConnectionRegistry, connection: LiveConnection, pool: Pool
    ) -> None:
        self.connection = connection
        self.pool = pool
        self._registry = registry
        self._ended = False

    @property
    def ended(self) -> bool:
        return self._ended

    def delivered(self, messages: int, nbytes: int) -> None:
        """Frames handed to this connection's transport."""
        self._registry.delivered(self.connection.principal.key_id, messages, nbytes)

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._registry._end(self)


class Admission:
    """An admitted principal holding one slot of ``pool``, not yet an open connection."""

    __slots__ = ("principal", "pool", "_registry", "_done")

    def __init__(self, registry: ConnectionRegistry, principal: Principal, pool: Pool) -> None:
        self.principal = principal
        self.pool = pool
        self._registry = registry
        self._done = False

    def open(self, connection: LiveConnection) -> Lease:
        """Register ``connection``; its lease now holds the slot."""
        if self._done:
            raise RuntimeError("admission already used")
        self._done = True
        return self._registry._open(connection, self.pool)

    def cancel(self) -> None:
        """Give the slot back (the connection never opened); a no-op after :meth:`open`."""
        if not self._done:
            self._done = True
            self._registry.limits.release(self.pool, self.principal.user)

    @asynccontextmanager
    async def opened(self, connection: LiveConnection) -> AsyncIterator[Lease]:
        """``open`` for the life of the block; the lease ends when it exits, however."""
        lease = self.open(connection)
        try:
            yield lease
        finally:
            lease.end()


SHARED_PRINCIPALS = 4_096
"""Distinct principals :meth:`ConnectionRegistry.shared` remembers (forgotten all at once
beyond)."""


class ConnectionRegistry(Mapping[str, LiveConnection]):
    """The node's open connections by id, and the one way in and out of that set."""

    def __init__(
        self,
        *,
        limits: ConnectionLimits,
        metrics: NodeMetrics,
        meter: Meter,
        authenticate: Callable[[str], Awaitable[Principal | None]],
        ready: Callable[[], bool],
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        self.meter = meter
        self._authenticate = authenticate
        self._ready = ready
        self._live: dict[str, LiveConnection] = {}
        self._principals: dict[Principal, Principal] = {}

    def shared(self, principal: Principal) -> Principal:
        """One object for every equal principal (authentication builds a new one, with its own
        plan and frozensets, per connection): what an idle connection keeps is then shared
        (docs/performance.md, idle memory). At most ``SHARED_PRINCIPALS`` are remembered."""
        cache = self._principals
        try:
            found = cache.get(principal)
        except TypeError:  # an unhashable plan field: nothing shared
            return principal
        if found is None:
            if len(cache) >= SHARED_PRINCIPALS:
                cache.clear()
            found = cache[principal] = principal
        return found

    # -- Mapping: what the control plane lists --------------------------------------------

    def __getitem__(self, key: str) -> LiveConnection:
        return self._live[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._live)

    def __len__(self) -> int:
        return len(self._live)

    # -- the lifecycle --------------------------------------------------------------------

    async def authenticate(self, key: str | None) -> Principal | None:
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        return await self._authenticate(key)

    async def admit(self, key: str | None, pool: Pool, *, limit: int | None = None) -> Admission:
        """Check readiness, the key and the user's slots; raise a typed error otherwise.
        ``limit`` overrides the pool's limit from the plan (0: no cap)."""
        if not self._ready():
            raise Unavailable("the node is not ready")
        principal = await self.authenticate(key)  # StorageError propagates: retryable
        if principal is None:
            raise InvalidApiKey("unauthenticated")
        return await self.admit_principal(principal, pool, limit=limit)

    async def admit_principal(
        self, principal: Principal, pool: Pool, *, limit: int | None = None
    ) -> Admission:
        """The slot check of :meth:`admit` for a principal authenticated another way."""
        cap = plan_limit(pool, principal.plan) if limit is None else limit
        if not await self.limits.acquire(pool, principal.user, cap):
            raise LimitExceeded("connection limit exceeded")
        return Admission(self, principal, pool)

    def refused(self, error: TickcastError) -> Refusal:
        """Count a refusal and return its wire forms (``server/refusals.py``)."""
        refusal = refusal_of(error)
        self.metrics.refusals.labels(refusal.metric).inc()
        return refusal

    def delivered(self, key_id: str, messages: int, nbytes: int) -> None:
        """Meter frames handed to a client's transport (usage per key and Prometheus); an
        empty ``key_id`` (Vega's public, keyless streams) is counted but not metered."""
        if key_id:
            self.meter.delivered(key_id, messages, nbytes)
        self.metrics.messages.inc(messages)
        self.metrics.bytes.inc(nbytes)

    def _open(self, connection: LiveConnection, pool: Pool) -> Lease:
        lease = Lease(self, connection, pool)
        self._live[connection.id] = connection
        self.metrics.connections.labels(connection.dialect).inc()
        if connection.principal.key_id:
            self.meter.connection_opened(connection.principal.key_id)
        return lease

    def _end(self, lease: Lease) -> None:
        connection = lease.connection
        self._live.pop(connection.id, None)
        self.metrics.connections.labels(connection.dialect).dec()
        if connection.principal.key_id:
            seconds = max(0.0, time.time() - connection.opened_at)
            self.meter.connection_closed(connection.principal.key_id, seconds)
        self.limits.release(lease.pool, connection.principal.user)

    async def close_all(self, code: int, reason: str) -> None:
        """Tell every client to reconnect (each dialect's close, with retry)."""
        connections = list(self._live.values())
        results = await asyncio.gather(
            *(connection.close(code, reason, retry=True) for connection in connections),
            return_exceptions=True,
        )
        for connection, result in zip(connections, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning("closing %s failed: %r", connection.id, result)

"""Scale-out wiring: which bus and which connection counters a node uses, by configuration.

With ``bus = "memory"`` a node is alone (MemoryBus, in-process counters). With a Redis bus every
node shares seqs, history, state and connection counts; ``role`` picks what the node does:

- ``ingest``: runs the sources and publishes; delivers its own events to its own hub (it does not
  subscribe), so it also serves clients from what it publishes;
- ``gateway``: runs no source; subscribes to the bus and serves clients;
- ``all``: both (subscribes, so it also sees other ingest nodes' events).

Gateways build the same sources as the ingest node (never running them) for the market catalogue,
so every node must be given the same ``--source`` flags.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from prometheus_client import CollectorRegistry, Gauge

from tickcast.auth.metering import ConnectionCounter
from tickcast.bus import Bus, MemoryBus
from tickcast.bus.leases import ClusterConnectionCounter
from tickcast.clock import Clock
from tickcast.config import ServerConfig
from tickcast.errors import BusError
from tickcast.features import require
from tickcast.model import BookSnapshot, Envelope, Event, MarketCatalog
from tickcast.server.limits import Pool, SlotCounter
from tickcast.state import BookChecksummer, StateKeeper

if TYPE_CHECKING:
    from tickcast.bus.redis import RedisBus

logger = logging.getLogger("tickcast.server")


class LocalSlots(ConnectionCounter):
    """The in-process counter with the async ``acquire`` of the SlotCounter interface."""

    async def acquire(self, user: str, limit: int) -> bool:
        return self.try_acquire(user, limit)


def redis_urls(config: ServerConfig) -> list[str]:
    return [url.strip() for url in config.bus.split(",") if url.strip()]


def runs_sources(config: ServerConfig) -> bool:
    return config.role != "gateway"


def node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def as_redis(bus: Bus) -> RedisBus | None:
    """``bus`` if it is a Redis bus. redis-py is the optional ``redis`` extra: it is imported only
    when a Redis bus is built, so a bus is never a RedisBus while the module is not loaded."""
    module = sys.modules.get("tickcast.bus.redis")
    if module is None or not isinstance(bus, module.RedisBus):
        return None
    return cast("RedisBus", bus)


def build_bus(config: ServerConfig, clock: Clock) -> Bus:
    if config.bus == "memory":
        return MemoryBus(history_size=config.history_size, clock=clock)
    require("redis", "the Redis bus (--bus redis://...)")
    from tickcast.bus.redis import RedisBus

    return RedisBus(
        redis_urls(config),
        history_size=config.history_size,
        clock=clock,
        subscribe=config.role != "ingest",
    )


async def publish_retrying(bus: Bus, events: Sequence[Event]) -> list[Envelope]:
    """Publish, retrying with backoff while the bus is unavailable (BusError). A Redis reply lost
    after the script ran means the retry publishes the events again (at-least-once)."""
    delay = 0.05
    while True:
        try:
            return await bus.publish(events)
        except BusError as error:
            logger.warning("publish failed (%s); retrying in %.2f s", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


class Cluster:
    """A node's share of the cluster: its id and one connection counter per limit pool."""

    def __init__(self, config: ServerConfig, bus: Bus) -> None:
        self.node_id = node_id()
        self.counters: dict[Pool, SlotCounter] = {}
        self._counters: list[ClusterConnectionCounter] = []
        redis_bus = as_redis(bus)
        for pool in Pool:
            if redis_bus is not None:
                counter = ClusterConnectionCounter(
                    redis_bus.control,
                    name=pool.value,
                    node_id=self.node_id,
                    lease=config.lease_seconds,
                )
                self._counters.append(counter)
                self.counters[pool] = counter
            else:
                self.counters[pool] = LocalSlots()
        self._bus = bus

    def restore_into(
        self, keeper: StateKeeper, checksummer: BookChecksummer, catalog: MarketCatalog
    ) -> None:
        """At start a Redis bus hands the current state of every STATE stream to ``keeper`` (what
        the hub cuts snapshots from) and the books to ``checksummer`` (so an ingest node that
        restarts stamps the next deltas with the checksums of the books clients hold)."""
        redis_bus = as_redis(self._bus)
        if redis_bus is None:
            return

        def restore(envelopes: Sequence[Envelope]) -> None:
            keeper.apply_all(envelopes)
            checksummer.annotate(
                [
                    e.event
                    for e in envelopes
                    if isinstance(e.event, BookSnapshot) and e.event.market in catalog
                ]
            )

        redis_bus.on_restore(restore)

    def register_metrics(self, registry: CollectorRegistry) -> None:
        """``tickcast_bus_holes``: envelopes a Redis bus could not recover before going on."""
        bus = as_redis(self._bus)
        if bus is not None:
            redis_bus = bus
            Gauge(
                "tickcast_bus_holes",
                "Lost bus messages no longer in history (Redis bus)",
                registry=registry,
            ).set_function(lambda: redis_bus.holes)

    async def start(self) -> None:
        for counter in self._counters:
            await counter.start()

    async def stop(self) -> None:
        for counter in self._counters:
            await counter.stop()

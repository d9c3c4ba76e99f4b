"""Node: the composition root. Owns the bus, store, hub, sources, limits and metering."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tickcast.auth.metering import Meter
from tickcast.auth.plans import load_plans
from tickcast.bus.base import Chain
from tickcast.bus.codec import encode_event
from tickcast.clock import Clock, SystemClock
from tickcast.config import ServerConfig
from tickcast.dialects.native.wire.protocol import NativeEncoder
from tickcast.errors import StorageError
from tickcast.hub import Hub
from tickcast.model import Envelope, Event, MarketCatalog, StreamKey, StreamKind
from tickcast.server.cluster import Cluster, as_redis, build_bus, publish_retrying, runs_sources
from tickcast.server.connections import ConnectionRegistry
from tickcast.server.history import build_history
from tickcast.server.inflight import InFlight
from tickcast.server.limits import ConnectionLimits
from tickcast.server.metrics import NodeMetrics, register_connector_metrics
from tickcast.server.sources import build_sources, check_owners
from tickcast.sources.base import Pressure, PrimedSource, Source
from tickcast.sources.connectors.health import ConnectorHealth
from tickcast.sources.connectors.runner import ConnectorSource
from tickcast.state import BookChecksummer, StateKeeper
from tickcast.state.pipeline import Pipeline, Step
from tickcast.state.recorder import Recorder
from tickcast.storage.base import Principal
from tickcast.storage.factory import open_and_migrate, open_store

logger = logging.getLogger("tickcast.server")

PUBLISH_SLICE = 1000
"""Events per bus publish: a larger batch is published in slices with the loop served between
them, so no publish holds the loop for long (the control plane stays responsive while ingest
saturates a core). The publish API's and the replay source's batches (at most 1,000) stay whole:
one bus publish each, as before (a Coin Metrics run is one frame per bus batch)."""


class Node:
    def __init__(self, config: ServerConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.catalog = MarketCatalog()
        self.bus = build_bus(config, self.clock)
        self.keeper = StateKeeper()
        """Current state and last position of every stream (the hub folds events into it)."""
        self.hub = Hub(bus=self.bus, catalog=self.catalog, keeper=self.keeper, listen=False)
        self.cluster = Cluster(config, self.bus)
        self.recorder = Recorder(keeper=self.keeper)
        """History since start for REST queries (it reads the keeper the hub folds into)."""
        self.pipeline = Pipeline()
        """The one bus listener: hub, recorder, then dialect stages, in order and isolated."""
        self.pipeline.add(Step.DELIVER, "hub", self.hub.on_envelopes)
        self.pipeline.add(Step.RECORD, "recorder", self.recorder.on_envelopes)
        self._remove_pipeline = self.bus.listen(self.pipeline.on_envelopes)
        self.native = NativeEncoder(catalog=self.catalog, publish_stamps=config.publish_stamps)
        self.checksummer = BookChecksummer(catalog=self.catalog)
        self.cluster.restore_into(self.keeper, self.checksummer, self.catalog)
        self.plans = load_plans(config.plans_toml)
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self.store = open_store(
            config.store, data_dir=config.data_dir, plans=self.plans, clock=self.clock
        )
        self.history = build_history(config, self.clock, self.catalog)
        """Durable history (issue 17): written here, by the node that sequences."""
        self.meter = Meter()
        self.metrics = NodeMetrics()
        self.pipeline.on_failure = self._count_stage_failure
        self.hub.on_encode_failure = self._count_encode_failure
        self.cluster.register_metrics(self.metrics.registry)
        self.stream_owners: dict[str, str] = {}
        """Private streams (live prediction streams) by name → the user who may subscribe (and
        admin-plan keys); every other stream is open to every entitled key."""
        self._wire_sources(config)
        self.connections = ConnectionRegistry(
            limits=self.limits,
            metrics=self.metrics,
            meter=self.meter,
            authenticate=self.store.authenticate,
            ready=lambda: self.ready,
        )
        """Every open connection of every dialect, and their one lifecycle (server/connections)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._sources_prepared = False
        self.ready = False
        self.development_key: str | None = None
        self.started_at = time.time()

    def _wire_sources(self, config: ServerConfig) -> None:
        """Build the sources, their connector health and limits, and list their markets."""
        self.pressure = Pressure(connections=lambda: len(self.connections))
        """Back-pressure of the node's clients, handed to the sources that read it; the hub is
        its first probe, the Socket.IO feed adds its own."""
        self.pressure.add(self.hub.backlogged)
        self.sources: list[Source] = build_sources(
            config.sources,
            seed=config.seed,
            clock=self.clock,
            subscribers=self.hub.subscriber_count,
            pressure=self.pressure,
        )
        self.connectors: list[ConnectorHealth] = [
            source.health for source in self.sources if isinstance(source, ConnectorSource)
        ]
        """Health of the live venue connectors (``/healthz``, ``/metrics``)."""
        register_connector_metrics(self.metrics.registry, self.connectors)
        self.limits = ConnectionLimits(self.cluster.counters)
        """Concurrent connections per user, cluster-wide, for every dialect (server/limits)."""
        self.simulated_markets: set[str] = set()
        for source in self.sources:
            for market in source.markets():
                self.catalog.add(market)
                if source.name == "simulator":
                    self.simulated_markets.add(market.id)

    async def start(self) -> None:
        await self.bus.start()
        await open_and_migrate(self.store)
        if self.history is not None:  # history hook (issue 17)
            await self.history.start()
        await self.cluster.start()
        await self.prepare_sources()
        if not await self.store.list_users():
            await self.store.ensure_user("dev", "admin")
            self.development_key, _ = await self.store.create_key(user="dev", prefix="tc_live_")
        for source in self.sources if runs_sources(self.config) else []:
            if isinstance(source, PrimedSource):
                await self.publish(source.prime())
            self._tasks.append(asyncio.create_task(self._run_source(source)))
        self._tasks.append(asyncio.create_task(self._flush_usage_forever()))
        self.ready = True

    async def prepare_sources(self) -> None:
        """Sources that learn their markets at start (live connectors read the venue's
        instrument list): prepare them, then add their markets to the catalogue. Once: ``serve``
        calls it before uvicorn starts (a ConfigError then exits 2), ``start`` again (tests)."""
        if self._sources_prepared:
            return
        self._sources_prepared = True
        prepared = False
        for source in self.sources:
            prepare = getattr(source, "prepare", None)
            if prepare is not None:
                await prepare()
                prepared = True
                for market in source.markets():
                    self.catalog.add(market)
        if prepared:
            specs = [spec for spec in self.config.sources if spec != "none"]
            check_owners(list(zip(specs, self.sources, strict=True)))

    async def _run_source(self, source: Source) -> None:
        sink = self.source_sink()
        try:
            await source.run(self.publish if sink is None else sink.publish)
            if sink is not None:
                await sink.flush()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("source %s failed", source.name)
        finally:
            if sink is not None:
                await sink.close()

    def source_sink(self) -> InFlight | None:
        """A source's own sink keeping its batches in flight on a Redis bus (``InFlight``); None
        on the memory bus, whose publish is sequenced before it returns (``publish`` is the
        sink there)."""
        if as_redis(self.bus) is None:
            return None
        return InFlight(self._publish_chained, self.checksummer.annotate, slice_size=PUBLISH_SLICE)

    async def _publish_chained(self, annotated: list[Event], chain: Chain) -> None:
        """One batch of an ``InFlight`` sink, already annotated: sequenced, recorded, counted."""
        redis = as_redis(self.bus)
        assert redis is not None
        encoded = [encode_event(event) for event in annotated]  # once: bus and history
        envelopes = await redis.publish(annotated, chain=chain, encoded=encoded)
        if self.history is not None:  # history hook (issue 17): queued, written off the loop
            self.history.add(envelopes, encoded)
        self.metrics.events.inc(len(annotated))

    def _count_stage_failure(self, stage: str) -> None:
        self.metrics.stage_failures.labels(stage).inc()

    def _count_encode_failure(self, dialect: str) -> None:
        self.metrics.encode_failures.labels(dialect).inc()

    async def publish(self, events: Sequence[Event]) -> None:
        """The sources' sink: see ``publish_envelopes``. While a shared bus is unreachable the
        source waits here (retrying) rather than losing events."""
        await self.publish_envelopes(events, retry=True)

    async def publish_envelopes(
        self, events: Sequence[Event], *, retry: bool = False
    ) -> list[Envelope]:
        """The one way into the bus: stamp book checksums, then sequence and fan out. A batch
        larger than ``PUBLISH_SLICE`` goes in slices, the loop served between them (each slice
        is one bus publish)."""
        if len(events) <= PUBLISH_SLICE:
            return await self._publish_slice(events, retry) if events else []
        envelopes: list[Envelope] = []
        for start in range(0, len(events), PUBLISH_SLICE):
            if start:
                await asyncio.sleep(0)
            envelopes += await self._publish_slice(events[start : start + PUBLISH_SLICE], retry)
        return envelopes

    async def _publish_slice(self, events: Sequence[Event], retry: bool) -> list[Envelope]:
        annotated = self.checksummer.annotate(events)
        redis = as_redis(self.bus)
        encoded: list[bytes] | None = None
        if retry:
            envelopes = await publish_retrying(self.bus, annotated)
        elif redis is not None:  # the events encoded once, for the bus and the history
            encoded = [encode_event(event) for event in annotated]
            envelopes = await redis.publish(annotated, encoded=encoded)
        else:
            envelopes = await self.bus.publish(annotated)
        if self.history is not None:  # history hook (issue 17): queued, written off the loop
            self.history.add(envelopes, encoded)
        self.metrics.events.inc(len(events))
        return envelopes

    def delivered(self, key_id: str, messages: int, nbytes: int) -> None:
        """Meter frames handed to a client's transport (usage per key and Prometheus)."""
        self.connections.delivered(key_id, messages, nbytes)

    async def _flush_usage_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.usage_flush_interval)
            await self.flush_usage()

    async def flush_usage(self) -> None:
        self.hub.settle()  # frames written by shared batches since the last report
        deltas = self.meter.drain()
        if deltas:
            try:
                await self.store.add_usage(deltas)
            except StorageError as exc:
                # the store is unreachable (e.g. PostgreSQL restarting): retry at the next flush
                self.meter.add(deltas)
                logger.warning("usage flush failed, kept for the next one: %s", exc.message)

    async def stop(self) -> None:
        """Stop sources, tell every client to reconnect elsewhere (1012), flush usage."""
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.close_connections(1012, "server restart")
        await self.flush_usage()
        self.hub.close()
        await self.cluster.stop()
        self._remove_pipeline()
        await self.bus.stop()
        if self.history is not None:  # history hook (issue 17): writes what is pending
            await self.history.stop()
        await self.store.close()

    async def close_connections(self, code: int, reason: str) -> None:
        """Tell every client to reconnect (``Closing`` with retry, then the close frame)."""
        self.ready = False
        await self.connections.close_all(code, reason)

    def stream_known(self, key: StreamKey) -> bool:
        """Whether a subscription to ``key`` can ever carry data on this node."""
        market = key.market
        if market is not None:
            return market in self.catalog
        if key.kind in (StreamKind.TICKER, StreamKind.METRICS):
            return key.subject in self.catalog.assets()
        return key.kind is StreamKind.PREDICTIONS

    def stream_known_to(self, principal: Principal) -> Callable[[StreamKey], bool]:
        """``stream_known`` as seen by a principal: test keys see simulated markets only; a
        private stream exists only for its owner and admin-plan keys (others are told it is
        unknown, which does not reveal it)."""

        def visible(key: StreamKey) -> bool:
            owner = self.stream_owners.get(str(key))
            return owner is None or owner == principal.user or principal.plan.name == "admin"

        if not principal.test:
            return lambda key: self.stream_known(key) and visible(key)

        def known(key: StreamKey) -> bool:
            market = key.market
            if market is not None:
                return market in self.simulated_markets
            return self.stream_known(key) and key.kind is not StreamKind.PREDICTIONS

        return known

    async def authenticate(self, key: str | None) -> Principal | None:
        return await self.connections.authenticate(key)

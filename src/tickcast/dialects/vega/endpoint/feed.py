"""The Vega dialect's shared feed: one ``VegaState`` fed by the bus, and the block clock.

Every envelope reaches ``VegaState.apply`` synchronously (a bus listener, registered after the
hub's), so a subscriber that takes its snapshot and registers without awaiting in between sees
every later change exactly once. Every ``vega_block_time`` seconds the block is closed and each
subscriber gets the block's lines for its filter (built once per distinct filter, bytes shared).
The block clock runs only while someone is subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from tickcast.auth.metering import ConnectionCounter
from tickcast.dialects.vega.wire.filters import Filter, StreamName
from tickcast.dialects.vega.wire.state import Block, VegaState
from tickcast.model import BookSnapshot, Envelope
from tickcast.server.node import Node
from tickcast.sources.matching import MatchingEngine
from tickcast.sources.simulator import Simulator
from tickcast.state.pipeline import Step

logger = logging.getLogger("tickcast.server")


class BlockSubscriber(Protocol):
    selection: Filter
    joined: int

    def on_block(self, lines: list[bytes]) -> None:
        """The lines of a closed block for this subscriber's filter (may be empty)."""


def simulators(node: Node) -> list[Simulator]:
    return [source for source in node.sources if isinstance(source, Simulator)]


def simulated_parties(node: Node) -> list[str]:
    """Party ids of every simulator source of the node."""
    return [party.id for simulator in simulators(node) for party in simulator.parties()]


class VegaFeed:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.block_time = node.config.vega_block_time
        self.state = VegaState(node.catalog, simulated_parties(node))
        self.addresses = ConnectionCounter()
        """Open streams per client address (at most ``vega_max_streams_per_address``)."""
        self.max_streams_per_address = node.config.vega_max_streams_per_address
        self.subscribers: dict[int, BlockSubscriber] = {}
        self.streams: frozenset[StreamName] = frozenset()
        """The streams someone is subscribed to: only their items are built."""
        self.blocks = 0
        self._ticker: asyncio.Task[None] | None = None
        self._engines: dict[str, MatchingEngine] = {}
        for simulator in simulators(node):
            for market in simulator.markets():
                self._engines[market.id] = simulator.engine(market.id)
        self._unlisten = node.pipeline.add(Step.DERIVE, "vega-state", self._on_envelopes)

    def _seed(self, envelopes: Sequence[Envelope]) -> None:
        """The simulator seeds its books without publishing the makers' orders: when a
        simulated market's first book snapshot goes by, take its resting orders from the
        engine (the book and the engine agree at that moment)."""
        for envelope in envelopes:
            event = envelope.event
            if isinstance(event, BookSnapshot) and event.market in self._engines:
                engine = self._engines.pop(event.market)
                self.state.seed_orders(engine.resting_orders())

    def _on_envelopes(self, envelopes: Sequence[Envelope]) -> None:
        try:
            if self._engines:
                self._seed(envelopes)
            self.state.apply(envelopes, collect=self.streams)
        except Exception:  # a bad event must not break the bus for the other listeners
            logger.exception("vega: could not apply events")

    def subscribe(self, subscriber: BlockSubscriber) -> list[bytes]:
        """Register a subscriber; returns its snapshot lines (empty for update-only streams).
        Synchronous on purpose: nothing can be published between snapshot and registration."""
        lines = self.state.snapshot(subscriber.selection)
        subscriber.joined = self.state.index
        self.subscribers[id(subscriber)] = subscriber
        self.streams = self.streams | {subscriber.selection.stream}
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick_forever())
        return lines

    def unsubscribe(self, subscriber: BlockSubscriber) -> None:
        if self.subscribers.pop(id(subscriber), None) is not None:
            self.streams = frozenset(s.selection.stream for s in self.subscribers.values())
        if not self.subscribers and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.block_time)
            self.close_block()

    def close_block(self) -> Block:
        """Close the current block and hand its lines to every subscriber."""
        block = self.state.flush(self.node.clock.time_ns(), collect=self.streams)
        self.blocks += 1
        for subscriber in list(self.subscribers.values()):
            try:
                subscriber.on_block(block.lines(subscriber.selection, subscriber.joined))
            except Exception:
                logger.exception("vega: block delivery failed")
        return block

    async def stop(self) -> None:
        self._unlisten()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

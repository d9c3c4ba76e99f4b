"""The Vega dialect's shared feed: its pipeline stages, its subscribers and the block clock.

The derived state Vega reads is computed by ``Step.DERIVE`` stages (``state/derived.py``:
parties, seeded orders, open candles, accounts) over the node's keeper; the feed adds one
``Step.OBSERVE`` stage, ``vega-blocks`` (``VegaState.collect``), which encodes each event's items
for the streams somebody listens to, and nothing when nobody listens. Stages run synchronously
for every batch, so a subscriber that takes its snapshot and registers without awaiting in
between sees every later change exactly once. The subscribers are members of the hub's
``BatchGroups``, grouped by filter, whose ``BatchClock`` (the per-block batching policy) closes
the block every ``vega_block_time`` seconds while someone is subscribed; each group gets its lines
(built once per distinct filter, bytes shared), each member through its slices and outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

from tickcast.auth.metering import ConnectionCounter
from tickcast.dialects.vega.endpoint import derive
from tickcast.dialects.vega.endpoint.framing import (
    Chunk,
    Framed,
    chunk_size,
    chunks_of,
    selection_of,
)
from tickcast.dialects.vega.endpoint.state import VegaState
from tickcast.dialects.vega.wire.candles import INTERVAL_SECONDS
from tickcast.dialects.vega.wire.filters import Filter, StreamName
from tickcast.hub import BatchClock, BatchGroups, BatchSubscriber
from tickcast.model import BookSnapshot, Envelope
from tickcast.server.node import Node
from tickcast.sources.matching import MatchingEngine
from tickcast.sources.simulator import Simulator
from tickcast.state.derived import Derived
from tickcast.state.pipeline import Step
from tickcast.storage.base import Principal

Lines = Callable[[Hashable, int], Sequence[bytes]]
"""A closed block: its lines for the members of a group key that joined at an index."""


class BlockSubscriber(BatchSubscriber, Protocol):
    selection: Filter

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
        self.chunk_size = chunk_size(node.config.outbox_bytes)
        """Bytes of lines per framed chunk (``endpoint/framing.py``)."""
        catalog = {market.id: market for market in node.catalog}
        derived = Derived(node.keeper, catalog, simulated_parties(node), INTERVAL_SECONDS)
        self.state = VegaState((), (), derived=derived)
        self.addresses = ConnectionCounter()
        """Open streams per client address (at most ``vega_max_streams_per_address``)."""
        self.max_streams_per_address = node.config.vega_max_streams_per_address
        self.subscribers = BatchGroups(BatchClock(self.block_time, self._close))
        """The open streams, grouped by filter (``tickcast.hub.BatchGroups``), which close a
        block every ``block_time`` while there are any."""
        self.streams: frozenset[StreamName] = frozenset()
        """The streams someone is subscribed to: only their items are built."""
        self._filters: dict[Filter, Filter] = {}
        """One object per distinct filter in use (``intern``)."""
        self.public: Principal | None = None
        self.lagging: set[object] = set()
        """Detached streams with lines not yet handed to their transport, from the moment they
        are queued (the node's ``Pressure``)."""
        """The principal of streams that need no key, shared by all of them."""
        self._engines: dict[str, MatchingEngine] = {}
        for simulator in simulators(node):
            for market in simulator.markets():
                self._engines[market.id] = simulator.engine(market.id)
        pipeline = node.pipeline
        removers = [derive.register(pipeline, derived, self._seed if self._engines else None)]
        removers.append(pipeline.add(Step.OBSERVE, "vega-blocks", self._collect))
        removers.append(node.pressure.add(self.backlogged))
        self._removers = removers

    def _seed(self, envelopes: Sequence[Envelope]) -> None:
        """The simulator seeds its books without publishing the makers' orders: when a
        simulated market's first book snapshot goes by, take its resting orders from the
        engine (the book and the engine agree at that moment)."""
        if not self._engines:
            return
        for envelope in envelopes:
            event = envelope.event
            if isinstance(event, BookSnapshot) and event.market in self._engines:
                engine = self._engines.pop(event.market)
                self.state.seed_orders(engine.resting_orders())

    def backlogged(self) -> bool:
        """Some stream's client has not read what was written to it yet (a source that can
        slow down, ``bench:rate=max``, reads it through the node's ``Pressure``)."""
        return bool(self.lagging)

    def _collect(self, envelopes: Sequence[Envelope]) -> None:
        self.state.collect(envelopes, collect=self.streams)

    def intern(self, selection: Filter) -> Filter:
        """An equal filter already in use, if any: thousands of streams with the same filter
        hold one object (idle memory)."""
        return self._filters.setdefault(selection, selection)

    def subscribe(self, subscriber: BlockSubscriber) -> list[bytes]:
        """Register a subscriber; returns its snapshot lines (empty for update-only streams).
        Synchronous on purpose: nothing can be published between snapshot and registration."""
        self.streams = self.streams | {subscriber.selection.stream}
        self.state.need(self.streams)
        lines = self.state.snapshot(subscriber.selection)
        subscriber.joined = self.state.index
        self.subscribers.add(subscriber)
        return lines

    def unsubscribe(self, subscriber: BlockSubscriber) -> None:
        if self.subscribers.remove(subscriber):
            used = (selection_of(key) for key in self.subscribers.keys_in_use())
            keys = [key for key in used if key is not None]
            self.streams = frozenset(key.stream for key in keys)
            if len(self._filters) > len(keys):  # forget the filters nobody uses any more
                self._filters = {key: self._filters.get(key, key) for key in keys}
            self.state.need(self.streams)

    @property
    def blocks(self) -> int:
        """Blocks closed so far."""
        return self.subscribers.batches

    def close_block(self) -> None:
        """Close the current block now and hand its lines to every subscriber (the batch clock
        does it every ``block_time``; tests and benchmarks drive it)."""
        self.subscribers.close_now()

    def _close(self) -> Lines:
        """Close the current block (the batch clock calls it); its lines per group key: plain
        per filter, framed in chunks once per filter for the detached WebSocket streams."""
        block = self.state.flush(self.node.clock.time_ns(), collect=self.streams)
        framed: dict[int, list[Chunk]] = {}

        def lines(key: Hashable, joined: int) -> Sequence[bytes]:
            if not isinstance(key, Framed):
                assert isinstance(key, Filter)
                return block.lines(key, joined)
            plain = block.lines(key.selection, joined)  # cached by the block: ids are stable
            if not plain:
                return plain
            found = framed.get(id(plain))
            if found is None:
                found = framed[id(plain)] = chunks_of(plain, self.chunk_size)
            return found

        return lines

    async def stop(self) -> None:
        for remove in self._removers:
            remove()
        self.subscribers.stop()

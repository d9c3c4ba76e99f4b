"""Coin Metrics stream ``backfill=latest`` from the durable history store (issue 17).

Hook: ``CmStreamConnection._join`` hands every joined stream that asked for a backfill here.
When the bus's memory or the node's state has nothing for it (after a restart the bus starts a
new, empty epoch and the state keeper is empty), the backfill comes from the store:

* EVENT streams (trades, liquidations, candles): the store's newest ``look_back`` events (the
  bus path's look-back: one trade, the last 500 trades for a liquidation, one candle), encoded as
  live encoded them; the caller keeps the newest non-empty frames, as for the bus path.
* STATE streams (books, market quotes, asset metrics, index levels, pair and asset quotes, open
  interest, contract prices): the stream's state as of its newest stored event — the book
  rebuilt from the store (cut to the subscription's ``depth_limit``), else the last event per
  key (``History.latest``: each metric, each party's position, the last quote) — encoded as the
  live snapshot is. The encoders that read other streams' state (pair and asset quotes
  aggregate their markets' quotes; contract prices read the asset's reference rate) read the
  store's newest values where the node's state has none.
* Only events the live stream will not send again are used: an older epoch's, or the current
  epoch's up to the position the stream joined the hub at. The dialect cannot express a gap, so
  none is reported.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

from tickcast.dialects.coinmetrics.wire.aggregates import ContractPriceEncoder
from tickcast.dialects.coinmetrics.wire.derive import MarketState
from tickcast.dialects.coinmetrics.wire.encoders import CmEncoder
from tickcast.dialects.coinmetrics.wire.streams import Subscription
from tickcast.history.rows import Row
from tickcast.history.service import History
from tickcast.hub import Joined
from tickcast.model import (
    AssetMetric,
    BookSnapshot,
    Event,
    Position,
    Quote,
    StreamClass,
    StreamKind,
    StreamPosition,
)
from tickcast.state import StateKeeper

STATE_LOOK_BACK = 64
"""Stored events looked through (newest first) for one the live stream will not send again."""
NEWEST = 2**63 - 1


async def store_backfill(
    history: History | None,
    keeper: StateKeeper,
    encoder: CmEncoder,
    sub: Subscription,
    joined: Joined,
    look_back: int,
) -> Joined:
    """``joined`` with its backfill from the store when the bus or the node's state had none."""
    if history is None:
        return joined
    stream = str(sub.key)
    if sub.key.stream_class is StreamClass.EVENT:
        if look_back <= 0 or any(joined.frames):
            return joined
        frames = await _events(history, encoder, stream, joined.position, look_back)
        return replace(joined, frames=frames)
    if any(joined.frames) and keeper.position(stream) is not None:
        return joined
    frame = await _state(history, encoder, sub, joined.position)
    return replace(joined, frames=(frame,)) if frame else joined


def _resendable(row: Row, joined_at: StreamPosition) -> bool:
    """Whether the live stream may send ``row`` again (the current epoch, after the join)."""
    return row.epoch == joined_at.epoch and row.seq > joined_at.seq


async def _events(
    history: History, encoder: CmEncoder, stream: str, joined_at: StreamPosition, limit: int
) -> tuple[bytes, ...]:
    """The frames of the stream's newest stored events before ``joined_at``, oldest first."""
    rows = await history.range(stream, None, None, limit=limit, descending=True)
    kept = [row for row in reversed(rows) if not _resendable(row, joined_at)]
    return tuple(encoder.update_frame(stream, row.seq, row.event, None) for row in kept)


async def _state(
    history: History, encoder: CmEncoder, sub: Subscription, joined_at: StreamPosition
) -> bytes:
    """The snapshot frame of the stream's state as of its newest stored event before the join
    (``b""`` when the store has none)."""
    key, stream = sub.key, str(sub.key)
    rows = await history.range(stream, None, None, limit=STATE_LOOK_BACK, descending=True)
    newest = next((row for row in rows if not _resendable(row, joined_at)), None)
    if newest is None:
        return b""
    events: Sequence[Event]
    if key.kind is StreamKind.BOOK:
        book = await history.book_at(stream, newest.time_ns)
        if book is None:
            return b""
        depth = sub.view.depth
        events = (BookSnapshot(key.subject, book.bids[:depth], book.asks[:depth], book.time_ns),)
        position = StreamPosition(book.seq, book.epoch)
    else:
        events = [row.event for row in await history.latest(stream, newest.time_ns)]
        position = StreamPosition(newest.seq, newest.epoch)
    encoder = await _reading_store(history, encoder, key.subject)
    return encoder.snapshot_frame(stream, key.kind, position, events, checksum=None, reset=False)


class StoredState:
    """``derive.MarketState``: the node's state, else values read from the store."""

    def __init__(self, live: MarketState) -> None:
        self._live = live
        self.quotes: dict[str, Quote] = {}
        self.metrics: dict[tuple[str, str], AssetMetric] = {}

    def quote(self, market: str) -> Quote | None:
        return self._live.quote(market) or self.quotes.get(market)

    def metric(self, asset: str, metric: str) -> AssetMetric | None:
        return self._live.metric(asset, metric) or self.metrics.get((asset, metric))

    def positions(self, market: str) -> Sequence[Position]:
        return self._live.positions(market)


async def _reading_store(history: History, encoder: CmEncoder, market: str) -> CmEncoder:
    """The encoder, or for encoders that read other streams' state a copy of it reading the
    store's newest values where the node has none (as live reads the newest state)."""
    group = getattr(encoder, "group", None)
    stored = StoredState(encoder.state)
    if group is not None:  # pair and asset quotes: their markets' last quotes
        found = group(market)
        for member in found[1] if found else ():
            for row in await history.latest(f"quotes:{member}", NEWEST):
                if isinstance(event := row.event, Quote):
                    stored.quotes[member] = event
    elif isinstance(encoder, ContractPriceEncoder):  # the asset's reference rate
        definition = encoder.catalog.find(market)
        if definition is None:
            return encoder
        for row in await history.latest(f"metrics:{definition.base}", NEWEST):
            if isinstance(event := row.event, AssetMetric):
                stored.metrics[(event.asset, event.metric)] = event
    else:
        return encoder
    clone = copy.copy(encoder)
    clone.state = stored
    return clone

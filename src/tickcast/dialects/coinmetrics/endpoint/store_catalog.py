"""``/v4/catalog-v2/*`` and ``/v4/catalog-all-v2/*`` time ranges from the history store (issue
17), so that the catalogue lists what the timeseries endpoints serve, across restarts.

Hook: ``rest.serve`` swaps the request's Recorder for one filled here before the (unchanged)
catalogue handler runs. For each entity the catalogue asks about, the recorder gets the stream's
first and last stored events (trades, quotes, closed candles of every interval), its first and
last book checkpoint (order books, as REST serves them), or the first and last ``SAMPLE`` stored
metric events (each metric's range as far as they show it; the simulator and the publish API
publish an asset's metrics together). Two indexed reads per entity and kind.
"""

from __future__ import annotations

import dataclasses

from tickcast.dialects.coinmetrics.endpoint.history import Context
from tickcast.dialects.coinmetrics.wire import derive, query, reference
from tickcast.history.rows import Row
from tickcast.history.service import History
from tickcast.model.streams import CANDLE_INTERVALS
from tickcast.state.keeper import StateKeeper
from tickcast.state.recorder import Recorder

SAMPLE = 64
"""Metric events read from each end of an asset's stream."""
NEWEST = 2**63 - 1


async def with_stored_spans(ctx: Context, name: str, history: History) -> Context:
    """``ctx`` with a Recorder holding the ends of what the store has for catalogue ``name``."""
    keeper = StateKeeper()
    recorder = Recorder(keeper=keeper, book_interval_s=0, metric_minutes=10 * SAMPLE)
    if name in ("market-trades", "market-quotes", "market-candles"):
        kind = name.removeprefix("market-")
        for market in _markets(ctx):
            streams = [f"{kind}:{market}"]
            if kind == "candles":
                streams = [f"candles:{market}:{interval}" for interval in CANDLE_INTERVALS]
            for stream in streams:
                rows = await _ends(history, stream, 1)
                recorder.on_envelopes([row.envelope() for row in rows])
    elif name == "market-orderbooks":
        for market in _markets(ctx):
            stream = f"book:{market}"
            first = await history.checkpoints(stream, None, None, limit=1)
            last = await history.reader.checkpoint_at(stream, NEWEST)
            for row in [*first, *([last] if last is not None else [])]:
                keeper.apply(row.envelope())
                recorder.on_envelopes([row.envelope()])
    elif name in ("asset-metrics", "index-levels"):
        for asset in _assets(ctx, name):
            rows = await _ends(history, f"metrics:{asset}", SAMPLE)
            recorder.on_envelopes([row.envelope() for row in rows])
    return dataclasses.replace(ctx, recorder=recorder)


async def _ends(history: History, stream: str, count: int) -> list[Row]:
    """The stream's first and last ``count`` stored rows, in time order (no row twice)."""
    first = await history.range(stream, None, None, limit=count)
    last = await history.range(stream, None, None, limit=count, descending=True)
    seen = {row.id for row in first}
    return [*first, *(row for row in reversed(last) if row.id not in seen)]


def _markets(ctx: Context) -> list[str]:
    """The markets the request's filters select (the handler validates the parameters)."""
    return [market.id for market in reference.filter_markets(ctx.catalog, ctx.params)]


def _assets(ctx: Context, name: str) -> list[str]:
    assets = ctx.catalog.assets()
    if name == "asset-metrics":
        wanted = query.optional_list(ctx.params, "assets")
        return [asset for asset in assets if not wanted or asset in wanted]
    indexes = query.optional_list(ctx.params, "indexes")
    return [a for a in assets if not indexes or derive.index_name(a) in indexes]

"""``/v4/timeseries/market-openinterest`` and ``market-contract-prices`` from the history store
(issue 17): the rows the live streams sent, over any range the store holds.

* Open interest: each futures market's ``positions`` rows in the range, folded per party in
  time order (a new epoch starts empty, as live), one row whenever the market's open interest
  changes — the ``market-openinterest`` stream's rows (``OpenInterestEncoder``); the state at
  the start of the range is the store's last position per party before it.
* Contract prices: the futures market's two-sided quotes in the range, at most one per second
  per market, with the mark price (mid) and the asset's reference rate (``ReferenceRateUSD``)
  stored at or before each quote as index price — the ``market-contract-prices`` stream's rows.
* Parameters as the other timeseries (``markets``, time range, paging, ``limit_per_market``,
  ``format``); ``granularity`` is ``raw`` only. At most ``MAX_IN_MEMORY`` stored events are
  read per market (from the end with ``paging_from=end``, the default).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from tickcast.dialects.coinmetrics.endpoint.history import COMMON, Context, Found, _limit
from tickcast.dialects.coinmetrics.wire import query, rest
from tickcast.dialects.coinmetrics.wire.aggregates import ContractPriceEncoder, OpenInterestEncoder
from tickcast.dialects.coinmetrics.wire.derive import INDEX_METRIC
from tickcast.dialects.coinmetrics.wire.streams import granted_markets
from tickcast.history.rows import Row
from tickcast.history.service import History
from tickcast.model import AssetMetric, Position, Quote, StreamKind

MAX_IN_MEMORY = 200_000
CHUNK = 10_000


def _futures(ctx: Context, kind: StreamKind) -> list[str]:
    query.check_known(ctx.params, (*COMMON, "markets", "limit_per_market", "granularity"))
    query.choice(ctx.params, "granularity", ("raw",), "raw")
    return granted_markets(ctx.params, ctx.catalog, ctx.plan, ctx.visible, kind, futures_only=True)


async def _rows(history: History, stream: str, span: rest.TimeRange, from_start: bool) -> list[Row]:
    """The stream's rows in the range, oldest first (at most MAX_IN_MEMORY, from the end the
    pages start at)."""
    rows: list[Row] = []
    after = None
    while len(rows) < MAX_IN_MEMORY:
        chunk = await history.range(
            stream, span.start_ns, span.end_ns, limit=CHUNK, after=after, descending=not from_start
        )
        rows += chunk
        if len(chunk) < CHUNK:
            break
        after = chunk[-1].id
    return rows if from_start else rows[::-1]


class _Positions:
    """``derive.MarketState`` for the open-interest encoder: positions folded in time order."""

    def __init__(self) -> None:
        self.epoch = ""
        self.by_party: dict[str, Position] = {}

    def quote(self, market: str) -> Quote | None:
        return None

    def metric(self, asset: str, metric: str) -> AssetMetric | None:
        return None

    def positions(self, market: str) -> Sequence[Position]:
        return list(self.by_party.values())


async def open_interest(ctx: Context, history: History, from_start: bool) -> Found:
    markets = _futures(ctx, StreamKind.POSITIONS)
    span = rest.time_range(ctx.params)
    items: list[rest.Item] = []
    for market in markets:
        stream, state = f"positions:{market}", _Positions()
        encoder = OpenInterestEncoder(catalog=ctx.catalog, state=state, now=lambda: 0)
        if span.start_ns is not None:  # the state just before the range
            seed = await history.latest(stream, span.start_ns - 1)
            state.epoch = seed[0].epoch if seed else ""
            state.by_party = {p.party: p for r in seed if isinstance(p := r.event, Position)}
            encoder.snapshot_rows(list(state.by_party.values()), 0)
        for row in await _rows(history, stream, span, from_start):
            position = row.event
            if not isinstance(position, Position):
                continue
            if row.epoch != state.epoch:  # a restart: live starts every epoch empty
                state.epoch, state.by_party = row.epoch, {}
            state.by_party[position.party] = position
            for rendered in encoder.rows(position, row.seq):
                items.append(rest.Item(market, row.id, rendered))
    return Found(items, markets, _limit(ctx.params, "limit_per_market"))


class _Rates:
    """``derive.MarketState`` for the contract-price encoder: the asset's reference rate stored
    at or before the quote being rendered (``at``)."""

    def __init__(self, rates: list[Row]) -> None:
        self._times = [row.time_ns for row in rates]
        self._rates = rates
        self.at = 0

    def quote(self, market: str) -> Quote | None:
        return None

    def metric(self, asset: str, metric: str) -> AssetMetric | None:
        index = bisect.bisect_right(self._times, self.at) - 1
        event = self._rates[index].event if index >= 0 else None
        return event if isinstance(event, AssetMetric) else None

    def positions(self, market: str) -> Sequence[Position]:
        return ()


async def contract_prices(ctx: Context, history: History, from_start: bool) -> Found:
    markets = _futures(ctx, StreamKind.QUOTES)
    span = rest.time_range(ctx.params)
    items: list[rest.Item] = []
    for market in markets:
        base = ctx.catalog.get(market).base
        rates = await _reference_rates(history, base, span)
        state = _Rates(rates)
        encoder = ContractPriceEncoder(catalog=ctx.catalog, state=state, now=lambda: 0)
        for row in await _rows(history, f"quotes:{market}", span, from_start):
            state.at = row.time_ns
            for rendered in encoder.rows(row.event, row.seq):
                items.append(rest.Item(market, row.id, rendered))
    return Found(items, markets, _limit(ctx.params, "limit_per_market"))


async def _reference_rates(history: History, asset: str, span: rest.TimeRange) -> list[Row]:
    """The asset's stored reference rates in the range (and the last one before it), by time."""
    stream = f"metrics:{asset}"
    before: list[Row] = []
    if span.start_ns is not None:
        before = await history.latest(stream, span.start_ns - 1)
    rows = [*before, *await _rows(history, stream, span, True)]
    rates = [row for row in rows if _is_rate(row.event)]
    rates.sort(key=lambda row: row.time_ns)
    return rates


def _is_rate(event: Any) -> bool:
    return isinstance(event, AssetMetric) and event.metric == INDEX_METRIC

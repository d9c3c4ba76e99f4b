"""``/v4/timeseries/*`` served from the history store (issue 17), across restarts.

The endpoints and parameters are those of ``endpoint.history`` (same validation, same rows);
only the source differs. Trades, quotes and candles page through the store with a cursor (the
row's store id in ``next_page_token``), so a page costs one indexed query per market whatever the
range; ``format=json_stream`` streams the whole range in chunks of ``CHUNK`` rows. Order books
(the store's book checkpoints, every 10 s) are cut in memory from at most ``MAX_IN_MEMORY``
checkpoints per market, as is any query with ``limit_per_market``; asset metrics and index
levels are sampled per ``frequency`` from every stored value in the range (read in chunks);
open interest and contract prices (``store_futures``) are folded from the stored
positions and quotes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tickcast.dialects.coinmetrics.endpoint import store_futures as futures
from tickcast.dialects.coinmetrics.endpoint.history import (
    METRIC_FREQUENCIES,
    Context,
    Found,
    _limit,
    _markets,
    asset_metrics,
    index_levels,
)
from tickcast.dialects.coinmetrics.wire import derive, encoders, query, rest
from tickcast.dialects.coinmetrics.wire.errors import CmError
from tickcast.history.rows import Row
from tickcast.history.service import READ_FLUSH_TIMEOUT, History
from tickcast.model import BookSnapshot, Candle, Quote, StreamKind, Trade
from tickcast.model.streams import CANDLE_INTERVALS
from tickcast.state.keeper import StateKeeper
from tickcast.state.recorder import Recorder

NDJSON = "application/x-ndjson"
CHUNK = 10_000
MAX_IN_MEMORY = 200_000
Render = Callable[[Row], dict[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Plan:
    """One endpoint's query over the store: per entity its stream and row renderer."""

    order: list[str]
    streams: dict[str, str]
    renders: dict[str, Render]
    span: rest.TimeRange
    limit: int | None


def _market_plan(ctx: Context, name: str) -> Plan:
    kind = {"market-trades": StreamKind.TRADES, "market-quotes": StreamKind.QUOTES,
            "market-candles": StreamKind.CANDLES}[name]  # fmt: skip
    extra = {"market-quotes": ("include_one_sided",), "market-candles": ("frequency",)}
    markets = _markets(ctx, kind, extra.get(name, ()))
    one_sided = (
        query.boolean(ctx.params, "include_one_sided") if kind is StreamKind.QUOTES else False
    )
    frequency = query.choice(ctx.params, "frequency", CANDLE_INTERVALS, "1d")
    streams: dict[str, str] = {}
    renders: dict[str, Render] = {}
    for market in markets:
        found = ctx.catalog.get(market)
        pd, sd = found.price_decimals, found.size_decimals
        streams[market] = f"{kind.value}:{market}" + (
            f":{frequency}" if kind is StreamKind.CANDLES else ""
        )
        renders[market] = _renderer(pd, sd, one_sided)
    return Plan(
        markets,
        streams,
        renders,
        rest.time_range(ctx.params),
        _limit(ctx.params, "limit_per_market"),
    )


def _renderer(pd: int, sd: int, one_sided: bool) -> Render:
    def render(row: Row) -> dict[str, Any] | None:
        event = row.event
        if isinstance(event, Trade):
            return encoders.trade_row(event, pd, sd, rest=True)
        if isinstance(event, Quote):
            return encoders.quote_row(event, row.id, pd, sd, one_sided=one_sided)
        if isinstance(event, Candle):
            return encoders.candle_row(event, pd, sd)
        return None

    return render


async def _page(
    history: History, plan: Plan, pages: rest.Paging
) -> tuple[list[dict[str, Any]], str | None]:
    """One page across the plan's entities in order (``paging_from=end``: the newest page)."""
    forward = pages.from_start
    entities = plan.order if forward else list(reversed(plan.order))
    start, after = 0, None
    if pages.token is not None and pages.token[0] in plan.streams:
        start, after = entities.index(pages.token[0]), pages.token[1]
    picked: list[tuple[str, int, dict[str, Any]]] = []
    for entity in entities[start:]:
        while len(picked) <= pages.page_size:
            rows = await history.range(
                plan.streams[entity], plan.span.start_ns, plan.span.end_ns,
                limit=pages.page_size + 1, after=after, descending=not forward,
            )  # fmt: skip
            for row in rows:
                rendered = plan.renders[entity](row)
                if rendered is not None:
                    picked.append((entity, row.id, rendered))
            if len(rows) <= pages.page_size:
                break
            after = rows[-1].id
        after = None
        if len(picked) > pages.page_size:
            break
    more = len(picked) > pages.page_size
    picked = picked[: pages.page_size]
    token = rest.encode_token(picked[-1][0], picked[-1][1]) if more and picked else None
    if not forward:
        picked.reverse()
    return [row for _, _, row in picked], token


async def _stream(history: History, plan: Plan) -> AsyncIterator[bytes]:
    for entity in plan.order:
        after = None
        while True:
            rows = await history.range(
                plan.streams[entity], plan.span.start_ns, plan.span.end_ns, limit=CHUNK, after=after
            )
            rendered = [r for row in rows if (r := plan.renders[entity](row)) is not None]
            for chunk in rest.ndjson(rendered):
                yield chunk
            if len(rows) < CHUNK:
                break
            after = rows[-1].id


async def _bounded(history: History, plan: Plan, from_start: bool) -> Found:
    """Every entity's rows in range (at most ``limit`` or MAX_IN_MEMORY), for in-memory paging."""
    items: list[rest.Item] = []
    cap = plan.limit or MAX_IN_MEMORY
    for entity in plan.order:
        rows = await history.range(
            plan.streams[entity], plan.span.start_ns, plan.span.end_ns, limit=cap,
            descending=not from_start,
        )  # fmt: skip
        rows.sort(key=lambda row: (row.time_ns, row.id))
        for row in rows:
            rendered = plan.renders[entity](row)
            if rendered is not None:
                items.append(rest.Item(entity, row.id, rendered))
    return Found(items, plan.order, plan.limit)


async def _orderbooks(ctx: Context, history: History) -> Found:
    markets = _markets(ctx, StreamKind.BOOK, ("depth_limit",))
    depth_text = query.text(ctx.params, "depth_limit", "100") or "100"
    depth = None
    if depth_text != "full_book":
        depth = query.integer(ctx.params, "depth_limit", 100, low=1, high=30_000)
    span = rest.time_range(ctx.params)
    items: list[rest.Item] = []
    for market in markets:
        found = ctx.catalog.get(market)
        rows = await history.checkpoints(
            f"book:{market}", span.start_ns, span.end_ns, limit=MAX_IN_MEMORY
        )
        for row in rows:
            book = row.event
            if not isinstance(book, BookSnapshot):
                continue
            bids, asks = book.bids[:depth], book.asks[:depth]
            rendered = encoders.book_row(
                market, bids, asks, row.time_ns, row.seq, found.price_decimals, found.size_decimals
            )
            items.append(rest.Item(market, row.id, rendered))
    return Found(items, markets, _limit(ctx.params, "limit_per_market"))


async def _recorded(ctx: Context, history: History, assets: list[str]) -> Context:
    """``ctx`` with a Recorder filled from the stored metrics of ``assets`` over the requested
    range (one interval more at the end: samples are stamped with their interval's start), read
    in chunks: the recorder keeps one value per minute (``1m`` and longer), or per second for
    ``1s`` (the newest MAX_IN_MEMORY seconds per metric)."""
    frequency = query.choice(ctx.params, "frequency", tuple(METRIC_FREQUENCIES), "1d")
    span = rest.time_range(ctx.params)
    end = None if span.end_ns is None else span.end_ns + METRIC_FREQUENCIES[frequency]
    seconds = MAX_IN_MEMORY if frequency == "1s" else 1
    recorder = Recorder(keeper=StateKeeper(), metric_seconds=seconds, metric_minutes=10**9)
    for asset in dict.fromkeys(assets):
        after = None
        while True:
            rows = await history.range(
                f"metrics:{asset}", span.start_ns, end, limit=CHUNK, after=after
            )
            recorder.on_envelopes([row.envelope() for row in rows])
            if len(rows) < CHUNK:
                break
            after = rows[-1].id
    return dataclasses.replace(ctx, recorder=recorder)


def _wanted(ctx: Context, name: str, noun: str, known: list[str], *, fold: bool) -> list[str]:
    """The requested names (patterns expanded); [] when invalid: the live handler reports it."""
    try:
        return query.expand(name, noun, query.required_list(ctx.params, name), known, fold=fold)
    except CmError:
        return []


async def _asset_metrics(ctx: Context, history: History) -> Found:
    """The live handler over a Recorder filled from the store's rows of the requested range."""
    assets = _wanted(ctx, "assets", "Value", ctx.catalog.assets(), fold=True)
    return asset_metrics(await _recorded(ctx, history, assets))


async def _index_levels(ctx: Context, history: History) -> Found:
    """Index levels (an asset's reference rate) the same way."""
    known = [derive.index_name(asset) for asset in ctx.catalog.assets()]
    indexes = _wanted(ctx, "indexes", "Index", known, fold=False)
    assets = [asset for index in indexes if (asset := derive.index_asset(index))]
    return index_levels(await _recorded(ctx, history, assets))


STORE_TIMESERIES = ("market-trades", "market-quotes", "market-candles", "market-orderbooks",
                    "asset-metrics", "index-levels", "market-openinterest",
                    "market-contract-prices")  # fmt: skip
"""Served from the store when the server keeps history (the last two only then)."""


async def from_store(
    ctx: Context, name: str, history: History
) -> tuple[list[dict[str, Any]], str | None] | AsyncIterator[bytes]:
    """One page of rows and the next token, or (``format=json_stream``) the byte chunks."""
    pages = rest.paging(ctx.params, default_from="end")
    if name == "market-orderbooks":
        found = await _orderbooks(ctx, history)
    elif name == "asset-metrics":
        found = await _asset_metrics(ctx, history)
    elif name == "index-levels":
        found = await _index_levels(ctx, history)
    elif name == "market-openinterest":
        found = await futures.open_interest(ctx, history, pages.from_start)
    elif name == "market-contract-prices":
        found = await futures.contract_prices(ctx, history, pages.from_start)
    else:
        plan = _market_plan(ctx, name)
        if pages.stream and plan.limit is None:
            return _stream(history, plan)
        if plan.limit is None:
            return await _page(history, plan, pages)
        found = await _bounded(history, plan, pages.from_start)
    items = rest.limit_each(found.items, found.limit, from_start=pages.from_start)
    rows, token = rest.page(items, found.order, pages)
    if pages.stream:
        return _chunks(rows)
    return rows, token


async def _chunks(rows: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for chunk in rest.ndjson(rows):
        yield chunk


async def stored(
    request: Request, ctx: Context, name: str, history: History, headers: dict[str, str]
) -> Response:
    """The REST answer from the store. Every event published before the request is included
    (pending events are flushed first)."""
    await history.flushed(READ_FLUSH_TIMEOUT)
    try:
        found = await from_store(ctx, name, history)
    except CmError as error:
        return Response(error.body(), error.status, headers=headers, media_type="application/json")
    if not isinstance(found, tuple):
        return StreamingResponse(found, media_type=NDJSON, headers=headers)
    rows, token = found
    url = str(request.url.replace(query=""))
    body = rest.json_page(rows, token, url, ctx.params)
    return Response(body, media_type="application/json", headers=headers)

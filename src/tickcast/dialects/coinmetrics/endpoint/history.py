"""``/v4/timeseries/*``: Coin Metrics history rows cut from the node's Recorder.

Each function validates its endpoint's parameters and returns a :class:`Found`: the result
items (entity, record number, row) in entity order, for the REST module to page and render.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tickcast.auth.plans import Plan
from tickcast.dialects.coinmetrics.wire import derive, encoders, query, rest
from tickcast.dialects.coinmetrics.wire.errors import CmError, bad_parameter, forbidden, unsupported
from tickcast.dialects.coinmetrics.wire.streams import STREAM_METRICS, Visible, granted_markets
from tickcast.dialects.coinmetrics.wire.values import number, timestamp
from tickcast.model import AssetMetric, MarketCatalog, StreamKey, StreamKind
from tickcast.model.streams import CANDLE_INTERVALS
from tickcast.state.recorder import Record, Recorder, between

METRIC_FREQUENCIES: dict[str, int] = {
    "1s": 1_000_000_000,
    "1m": 60_000_000_000,
    "1h": 3_600_000_000_000,
    "1d": 86_400_000_000_000,
}
COMMON = (*rest.PAGING, *rest.TIME_RANGE, *rest.IGNORED)


@dataclass
class Found:
    items: list[rest.Item]
    order: list[str]
    limit: int | None = None
    default_from: str = "end"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Context:
    params: query.Query
    catalog: MarketCatalog
    recorder: Recorder
    plan: Plan
    visible: Visible


def _limit(params: query.Query, name: str) -> int | None:
    if not query.text(params, name):
        return None
    return query.integer(params, name, 0, low=1, high=rest.MAX_PAGE_SIZE)


def _markets(ctx: Context, kind: StreamKind, extra: tuple[str, ...]) -> list[str]:
    query.check_known(ctx.params, (*COMMON, "markets", "limit_per_market", *extra))
    return granted_markets(ctx.params, ctx.catalog, ctx.plan, ctx.visible, kind)


def market_trades(ctx: Context) -> Found:
    markets = _markets(ctx, StreamKind.TRADES, ())
    span = rest.time_range(ctx.params)
    items: list[rest.Item] = []
    for market in markets:
        found = ctx.catalog.get(market)
        pd, sd = found.price_decimals, found.size_decimals
        for rec in between(ctx.recorder.trades.get(market, ()), span.start_ns, span.end_ns):
            row = encoders.trade_row(rec.item, pd, sd, rest=True)
            items.append(rest.Item(market, rec.rid, row))
    return Found(items, markets, _limit(ctx.params, "limit_per_market"))


def market_quotes(ctx: Context) -> Found:
    markets = _markets(ctx, StreamKind.QUOTES, ("include_one_sided",))
    one_sided = query.boolean(ctx.params, "include_one_sided")
    span = rest.time_range(ctx.params)
    items: list[rest.Item] = []
    for market in markets:
        found = ctx.catalog.get(market)
        pd, sd = found.price_decimals, found.size_decimals
        for rec in between(ctx.recorder.quotes.get(market, ()), span.start_ns, span.end_ns):
            row = encoders.quote_row(rec.item, rec.rid, pd, sd, one_sided=one_sided)
            if row is not None:
                items.append(rest.Item(market, rec.rid, row))
    return Found(items, markets, _limit(ctx.params, "limit_per_market"))


def market_orderbooks(ctx: Context) -> Found:
    markets = _markets(ctx, StreamKind.BOOK, ("depth_limit",))
    depth_text = query.text(ctx.params, "depth_limit", "100") or "100"
    if depth_text == "full_book":
        depth = None
    else:
        depth = query.integer(ctx.params, "depth_limit", 100, low=1, high=30_000)
    span = rest.time_range(ctx.params)
    items: list[rest.Item] = []
    for market in markets:
        found = ctx.catalog.get(market)
        pd, sd = found.price_decimals, found.size_decimals
        for rec in between(ctx.recorder.books.get(market, ()), span.start_ns, span.end_ns):
            book = rec.item
            bids, asks = book.levels(depth)
            row = encoders.book_row(market, bids, asks, book.time_ns, book.seq, pd, sd)
            items.append(rest.Item(market, rec.rid, row))
    return Found(items, markets, _limit(ctx.params, "limit_per_market"))


def market_candles(ctx: Context) -> Found:
    markets = _markets(ctx, StreamKind.CANDLES, ("frequency",))
    frequency = query.choice(ctx.params, "frequency", CANDLE_INTERVALS, "1d")
    span = rest.time_range(ctx.params)
    items: list[rest.Item] = []
    for market in markets:
        found = ctx.catalog.get(market)
        pd, sd = found.price_decimals, found.size_decimals
        rows = ctx.recorder.candles.get((market, frequency), ())
        for rec in between(rows, span.start_ns, span.end_ns):
            items.append(rest.Item(market, rec.rid, encoders.candle_row(rec.item, pd, sd)))
    return Found(items, markets, _limit(ctx.params, "limit_per_market"))


def metric_samples(
    recorder: Recorder, asset: str, metric: str, frequency: str
) -> list[Record[AssetMetric]]:
    """One sample per interval (the interval's last value), stamped with the interval start."""
    step = METRIC_FREQUENCIES[frequency]
    table = recorder.metric_seconds if frequency == "1s" else recorder.metric_minutes
    buckets: dict[int, Record[AssetMetric]] = {}
    for rec in table.get((asset, metric), ()):
        start = rec.time_ns - rec.time_ns % step
        buckets[start] = Record(rec.rid, start, rec.item)
    return list(buckets.values())


def _metric_frequency(params: query.Query) -> str:
    return query.choice(params, "frequency", tuple(METRIC_FREQUENCIES), "1d")


def asset_metrics(ctx: Context) -> Found:
    params = ctx.params
    query.check_known(params, (*COMMON, "assets", "metrics", "frequency", "limit_per_asset"))
    ignore_unsupported = query.boolean(params, "ignore_unsupported_errors")
    ignore_forbidden = query.boolean(params, "ignore_forbidden_errors")
    metrics = query.required_list(params, "metrics")
    for metric in metrics:
        if metric not in STREAM_METRICS and not ignore_unsupported:
            raise unsupported("metrics", "Metric", metric)
    metrics = [m for m in metrics if m in STREAM_METRICS]
    frequency = _metric_frequency(params)
    assets: list[str] = []
    for item in query.required_list(params, "assets"):
        try:
            matches = query.expand("assets", "Value", [item], ctx.catalog.assets(), fold=True)
        except CmError:
            if ignore_unsupported:
                continue
            raise
        for asset in matches:
            if ctx.plan.allows_stream(StreamKey(StreamKind.METRICS, asset)):
                assets.append(asset)
            elif not ignore_forbidden and not query.is_pattern(item):
                raise forbidden(
                    f"Requested metric '{metrics[0] if metrics else item}' with frequency "
                    f"'{frequency}' for asset '{asset}' is not available with supplied "
                    "credentials."
                )
    span = rest.time_range(params)
    items: list[rest.Item] = []
    for asset in dict.fromkeys(assets):
        rows: dict[int, tuple[int, dict[str, Any]]] = {}
        for metric in metrics:
            samples = metric_samples(ctx.recorder, asset, metric, frequency)
            for rec in between(samples, span.start_ns, span.end_ns):
                rid, row = rows.get(
                    rec.time_ns, (0, {"asset": asset, "time": timestamp(rec.time_ns)})
                )
                row[metric] = number(rec.item.value, rec.item.decimals)
                rows[rec.time_ns] = (max(rid, rec.rid), row)
        for time_ns in sorted(rows):
            rid, row = rows[time_ns]
            items.append(rest.Item(asset, rid, row))
    return Found(items, list(dict.fromkeys(assets)), _limit(params, "limit_per_asset"))


def index_levels(ctx: Context) -> Found:
    params = ctx.params
    query.check_known(
        params, (*COMMON, "indexes", "frequency", "limit_per_index", "include_verification")
    )
    if query.boolean(params, "include_verification"):
        raise bad_parameter("include_verification", "Verification is not supported by tickcast.")
    known = [derive.index_name(a) for a in ctx.catalog.assets()]
    indexes = query.expand("indexes", "Index", query.required_list(params, "indexes"), known)
    frequency = _metric_frequency(params)
    span = rest.time_range(params)
    items: list[rest.Item] = []
    for index in indexes:
        asset = derive.index_asset(index) or ""
        if not ctx.plan.allows_stream(StreamKey(StreamKind.METRICS, asset)):
            raise forbidden(
                f"Requested index '{index}' is not available with supplied credentials."
            )
        samples = metric_samples(ctx.recorder, asset, derive.INDEX_METRIC, frequency)
        for rec in between(samples, span.start_ns, span.end_ns):
            row = {
                "index": index,
                "time": timestamp(rec.time_ns),
                "level": number(rec.item.value, rec.item.decimals),
            }
            items.append(rest.Item(index, rec.rid, row))
    return Found(items, indexes, _limit(params, "limit_per_index"))


TIMESERIES: dict[str, Callable[[Context], Found]] = {
    "market-trades": market_trades,
    "market-quotes": market_quotes,
    "market-orderbooks": market_orderbooks,
    "market-candles": market_candles,
    "asset-metrics": asset_metrics,
    "index-levels": index_levels,
}

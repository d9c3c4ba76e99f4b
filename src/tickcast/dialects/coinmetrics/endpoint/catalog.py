"""``/v4/reference-data/*``, ``/v4/catalog-v2/*`` and ``/v4/catalog-all-v2/*``.

Reference data lists what the catalogue knows. Catalogue rows list what the Recorder holds,
with the time range of the recorded data: ``catalog-v2`` only what the key may read,
``catalog-all-v2`` everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tickcast.dialects.coinmetrics.endpoint.history import (
    METRIC_FREQUENCIES,
    Context,
    Found,
    metric_samples,
)
from tickcast.dialects.coinmetrics.wire import derive, query, reference, rest
from tickcast.dialects.coinmetrics.wire.errors import not_found
from tickcast.dialects.coinmetrics.wire.streams import STREAM_METRICS
from tickcast.dialects.coinmetrics.wire.values import timestamp
from tickcast.model import StreamKey, StreamKind
from tickcast.model.streams import CANDLE_INTERVALS
from tickcast.state.recorder import Record

LISTING = (*rest.PAGING, *rest.IGNORED)


def _listing(rows: list[tuple[str, dict[str, Any]]]) -> Found:
    items = [rest.Item(name, 0, row) for name, row in rows]
    return Found(items, [name for name, _ in rows], default_from="start")


def reference_markets(ctx: Context) -> Found:
    query.check_known(ctx.params, (*LISTING, *reference.MARKET_FILTERS))
    markets = [m for m in reference.filter_markets(ctx.catalog, ctx.params) if ctx.visible(m.id)]
    return _listing([(m.id, reference.market_row(m)) for m in markets])


def reference_assets(ctx: Context) -> Found:
    query.check_known(ctx.params, (*LISTING, "assets"))
    known = reference.assets_of(ctx.catalog)
    wanted = query.optional_list(ctx.params, "assets")
    assets = query.expand("assets", "Value", wanted, known, fold=True) if wanted else known
    return _listing([(a, reference.asset_row(a)) for a in assets])


def reference_exchanges(ctx: Context) -> Found:
    query.check_known(ctx.params, (*LISTING, "exchanges"))
    known = sorted({m.exchange for m in ctx.catalog})
    wanted = query.optional_list(ctx.params, "exchanges")
    exchanges = query.expand("exchanges", "Exchange", wanted, known) if wanted else known
    return _listing([(e, reference.exchange_row(e, ctx.catalog)) for e in exchanges])


def reference_indexes(ctx: Context) -> Found:
    query.check_known(ctx.params, (*LISTING, "indexes"))
    known = {derive.index_name(a): a for a in ctx.catalog.assets()}
    wanted = query.optional_list(ctx.params, "indexes")
    indexes = query.expand("indexes", "Index", wanted, list(known)) if wanted else sorted(known)
    return _listing([(i, reference.index_row(i, known[i])) for i in indexes])


def reference_pairs(ctx: Context) -> Found:
    query.check_known(ctx.params, (*LISTING, "pairs"))
    known = sorted(derive.pair_markets(ctx.catalog))
    wanted = query.optional_list(ctx.params, "pairs")
    pairs = query.expand("pairs", "Pair", wanted, known, fold=True) if wanted else known
    return _listing([(p, reference.pair_row(p)) for p in pairs])


REFERENCE: dict[str, Callable[[Context], Found]] = {
    "markets": reference_markets,
    "assets": reference_assets,
    "exchanges": reference_exchanges,
    "indexes": reference_indexes,
    "pairs": reference_pairs,
}


def _span(records: Iterable[Record[Any]]) -> dict[str, str] | None:
    rows = list(records)
    if not rows:
        return None
    return {"min_time": timestamp(rows[0].time_ns), "max_time": timestamp(rows[-1].time_ns)}


class Catalog:
    """Catalogue rows for one request; ``everything``: ``catalog-all-v2`` (no plan filter)."""

    def __init__(self, ctx: Context, *, everything: bool) -> None:
        self.ctx = ctx
        self.everything = everything

    def _allowed(self, kind: StreamKind, subject: str) -> bool:
        return self.everything or self.ctx.plan.allows_stream(StreamKey(kind, subject))

    def _markets(self, kind: StreamKind) -> list[str]:
        query.check_known(self.ctx.params, (*LISTING, *reference.MARKET_FILTERS, *rest.TIME_RANGE))
        markets = reference.filter_markets(self.ctx.catalog, self.ctx.params)
        return [m.id for m in markets if self.ctx.visible(m.id) and self._allowed(kind, m.id)]

    def market_trades(self) -> Found:
        return self._simple(StreamKind.TRADES, self.ctx.recorder.trades)

    def market_quotes(self) -> Found:
        return self._simple(StreamKind.QUOTES, self.ctx.recorder.quotes)

    def _simple(self, kind: StreamKind, table: dict[str, Any]) -> Found:
        rows: list[tuple[str, dict[str, Any]]] = []
        for market in self._markets(kind):
            span = _span(table.get(market, ()))
            if span is not None:
                rows.append((market, {"market": market, **span}))
        return _listing(rows)

    def market_orderbooks(self) -> Found:
        rows: list[tuple[str, dict[str, Any]]] = []
        for market in self._markets(StreamKind.BOOK):
            span = _span(self.ctx.recorder.books.get(market, ()))
            if span is not None:
                depths = [{"depth": depth, **span} for depth in ("100", "full_book")]
                rows.append((market, {"market": market, "depths": depths}))
        return _listing(rows)

    def market_candles(self) -> Found:
        rows: list[tuple[str, dict[str, Any]]] = []
        for market in self._markets(StreamKind.CANDLES):
            frequencies = []
            for interval in CANDLE_INTERVALS:
                span = _span(self.ctx.recorder.candles.get((market, interval), ()))
                if span is not None:
                    frequencies.append({"frequency": interval, **span})
            if frequencies:
                rows.append((market, {"market": market, "frequencies": frequencies}))
        return _listing(rows)

    def _frequencies(self, asset: str, metric: str) -> list[dict[str, str]]:
        result = []
        for frequency in METRIC_FREQUENCIES:
            span = _span(metric_samples(self.ctx.recorder, asset, metric, frequency))
            if span is not None:
                result.append({"frequency": frequency, **span})
        return result

    def asset_metrics(self) -> Found:
        params = self.ctx.params
        query.check_known(params, (*LISTING, "assets", "metrics"))
        assets = query.optional_list(params, "assets") or self.ctx.catalog.assets()
        wanted = query.optional_list(params, "metrics") or list(STREAM_METRICS)
        rows: list[tuple[str, dict[str, Any]]] = []
        for asset in assets:
            if not self._allowed(StreamKind.METRICS, asset):
                continue
            metrics = []
            for metric in wanted:
                frequencies = self._frequencies(asset, metric)
                if frequencies:
                    metrics.append({"metric": metric, "frequencies": frequencies})
            if metrics:
                rows.append((asset, {"asset": asset, "metrics": metrics}))
        return _listing(rows)

    def index_levels(self) -> Found:
        query.check_known(self.ctx.params, (*LISTING, "indexes"))
        wanted = query.optional_list(self.ctx.params, "indexes")
        rows: list[tuple[str, dict[str, Any]]] = []
        for asset in self.ctx.catalog.assets():
            index = derive.index_name(asset)
            if (wanted and index not in wanted) or not self._allowed(StreamKind.METRICS, asset):
                continue
            frequencies = self._frequencies(asset, derive.INDEX_METRIC)
            if frequencies:
                rows.append((index, {"index": index, "frequencies": frequencies}))
        return _listing(rows)


CATALOG_TYPES: dict[str, Callable[[Catalog], Found]] = {
    "market-trades": Catalog.market_trades,
    "market-quotes": Catalog.market_quotes,
    "market-orderbooks": Catalog.market_orderbooks,
    "market-candles": Catalog.market_candles,
    "asset-metrics": Catalog.asset_metrics,
    "index-levels": Catalog.index_levels,
}


def catalog(ctx: Context, name: str, *, everything: bool) -> Found:
    method = CATALOG_TYPES.get(name)
    if method is None:
        raise not_found()
    return method(Catalog(ctx, everything=everything))

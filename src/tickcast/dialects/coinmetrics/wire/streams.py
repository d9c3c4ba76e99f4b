"""``/v4/timeseries-stream/<endpoint>`` requests → the bus streams to join and the encoder.

``parse_stream_request`` validates the whole query (unknown parameters and values fail, as on
the real service), expands market patterns, applies the plan's entitlements and returns a
:class:`StreamRequest`; every refusal is a :class:`CmError` for the connection to send in-band.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tickcast.auth.plans import Plan
from tickcast.dialects.coinmetrics.wire import aggregates, derive, encoders, query
from tickcast.dialects.coinmetrics.wire.errors import (
    CmError,
    bad_parameter,
    forbidden,
    not_found,
    unsupported,
)
from tickcast.dialects.coinmetrics.wire.rest import parse_time
from tickcast.model import MarketCatalog, MarketKind, StreamKey, StreamKind, View
from tickcast.model.streams import CANDLE_INTERVALS

BOOK_DEPTH = 100
DEPTH_LIMITS = ("100", "full_book")
METRIC_FREQUENCIES = ("1s",)
"""Asset-metric frequencies the simulator honours (it publishes metrics once a second)."""
KNOWN_METRIC_FREQUENCIES = ("1b", "1s", "200ms")
STREAM_METRICS = ("PriceUSD", "ReferenceRateUSD")
AGGREGATION_METHODS = ("aggregated_spread",)

_COMMON = ("pretty", "backfill", "start_time")
START_TIME_ENDPOINTS = frozenset({
    "market-trades", "market-candles", "market-liquidations", "market-quotes",
    "market-orderbooks", "asset-metrics", "index-levels",
})  # fmt: skip
"""Endpoints whose ``start_time`` (a tickcast extension) replays the durable history: those
whose messages depend on their own stream only (issue 17)."""
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "market-trades": ("markets",),
    "market-orderbooks": ("markets", "depth_limit"),
    "market-quotes": ("markets", "include_one_sided"),
    "market-candles": ("markets", "frequency"),
    "asset-metrics": (
        "assets",
        "metrics",
        "frequency",
        "ignore_forbidden_errors",
        "ignore_unsupported_errors",
    ),
    "index-levels": ("indexes", "include_verification"),
    "pair-quotes": ("pairs", "aggregation_method"),
    "asset-quotes": ("assets", "aggregation_method"),
    "market-liquidations": ("markets",),
    "market-openinterest": ("markets",),
    "market-contract-prices": ("markets",),
}
"""Every stream endpoint and its parameters besides ``api_key``, ``pretty`` and ``backfill``."""

FUTURES_ONLY = frozenset({"market-liquidations", "market-openinterest", "market-contract-prices"})


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    """Which encoder variant renders a request (connections with equal specs share bytes)."""

    endpoint: str
    pretty: bool = False
    include_one_sided: bool = False
    metrics: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Subscription:
    key: StreamKey
    view: View
    backfill: bool = True
    """Whether this stream's backfill frames are sent (pair/asset quotes: once per group)."""


@dataclass(frozen=True, slots=True)
class StreamRequest:
    endpoint: str
    encoder: EncoderSpec
    subscriptions: tuple[Subscription, ...]
    backfill: bool
    """``backfill=latest``: send the latest value(s) before real-time data."""
    replay: int
    """EVENT streams: how many recent events a backfill looks through (0 for STATE streams)."""
    keep: int
    """How many backfill messages per stream are kept (the newest)."""
    start_ns: int | None = None
    """``start_time`` (tickcast extension): backfill every stored message from then, not the
    latest values."""


Visible = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class _Context:
    params: query.Query
    catalog: MarketCatalog
    plan: Plan
    visible: Visible | None
    pretty: bool


_Parsed = tuple[EncoderSpec, list[Subscription], int, int]


def parse_stream_request(
    endpoint: str,
    params: query.Query,
    *,
    catalog: MarketCatalog,
    plan: Plan,
    visible: Visible | None = None,
) -> StreamRequest:
    """Validate a stream request; raise CmError (in-band error) on the first problem."""
    if endpoint not in ENDPOINTS:
        raise not_found(f"Stream '{endpoint}' is not found.")
    query.check_known(params, (*_COMMON, *ENDPOINTS[endpoint]))
    pretty = query.boolean(params, "pretty")
    backfill = query.choice(params, "backfill", ("latest", "none"), "latest") == "latest"
    start_ns = _start_time(endpoint, params, backfill)
    ctx = _Context(params, catalog, plan, visible, pretty)
    spec, subscriptions, replay, keep = _PARSERS[endpoint](ctx)
    if len(subscriptions) > plan.max_subscriptions:
        raise forbidden(
            f"Requested {len(subscriptions)} streams; the plan allows at most "
            f"{plan.max_subscriptions} per connection."
        )
    return StreamRequest(endpoint, spec, tuple(subscriptions), backfill, replay, keep, start_ns)


def _start_time(endpoint: str, params: query.Query, backfill: bool) -> int | None:
    """``start_time`` (RFC 3339 / the REST formats, UTC), on the endpoints that replay it."""
    text = query.text(params, "start_time")
    if not text:
        return None
    if endpoint not in START_TIME_ENDPOINTS:
        raise bad_parameter("start_time", "Parameter is not supported by this stream.")
    if not backfill:
        raise bad_parameter("start_time", "Parameter requires backfill=latest.")
    return parse_time("start_time", text)


def _not_available(noun: str, item: str) -> CmError:
    return forbidden(f"Requested {noun} '{item}' is not available with supplied credentials.")


def granted_markets(
    params: query.Query,
    catalog: MarketCatalog,
    plan: Plan,
    visible: Visible | None,
    kind: StreamKind,
    *,
    futures_only: bool = False,
) -> list[str]:
    """The requested ``markets`` the plan grants for ``kind``.

    A pattern is narrowed to the granted markets it matches (``forbidden`` if none); a named
    market the plan does not grant is ``forbidden``; unknown names and empty patterns are
    ``bad_parameter``.
    """
    requested = query.required_list(params, "markets")
    known = [
        m.id
        for m in catalog
        if (visible is None or visible(m.id)) and (m.kind is MarketKind.FUTURE or not futures_only)
    ]
    result: dict[str, None] = {}
    for item in requested:
        matches = query.expand("markets", "Market", [item], known)
        granted = [m for m in matches if plan.allows_stream(StreamKey(kind, m))]
        if not granted or (not query.is_pattern(item) and len(granted) < len(matches)):
            raise _not_available("market", item)
        result.update(dict.fromkeys(granted))
    return list(result)


def _markets(ctx: _Context, kind: StreamKind, *, futures_only: bool) -> list[str]:
    return granted_markets(
        ctx.params, ctx.catalog, ctx.plan, ctx.visible, kind, futures_only=futures_only
    )


def _market_streams(
    ctx: _Context,
    kind: StreamKind,
    *,
    variant: str | None = None,
    view: View | None = None,
    futures_only: bool = False,
) -> list[Subscription]:
    markets = _markets(ctx, kind, futures_only=futures_only)
    return [Subscription(StreamKey(kind, m, variant), view or View()) for m in markets]


def _trades(ctx: _Context) -> _Parsed:
    subs = _market_streams(ctx, StreamKind.TRADES)
    return EncoderSpec("market-trades", ctx.pretty), subs, 1, 1


LIQUIDATION_LOOKBACK = 500
"""Trades a liquidations backfill looks through for the latest liquidation."""


def _liquidations(ctx: _Context) -> _Parsed:
    subs = _market_streams(ctx, StreamKind.TRADES, futures_only=True)
    return EncoderSpec("market-liquidations", ctx.pretty), subs, LIQUIDATION_LOOKBACK, 1


def _books(ctx: _Context) -> _Parsed:
    depth = query.choice(ctx.params, "depth_limit", DEPTH_LIMITS, "100")
    view = View(depth=BOOK_DEPTH if depth == "100" else None)
    subs = _market_streams(ctx, StreamKind.BOOK, view=view)
    return EncoderSpec("market-orderbooks", ctx.pretty), subs, 0, 1


def _quotes(ctx: _Context) -> _Parsed:
    one_sided = query.boolean(ctx.params, "include_one_sided")
    subs = _market_streams(ctx, StreamKind.QUOTES)
    return EncoderSpec("market-quotes", ctx.pretty, include_one_sided=one_sided), subs, 0, 1


def _candles(ctx: _Context) -> _Parsed:
    frequency = query.choice(ctx.params, "frequency", CANDLE_INTERVALS, "1m")
    subs = _market_streams(ctx, StreamKind.CANDLES, variant=frequency)
    return EncoderSpec("market-candles", ctx.pretty), subs, 1, 1


def _openinterest(ctx: _Context) -> _Parsed:
    subs = _market_streams(ctx, StreamKind.POSITIONS, futures_only=True)
    return EncoderSpec("market-openinterest", ctx.pretty), subs, 0, 1


def _contract_prices(ctx: _Context) -> _Parsed:
    subs = _market_streams(ctx, StreamKind.QUOTES, futures_only=True)
    return EncoderSpec("market-contract-prices", ctx.pretty), subs, 0, 1


def _asset_metrics(ctx: _Context) -> _Parsed:
    params = ctx.params
    ignore_unsupported = query.boolean(params, "ignore_unsupported_errors")
    ignore_forbidden = query.boolean(params, "ignore_forbidden_errors")
    assets = query.required_list(params, "assets")
    metrics = query.required_list(params, "metrics")
    frequency = query.choice(params, "frequency", KNOWN_METRIC_FREQUENCIES, "1s")
    wanted_metrics = [m for m in metrics if m in STREAM_METRICS]
    if not ignore_unsupported:
        for metric in metrics:
            if metric not in STREAM_METRICS:
                raise unsupported("metrics", "Metric", metric)
    if frequency not in METRIC_FREQUENCIES:
        if not ignore_unsupported:
            raise bad_parameter(
                "frequency",
                f"Metric '{metrics[0]}' with frequency '{frequency}' is not supported for "
                f"'{assets[0]}'.",
            )
        wanted_metrics = []
    chosen: dict[str, None] = {}
    for item in assets:
        try:
            matches = query.expand("assets", "Value", [item], ctx.catalog.assets(), fold=True)
        except CmError:
            if ignore_unsupported:
                continue
            raise
        for asset in matches:
            if ctx.plan.allows_stream(StreamKey(StreamKind.METRICS, asset)):
                chosen[asset] = None
            elif not ignore_forbidden and not query.is_pattern(item):
                raise forbidden(
                    f"Requested metric '{metrics[0]}' with frequency '{frequency}' for asset "
                    f"'{asset}' is not available with supplied credentials."
                )
    if not chosen or not wanted_metrics:
        raise bad_parameter("assets", "No supported asset and metric combination was requested.")
    spec = EncoderSpec("asset-metrics", ctx.pretty, metrics=frozenset(wanted_metrics))
    subs = [Subscription(StreamKey(StreamKind.METRICS, a), View()) for a in chosen]
    return spec, subs, 0, 1


def _index_levels(ctx: _Context) -> _Parsed:
    if query.boolean(ctx.params, "include_verification"):
        raise bad_parameter("include_verification", "Verification is not supported by tickcast.")
    indexes = query.required_list(ctx.params, "indexes")
    known = [derive.index_name(a) for a in ctx.catalog.assets()]
    subs: list[Subscription] = []
    for name in query.expand("indexes", "Index", indexes, known):
        asset = derive.index_asset(name)
        assert asset is not None
        key = StreamKey(StreamKind.METRICS, asset)
        if not ctx.plan.allows_stream(key):
            raise _not_available("index", name)
        subs.append(Subscription(key, View()))
    return EncoderSpec("index-levels", ctx.pretty), subs, 0, 1


def _aggregated(
    ctx: _Context, endpoint: str, name: str, groups: dict[str, list[str]], noun: str
) -> _Parsed:
    aggregation = AGGREGATION_METHODS
    query.choice(ctx.params, "aggregation_method", aggregation, aggregation[0])
    requested = query.required_list(ctx.params, name)
    subs: list[Subscription] = []
    for group in query.expand(name, noun, requested, list(groups), fold=True):
        allowed = ctx.plan.allows_stream
        markets = [m for m in groups[group] if allowed(StreamKey(StreamKind.QUOTES, m))]
        if not markets:
            raise _not_available(noun.lower(), group)
        for index, market in enumerate(markets):
            key = StreamKey(StreamKind.QUOTES, market)
            subs.append(Subscription(key, View(), backfill=index == 0))
    return EncoderSpec(endpoint, ctx.pretty), subs, 0, 1


def _pair_quotes(ctx: _Context) -> _Parsed:
    groups = derive.pair_markets(ctx.catalog)
    return _aggregated(ctx, "pair-quotes", "pairs", groups, "Pair")


def _asset_quotes(ctx: _Context) -> _Parsed:
    groups = derive.asset_quote_markets(ctx.catalog)
    return _aggregated(ctx, "asset-quotes", "assets", groups, "Value")


_PARSERS: dict[str, Callable[[_Context], _Parsed]] = {
    "market-trades": _trades,
    "market-orderbooks": _books,
    "market-quotes": _quotes,
    "market-candles": _candles,
    "asset-metrics": _asset_metrics,
    "index-levels": _index_levels,
    "pair-quotes": _pair_quotes,
    "asset-quotes": _asset_quotes,
    "market-liquidations": _liquidations,
    "market-openinterest": _openinterest,
    "market-contract-prices": _contract_prices,
}

_ENCODERS: dict[str, type[encoders.CmEncoder]] = {
    "market-trades": encoders.TradeEncoder,
    "market-orderbooks": encoders.BookEncoder,
    "market-candles": encoders.CandleEncoder,
    "index-levels": encoders.IndexEncoder,
    "pair-quotes": aggregates.PairQuoteEncoder,
    "asset-quotes": aggregates.AssetQuoteEncoder,
    "market-liquidations": encoders.LiquidationEncoder,
    "market-openinterest": aggregates.OpenInterestEncoder,
    "market-contract-prices": aggregates.ContractPriceEncoder,
}


class EncoderSet:
    """One encoder per variant, created on first use and shared by every connection."""

    def __init__(
        self, *, catalog: MarketCatalog, state: derive.MarketState, now: encoders.Now
    ) -> None:
        self._common: dict[str, Any] = {"catalog": catalog, "state": state, "now": now}
        self._encoders: dict[EncoderSpec, encoders.CmEncoder] = {}

    def get(self, spec: EncoderSpec) -> encoders.CmEncoder:
        encoder = self._encoders.get(spec)
        if encoder is None:
            encoder = self._encoders[spec] = self._create(spec)
        return encoder

    def _create(self, spec: EncoderSpec) -> encoders.CmEncoder:
        common = dict(self._common, pretty=spec.pretty)
        if spec.endpoint == "market-quotes":
            return encoders.QuoteEncoder(include_one_sided=spec.include_one_sided, **common)
        if spec.endpoint == "asset-metrics":
            return encoders.MetricEncoder(metrics=spec.metrics, **common)
        return _ENCODERS[spec.endpoint](**common)

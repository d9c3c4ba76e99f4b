"""Kraken (WS v2), Coinbase (Advanced Trade), OKX (v5) and Bybit (v5) as ``VenueDef`` entries.

The feeds are ``kraken.py``, ``coinbase.py``, ``okx.py`` and ``bybit.py``; what is here is what
the runner needs besides: endpoints, the instrument list, how a spec names instruments,
connection limits. None of them sends its book snapshot over REST (``FetchSnapshot`` is unused).
Kraken, OKX and Bybit backfill lost trades from their REST recent trades (``rest_trades.py``);
Coinbase recovers them from its ``market_trades`` snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from tickcast.errors import ConfigError
from tickcast.sources.connectors import bybit, coinbase, kraken, okx, rest_trades
from tickcast.sources.connectors.protocol import Instrument, VenueFeed
from tickcast.sources.connectors.spec import FeedOptions, VenueDef


def select_symbols(
    venue: str,
    normalise: Callable[[str], str],
    listed: Sequence[Instrument],
    wanted: Sequence[str],
) -> list[Instrument]:
    """The instruments a spec names, compared after ``normalise`` (``all``: every listed one)."""
    if list(wanted) == ["all"]:
        return list(listed)
    by_symbol = {normalise(item.venue_symbol): item for item in listed}
    chosen: list[Instrument] = []
    for name in wanted:
        item = by_symbol.get(normalise(name))
        if item is None:
            raise ConfigError(f"config key 'sources': {venue} lists no instrument {name!r}")
        if item not in chosen:
            chosen.append(item)
    return chosen


def _kraken_symbol(name: str) -> str:
    return kraken.v2_symbol(name.upper().replace("-", "/"))


def _kraken_feed(items: Sequence[Instrument], options: FeedOptions) -> VenueFeed:
    return kraken.KrakenFeed(items, stale_after_ns=options.stale_ns)


def _coinbase_feed(items: Sequence[Instrument], options: FeedOptions) -> VenueFeed:
    return coinbase.CoinbaseFeed(items, stale_after_ns=options.stale_ns)


def _okx_feed(items: Sequence[Instrument], options: FeedOptions) -> VenueFeed:
    return okx.OkxFeed(items, stale_after_ns=options.stale_ns)


KRAKEN = VenueDef(
    name="kraken",
    ws_url=kraken.WS_URL,
    rest_url=kraken.REST_URL,
    info_path=kraken.INSTRUMENTS_PATH,
    parse_instruments=kraken.parse_asset_pairs,
    select=partial(select_symbols, "kraken", _kraken_symbol),
    feed=_kraken_feed,
    instruments_per_connection=100,
    weight_per_minute=60,  # public REST: about one call per second
    trades_path=rest_trades.kraken_trades_path,
    parse_trades=rest_trades.kraken_trades,
    stale_s=kraken.STALE_AFTER_NS / 1e9,
)
COINBASE = VenueDef(
    name="coinbase",
    ws_url=coinbase.WS_URL,
    rest_url=coinbase.REST_URL,
    info_path=coinbase.INSTRUMENTS_PATH,
    parse_instruments=coinbase.parse_products,
    select=partial(select_symbols, "coinbase", lambda name: name.upper().replace("/", "-")),
    feed=_coinbase_feed,
    instruments_per_connection=100,
    weight_per_minute=600,  # public REST: 10 requests per second
    stale_s=coinbase.STALE_AFTER_NS / 1e9,
)
OKX = VenueDef(
    name="okx",
    ws_url=okx.WS_URL,
    rest_url=okx.REST_URL,
    info_path=okx.instruments_path(okx.INSTRUMENT_TYPES[0]),
    more_info_paths=tuple(okx.instruments_path(kind) for kind in okx.INSTRUMENT_TYPES[1:]),
    parse_instruments=okx.parse_instruments,
    select=partial(select_symbols, "okx", str.upper),
    feed=_okx_feed,
    instruments_per_connection=100,  # 3 channels each: below OKX's 480 subscriptions per hour
    weight_per_minute=600,  # public instruments: 20 requests per 2 s; trades: 100 per 2 s
    trades_path=rest_trades.okx_trades_path,
    parse_trades=rest_trades.okx_trades,
    stale_s=okx.STALE_AFTER_NS / 1e9,
)


# Bybit v5: one endpoint per category, so one venue per category. ``bybit:`` is the linear
# (USDT/USDC-margined) perpetuals and futures, the market a bare ``BTCUSDT`` usually means;
# ``bybit-spot:`` and ``bybit-inverse:`` the others (docs/connectors.md, "Bybit").
BYBIT_SPEC_NAMES = {"linear": "bybit", "spot": "bybit-spot", "inverse": "bybit-inverse"}


def _bybit_symbol(category: str, name: str) -> str:
    name = name.upper()
    return name.replace("-", "").replace("/", "") if category == "spot" else name


def _bybit_page(category: str, body: bytes) -> str | None:
    cursor = bybit.parse_instruments(body)[1]
    return bybit.instruments_path(category, cursor) if cursor else None


def _bybit_feed(category: str, items: Sequence[Instrument], options: FeedOptions) -> VenueFeed:
    return bybit.BybitFeed(items, category=category, stale_after_ns=options.stale_ns)


def bybit_venue(category: str) -> VenueDef:
    return VenueDef(
        name=BYBIT_SPEC_NAMES[category],
        ws_url=bybit.ws_url(category),
        rest_url=bybit.REST_URL,
        info_path=bybit.instruments_path(category),
        next_info_path=partial(_bybit_page, category),
        parse_instruments=lambda body: bybit.parse_instruments(body)[0],
        select=partial(
            select_symbols, BYBIT_SPEC_NAMES[category], partial(_bybit_symbol, category)
        ),
        feed=partial(_bybit_feed, category),
        instruments_per_connection=100,  # 3 topics each; Bybit caps one connection's args
        weight_per_minute=600,  # public REST: 600 requests per 5 s per IP; stay far below
        trades_path=partial(rest_trades.bybit_trades_path, category),
        parse_trades=rest_trades.bybit_trades,
        trades_dense=False,
        stale_s=bybit.STALE_AFTER_NS / 1e9,
    )


BYBIT = tuple(bybit_venue(category) for category in ("linear", "spot", "inverse"))

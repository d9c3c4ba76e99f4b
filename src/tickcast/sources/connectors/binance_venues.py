"""The Binance spot, USD-M and COIN-M connectors as ``VenueDef`` entries of the registry."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from tickcast.sources.connectors.binance import BinanceFeed
from tickcast.sources.connectors.binance_info import (
    COINM,
    SPOT,
    USDM,
    BinanceVenue,
    instruments,
    recent_trades,
    select,
)
from tickcast.sources.connectors.protocol import Instrument, VenueFeed
from tickcast.sources.connectors.spec import FeedOptions, VenueDef

STREAMS_PER_INSTRUMENT = 3
"""trade, diff depth and bookTicker."""


def _feed(venue: BinanceVenue, items: Sequence[Instrument], options: FeedOptions) -> VenueFeed:
    return BinanceFeed(venue, items, stale_ns=options.stale_ns)


def binance_venue(venue: BinanceVenue) -> VenueDef:
    return VenueDef(
        name=venue.name,
        ws_url=venue.ws_url,
        rest_url=venue.rest_url,
        info_path=venue.info_path,
        parse_instruments=partial(instruments, venue),
        select=partial(select, venue),
        feed=partial(_feed, venue),
        instruments_per_connection=venue.streams_per_connection // STREAMS_PER_INSTRUMENT,
        weight_per_minute=venue.weight_per_minute,
        max_connection_s=venue.max_connection_s,
        trades_path=venue.trades_path,
        parse_trades=recent_trades,
        trades_weight=venue.trades_weight,
        sends_per_second=venue.sends_per_second,
    )


def binance_venues() -> tuple[VenueDef, ...]:
    return tuple(binance_venue(venue) for venue in (SPOT, USDM, COINM))

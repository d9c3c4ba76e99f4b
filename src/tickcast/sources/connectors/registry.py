"""Connector venues by spec name; a venue plugs in with one line in ``_VENUES``.

``build_connector("binance:btc-usdt,ws=ws://...")`` gives a ``ConnectorSource`` (not prepared:
the node awaits ``prepare`` before it needs ``markets()``).
"""

from __future__ import annotations

import asyncio
import random

from tickcast.clock import Clock
from tickcast.errors import ConfigError
from tickcast.sources.connectors.binance_venues import binance_venues
from tickcast.sources.connectors.runner import ConnectorSource, Sleep
from tickcast.sources.connectors.spec import VenueDef, parse_connector_spec
from tickcast.sources.connectors.venues import BYBIT, COINBASE, KRAKEN, OKX

_VENUES: tuple[VenueDef, ...] = (
    *binance_venues(),
    KRAKEN,
    COINBASE,
    OKX,
    *BYBIT,
)
VENUES: dict[str, VenueDef] = {venue.name: venue for venue in _VENUES}


def is_connector_spec(spec: str) -> bool:
    return spec.partition(":")[0].strip() in VENUES


def build_connector(
    spec: str,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    sleep: Sleep = asyncio.sleep,
) -> ConnectorSource:
    parsed = parse_connector_spec(spec)
    venue = VENUES.get(parsed.venue)
    if venue is None:
        raise ConfigError(f"config key 'sources': unknown connector {parsed.venue!r}")
    return ConnectorSource(parsed, venue, clock=clock, rng=rng, sleep=sleep)

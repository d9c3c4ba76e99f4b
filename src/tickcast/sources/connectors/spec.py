"""Connector source specs and venue definitions, sans-I/O.

``VENUE:SYM1,SYM2[,ws=URL][,rest=URL][,stale=S][,per_connection=N]`` (docs/connectors.md):
symbols in the venue's own spelling (or ``all``), then options. ``ws`` and ``rest`` override the
venue's production endpoints (the tests point them at a local fake venue); ``stale`` is the
silence in seconds after which a connection counts as dead; ``per_connection`` caps the
instruments carried by one WebSocket connection (below the venue's own limit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tickcast.errors import ConfigError
from tickcast.model.events import Trade
from tickcast.model.markets import Market
from tickcast.sources.connectors.protocol import Instrument, VenueFeed

OPTIONS = ("ws", "rest", "stale", "per_connection")


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    venue: str
    symbols: tuple[str, ...]
    ws: str | None = None
    rest: str | None = None
    stale_s: float | None = None
    per_connection: int | None = None


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """What a feed factory gets besides its instruments."""

    stale_ns: int


@dataclass(frozen=True, slots=True)
class VenueDef:
    """Everything the runner needs to know of a venue; the wire logic is in its ``VenueFeed``."""

    name: str
    ws_url: str
    rest_url: str
    info_path: str
    """REST path of the instrument list, read at start by ``parse_instruments``."""
    parse_instruments: Callable[[bytes], list[Instrument]]
    """One instrument-list answer; with ``more_info_paths`` each answer is parsed and the
    instruments are concatenated in path order."""
    select: Callable[[Sequence[Instrument], Sequence[str]], list[Instrument]]
    """The instruments a spec names (``all`` handled by the venue: some refuse it)."""
    feed: Callable[[Sequence[Instrument], FeedOptions], VenueFeed]
    instruments_per_connection: int
    weight_per_minute: int
    """REST weight budget per minute (snapshot and backfill requests share it)."""
    max_connection_s: float | None = None
    """Reconnect on our own schedule after this long (the venue closes older connections)."""
    trades_path: Callable[[str], str] | None = None
    """REST recent-trades path for a venue symbol, where the venue has one (trade backfill)."""
    parse_trades: Callable[[Market, bytes], list[Trade]] | None = None
    trades_weight: int = 1
    trades_dense: bool = True
    """Trade ids are consecutive integers (False: Bybit, placed by the REST answer's order)."""
    ws_url_for: Callable[[str, Sequence[Instrument]], str] | None = None
    """The URL of one connection when the venue names its streams in the URL."""
    stale_s: float = 10.0
    more_info_paths: tuple[str, ...] = ()
    """Further instrument-list paths (OKX lists spot, swaps and futures separately)."""
    sends_per_second: float | None = None
    """The venue's limit on messages a client sends per connection (the runner spaces Sends)."""
    next_info_path: Callable[[bytes], str | None] | None = None
    """A paged instrument list (Bybit): the path of the page after this answer (None: last)."""


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError(f"config key 'sources': bad value {spec!r} ({why})")


def parse_connector_spec(spec: str) -> ConnectorSpec:
    """``binance:btc-usdt,eth-usdt,ws=ws://127.0.0.1:9001`` -> ConnectorSpec."""
    venue, _, rest = spec.partition(":")
    symbols: list[str] = []
    values: dict[str, str] = {}
    for part in filter(None, (item.strip() for item in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            symbols.append(part)
        elif key.strip() in OPTIONS:
            values[key.strip()] = value.strip()
        else:
            raise _bad(spec, f"unknown option {key.strip()!r}; known: {', '.join(OPTIONS)}")
    if not symbols:
        raise _bad(spec, f"name the instruments: {venue}:SYMBOL[,SYMBOL...] or {venue}:all")
    try:
        stale = float(values["stale"]) if "stale" in values else None
        per = int(values["per_connection"]) if "per_connection" in values else None
    except ValueError:
        raise _bad(spec, "stale is seconds, per_connection a count") from None
    if (stale is not None and not stale > 0) or (per is not None and per < 1):
        raise _bad(spec, "stale and per_connection must be positive")
    return ConnectorSpec(
        venue=venue.strip(),
        symbols=tuple(symbols),
        ws=values.get("ws"),
        rest=values.get("rest"),
        stale_s=stale,
        per_connection=per,
    )

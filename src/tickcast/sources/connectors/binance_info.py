"""Binance spot, USD-M and COIN-M: endpoints, limits, instrument lists and recent trades, sans-I/O.

The three venues share one wire format (docs/connectors.md); what differs is kept in a
``BinanceVenue``. ``instruments`` reads the REST ``exchangeInfo`` answer into Coin Metrics markets
with the venue's real tick (``PRICE_FILTER.tickSize``) and lot (``LOT_SIZE.stepSize``). Decimals
are the finer of the tick/lot and the precision the venue prints (``pricePrecision``,
``quantityPrecision``, spot ``baseAssetPrecision``): book levels resting from before a lot-size
change carry finer quantities than today's lot (seen in the spot captures: ``25.42618900``).
``recent_trades`` reads the REST recent-trades answer used to backfill trades lost in a reconnect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from tickcast.errors import ConfigError
from tickcast.model.events import Side, Trade
from tickcast.model.markets import Market, MarketKind, future_market_id, spot_market_id
from tickcast.model.numbers import parse_fixed
from tickcast.sources.connectors.protocol import Instrument

EXCHANGE = "binance"
_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class BinanceVenue:
    """What differs between Binance's spot, USD-M and COIN-M public market-data APIs."""

    name: str
    """The source spec name: ``binance``, ``binance-usdm``, ``binance-coinm``."""
    futures: bool
    ws_url: str
    """Combined-stream endpoint (messages arrive as ``{"stream": ..., "data": ...}``)."""
    rest_url: str
    api: str
    """REST path prefix: ``/api/v3``, ``/fapi/v1``, ``/dapi/v1``."""
    depth_stream: str
    """Diff-depth stream suffix, e.g. ``depth@100ms``."""
    depth_limit: int
    depth_weight: int
    """Request weight of a ``depth`` snapshot of ``depth_limit`` levels."""
    weight_per_minute: int
    """The venue's REST request-weight budget per IP and minute."""
    streams_per_connection: int
    trades_weight: int = 25
    """Request weight of a recent-trades request (spot: 25; futures: 5)."""
    sends_per_second: float = 8.0
    """Binance: 5 (spot) or 10 (futures) incoming messages per second per connection, pings and
    pongs included; we stay below."""
    max_connection_s: float = 23.5 * 3600
    """Binance closes every connection after 24 h; reconnect on our own schedule before that."""

    @property
    def kind(self) -> MarketKind:
        return MarketKind.FUTURE if self.futures else MarketKind.SPOT

    def depth_path(self, symbol: str) -> str:
        return f"{self.api}/depth?symbol={symbol}&limit={self.depth_limit}"

    def trades_path(self, symbol: str) -> str:
        return f"{self.api}/trades?symbol={symbol}&limit=1000"

    @property
    def info_path(self) -> str:
        return f"{self.api}/exchangeInfo"


SPOT = BinanceVenue(
    name="binance",
    futures=False,
    ws_url="wss://stream.binance.com:9443/stream",
    rest_url="https://api.binance.com",
    api="/api/v3",
    depth_stream="depth@100ms",
    depth_limit=1000,
    depth_weight=50,
    weight_per_minute=6000,
    streams_per_connection=1024,
    sends_per_second=4.0,
)


def _futures(name: str, ws_url: str, rest_url: str, api: str) -> BinanceVenue:
    """A Binance futures venue (USD-M and COIN-M have the same limits)."""
    return BinanceVenue(
        name=name,
        futures=True,
        ws_url=ws_url,
        rest_url=rest_url,
        api=api,
        depth_stream="depth@100ms",
        depth_limit=1000,
        depth_weight=20,
        weight_per_minute=2400,
        streams_per_connection=200,
        trades_weight=5,
    )


USDM = _futures(
    "binance-usdm", "wss://fstream.binance.com/stream", "https://fapi.binance.com", "/fapi/v1"
)
COINM = _futures(
    "binance-coinm", "wss://dstream.binance.com/stream", "https://dapi.binance.com", "/dapi/v1"
)
VENUES = {venue.name: venue for venue in (SPOT, USDM, COINM)}


def decimals(text: str) -> int:
    """Decimals of a tick or step string: ``"0.01000000"`` -> 2, ``"1"`` -> 0."""
    return len(text.partition(".")[2].rstrip("0")) if "." in text else 0


def _filters(entry: dict[str, Any]) -> tuple[str, str]:
    tick = lot = "1"
    for item in entry.get("filters", ()):
        if item.get("filterType") == "PRICE_FILTER":
            tick = str(item["tickSize"])
        elif item.get("filterType") == "LOT_SIZE":
            lot = str(item["stepSize"])
    return tick, lot


def _market(venue: BinanceVenue, entry: dict[str, Any]) -> Market:
    symbol = str(entry["symbol"])
    base, quote = str(entry["baseAsset"]).lower(), str(entry["quoteAsset"]).lower()
    tick, lot = _filters(entry)
    price_decimals = max(decimals(tick), int(entry.get("pricePrecision", 0)))
    size_decimals = max(
        decimals(lot), int(entry.get("quantityPrecision", entry.get("baseAssetPrecision", 0)))
    )
    market_id = (
        future_market_id(EXCHANGE, symbol)
        if venue.futures
        else spot_market_id(EXCHANGE, base, quote)
    )
    return Market(
        id=market_id,
        exchange=EXCHANGE,
        kind=venue.kind,
        base=base,
        quote=quote,
        symbol=symbol,
        price_decimals=price_decimals,
        size_decimals=size_decimals,
        tick=parse_fixed(tick, price_decimals),
        lot=parse_fixed(lot, size_decimals),
    )


def _trading(entry: dict[str, Any]) -> bool:
    # spot and USD-M say "status"; COIN-M says "contractStatus"
    return entry.get("status", entry.get("contractStatus")) == "TRADING"


def instruments(venue: BinanceVenue, body: bytes) -> list[Instrument]:
    """Every trading instrument of an ``exchangeInfo`` answer, in the venue's order."""
    try:
        entries = orjson.loads(body)["symbols"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise ConfigError(f"{venue.name}: exchangeInfo is not the documented JSON") from None
    return [
        Instrument(str(entry["symbol"]), _market(venue, entry))
        for entry in entries
        if isinstance(entry, dict) and _trading(entry)
    ]


def venue_symbol(venue: BinanceVenue, requested: str) -> str:
    """``btc-usdt`` / ``BTC/USDT`` / ``btcusdt`` -> ``BTCUSDT``; futures symbols verbatim."""
    if venue.futures:
        return requested.upper()
    return requested.replace("-", "").replace("/", "").upper()


def select(
    venue: BinanceVenue, listed: Sequence[Instrument], wanted: Sequence[str]
) -> list[Instrument]:
    """The instruments named in a spec (``all``: every listed one); unknown names are an error."""
    if list(wanted) == ["all"]:
        return list(listed)
    by_symbol = {instrument.venue_symbol: instrument for instrument in listed}
    chosen: list[Instrument] = []
    for name in wanted:
        instrument = by_symbol.get(venue_symbol(venue, name))
        if instrument is None:
            raise ConfigError(f"config key 'sources': {venue.name} lists no instrument {name!r}")
        if instrument not in chosen:
            chosen.append(instrument)
    return chosen


def recent_trades(market: Market, body: bytes) -> list[Trade]:
    """A REST ``trades`` answer (oldest first) as trades with the stream's ids and sides."""
    p, s = market.price_decimals, market.size_decimals
    return [
        Trade(
            market=market.id,
            id=str(item["id"]),
            price=parse_fixed(item["price"], p),
            size=parse_fixed(item["qty"], s),
            side=Side.SELL if item["isBuyerMaker"] else Side.BUY,
            time_ns=int(item["time"]) * _MS,
        )
        for item in orjson.loads(body)
    ]

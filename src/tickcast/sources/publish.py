"""The publish API's batch format (docs/publish.md): JSON objects → normalised events.

Pure: validates a decoded JSON batch against the market catalogue and returns events or raises
``InvalidMessage`` naming the event index and field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tickcast.errors import InvalidMessage
from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Event,
    Level,
    Market,
    MarketCatalog,
    MarketKind,
    Quote,
    Side,
    Ticker,
    Trade,
    parse_fixed,
)
from tickcast.model.markets import parse_market_id

MAX_EVENTS = 1000
MAX_LEVELS = 5000
"""Book levels per side of one event."""
MAX_TEXT = 200
"""Characters of a string field (ids, party ids, metric names, assets)."""
MAX_FIXED = 2**63 - 1
"""Largest scaled integer of a price, size or value: a signed 64-bit integer, as every dialect
(and the Redis codec) can carry it."""
MAX_DECIMALS = 18
"""Most decimals of a ticker or metric number (markets have the same bound)."""
MIN_TIME_NS = 0
"""1970-01-01T00:00:00Z: the earliest event time."""
MAX_TIME_NS = 4_102_444_800 * 1_000_000_000
"""2100-01-01T00:00:00Z: event times must be before it."""


def _field(item: dict[str, Any], name: str, where: str) -> Any:
    if name not in item:
        raise InvalidMessage(f"{where}: missing field {name!r}")
    return item[name]


def _str(item: dict[str, Any], name: str, where: str) -> str:
    value = _field(item, name, where)
    if not isinstance(value, str) or not _is_text(value):
        raise InvalidMessage(
            f"{where}: {name!r} must be a string of 1 to {MAX_TEXT} printable characters"
        )
    return value


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT and value.isprintable()


def _fixed(item: dict[str, Any], name: str, decimals: int, where: str) -> int:
    value = _field(item, name, where)
    try:
        result = parse_fixed(value, decimals)
    except ValueError as error:
        raise InvalidMessage(f"{where}: {name!r}: {error}") from None
    if result < 0:
        raise InvalidMessage(f"{where}: {name!r} must not be negative")
    if result > MAX_FIXED:
        raise InvalidMessage(f"{where}: {name!r} is out of range (at most 2**63-1 units)")
    return result


def _decimals_of(item: dict[str, Any], name: str, where: str) -> int:
    text = item.get(name)
    if not isinstance(text, str):
        return 0
    decimals = len(text.partition(".")[2])
    if decimals > MAX_DECIMALS:
        raise InvalidMessage(f"{where}: {name!r} has more than {MAX_DECIMALS} decimals")
    return decimals


def _time(item: dict[str, Any], now_ns: int, where: str) -> int:
    value = item.get("time")
    if value is None:
        return now_ns
    parsed: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        parsed = value
    elif isinstance(value, float) and value.is_integer() and abs(value) >= 2**63:
        parsed = MAX_TIME_NS  # an integer too large for 64 bits, decoded as a float: too late
    elif isinstance(value, str):
        parsed = _rfc3339_ns(value)
    if parsed is None:
        raise InvalidMessage(f"{where}: 'time' must be RFC 3339 with a zone or integer nanoseconds")
    if not MIN_TIME_NS <= parsed < MAX_TIME_NS:
        raise InvalidMessage(
            f"{where}: 'time' must be from 1970-01-01T00:00:00Z to before 2100-01-01T00:00:00Z"
        )
    return parsed


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)


def _rfc3339_ns(text: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 time with up to 9 fractional digits."""
    match = _RFC3339.match(text)
    if match is None:
        return None
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    try:
        moment = datetime.fromisoformat(match.group(1) + zone)
    except ValueError:
        return None
    nanos = int((match.group(2) or "").ljust(9, "0"))
    return int(moment.timestamp()) * 1_000_000_000 + nanos


def _levels(item: dict[str, Any], name: str, market: Market, where: str) -> tuple[Level, ...]:
    raw = item.get(name, [])
    if not isinstance(raw, list) or len(raw) > MAX_LEVELS:
        raise InvalidMessage(
            f"{where}: {name!r} must be a list of at most {MAX_LEVELS} [price, size]"
        )
    levels = []
    for level in raw:
        if not isinstance(level, list) or len(level) != 2:
            raise InvalidMessage(f"{where}: {name!r} must be a list of [price, size]")
        pair = {"price": level[0], "size": level[1]}
        levels.append(
            (
                _fixed(pair, "price", market.price_decimals, where),
                _fixed(pair, "size", market.size_decimals, where),
            )
        )
    return tuple(levels)


def _market(item: dict[str, Any], catalog: MarketCatalog, where: str) -> Market:
    market_id = _str(item, "market", where)
    market = catalog.find(market_id)
    if market is None:
        raise InvalidMessage(f"{where}: unknown market {market_id!r} (declare it in 'markets')")
    return market


def _trade(item: dict[str, Any], catalog: MarketCatalog, now: int, where: str) -> Event:
    market = _market(item, catalog, where)
    side = item.get("side")
    if side not in ("buy", "sell"):
        raise InvalidMessage(f"{where}: 'side' must be 'buy' or 'sell'")
    buyer, seller = item.get("buyer"), item.get("seller")
    if not all(p is None or _is_text(p) for p in (buyer, seller)):
        raise InvalidMessage(
            f"{where}: 'buyer' and 'seller' must be strings of 1 to {MAX_TEXT} printable characters"
        )
    return Trade(
        market=market.id,
        id=_str(item, "id", where),
        price=_fixed(item, "price", market.price_decimals, where),
        size=_fixed(item, "size", market.size_decimals, where),
        side=Side(side),
        time_ns=_time(item, now, where),
        buyer=buyer,
        seller=seller,
    )


def _book(item: dict[str, Any], catalog: MarketCatalog, now: int, where: str) -> Event:
    market = _market(item, catalog, where)
    bids, asks = _levels(item, "bids", market, where), _levels(item, "asks", market, where)
    if item["type"] == "book_snapshot":
        ordered_bids = tuple(sorted(bids, reverse=True))
        return BookSnapshot(market.id, ordered_bids, tuple(sorted(asks)), _time(item, now, where))
    return BookDelta(market.id, bids, asks, _time(item, now, where))


def _quote(item: dict[str, Any], catalog: MarketCatalog, now: int, where: str) -> Event:
    market = _market(item, catalog, where)
    p, s = market.price_decimals, market.size_decimals
    return Quote(
        market=market.id,
        bid_price=_fixed(item, "bid_price", p, where),
        bid_size=_fixed(item, "bid_size", s, where),
        ask_price=_fixed(item, "ask_price", p, where),
        ask_size=_fixed(item, "ask_size", s, where),
        time_ns=_time(item, now, where),
    )


def _asset(item: dict[str, Any], where: str) -> str:
    asset = _str(item, "asset", where).lower()
    if not (asset.isascii() and asset.isalnum()):
        raise InvalidMessage(f"{where}: 'asset' must be an asset code like 'btc'")
    return asset


def _ticker(item: dict[str, Any], catalog: MarketCatalog, now: int, where: str) -> Event:
    decimals = _decimals_of(item, "price", where)
    volume_decimals = _decimals_of(item, "volume_24h", where)
    price = _fixed(item, "price", decimals, where)
    return Ticker(
        asset=_asset(item, where),
        decimals=decimals,
        price=price,
        open_24h=_fixed(item, "open_24h", decimals, where) if "open_24h" in item else price,
        high_24h=_fixed(item, "high_24h", decimals, where) if "high_24h" in item else price,
        low_24h=_fixed(item, "low_24h", decimals, where) if "low_24h" in item else price,
        volume_24h=_fixed(item, "volume_24h", volume_decimals, where),
        volume_decimals=volume_decimals,
        time_ns=_time(item, now, where),
    )


def _metric(item: dict[str, Any], catalog: MarketCatalog, now: int, where: str) -> Event:
    decimals = _decimals_of(item, "value", where)
    return AssetMetric(
        asset=_asset(item, where),
        metric=_str(item, "metric", where),
        value=_fixed(item, "value", decimals, where),
        decimals=decimals,
        time_ns=_time(item, now, where),
    )


_PARSERS: dict[str, Callable[[dict[str, Any], MarketCatalog, int, str], Event]] = {
    "trade": _trade,
    "book_snapshot": _book,
    "book_delta": _book,
    "quote": _quote,
    "ticker": _ticker,
    "metric": _metric,
}


def _small_int(item: dict[str, Any], name: str, where: str) -> int:
    value = item.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 18:
        raise InvalidMessage(f"{where}: {name!r} must be an integer from 0 to 18")
    return value


def parse_markets(raw: Any) -> list[Market]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > 1000:
        raise InvalidMessage("'markets' must be a list of market definitions")
    markets = []
    for index, item in enumerate(raw):
        where = f"markets[{index}]"
        if not isinstance(item, dict):
            raise InvalidMessage(f"{where}: must be an object")
        market_id = _str(item, "id", where)
        try:
            exchange, kind, rest = parse_market_id(market_id)
        except ValueError as error:
            raise InvalidMessage(f"{where}: {error}") from None
        price_decimals = _small_int(item, "price_decimals", where)
        size_decimals = _small_int(item, "size_decimals", where)
        base, _, quote = rest.partition("-") if kind is MarketKind.SPOT else (rest, "", "")
        markets.append(
            Market(
                market_id, exchange, kind, base.lower(), quote, rest, price_decimals, size_decimals
            )
        )
    return markets


def parse_batch(
    body: Any, catalog: MarketCatalog, *, now_ns: int
) -> tuple[list[Market], list[Event]]:
    """Validate a publish batch: new markets and the events, in order."""
    if not isinstance(body, dict):
        raise InvalidMessage("body must be a JSON object with 'events'")
    markets = parse_markets(body.get("markets"))
    scratch = MarketCatalog(catalog)
    for market in markets:
        known = scratch.find(market.id)
        if known is not None and (known.price_decimals, known.size_decimals) != (
            market.price_decimals,
            market.size_decimals,
        ):
            raise InvalidMessage(f"market {market.id!r} exists with other decimals")
        scratch.add(market)
    raw = body.get("events")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_EVENTS:
        raise InvalidMessage(f"'events' must be a list of 1 to {MAX_EVENTS} events")
    events = []
    for index, item in enumerate(raw):
        where = f"events[{index}]"
        if not isinstance(item, dict) or item.get("type") not in _PARSERS:
            names = ", ".join(_PARSERS)
            raise InvalidMessage(f"{where}: 'type' must be one of {names}")
        events.append(_PARSERS[item["type"]](item, scratch, now_ns, where))
    return markets, events

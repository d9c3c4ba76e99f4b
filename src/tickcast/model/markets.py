"""Markets in Coin Metrics naming and the catalogue that knows their decimals.

Spot: ``<exchange>-<base>-<quote>-spot`` (lower case). Futures and options:
``<exchange>-<SYMBOL>-future`` / ``-option`` (symbol verbatim).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from tickcast.errors import UnknownStream


class MarketKind(StrEnum):
    SPOT = "spot"
    FUTURE = "future"
    OPTION = "option"


_SPOT = re.compile(r"^([a-z0-9_]+)-([a-z0-9_]+)-([a-z0-9_]+)-spot$")
_DERIVATIVE = re.compile(r"^([a-z0-9_]+)-([A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*)-(future|option)$")


@dataclass(frozen=True, slots=True)
class Market:
    """One tradable market and its number formats.

    ``tick`` and ``lot`` are in scaled units (``price_decimals`` / ``size_decimals``).
    """

    id: str
    exchange: str
    kind: MarketKind
    base: str
    quote: str
    symbol: str
    price_decimals: int
    size_decimals: int
    tick: int = 1
    lot: int = 1


def spot_market_id(exchange: str, base: str, quote: str) -> str:
    return f"{exchange}-{base}-{quote}-spot".lower()


def future_market_id(exchange: str, symbol: str) -> str:
    return f"{exchange.lower()}-{symbol}-future"


def parse_market_id(text: str) -> tuple[str, MarketKind, str]:
    """Split a market id into (exchange, kind, rest); rest is ``base-quote`` or the symbol."""
    match = _SPOT.match(text)
    if match:
        return match.group(1), MarketKind.SPOT, f"{match.group(2)}-{match.group(3)}"
    match = _DERIVATIVE.match(text)
    if match:
        return match.group(1), MarketKind(match.group(3)), match.group(2)
    raise ValueError(f"not a market id: {text!r}")


def is_market_id(text: str) -> bool:
    try:
        parse_market_id(text)
    except ValueError:
        return False
    return True


class MarketCatalog:
    """The markets a node knows, by id. Encoders read decimals from here."""

    def __init__(self, markets: Iterable[Market] = ()) -> None:
        self._markets: dict[str, Market] = {}
        for market in markets:
            self.add(market)

    def add(self, market: Market) -> None:
        parse_market_id(market.id)
        self._markets[market.id] = market

    def get(self, market_id: str) -> Market:
        try:
            return self._markets[market_id]
        except KeyError:
            raise UnknownStream(f"unknown market {market_id!r}") from None

    def find(self, market_id: str) -> Market | None:
        return self._markets.get(market_id)

    def __contains__(self, market_id: object) -> bool:
        return market_id in self._markets

    def __iter__(self) -> Iterator[Market]:
        return iter(self._markets.values())

    def __len__(self) -> int:
        return len(self._markets)

    def assets(self) -> list[str]:
        """Base assets of every market, sorted."""
        return sorted({market.base for market in self._markets.values()})

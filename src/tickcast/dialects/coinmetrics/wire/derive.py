"""Quantities the simulator does not publish, derived from what it does (documented model).

* Index levels: index ``CMBI<ASSET>`` is the asset's ``ReferenceRateUSD`` metric.
* Pair quotes (``btc-usd``): the best bid and best ask over every spot market of that pair
  (each with its own size); asset quotes (``btc``): the same over every spot market of the
  asset quoted in ``usd`` or ``usdt`` (USDT counted at par). Mid is (bid + ask) / 2 and spread
  is (ask - bid) / mid.
* Open interest of a perpetual: the sum of the long open volumes of every party's position
  (equal to the sum of the shorts), valued at the position's mark price.
* Liquidations: a deterministic 5 % of perpetual trades (trade id ≡ 7 mod 20) are reported as
  liquidation fills, with the trade's side, price and amount.
* Contract prices: mark = mid of the perpetual's top of book, index and estimated settlement =
  the base asset's ``ReferenceRateUSD``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from tickcast.model import AssetMetric, Market, MarketCatalog, Position, Quote, Trade
from tickcast.model.markets import MarketKind
from tickcast.model.numbers import to_decimal

INDEX_PREFIX = "CMBI"
INDEX_METRIC = "ReferenceRateUSD"
USD_QUOTES = ("usd", "usdt")
LIQUIDATION_MODULUS = 20
LIQUIDATION_REMAINDER = 7


class MarketState(Protocol):
    """Read access to the current state the server keeps (its StateKeeper)."""

    def quote(self, market: str) -> Quote | None: ...

    def metric(self, asset: str, metric: str) -> AssetMetric | None: ...

    def positions(self, market: str) -> Sequence[Position]: ...


def index_name(asset: str) -> str:
    return f"{INDEX_PREFIX}{asset.upper()}"


def index_asset(index: str) -> str | None:
    """``CMBIBTC`` → ``btc``; None if not an index name."""
    if not index.startswith(INDEX_PREFIX) or len(index) <= len(INDEX_PREFIX):
        return None
    return index[len(INDEX_PREFIX) :].lower()


def pair_of(market: Market) -> str:
    return f"{market.base}-{market.quote}"


def pair_markets(catalog: MarketCatalog) -> dict[str, list[str]]:
    """Pair (``btc-usd``) → its spot markets."""
    pairs: dict[str, list[str]] = {}
    for market in catalog:
        if market.kind is MarketKind.SPOT:
            pairs.setdefault(pair_of(market), []).append(market.id)
    return pairs


def asset_quote_markets(catalog: MarketCatalog) -> dict[str, list[str]]:
    """Asset (``btc``) → its spot markets quoted in USD or USDT."""
    assets: dict[str, list[str]] = {}
    for market in catalog:
        if market.kind is MarketKind.SPOT and market.quote in USD_QUOTES:
            assets.setdefault(market.base, []).append(market.id)
    return assets


def perpetuals(catalog: MarketCatalog) -> list[str]:
    return sorted(m.id for m in catalog if m.kind is MarketKind.FUTURE)


def is_liquidation(trade: Trade) -> bool:
    return trade.id.isdigit() and int(trade.id) % LIQUIDATION_MODULUS == LIQUIDATION_REMAINDER


@dataclass(frozen=True, slots=True)
class Aggregate:
    """An aggregated top of book."""

    bid_price: Decimal
    bid_size: Decimal
    ask_price: Decimal
    ask_size: Decimal
    time_ns: int

    @property
    def mid(self) -> Decimal:
        return (self.bid_price + self.ask_price) / 2

    @property
    def spread(self) -> Decimal:
        mid = self.mid
        return (self.ask_price - self.bid_price) / mid if mid else Decimal(0)


def aggregate(
    catalog: MarketCatalog, state: MarketState, markets: Iterable[str]
) -> Aggregate | None:
    """Best bid and best ask over ``markets``' current quotes; None without a two-sided book."""
    best_bid: tuple[Decimal, Decimal] | None = None
    best_ask: tuple[Decimal, Decimal] | None = None
    time_ns = 0
    for market_id in markets:
        quote = state.quote(market_id)
        market = catalog.find(market_id)
        if quote is None or market is None:
            continue
        time_ns = max(time_ns, quote.time_ns)
        pd, sd = market.price_decimals, market.size_decimals
        if quote.bid_size > 0:
            bid = (to_decimal(quote.bid_price, pd), to_decimal(quote.bid_size, sd))
            if best_bid is None or bid[0] > best_bid[0]:
                best_bid = bid
        if quote.ask_size > 0:
            ask = (to_decimal(quote.ask_price, pd), to_decimal(quote.ask_size, sd))
            if best_ask is None or ask[0] < best_ask[0]:
                best_ask = ask
    if best_bid is None or best_ask is None:
        return None
    return Aggregate(best_bid[0], best_bid[1], best_ask[0], best_ask[1], time_ns)


def open_interest(positions: Iterable[Position]) -> tuple[int, int]:
    """(long open volume in size units, mark price of the latest position) over all parties."""
    total = 0
    mark = 0
    latest = -1
    for position in positions:
        if position.open_volume > 0:
            total += position.open_volume
        if position.time_ns > latest and position.mark_price:
            latest, mark = position.time_ns, position.mark_price
    return total, mark

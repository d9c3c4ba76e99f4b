"""The simulator's default universe: 20 assets, three spot venues and Binance perpetuals.

Prices and sizes follow the venues' usual precision. Every asset is quoted on ``binance``
(against ``usdt``), ``coinbase`` and ``kraken`` (against ``usd``); the largest assets also have
a Binance USDT-margined perpetual future (``binance-BTCUSDT-future``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tickcast.model.markets import Market, MarketKind, future_market_id, spot_market_id
from tickcast.model.numbers import parse_fixed


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """One simulated asset: its starting USD price, volatility and number formats.

    ``tick`` and ``lot`` are in scaled units of ``price_decimals`` / ``size_decimals``.
    ``activity`` weighs how often the simulator trades the asset's markets.
    """

    code: str
    price: str
    """Starting USD price as a decimal string (exact)."""
    volatility: float
    """Annualised volatility of the fair price (0.6 = 60 %)."""
    price_decimals: int
    size_decimals: int
    tick: int = 1
    lot: int = 1
    activity: float = 1.0
    perpetual: bool = False
    """Whether Binance lists a USDT perpetual future for it."""

    @property
    def scaled_price(self) -> int:
        """The starting price as a scaled integer."""
        return parse_fixed(self.price, self.price_decimals)

    @property
    def price_usd(self) -> float:
        """The starting price as a float, for the price process."""
        return float(self.price)


ASSETS: list[AssetSpec] = [
    AssetSpec("btc", "87250.00", 0.60, 2, 5, activity=10.0, perpetual=True),
    AssetSpec("eth", "3100.00", 0.75, 2, 4, activity=6.0, perpetual=True),
    AssetSpec("ltc", "85.00", 0.85, 2, 3, activity=1.0),
    AssetSpec("xrp", "2.2000", 0.95, 4, 1, activity=3.0, perpetual=True),
    AssetSpec("bch", "480.00", 0.85, 2, 3, activity=1.0),
    AssetSpec("ada", "0.4500", 1.00, 4, 1, activity=1.5),
    AssetSpec("dot", "2.900", 1.00, 3, 2, activity=1.0),
    AssetSpec("link", "13.500", 0.95, 3, 2, activity=1.2),
    AssetSpec("bnb", "880.00", 0.65, 2, 3, activity=2.0, perpetual=True),
    AssetSpec("doge", "0.16000", 1.10, 5, 0, activity=2.5, perpetual=True),
    AssetSpec("uni", "6.500", 1.00, 3, 2, activity=0.8),
    AssetSpec("sol", "140.00", 0.90, 2, 3, activity=4.0, perpetual=True),
    AssetSpec("matic", "0.2200", 1.05, 4, 1, activity=0.8),
    AssetSpec("avax", "14.000", 1.00, 3, 2, activity=1.0),
    AssetSpec("atom", "2.600", 0.95, 3, 2, activity=0.8),
    AssetSpec("xlm", "0.25000", 0.95, 5, 0, activity=0.8),
    AssetSpec("algo", "0.14000", 1.00, 5, 0, activity=0.6),
    AssetSpec("vet", "0.030000", 1.05, 6, 0, activity=0.6),
    AssetSpec("icp", "4.200", 1.05, 3, 2, activity=0.6),
    AssetSpec("fil", "1.700", 1.05, 3, 2, activity=0.6),
]

ASSET_BY_CODE: dict[str, AssetSpec] = {spec.code: spec for spec in ASSETS}

VENUES: dict[str, str] = {"binance": "usdt", "coinbase": "usd", "kraken": "usd"}
"""Simulated spot venues and their quote currency."""

PERPETUAL_VENUE = "binance"


def _spot_symbol(venue: str, base: str, quote: str) -> str:
    """The venue's own spelling of a spot pair."""
    if venue == "coinbase":
        return f"{base}-{quote}".upper()
    if venue == "kraken":
        return f"{base}/{quote}".upper()
    return f"{base}{quote}".upper()


def spot_market(spec: AssetSpec, venue: str) -> Market:
    """The spot market of an asset on a venue."""
    quote = VENUES[venue]
    return Market(
        id=spot_market_id(venue, spec.code, quote),
        exchange=venue,
        kind=MarketKind.SPOT,
        base=spec.code,
        quote=quote,
        symbol=_spot_symbol(venue, spec.code, quote),
        price_decimals=spec.price_decimals,
        size_decimals=spec.size_decimals,
        tick=spec.tick,
        lot=spec.lot,
    )


def perpetual_market(spec: AssetSpec) -> Market:
    """The Binance USDT perpetual of an asset; ticks are ten times coarser than spot."""
    symbol = f"{spec.code}usdt".upper()
    return Market(
        id=future_market_id(PERPETUAL_VENUE, symbol),
        exchange=PERPETUAL_VENUE,
        kind=MarketKind.FUTURE,
        base=spec.code,
        quote="usdt",
        symbol=symbol,
        price_decimals=spec.price_decimals,
        size_decimals=spec.size_decimals,
        tick=spec.tick * 10,
        lot=spec.lot,
    )


def default_markets(
    assets: Iterable[str] | None = None,
    venues: Iterable[str] | None = None,
    *,
    futures: bool = True,
) -> list[Market]:
    """The default markets, optionally restricted to some assets and venues.

    Asset codes and venue names are case-insensitive; unknown ones raise ``ValueError``.
    Perpetuals are included when ``futures`` is true and ``binance`` is among the venues.
    """
    specs = select_assets(assets)
    venue_names = _select_venues(venues)
    markets: list[Market] = []
    for spec in specs:
        markets.extend(spot_market(spec, venue) for venue in venue_names)
        if futures and spec.perpetual and PERPETUAL_VENUE in venue_names:
            markets.append(perpetual_market(spec))
    return markets


def select_assets(assets: Iterable[str] | None = None) -> list[AssetSpec]:
    """The specs of the named assets (all when ``None``), in universe order."""
    if assets is None:
        return list(ASSETS)
    wanted = {code.lower() for code in assets}
    unknown = wanted - ASSET_BY_CODE.keys()
    if unknown:
        raise ValueError(f"unknown assets: {', '.join(sorted(unknown))}")
    return [spec for spec in ASSETS if spec.code in wanted]


def _select_venues(venues: Iterable[str] | None) -> list[str]:
    """Validated venue names in canonical order."""
    if venues is None:
        return list(VENUES)
    wanted = {venue.lower() for venue in venues}
    unknown = wanted - VENUES.keys()
    if unknown:
        raise ValueError(f"unknown venues: {', '.join(sorted(unknown))}")
    return [venue for venue in VENUES if venue in wanted]


def asset_spec(code: str) -> AssetSpec | None:
    """The spec of an asset code, or None when it is not in the universe."""
    return ASSET_BY_CODE.get(code.lower())

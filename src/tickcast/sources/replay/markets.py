"""Exchange symbols to Coin Metrics market ids, and the number formats of replayed markets.

Spot markets are ``<exchange>-<base>-<quote>-spot`` in lower case (``binance-btc-usdt-spot``);
futures keep the venue's symbol verbatim (``binance-BTCUSDT-future``,
``binance-BTCUSD_PERP-future``). Decimals come from the venue's documented tick and step sizes
where this module knows them, widened to whatever the recorded data actually uses (see
``DecimalsScan``), so every recorded price and size is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickcast.errors import ConfigError
from tickcast.model.markets import Market, MarketKind, future_market_id, spot_market_id
from tickcast.model.numbers import parse_fixed

QUOTE_ASSETS = (
    "usdt", "fdusd", "usdc", "busd", "tusd", "dai", "usd", "eur", "gbp", "try", "brl", "jpy",
    "btc", "eth", "bnb",
)  # fmt: skip
"""Quote currencies recognised at the end of a concatenated spot symbol (``BTCUSDT``)."""


@dataclass(frozen=True, slots=True)
class Precision:
    """Documented tick and lot of a market as decimal strings (``"0.01"``)."""

    tick: str
    lot: str

    @property
    def price_decimals(self) -> int:
        return _decimals(self.tick)

    @property
    def size_decimals(self) -> int:
        return _decimals(self.lot)


KNOWN: dict[str, Precision] = {
    # Binance exchangeInfo filters (PRICE_FILTER tickSize, LOT_SIZE stepSize), August 2024
    "binance-btc-usdt-spot": Precision("0.01", "0.00001"),
    "binance-eth-usdt-spot": Precision("0.01", "0.0001"),
    "binance-BTCUSDT-future": Precision("0.10", "0.001"),
    "binance-ETHUSDT-future": Precision("0.01", "0.001"),
    "binance-BTCUSD_PERP-future": Precision("0.1", "1"),
    "binance-ETHUSD_PERP-future": Precision("0.01", "1"),
}


def _decimals(text: str) -> int:
    return len(text.partition(".")[2].rstrip("0")) if "." in text else 0


def split_spot_symbol(symbol: str) -> tuple[str, str]:
    """``BTCUSDT`` -> (``btc``, ``usdt``); ``BTC-USD`` and ``BTC/USD`` split on the separator."""
    text = symbol.lower()
    for separator in ("-", "/", "_"):
        if separator in text:
            base, _, quote = text.partition(separator)
            return base, quote
    for quote in QUOTE_ASSETS:
        if text.endswith(quote) and len(text) > len(quote):
            return text[: -len(quote)], quote
    raise ConfigError(f"cannot split spot symbol {symbol!r} into base and quote assets")


def future_base_quote(symbol: str) -> tuple[str, str]:
    """Best-effort base and quote of a derivative symbol (``BTCUSDT``, ``BTCUSD_PERP``)."""
    head = symbol.split("_")[0].split("-")[0]
    try:
        return split_spot_symbol(head)
    except ConfigError:
        return head.lower(), ""


def market_for(
    exchange: str, symbol: str, kind: MarketKind, *, price_decimals: int, size_decimals: int
) -> Market:
    """The catalogue entry of a replayed market: known precision widened to the data's."""
    if kind is MarketKind.SPOT:
        base, quote = split_spot_symbol(symbol)
        market_id = spot_market_id(exchange, base, quote)
    else:
        base, quote = future_base_quote(symbol)
        market_id = future_market_id(exchange, symbol)
        if kind is MarketKind.OPTION:
            market_id = f"{exchange.lower()}-{symbol}-option"
    known = KNOWN.get(market_id)
    tick = lot = 1
    if known is not None:
        price_decimals = max(price_decimals, known.price_decimals)
        size_decimals = max(size_decimals, known.size_decimals)
        tick = parse_fixed(known.tick, price_decimals)
        lot = parse_fixed(known.lot, size_decimals)
    return Market(
        id=market_id,
        exchange=exchange,
        kind=kind,
        base=base,
        quote=quote,
        symbol=symbol,
        price_decimals=price_decimals,
        size_decimals=size_decimals,
        tick=tick,
        lot=lot,
    )


class DecimalsScan:
    """Finest number of decimals seen per market in recorded price and size strings."""

    def __init__(self) -> None:
        self.price: dict[str, int] = {}
        self.size: dict[str, int] = {}

    def prices(self, key: str, *texts: str) -> None:
        self.price[key] = max(self.price.get(key, 0), *(_decimals(t) for t in texts))

    def sizes(self, key: str, *texts: str) -> None:
        self.size[key] = max(self.size.get(key, 0), *(_decimals(t) for t in texts))

    def levels(self, key: str, levels: list[list[str]]) -> None:
        for price, size in levels:
            self.prices(key, price)
            self.sizes(key, size)

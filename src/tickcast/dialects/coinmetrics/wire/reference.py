"""Reference data rows (``/v4/reference-data/*``) from the market catalogue, and catalogue
filters shared by ``/v4/catalog-v2/*`` and ``/v4/catalog-all-v2/*``."""

from __future__ import annotations

from typing import Any

from tickcast.dialects.coinmetrics.wire import query
from tickcast.dialects.coinmetrics.wire.values import number
from tickcast.model import Market, MarketCatalog, MarketKind

ASSET_NAMES: dict[str, str] = {
    "btc": "Bitcoin", "eth": "Ethereum", "ltc": "Litecoin", "xrp": "XRP", "bch": "Bitcoin Cash",
    "ada": "Cardano", "dot": "Polkadot", "link": "Chainlink", "bnb": "BNB", "doge": "Dogecoin",
    "uni": "Uniswap", "sol": "Solana", "matic": "Polygon", "avax": "Avalanche",
    "atom": "Cosmos", "xlm": "Stellar", "algo": "Algorand", "vet": "VeChain",
    "icp": "Internet Computer", "fil": "Filecoin", "usd": "US Dollar", "usdt": "Tether",
}  # fmt: skip
EXCHANGE_NAMES: dict[str, str] = {"binance": "Binance", "coinbase": "Coinbase", "kraken": "Kraken"}

MARKET_FILTERS = ("markets", "exchange", "type", "base", "quote", "asset", "symbol")


def market_row(market: Market) -> dict[str, Any]:
    tick = number(market.tick, market.price_decimals)
    lot = number(market.lot, market.size_decimals)
    row: dict[str, Any] = {
        "market": market.id,
        "exchange": market.exchange,
        "base": market.base,
        "quote": market.quote,
        "pair": f"{market.base}-{market.quote}",
        "symbol": market.symbol,
        "type": market.kind.value,
        "price_increment": tick,
        "amount_increment": lot,
    }
    if market.kind is MarketKind.FUTURE:
        row.update(
            {
                "size_asset": market.base,
                "margin_asset": market.quote,
                "contract_size": "1",
                "tick_size": tick,
                "is_perpetual": "true",
            }
        )
    return row


def filter_markets(catalog: MarketCatalog, params: query.Query) -> list[Market]:
    """Markets matching ``markets`` (names or patterns) and the exchange/type/asset filters."""
    markets = sorted(catalog, key=lambda m: m.id)
    wanted = query.optional_list(params, "markets")
    if wanted:
        ids = set(query.expand("markets", "Market", wanted, [m.id for m in markets]))
        markets = [m for m in markets if m.id in ids]
    kind = query.choice(params, "type", ("spot", "future", "option", "event_contract"), "")
    exchange = query.text(params, "exchange")
    base, quote = query.text(params, "base"), query.text(params, "quote")
    asset, symbol = query.text(params, "asset"), query.text(params, "symbol")
    return [
        m
        for m in markets
        if (not kind or m.kind.value == kind)
        and (exchange is None or m.exchange == exchange)
        and (base is None or m.base == base)
        and (quote is None or m.quote == quote)
        and (asset is None or asset in (m.base, m.quote))
        and (symbol is None or m.symbol == symbol)
    ]


def assets_of(catalog: MarketCatalog) -> list[str]:
    return sorted({m.base for m in catalog} | {m.quote for m in catalog})


def asset_row(asset: str) -> dict[str, Any]:
    return {"asset": asset, "full_name": ASSET_NAMES.get(asset, asset.upper())}


def exchange_row(exchange: str, catalog: MarketCatalog) -> dict[str, Any]:
    markets = sum(1 for m in catalog if m.exchange == exchange)
    return {
        "exchange": exchange,
        "full_name": EXCHANGE_NAMES.get(exchange, exchange.title()),
        "markets_count": str(markets),
    }


def index_row(index: str, asset: str) -> dict[str, Any]:
    name = ASSET_NAMES.get(asset, asset.upper())
    return {
        "index": index,
        "full_name": f"tickcast {name} reference index",
        "description": f"The {asset} ReferenceRateUSD of the tickcast simulator, once a second.",
        "type": "single_asset",
    }


def pair_row(pair: str) -> dict[str, Any]:
    base, _, quote = pair.partition("-")
    names = (ASSET_NAMES.get(base, base.upper()), ASSET_NAMES.get(quote, quote.upper()))
    return {"pair": pair, "full_name": f"{names[0]} / {names[1]}"}

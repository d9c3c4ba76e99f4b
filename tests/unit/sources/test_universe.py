"""The default simulated universe."""

from __future__ import annotations

import pytest

from tickcast.model.markets import MarketKind, parse_market_id
from tickcast.sources.universe import ASSETS, asset_spec, default_markets, select_assets


def test_universe_has_twenty_assets() -> None:
    """The universe lists the 20 expected assets once each."""
    codes = [spec.code for spec in ASSETS]
    assert (
        codes
        == (
            "btc eth ltc xrp bch ada dot link bnb doge uni sol matic avax atom xlm algo vet icp fil"
        ).split()
    )


def test_universe_market_ids() -> None:
    """Spot ids follow the Coin Metrics naming and perpetuals use the venue symbol."""
    ids = {market.id for market in default_markets()}
    for expected in (
        "binance-btc-usdt-spot",
        "coinbase-btc-usd-spot",
        "kraken-eth-usd-spot",
        "binance-BTCUSDT-future",
        "binance-DOGEUSDT-future",
    ):
        assert expected in ids
    assert len(ids) == 20 * 3 + 6
    for market in default_markets():
        parse_market_id(market.id)


def test_universe_future_markets_fields() -> None:
    """Perpetuals are FUTURE markets on binance with the venue symbol."""
    futures = [m for m in default_markets() if m.kind is MarketKind.FUTURE]
    assert sorted(m.base for m in futures) == ["bnb", "btc", "doge", "eth", "sol", "xrp"]
    btc = next(m for m in futures if m.base == "btc")
    assert (btc.exchange, btc.symbol, btc.quote) == ("binance", "BTCUSDT", "usdt")


def test_universe_prices_are_on_tick() -> None:
    """Starting prices are positive and on each asset's tick; decimals are plausible."""
    for spec in ASSETS:
        assert spec.scaled_price > 0
        assert spec.scaled_price % spec.tick == 0
        assert spec.scaled_price // spec.tick >= 1000, spec.code
    btc = asset_spec("BTC")
    assert btc is not None
    assert (btc.price_decimals, btc.size_decimals, btc.tick) == (2, 5, 1)
    doge = asset_spec("doge")
    assert doge is not None and doge.price_decimals == 5


def test_universe_filter_by_assets_and_venues() -> None:
    """default_markets restricts to the given assets and venues."""
    markets = default_markets(assets=["BTC", "sol"], venues=["kraken"])
    assert [m.id for m in markets] == ["kraken-btc-usd-spot", "kraken-sol-usd-spot"]
    with_futures = default_markets(assets=["eth"], venues=["binance"])
    assert [m.id for m in with_futures] == ["binance-eth-usdt-spot", "binance-ETHUSDT-future"]
    assert default_markets(assets=["eth"], futures=False)[-1].kind is MarketKind.SPOT


def test_universe_rejects_unknown_names() -> None:
    """Unknown assets and venues raise ValueError."""
    with pytest.raises(ValueError, match="unknown assets"):
        select_assets(["nope"])
    with pytest.raises(ValueError, match="unknown venues"):
        default_markets(venues=["ftx"])

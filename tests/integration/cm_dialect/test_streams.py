"""Every ``get_stream_*`` method of the official client against tickcast (one client process)."""

from __future__ import annotations

from decimal import Decimal

from tickcast.model import Candle, Side, Trade

from .helpers import assert_sequence, assert_strings, run_streams, wait_for

BTC_PERP = "binance-BTCUSDT-future"
ETH_PERP = "binance-ETHUSDT-future"
COINBASE_BTC = "coinbase-btc-usd-spot"
CANDLE_START = 1_767_225_600_000_000_000


async def test_every_stream_method_through_the_official_client(start_server) -> None:
    server = await start_server()
    node = server.node
    key = await server.key("pro")
    keeper = node.keeper

    def ready() -> bool:
        metrics = keeper.snapshot("metrics:btc")
        return (
            keeper.snapshot(f"quotes:{BTC_PERP}") is not None
            and keeper.snapshot(f"positions:{BTC_PERP}") is not None
            and metrics is not None
            and len(metrics.events) == 2
        )

    await wait_for(ready, timeout=30)
    # A closed candle and a liquidation fill (ids ≡ 7 mod 20) in history, for the backfills.
    price = 8_725_000
    # 1d: the simulator closes no day candle during the test (a 1m one could close meanwhile)
    candle = Candle(COINBASE_BTC, "1d", CANDLE_START, price, price + 500, price - 500, price + 100,
                    150_000, 13_087_650, 7, CANDLE_START + 60_000_000_000)  # fmt: skip
    liquidation = Trade(ETH_PERP, "1000007", 310_000, 2_500, Side.SELL, node.clock.time_ns())
    await node.publish([candle, liquidation])

    calls = [
        # The vendor's documented example: order books until cm_sequence_id 10.
        {"method": "get_stream_market_orderbooks",
         "kwargs": {"markets": ["binance-btc-usdt-spot"]}, "until_seq": "10"},
        {"method": "get_stream_market_trades", "kwargs": {"markets": "binance-*-spot"}, "count": 3},
        {"method": "get_stream_market_orderbooks",
         "kwargs": {"markets": COINBASE_BTC, "depth_limit": "full_book", "backfill": "none"},
         "count": 2},
        {"method": "get_stream_market_quotes",
         "kwargs": {"markets": "*USDT-future", "include_one_sided": True}, "count": 3},
        {"method": "get_stream_market_candles",
         "kwargs": {"markets": [COINBASE_BTC], "frequency": "1d"}, "count": 1},
        {"method": "get_stream_asset_metrics",
         "kwargs": {"assets": "btc", "metrics": ["PriceUSD", "ReferenceRateUSD"],
                    "frequency": "1s"}, "count": 2},
        {"method": "get_stream_index_levels", "kwargs": {"indexes": "CMBIBTC"}, "count": 2},
        {"method": "get_stream_pair_quotes", "kwargs": {"pairs": "btc-usd"}, "count": 2},
        {"method": "get_stream_asset_quotes", "kwargs": {"assets": ["eth"]}, "count": 2},
        {"method": "get_stream_market_liquidations",
         "kwargs": {"markets": "*USDT-future", "backfill": "latest"}, "count": 1},
        {"method": "get_stream_market_open_interest",
         "kwargs": {"markets": BTC_PERP, "backfill": "latest"}, "count": 1},
        {"method": "get_stream_market_contract_prices",
         "kwargs": {"markets": BTC_PERP, "backfill": "latest"}, "count": 2},
    ]  # fmt: skip
    results = await run_streams(server.host, server.port, key, calls, timeout=90)
    by_index = dict(enumerate(results))
    for result in results:
        assert result["returned"] and not result["errors"], result
        assert result["messages"], result
        assert all("error" not in m for m in result["messages"]), result
        assert_sequence(result["messages"])
        for message in result["messages"]:
            assert_strings(message)

    example = by_index[0]
    assert example["url"].startswith("ws://127.0.0.1:")
    assert (
        "/v4/timeseries-stream/market-orderbooks?api_key=KEY&markets=binance-btc-usdt-spot"
        "&backfill=latest" in example["url"]
    )
    books = example["messages"]
    assert [m["type"] for m in books] == ["snapshot"] + ["update"] * 10
    snapshot = books[0]
    assert list(snapshot) == ["time", "market", "coin_metrics_id", "asks", "bids", "type",
                              "collect_time", "cm_sequence_id"]  # fmt: skip
    asks = [Decimal(level["price"]) for level in snapshot["asks"]]
    bids = [Decimal(level["price"]) for level in snapshot["bids"]]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True)
    assert 0 < len(asks) <= 100 and 0 < len(bids) <= 100 and bids[0] < asks[0]

    trades = by_index[1]["messages"]
    assert all(m["market"].startswith("binance-") and m["market"].endswith("-spot") for m in trades)
    assert set(trades[0]) == {"time", "market", "coin_metrics_id", "amount", "price",
                              "collect_time", "side", "cm_sequence_id"}  # fmt: skip
    assert trades[0]["side"] in ("buy", "sell")

    full = by_index[2]["messages"]
    assert full[0]["type"] == "snapshot" and full[1]["type"] == "update"  # even with backfill=none
    assert len(full[0]["asks"]) > 0

    quotes = by_index[3]["messages"]
    assert all(m["market"].endswith("USDT-future") for m in quotes)
    assert {"ask_price", "bid_price", "coin_metrics_id"} <= set(quotes[0])

    (candle_message,) = by_index[4]["messages"]
    assert candle_message == {
        "market": COINBASE_BTC, "time": "2026-01-01T00:00:00.000000000Z",
        "price_open": "87250", "price_close": "87251", "price_high": "87255",
        "price_low": "87245", "vwap": "87251", "volume": "1.5",
        "candle_usd_volume": "130876.5", "candle_trades_count": "7", "cm_sequence_id": "0",
    }  # fmt: skip

    metrics = by_index[5]["messages"]
    assert metrics[0]["asset"] == "btc"
    assert {"PriceUSD", "ReferenceRateUSD"} <= set(metrics[0])  # the backfill has both
    assert {"PriceUSD", "ReferenceRateUSD"} <= set(metrics[1])  # one message per (asset, time)
    assert all(m["time"].endswith(".000000000Z") for m in metrics)  # 1s: whole seconds

    levels = by_index[6]["messages"]
    assert [m["index"] for m in levels] == ["CMBIBTC", "CMBIBTC"]
    assert list(levels[0]) == ["index", "level", "time", "cm_sequence_id"]

    for index, field, value in ((7, "pair", "btc-usd"), (8, "asset", "eth")):
        message = by_index[index]["messages"][0]
        assert message[field] == value
        assert (
            Decimal(message["mid_price"])
            == (Decimal(message["bid_price"]) + Decimal(message["ask_price"])) / 2
        )
        assert {"ask_size", "bid_size", "spread"} <= set(message)

    (liquidation_message,) = by_index[9]["messages"]
    assert liquidation_message["type"] == "trade"
    assert liquidation_message["market"].endswith("USDT-future")
    assert int(liquidation_message["coin_metrics_id"]) % 20 == 7

    (interest,) = by_index[10]["messages"]
    assert interest["market"] == BTC_PERP and Decimal(interest["contract_count"]) >= 0
    assert {"value_usd", "exchange_time"} <= set(interest)

    prices = by_index[11]["messages"]
    assert {"mark_price", "index_price", "settlement_price_estimated"} <= set(prices[0])
    assert Decimal(prices[0]["mark_price"]) > 0

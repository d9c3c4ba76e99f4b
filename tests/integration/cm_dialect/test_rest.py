"""The official client's REST methods against tickcast (in a worker thread; requests is sync)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from coinmetrics._exceptions import (
    CoinMetricsClientBadParameterError,
    CoinMetricsClientForbiddenError,
    CoinMetricsClientQueryParamsException,
    CoinMetricsClientUnauthorizedError,
)
from coinmetrics.api_client import CoinMetricsClient

from tickcast.dialects.coinmetrics.endpoint.service import CoinMetricsService, RateLimiter
from tickcast.model import Candle
from tickcast.model.timefmt import rfc3339_ns
from tickcast.server.services import services_of

from .helpers import wait_for

MARKET = "coinbase-btc-usd-spot"
DAY = 1_767_225_600_000_000_000  # 2026-01-01


async def test_rest_methods_through_the_official_client(start_server) -> None:
    server = await start_server()
    node = server.node
    recorder = node.recorder
    key = await server.key("pro")

    def ready() -> bool:
        return (
            len(recorder.trades.get(MARKET, ())) >= 5
            and MARKET in recorder.books
            and ("btc", "ReferenceRateUSD") in recorder.metric_seconds
        )

    await wait_for(ready, timeout=30)
    price = 8_725_000
    candles = [
        Candle(MARKET, "1m", DAY + i * 60_000_000_000, price, price + 9, price - 9, price + i,
               100_000, 8_725_000, 3, DAY + (i + 1) * 60_000_000_000)
        for i in range(3)
    ]  # fmt: skip
    await node.publish(candles)
    end_ns = node.clock.time_ns()
    end = rfc3339_ns(end_ns)
    recorded = [r for r in recorder.trades[MARKET] if r.time_ns <= end_ns]
    client = CoinMetricsClient(key, host=server.host, port=server.port, schema="http")

    def calls() -> dict[str, Any]:
        out: dict[str, Any] = {}
        trades = client.get_market_trades(markets=MARKET, start_time="2026-01-01", end_time=end)
        out["trades_df"] = trades.to_dataframe()
        out["trades_stream"] = client.get_market_trades(markets=MARKET, end_time=end).to_list()
        out["trades_pages"] = client.get_market_trades(
            markets=MARKET, end_time=end, page_size=2, paging_from="start", format="json"
        ).to_list()
        out["trades_from_end"] = client.get_market_trades(
            markets=MARKET, end_time=end, page_size=2, paging_from="end", format="json"
        ).to_list()
        out["trades_limited"] = client.get_market_trades(
            markets="coinbase-*-spot",
            end_time=end,
            limit_per_market=1,
            paging_from="end",
            format="json",
        ).to_list()
        out["candles"] = client.get_market_candles(markets=MARKET, frequency="1m").to_list()
        out["candles_page"] = client.get_market_candles(
            markets=MARKET, frequency="1m", start_time="2026-01-01T00:01:00Z",
            end_time="2026-01-01T00:02:00.000000000Z", format="json",
        ).to_list()  # fmt: skip
        out["quotes"] = client.get_market_quotes(markets=MARKET).to_list()
        out["books"] = client.get_market_orderbooks(markets=MARKET, depth_limit="10").to_list()
        out["metrics"] = client.get_asset_metrics(
            assets="btc", metrics=["PriceUSD", "ReferenceRateUSD"], frequency="1s"
        ).to_list()
        out["index"] = client.get_index_levels(indexes="CMBIBTC", frequency="1m").to_list()
        out["markets_df"] = client.reference_data_markets().to_dataframe()
        out["futures"] = client.reference_data_markets(type="future").to_list()
        out["assets"] = client.reference_data_assets(assets=["btc", "usdt"]).to_list()
        out["exchanges"] = client.reference_data_exchanges().to_list()
        out["indexes"] = client.reference_data_indexes(indexes="CMBIBTC").to_list()
        out["pairs"] = client.reference_data_pairs(pairs="btc-*").to_list()
        out["catalog_trades_df"] = client.catalog_market_trades_v2(
            exchange="coinbase"
        ).to_dataframe()
        out["catalog_candles"] = client.catalog_market_candles_v2(markets=MARKET).to_list()
        out["catalog_books"] = client.catalog_market_orderbooks_v2(markets=MARKET).to_list()
        out["catalog_all_quotes"] = client.catalog_full_market_quotes_v2(markets=MARKET).to_list()
        out["catalog_metrics"] = client.catalog_asset_metrics_v2(assets="btc").to_list()
        out["catalog_index"] = client.catalog_index_levels_v2(indexes="CMBIBTC").to_list()
        return out

    out = await asyncio.to_thread(calls)

    frame = out["trades_df"]
    assert len(frame) == len(recorded) >= 5
    assert list(frame["coin_metrics_id"]) == [r.item.id for r in recorded]
    assert str(frame["time"].dtype).startswith("datetime64") and frame["price"].notna().all()
    assert out["trades_stream"] == out["trades_pages"]
    first = out["trades_stream"][0]
    assert list(first) == ["time", "market", "coin_metrics_id", "amount", "price",
                           "database_time", "side"]  # fmt: skip
    assert sorted(r["coin_metrics_id"] for r in out["trades_from_end"]) == sorted(
        r["coin_metrics_id"] for r in out["trades_stream"]
    )
    limited = out["trades_limited"]
    assert len({r["market"] for r in limited}) == len(limited) > 1  # one (the latest) per market
    published = [c for c in out["candles"] if c["time"].startswith("2026-01-01")]  # + live ones
    assert [c["time"] for c in published] == [
        "2026-01-01T00:00:00.000000000Z", "2026-01-01T00:01:00.000000000Z",
        "2026-01-01T00:02:00.000000000Z",
    ]  # fmt: skip
    assert published[0]["candle_trades_count"] == "3"
    assert [c["price_close"] for c in out["candles_page"]] == ["87250.01", "87250.02"]
    assert {"ask_price", "bid_price", "coin_metrics_id"} <= set(out["quotes"][0])
    assert len(out["books"][0]["asks"]) == 10 and "coin_metrics_id" in out["books"][0]
    assert {"PriceUSD", "ReferenceRateUSD"} <= set(out["metrics"][-1])
    assert out["index"][0]["index"] == "CMBIBTC" and out["index"][0]["time"].endswith(
        ":00.000000000Z"
    )
    assert len(out["markets_df"]) == len(node.catalog) == 66
    assert {r["market"] for r in out["futures"]} == {
        m.id for m in node.catalog if m.kind.value == "future"
    }
    assert out["assets"] == [{"asset": "btc", "full_name": "Bitcoin"},
                             {"asset": "usdt", "full_name": "Tether"}]  # fmt: skip
    assert [e["exchange"] for e in out["exchanges"]] == ["binance", "coinbase", "kraken"]
    assert [i["index"] for i in out["indexes"]] == ["CMBIBTC"]
    assert [p["pair"] for p in out["pairs"]] == ["btc-usd", "btc-usdt"]
    assert set(out["catalog_trades_df"]["market"]) <= {m.id for m in node.catalog}
    assert MARKET in set(out["catalog_trades_df"]["market"])
    (candle_entry,) = out["catalog_candles"]
    assert candle_entry["frequencies"][0]["frequency"] == "1m"
    assert {d["depth"] for d in out["catalog_books"][0]["depths"]} == {"100", "full_book"}
    assert out["catalog_all_quotes"][0]["market"] == MARKET
    assert out["catalog_metrics"][0]["asset"] == "btc"
    assert out["catalog_index"][0]["index"] == "CMBIBTC"


async def test_rest_errors_map_to_the_client_exceptions(start_server) -> None:
    server = await start_server()
    # the per-minute window is the test's own: every request falls 1 s into the same minute,
    # so the 60 allowed requests can never straddle a window boundary
    window_start = 60.0 * 29_000_000
    coinmetrics = services_of(server.app).service(CoinMetricsService)
    assert coinmetrics is not None
    coinmetrics.rate = RateLimiter(lambda: window_start + 1.0)
    free = await server.key("free", user="free-rest")
    host, port = server.host, server.port

    def expect(error: type[Exception], key: str, **kwargs: Any) -> str:
        client = CoinMetricsClient(key, host=host, port=port, schema="http")
        with pytest.raises(error) as caught:
            client.get_market_trades(**kwargs).to_list()
        return str(caught.value)

    def calls() -> list[str]:
        return [
            expect(CoinMetricsClientUnauthorizedError, "tc_live_" + "x" * 40, markets=MARKET),
            expect(CoinMetricsClientForbiddenError, free, markets=MARKET),
            expect(CoinMetricsClientBadParameterError, free, markets="binance-btc-usdt-spot",
                   page_size=20_000, format="json"),
            expect(CoinMetricsClientBadParameterError, free, markets="binance-nope-usdt-spot"),
            expect(CoinMetricsClientQueryParamsException, free,
                   markets=["binance-btc-usdt-spot"] * 600),
        ]  # fmt: skip

    messages = await asyncio.to_thread(calls)
    assert "Supplied credentials are not valid." in messages[0]
    assert "is not available with supplied credentials" in messages[1]
    assert "Bad parameter 'page_size'. Must be at most 10000." in messages[2]
    assert "Market 'binance-nope-usdt-spot' is not supported." in messages[3]

    async with httpx.AsyncClient(base_url=server.http) as http:
        missing = await http.get("/v4/timeseries/market-trades", params={"markets": MARKET})
        assert missing.status_code == 401
        assert missing.json()["error"]["type"] == "unauthorized"
        unknown = await http.get(f"/v4/nothing-here?api_key={free}")
        assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"
        trades = f"/v4/timeseries/market-trades?api_key={free}&markets=binance-btc-usdt-spot"
        for bad, name in (("&next_page_token=%ff%00", "next_page_token"),
                          ("&start_time=yesterday", "start_time"), ("&page_size=0", "page_size"),
                          ("&format=csv", "format"), ("&paging_from=middle", "paging_from"),
                          ("&markets2=x", "markets2")):  # fmt: skip
            answer = await http.get(trades + bad + "&format=json" * ("format" not in bad))
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json()["error"]["message"].startswith(f"Bad parameter '{name}'.")
        first = (await http.get(f"/v4/reference-data/assets?api_key={free}&page_size=2")).json()
        assert len(first["data"]) == 2 and first["next_page_token"]
        following = (await http.get(first["next_page_url"])).json()  # fetched unmodified
        assert following["data"][0]["asset"] > first["data"][-1]["asset"]
        url = f"/v4/reference-data/exchanges?api_key={free}"
        answers = [await http.get(url) for _ in range(61)]
    statuses = [a.status_code for a in answers]
    assert 429 in statuses
    refused = answers[statuses.index(429)]
    assert refused.json()["error"]["type"] == "too_many_requests"
    # free plan: 60 a minute; 11 counted before the loop (the forbidden call, two bad parameters,
    # six bad queries and two reference-data pages)
    assert statuses.index(429) == 60 - 11
    assert refused.headers["X-RateLimit-Reset"] == "59"
    ok = [a for a in answers if a.status_code == 200]
    assert all(a.headers["X-RateLimit-Reset"] == "59" for a in ok)
    assert all(a.headers.get("X-RateLimit-Remaining") != "0" for a in ok)

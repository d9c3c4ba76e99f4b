"""The official Coin Metrics client over history written by a previous server run (issue 17)."""

from __future__ import annotations

import asyncio
from typing import Any

from coinmetrics.api_client import CoinMetricsClient

from tickcast.model import AssetMetric, Candle, Side, Trade
from tickcast.model.timefmt import rfc3339_ns

MARKET = "coinbase-btc-usd-spot"
DAY_NS = 86_400_000_000_000
COUNT = 3_000  # more than the in-memory recorder keeps (2 000 per market)


def old_events(start_ns: int) -> tuple[list[Trade], list[Candle]]:
    trades = [
        Trade(MARKET, f"h{i}", 8_725_000 + i, 1_000 + i, Side.BUY if i % 2 else Side.SELL,
              start_ns + i * 1_000_000_000)
        for i in range(COUNT)
    ]  # fmt: skip
    candles = [
        Candle(MARKET, "1m", start_ns + i * 60_000_000_000, 8_725_000, 8_725_009, 8_724_991,
               8_725_000 + i, 100_000, 8_725_000, 3, start_ns + (i + 1) * 60_000_000_000)
        for i in range(5)
    ]  # fmt: skip
    return trades, candles


async def test_official_client_reads_history_of_a_previous_run(same_port_servers, tmp_path) -> None:
    """Trades and candles published by a first server are served by a second one started on
    the same data directory: whole range as a DataFrame, pages from both ends, json_stream."""
    data_dir = str(tmp_path / "shared")
    first = await same_port_servers.start(data_dir=data_dir)
    yesterday = (first.node.clock.time_ns() // DAY_NS - 1) * DAY_NS
    trades, candles = old_events(yesterday)
    for at in range(0, COUNT, 500):
        await first.node.publish(trades[at : at + 500])
    await first.node.publish(candles)
    await first.node.publish(
        [AssetMetric("btc", "ReferenceRateUSD", 87_250_00 + i, 2, yesterday + i * 20_000_000_000)
         for i in range(9)]  # three per minute for three minutes; a minute's last value counts
    )  # fmt: skip
    first_epoch = first.node.bus.epoch  # type: ignore[attr-defined]
    await same_port_servers.stop()  # the first run ends (its history is flushed)

    # the same data directory (history.sqlite3); a new keys file only so that the fixture
    # gets a fresh development key
    second = await same_port_servers.start(
        data_dir=data_dir, store=f"sqlite:///{tmp_path / 'keys2.sqlite3'}"
    )
    assert second.node.bus.epoch != first_epoch  # type: ignore[attr-defined]
    assert all(r.time_ns > yesterday + DAY_NS for r in second.node.recorder.trades.get(MARKET, ()))
    key = await second.key("pro")
    client = CoinMetricsClient(key, host=second.host, port=second.port, schema="http")
    start, end = rfc3339_ns(yesterday), rfc3339_ns(trades[-1].time_ns)

    def calls() -> dict[str, Any]:
        trades_of = client.get_market_trades
        return {
            "frame": trades_of(markets=MARKET, start_time=start, end_time=end).to_dataframe(),
            "start": trades_of(
                markets=MARKET, start_time=start, end_time=end, page_size=700,
                paging_from="start", format="json",
            ).to_list(),
            "end": trades_of(
                markets=MARKET, start_time=start, end_time=end, page_size=900,
                paging_from="end", format="json",
            ).to_list(),
            "exclusive": trades_of(
                markets=MARKET, start_time=start, end_time=end, start_inclusive=False,
                end_inclusive=False, format="json",
            ).to_list(),
            "candles": client.get_market_candles(
                markets=MARKET, frequency="1m", start_time=start, end_time=end
            ).to_list(),
            "metrics": client.get_asset_metrics(
                assets="btc", metrics="ReferenceRateUSD", frequency="1m", start_time=start,
                end_time=rfc3339_ns(yesterday + 2 * 60_000_000_000),
            ).to_list(),
            "index": client.get_index_levels(
                indexes="CMBIBTC", frequency="1m", start_time=start,
                end_time=rfc3339_ns(yesterday + 2 * 60_000_000_000),
            ).to_list(),
            "catalog_trades": client.catalog_market_trades_v2(markets=MARKET).to_list(),
            "catalog_candles": client.catalog_market_candles_v2(markets=MARKET).to_list(),
            "catalog_metrics": client.catalog_asset_metrics_v2(
                assets="btc", metrics="ReferenceRateUSD"
            ).to_list(),
        }  # fmt: skip

    out = await asyncio.to_thread(calls)
    ids = [t.id for t in trades]
    frame = out["frame"]
    assert list(frame["coin_metrics_id"]) == ids
    assert str(frame["time"].dtype).startswith("datetime64")
    assert [r["coin_metrics_id"] for r in out["start"]] == ids
    assert sorted(r["coin_metrics_id"] for r in out["end"]) == sorted(ids)
    assert [r["coin_metrics_id"] for r in out["exclusive"]] == ids[1:-1]
    assert out["start"][1]["price"] == "87250.01" and out["start"][1]["side"] == "buy"
    assert [c["price_close"] for c in out["candles"]] == [
        "87250", "87250.01", "87250.02", "87250.03", "87250.04",
    ]  # fmt: skip
    assert [m["ReferenceRateUSD"] for m in out["metrics"]] == ["87250.02", "87250.05", "87250.08"]
    assert [i["level"] for i in out["index"]] == ["87250.02", "87250.05", "87250.08"]
    # the catalogue lists the store's ranges (the first run's data included), not the recorder's
    assert out["catalog_trades"][0]["min_time"] == start
    one_minute = [f for f in out["catalog_candles"][0]["frequencies"] if f["frequency"] == "1m"]
    assert one_minute[0]["min_time"] == start
    (metric,) = out["catalog_metrics"][0]["metrics"]
    assert {f["frequency"]: f["min_time"] for f in metric["frequencies"]}["1m"] == start
    spans = await second.node.history.epochs(f"trades:{MARKET}")  # type: ignore[union-attr]
    assert spans[0].epoch == first_epoch and spans[0].rows >= COUNT

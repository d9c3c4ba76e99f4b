"""``asset-metrics`` through the official client: one message per (asset, second), every metric."""

from __future__ import annotations

import asyncio

from tickcast.model import AssetMetric, Market, MarketKind

from .helpers import assert_sequence, assert_strings, run_streams, wait_for

SECOND = 1_000_000_000
T = 1_767_225_600 * SECOND  # 2026-01-01T00:00:00Z
MARKETS = [
    Market(f"coinbase-{a}-usd-spot", "coinbase", MarketKind.SPOT, a, "usd", f"{a}-USD", 2, 5)
    for a in ("btc", "eth")
]


def metrics(asset: str, price: int, time_ns: int) -> list[AssetMetric]:
    return [
        AssetMetric(asset, "PriceUSD", price, 2, time_ns),
        AssetMetric(asset, "ReferenceRateUSD", price - 7, 2, time_ns + 1_000),
    ]


async def test_get_stream_asset_metrics_sends_each_asset_and_second_once(start_server) -> None:
    server = await start_server(sources="none")
    node = server.node
    for market in MARKETS:
        node.catalog.add(market)
    # The backfill: the latest values, stamped 250 ms after a whole second.
    await node.publish(metrics("btc", 8_725_000, T + SECOND // 4) + metrics("eth", 310_000, T))
    key = await server.key("pro")
    call = {
        "method": "get_stream_asset_metrics",
        "kwargs": {"assets": ["btc", "eth"], "metrics": ["PriceUSD", "ReferenceRateUSD"]},
        "count": 4,
    }
    client = run_streams(server.host, server.port, key, [call])
    task = asyncio.ensure_future(client)
    await wait_for(lambda: node.hub.subscriber_count() == 2 or task.done(), timeout=30)
    # Live: both assets' metrics in one publish, 999 ms past the next second.
    live = T + SECOND + 999_000_000
    await node.publish(metrics("btc", 8_726_000, live) + metrics("eth", 311_000, live))
    (result,) = await task
    messages = result["messages"]
    assert result["returned"] and not result["errors"], result
    assert_sequence(messages)
    for message in messages:
        assert_strings(message)
    assert [(m["asset"], m["time"], m["PriceUSD"], m["ReferenceRateUSD"]) for m in messages] == [
        ("btc", "2026-01-01T00:00:00.000000000Z", "87250", "87249.93"),
        ("eth", "2026-01-01T00:00:00.000000000Z", "3100", "3099.93"),
        ("btc", "2026-01-01T00:00:01.000000000Z", "87260", "87259.93"),
        ("eth", "2026-01-01T00:00:01.000000000Z", "3110", "3109.93"),
    ]
    assert all(list(m) == ["time", "asset", "PriceUSD", "ReferenceRateUSD", "cm_sequence_id"]
               for m in messages)  # fmt: skip

"""``backfill=latest`` of the Coin Metrics STATE streams after a restart (issue 17): a first run
publishes metrics, a book, quotes and a future's positions; the official client's backfill
from that run's live state and, after a restart on the same data directory (empty bus, empty
state, no sources), from the store, are the same messages."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from coinmetrics.api_client import CoinMetricsClient

from tickcast.model import (
    AssetMetric,
    BookDelta,
    BookSnapshot,
    Event,
    Market,
    MarketKind,
    Position,
    Quote,
)
from tickcast.model.timefmt import rfc3339_ns

from .helpers import run_streams

DAY_NS = 86_400_000_000_000
SPOT, OTHER, FUTURE = "coinbase-btc-usd-spot", "kraken-btc-usd-spot", "binance-BTCUSDT-future"
MARKETS = [
    Market(SPOT, "coinbase", MarketKind.SPOT, "btc", "usd", "BTC-USD", 2, 8),
    Market(OTHER, "kraken", MarketKind.SPOT, "btc", "usd", "XBTUSD", 2, 8),
    Market(FUTURE, "binance", MarketKind.FUTURE, "btc", "usdt", "BTCUSDT", 1, 3),
]
CALLS = [
    {"method": "get_stream_asset_metrics",
     "kwargs": {"assets": "btc", "metrics": ["PriceUSD", "ReferenceRateUSD"], "frequency": "1s"}},
    {"method": "get_stream_index_levels", "kwargs": {"indexes": "CMBIBTC"}},
    {"method": "get_stream_market_orderbooks", "kwargs": {"markets": SPOT, "depth_limit": "100"}},
    {"method": "get_stream_market_quotes", "kwargs": {"markets": SPOT}},
    {"method": "get_stream_pair_quotes", "kwargs": {"pairs": "btc-usd", "backfill": "latest"}},
    {"method": "get_stream_asset_quotes", "kwargs": {"assets": "btc", "backfill": "latest"}},
    {"method": "get_stream_market_open_interest",
     "kwargs": {"markets": FUTURE, "backfill": "latest"}},
    {"method": "get_stream_market_contract_prices",
     "kwargs": {"markets": FUTURE, "backfill": "latest"}},
]  # fmt: skip
CALLS = [{**call, "count": 1, "seconds": 8.0} for call in CALLS]


def state_events(t: int) -> list[Event]:
    """A few seconds of every STATE kind the Coin Metrics streams read."""
    events: list[Event] = []
    for i in range(5):
        at = t + i * 1_000_000_000
        events += [
            AssetMetric("btc", "PriceUSD", 8_725_000 + i, 2, at),
            AssetMetric("btc", "ReferenceRateUSD", 8_725_100 + i, 2, at + 1),
            Quote(SPOT, 8_724_900 + i, 10**7, 8_725_100 + i, 2 * 10**7, at + 2),
            Quote(OTHER, 8_724_950 + i, 10**7, 8_725_150 + i, 10**7, at + 3),
            Quote(FUTURE, 872_490 + i, 4_000, 872_510 + i, 5_000, at + 4),
            Position(FUTURE, ("alice", "bob")[i % 2], 1_000 + i, 872_000, 0, i, 872_500, at + 5),
        ]
    bids = tuple((8_724_900 - 10 * n, 10**6 + n) for n in range(150))
    asks = tuple((8_725_100 + 10 * n, 10**6 + n) for n in range(150))
    events.append(BookSnapshot(SPOT, bids, asks, t))
    events += [
        BookDelta(SPOT, ((8_724_900 - 10 * n, n % 3 * 10**5),), (), t + n * 1_000)
        for n in range(40)
    ]
    return events


def strip(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    timed = ("time", "collect_time", "coin_metrics_id")
    return [{k: v for k, v in m.items() if k not in timed} for m in messages]


def without_sequence(results: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    for result in results:
        assert result["returned"] and not result["errors"], result
    return [[{k: v for k, v in m.items() if k != "cm_sequence_id"} for m in r["messages"]]
            for r in results]  # fmt: skip


async def test_state_stream_backfill_after_a_restart_comes_from_the_store(
    same_port_servers, tmp_path
) -> None:
    data_dir = str(tmp_path / "shared")
    first = await same_port_servers.start(data_dir=data_dir, sources="none")
    for market in MARKETS:
        first.node.catalog.add(market)
    yesterday = (first.node.clock.time_ns() // DAY_NS - 1) * DAY_NS
    await first.node.publish(state_events(yesterday))
    key = await first.key("pro")
    live = without_sequence(await run_streams(first.host, first.port, key, CALLS))
    assert all(len(messages) == 1 for messages in live), live  # each stream backfilled
    await same_port_servers.stop()

    second = await same_port_servers.start(
        data_dir=data_dir, sources="none", store=f"sqlite:///{tmp_path / 'keys2.sqlite3'}"
    )
    for market in MARKETS:
        second.node.catalog.add(market)
    assert second.node.keeper.snapshot("metrics:btc") is None  # nothing in the node's state
    key = await second.key("pro")
    stored = without_sequence(await run_streams(second.host, second.port, key, CALLS))
    for call, from_live, from_store in zip(CALLS, live, stored, strict=True):
        if call["method"] == "get_stream_market_orderbooks":
            # live stamps its snapshot with the time it is sent; the store's book with its own
            assert from_store[0]["time"] == rfc3339_ns(yesterday + 39_000)
            assert from_store[0]["coin_metrics_id"].endswith("-41")  # the book's seq
            from_store, from_live = strip(from_store), strip(from_live)
        assert from_store == from_live, call["method"]
    book = stored[2][0]
    assert book["type"] == "snapshot" and len(book["bids"]) == len(book["asks"]) == 100
    open_interest = stored[6][0]
    assert open_interest["contract_count"] == "2.007"  # alice 1.004 + bob 1.003
    await check_futures_rest(second, key, yesterday)


async def check_futures_rest(server: Any, key: str, yesterday: int) -> None:
    """``market-openinterest`` and ``market-contract-prices`` over the first run's range with
    the official client: one row per open-interest change (seeded with the positions before
    the range), one contract price per second with the reference rate stored before it."""
    client = CoinMetricsClient(key, host=server.host, port=server.port, schema="http")
    start, late = rfc3339_ns(yesterday), rfc3339_ns(yesterday + 2_500_000_000)

    def calls() -> list[list[dict[str, Any]]]:
        return [
            client.get_market_open_interest(markets=FUTURE, start_time=start).to_list(),
            client.get_market_open_interest(
                markets=FUTURE, start_time=start, format="json", page_size=2, paging_from="start"
            ).to_list(),
            client.get_market_open_interest(markets=FUTURE, start_time=late).to_list(),
            client.get_market_contract_prices(markets=FUTURE, start_time=start).to_list(),
        ]

    whole, paged, after, prices = await asyncio.to_thread(calls)
    assert [r["contract_count"] for r in whole] == ["1", "2.001", "2.003", "2.005", "2.007"]
    assert paged == whole
    assert [r["contract_count"] for r in after] == ["2.005", "2.007"]
    assert [r["time"] for r in prices] == [rfc3339_ns(yesterday + i * 10**9 + 4) for i in range(5)]
    rates = [Decimal(r["index_price"]) for r in prices]
    assert rates == [Decimal(8_725_100 + i) / 100 for i in range(5)]
    assert [Decimal(r["mark_price"]) for r in prices] == [
        Decimal(872_500 + i) / 10 for i in range(5)
    ]

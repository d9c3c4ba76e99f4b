"""Coin Metrics stream ``start_time`` (a tickcast extension, issue 17) with the official client
(through its ``_get_stream_data``, as its ``get_stream_*`` methods take no ``start_time``): every
stored message from that time, then live ones, with a dense ``cm_sequence_id``."""

from __future__ import annotations

import asyncio
from typing import Any

from tickcast.model import AssetMetric, BookDelta, BookSnapshot, Event, Quote, Side, Trade
from tickcast.model.timefmt import rfc3339_ns

from .helpers import assert_sequence, run_streams
from .test_history_state_backfill import MARKETS, SPOT

DAY_NS = 86_400_000_000_000
S = 1_000_000_000


def stream(endpoint: str, start: int, count: int, **params: Any) -> dict[str, Any]:
    url = f"timeseries-stream/{endpoint}"
    kwargs = {"url": url, "params": {"start_time": rfc3339_ns(start), **params}}
    return {"method": "_get_stream_data", "kwargs": kwargs, "count": count, "seconds": 15.0}


def day_events(t: int) -> list[Event]:
    """300 seconds: a trade, a quote, two metrics and a book change each second."""
    events: list[Event] = [
        BookSnapshot(SPOT, tuple((870_000 - n, 5) for n in range(120)),
                     tuple((870_100 + n, 5) for n in range(120)), t),
    ]  # fmt: skip
    for i in range(300):
        at = t + i * S
        events += [
            Trade(SPOT, f"h{i}", 870_050, 10**6 + i, Side.BUY, at),
            Quote(SPOT, 870_000 - i % 3, 10**6, 870_100 + i % 3, 10**6, at + 1),
            AssetMetric("btc", "PriceUSD", 8_700_000 + i, 2, at + 2),
            AssetMetric("btc", "ReferenceRateUSD", 8_700_100 + i, 2, at + 3),
            BookDelta(SPOT, ((870_000 - i % 150, i % 4),), (), at + 4),
        ]
    return events


async def test_start_time_replays_the_store_into_live(start_server) -> None:
    server = await start_server(sources="none", history_size=50)
    node = server.node
    for market in MARKETS:
        node.catalog.add(market)
    t = (node.clock.time_ns() // DAY_NS - 1) * DAY_NS
    events = day_events(t)
    for at in range(0, len(events), 250):
        await node.publish(events[at : at + 250])
    key = await server.key("pro")
    start = t + 100 * S + S // 2  # trade 101 is the first at or after it
    calls = [
        stream("market-trades", start, 201, markets=SPOT),
        stream("market-quotes", start, 200, markets=SPOT),
        stream("asset-metrics", start, 200, assets="btc", metrics="PriceUSD,ReferenceRateUSD",
               frequency="1s"),
        stream("market-orderbooks", start, 2, markets=SPOT),
    ]  # fmt: skip
    client = asyncio.create_task(run_streams(server.host, server.port, key, calls[:1]))
    n = 0
    while not client.done():  # live trades once the stream joined, until the client has all
        if node.hub.subscriber_count() and n < 2:
            n += 1
            await node.publish([Trade(SPOT, f"live{n}", 870_050, 1, Side.BUY, t + DAY_NS // 2)])
        await asyncio.wait({client}, timeout=0.2)
    trades_result, quotes, metrics, books = [*client.result(), *await run_streams(
        server.host, server.port, key, calls[1:])]  # fmt: skip
    for result in (trades_result, quotes, metrics, books):
        assert result["returned"] and not result["errors"], result
        assert all("error" not in m for m in result["messages"]), result["messages"][:1]
        assert_sequence(result["messages"])
    trades = [m["coin_metrics_id"] for m in trades_result["messages"]]
    assert trades == [f"h{i}" for i in range(101, 300)] + ["live1", "live2"]
    first, *rest = quotes["messages"]
    assert first["time"] == rfc3339_ns(t + 100 * S + 1)  # the quote as of start_time
    assert [m["time"] for m in rest] == [rfc3339_ns(t + i * S + 1) for i in range(101, 300)]
    by_time = metrics["messages"]
    assert by_time[0]["time"] == rfc3339_ns(t + 100 * S)  # the state as of start_time
    assert [m["time"] for m in by_time[1:]] == [rfc3339_ns(t + i * S) for i in range(101, 300)]
    assert all({"PriceUSD", "ReferenceRateUSD"} <= set(m) for m in by_time)  # one per second
    snapshot, update = books["messages"]
    assert snapshot["type"] == "snapshot" and len(snapshot["asks"]) == 100  # depth_limit
    assert snapshot["time"] == rfc3339_ns(t + 100 * S + 4)
    assert update["type"] == "update" and update["time"] == rfc3339_ns(t + 101 * S + 4)


async def test_start_time_refusals(start_server) -> None:
    """On a stream that depends on other streams, with ``backfill=none``, or further back than
    the plan's ``history_depth``: an in-band error, then the close."""
    server = await start_server(sources="none", history_size=50)
    node = server.node
    for market in MARKETS:
        node.catalog.add(market)
    t = (node.clock.time_ns() // DAY_NS - 1) * DAY_NS
    await node.publish(day_events(t)[:600])
    await node.store.ensure_user("sam", "pro")
    await node.store.set_user_overrides("sam", {"history_depth": 50})
    key, _ = await node.store.create_key(user="sam")
    calls = [
        stream("pair-quotes", t, 1, pairs="btc-usd"),
        stream("market-trades", t, 1, markets=SPOT, backfill="none"),
        stream("market-trades", t, 1, markets=SPOT),
        stream("market-trades", t + 80 * S, 40, markets=SPOT),
    ]
    results = await run_streams(server.host, server.port, key, calls)
    errors = [r["messages"][0].get("error", {}).get("type") for r in results[:3]]
    assert errors == ["bad_parameter", "bad_parameter", "forbidden"], results
    assert len(results[3]["messages"]) == 40 and "error" not in results[3]["messages"][0]

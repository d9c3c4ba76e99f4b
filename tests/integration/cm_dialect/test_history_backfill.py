"""``backfill=latest`` on Coin Metrics streams served from the durable store (issue 17 point 4):
a second server on the same data directory, whose bus starts empty, backfills what the first
run stored; then live data follows."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tickcast.model import Side, Trade
from tickcast.model.events import Quote

from .helpers import run_streams
from .test_history_rest import COUNT, DAY_NS, MARKET, old_events


async def test_stream_backfill_of_a_previous_run_comes_from_the_store(
    same_port_servers, tmp_path
) -> None:
    data_dir = str(tmp_path / "shared")
    first = await same_port_servers.start(data_dir=data_dir)
    yesterday = (first.node.clock.time_ns() // DAY_NS - 1) * DAY_NS
    trades, candles = old_events(yesterday)
    for at in range(0, COUNT, 500):
        await first.node.publish(trades[at : at + 500])
    await first.node.publish(candles)
    await first.node.publish(
        [Quote(MARKET, 8_725_000 + i, 100, 8_725_100 + i, 200, yesterday + i) for i in range(3)]
    )
    market = first.node.catalog.get(MARKET)
    await same_port_servers.stop()  # the first run ends (its history is flushed)

    second = await same_port_servers.start(
        data_dir=data_dir, sources="none", store=f"sqlite:///{tmp_path / 'keys2.sqlite3'}"
    )
    node = second.node
    node.catalog.add(market)  # no sources: the market is listed by hand, nothing trades live
    assert (await node.bus.position(f"trades:{MARKET}")).seq == 0  # nothing in memory
    key = await second.key("pro")
    trades_call = {"method": "get_stream_market_trades", "kwargs": {"markets": MARKET}, "count": 2}
    candles_call = {"method": "get_stream_market_candles",
                    "kwargs": {"markets": MARKET, "frequency": "1m"}, "count": 1}  # fmt: skip
    client = asyncio.create_task(run_streams(second.host, second.port, key, [trades_call]))
    n = 0
    while not client.done():  # once subscribed, live trades until the client has two messages
        if node.hub.subscriber_count():
            n += 1
            now = node.clock.time_ns()
            await node.publish([Trade(MARKET, f"live{n}", 8_800_000, 1_000, Side.BUY, now)])
        await asyncio.wait({client}, timeout=0.1)
    (trade_result,) = client.result()
    quotes_call = {"method": "get_stream_market_quotes", "kwargs": {"markets": MARKET}, "count": 1}
    candle_result, quote_result = await run_streams(
        second.host, second.port, key, [candles_call, quotes_call]
    )
    assert trade_result["returned"] and not trade_result["errors"], trade_result
    backfilled, live = trade_result["messages"]
    assert backfilled["coin_metrics_id"] == trades[-1].id  # the first run's last trade
    assert backfilled["price"] == "87279.99"
    assert live["coin_metrics_id"].startswith("live")
    (candle,) = candle_result["messages"]
    assert candle["price_close"] == "87250.04"  # the first run's last 1m candle
    (last,) = await node.history.range(f"quotes:{MARKET}", None, None, limit=1, descending=True)
    assert isinstance(last.event, Quote) and last.epoch != node.bus.epoch  # the first run's
    (quote,) = quote_result["messages"]
    scale = Decimal(10) ** market.price_decimals
    assert Decimal(quote["bid_price"]) == last.event.bid_price / scale
    assert Decimal(quote["ask_price"]) == last.event.ask_price / scale

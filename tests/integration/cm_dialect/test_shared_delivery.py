"""Live Coin Metrics delivery through the hub's shared channels
(dialects/coinmetrics/endpoint/sink.py): every connection gets each message once, in order, with
its own dense ``cm_sequence_id``, across batch sizes and the 9→10, 99→100, 999→1000 digit
boundaries, while it is direct."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tickcast.model import Market, MarketKind, Side, Trade

from .helpers import wait_for

MARKET = Market("acme-bar-usd-spot", "acme", MarketKind.SPOT, "bar", "usd", "BAR-USD", 2, 3)


def _joining(node: Any) -> bool:
    """A connection is still joining its streams (on a Redis bus that takes a round trip to
    Redis, after the connection is listed: events published meanwhile precede its start)."""
    return any(c._joins.joining for c in node.connections.values())


async def _read(ws: ClientConnection, count: int) -> list[dict[str, str]]:
    return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(count)]


async def test_connections_share_batches_and_number_them_each(start_server) -> None:
    server = await start_server()
    node = server.node
    key = await server.key("pro")
    node.catalog.add(MARKET)
    url = (f"ws://{server.host}:{server.port}/v4/timeseries-stream/market-trades"
           f"?api_key={key}&markets={MARKET.id}&backfill=none")  # fmt: skip
    sizes = [1, 3, 5, 7, 50, 150, 900, 1, 1]  # 1118 trades in batches of every size
    ids = iter(range(1, 10_000))

    async def publish(size: int) -> None:
        now = node.clock.time_ns()
        await node.publish([Trade(MARKET.id, str(next(ids)), 10_000 + i, 1_000, Side.BUY, now)
                            for i in range(size)])  # fmt: skip

    async with connect(url, max_size=None) as early:
        await wait_for(lambda: len(node.connections) == 1)
        await wait_for(lambda: not _joining(node))
        await publish(4)  # the early connection is 4 ahead of the late one
        head = await _read(early, 4)
        async with connect(url, max_size=None) as late:
            await wait_for(lambda: len(node.connections) == 2)
            await wait_for(lambda: not _joining(node))
            await publish(1)
            head += await _read(early, 1)
            first_late = await _read(late, 1)
            connections = list(node.connections.values())
            await wait_for(lambda: all(node.hub.is_direct(c) for c in connections))  # type: ignore[arg-type]
            for size in sizes:
                await publish(size)
            total = sum(sizes)
            early_rest, late_rest = await asyncio.gather(_read(early, total), _read(late, total))
            infos = [connection.info() for connection in connections]
    early_all, late_all = head + early_rest, first_late + late_rest
    assert [m["cm_sequence_id"] for m in early_all] == [str(i) for i in range(len(early_all))]
    assert [m["cm_sequence_id"] for m in late_all] == [str(i) for i in range(len(late_all))]
    assert [m["coin_metrics_id"] for m in early_all[4:]] == [m["coin_metrics_id"] for m in late_all]
    assert [m["coin_metrics_id"] for m in early_all] == [
        str(i) for i in range(1, len(early_all) + 1)
    ]
    assert all(m["market"] == MARKET.id for m in early_all)
    for info, received in zip(infos, (early_all, late_all), strict=True):  # counted as written
        assert info["messages"] == len(received)
        assert info["bytes"] == sum(len(json.dumps(m, separators=(",", ":"))) for m in received)
    assert node.hub.channel_count() == 0  # both left their channel


async def test_an_operator_close_reaches_a_detached_connection_after_its_data(start_server) -> None:
    server = await start_server()
    node = server.node
    key = await server.key("pro")
    node.catalog.add(MARKET)
    url = (f"ws://{server.host}:{server.port}/v4/timeseries-stream/market-trades"
           f"?api_key={key}&markets={MARKET.id}&backfill=none")  # fmt: skip
    async with connect(url, max_size=None) as client:
        await wait_for(lambda: len(node.connections) == 1)
        await wait_for(lambda: not _joining(node))
        (connection,) = node.connections.values()
        now = node.clock.time_ns()
        await node.publish([Trade(MARKET.id, str(i), 10_000, 1_000, Side.BUY, now)
                            for i in range(1, 4)])  # fmt: skip
        await connection.close(1008, "closed by operator", retry=False)
        messages = []
        with contextlib.suppress(ConnectionClosed):
            while True:
                messages.append(json.loads(await asyncio.wait_for(client.recv(), 10)))
        assert [m["cm_sequence_id"] for m in messages] == ["0", "1", "2"]
        assert (client.close_code, client.close_reason) == (1008, "closed by operator")
    await wait_for(lambda: not node.connections)

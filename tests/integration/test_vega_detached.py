"""Vega WebSocket streams run detached (issue 20 point 2): no task per stream, the same lines,
pings and closes, and the same end (the line, then FIN without a close frame). Real server,
real clients; blocks closed by hand."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from tests.conftest import RunningServer, ServerFactory
from websockets.exceptions import ConnectionClosedError

from tickcast.dialects.vega.endpoint.feed import VegaFeed
from tickcast.dialects.vega.endpoint.stream import VegaStream
from tickcast.dialects.vega.wire.ids import market_hex
from tickcast.model import Side, Trade
from tickcast.server.services import services_of
from tickcast.sources.parties import party_id

MARKET = "binance-btc-usdt-spot"
PRICE = 1_234_567
"""Marks the test's trades among the simulator's."""


def _url(server: RunningServer) -> str:
    return f"ws://{server.host}:{server.port}/api/v2/stream/trades?marketIds={market_hex(MARKET)}"


async def _subscribed(feed: VegaFeed, count: int) -> list[VegaStream]:
    for _ in range(500):
        streams = [s for s in feed.subscribers.values() if isinstance(s, VegaStream)]
        if len(streams) == count:
            return streams
        await asyncio.sleep(0.01)
    raise AssertionError("streams did not subscribe")


async def _ours(ws: websockets.ClientConnection) -> list[dict[str, object]]:
    """Lines until one holds the test's trade; its trades of the test."""
    while True:
        trades = json.loads(await ws.recv())["result"]["trades"]
        ours = [t for t in trades if t["price"] == str(PRICE)]
        if ours:
            return ours


def _server_side_tasks() -> list[str]:
    return [
        name
        for task in asyncio.all_tasks()
        if (name := getattr(task.get_coro(), "__qualname__", ""))
        and ("run_asgi" in name or "vega" in name.lower() or "_read_until_gone" in name)
    ]


async def test_idle_streams_own_no_task_and_still_get_lines_pongs_and_a_release(
    start_server: ServerFactory,
) -> None:
    server = await start_server(vega_block_time=60)
    feed = services_of(server.app).service(VegaFeed)
    clients = [await websockets.connect(_url(server)) for _ in range(8)]
    try:
        streams = await _subscribed(feed, 8)
        assert all(stream.detached for stream in streams)
        assert _server_side_tasks() == []
        trade = Trade(MARKET, "detached-1", PRICE, 5, Side.BUY, 1, party_id(0), party_id(1))
        await server.node.publish([trade])
        feed.close_block()
        assert server.node.pressure.backlogged()  # queued, not yet written: a source may wait
        for ws in clients:
            (item,) = await _ours(ws)
            assert item["size"] == "5" and item["buyer"] == party_id(0)
        for _ in range(200):
            if not feed.backlogged():
                break
            await asyncio.sleep(0.01)
        assert not server.node.pressure.backlogged()
        await asyncio.wait_for(await clients[0].ping(b"hi"), 5)  # the protocol answers
        assert _server_side_tasks() == []
    finally:
        for ws in clients:
            await ws.close()
    for _ in range(200):
        if not server.node.connections and not feed.subscribers:
            break
        await asyncio.sleep(0.02)
    assert not server.node.connections and not feed.subscribers
    assert feed.addresses.count("127.0.0.1") == 0


@pytest.mark.parametrize("queued", [0, 3])
async def test_a_server_side_close_sends_the_failure_line_then_drops_tcp(
    start_server: ServerFactory, queued: int
) -> None:
    """Shutdown or an operator's disconnect: what was queued, the node's Internal line, then
    FIN without a close frame (as before detaching, and as the data-node does)."""
    server = await start_server(vega_block_time=60)
    feed = services_of(server.app).service(VegaFeed)
    async with websockets.connect(_url(server)) as ws:
        (stream,) = await _subscribed(feed, 1)
        assert stream.detached
        registry = server.node.metrics.registry
        metered = registry.get_sample_value("tickcast_messages_delivered_total") or 0.0
        for n in range(queued):
            trade = Trade(MARKET, f"q-{n}", PRICE, 1, Side.SELL, n + 1, party_id(2), party_id(3))
            await server.node.publish([trade])
            feed.close_block()
        await asyncio.wait_for(stream.close(1012, "restart", retry=True), 10)
        got = lines = 0
        while True:
            message = json.loads(await ws.recv())
            lines += 1
            if "error" in message:
                break
            got += sum(1 for t in message["result"]["trades"] if t["price"] == str(PRICE))
        assert got == queued
        assert message["error"]["details"][0]["message"] == "internal stream failure"
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
        assert closed.value.rcvd is None  # no close frame: TCP dropped
    assert stream.id not in server.node.connections
    assert id(stream) not in feed.subscribers
    assert stream.messages == lines  # counted per line, framed chunks or not
    assert registry.get_sample_value("tickcast_messages_delivered_total") == metered + lines

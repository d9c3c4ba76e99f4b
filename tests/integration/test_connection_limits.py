"""One per-user connection limit for every dialect, across keys and nodes (server/limits.py).

Two in-process nodes share a real redis-server (bus and connection counts) and one store. One
user's two keys, used on both nodes and on several dialects, hold exactly the plan's slots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import RunningServer, ServerFactory
from tests.integration.cm_dialect.helpers import wait_for
from tests.integration.predictions_helpers import authenticated, recv_json, ws_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tickcast.model import Market, MarketKind
from tickcast.server.limits import Pool

MARKET = Market("binance-btc-usdt-spot", "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 5)


async def gateways(start: ServerFactory, redis_url: str, tmp_path: Path) -> list[RunningServer]:
    shared = str(tmp_path / "shared")
    nodes = [await start(bus=redis_url, data_dir=shared, sources="none") for _ in range(2)]
    for server in nodes:
        server.node.catalog.add(MARKET)
    return nodes


def cm_url(server: RunningServer, key: str) -> str:
    return (
        f"ws://{server.host}:{server.port}/v4/timeseries-stream/market-trades"
        f"?api_key={key}&markets={MARKET.id}"
    )


async def cm_refusal(server: RunningServer, key: str) -> str:
    async with connect(cm_url(server, key)) as ws:
        message = json.loads(await ws.recv())
    return str(message["error"]["type"])


async def test_two_keys_of_one_user_share_the_streams_limit_across_nodes_and_dialects(
    start_server: ServerFactory, redis_url: str, tmp_path: Path
) -> None:
    """Free plan, 2 connections: Coin Metrics on A with key 1 and on B with key 2 hold both
    slots; a third is refused on either node, with either key, on Coin Metrics and native alike,
    until one closes."""
    a, b = await gateways(start_server, redis_url, tmp_path)
    store = a.node.store
    await store.ensure_user("ann", "free")
    first, _ = await store.create_key(user="ann")
    second, _ = await store.create_key(user="ann")
    held: list[ClientConnection] = [
        await connect(cm_url(a, first)),
        await connect(cm_url(b, second)),
    ]
    try:
        assert a.node.limits.total(Pool.STREAMS) == b.node.limits.total(Pool.STREAMS) == 1
        assert await cm_refusal(a, second) == "too_many_connections"
        assert await cm_refusal(b, first) == "too_many_connections"
        with pytest.raises(InvalidStatus) as refused:
            await connect(b.ws, additional_headers={"X-API-Key": first})
        assert json.loads(refused.value.response.body)["status_code"] == 1007
        await held.pop(0).close()
        await wait_for(lambda: b.node.limits.count(Pool.STREAMS, "ann") == 1)
        held.append(await connect(b.ws, additional_headers={"X-API-Key": first}))
        assert b.node.limits.total(Pool.STREAMS) == 2
    finally:
        for ws in held:
            await ws.close()


async def test_a_prediction_cap_holds_across_keys_and_nodes(
    start_server: ServerFactory, redis_url: str, tmp_path: Path
) -> None:
    """A plan's explicit ``max_prediction_connections`` is per user and cluster-wide."""
    a, b = await gateways(start_server, redis_url, tmp_path)
    store = a.node.store
    await store.ensure_user("pia", "pro")
    await store.set_user_overrides("pia", {"max_prediction_connections": 2})
    first, _ = await store.create_key(user="pia")
    second, _ = await store.create_key(user="pia")
    held = [await authenticated(ws_url(a.http), first), await authenticated(ws_url(b.http), second)]
    try:
        for server, key in ((a, second), (b, first)):
            async with connect(ws_url(server.http)) as ws:
                await ws.send(key)
                assert await recv_json(ws) == {
                    "status": "error",
                    "message": "Connection limit exceeded.",
                }
    finally:
        for ws in held:
            await ws.close()

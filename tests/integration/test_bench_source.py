"""The benchmark source over the wire, shared batches end to end, and idle connections."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import socketio
from tests.integration.wire import recv
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tickcast.dialects.native.endpoint.connection import NativeConnection

STREAM = "trades:bench-btc-usd-spot"


async def test_bench_trades_carry_dense_seq_and_end_with_t_ns(start_server) -> None:
    """Subscribable by URL; with ``publish_stamps`` every Update has the next seq and ends with
    the monotonic publish time ``t_ns``. Plans apply to a benchmark server too: a key of the
    ``bench`` plan opens more connections than pro's 10, a pro key does not."""
    server = await start_server(sources="bench:rate=400", publish_stamps=True)
    assert server.node.sources[0].pressure is server.node.pressure  # type: ignore[attr-defined]
    key = await server.key("bench", user="bench")
    url = f"{server.ws}?api_key={key}&streams={STREAM}"
    async with connect(url) as first, connect(url) as second:
        extra = [await connect(url) for _ in range(10)]  # 12 connections of one bench user
        try:
            for ws in (first, second):
                assert (await recv(ws))["type"] == "Subscribed"
            raws: list[str] = []
            while len(raws) < 40:
                raw = await asyncio.wait_for(first.recv(), 5)
                assert isinstance(raw, str)
                raws.append(raw)
            messages = [json.loads(raw) for raw in raws]
            seqs = [m["seq"] for m in messages]
            assert seqs == list(range(seqs[0], seqs[0] + 40))
            now = time.monotonic_ns()
            for raw, message in zip(raws, messages, strict=True):
                assert message["stream"] == STREAM
                assert list(message)[-1] == "t_ns" and "t_ns" not in message["data"]
                assert raw.endswith(f',"t_ns":{message["t_ns"]}}}')
                assert 0 < now - message["t_ns"] < 10_000_000_000
                assert 140 <= len(raw) <= 220
            # the second connection shares the first's batches: the same updates
            other = [(await recv(second))["seq"] for _ in range(40)]
            assert other[0] <= seqs[-1] and other == list(range(other[0], other[0] + 40))
        finally:
            for ws in extra:  # they never read: drop them instead of a closing handshake
                ws.transport.abort()
    assert server.node.hub.batches_written > 0
    pro = await server.key("pro", user="pro-bench")
    held = [await connect(f"{server.ws}?api_key={pro}&streams={STREAM}") for _ in range(10)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{server.ws}?api_key={pro}&streams={STREAM}")
        assert refused.value.response.status_code == 400
    finally:
        for ws in held:
            ws.transport.abort()


async def test_idle_connections_own_no_task(start_server) -> None:
    """After the handshake a native connection is driven by callbacks: no ASGI task, reader or
    writer task stays alive per idle connection (the idle-memory design)."""
    server = await start_server(sources="bench:rate=1")
    key = await server.key("pro", user="idle")
    clients = []
    try:
        for _ in range(8):
            ws = await connect(f"{server.ws}?api_key={key}&streams={STREAM}")
            clients.append(ws)
            assert (await recv(ws))["type"] == "Subscribed"
        for _ in range(60):
            if len(server.node.connections) == 8:
                break
            await asyncio.sleep(0.05)
        connections = list(server.node.connections.values())
        assert len(connections) == 8
        assert all(isinstance(c, NativeConnection) and c.detachable for c in connections)
        await asyncio.sleep(0.1)
        server_side = [
            name
            for task in asyncio.all_tasks()
            if (name := getattr(task.get_coro(), "__qualname__", ""))
            and ("run_asgi" in name or "NativeConnection" in name)
        ]
        assert server_side == []
        # a Ping still gets its Pong, and closing releases the slot
        await clients[0].send(json.dumps({"type": "Ping", "id": 7}))
        assert (await recv(clients[0]))["type"] == "Pong"
    finally:
        for ws in clients:
            await ws.close()
    for _ in range(100):
        if not server.node.connections:
            break
        await asyncio.sleep(0.02)
    assert not server.node.connections
    assert server.node.hub.subscriber_count() == 0


async def test_socketio_feed_writes_one_batch_to_every_websocket_client(start_server) -> None:
    """Feed updates reach websocket clients through the shared batch path, in order: with
    ``publish_stamps`` each carries the next ``seq`` (dense) and its publish time. The bench
    plan lifts the feed's limit of 2 connections per user (three clients here)."""
    server = await start_server(sources="bench:rate=300,tickers=1", publish_stamps=True)
    key = await server.key("bench", user="feed")
    received: list[list[int]] = [[], [], []]
    stamps: list[int] = []
    clients = [socketio.AsyncClient(reconnection=False) for _ in range(3)]
    for index, client in enumerate(clients):
        seqs = received[index]

        async def on_update(data: dict[str, object], seqs: list[int] = seqs) -> None:
            assert list(data)[-2:] == ["seq", "t_ns"]
            seqs.append(int(str(data["seq"])))
            stamps.append(int(str(data["t_ns"])))

        client.on("price-update", on_update, namespace="/api-ws")
        await client.connect(
            server.http,
            namespaces=["/api-ws"],
            auth={"apiKey": key},
            transports=["websocket"],
            wait_timeout=10,
        )
    try:
        async with asyncio.timeout(10):
            while min(len(seqs) for seqs in received) < 60:
                await asyncio.sleep(0.02)
        feed_connections = [
            c for c in server.node.connections.values() if c.dialect == "socketio-feed"
        ]
        assert len(feed_connections) == 3
        assert all(getattr(c, "direct", False) for c in feed_connections)  # no emit loop
    finally:
        for client in clients:
            await client.disconnect()
    for seqs in received:
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    common = set(received[0]) & set(received[1]) & set(received[2])
    assert len(common) >= 30
    assert 0 < time.monotonic_ns() - max(stamps) < 10_000_000_000

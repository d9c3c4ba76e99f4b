"""Heartbeats, idle close, graceful shutdown and every stream kind over /api/v1/ws."""

from __future__ import annotations

import asyncio
import base64
import json
import os

from tests.integration.wire import recv, recv_until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def test_native_pings_and_closes_a_silent_client(start_server) -> None:
    """The server pings every ping_interval and drops a client that never answers."""
    server = await start_server(sources="none", ping_interval=0.3, idle_timeout=1.0)
    key = await server.key("pro")
    reader, writer = await asyncio.open_connection(server.host, server.port)
    nonce = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /api/v1/ws HTTP/1.1\r\nHost: {server.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\n"
            f"Sec-WebSocket-Version: 13\r\nX-API-Key: {key}\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101")
    opcodes: list[int] = []
    async with asyncio.timeout(10):
        while True:
            first = await reader.read(2)
            if len(first) < 2:
                break
            length = first[1] & 0x7F
            await reader.readexactly(length)
            opcodes.append(first[0] & 0x0F)
            if opcodes[-1] == 0x8:
                break
    writer.close()
    assert 0x9 in opcodes, "no ping was sent"
    # reaching this line means the server ended the connection (close frame or EOF) in time
    assert set(opcodes) <= {0x8, 0x9}


async def test_native_shutdown_sends_closing_then_1012(start_server) -> None:
    """On shutdown every client gets Closing(1012, retry=true) and the close frame 1012."""
    server = await start_server(sources="none")
    key = await server.key("pro")
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        await server.node.close_connections(1012, "server restart")
        closing, _ = await recv_until(ws, lambda m: m["type"] == "Closing")
        assert closing == {
            "type": "Closing",
            "code": 1012,
            "reason": "server restart",
            "retry": True,
        }
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1012


async def test_native_every_stream_kind_flows(start_server) -> None:
    """Quotes, tickers, metrics, orders and positions (party-filtered) all stream."""
    server = await start_server(sources="simulator:stress")
    key = await server.key("pro")
    market = "binance-btc-usdt-spot"
    streams = [
        f"quotes:{market}",
        "ticker:btc",
        "metrics:btc",
        f"orders:{market}",
        f"positions:{market}",
    ]
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        await ws.send(json.dumps({"type": "Subscribe", "id": 1, "streams": streams}))
        assert (await recv(ws))["type"] == "Subscribed"
        snapshots: dict[str, dict[str, object]] = {}
        updates: dict[str, dict[str, object]] = {}
        async with asyncio.timeout(20):
            while len(updates) < len(streams):
                message = await recv(ws)
                if message["type"] == "Snapshot":
                    assert message["stream"] not in updates, "Snapshot after an Update"
                    snapshots[message["stream"]] = message
                elif message["type"] == "Update":
                    assert message["stream"] in snapshots, "Update before its Snapshot"
                    updates[message["stream"]] = message["data"]
    assert set(snapshots) == set(streams)
    assert {"price", "change_24h", "change_pct_24h", "volume_24h"} <= set(updates["ticker:btc"])
    assert updates["metrics:btc"]["metric"] in ("PriceUSD", "ReferenceRateUSD")
    assert {"bid_price", "ask_price"} <= set(updates[f"quotes:{market}"])
    order = updates[f"orders:{market}"]
    party = order["party"]
    assert len(party) == 64 and int(party, 16) >= 0
    assert {"open_volume", "average_entry", "realised_pnl", "unrealised_pnl"} <= set(
        updates[f"positions:{market}"]
    )
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        await ws.send(
            json.dumps(
                {"type": "Subscribe", "id": 2, "streams": [f"orders:{market}"], "party": party}
            )
        )
        assert (await recv(ws))["type"] == "Subscribed"
        snapshot = await recv(ws)
        assert all(o["party"] == party for o in snapshot["data"]["orders"])
        for _ in range(5):
            update, _ = await recv_until(ws, lambda m: m["type"] == "Update", timeout=30)
            assert update["data"]["party"] == party

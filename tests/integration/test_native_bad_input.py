"""Bad input on /api/v1/ws gets the documented answer and never disturbs other clients."""

from __future__ import annotations

import asyncio
import json

from tests.integration.wire import ASSETS, recv, recv_until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

STREAM = "trades:binance-btc-usdt-spot"


async def watcher_receives(server, key: str) -> None:
    """Another client on the same server still gets live updates."""
    async with connect(
        f"{server.ws}?streams={STREAM}", additional_headers={"X-API-Key": key}
    ) as ws:
        update, _ = await recv_until(ws, lambda m: m["type"] == "Update", timeout=15)
        assert update["stream"] == STREAM


async def test_native_bad_messages_get_errors_and_keep_the_connection(start_server) -> None:
    """Non-JSON, non-object, unknown type, bad fields and unknown streams: answered, not closed."""
    server = await start_server(sources="simulator:rate=2000")
    key = await server.key("pro")
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        for text in (
            "not json",
            "[1,2]",
            '{"type":"Dance"}',
            '{"type":"Subscribe","id":1}',
            '{"type":"Subscribe","id":1,"streams":["trades:x"],"depth":-1}',
        ):
            await ws.send(text)
            reply = await recv(ws)
            assert reply["type"] == "InvalidMessage" and reply["reason"]
        for stream in ("trades:nowhere-btc-usd-spot", "nonsense", "ticker:zzz", "candles:x:1m"):
            await ws.send(json.dumps({"type": "Subscribe", "id": 9, "streams": [stream]}))
            reply = await recv(ws)
            assert reply == {
                "type": "Error",
                "id": 9,
                "code": "unknown_stream",
                "message": reply["message"],
            }
        await ws.send(json.dumps({"type": "Ping", "id": "still-here"}))
        assert await recv(ws) == {"type": "Pong", "id": "still-here"}
    await watcher_receives(server, key)


async def test_native_oversize_frame_closes_with_1009(start_server) -> None:
    """A frame above max_message_bytes closes that connection with 1009 only."""
    server = await start_server(sources="simulator:rate=2000", max_message_bytes=4096)
    key = await server.key("pro")
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        await ws.send("x" * 10_000)
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1009
        else:
            raise AssertionError("connection stayed open after an oversize frame")
    await watcher_receives(server, key)


async def test_native_subscribe_flood_is_rate_limited_then_closed(start_server) -> None:
    """A flood of Subscribes gets rate_limited errors, then Closing and close 1008."""
    server = await start_server(sources="simulator:rate=2000")
    key = await server.key("pro")
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        message = json.dumps({"type": "Subscribe", "id": 1, "streams": [STREAM]})
        for _ in range(400):
            await ws.send(message)
        seen: list[dict[str, object]] = []
        try:
            async with asyncio.timeout(15):
                while True:
                    seen.append(json.loads(await ws.recv()))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1008
        codes = {m.get("code") for m in seen if m["type"] == "Error"}
        assert "rate_limited" in codes
        closing = [m for m in seen if m["type"] == "Closing"]
        assert closing == [
            {"type": "Closing", "code": 1008, "reason": "rate limit exceeded", "retry": False}
        ]
    await watcher_receives(server, key)


async def test_native_subscription_limit(start_server) -> None:
    """More streams than the plan's max_subscriptions is refused whole."""
    server = await start_server(sources="simulator:rate=100")
    key = await server.key("free")
    streams = [f"trades:binance-{asset}-usdt-spot" for asset in ASSETS]
    streams += ["ticker:btc"]
    async with connect(server.ws, additional_headers={"X-API-Key": key}) as ws:
        await ws.send(json.dumps({"type": "Subscribe", "id": 4, "streams": streams}))
        reply = await recv(ws)
        assert reply["type"] == "Error" and reply["code"] == "subscription_limit"
        await ws.send(json.dumps({"type": "Subscribe", "id": 5, "streams": streams[:20]}))
        assert (await recv(ws))["type"] == "Subscribed"

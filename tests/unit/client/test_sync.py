"""SyncClient: the blocking facade, driven from a worker thread while the fake server serves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tickcast.client import SyncClient, Update
from tickcast.dialects.native.wire import protocol as native
from tickcast.errors import InvalidApiKey
from tickcast.model import StreamPosition

TRADES = "trades:binance-btc-usdt-spot"
TRADE = {"id": "1", "price": "100.00", "size": "1.000", "side": "buy", "time": "t"}


async def test_sync_client_iterates_messages_blocking(server: Any) -> None:
    """`for msg in c.subscribe(...)` yields updates; leaving the loop unsubscribes."""
    unsubscribed = asyncio.Event()

    async def script(conn: Any) -> None:
        request = await conn.expect("Subscribe")
        await conn.subscribed(request, {TRADES: 5})
        await conn.update(TRADES, 6, TRADE)
        await conn.update(TRADES, 7, TRADE)
        await conn.expect("Unsubscribe")
        unsubscribed.set()
        ping = await conn.expect("Ping")
        await conn.send(native.pong_frame(ping["id"]))

    def run() -> tuple[list[Any], dict[str, StreamPosition]]:
        with SyncClient(server.url, server.key) as c:
            received = []
            for message in c.subscribe([TRADES], timeout=5):
                received.append(message)
                if len(received) == 2:
                    positions = c.positions
                    break
            assert c.ping() >= 0
            return received, positions

    server.scripts.append(script)
    received, positions = await asyncio.to_thread(run)
    assert received == [Update(TRADES, 6, TRADE), Update(TRADES, 7, TRADE)]
    assert positions == {TRADES: StreamPosition(7, "e1")}
    async with asyncio.timeout(5):
        await unsubscribed.wait()


async def test_sync_client_timeout_raises(server: Any) -> None:
    """No message within `timeout` raises TimeoutError."""

    def run() -> None:
        with SyncClient(server.url, server.key) as c:
            for _ in c.subscribe([TRADES], timeout=0.05):
                pass

    with pytest.raises(TimeoutError):
        await asyncio.to_thread(run)


async def test_sync_client_auth_failure_raises(server: Any) -> None:
    """A refused key raises InvalidApiKey from the `with` statement."""

    def run() -> None:
        with SyncClient(server.url, "wrong-key"):
            pass

    with pytest.raises(InvalidApiKey):
        await asyncio.to_thread(run)

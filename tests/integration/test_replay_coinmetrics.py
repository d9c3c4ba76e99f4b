"""A replayed Binance capture over the Coin Metrics dialect: the recorded trades exactly and in
order, and an order book that equals the capture's rebuilt book after every message."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from tests.conftest import ServerFactory
from tests.integration.capture import SPOT, SPOT_MARKET, Book, read_spot
from websockets.asyncio.client import ClientConnection, connect

BIG_OUTBOX = 16 * 1024 * 1024


def apply(book: Book, message: dict[str, Any]) -> Book:
    """A Coin Metrics market-orderbooks message applied to a (bids, asks) book."""
    bids, asks = ({}, {}) if message["type"] == "snapshot" else (dict(book[0]), dict(book[1]))
    for side, levels in ((bids, message["bids"]), (asks, message["asks"])):
        for level in levels:
            price, size = Decimal(level["price"]), Decimal(level["size"])
            if size == 0:
                side.pop(price, None)
            else:
                side[price] = size
    return bids, asks


async def receive(ws: ClientConnection, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(messages) < count:
            message = json.loads(await ws.recv())
            assert "error" not in message, message
            if "warning" not in message:
                messages.append(message)
    return messages


async def test_replay_streams_the_capture_over_coinmetrics(start_server: ServerFactory) -> None:
    capture = read_spot()
    server = await start_server(
        sources=(f"replay:{SPOT},speed=max,wait=2",), outbox_bytes=BIG_OUTBOX
    )
    key = await server.key("pro")
    base = f"{server.ws.replace('/api/v1/ws', '')}/v4/timeseries-stream"
    query = f"markets={SPOT_MARKET}&api_key={key}"
    async with (
        connect(f"{base}/market-trades?{query}&backfill=none", max_size=None) as trades_ws,
        connect(f"{base}/market-orderbooks?{query}&depth_limit=full_book", max_size=None) as b_ws,
    ):
        # The initial (empty) snapshot, then one message per book state of the capture.
        books, trades = await asyncio.gather(
            receive(b_ws, len(capture.books) + 1), receive(trades_ws, len(capture.trades))
        )
    assert [int(m["cm_sequence_id"]) for m in trades] == list(range(len(trades)))
    got = [
        {
            "id": m["coin_metrics_id"],
            "price": Decimal(m["price"]),
            "size": Decimal(m["amount"]),
            "side": m["side"],
            "time": m["time"],
            "market": m["market"],
        }
        for m in trades
    ]
    assert got == [trade | {"market": SPOT_MARKET} for trade in capture.trades]
    assert books[0]["type"] == "snapshot" and books[0]["bids"] == books[0]["asks"] == []
    state: Book = ({}, {})
    states = []
    for message in books[1:]:
        state = apply(state, message)
        states.append(state)
    assert books[1]["type"] == "snapshot"
    for step, (actual, expected) in enumerate(zip(states, capture.books, strict=True)):
        assert actual == expected, f"book differs at step {step}"

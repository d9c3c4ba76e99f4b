"""A block far bigger than a stream's budget (issue 20 point 5): a fast reader gets it whole,
a reader that does not read is still cut (real server, real sockets; blocks closed by hand)."""

from __future__ import annotations

import asyncio
import json
import socket

import websockets
from tests.conftest import RunningServer, ServerFactory

from tickcast.dialects.vega.endpoint.feed import VegaFeed
from tickcast.dialects.vega.endpoint.stream import VegaStream
from tickcast.dialects.vega.wire.ids import market_hex
from tickcast.model import Side, Trade
from tickcast.server.services import services_of
from tickcast.sources.parties import party_id

MARKET = "binance-btc-usdt-spot"
BIG = 10_000
PRICE, SIZE = 1_234_567, 7_777_777
"""Marks the test's trades among the simulator's."""


def _trades(batch: int) -> list[Trade]:
    buyer, seller = party_id(0), party_id(1)
    return [
        Trade(MARKET, f"big-{batch}-{n}", PRICE, SIZE, Side.BUY, n + 1, buyer, seller)
        for n in range(BIG)
    ]


async def _ours(ws: websockets.ClientConnection, want: int) -> int:
    """Read lines until ``want`` of the test's trades arrived; returns how many lines."""
    got = lines = 0
    while got < want:
        lines += 1
        trades = json.loads(await ws.recv())["result"]["trades"]
        got += sum(1 for t in trades if t["price"] == str(PRICE) and t["size"] == str(SIZE))
    assert got == want
    return lines


def _stalled(server: RunningServer, path: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    sock.sendall(
        f"GET /api/v2/stream/{path} HTTP/1.1\r\nHost: {server.host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += sock.recv(1)  # the headers only, byte by byte: nothing of the stream
    assert reply.startswith(b"HTTP/1.1 101")
    return sock


async def _subscribed(feed: VegaFeed, count: int) -> list[VegaStream]:
    for _ in range(500):
        streams = [s for s in feed.subscribers.values() if isinstance(s, VegaStream)]
        if len(streams) == count:
            return streams
        await asyncio.sleep(0.01)
    raise AssertionError("streams did not subscribe")


async def test_a_fast_reader_gets_a_10000_trade_block_whole_and_a_stalled_one_is_cut(
    start_server: ServerFactory,
) -> None:
    budget = 256 * 1024  # a block of 10,000 trades is ~10x this
    server = await start_server(vega_block_time=60, outbox_bytes=budget)
    feed = services_of(server.app).service(VegaFeed)
    path = f"trades?marketIds={market_hex(MARKET)}"
    url = f"ws://{server.host}:{server.port}/api/v2/stream/{path}"
    async with websockets.connect(url, max_size=None) as fast:
        stalled_sock = await asyncio.to_thread(_stalled, server, path)
        try:
            streams = await _subscribed(feed, 2)
            port = stalled_sock.getsockname()[1]
            (stalled,) = [s for s in streams if s.remote.endswith(f":{port}")]
            (reader,) = [s for s in streams if s is not stalled]
            await server.node.publish(_trades(1))
            feed.close_block()
            assert not reader.ended and not stalled.ended  # both were up to date
            assert await _ours(fast, BIG) >= BIG // 50  # whole, in lines of at most 50
            assert stalled.slices.unread_bytes > budget  # it read nothing of the block
            await server.node.publish(_trades(2))
            feed.close_block()
            assert stalled.ended and not reader.ended
            await _ours(fast, BIG)  # the fast reader goes on
        finally:
            stalled_sock.close()

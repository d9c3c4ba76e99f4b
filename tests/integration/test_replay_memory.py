"""Resume replay obeys the outbox budget: clients that resume many streams and never read cost
the server their outbox budget plus a small constant, not their whole replay (issue 15, point 2).
"""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import psutil
from tests.integration.wire import client_frame, raw_websocket, recv
from websockets.asyncio.client import connect

from tickcast.dialects.native.endpoint.connection import NativeConnection
from tickcast.model import Market, MarketKind, Side, Trade

STREAMS = 50
EVENTS = 2000
CLIENTS = 8
OUTBOX = 1 << 20
PER_CONNECTION_MIB = 3
"""The documented constant (docs/delivery.md): besides its outbox, a resuming connection holds a
reference per event still to replay (8 bytes) and up to two write chunks in the transport."""


def _markets() -> list[Market]:
    return [
        Market(f"acme-m{i}-usd-spot", "acme", MarketKind.SPOT, f"m{i}", "usd", f"M{i}USD", 2, 3)
        for i in range(STREAMS)
    ]


async def _fill_history(server: Any, markets: list[Market]) -> None:
    for market in markets:
        server.node.catalog.add(market)
    for start in range(0, EVENTS, 40):
        await server.node.publish_envelopes(
            [
                Trade(m.id, f"t{n}", 10_000 + n, 1_000, Side.BUY, 1_767_225_600_000_000_000 + n)
                for n in range(start, start + 40)
                for m in markets
            ]
        )


def _resume(markets: list[Market], epoch: str) -> bytes:
    streams = [f"trades:{m.id}" for m in markets]
    start = {stream: {"epoch": epoch, "seq": 0} for stream in streams}
    return json.dumps({"type": "Subscribe", "id": 1, "streams": streams, "from": start}).encode()


def _stalled(server: Any) -> bool:
    """Every connection's writer waits for its transport (the client reads nothing)."""
    connections = [c for c in server.node.connections.values() if isinstance(c, NativeConnection)]
    return len(connections) == CLIENTS and all(
        len(c.outbox) and c.direct_sink() is not None and c.direct_sink().on_drain is not None
        for c in connections
    )


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def test_non_reading_resumers_stay_within_the_outbox_budget(start_server: Any) -> None:
    server = await start_server(sources="none", outbox_bytes=OUTBOX, history_size=EVENTS)
    markets = _markets()
    await _fill_history(server, markets)
    epoch = (await server.node.bus.position(f"trades:{markets[0].id}")).epoch
    headers = {"X-API-Key": server.admin_key}
    # the durable history's writer thread must be done with the fill before the baseline: its
    # queue and SQLite's cache would otherwise shrink or grow inside the measured window
    assert server.node.history is not None
    assert await server.node.history.flushed(within=60)
    baseline = _rss()
    writers = []
    for _ in range(CLIENTS):
        _, writer, head = await raw_websocket(server.host, server.port, "/api/v1/ws", headers)
        assert head.startswith(b"HTTP/1.1 101")
        writer.write(client_frame(0x1, _resume(markets, epoch)))
        writers.append(writer)
    async with asyncio.timeout(30):
        while not _stalled(server):
            await asyncio.sleep(0.05)
    grown = _rss() - baseline
    for connection in server.node.connections.values():
        assert connection.outbox.pending_bytes <= OUTBOX + 4096  # + the Subscribed reply
    assert grown < CLIENTS * (OUTBOX + PER_CONNECTION_MIB * 2**20), grown / 2**20
    print(f"RSS growth with {CLIENTS} stalled resumers: {grown / 2**20:.1f} MiB")
    for writer in writers:
        writer.close()
    await _reader_gets_everything(server, markets, epoch)


async def _reader_gets_everything(server: Any, markets: list[Market], epoch: str) -> None:
    """A client that reads gets the whole replay, in order, without a gap (paged, not cut)."""
    headers = {"X-API-Key": server.admin_key}
    last = {f"trades:{m.id}": 0 for m in markets}
    async with connect(server.ws, additional_headers=headers, max_size=None) as ws:
        await ws.send(_resume(markets, epoch).decode())
        assert (await recv(ws))["type"] == "Subscribed"
        async with asyncio.timeout(30):
            for _ in range(STREAMS * EVENTS):
                message = json.loads(await ws.recv())
                assert message["type"] == "Update", message
                assert message["seq"] == last[message["stream"]] + 1
                last[message["stream"]] = message["seq"]
    assert set(last.values()) == {EVENTS}

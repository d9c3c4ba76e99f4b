"""The Vega documentation's sample client (websocket-client + rel, ``run_forever(dispatcher=rel,
reconnect=5)``) against tickcast, in a subprocess, including a server restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import SamePortServers, ServerFactory

from tickcast.sources.parties import party_id

SAMPLE = Path(__file__).with_name("vega_sample.py")
BLOCK = 0.2
TAKER = party_id(4)
"""A taker: it trades on a third of the markets, so most trades are someone else's."""
MAKER = party_id(0)
"""A market maker: hundreds of live orders (its seeded ladders), so several snapshot pages."""


class Sample:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def message(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert line, "the sample exited"
        message: dict[str, Any] = json.loads(line)
        return message


@asynccontextmanager
async def sample(url: str, env: dict[str, str] | None = None) -> AsyncIterator[Sample]:
    """The sample in a subprocess; ``env`` adds environment variables (e.g. a CA bundle)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-u", str(SAMPLE), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:
        yield Sample(process)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _market_ids(base: str) -> list[str]:
    async with httpx.AsyncClient() as client:
        reply = await client.get(f"{base}/api/v2/markets")
    assert reply.status_code == 200
    return [edge["node"]["id"] for edge in reply.json()["markets"]["edges"]]


async def test_sample_streams_one_partys_trades_across_a_server_restart(
    same_port_servers: SamePortServers,
) -> None:
    server = await same_port_servers.start(vega_block_time=BLOCK)
    markets = await _market_ids(server.http)
    url = f"ws://127.0.0.1:{server.port}/api/v2/stream/trades?partyIds={TAKER}"
    async with sample(url) as client:
        before = [await client.message() for _ in range(3)]
        await same_port_servers.stop()
        server = await same_port_servers.start(vega_block_time=BLOCK)
        # the node's last word before it went away, then (after 5 s) the new server's trades
        failure = await client.message()
        assert failure["error"]["code"] == 13
        after = [await client.message(timeout=20) for _ in range(2)]
    assert await _market_ids(server.http) == markets  # ids are stable across restarts
    for message in before + after:
        trades = message["result"]["trades"]
        assert 1 <= len(trades) <= 50
        for trade in trades:
            assert TAKER in (trade["buyer"], trade["seller"])
            assert trade["marketId"] in markets
            assert isinstance(trade["size"], str) and trade["aggressor"] in (1, 2)


async def test_sample_gets_a_partys_live_orders_as_pages_then_updates(
    start_server: ServerFactory,
) -> None:
    server = await start_server(vega_block_time=BLOCK)
    url = f"ws://127.0.0.1:{server.port}/api/v2/stream/orders?partyIds={MAKER}"
    async with sample(url) as client:
        pages = [await client.message()]
        while "lastPage" not in pages[-1]["result"]["snapshot"]:
            pages.append(await client.message())
        updates = [await client.message() for _ in range(3)]
    assert len(pages) >= 2
    snapshot = [page["result"]["snapshot"] for page in pages]
    assert [len(page["orders"]) for page in snapshot[:-1]] == [50] * (len(pages) - 1)
    assert 1 <= len(snapshot[-1]["orders"]) <= 50 and snapshot[-1]["lastPage"] is True
    orders = [order for page in snapshot for order in page["orders"]]
    assert all(o["partyId"] == MAKER and o["status"] == 1 for o in orders)
    created = [int(o["createdAt"]) for o in orders]
    assert created == sorted(created, reverse=True)  # newest first
    for update in updates:
        items = update["result"]["updates"]["orders"]
        assert 1 <= len(items) <= 50
        assert all(o["partyId"] == MAKER for o in items)

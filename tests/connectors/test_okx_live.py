"""The shared runner driving the OKX v5 feed against a fake venue replaying a real connection.

Three instrument lists (spot, swaps, futures) make the markets; the feed checks OKX's own book
checksum on every message (a mismatch would be a resync); a native client checks tickcast's.
"""

from __future__ import annotations

import asyncio

from tests.conftest import ServerFactory
from tests.connectors.fake_venue import FakeVenue
from tests.connectors.okx_script import OkxScript
from tests.connectors.test_binance_live import BIG_OUTBOX

from tickcast.client import ChecksumMismatch, Client, Snapshot, Update
from tickcast.sources.connectors.runner import ConnectorSource

MARKETS = ["okx-btc-usdt-spot", "okx-UNI-USD-SWAP-future", "okx-BTC-USD-220527-future"]


async def test_okx_books_stream_with_every_checksum_holding(start_server: ServerFactory) -> None:
    script = OkxScript()
    venue = FakeVenue(script.frames, script, speed=20)
    await venue.start()
    try:
        symbols = "btc-usdt,UNI-USD-SWAP,BTC-USD-220527"
        spec = f"okx:{symbols},ws={venue.ws_url},rest={venue.rest_url}"
        server = await start_server(sources=(spec,), outbox_bytes=BIG_OUTBOX)
        source = server.node.sources[0]
        assert isinstance(source, ConnectorSource)
        assert [m.id for m in source.markets()] == MARKETS
        streams = [f"book:{market}" for market in MARKETS]
        expected = len(script.frames) + 9  # and one answer per (instrument, channel)
        seen: list[object] = []
        async with Client(server.ws, await server.key("pro")) as client:

            async def collect() -> None:
                async for message in client.subscribe(streams):
                    seen.append(message)

            task = asyncio.create_task(collect())
            try:
                async with asyncio.timeout(30):
                    while len(seen) < len(streams):
                        await asyncio.sleep(0.01)
                    venue.release()
                    await venue.done.wait()
                    while source.health.messages < expected:
                        await asyncio.sleep(0.02)
            finally:
                task.cancel()
        health = source.health.report()  # before the venue goes away
    finally:
        await venue.stop()
    updates = [m for m in seen if isinstance(m, Update)]
    assert len(updates) > 200 and all(m.checksum is not None for m in updates)
    assert not [m for m in seen if isinstance(m, ChecksumMismatch)]
    synced = {m.stream for m in seen if isinstance(m, Snapshot) and m.data["bids"]}
    assert synced == set(streams)
    assert (health["resyncs"], health["reconnects"], health["messages"]) == (0, 0, expected)

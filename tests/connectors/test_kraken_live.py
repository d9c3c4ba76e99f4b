"""The shared runner driving the Kraken v2 feed against a fake venue replaying real book frames.

A native SDK client takes the book; its top-10 CRC32 (tickcast's checksum, the same algorithm as
Kraken's) must end equal to the last checksum Kraken itself sent, with every Update verified.
"""

from __future__ import annotations

import asyncio

from tests.conftest import ServerFactory
from tests.connectors.fake_venue import FakeVenue
from tests.connectors.kraken_script import KrakenScript
from tests.connectors.test_binance_live import BIG_OUTBOX

from tickcast.client import ChecksumMismatch, Client, Update
from tickcast.sources.connectors.runner import ConnectorSource

MARKET = "kraken-btc-chf-spot"


async def test_kraken_book_ends_on_krakens_own_checksum(start_server: ServerFactory) -> None:
    script = KrakenScript({"BTC/CHF"})
    venue = FakeVenue(script.frames, script, speed=20)
    await venue.start()
    try:
        spec = f"kraken:XBT/CHF,ws={venue.ws_url},rest={venue.rest_url}"
        server = await start_server(sources=(spec,), outbox_bytes=BIG_OUTBOX)
        source = server.node.sources[0]
        assert isinstance(source, ConnectorSource)
        assert [m.id for m in source.markets()] == [MARKET]
        stream = f"book:{MARKET}"
        seen: list[object] = []
        async with Client(server.ws, await server.key("pro")) as client:

            async def collect() -> None:
                async for message in client.subscribe([stream]):
                    seen.append(message)

            task = asyncio.create_task(collect())
            try:
                async with asyncio.timeout(30):
                    while not seen:
                        await asyncio.sleep(0.01)
                    venue.release()
                    await venue.done.wait()
                    while client.book(stream).checksum() != script.checksums["BTC/CHF"]:
                        await asyncio.sleep(0.02)
            finally:
                task.cancel()
        health = source.health.report()  # before the venue goes away
    finally:
        await venue.stop()
    updates = [m for m in seen if isinstance(m, Update)]
    assert len(updates) > 100 and all(m.checksum is not None for m in updates)
    assert not [m for m in seen if isinstance(m, ChecksumMismatch)]
    assert (health["resyncs"], health["reconnects"], health["messages"]) == (0, 0, 290 + 3)
    # 290 book frames of BTC/CHF and the three subscription answers

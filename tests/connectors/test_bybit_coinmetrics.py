"""The official Coin Metrics client receiving a non-Binance venue's book: Bybit linear.

As ``test_binance_coinmetrics.py``: ``coinmetrics-api-client`` in a subprocess
(tests/integration/cm_dialect) reads a real tickcast server fed by the Bybit connector, which
reads the fake venue (frames generated from Bybit's docs) with a skipped delta (a break, an
empty reset, the snapshot Bybit answers the resubscription with). The client's book must end
equal to the venue's rebuild, and its top 10 must give the checksum the server stamped on its
last book event: zero mismatches.
"""

from __future__ import annotations

import asyncio

from tests.conftest import ServerFactory
from tests.connectors.bybit_script import BybitScript
from tests.connectors.fake_venue import FakeVenue, Faults
from tests.connectors.test_binance_coinmetrics import checksum, rebuild
from tests.connectors.test_binance_live import BIG_OUTBOX
from tests.connectors.test_bybit_live import MARKET, book_index
from tests.integration.cm_dialect.helpers import run_streams

from tickcast.model.events import BookDelta, BookSnapshot


async def test_coinmetrics_client_gets_the_bybit_book(start_server: ServerFactory) -> None:
    script = BybitScript()
    faults = Faults(skip=frozenset({book_index(script, 60)}))
    venue = FakeVenue(script.frames, script, faults=faults, speed=20)
    await venue.start()
    try:
        spec = f"bybit:BTCUSDT,ws={venue.ws_url},rest={venue.rest_url},stale=60"
        server = await start_server(sources=(spec,), outbox_bytes=BIG_OUTBOX)
        key = await server.key("pro")
        call = {
            "method": "get_stream_market_orderbooks",
            "kwargs": {"markets": MARKET, "depth_limit": "full_book", "backfill": "latest"},
            "count": 100_000,
            "seconds": 4.0,
        }
        client = asyncio.create_task(run_streams("127.0.0.1", server.port, key, [call]))
        async with asyncio.timeout(20):
            while server.node.hub.subscriber_count() == 0:
                await asyncio.sleep(0.02)
        venue.release()
        await venue.done.wait()
        [result] = await client
        market = server.node.catalog.get(MARKET)
        last = (await server.node.bus.history(f"book:{MARKET}"))[-1].event
    finally:
        await venue.stop()
    assert not result["errors"] and all("error" not in m for m in result["messages"])
    book, snapshots = rebuild(result["messages"])
    assert book == script.book()
    assert snapshots >= 4  # frame 0, the empty reset, the resubscription's, Bybit's u=1 restart
    assert isinstance(last, BookDelta | BookSnapshot) and last.checksum is not None
    assert checksum(book, market.price_decimals, market.size_decimals) == last.checksum

"""The official Coin Metrics client (``coinmetrics-api-client``) receiving a live connector's book.

The client runs in a subprocess (tests/integration/cm_dialect) against a real tickcast server fed
by the Binance USD-M connector, which reads the fake venue replaying a real capture with a
dropped connection. The client's book, rebuilt from its ``snapshot`` and ``update`` messages,
must end equal to the venue's own rebuild of the capture, and its top 10 levels must give the
checksum the server stamped on its last book event.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tests.conftest import ServerFactory
from tests.connectors.binance_script import BinanceScript
from tests.connectors.fake_venue import FakeVenue, Faults
from tests.connectors.test_binance_live import BIG_OUTBOX, USDM
from tests.integration.cm_dialect.helpers import run_streams

from tickcast.book import book_checksum
from tickcast.model.events import BookDelta, BookSnapshot
from tickcast.model.numbers import parse_fixed

Book = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]


def rebuild(messages: list[dict[str, Any]]) -> tuple[Book, int]:
    """The book after the Coin Metrics order-book messages, and how many snapshots came."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    snapshots = 0
    for message in messages:
        if message.get("type") == "snapshot":
            bids, asks = {}, {}
            snapshots += 1
        for side, levels in ((bids, message.get("bids", [])), (asks, message.get("asks", []))):
            for level in levels:
                price, size = Decimal(level["price"]), Decimal(level["size"])
                if size == 0:
                    side.pop(price, None)
                else:
                    side[price] = size
    return (bids, asks), snapshots


def checksum(book: Book, price_decimals: int, size_decimals: int) -> int:
    bids = [(parse_fixed(str(p), price_decimals), parse_fixed(str(s), size_decimals))
            for p, s in sorted(book[0].items(), reverse=True)[:10]]  # fmt: skip
    asks = [(parse_fixed(str(p), price_decimals), parse_fixed(str(s), size_decimals))
            for p, s in sorted(book[1].items())[:10]]  # fmt: skip
    return book_checksum(bids, asks, price_decimals=price_decimals, size_decimals=size_decimals)


async def test_coinmetrics_client_gets_the_resynchronised_book(start_server: ServerFactory) -> None:
    script = BinanceScript([USDM.capture], USDM.info, futures=True)
    venue = FakeVenue(script.frames, script, faults=Faults(drop_after=600, drop_lose=150), speed=20)
    await venue.start()
    try:
        # stale=60: the venue is silent after the capture; no reconnect while the client reads
        spec = f"binance-usdm:BTCUSDT,ws={venue.ws_url},rest={venue.rest_url},stale=60"
        server = await start_server(sources=(spec,), outbox_bytes=BIG_OUTBOX)
        key = await server.key("pro")
        call = {
            "method": "get_stream_market_orderbooks",
            "kwargs": {"markets": USDM.market, "depth_limit": "full_book", "backfill": "latest"},
            "count": 100_000,
            "seconds": 8.0,
        }
        client = asyncio.create_task(run_streams("127.0.0.1", server.port, key, [call]))
        async with asyncio.timeout(20):
            while server.node.hub.subscriber_count() == 0:
                await asyncio.sleep(0.02)
        venue.release()
        await venue.done.wait()
        [result] = await client
        market = server.node.catalog.get(USDM.market)
        last = (await server.node.bus.history(f"book:{USDM.market}"))[-1].event
    finally:
        await venue.stop()
    assert not result["errors"] and all("error" not in m for m in result["messages"])
    book, snapshots = rebuild(result["messages"])
    assert book == script.symbols["BTCUSDT"].book()
    assert snapshots >= 3  # the first, the empty one on the drop, the resynchronised one
    assert isinstance(last, BookDelta | BookSnapshot) and last.checksum is not None
    assert checksum(book, market.price_decimals, market.size_decimals) == last.checksum

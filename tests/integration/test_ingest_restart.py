"""An ingest node that restarts on the Redis bus continues every stream where it was."""

from __future__ import annotations

from pathlib import Path

from tickcast.book import OrderBook, book_checksum
from tickcast.config import load
from tickcast.model import BookDelta, BookSnapshot, Market, MarketKind
from tickcast.server.node import Node

MARKET = Market("acme-foo-usd-spot", "acme", MarketKind.SPOT, "foo", "usd", "FOOUSD", 2, 3)
BOOK = f"book:{MARKET.id}"


async def start_node(tmp_path: Path, redis_url: str) -> Node:
    config = load(
        environ={},
        overrides={
            "bus": redis_url,
            "role": "ingest",
            "sources": "none",
            "data_dir": str(tmp_path),
            "log_level": "warning",
        },
    )
    node = Node(config)
    node.catalog.add(MARKET)
    await node.start()
    return node


async def test_a_restarted_ingest_node_keeps_seqs_and_book_checksums(
    tmp_path: Path, redis_url: str
) -> None:
    first = await start_node(tmp_path, redis_url)
    snapshot = BookSnapshot(MARKET.id, ((10000, 1000), (9900, 500)), ((10100, 700),), 1)
    [published] = await first.publish_envelopes([snapshot])
    await first.stop()

    second = await start_node(tmp_path, redis_url)
    try:
        delta = BookDelta(MARKET.id, ((9950, 200),), (), 2)
        [envelope] = await second.publish_envelopes([delta])
        assert (envelope.seq, envelope.epoch) == (2, published.epoch)
        book = OrderBook()
        book.apply_snapshot(snapshot.bids, snapshot.asks)
        book.apply_delta(delta.bids, delta.asks)
        bids, asks = book.top(10)
        expected = book_checksum(bids, asks, price_decimals=2, size_decimals=3)
        assert isinstance(envelope.event, BookDelta)
        assert envelope.event.checksum == expected
        state = second.keeper.snapshot(BOOK)
        assert state is not None and state.seq == 2
    finally:
        await second.stop()

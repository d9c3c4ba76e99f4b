"""LocalBook: applying snapshots and updates, and verifying the server's checksums."""

from __future__ import annotations

import random

import pytest

from tickcast.book import OrderBook, book_checksum, checksum_of_strings
from tickcast.client.books import LocalBook
from tickcast.client.messages import ChecksumMismatch, Snapshot, Update, parse_message
from tickcast.dialects.native.wire.protocol import NativeEncoder
from tickcast.errors import InvalidMessage
from tickcast.model import (
    BookDelta,
    BookSnapshot,
    Market,
    MarketCatalog,
    MarketKind,
    StreamKind,
    StreamPosition,
    format_fixed,
)

BOOK = "book:binance-btc-usdt-spot"
BIDS = [["87250.50", "1.250"], ["87250.00", "0.500"]]
ASKS = [["87251.00", "2.000"], ["87252.25", "0.010"]]


def checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    return checksum_of_strings([(p, s) for p, s in bids], [(p, s) for p, s in asks])


def snapshot(seq: int = 10) -> Snapshot:
    data = {"bids": BIDS, "asks": ASKS}
    return Snapshot(BOOK, "e1", seq, data, checksum=checksum(BIDS, ASKS))


def test_local_book_snapshot_with_matching_checksum_is_valid() -> None:
    """A snapshot whose checksum verifies gives a valid book with the exact wire strings."""
    book = LocalBook(BOOK)
    assert book.apply(snapshot()) is None
    assert book.valid and book.seq == 10 and book.epoch == "e1"
    assert book.bids() == [tuple(level) for level in BIDS]
    assert book.asks() == [tuple(level) for level in ASKS]
    assert book.best_bid() == ("87250.50", "1.250")
    assert book.best_ask() == ("87251.00", "2.000")
    assert (book.price_decimals, book.size_decimals) == (2, 3)


def test_local_book_update_deletes_and_adds_levels() -> None:
    """Size "0" deletes a level; other levels are set; the checksum is checked after applying."""
    book = LocalBook(BOOK)
    book.apply(snapshot())
    bids = [["87250.00", "0.500"], ["87249.75", "3.000"]]
    data = {"bids": [["87250.50", "0"], ["87249.75", "3.000"]], "asks": []}
    assert book.apply(Update(BOOK, 11, data, checksum(bids, ASKS))) is None
    assert book.bids() == [tuple(level) for level in bids]
    assert book.seq == 11 and len(book) == 4


def test_local_book_checksum_mismatch_is_reported_and_invalidates() -> None:
    """A wrong checksum yields ChecksumMismatch with both values and marks the book invalid."""
    book = LocalBook(BOOK)
    book.apply(snapshot())
    data = {"bids": [["87250.50", "9.000"]], "asks": []}
    mismatch = book.apply(Update(BOOK, 11, data, 12345))
    actual = checksum([["87250.50", "9.000"], ["87250.00", "0.500"]], ASKS)
    assert mismatch == ChecksumMismatch(BOOK, 11, 12345, actual)
    assert not book.valid


def test_local_book_without_checksum_skips_verification() -> None:
    """Messages without a checksum are applied unverified."""
    book = LocalBook(BOOK)
    assert book.apply(Snapshot(BOOK, "e1", 1, {"bids": BIDS, "asks": []})) is None
    assert book.valid and book.asks() == [] and book.best_ask() is None


def test_local_book_widens_decimals_seen_later() -> None:
    """Decimals grow to the finest string seen (e.g. after an empty snapshot)."""
    book = LocalBook(BOOK)
    book.apply(Snapshot(BOOK, "e1", 1, {"bids": [["100", "1"]], "asks": []}))
    book.apply(Update(BOOK, 2, {"bids": [["99.5", "0.25"]], "asks": []}))
    assert book.bids() == [("100.0", "1.00"), ("99.5", "0.25")]


@pytest.mark.parametrize(
    "data",
    [{"bids": "x"}, {"bids": [["1.0"]]}, {"asks": [[1.0, 2.0]]}, {"asks": [["abc", "1"]]}],
)
def test_local_book_rejects_malformed_levels(data: dict[str, object]) -> None:
    """Malformed level lists raise InvalidMessage."""
    with pytest.raises(InvalidMessage):
        LocalBook(BOOK).apply(Snapshot(BOOK, "e1", 1, data))


def test_local_book_copy_is_independent() -> None:
    """copy() does not share levels with the original."""
    book = LocalBook(BOOK)
    book.apply(snapshot())
    other = book.copy()
    book.apply(Update(BOOK, 11, {"bids": [["87250.50", "0"]], "asks": []}))
    assert other.best_bid() == ("87250.50", "1.250") and other.seq == 10


def test_local_book_follows_server_encoded_frames() -> None:
    """Replaying frames from the server's NativeEncoder never mismatches and ends equal."""
    market = Market(
        "binance-btc-usdt-spot", "binance", MarketKind.SPOT, "btc", "usdt", "BTCUSDT", 2, 4
    )
    encoder = NativeEncoder(catalog=MarketCatalog([market]))
    rng = random.Random(7)
    server = OrderBook()
    server.apply_snapshot(
        [(10_000 - i, 1 + i) for i in range(15)], [(10_001 + i, 2) for i in range(15)]
    )

    def server_checksum() -> int:
        bids, asks = server.top(10)
        return book_checksum(bids, asks, price_decimals=2, size_decimals=4)

    bids, asks = server.top()
    frame = encoder.snapshot_frame(
        BOOK,
        StreamKind.BOOK,
        StreamPosition(1, "e1"),
        [BookSnapshot(market.id, bids, asks, 0)],
        checksum=server_checksum(),
        reset=False,
    )
    local = LocalBook(BOOK)
    snap = parse_message(frame)
    assert isinstance(snap, Snapshot) and local.apply(snap) is None
    for seq in range(2, 300):
        side = rng.choice(["bids", "asks"])
        price = rng.randrange(9_980, 10_000) if side == "bids" else rng.randrange(10_001, 10_021)
        level = ((price, rng.choice([0, 0, rng.randrange(1, 10**6)])),)
        delta = BookDelta(
            market.id, level if side == "bids" else (), level if side == "asks" else (), 0
        )
        server.apply_delta(delta.bids, delta.asks)
        update = parse_message(encoder.update_frame(BOOK, seq, delta, server_checksum()))
        assert isinstance(update, Update) and local.apply(update) is None, seq
    expected = [(format_fixed(p, 2), format_fixed(s, 4)) for p, s in server.top()[0]]
    assert local.bids() == expected

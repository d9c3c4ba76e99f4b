"""Tests for the Kraken WebSocket v2 book checksum."""

from __future__ import annotations

import zlib

from tickcast.book import OrderBook, book_checksum, checksum_of_strings
from tickcast.model.numbers import parse_fixed

# Kraken's worked example, "Spot Websocket v2 -> Guides -> Book checksum"
# (docs.kraken.com/api/docs/guides/spot-ws-book-v2): BTC/USD, price 1 decimal, qty 8 decimals.
KRAKEN_ASKS = [
    ("45285.2", "0.00100000"),
    ("45286.4", "1.54571953"),
    ("45286.6", "1.54571109"),
    ("45289.6", "1.54560911"),
    ("45290.2", "0.15890660"),
    ("45291.8", "1.54553491"),
    ("45294.7", "0.04454749"),
    ("45296.1", "0.35380000"),
    ("45297.5", "0.09945542"),
    ("45299.5", "0.18772827"),
]
KRAKEN_BIDS = [
    ("45283.5", "0.10000000"),
    ("45283.4", "1.54582015"),
    ("45282.1", "0.10000000"),
    ("45281.0", "0.10000000"),
    ("45280.3", "1.54592586"),
    ("45279.0", "0.07990000"),
    ("45277.6", "0.03310103"),
    ("45277.5", "0.30000000"),
    ("45277.3", "1.54602737"),
    ("45276.6", "0.15445238"),
]
KRAKEN_CHECKSUM = 3310070434


def _levels(pairs: list[tuple[str, str]]) -> list[tuple[int, int]]:
    return [(parse_fixed(price, 1), parse_fixed(qty, 8)) for price, qty in pairs]


def test_checksum_of_strings_matches_kraken_example() -> None:
    """The documented example strings give Kraken's documented checksum."""
    assert checksum_of_strings(KRAKEN_BIDS, KRAKEN_ASKS) == KRAKEN_CHECKSUM


def test_book_checksum_matches_kraken_example() -> None:
    """Scaled integers formatted with the market decimals give the same checksum."""
    bids, asks = _levels(KRAKEN_BIDS), _levels(KRAKEN_ASKS)
    assert book_checksum(bids, asks, price_decimals=1, size_decimals=8) == KRAKEN_CHECKSUM


def test_book_checksum_from_orderbook_top() -> None:
    """An OrderBook built from the example yields the checksum from its top levels."""
    book = OrderBook()
    book.apply_snapshot(_levels(KRAKEN_BIDS) + [(400_000, 1)], _levels(KRAKEN_ASKS))
    bids, asks = book.top()
    assert book_checksum(bids, asks, price_decimals=1, size_decimals=8) == KRAKEN_CHECKSUM


def test_checksum_of_strings_uses_only_top_ten() -> None:
    """Levels past the tenth do not change the checksum."""
    extra_bids = [*KRAKEN_BIDS, ("1.0", "1.00000000")]
    extra_asks = [*KRAKEN_ASKS, ("99999.9", "1.00000000")]
    assert checksum_of_strings(extra_bids, extra_asks) == KRAKEN_CHECKSUM


def test_checksum_of_strings_strips_point_and_leading_zeros() -> None:
    """Each level is price then qty without '.' and leading zeros; asks come first."""
    expected = zlib.crc32(b"5000304" + b"4765500")
    assert checksum_of_strings([("0.04765", "0.00000500")], [("0.05000", "0.00000304")]) == (
        expected
    )


def test_checksum_is_unsigned() -> None:
    """The result is an unsigned 32-bit integer."""
    value = checksum_of_strings(KRAKEN_BIDS, KRAKEN_ASKS)
    assert 2**31 <= value < 2**32

"""The Kraken WebSocket v2 book checksum.

CRC32 (unsigned) over the top 10 asks (lowest first) followed by the top 10 bids (highest
first). Each level contributes its price string then its quantity string, both written with the
market's fixed decimals, with the ``.`` removed and leading zeros stripped.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from tickcast.model.events import Level
from tickcast.model.numbers import format_fixed

CHECKSUM_DEPTH = 10
"""Levels per side covered by the checksum, whatever the subscribed depth."""


def _digits(text: str) -> str:
    """A decimal string without its point and without leading zeros."""
    return text.replace(".", "").lstrip("0")


def checksum_of_strings(bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]]) -> int:
    """Checksum of (price, qty) strings; each side best first, only the top 10 are used."""
    parts = [
        _digits(price) + _digits(qty)
        for side in (asks[:CHECKSUM_DEPTH], bids[:CHECKSUM_DEPTH])
        for price, qty in side
    ]
    return zlib.crc32("".join(parts).encode("ascii")) & 0xFFFFFFFF


def book_checksum(
    bids: Sequence[Level], asks: Sequence[Level], *, price_decimals: int, size_decimals: int
) -> int:
    """Checksum of scaled-integer levels (each side best first, as ``OrderBook.top`` gives)."""

    def strings(levels: Sequence[Level]) -> list[tuple[str, str]]:
        return [
            (format_fixed(price, price_decimals), format_fixed(size, size_decimals))
            for price, size in levels[:CHECKSUM_DEPTH]
        ]

    return checksum_of_strings(strings(bids), strings(asks))

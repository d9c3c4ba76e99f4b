"""An L2 book that keeps its Kraken checksum up to date incrementally.

The checksum (``book.checksum``) covers the top 10 levels per side, each written as its price
digits then its size digits, with the market's fixed decimals, the ``.`` removed and leading zeros
stripped. For a non-negative scaled integer that string does not depend on the decimals at all:
``format_fixed(v, d)`` without its point is ``str(v)`` left-padded with zeros, so the stripped
digits are ``str(v)`` (and ``""`` for 0). Each level's digits are therefore formatted once, when
first read, and cached until the level changes.

A change reaches the checksum only when it lands in a side's top 10: after a delta, a changed
price at or inside the side's 10th level (or any change while the side has at most 10 levels)
marks the side dirty. Only a dirty side's bytes are joined again, and the CRC goes on from the
cached CRC of the asks (CRC32 over asks then bids), so a delta beyond the top costs no CRC work.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, insort
from collections.abc import Iterable

from tickcast.book.checksum import CHECKSUM_DEPTH
from tickcast.book.orderbook import TopLevels, _validated
from tickcast.model.events import Level


def level_digits(price: int, size: int) -> bytes:
    """The checksum's bytes of one level (both non-negative): digits without leading zeros."""
    if price and size:
        return b"%d%d" % (price, size)
    return (b"%d" % price if price else b"") + (b"%d" % size if size else b"")


class _Side:
    """Sizes by price, the ascending prices and each level's cached checksum digits."""

    __slots__ = ("digits", "prices", "sizes")

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.prices: list[int] = []
        self.digits: dict[int, bytes] = {}

    def replace(self, levels: tuple[Level, ...]) -> None:
        """Every level at once (zero sizes skipped, the last duplicate wins)."""
        self.sizes = {price: size for price, size in dict(levels).items() if size}
        self.prices = sorted(self.sizes)
        self.digits = {}

    def apply(self, levels: tuple[Level, ...]) -> None:
        """Set levels in order; size 0 deletes (a missing level is ignored). A set level's
        digits are written at once (a delta sets one or two levels), so joining the top 10
        usually finds every level's digits."""
        sizes, prices, digits = self.sizes, self.prices, self.digits
        for price, size in levels:
            if size == 0:
                digits.pop(price, None)
                if sizes.pop(price, None) is not None:
                    del prices[bisect_left(prices, price)]
            else:
                if price not in sizes:
                    insort(prices, price)
                sizes[price] = size
                digits[price] = b"%d%d" % (price, size) if price else b"%d" % size

    def _fill(self, price: int) -> bytes:
        digits = self.digits[price] = level_digits(price, self.sizes[price])
        return digits

    def _bytes(self, prices: list[int]) -> bytes:
        try:  # every level's digits known (the usual case): one C-level pass
            return b"".join(map(self.digits.__getitem__, prices))
        except KeyError:  # after a snapshot, or a deeper level moving up: fill the missing
            get, fill = self.digits.get, self._fill
            return b"".join([get(price) or fill(price) for price in prices])  # never empty

    def ask_bytes(self) -> bytes:
        """The checksum bytes of the lowest 10 levels, lowest first."""
        return self._bytes(self.prices[:CHECKSUM_DEPTH])

    def bid_bytes(self) -> bytes:
        """The checksum bytes of the highest 10 levels, highest first."""
        return self._bytes(self.prices[: -CHECKSUM_DEPTH - 1 : -1])


def _ask_touched(prices: list[int], levels: tuple[Level, ...]) -> bool:
    """Whether changes at ``levels`` (already applied) reached the lowest 10 prices."""
    if not levels:
        return False
    if len(prices) <= CHECKSUM_DEPTH:
        return True
    bound = prices[CHECKSUM_DEPTH - 1]
    for price, _ in levels:
        if price <= bound:
            return True
    return False


def _bid_touched(prices: list[int], levels: tuple[Level, ...]) -> bool:
    """Whether changes at ``levels`` (already applied) reached the highest 10 prices."""
    if not levels:
        return False
    if len(prices) <= CHECKSUM_DEPTH:
        return True
    bound = prices[-CHECKSUM_DEPTH]
    for price, _ in levels:
        if price >= bound:
            return True
    return False


class ChecksummedBook:
    """An L2 book (bids best first, asks best first) with an incrementally kept checksum."""

    __slots__ = ("_ask_crc", "_asks", "_bid_bytes", "_bids", "_checksum")

    def __init__(self) -> None:
        self._bids = _Side()
        self._asks = _Side()
        self._ask_crc = zlib.crc32(b"")
        self._bid_bytes = b""
        self._checksum: int | None = None

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the whole book. Raises ``BookError`` (book untouched) on negative values."""
        new_bids, new_asks = _validated(bids), _validated(asks)
        self._bids.replace(new_bids)
        self._asks.replace(new_asks)
        self._refresh(bids=True, asks=True)

    def apply_delta(self, bids: Iterable[Level], asks: Iterable[Level]) -> int:
        """Set levels; size 0 deletes; the checksum after it. Raises ``BookError`` (book
        untouched) on negative values."""
        new_bids, new_asks = _validated(bids), _validated(asks)
        bids_touched = asks_touched = False  # a delta often changes one side only
        if new_bids:
            self._bids.apply(new_bids)
            bids_touched = _bid_touched(self._bids.prices, new_bids)
        if new_asks:
            self._asks.apply(new_asks)
            asks_touched = _ask_touched(self._asks.prices, new_asks)
        checksum = self._checksum
        if bids_touched or asks_touched or checksum is None:
            return self._refresh(bids=bids_touched, asks=asks_touched)
        return checksum

    def _refresh(self, *, bids: bool, asks: bool) -> int:
        if asks:
            self._ask_crc = zlib.crc32(self._asks.ask_bytes())
        if bids:
            self._bid_bytes = self._bids.bid_bytes()
        checksum = self._checksum
        if bids or asks or checksum is None:
            checksum = self._checksum = zlib.crc32(self._bid_bytes, self._ask_crc) & 0xFFFFFFFF
        return checksum

    @property
    def checksum(self) -> int:
        """CRC32 of the top 10 asks then the top 10 bids (``book.checksum.book_checksum``)."""
        checksum = self._checksum
        return checksum if checksum is not None else self._refresh(bids=True, asks=True)

    def top(self, depth: int | None = None) -> TopLevels:
        """The best ``depth`` levels of each side (all of them if ``depth`` is None)."""
        if depth is not None and depth < 0:
            raise ValueError(f"depth must be >= 0, not {depth}")
        bids, asks = self._bids, self._asks
        bid_prices = bids.prices[::-1] if depth is None else bids.prices[: -depth - 1 : -1]
        ask_prices = asks.prices if depth is None else asks.prices[:depth]
        return (
            tuple([(price, bids.sizes[price]) for price in bid_prices]),
            tuple([(price, asks.sizes[price]) for price in ask_prices]),
        )

    def is_crossed(self) -> bool:
        """True when both sides exist and the best bid is at or above the best ask."""
        bids, asks = self._bids.prices, self._asks.prices
        return bool(bids and asks and bids[-1] >= asks[0])

    def __len__(self) -> int:
        return len(self._bids.prices) + len(self._asks.prices)

"""``LocalBook``: a client-side L2 book kept from a ``book:`` stream's Snapshot and Updates.

Levels are held as exact scaled integers (``tickcast.book.OrderBook``) with the number of
decimals inferred from the wire strings (the server always sends each market's canonical strings,
``"87250.50"``), so ``bids()`` / ``asks()`` give back exactly the strings the server would send and
the Kraken v2 CRC32 of the top 10 levels can be recomputed after every message that carries one.
"""

from __future__ import annotations

from typing import Any

from tickcast.book import OrderBook, book_checksum
from tickcast.client.messages import ChecksumMismatch, Snapshot, Update
from tickcast.errors import InvalidMessage
from tickcast.model.numbers import format_fixed, parse_fixed, rescale

__all__ = ["LocalBook"]

StringLevel = tuple[str, str]
"""(price, size) as canonical decimal strings."""


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


def _string_levels(data: dict[str, Any], side: str) -> list[StringLevel]:
    raw = data.get(side, [])
    if not isinstance(raw, list):
        raise InvalidMessage(f"book data: '{side}' must be a list of [price, size]")
    levels: list[StringLevel] = []
    for level in raw:
        if (
            not isinstance(level, list | tuple)
            or len(level) != 2
            or not all(isinstance(part, str) for part in level)
        ):
            raise InvalidMessage(f"book data: '{side}' levels must be [price, size] strings")
        levels.append((level[0], level[1]))
    return levels


class LocalBook:
    """The book of one ``book:`` stream as this client holds it.

    ``valid`` is False before the first Snapshot and after a checksum mismatch (until the client
    received a fresh Snapshot). Bids are best (highest) first, asks best (lowest) first.
    """

    __slots__ = ("_book", "epoch", "price_decimals", "seq", "size_decimals", "stream", "valid")

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.epoch: str | None = None
        self.seq: int | None = None
        self.valid = False
        self.price_decimals = 0
        self.size_decimals = 0
        self._book = OrderBook()

    def apply(self, message: Snapshot | Update) -> ChecksumMismatch | None:
        """Apply a Snapshot (replaces everything) or an Update (size "0" deletes a level).

        Verifies the checksum when the message carries one and returns the mismatch, if any
        (the book is then marked invalid). Raises ``InvalidMessage`` on malformed data.
        """
        bids = _string_levels(message.data, "bids")
        asks = _string_levels(message.data, "asks")
        self._widen(bids + asks)
        try:
            int_bids = [self._parse(level) for level in bids]
            int_asks = [self._parse(level) for level in asks]
        except ValueError as error:
            raise InvalidMessage(f"book data: {error}") from None
        if isinstance(message, Snapshot):
            self._book.apply_snapshot(int_bids, int_asks)
            self.epoch = message.epoch
            self.valid = True
        else:
            self._book.apply_delta(int_bids, int_asks)
        self.seq = message.seq
        if message.checksum is None:
            return None
        actual = self.checksum()
        if actual == message.checksum:
            return None
        self.valid = False
        return ChecksumMismatch(self.stream, message.seq, message.checksum, actual)

    def checksum(self) -> int:
        """The Kraken v2 CRC32 of the top 10 levels held."""
        bids, asks = self._book.top(10)
        return book_checksum(
            bids, asks, price_decimals=self.price_decimals, size_decimals=self.size_decimals
        )

    def bids(self, depth: int | None = None) -> list[StringLevel]:
        """The best ``depth`` bids (all if None), highest first, as decimal strings."""
        return [self._format(level) for level in self._book.top(depth)[0]]

    def asks(self, depth: int | None = None) -> list[StringLevel]:
        """The best ``depth`` asks (all if None), lowest first, as decimal strings."""
        return [self._format(level) for level in self._book.top(depth)[1]]

    def best_bid(self) -> StringLevel | None:
        level = self._book.best_bid()
        return None if level is None else self._format(level)

    def best_ask(self) -> StringLevel | None:
        level = self._book.best_ask()
        return None if level is None else self._format(level)

    def copy(self) -> LocalBook:
        """An independent copy (e.g. to hand to another thread)."""
        other = LocalBook(self.stream)
        other.epoch, other.seq, other.valid = self.epoch, self.seq, self.valid
        other.price_decimals, other.size_decimals = self.price_decimals, self.size_decimals
        other._book = self._book.copy()
        return other

    def __len__(self) -> int:
        return len(self._book)

    def __repr__(self) -> str:
        return f"LocalBook({self.stream!r}, seq={self.seq}, levels={len(self)}, valid={self.valid})"

    def _parse(self, level: StringLevel) -> tuple[int, int]:
        return parse_fixed(level[0], self.price_decimals), parse_fixed(level[1], self.size_decimals)

    def _format(self, level: tuple[int, int]) -> StringLevel:
        return (
            format_fixed(level[0], self.price_decimals),
            format_fixed(level[1], self.size_decimals),
        )

    def _widen(self, levels: list[StringLevel]) -> None:
        """Grow the decimals to the finest seen (canonical strings all have the same)."""
        price = max([_decimals(p) for p, _ in levels], default=0)
        size = max([_decimals(s) for _, s in levels], default=0)
        if price <= self.price_decimals and size <= self.size_decimals:
            return
        new_price, new_size = max(price, self.price_decimals), max(size, self.size_decimals)
        bids, asks = self._book.top()

        def scaled(side: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
            return [
                (
                    rescale(p, self.price_decimals, new_price),
                    rescale(s, self.size_decimals, new_size),
                )
                for p, s in side
            ]

        self._book.apply_snapshot(scaled(bids), scaled(asks))
        self.price_decimals, self.size_decimals = new_price, new_size

"""The incremental checksum is bit-identical to formatting the top 10 levels every time."""

from __future__ import annotations

import random

import pytest
from tests.unit.book.test_checksum import KRAKEN_ASKS, KRAKEN_BIDS, KRAKEN_CHECKSUM

from tickcast.book import ChecksummedBook, OrderBook, book_checksum, level_digits
from tickcast.book.checksum import _digits
from tickcast.errors import BookError
from tickcast.model.events import Level
from tickcast.model.numbers import format_fixed, parse_fixed

DECIMALS = (0, 1, 2, 5, 8, 18)


def reference(book: OrderBook, price_decimals: int, size_decimals: int) -> int:
    """Today's way: the top 10 of an OrderBook, formatted with the market's decimals."""
    bids, asks = book.top(10)
    return book_checksum(bids, asks, price_decimals=price_decimals, size_decimals=size_decimals)


def random_value(rng: random.Random) -> int:
    kind = rng.random()
    if kind < 0.05:
        return 0
    if kind < 0.2:
        return rng.randrange(1, 100)
    if kind < 0.3:
        return rng.randrange(1, 2**63)
    return rng.randrange(1, 10**9)


def random_levels(rng: random.Random, center: int, count: int) -> list[Level]:
    levels = []
    for _ in range(count):
        price = max(0, center + int(rng.gauss(0, 15)))
        size = 0 if rng.random() < 0.25 else random_value(rng)
        levels.append((price, size))
    return levels


@pytest.mark.parametrize("value", [0, 1, 7, 10, 100, 123456789, 2**63 - 1, 10**30])
@pytest.mark.parametrize("decimals", DECIMALS)
def test_level_digits_equal_stripped_fixed_strings(value: int, decimals: int) -> None:
    text = _digits(format_fixed(value, decimals)).encode()
    assert level_digits(value, 0) == text
    assert level_digits(0, value) == text
    assert level_digits(value, 5) == text + b"5"


def test_kraken_example() -> None:
    book = ChecksummedBook()
    bids = [(parse_fixed(p, 1), parse_fixed(q, 8)) for p, q in KRAKEN_BIDS]
    asks = [(parse_fixed(p, 1), parse_fixed(q, 8)) for p, q in KRAKEN_ASKS]
    book.apply_snapshot([*bids, (1, 5)], [*asks, (10**9, 5)])
    assert book.checksum == KRAKEN_CHECKSUM


@pytest.mark.parametrize("seed", range(40))
def test_random_books_and_deltas_match_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    price_decimals, size_decimals = rng.choice(DECIMALS), rng.choice(DECIMALS)
    center = rng.choice((0, 5, 40, 10_000, 2**40))
    fast, slow = ChecksummedBook(), OrderBook()
    for step in range(300):
        if step == 0 or rng.random() < 0.02:
            bids = random_levels(rng, center - 20, rng.randrange(0, 40))
            asks = random_levels(rng, center + 20, rng.randrange(0, 40))
            fast.apply_snapshot(bids, asks)
            slow.apply_snapshot(bids, asks)
        else:
            bids = random_levels(rng, center - 20, rng.choice((0, 1, 1, 2, 3, 8)))
            asks = random_levels(rng, center + 20, rng.choice((0, 1, 1, 2, 3, 8)))
            fast.apply_delta(bids, asks)
            slow.apply_delta(bids, asks)
        assert fast.checksum == reference(slow, price_decimals, size_decimals), step
        assert fast.top() == slow.top()
        assert fast.top(3) == slow.top(3)
        assert fast.is_crossed() == slow.is_crossed()
        assert len(fast) == len(slow)


def test_a_rejected_delta_leaves_the_book_and_its_checksum_untouched() -> None:
    book = ChecksummedBook()
    book.apply_snapshot([(10, 1), (9, 2)], [(11, 3)])
    before = book.checksum, book.top()
    with pytest.raises(BookError):
        book.apply_delta([(10, 5)], [(12, -1)])
    assert (book.checksum, book.top()) == before


def test_empty_book() -> None:
    assert ChecksummedBook().checksum == reference(OrderBook(), 2, 8)
    with pytest.raises(ValueError):
        ChecksummedBook().top(-1)

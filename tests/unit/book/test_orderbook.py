"""Tests for the L2 order book."""

from __future__ import annotations

import random

import pytest

from tickcast.book import OrderBook
from tickcast.errors import BookError
from tickcast.model.events import Level


def _book() -> OrderBook:
    book = OrderBook()
    book.apply_snapshot(bids=[(100, 1), (102, 2), (101, 3)], asks=[(105, 4), (103, 5), (104, 6)])
    return book


def test_orderbook_snapshot_sorts_sides() -> None:
    """A snapshot is read back best first on each side."""
    bids, asks = _book().top()
    assert bids == ((102, 2), (101, 3), (100, 1))
    assert asks == ((103, 5), (104, 6), (105, 4))


def test_orderbook_snapshot_replaces_everything() -> None:
    """A second snapshot discards every earlier level."""
    book = _book()
    book.apply_snapshot(bids=[(90, 1)], asks=[])
    assert book.top() == (((90, 1),), ())
    assert len(book) == 1


def test_orderbook_snapshot_skips_zero_and_keeps_last_duplicate() -> None:
    """Zero sizes are absent and a repeated price keeps its last size."""
    book = OrderBook()
    book.apply_snapshot(bids=[(1, 1), (1, 7), (2, 0)], asks=[(5, 3), (5, 0)])
    assert book.top() == (((1, 7),), ())


def test_orderbook_delta_sets_and_deletes() -> None:
    """A delta adds, changes and (size 0) deletes levels."""
    book = _book()
    book.apply_delta(bids=[(102, 0), (99, 9), (101, 8)], asks=[(103, 1)])
    assert book.top() == (((101, 8), (100, 1), (99, 9)), ((103, 1), (104, 6), (105, 4)))


def test_orderbook_delta_deleting_missing_level_is_noop() -> None:
    """Deleting an absent level changes nothing."""
    book = _book()
    book.apply_delta(bids=[(50, 0)], asks=[(500, 0)])
    assert book.top() == _book().top()


@pytest.mark.parametrize("level", [(-1, 1), (1, -1)])
def test_orderbook_delta_rejects_negative(level: Level) -> None:
    """Negative prices or sizes raise BookError and leave the book untouched."""
    book = _book()
    with pytest.raises(BookError):
        book.apply_delta(bids=[(99, 1), level], asks=[])
    with pytest.raises(BookError):
        book.apply_delta(bids=[], asks=[level])
    assert book.top() == _book().top()


def test_orderbook_snapshot_rejects_negative() -> None:
    """A snapshot with a negative size raises BookError and keeps the old book."""
    book = _book()
    with pytest.raises(BookError):
        book.apply_snapshot(bids=[], asks=[(1, -5)])
    assert len(book) == 6


def test_orderbook_top_limits_depth() -> None:
    """top(n) returns at most n levels per side; depth 0 returns none."""
    book = _book()
    assert book.top(2) == (((102, 2), (101, 3)), ((103, 5), (104, 6)))
    assert book.top(0) == ((), ())
    assert book.top(10) == book.top()
    with pytest.raises(ValueError):
        book.top(-1)


def test_orderbook_best_and_crossed() -> None:
    """best_bid/best_ask report the inside; crossed means bid >= ask."""
    book = OrderBook()
    assert book.best_bid() is None and book.best_ask() is None
    assert not book.is_crossed()
    book.apply_snapshot(bids=[(10, 1)], asks=[(11, 1)])
    assert book.best_bid() == (10, 1) and book.best_ask() == (11, 1)
    assert not book.is_crossed()
    book.apply_delta(bids=[(11, 2)], asks=[])
    assert book.is_crossed()


def test_orderbook_copy_is_independent() -> None:
    """Changing a copy leaves the original alone."""
    book = _book()
    other = book.copy()
    other.apply_delta(bids=[(102, 0)], asks=[(106, 1)])
    assert book.top() == _book().top()
    assert len(other) == 6


def test_orderbook_matches_reference_under_random_updates() -> None:
    """Random deltas agree with a plain dict model."""
    rng = random.Random(7)
    book = OrderBook()
    model: tuple[dict[int, int], dict[int, int]] = ({}, {})
    for _ in range(3000):
        sides: tuple[list[Level], list[Level]] = ([], [])
        for side, levels in zip(model, sides, strict=True):
            for _ in range(rng.randint(0, 4)):
                price, size = rng.randint(0, 60), rng.choice([0, 0, 1, 5, 9])
                levels.append((price, size))
                if size:
                    side[price] = size
                else:
                    side.pop(price, None)
        book.apply_delta(*sides)
        assert book.top() == (
            tuple(sorted(model[0].items(), reverse=True)),
            tuple(sorted(model[1].items())),
        )
    assert len(book) == len(model[0]) + len(model[1])

"""Tests for depth-limited book views."""

from __future__ import annotations

import random

import pytest

from tickcast.book import DepthView, OrderBook
from tickcast.model.events import Level


def _book(bids: list[Level], asks: list[Level]) -> OrderBook:
    book = OrderBook()
    book.apply_snapshot(bids, asks)
    return book


def test_depthview_snapshot_is_top_n() -> None:
    """The snapshot is the book's top N levels."""
    book = _book([(1, 1), (2, 2), (3, 3)], [(4, 4), (5, 5), (6, 6)])
    assert DepthView(2).snapshot(book) == (((3, 3), (2, 2)), ((4, 4), (5, 5)))


def test_depthview_update_evicts_and_pulls_in() -> None:
    """A level entering the top N evicts the worst one with size 0."""
    book = _book([(1, 1), (2, 2), (3, 3)], [])
    view = DepthView(2)
    view.snapshot(book)
    book.apply_delta(bids=[(4, 9)], asks=[])
    assert view.update(book) == (((2, 0), (4, 9)), ())


def test_depthview_update_pulls_in_level_after_delete() -> None:
    """Deleting a top level pulls the next one in as an update."""
    book = _book([], [(10, 1), (11, 2), (12, 3)])
    view = DepthView(2)
    view.snapshot(book)
    book.apply_delta(bids=[], asks=[(10, 0)])
    assert view.update(book) == ((), ((10, 0), (12, 3)))


def test_depthview_update_reports_size_changes_only_in_view() -> None:
    """Changes below the top N produce nothing; changes inside it are listed."""
    book = _book([(1, 1), (2, 2), (3, 3)], [])
    view = DepthView(2)
    view.snapshot(book)
    book.apply_delta(bids=[(1, 7)], asks=[])
    assert view.update(book) == ((), ())
    book.apply_delta(bids=[(3, 8)], asks=[])
    assert view.update(book) == (((3, 8),), ())


def test_depthview_update_before_snapshot_lists_everything() -> None:
    """Without a snapshot the first update carries the whole top N."""
    book = _book([(1, 1)], [(2, 2)])
    assert DepthView(5).update(book) == (((1, 1),), ((2, 2),))


def test_depthview_rejects_nonpositive_depth() -> None:
    """Depth must be at least 1."""
    with pytest.raises(ValueError):
        DepthView(0)


@pytest.mark.parametrize("seed", range(5))
def test_depthview_replay_equals_top(seed: int) -> None:
    """Snapshot plus every delta, applied to a fresh book, always equals book.top(depth)."""
    rng = random.Random(seed)
    depth = rng.randint(1, 8)
    book = OrderBook()
    view = DepthView(depth)
    client = OrderBook()
    client.apply_snapshot(*view.snapshot(book))
    for step in range(1500):
        if step % 500 == 499:
            book.apply_snapshot(_random_levels(rng, 10), _random_levels(rng, 10))
        else:
            book.apply_delta(_random_levels(rng, 3), _random_levels(rng, 3))
        client.apply_delta(*view.update(book))
        assert client.top() == book.top(depth)


def _random_levels(rng: random.Random, most: int) -> list[Level]:
    return [(rng.randint(0, 40), rng.choice([0, 0, 1, 2, 3])) for _ in range(rng.randint(0, most))]

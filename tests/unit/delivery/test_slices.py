"""Slices: a batch bigger than the outbox's budget streams as the client reads."""

from __future__ import annotations

from tickcast.delivery.outbox import Outbox, OverflowPolicy, Verdict
from tickcast.delivery.slices import Slices

LINE = b"x" * 1000


def _slices(budget: int = 4096) -> Slices:
    return Slices(Outbox(max_bytes=budget, policy=OverflowPolicy.DISCONNECT), stream="trades")


def test_a_batch_that_fits_is_queued_whole() -> None:
    slices = _slices()
    assert slices.push([LINE, LINE]) is Verdict.OK
    assert len(slices.outbox) == 2 and len(slices) == 0
    assert slices.unread_bytes == 2000


def test_a_fast_reader_gets_a_batch_ten_times_its_budget_slice_by_slice() -> None:
    slices = _slices()
    batch = [bytes([n]) * 1000 for n in range(40)]
    assert slices.push(batch) is Verdict.OK
    received: list[bytes] = []
    while len(slices.outbox):
        assert slices.outbox.pending_bytes <= 4096  # never more than the budget queued
        received += slices.outbox.drain(2048)
        slices.refill()
    assert received == batch and slices.unread_bytes == 0
    assert slices.push([LINE]) is Verdict.OK  # read everything: the next batch is welcome


def test_a_stalled_reader_is_refused_at_the_next_batch() -> None:
    slices = _slices()
    assert slices.push([LINE] * 40) is Verdict.OK
    assert slices.waiting_bytes == 36_000 and slices.outbox.pending_bytes == 4000
    assert slices.push([LINE]) is Verdict.OVERFLOW


def test_a_big_batch_behind_unread_lines_is_refused() -> None:
    slices = _slices()
    assert slices.push([LINE] * 3) is Verdict.OK
    assert slices.push([LINE] * 2) is Verdict.OVERFLOW  # 5,000 bytes unread > 4,096


def test_a_line_bigger_than_the_budget_goes_alone() -> None:
    slices = _slices(budget=100)
    big = b"y" * 500
    assert slices.push([big, b"z"]) is Verdict.OK
    assert slices.outbox.drain() == [big]
    slices.refill()
    assert slices.outbox.drain() == [b"z"]


def test_clear_forgets_the_waiting_lines() -> None:
    slices = _slices()
    slices.push([LINE] * 10)
    slices.clear()
    assert len(slices) == 0 and slices.waiting_bytes == 0

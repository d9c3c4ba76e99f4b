"""Slices: a batch bigger than the outbox's budget streams as the client reads."""

from __future__ import annotations

from collections.abc import Sequence

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


class Transport:
    """A direct writer: the kernel takes ``takes`` bytes, the rest stays unsent."""

    def __init__(self, takes: int) -> None:
        self.takes = takes
        self.written: list[bytes] = []

    def unsent(self) -> int:
        return max(0, sum(map(len, self.written)) - self.takes)

    def write_batch(self, lines: Sequence[bytes]) -> bool:
        self.written += lines
        return True


def _direct(takes: int, budget: int = 4096) -> tuple[Slices, Transport]:
    transport = Transport(takes)
    outbox = Outbox(max_bytes=budget, policy=OverflowPolicy.DISCONNECT)
    return Slices(outbox, stream="trades", direct=transport, idle_below=500), transport


def test_a_batch_goes_straight_to_a_transport_that_took_everything() -> None:
    slices, transport = _direct(takes=10**9)
    batch = [LINE] * 40  # ten times the budget
    assert slices.push(batch) is Verdict.OK and slices.push(batch) is Verdict.OK
    assert transport.written == batch + batch and len(slices.outbox) == 0
    assert slices.unread_bytes == 0


def test_what_the_transport_holds_counts_as_unread() -> None:
    slices, transport = _direct(takes=0)
    assert slices.push([LINE] * 40) is Verdict.OK  # up to date: written whole
    assert slices.unread_bytes == 40_000
    assert slices.push([LINE]) is Verdict.OVERFLOW  # it has not read the previous batch
    assert transport.written == [LINE] * 40


def test_a_small_backlog_queues_what_fits_in_the_room_left() -> None:
    slices, transport = _direct(takes=0)
    transport.written = [b"y" * 2000]  # 2000 unsent, over ``idle_below``
    assert slices.push([LINE, LINE]) is Verdict.OK  # 2000 + 2000 fit in 4096: queued
    assert len(slices.outbox) == 2 and slices.unread_bytes == 2000 + 2000
    assert slices.push([LINE]) is Verdict.OVERFLOW

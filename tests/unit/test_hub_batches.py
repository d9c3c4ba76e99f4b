"""BatchGroups: a closed batch's lines built once per key, pushed through each member's slices."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tickcast.delivery.outbox import Outbox, OverflowPolicy
from tickcast.delivery.slices import Slices
from tickcast.hub import BatchClock, BatchGroups


class Member:
    def __init__(self, key: str, budget: int = 4096, joined: int = 0) -> None:
        self.key = key
        self.joined = joined
        self.outbox = Outbox(max_bytes=budget, policy=OverflowPolicy.DISCONNECT)
        self.slices = Slices(self.outbox, stream="s")
        self.woken = 0
        self.overflowed = 0

    def wake(self) -> None:
        self.woken += 1

    def overflow(self) -> None:
        self.overflowed += 1


def test_each_key_gets_its_lines_once_and_every_member_the_same_bytes() -> None:
    groups = BatchGroups()
    a1, a2, b = Member("a"), Member("a"), Member("b")
    for member in (a1, a2, b):
        groups.add(member)
    calls: list[tuple[str, int]] = []
    line = b"x" * 10

    def lines(key: str, joined: int) -> Sequence[bytes]:
        calls.append((key, joined))
        return [line] if key == "a" else []

    groups.deliver(lines)
    assert sorted(calls) == [("a", 0), ("a", 0), ("b", 0)]
    assert a1.outbox.drain()[0] is a2.outbox.drain()[0] is line
    assert (a1.woken, a2.woken, b.woken) == (1, 1, 0)  # nothing for b: not woken
    assert groups.keys_in_use() == ["a", "b"] and len(groups) == 3 and id(b) in groups


def test_a_member_that_has_not_read_overflows_and_the_others_still_get_the_batch() -> None:
    groups = BatchGroups()
    slow, fast = Member("a", budget=100), Member("a", budget=100)
    groups.add(slow)
    groups.add(fast)
    groups.deliver(lambda key, joined: [b"y" * 60])
    fast.outbox.drain()
    groups.deliver(lambda key, joined: [b"z" * 60])
    assert slow.overflowed == 1 and fast.overflowed == 0 and fast.woken == 2


def test_a_failing_member_does_not_stop_the_others() -> None:
    groups = BatchGroups()
    broken, fine = Member("a"), Member("a")

    def explode() -> None:
        raise RuntimeError("boom")

    broken.wake = explode  # type: ignore[method-assign]
    groups.add(broken)
    groups.add(fine)
    groups.deliver(lambda key, joined: [b"line"])
    assert fine.woken == 1


def test_removed_members_leave_their_group() -> None:
    groups = BatchGroups()
    member = Member("a")
    groups.add(member)
    assert groups.remove(member) and not groups.remove(member)
    assert groups.keys_in_use() == [] and len(groups) == 0


class ManualLater:
    """An injected ``call_later``: the test fires the scheduled close itself."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, object]] = []
        self.cancelled = 0

    def __call__(self, delay: float, callback: object) -> object:
        entry = (delay, callback)
        self.pending.append(entry)

        def cancel() -> None:
            if entry in self.pending:
                self.pending.remove(entry)
                self.cancelled += 1

        return cancel

    def fire(self) -> None:
        (_, callback), *rest = self.pending
        self.pending = rest
        callback()  # type: ignore[operator]


def test_the_batch_clock_closes_a_batch_each_period_only_while_there_are_members() -> None:
    later = ManualLater()
    closed: list[int] = []

    def close() -> Callable[[str, int], Sequence[bytes]]:
        closed.append(len(closed))
        number = len(closed)
        return lambda key, joined: [f"block {number}".encode()]

    groups = BatchGroups(BatchClock(2.5, close, later))  # type: ignore[arg-type]
    assert later.pending == []  # no member: no clock
    member = Member("a")
    groups.add(member)
    groups.add(Member("b"))
    assert [delay for delay, _ in later.pending] == [2.5]  # one clock for all members
    later.fire()
    later.fire()
    assert member.outbox.drain() == [b"block 1", b"block 2"] and groups.batches == 2
    assert len(later.pending) == 1  # the next close is scheduled before this one runs
    for each in list(groups.values()):
        groups.remove(each)
    assert later.pending == [] and later.cancelled == 1  # the last member left: stopped
    groups.add(member)
    assert len(later.pending) == 1  # and it starts again with the next member
    groups.close_now()  # a close on demand (tests, benchmarks) does not reschedule
    assert member.outbox.drain() == [b"block 3"] and len(later.pending) == 1

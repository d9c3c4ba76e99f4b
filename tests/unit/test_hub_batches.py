"""BatchGroups: a closed batch's lines built once per key, pushed through each member's slices."""

from __future__ import annotations

from collections.abc import Sequence

from tickcast.delivery.outbox import Outbox, OverflowPolicy
from tickcast.delivery.slices import Slices
from tickcast.hub import BatchGroups


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

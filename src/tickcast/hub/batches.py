"""Batched delivery: subscribers that take a dialect's output one closed batch at a time.

Some dialects deliver per batch rather than per event (Vega: one batch per block of
``vega_block_time`` seconds). The dialect's encoder builds the batch (each item encoded once);
:class:`BatchGroups` holds the subscribers, grouped by the key that selects their lines (Vega:
the stream's filter), and hands each group its lines once: a batch's lines for one key (and join
index) are built once and the same ``bytes`` go to every member.

The batching is a policy of the groups, not a task of the dialect: with a :class:`BatchClock`,
the groups close a batch every ``period_s`` seconds while they have members (``close`` returns
the closed batch's lines; the dialect's encoder builds them) and stop when the last one leaves.

Members are ordinary hub :class:`~tickcast.hub.parts.Subscriber` s (an outbox, ``wake``,
``overflow``) with a :class:`~tickcast.delivery.slices.Slices` in front of the outbox: a batch
bigger than the outbox's budget streams as the client reads, and only a member that has not read
what came before overflows (``overflow()``: under the DISCONNECT policy the subscriber closes
with its dialect's slow-consumer error). Each member is isolated: an exception while delivering
to one is logged and the others still get the batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tickcast.delivery.outbox import Verdict
from tickcast.delivery.slices import Slices
from tickcast.hub.conflation import CallLater
from tickcast.hub.parts import Subscriber

logger = logging.getLogger("tickcast.hub")


Lines = Callable[[Any, int], Sequence[bytes]]
"""A closed batch: its lines for the members of a key that joined at an index."""


class BatchSubscriber(Subscriber, Protocol):
    slices: Slices
    joined: int
    """Its join index: it gets the items created after it (the snapshot covers the rest)."""

    @property
    def key(self) -> Hashable:
        """What selects its lines of a batch (constant while it is a member)."""


def push_lines(member: BatchSubscriber, lines: Sequence[bytes]) -> Verdict:
    """Queue a batch's lines for ``member`` (through its slices), then wake it, or tell it it
    overflowed."""
    if not lines:
        return Verdict.OK
    verdict = member.slices.push(lines)
    if verdict is Verdict.OVERFLOW:
        member.overflow()
    else:
        member.wake()
    return verdict


@dataclass(frozen=True, slots=True)
class BatchClock:
    """Close a batch every ``period_s`` seconds while there are members (Vega: one block per
    ``vega_block_time``); ``close`` closes the current batch and returns its lines."""

    period_s: float
    close: Callable[[], Lines]
    later: CallLater | None = None
    """Schedules the next close (tests inject one); default: the running loop's ``call_later``."""


class BatchGroups(Mapping[int, BatchSubscriber]):
    """The members of one batched dialect, by ``id``, grouped by key."""

    def __init__(self, clock: BatchClock | None = None) -> None:
        self._members: dict[int, BatchSubscriber] = {}
        self._groups: dict[Hashable, dict[int, BatchSubscriber]] = {}
        self._clock = clock
        self._cancel: Callable[[], None] | None = None
        self.batches = 0
        """Batches closed by the clock."""

    def __getitem__(self, ident: int) -> BatchSubscriber:
        return self._members[ident]

    def __iter__(self) -> Iterator[int]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def keys_in_use(self) -> list[Hashable]:
        """The keys that have at least one member."""
        return list(self._groups)

    def add(self, member: BatchSubscriber) -> None:
        self._members[id(member)] = member
        self._groups.setdefault(member.key, {})[id(member)] = member
        if self._clock is not None and self._cancel is None:
            self._schedule(self._clock)

    def remove(self, member: BatchSubscriber) -> bool:
        """Forget ``member``; False if it was not one."""
        if self._members.pop(id(member), None) is None:
            return False
        group = self._groups.get(member.key)
        if group is not None:
            group.pop(id(member), None)
            if not group:
                del self._groups[member.key]
        if not self._members:
            self.stop()
        return True

    def stop(self) -> None:
        """Stop the clock (it starts again with the next member)."""
        cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel()

    def _schedule(self, clock: BatchClock) -> None:
        if clock.later is not None:
            self._cancel = clock.later(clock.period_s, self._tick)
        else:
            self._cancel = asyncio.get_running_loop().call_later(clock.period_s, self._tick).cancel

    def _tick(self) -> None:
        clock = self._clock
        assert clock is not None
        self._schedule(clock)  # the next close first: a failing close does not stop the clock
        self.close_now()

    def close_now(self) -> None:
        """Close the current batch now and deliver it (what the clock does each period)."""
        clock = self._clock
        assert clock is not None, "no BatchClock"
        self.batches += 1
        self.deliver(clock.close())

    def deliver(self, lines: Lines) -> None:
        """Hand every member its lines of a closed batch."""
        for key, group in list(self._groups.items()):
            for member in list(group.values()):
                try:
                    push_lines(member, lines(key, member.joined))
                except Exception:
                    logger.exception("batch delivery to a subscriber failed")

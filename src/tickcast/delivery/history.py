"""Bounded per-stream history: the last N envelopes of one stream, in seq order."""

from __future__ import annotations

from collections import deque

from tickcast.model import Envelope


class StreamHistory:
    """The newest ``max_events`` envelopes of a stream; older ones fall off the front."""

    __slots__ = ("_items",)

    def __init__(self, *, max_events: int) -> None:
        if max_events < 0:
            raise ValueError("max_events must be >= 0")
        self._items: deque[Envelope] = deque(maxlen=max_events)

    def append(self, envelope: Envelope) -> None:
        if self._items and envelope.seq != self._items[-1].seq + 1:
            raise ValueError("history must be appended in dense seq order")
        self._items.append(envelope)

    @property
    def first_seq(self) -> int | None:
        return self._items[0].seq if self._items else None

    @property
    def last_seq(self) -> int | None:
        return self._items[-1].seq if self._items else None

    def since(self, seq: int) -> list[Envelope] | None:
        """Envelopes after ``seq``; None if some of them already fell off (or ``seq`` is ahead)."""
        last = self.last_seq
        if last is None:
            return None if seq > 0 else []
        if seq >= last:
            return [] if seq == last else None
        first = self._items[0].seq
        if seq + 1 < first:
            return None
        start = seq + 1 - first
        return [self._items[i] for i in range(start, len(self._items))]

    def items(self) -> list[Envelope]:
        """Everything held, oldest first."""
        return list(self._items)

    def tail(self, count: int) -> list[Envelope]:
        """The newest ``count`` envelopes, oldest first."""
        if count <= 0:
            return []
        items = list(self._items)
        return items[-count:]

    def __len__(self) -> int:
        return len(self._items)

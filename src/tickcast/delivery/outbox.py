"""The per-connection outbox: a byte-bounded FIFO of encoded frames. Pure.

The hub pushes already-encoded frames (shared ``bytes``, never copied) and the connection's
writer drains them in batches. Data frames never take ``pending_bytes`` above ``max_bytes``; only
control replies (``push_control``) may, so memory stays within ``max_bytes`` plus the queued
control frames.

When a push would overflow, the ``DISCONNECT`` policy refuses it (the caller closes the
connection). The ``RESYNC`` policy puts the stream into *dropping* mode instead:

* a STATE stream loses its queued frames (a snapshot will supersede them);
* an EVENT stream keeps its queued frames and drops this and every later frame, recording the
  dropped sequence range.

Once the outbox has drained below half of ``max_bytes``, ``take_resyncs`` hands out one
``Resync`` per dropping stream and the stream accepts pushes again; the caller first enqueues a
snapshot (STATE) or a gap notice (EVENT).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum


class OverflowPolicy(Enum):
    """What to do when a push would exceed ``max_bytes``."""

    RESYNC = "resync"
    DISCONNECT = "disconnect"


class Verdict(Enum):
    """The result of a push."""

    OK = "ok"
    WARN = "warn"
    """Queued, but pending bytes exceed ``warn_ratio * max_bytes``."""
    OVERFLOW = "overflow"
    """Not queued."""


@dataclass(frozen=True, slots=True)
class Resync:
    """What the writer must send for one stream after an overflow, before live frames."""

    stream: str
    snapshot: bool
    """True for STATE streams: send a fresh snapshot (marked reset)."""
    gap_from: int
    """EVENT streams: first dropped seq (0 for snapshots)."""
    gap_to: int
    """Last dropped seq."""


class _Dropping:
    """Drop state of one stream."""

    __slots__ = ("gap_from", "gap_to", "recovered", "snapshot")

    def __init__(self, *, snapshot: bool, gap_from: int, gap_to: int) -> None:
        self.snapshot = snapshot
        self.gap_from = gap_from
        self.gap_to = gap_to
        self.recovered = False
        """The outbox drained below half since this stream started dropping."""

    def resync(self, stream: str) -> Resync:
        return Resync(stream, self.snapshot, self.gap_from, self.gap_to)


class Outbox:
    """A FIFO of encoded frames for one connection, bounded in bytes."""

    __slots__ = (
        "_disconnected",
        "_dropping",
        "_low_at",
        "_max",
        "_pending",
        "_policy",
        "_queue",
        "_warn_at",
        "_warned",
    )

    def __init__(
        self,
        *,
        max_bytes: int,
        policy: OverflowPolicy = OverflowPolicy.RESYNC,
        warn_ratio: float = 0.6,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        if not 0.0 < warn_ratio <= 1.0:
            raise ValueError(f"warn_ratio must be in (0, 1], not {warn_ratio}")
        self._max = max_bytes
        self._policy = policy
        self._warn_at = math.floor(max_bytes * warn_ratio)
        self._low_at = (max_bytes + 1) // 2
        """``pending < _low_at`` exactly when ``pending < max_bytes / 2``."""
        self._queue: deque[tuple[str | None, bytes]] | None = None
        """Allocated on the first push and released when drained (idle connections hold none)."""
        self._pending = 0
        self._dropping: dict[str, _Dropping] = {}
        self._warned = False
        self._disconnected = False

    @property
    def policy(self) -> OverflowPolicy:
        return self._policy

    @property
    def max_bytes(self) -> int:
        """The byte bound on queued data frames."""
        return self._max

    @property
    def pending_bytes(self) -> int:
        """Bytes of every queued frame, control frames included."""
        return self._pending

    @property
    def overflowed(self) -> bool:
        """DISCONNECT: a push was ever refused. RESYNC: some stream is dropping."""
        return self._disconnected or bool(self._dropping)

    @property
    def warned(self) -> bool:
        """Pending bytes went above the warn level and have not fallen back to it since."""
        return self._warned

    def __len__(self) -> int:
        """The number of queued frames."""
        queue = self._queue
        return len(queue) if queue is not None else 0

    def is_dropping(self, stream: str) -> bool:
        """True while ``stream``'s pushes are being dropped."""
        return stream in self._dropping

    def push(self, frame: bytes, *, stream: str, seq: int, state: bool) -> Verdict:
        """Queue a data frame of ``stream`` (``state``: STATE stream) unless it overflows."""
        if self._dropping:
            dropping = self._dropping.get(stream)
            if dropping is not None:
                dropping.gap_to = seq
                return Verdict.OVERFLOW
        pending = self._pending + len(frame)
        if pending > self._max:
            return self._overflow(stream, seq, state)
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append((stream, frame))
        self._pending = pending
        if pending > self._warn_at:
            self._warned = True
            return Verdict.WARN
        return Verdict.OK

    def extend(self, entries: list[tuple[str, bytes]], nbytes: int) -> bool:
        """Queue data frames ``(stream, frame)`` of ``nbytes`` in all, exactly as one ``push``
        each would, if none of them can overflow (no stream is dropping and they all fit);
        else queue nothing and return False (the caller pushes them one by one)."""
        if self._dropping or self._disconnected:
            return False
        pending = self._pending + nbytes
        if pending > self._max:
            return False
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.extend(entries)
        self._pending = pending
        if pending > self._warn_at:
            self._warned = True
        return True

    def push_control(self, frame: bytes) -> Verdict:
        """Queue a reply frame; never dropped, but counted in ``pending_bytes``."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append((None, frame))
        self._pending += len(frame)
        if self._pending > self._warn_at:
            self._warned = True
            return Verdict.WARN
        return Verdict.OK

    def drain(self, max_bytes: int | None = None) -> list[bytes]:
        """Remove and return queued frames, oldest first.

        All of them if ``max_bytes`` is None, else at least one and then as many as fit in
        ``max_bytes``.
        """
        queue = self._queue
        if queue is None:
            batch: list[bytes] = []
        elif max_bytes is None:
            batch = [frame for _, frame in queue]
            self._queue = None
            self._pending = 0
        else:
            batch = self._take(queue, max_bytes)
            if not queue:
                self._queue = None
        self._settle()
        return batch

    def take_resyncs(self) -> list[Resync]:
        """Streams whose overflow has ended (each reported once); they accept pushes again."""
        if not self._dropping:
            return []
        self._settle()
        done = [name for name, state in self._dropping.items() if state.recovered]
        return [self._dropping.pop(name).resync(name) for name in done]

    def fall_behind(self, stream: str, *, state: bool, gap_from: int, gap_to: int) -> None:
        """The caller could not queue frames ``gap_from..gap_to`` of ``stream`` (a replay the
        client did not drain in time): the stream drops from now on, as after an overflow,
        and is resynced the same way (``take_resyncs``)."""
        if state:
            self._remove(stream)
        self._dropping[stream] = _Dropping(snapshot=state, gap_from=gap_from, gap_to=gap_to)

    def forget(self, stream: str) -> None:
        """The client left ``stream``: drop its queued frames and any resync state."""
        self._dropping.pop(stream, None)
        self._remove(stream)
        self._settle()

    def _take(self, queue: deque[tuple[str | None, bytes]], max_bytes: int) -> list[bytes]:
        """Pop at least one frame, then frames while they fit in ``max_bytes``."""
        batch: list[bytes] = []
        size = 0
        while queue:
            frame = queue[0][1]
            if batch and size + len(frame) > max_bytes:
                break
            queue.popleft()
            batch.append(frame)
            size += len(frame)
        self._pending -= size
        return batch

    def _overflow(self, stream: str, seq: int, state: bool) -> Verdict:
        """Handle a push that does not fit."""
        if self._policy is OverflowPolicy.DISCONNECT:
            self._disconnected = True
            return Verdict.OVERFLOW
        if state:
            self._remove(stream)
            self._dropping[stream] = _Dropping(snapshot=True, gap_from=0, gap_to=seq)
        else:
            self._dropping[stream] = _Dropping(snapshot=False, gap_from=seq, gap_to=seq)
        return Verdict.OVERFLOW

    def _remove(self, stream: str) -> None:
        """Remove every queued frame of ``stream`` (rare path: rebuilds the queue)."""
        queue = self._queue
        if queue is None:
            return
        kept = [entry for entry in queue if entry[0] != stream]
        if len(kept) != len(queue):
            self._queue = deque(kept) if kept else None
            self._pending = sum(len(frame) for _, frame in kept)

    def _settle(self) -> None:
        """Update the warn flag and mark dropping streams recovered after pending fell."""
        if self._pending <= self._warn_at:
            self._warned = False
        if self._dropping and self._pending < self._low_at:
            for state in self._dropping.values():
                state.recovered = True

"""Sliced batches: a batch bigger than an outbox's budget, streamed as the client reads. Pure.

A dialect that delivers in batches (Vega: one batch per block) may close a batch far bigger
than a connection's byte budget (a 1-second block of 10,000 trades is ~2.5 MB; the budget is
``outbox_bytes``, 1 MiB by default). Pushing the batch whole would cut every subscriber, fast
readers included. :class:`Slices` sits in front of an :class:`~tickcast.delivery.outbox.Outbox`:

* a batch that fits in the outbox's free room is queued whole (as before);
* a batch that does not fit is accepted only when the client has read everything sent before
  (the outbox is empty and no earlier batch is waiting): its lines wait here, shared with every
  other subscriber of the batch (references, never copies), and move into the outbox slice by
  slice as the writer drains it (``refill``), so the outbox never holds more than its budget;
* otherwise (the client has not read what came before, or an earlier batch is still waiting
  here) the push is refused with ``Verdict.OVERFLOW``: the caller cuts the slow consumer.

So the budget counts what the client has not read yet, never the size of one batch: a fast reader
is never cut, whatever the batch size, and a stalled one is cut at the next batch.

A connection may also take a batch straight to its transport (``direct``, a :class:`Direct`:
Vega's detached streams, whose batch is a few framed chunks shared by every stream): when the
outbox is empty and the transport holds at most ``idle_below`` bytes unsent, the batch is written
at once, with no outbox entry per line; the bytes the transport still holds then count as unread,
so the same rules hold (a batch is refused while the previous one has not been taken).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Protocol

from tickcast.delivery.outbox import Outbox, Verdict


class Direct(Protocol):
    """A connection that can write a whole batch to its transport now."""

    def unsent(self) -> int:
        """Bytes its transport holds that the kernel has not taken yet."""

    def write_batch(self, lines: Sequence[bytes]) -> bool:
        """Write ``lines`` now; False if it cannot (the batch is then queued as usual)."""


class Slices:
    """The lines of a batch waiting for room in ``outbox`` (one stream, EVENT semantics)."""

    __slots__ = ("_seq", "_waiting", "_waiting_bytes", "direct", "idle_below", "outbox", "stream")

    def __init__(
        self, outbox: Outbox, *, stream: str, direct: Direct | None = None, idle_below: int = 0
    ) -> None:
        self.outbox = outbox
        self.stream = stream
        self.direct = direct
        """Writes a batch straight to the transport when nothing is queued (module doc)."""
        self.idle_below = idle_below
        """Unsent bytes up to which the transport counts as having taken everything."""
        self._waiting: deque[bytes] | None = None
        """Allocated when a batch has to wait, released once it moved (idle streams hold none)."""
        self._waiting_bytes = 0
        self._seq = 0

    @property
    def waiting_bytes(self) -> int:
        """Bytes of accepted lines not yet moved into the outbox."""
        return self._waiting_bytes

    @property
    def unread_bytes(self) -> int:
        """What the client has not read: queued in the outbox, waiting here and, with a
        ``direct`` writer, unsent by its transport."""
        unsent = self.direct.unsent() if self.direct is not None else 0
        return self.outbox.pending_bytes + self._waiting_bytes + unsent

    def __len__(self) -> int:
        return len(self._waiting) if self._waiting is not None else 0

    def push(self, lines: Sequence[bytes]) -> Verdict:
        """Accept a batch (see the module docstring), or refuse it with OVERFLOW."""
        if not lines:
            return Verdict.OK
        if self._waiting:
            return Verdict.OVERFLOW  # the previous batch has not been read yet
        direct = self.direct
        unsent = direct.unsent() if direct is not None else 0
        if unsent <= self.idle_below:  # the transport took (about) everything before
            if direct is not None and not len(self.outbox) and direct.write_batch(lines):
                return Verdict.OK
            unsent = 0
        size = sum(len(line) for line in lines)
        if self.outbox.pending_bytes + unsent + size <= self.outbox.max_bytes:
            for line in lines:
                self._push(line)
            return Verdict.OK
        if len(self.outbox) or unsent:
            return Verdict.OVERFLOW  # too big for the room left by lines the client has not read
        self._waiting = deque(lines)
        self._waiting_bytes = size
        self.refill()
        return Verdict.OK

    def refill(self) -> int:
        """Move waiting lines into the outbox while they fit; returns how many moved. A line
        bigger than the whole budget still goes once the outbox is empty."""
        moved = 0
        waiting = self._waiting
        if waiting is None:
            return 0
        outbox = self.outbox
        room = outbox.max_bytes - outbox.pending_bytes
        while waiting:
            line = waiting[0]
            if len(line) > room:
                if len(outbox) or moved:
                    break
                outbox.push_control(line)  # alone: never stuck behind a too-small budget
            else:
                self._push(line)
            room -= len(line)
            waiting.popleft()
            self._waiting_bytes -= len(line)
            moved += 1
        if not waiting:
            self._waiting = None
        return moved

    def _push(self, line: bytes) -> None:
        self._seq += 1
        self.outbox.push(line, stream=self.stream, seq=self._seq, state=False)

    def clear(self) -> None:
        """Forget the waiting lines (the stream ended)."""
        self._waiting = None
        self._waiting_bytes = 0

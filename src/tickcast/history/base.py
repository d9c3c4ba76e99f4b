"""The history-store contract (every backend passes tests/unit/history/test_store_contract.py).

- ``append`` writes rows and book checkpoints in one transaction: after it returns they survive a
  crash of the process; if it raises, none of them was written.
- Rows of a stream are read back ordered by ``(time_ns, id)`` (``id``: the store's insertion
  number) for time ranges, and by ``seq`` within an epoch for replays. An (epoch, seq) is never
  written twice by the one node that sequences the stream.
- Times are inclusive bounds; None is unbounded. A page cursor is the ``id`` of the last row
  of the previous page.
- ``latest`` is the last event per key at or before T (``history/keyed.py``), from keyed
  checkpoints (written in ``append`` like book checkpoints) and the rows after them.
- ``expire`` removes at most ``max_rows`` rows per call (the caller loops between write batches).
- Every backend failure is a ``StorageError`` whose message carries no credentials.
The store knows nothing of connections, dialects or the bus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tickcast.history.books import Checkpoint
from tickcast.history.rows import Row
from tickcast.model import Market


@dataclass(frozen=True, slots=True)
class EpochSpan:
    """What the store holds of one epoch of a stream."""

    epoch: str
    first_seq: int
    last_seq: int
    first_time_ns: int
    last_time_ns: int
    rows: int


class HistoryStore(Protocol):
    async def open(self) -> None:
        """Create the schema if needed and connect (I/O happens here, not in ``__init__``)."""
        ...

    async def close(self) -> None: ...

    async def append(self, rows: Sequence[Row], checkpoints: Sequence[Checkpoint]) -> None:
        """Write a batch atomically."""
        ...

    async def range(
        self,
        stream: str,
        start_ns: int | None,
        end_ns: int | None,
        *,
        limit: int,
        after: int | None = None,
        descending: bool = False,
    ) -> list[Row]:
        """At most ``limit`` rows with ``start <= time <= end`` in ``(time_ns, id)`` order (or
        its reverse), strictly after the row whose id is ``after`` in that order."""
        ...

    async def since(
        self, stream: str, epoch: str, seq: int, *, limit: int, until_ns: int | None = None
    ) -> list[Row]:
        """At most ``limit`` rows of ``epoch`` with a seq above ``seq`` (and a time at or before
        ``until_ns``), in seq order."""
        ...

    async def checkpoint_at(self, stream: str, time_ns: int) -> Row | None:
        """The newest book checkpoint at or before ``time_ns`` (a Row holding a BookSnapshot)."""
        ...

    async def latest(self, stream: str, time_ns: int) -> list[Row]:
        """The state of a keyed STATE stream (metrics, orders, positions) as of ``time_ns``: per
        key, its newest row at or before it, in the epoch of the stream's newest row at or
        before it, ended keys (final orders) left out, in the live state's order; for quotes
        and ticker, their newest row; ``[]`` for other streams (``history/keyed.py``). Rows
        restored from a keyed checkpoint have ``id`` 0."""
        ...

    async def checkpoints(
        self, stream: str, start_ns: int | None, end_ns: int | None, *, limit: int, after: int = 0
    ) -> list[Row]:
        """Checkpoints in a time range, oldest first; ``Row.id`` numbers them for paging."""
        ...

    async def epochs(self, stream: str) -> list[EpochSpan]:
        """The epochs held of ``stream``, oldest first."""
        ...

    async def scan(
        self, start_ns: int | None, end_ns: int | None, *, after: int, limit: int
    ) -> list[Row]:
        """At most ``limit`` rows of every stream with ``start <= time <= end`` and an id above
        ``after``, in id order: the order they were published in (a replay)."""
        ...

    async def put_markets(self, markets: Sequence[Market]) -> None:
        """Store (or replace) market definitions, so that a replay knows their decimals."""
        ...

    async def markets(self) -> list[Market]:
        """Every stored market definition, by id."""
        ...

    async def expire(self, cutoffs: Mapping[str, int], *, max_rows: int) -> int:
        """Remove up to ``max_rows`` rows (and checkpoints) of each kind older than its cut-off;
        the number of rows removed."""
        ...

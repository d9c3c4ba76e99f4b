"""The segments table of the SQLite history store: many events of one (stream, epoch) per row.

A segment row holds up to ``SEGMENT_EVENTS`` events, encoded by ``segments.encode``, with the
bounds queries select on: ids (``first_id`` is the key), seqs and event times. Rows read back in
``(time, id)``, seq or id order by reading segments in the order of the matching bound and
stopping once the ``limit``-th row cannot be displaced by a later segment; segments that do not
overlap (the usual case: a stream's events arrive in time order) need no sort.
"""

from __future__ import annotations

import sqlite3
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, TypeVar

from tickcast.history.rows import Row
from tickcast.history.segments import Columns, columns_of, decode, encode, gc_paused, joined

T = TypeVar("T")
SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (first_id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL,
    stream INTEGER NOT NULL, epoch INTEGER NOT NULL, first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL, min_time INTEGER NOT NULL, max_time INTEGER NOT NULL,
    count INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS segments_low ON segments (stream, min_time, max_time);
CREATE INDEX IF NOT EXISTS segments_high ON segments (stream, max_time, min_time);
CREATE INDEX IF NOT EXISTS segments_seq ON segments (stream, epoch, last_seq);
CREATE INDEX IF NOT EXISTS segments_tail ON segments (stream, epoch, last_id);
CREATE INDEX IF NOT EXISTS segments_last ON segments (last_id);
CREATE INDEX IF NOT EXISTS segments_small ON segments (stream, epoch) WHERE count < 256;
"""
YIELD_ROWS = 4_096
"""Rows a read builds between two offers of the GIL (``time.sleep(0)`` costs ~70 us)."""
SLICE = 512
"""Rows of a write batch handled between two offers of the GIL."""
SEGMENT_EVENTS = 1_024
"""Events per segment at most (a write batch of a stream is cut into segments this long)."""
MERGE_BELOW = 256
"""Segments of fewer events (a slow stream writes a few per flush) are merged into one once they
hold this many together (``segments_small``, a partial index, finds them)."""
FETCH = 64
"""Segments read per query of their blobs at most (the first queries read 1, 2, 4 ...)."""
Select = Callable[[Columns, str, str], tuple[list[Row], bool]]
Key = Callable[[Row], tuple[int, ...]]


def time_key(row: Row) -> tuple[int, ...]:
    return (row.time_ns, row.id)


def seq_key(row: Row) -> tuple[int, ...]:
    return (row.seq, row.id)


def id_key(row: Row) -> tuple[int, ...]:
    return (row.id,)


def _taker(picked: list[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """Takes the items at ``picked`` of a sequence, in C."""
    if len(picked) == 1:
        at = picked[0]
        return lambda values: (values[at],)
    return itemgetter(*picked)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Chunks of ``items`` of 1, 2, 4 ... up to ``size`` items (a small query reads one or two
    segments; a long one few queries)."""
    chunk: list[T] = []
    wanted = 1
    for item in items:
        chunk.append(item)
        if len(chunk) == wanted:
            yield chunk
            chunk = []
            wanted = min(wanted * 2, size)
    if chunk:
        yield chunk


class SegmentTable:
    """The segments of one connection; ``names`` maps (stream id, epoch id) to their names."""

    def __init__(
        self, db: sqlite3.Connection, names: Callable[[int, int], tuple[str, str]]
    ) -> None:
        self.db = db
        self.names = names
        self.small: dict[tuple[int, int], int] = {}
        """Events in small segments per (stream, epoch), as far as this connection wrote them
        (a lower bound: compaction checks the table before it merges); reset on rollback."""

    def write(
        self, rows: Sequence[Row], streams: Mapping[str, int], epochs: Mapping[str, int]
    ) -> None:
        """Rows grouped by (stream, epoch) into segments, numbered in batch order; a small
        newest segment of the same (stream, epoch) is merged with the new rows. The rows are
        taken ``SLICE`` at a time, transposed in C, and the GIL is offered between slices and
        segments (the event loop waits for it at most about one slice's work)."""
        if not rows:
            return
        (last,) = self.db.execute("SELECT coalesce(max(last_id), 0) FROM segments").fetchone()
        groups: dict[tuple[int, int], list[list[Any]]] = {}
        for at in range(0, len(rows), SLICE):
            part = rows[at : at + SLICE]
            names, _, epoch_names, seqs, times, recvs, data, _ = zip(*part, strict=True)
            ids = range(last + 1 + at, last + 1 + at + len(part))
            everything = (ids, seqs, times, recvs, data)
            if len(set(names)) == 1 and len(set(epoch_names)) == 1:  # one stream's slice
                one = (streams[part[0].stream], epochs[part[0].epoch])
                columns = groups.setdefault(one, [[], [], [], [], []])
                for column, values in zip(columns, everything, strict=True):
                    column.extend(values)
                time.sleep(0)
                continue
            members: dict[tuple[int, int], list[int]] = {}
            for n, key in enumerate(zip(names, epoch_names, strict=True)):
                members.setdefault((streams[key[0]], epochs[key[1]]), []).append(n)
            for key, picked in members.items():
                columns = groups.setdefault(key, [[], [], [], [], []])
                take = _taker(picked)
                for column, values in zip(columns, everything, strict=True):
                    column.extend(take(values))
            time.sleep(0)
        for (stream, epoch), (ids_, seqs_, times_, recvs_, data_) in groups.items():
            new = columns_of(ids_, seqs_, times_, recvs_, data_)
            self.insert(stream, epoch, new)
            if len(new) < MERGE_BELOW:
                small = self.small.get((stream, epoch), 0) + len(new)
                self.small[stream, epoch] = small
                if small >= MERGE_BELOW:
                    self._compact(stream, epoch)

    def _compact(self, stream: int, epoch: int) -> None:
        """Once the small segments of (stream, epoch) (fewer than ``MERGE_BELOW`` events each:
        what a slow stream writes per flush) hold ``MERGE_BELOW`` events together, replace them
        by one segment: each event is rewritten once, not once per flush."""
        small = self.db.execute(
            "SELECT first_id, count FROM segments WHERE stream = ? AND epoch = ?"
            f" AND count < {MERGE_BELOW} ORDER BY first_id",
            (stream, epoch),
        ).fetchall()
        total = sum(count for _, count in small)
        self.small[stream, epoch] = total
        if len(small) < 2 or total < MERGE_BELOW:
            return
        self.small[stream, epoch] = 0
        blobs = self._blobs([first for first, _ in small])
        merged = decode(blobs[small[0][0]][2])
        for first, _ in small[1:]:
            merged = joined(merged, decode(blobs[first][2]))
        self.db.executemany("DELETE FROM segments WHERE first_id = ?", [(f,) for f, _ in small])
        self.insert(stream, epoch, merged)

    def insert(self, stream: int, epoch: int, columns: Columns) -> None:
        parts = [columns]
        if len(columns) > SEGMENT_EVENTS:
            parts = [
                columns.pick(range(at, min(at + SEGMENT_EVENTS, len(columns))))
                for at in range(0, len(columns), SEGMENT_EVENTS)
            ]
        self.db.executemany(
            "INSERT INTO segments (first_id, last_id, stream, epoch, first_seq, last_seq,"
            " min_time, max_time, count, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (p.ids[0], p.ids[-1], stream, epoch, min(p.seqs), max(p.seqs),
                 min(p.times), max(p.times), len(p), encode(p))
                for p in parts if len(p)
            ],
        )  # fmt: skip

    def _blobs(self, first_ids: list[int]) -> dict[int, tuple[int, int, bytes]]:
        marks = ",".join("?" * len(first_ids))
        found = self.db.execute(
            f"SELECT first_id, stream, epoch, data FROM segments WHERE first_id IN ({marks})",
            first_ids,
        )
        return {first: (stream, epoch, data) for first, stream, epoch, data in found}

    def gather(
        self,
        metas: Iterable[tuple[int, int]],
        select: Select,
        key: Key,
        limit: int,
        descending: bool = False,
    ) -> list[Row]:
        """The first ``limit`` rows by ``key`` of the segments ``metas`` (``(first_id, bound)``
        in bound order, a bound no row of the segment is before): segments are read until the
        next one's bound is past the ``limit``-th row; no sort unless they overlap."""
        with gc_paused:
            return self._gather_rows(metas, select, key, limit, descending)

    def _gather_rows(
        self,
        metas: Iterable[tuple[int, int]],
        select: Select,
        key: Key,
        limit: int,
        descending: bool,
    ) -> list[Row]:
        collected: list[Row] = []
        in_order = True
        for chunk in batched(metas, FETCH):
            blobs = self._blobs([first for first, _ in chunk])
            for first_id, bound in chunk:
                if len(collected) >= limit:
                    if not in_order:
                        collected.sort(key=key, reverse=descending)
                        in_order = True
                    del collected[limit:]
                    edge = key(collected[-1])[0]
                    if (bound < edge) if descending else (bound > edge):
                        return collected
                stream, epoch, data = blobs[first_id]
                part, ordered = select(decode(data), *self.names(stream, epoch))
                if part and collected and in_order:
                    a, b = key(collected[-1]), key(part[0])
                    in_order = a > b if descending else a < b
                in_order = in_order and ordered
                collected += part
                if len(collected) // YIELD_ROWS != (len(collected) - len(part)) // YIELD_ROWS:
                    time.sleep(0)  # offer the GIL to the event loop every few thousand rows
        if not in_order:
            collected.sort(key=key, reverse=descending)
        return collected[:limit]

    def mark(self, stream: int, after: int) -> tuple[int, int] | None:
        """The (time, id) of the row numbered ``after`` in ``stream``."""
        found = self.db.execute(
            "SELECT data FROM segments WHERE stream = ? AND last_id >= ? AND first_id <= ?"
            " ORDER BY last_id LIMIT 16",
            (stream, after, after),
        )
        for (data,) in found:
            columns = decode(data)
            at = bisect_left(columns.ids, after)
            if at < len(columns) and columns.ids[at] == after:
                return (columns.times[at], after)
        return None

    def expire(self, stream: int, cutoff: int, max_rows: int) -> int:
        """Remove up to ``max_rows`` events of ``stream`` older than ``cutoff``, oldest first:
        whole segments where they can, else the segment rewritten without them."""
        removed = 0
        found = self.db.execute(
            "SELECT first_id, epoch, data FROM segments WHERE stream = ? AND min_time < ?"
            " ORDER BY min_time, first_id",
            (stream, cutoff),
        )
        for first_id, epoch, data in found.fetchall():
            if removed >= max_rows:
                break
            columns = decode(bytes(data))
            old = sorted(
                (i for i, t in enumerate(columns.times) if t < cutoff),
                key=lambda i: (columns.times[i], columns.ids[i]),
            )[: max_rows - removed]
            removed += len(old)
            self.db.execute("DELETE FROM segments WHERE first_id = ?", (first_id,))
            gone = set(old)
            kept = [i for i in range(len(columns)) if i not in gone]
            self.insert(stream, epoch, columns.pick(kept))
        return removed


def stored_seqs(db: sqlite3.Connection) -> list[int]:
    """Every stored event's seq, sorted (for fault tests that open the file themselves)."""
    found = db.execute("SELECT data FROM segments")
    return sorted(seq for (data,) in found for seq in decode(data).seqs)

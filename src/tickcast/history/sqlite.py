"""SqliteHistory: the embedded history store, one SQLite file (WAL) under the data directory.

Every call runs on the store's own thread (one connection, never shared), so the event loop only
awaits. Streams and epochs are stored once and referenced by small integers; events are stored
in columnar segments of up to 1 024 events of one (stream, epoch) (sqlite_segments.py), about 40
bytes per event plus its JSON; book checkpoints and market definitions one per row. Why SQLite
segments and not DuckDB or Parquet files: docs/history.md (measured).
"""

from __future__ import annotations

import asyncio
import heapq
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tickcast.errors import StorageError
from tickcast.history.base import EpochSpan
from tickcast.history.books import Checkpoint
from tickcast.history.latest import latest_rows
from tickcast.history.rows import Row, kind_of, market_data, market_of_data
from tickcast.history.segments import Columns, id_window, seq_window, time_window, window_rows
from tickcast.history.sqlite_segments import (
    SCHEMA as SEGMENT_SCHEMA,
)
from tickcast.history.sqlite_segments import (
    SegmentTable,
    id_key,
    seq_key,
    time_key,
)
from tickcast.model import Market
from tickcast.storage.sqlite import switch_to_wal

T = TypeVar("T")
LOWEST, HIGHEST = -(2**63), 2**63 - 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                                    kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS epochs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS checkpoints (id INTEGER PRIMARY KEY, stream INTEGER NOT NULL,
    epoch INTEGER NOT NULL, seq INTEGER NOT NULL, time_ns INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS checkpoints_time ON checkpoints (stream, time_ns);
CREATE TABLE IF NOT EXISTS markets (id TEXT PRIMARY KEY, data BLOB NOT NULL);
"""


class SqliteHistory:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-sqlite")
        self._db: sqlite3.Connection | None = None
        self._streams: dict[str, int] = {}
        self._epochs: dict[str, int] = {}
        self._epoch_names: dict[int, str] = {}
        self._stream_names: dict[int, str] = {}
        self._segments: SegmentTable | None = None

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, function, *args)
        except sqlite3.Error as exc:
            raise StorageError(f"history store {self.path.name}: {type(exc).__name__}") from exc

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        switch_to_wal(db)  # waits for another worker opening the same new file
        db.execute("PRAGMA synchronous=NORMAL")  # a process crash loses nothing committed
        db.execute("PRAGMA busy_timeout=10000")  # several gateway workers share the file
        db.executescript(SCHEMA + SEGMENT_SCHEMA)
        self._db = db
        self._segments = SegmentTable(db, self._names)
        self._load_names()

    def _load_names(self) -> None:
        self._streams = dict(self.db.execute("SELECT name, id FROM streams"))
        self._epochs = dict(self.db.execute("SELECT name, id FROM epochs"))
        self._epoch_names = {number: name for name, number in self._epochs.items()}
        self._stream_names = {number: name for name, number in self._streams.items()}

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError("history store is not open")
        return self._db

    @property
    def segments(self) -> SegmentTable:
        if self._segments is None:
            raise StorageError("history store is not open")
        return self._segments

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self.db.close)
            self._db = None
        self._thread.shutdown(wait=True)

    async def append(self, rows: Sequence[Row], checkpoints: Sequence[Checkpoint]) -> None:
        if rows or checkpoints:
            await self._run(self._append, rows, checkpoints)

    def _ids(self, streams: set[str], epochs: set[str]) -> None:
        for name in streams - self._streams.keys():
            self.db.execute(
                "INSERT OR IGNORE INTO streams (name, kind) VALUES (?, ?)", (name, kind_of(name))
            )
        for name in epochs - self._epochs.keys():
            self.db.execute("INSERT OR IGNORE INTO epochs (name) VALUES (?)", (name,))
        if streams - self._streams.keys() or epochs - self._epochs.keys():
            self._load_names()

    def _append(self, rows: Sequence[Row], checkpoints: Sequence[Checkpoint]) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._ids(
                {r.stream for r in rows} | {c.stream for c in checkpoints},
                {r.epoch for r in rows} | {c.epoch for c in checkpoints},
            )
            self.segments.write(rows, self._streams, self._epochs)
            streams, epochs = self._streams, self._epochs
            db.executemany(
                "INSERT INTO checkpoints (stream, epoch, seq, time_ns, data)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (streams[c.stream], epochs[c.epoch], c.seq, c.time_ns, c.data)
                    for c in checkpoints
                ],
            )
        except BaseException:
            db.execute("ROLLBACK")
            self.segments.small.clear()
            raise
        db.execute("COMMIT")

    def _names(self, stream: int, epoch: int) -> tuple[str, str]:
        if epoch not in self._epoch_names or stream not in self._stream_names:
            self._load_names()
        return self._stream_names[stream], self._epoch_names[epoch]

    def _stream_id(self, stream: str) -> int | None:
        if stream not in self._streams:
            self._load_names()
        return self._streams.get(stream)

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
        return await self._run(self._range, stream, start_ns, end_ns, limit, after, descending)

    def _range(
        self,
        stream: str,
        start_ns: int | None,
        end_ns: int | None,
        limit: int,
        after: int | None,
        descending: bool,
    ) -> list[Row]:
        number = self._stream_id(stream)
        if number is None or limit <= 0:
            return []
        low, high = LOWEST if start_ns is None else start_ns, HIGHEST if end_ns is None else end_ns
        mark = None if after is None else self.segments.mark(number, after)
        if after is not None and mark is None:
            return []
        if descending:
            top = high if mark is None else min(high, mark[0])
            metas = self.db.execute(
                "SELECT first_id, max_time FROM segments WHERE stream = ? AND max_time >= ?"
                " AND min_time <= ? ORDER BY max_time DESC, first_id DESC",
                (number, low, top),
            )
        else:
            bottom = low if mark is None else max(low, mark[0])
            metas = self.db.execute(
                "SELECT first_id, min_time FROM segments WHERE stream = ? AND min_time <= ?"
                " AND max_time >= ? ORDER BY min_time, first_id",
                (number, high, bottom),
            )

        def select(columns: Columns, name: str, epoch: str) -> tuple[list[Row], bool]:
            window = time_window(columns, low, high, mark, descending)
            return window_rows(columns, window, name, kind_of(name), epoch, descending), True

        return self.segments.gather(metas.fetchall(), select, time_key, limit, descending)

    async def since(
        self, stream: str, epoch: str, seq: int, *, limit: int, until_ns: int | None = None
    ) -> list[Row]:
        return await self._run(self._since, stream, epoch, seq, limit, until_ns)

    def _since(
        self, stream: str, epoch: str, seq: int, limit: int, until_ns: int | None
    ) -> list[Row]:
        number = self._stream_id(stream)
        if epoch not in self._epochs:
            self._load_names()
        epoch_id = self._epochs.get(epoch)
        if number is None or epoch_id is None or limit <= 0:
            return []
        until = HIGHEST if until_ns is None else until_ns
        metas = self.db.execute(
            "SELECT first_id, first_seq FROM segments WHERE stream = ? AND epoch = ?"
            " AND last_seq > ? AND min_time <= ? ORDER BY first_seq, first_id",
            (number, epoch_id, seq, until),
        )

        def select(columns: Columns, name: str, epoch: str) -> tuple[list[Row], bool]:
            window = seq_window(columns, seq, until)
            return window_rows(columns, window, name, kind_of(name), epoch), True

        return self.segments.gather(metas, select, seq_key, limit)

    def _rows(self, stream: str, kind: str, found: list[tuple[Any, ...]]) -> list[Row]:
        names = self._epoch_names
        if any(epoch not in names for _, epoch, *_ in found):
            self._load_names()
            names = self._epoch_names
        return [
            Row(stream, kind, names[epoch], seq, time_ns, recv_ns, bytes(data), number)
            for number, epoch, seq, time_ns, recv_ns, data in found
        ]

    async def latest(self, stream: str, time_ns: int) -> list[Row]:
        return await latest_rows(self, stream, time_ns)

    async def checkpoint_at(self, stream: str, time_ns: int) -> Row | None:
        found = await self._run(self._checkpoints, stream, LOWEST, time_ns, 1, 0, True)
        return found[0] if found else None

    async def checkpoints(
        self, stream: str, start_ns: int | None, end_ns: int | None, *, limit: int, after: int = 0
    ) -> list[Row]:
        low, high = LOWEST if start_ns is None else start_ns, HIGHEST if end_ns is None else end_ns
        return await self._run(self._checkpoints, stream, low, high, limit, after, False)

    def _checkpoints(
        self, stream: str, low: int, high: int, limit: int, after: int, newest: bool
    ) -> list[Row]:
        number = self._stream_id(stream)
        if number is None:
            return []
        order = "time_ns DESC, id DESC" if newest else "id"
        cursor = self.db.execute(
            "SELECT id, epoch, seq, time_ns, 0, data FROM checkpoints WHERE stream = ?"
            f" AND time_ns BETWEEN ? AND ? AND id > ? ORDER BY {order} LIMIT ?",
            (number, low, high, after, limit),
        )
        return self._rows(stream, kind_of(stream), cursor.fetchall())

    async def epochs(self, stream: str) -> list[EpochSpan]:
        return await self._run(self._epoch_spans, stream)

    def _epoch_spans(self, stream: str) -> list[EpochSpan]:
        number = self._stream_id(stream)
        if number is None:
            return []
        found = self.db.execute(
            "SELECT epoch, min(first_seq), max(last_seq), min(min_time), max(max_time),"
            " sum(count), min(first_id) FROM segments WHERE stream = ? GROUP BY epoch"
            " ORDER BY min(first_id)",
            (number,),
        ).fetchall()
        self._load_names()
        return [EpochSpan(self._epoch_names[e], *rest) for e, *rest, _ in found]

    async def scan(
        self, start_ns: int | None, end_ns: int | None, *, after: int, limit: int
    ) -> list[Row]:
        low, high = LOWEST if start_ns is None else start_ns, HIGHEST if end_ns is None else end_ns
        return await self._run(self._scan, low, high, after, limit)

    def _scan(self, low: int, high: int, after: int, limit: int) -> list[Row]:
        if limit <= 0:
            return []
        # segments holding ``after`` (found through the last_id index), then every later one
        # in key order, read lazily: a replay deep into the store reads no earlier segment
        straddling = self.db.execute(
            "SELECT first_id, first_id FROM segments WHERE last_id > ?1 AND first_id <= ?1"
            " AND min_time <= ?2 AND max_time >= ?3",
            (after, high, low),
        ).fetchall()
        later = self.db.execute(
            "SELECT first_id, first_id FROM segments WHERE first_id > ? AND min_time <= ?"
            " AND max_time >= ? ORDER BY first_id",
            (after, high, low),
        )
        metas = heapq.merge(sorted(straddling), later)

        def select(columns: Columns, name: str, epoch: str) -> tuple[list[Row], bool]:
            window = id_window(columns, after, low, high)
            return window_rows(columns, window, name, kind_of(name), epoch), True

        return self.segments.gather(metas, select, id_key, limit)

    async def put_markets(self, markets: Sequence[Market]) -> None:
        if markets:
            await self._run(self._put_markets, [(m.id, market_data(m)) for m in markets])

    def _put_markets(self, items: list[tuple[str, bytes]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO markets (id, data) VALUES (?, ?)", items)

    async def markets(self) -> list[Market]:
        found = await self._run(
            lambda: self.db.execute("SELECT data FROM markets ORDER BY id").fetchall()
        )
        return [market_of_data(bytes(data)) for (data,) in found]

    async def expire(self, cutoffs: Mapping[str, int], *, max_rows: int) -> int:
        return await self._run(self._expire, dict(cutoffs), max_rows)

    def _expire(self, cutoffs: dict[str, int], max_rows: int) -> int:
        removed = 0
        kinds = self.db.execute("SELECT id, kind FROM streams").fetchall()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for number, kind in kinds:
                cutoff = cutoffs.get(kind)
                if cutoff is None:
                    continue
                removed += self.segments.expire(number, cutoff, max_rows)
                self.db.execute(
                    "DELETE FROM checkpoints WHERE id IN (SELECT id FROM checkpoints"
                    " WHERE stream = ? AND time_ns < ? LIMIT ?)",
                    (number, cutoff, max_rows),
                )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return removed

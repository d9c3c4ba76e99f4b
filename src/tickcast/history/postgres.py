"""PostgresHistory: the history store for clusters, in the PostgreSQL database of the keys.

Events live in ``history_events``, partitioned by day of event time (one partition per UTC day,
created on first write); retention deletes expired rows in chunks and drops a day's partition
once every kind's cut-off has passed it. The tables are created by this module (under an
advisory lock, so nodes starting together agree), not by the keys schema's alembic revisions:
the history package stays movable as one unit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from tickcast.errors import StorageError
from tickcast.history.base import EpochSpan
from tickcast.history.books import Checkpoint
from tickcast.history.latest import latest_rows
from tickcast.history.retention import DAY_NS, DEFAULT_DAYS
from tickcast.history.rows import Row, kind_of, market_data, market_of_data
from tickcast.model import Market

LOWEST, HIGHEST = -(2**63), 2**63 - 1
_LOCK = 0x7469636B  # advisory lock key for schema and partition changes
_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
SCHEMA = """
CREATE TABLE IF NOT EXISTS history_streams (id serial PRIMARY KEY, name text NOT NULL UNIQUE,
                                            kind text NOT NULL);
CREATE TABLE IF NOT EXISTS history_epochs (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS history_events (id bigserial, stream_id integer NOT NULL,
    epoch_id integer NOT NULL, seq bigint NOT NULL, time_ns bigint NOT NULL,
    recv_ns bigint NOT NULL, data bytea NOT NULL) PARTITION BY RANGE (time_ns);
CREATE INDEX IF NOT EXISTS history_events_time ON history_events (stream_id, time_ns, id);
CREATE INDEX IF NOT EXISTS history_events_seq ON history_events (stream_id, epoch_id, seq);
CREATE TABLE IF NOT EXISTS history_checkpoints (id bigserial PRIMARY KEY,
    stream_id integer NOT NULL, epoch_id integer NOT NULL, seq bigint NOT NULL,
    time_ns bigint NOT NULL, data bytea NOT NULL);
CREATE INDEX IF NOT EXISTS history_checkpoints_time ON history_checkpoints (stream_id, time_ns);
CREATE TABLE IF NOT EXISTS history_markets (id text PRIMARY KEY, data bytea NOT NULL);
"""
_COLUMNS = "id, epoch_id, seq, time_ns, recv_ns, data"


def _partition(day: int) -> str:
    return f"history_events_d{day}" if day >= 0 else f"history_events_m{-day}"


class PostgresHistory:
    def __init__(self, url: str, *, pool_max: int = 4) -> None:
        self._url = url
        self._pool_max = pool_max
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._streams: dict[str, int] = {}
        self._epochs: dict[str, int] = {}
        self._epoch_names: dict[int, str] = {}
        self._days: set[int] = set()

    @asynccontextmanager
    async def _conn(self, action: str) -> AsyncIterator[Any]:
        if self._pool is None:
            raise StorageError("history store is not open")
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except _ERRORS as exc:
            raise StorageError(f"history store failed while {action}") from exc

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._url, min_size=1, max_size=self._pool_max, timeout=10, command_timeout=60
            )
        except _ERRORS as exc:
            raise StorageError("history store failed while connecting") from exc
        async with self._conn("creating the schema") as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
            await conn.execute(SCHEMA)
        await self._load_names()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _load_names(self) -> None:
        async with self._conn("reading names") as conn:
            self._streams = dict(await conn.fetch("SELECT name, id FROM history_streams"))
            self._epochs = dict(await conn.fetch("SELECT name, id FROM history_epochs"))
        self._epoch_names = {number: name for name, number in self._epochs.items()}

    async def _ensure(self, conn: Any, streams: set[str], epochs: set[str], days: set[int]) -> None:
        new_streams, new_epochs = streams - self._streams.keys(), epochs - self._epochs.keys()
        new_days = days - self._days
        if not (new_streams or new_epochs or new_days):
            return
        async with conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
            for name in new_streams:
                await conn.execute(
                    "INSERT INTO history_streams (name, kind) VALUES ($1, $2)"
                    " ON CONFLICT DO NOTHING", name, kind_of(name),
                )  # fmt: skip
            for name in new_epochs:
                await conn.execute(
                    "INSERT INTO history_epochs (name) VALUES ($1) ON CONFLICT DO NOTHING", name
                )
            for day in new_days:
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {_partition(day)} PARTITION OF history_events"
                    f" FOR VALUES FROM ({day * DAY_NS}) TO ({(day + 1) * DAY_NS})"
                )
        self._days |= new_days
        self._streams = dict(await conn.fetch("SELECT name, id FROM history_streams"))
        self._epochs = dict(await conn.fetch("SELECT name, id FROM history_epochs"))
        self._epoch_names = {number: name for name, number in self._epochs.items()}

    async def append(self, rows: Sequence[Row], checkpoints: Sequence[Checkpoint]) -> None:
        if not rows and not checkpoints:
            return
        try:
            await self._append(rows, checkpoints)
        except StorageError:
            self._days.clear()  # a partition may have been dropped by another node: re-check
            raise

    async def _append(self, rows: Sequence[Row], checkpoints: Sequence[Checkpoint]) -> None:
        async with self._conn("writing a batch") as conn:
            await self._ensure(
                conn,
                {r.stream for r in rows} | {c.stream for c in checkpoints},
                {r.epoch for r in rows} | {c.epoch for c in checkpoints},
                {r.time_ns // DAY_NS for r in rows},
            )
            streams, epochs = self._streams, self._epochs
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "history_events",
                    columns=("stream_id", "epoch_id", "seq", "time_ns", "recv_ns", "data"),
                    records=[
                        (streams[r.stream], epochs[r.epoch], r.seq, r.time_ns, r.recv_ns, r.data)
                        for r in rows
                    ],
                )
                await conn.copy_records_to_table(
                    "history_checkpoints",
                    columns=("stream_id", "epoch_id", "seq", "time_ns", "data"),
                    records=[
                        (streams[c.stream], epochs[c.epoch], c.seq, c.time_ns, c.data)
                        for c in checkpoints
                    ],
                )

    async def _rows(self, stream: str, found: Sequence[Any]) -> list[Row]:
        if any(record[1] not in self._epoch_names for record in found):
            await self._load_names()
        names, kind = self._epoch_names, kind_of(stream)
        return [
            Row(stream, kind, names[epoch], seq, time_ns, recv_ns, bytes(data), number)
            for number, epoch, seq, time_ns, recv_ns, data in found
        ]

    async def _stream_id(self, stream: str) -> int | None:
        if stream not in self._streams:
            await self._load_names()
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
        number = await self._stream_id(stream)
        if number is None:
            return []
        low, high = LOWEST if start_ns is None else start_ns, HIGHEST if end_ns is None else end_ns
        compare, order = ("<", "DESC") if descending else (">", "ASC")
        async with self._conn("reading a range") as conn:
            mark = (HIGHEST, HIGHEST) if descending else (LOWEST, LOWEST)
            if after is not None:
                time_ns = await conn.fetchval(
                    "SELECT time_ns FROM history_events WHERE stream_id = $1 AND id = $2",
                    number, after,
                )  # fmt: skip
                if time_ns is None:
                    return []
                mark = (time_ns, after)
            found = await conn.fetch(
                f"SELECT {_COLUMNS} FROM history_events WHERE stream_id = $1"
                f" AND time_ns BETWEEN $2 AND $3 AND (time_ns, id) {compare} ($4, $5)"
                f" ORDER BY time_ns {order}, id {order} LIMIT $6",
                number, low, high, mark[0], mark[1], limit,
            )  # fmt: skip
        return await self._rows(stream, found)

    async def since(
        self, stream: str, epoch: str, seq: int, *, limit: int, until_ns: int | None = None
    ) -> list[Row]:
        number = await self._stream_id(stream)
        if epoch not in self._epochs:
            await self._load_names()
        epoch_id = self._epochs.get(epoch)
        if number is None or epoch_id is None:
            return []
        async with self._conn("reading a replay") as conn:
            found = await conn.fetch(
                f"SELECT {_COLUMNS} FROM history_events WHERE stream_id = $1 AND epoch_id = $2"
                " AND seq > $3 AND time_ns <= $4 ORDER BY seq LIMIT $5",
                number, epoch_id, seq, HIGHEST if until_ns is None else until_ns, limit,
            )  # fmt: skip
        return await self._rows(stream, found)

    async def latest(self, stream: str, time_ns: int) -> list[Row]:
        return await latest_rows(self, stream, time_ns)

    async def checkpoint_at(self, stream: str, time_ns: int) -> Row | None:
        found = await self._checkpoints(stream, LOWEST, time_ns, 1, 0, newest=True)
        return found[0] if found else None

    async def checkpoints(
        self, stream: str, start_ns: int | None, end_ns: int | None, *, limit: int, after: int = 0
    ) -> list[Row]:
        low, high = LOWEST if start_ns is None else start_ns, HIGHEST if end_ns is None else end_ns
        return await self._checkpoints(stream, low, high, limit, after, newest=False)

    async def _checkpoints(
        self, stream: str, low: int, high: int, limit: int, after: int, *, newest: bool
    ) -> list[Row]:
        number = await self._stream_id(stream)
        if number is None:
            return []
        order = "time_ns DESC, id DESC" if newest else "id"
        async with self._conn("reading checkpoints") as conn:
            found = await conn.fetch(
                "SELECT id, epoch_id, seq, time_ns, 0::bigint, data FROM history_checkpoints"
                " WHERE stream_id = $1 AND time_ns BETWEEN $2 AND $3 AND id > $4"
                f" ORDER BY {order} LIMIT $5",
                number, low, high, after, limit,
            )  # fmt: skip
        return await self._rows(stream, found)

    async def epochs(self, stream: str) -> list[EpochSpan]:
        number = await self._stream_id(stream)
        if number is None:
            return []
        async with self._conn("reading epochs") as conn:
            found = await conn.fetch(
                "SELECT epoch_id, min(seq), max(seq), min(time_ns), max(time_ns), count(*)"
                " FROM history_events WHERE stream_id = $1 GROUP BY epoch_id ORDER BY min(id)",
                number,
            )
        await self._load_names()
        return [EpochSpan(self._epoch_names[r[0]], *r[1:]) for r in found]

    async def scan(
        self, start_ns: int | None, end_ns: int | None, *, after: int, limit: int
    ) -> list[Row]:
        low, high = LOWEST if start_ns is None else start_ns, HIGHEST if end_ns is None else end_ns
        async with self._conn("reading a replay") as conn:
            found = await conn.fetch(
                f"SELECT stream_id, {_COLUMNS} FROM history_events WHERE id > $1"
                " AND time_ns BETWEEN $2 AND $3 ORDER BY id LIMIT $4",
                after, low, high, limit,
            )  # fmt: skip
        names = {number: name for name, number in self._streams.items()}
        if any(record[0] not in names for record in found):
            await self._load_names()
            names = {number: name for name, number in self._streams.items()}
        rows: list[Row] = []
        for record in found:
            rows += await self._rows(names[record[0]], [tuple(record)[1:]])
        return rows

    async def put_markets(self, markets: Sequence[Market]) -> None:
        if not markets:
            return
        async with self._conn("writing markets") as conn:
            await conn.executemany(
                "INSERT INTO history_markets (id, data) VALUES ($1, $2)"
                " ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data",
                [(m.id, market_data(m)) for m in markets],
            )

    async def markets(self) -> list[Market]:
        async with self._conn("reading markets") as conn:
            found = await conn.fetch("SELECT data FROM history_markets ORDER BY id")
        return [market_of_data(bytes(record[0])) for record in found]

    async def expire(self, cutoffs: Mapping[str, int], *, max_rows: int) -> int:
        removed = 0
        async with self._conn("expiring rows") as conn:
            for number, kind in await conn.fetch("SELECT id, kind FROM history_streams"):
                cutoff = cutoffs.get(kind)
                if cutoff is None:
                    continue
                for table in ("history_events", "history_checkpoints"):
                    status = await conn.execute(
                        f"DELETE FROM {table} WHERE stream_id = $1 AND id IN (SELECT id FROM"
                        f" {table} WHERE stream_id = $1 AND time_ns < $2 LIMIT $3)",
                        number, cutoff, max_rows,
                    )  # fmt: skip
                    removed += int(status.split()[-1]) if table == "history_events" else 0
            await self._drop_days(conn, cutoffs)
        return removed

    async def _drop_days(self, conn: Any, cutoffs: Mapping[str, int]) -> None:
        """Drop the partitions of days that every kind's cut-off has passed."""
        if set(DEFAULT_DAYS) - cutoffs.keys():
            return  # some kind is kept forever
        oldest_kept = min(cutoffs[kind] for kind in DEFAULT_DAYS) // DAY_NS
        async with conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")
            names = await conn.fetch(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'history_events'"
            )
            for (name,) in names:
                day = name.removeprefix("history_events_")
                number = int(day[1:]) * (1 if day[0] == "d" else -1)
                if number < oldest_kept:
                    await conn.execute(f"DROP TABLE IF EXISTS {name}")
                    self._days.discard(number)

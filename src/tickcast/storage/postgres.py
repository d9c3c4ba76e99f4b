"""The SQL store on a PostgreSQL database (SQLAlchemy's asyncpg dialect).

Several nodes share one database. The constructor does no I/O: the first call (or :meth:`open`)
migrates the schema (alembic, :mod:`tickcast.storage.migrate`) and starts a pool of up to
:data:`POOL_MAX` connections. asyncpg opens every connection from the store's URL itself, so the
URL means exactly what it means to asyncpg (SQLAlchemy never parses it). Reads run in autocommit
mode (one round trip each); writes are transactions. A connection found broken is discarded and
the pool replaces the others it opened before, so the store recovers by itself when the database
is back.

The URL's password appears in no message: not in ``repr``, not in StorageError.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from alembic.util import CommandError
from sqlalchemy import CursorResult
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from tickcast.auth.plans import Plan
from tickcast.clock import Clock, SystemClock
from tickcast.errors import ConfigError, StorageError
from tickcast.storage import migrate
from tickcast.storage.sql import Params, Session, SqlStore
from tickcast.storage.urls import redact, store_kind

POOL_MAX = 10
CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 30.0


class _AsyncSession:
    """A :class:`~tickcast.storage.sql.Session` over an asyncio connection."""

    __slots__ = ("_connection",)

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def execute(
        self, statement: Executable, params: Params | None = None
    ) -> CursorResult[Any]:
        return await self._connection.execute(statement, params)


class PostgresStore(SqlStore):
    """Users, API keys (hashes only) and usage totals in a PostgreSQL database."""

    driver_errors = (
        SQLAlchemyError,
        CommandError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        OSError,
        TimeoutError,
    )

    def __init__(
        self,
        *,
        url: str,
        plans: Mapping[str, Plan],
        clock: Clock,
        pool_max: int = POOL_MAX,
    ) -> None:
        if store_kind(url) != "postgresql":
            raise ConfigError(f"not a PostgreSQL URL: {redact(url)!r}")
        super().__init__(dialect="postgresql", plans=plans, clock=clock)
        self._url = url
        self._pool_max = pool_max
        self._engine: AsyncEngine | None = None
        self._reader: AsyncEngine | None = None
        self._opening: asyncio.Lock | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self._url)!r})"

    async def _connect(self) -> asyncpg.Connection[asyncpg.Record]:
        return await asyncpg.connect(
            self._url,
            timeout=CONNECT_TIMEOUT,
            command_timeout=COMMAND_TIMEOUT,
            server_settings={"application_name": "tickcast"},
        )

    def _new_engine(self) -> AsyncEngine:
        return create_async_engine(
            "postgresql+asyncpg://",
            async_creator=self._connect,
            pool_size=self._pool_max,
            max_overflow=0,
            pool_timeout=COMMAND_TIMEOUT,
            hide_parameters=True,
            json_serializer=functools.partial(json.dumps, sort_keys=True),
        )

    async def open(self) -> None:
        """Migrate the schema and start the pool; does nothing if already open."""
        if self._closed:
            raise StorageError("the store is closed")
        if self._engine is not None:
            return
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._engine is not None:
                return
            engine = self._new_engine()
            try:
                with self._errors("migrating the schema"):
                    async with engine.connect() as connection:
                        revision = await connection.run_sync(migrate.upgrade_postgresql)
            except BaseException:
                await engine.dispose()
                raise
            if self._closed:  # closed while connecting
                await engine.dispose()
                raise StorageError("the store is closed")
            self.revision = revision
            self._engine = engine
            self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def _session(self, action: str, *, write: bool) -> AsyncIterator[Session]:
        await self.open()
        engine = self._engine if write else self._reader
        if engine is None:
            raise StorageError("the store is closed")
        with self._errors(action):
            async with engine.begin() if write else engine.connect() as connection:
                yield _AsyncSession(connection)

    async def close(self) -> None:
        """Close the pool; later calls raise StorageError. Closing twice is harmless."""
        self._closed = True
        engine, self._engine, self._reader = self._engine, None, None
        if engine is not None:
            with self._errors("closing the database"):
                await asyncio.wait_for(engine.dispose(), timeout=COMMAND_TIMEOUT)


async def current_revision(url: str) -> str | None:
    """The revision of the database at ``url`` (None if never migrated), without migrating."""
    store = PostgresStore(url=url, plans={}, clock=SystemClock())
    engine = store._new_engine()
    try:
        with store._errors("reading the schema revision"):
            async with engine.connect() as connection:
                return await connection.run_sync(migrate.current_revision)
    finally:
        await engine.dispose()

"""The SQL store on a SQLite file (stdlib ``sqlite3`` through SQLAlchemy's ``pysqlite`` dialect).

One connection in WAL mode with ``check_same_thread=False`` and a busy timeout, so the server and
the ``tickcast keys`` CLI can share the file. Every call is a quick indexed statement on a small
local database, so it runs directly on the event loop instead of paying for a thread hop (the
same reason no async driver is used). The connection is in autocommit mode; writes are
``BEGIN IMMEDIATE`` transactions. The schema is migrated (alembic, :mod:`tickcast.storage.migrate`)
when the store is built, so a bad or newer file fails at once.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Executable

from tickcast.auth.plans import Plan
from tickcast.clock import Clock
from tickcast.errors import StorageError
from tickcast.storage import migrate
from tickcast.storage.sql import Params, Session, SqlStore

DB_FILENAME = "tickcast.sqlite3"
BUSY_TIMEOUT_MS = 5000
WAL_SWITCH_PAUSE_S = 0.01
"""Pause between attempts to switch a new file to WAL while another opener holds it."""
OPEN_BUSY_TIMEOUT_MS = 60_000
"""While opening: switching to WAL and migrating wait for other processes opening the same new
file (workers starting together); one of them may hold the lock through alembic's import and
the migration, which takes seconds on a loaded machine. Afterwards, BUSY_TIMEOUT_MS."""


def default_db_path(data_dir: Path) -> Path:
    """The database file inside a data directory."""
    return Path(data_dir) / DB_FILENAME


class _SyncSession:
    """A :class:`~tickcast.storage.sql.Session` over a synchronous connection."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def execute(
        self, statement: Executable, params: Params | None = None
    ) -> CursorResult[Any]:
        return self._connection.execute(statement, params)


class SqliteStore(SqlStore):
    """Users, API keys (hashes only) and usage totals in one SQLite file."""

    driver_errors = (SQLAlchemyError, sqlite3.Error)

    def __init__(self, *, path: str | Path, plans: Mapping[str, Plan], clock: Clock) -> None:
        super().__init__(dialect="sqlite", plans=plans, clock=clock)
        self._path = str(path)
        self._engine = create_engine(
            "sqlite://",
            creator=self._connect,
            poolclass=NullPool,
            hide_parameters=True,
            json_serializer=functools.partial(json.dumps, sort_keys=True),
        )
        self._connection: Connection | None = None
        with self._errors("opening the database"):
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                self.revision = migrate.upgrade_sqlite(connection)
                connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            except BaseException:
                connection.close()
                self._engine.dispose()
                raise
            self._connection = connection
            self._session_of = _SyncSession(connection)
            # BEGIN/COMMIT go to sqlite3 itself: SQLAlchemy does not track them in autocommit
            # mode anyway, and they are half the statements of a write
            driver = connection.connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            self._driver = driver

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self._path,
            check_same_thread=False,
            isolation_level=None,
            timeout=OPEN_BUSY_TIMEOUT_MS / 1000,  # also the busy timeout of the PRAGMAs below
        )
        try:
            switch_to_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            db.close()
            raise
        return db

    def _live(self) -> Connection:
        if self._connection is None:
            raise StorageError("the store is closed")
        return self._connection

    @asynccontextmanager
    async def _session(self, action: str, *, write: bool) -> AsyncIterator[Session]:
        with self._errors(action):
            self._live()
            if not write:
                yield self._session_of
                return
            driver = self._driver
            driver.execute("BEGIN IMMEDIATE")
            try:
                yield self._session_of
            except BaseException:
                driver.execute("ROLLBACK")
                raise
            driver.execute("COMMIT")

    async def open(self) -> None:
        """Nothing to do (the file is opened and migrated when the store is built)."""
        self._live()

    async def close(self) -> None:
        """Close the connection (checkpointing the WAL); later calls raise StorageError."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with self._errors("closing the database"):
                connection.close()
                self._engine.dispose()


def switch_to_wal(db: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to ``OPEN_BUSY_TIMEOUT_MS`` for other connections
    opening the same new file: SQLite answers "database is locked" at once, without calling its
    busy handler, when this connection would have to upgrade a lock another one is waiting to
    upgrade too (its deadlock avoidance), so the busy timeout alone does not cover it."""
    deadline = time.monotonic() + OPEN_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(WAL_SWITCH_PAUSE_S)

"""Fixtures for store tests: the same contract suite runs on SQLite and on PostgreSQL.

``backend`` is parametrised over both; PostgreSQL tests get a new database on the session's real
server (tests/postgres_server.py), which is started only when a PostgreSQL test runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from tests.postgres_server import PostgresServer

from tickcast.auth.plans import Plan, load_plans
from tickcast.clock import ManualClock
from tickcast.storage.base import Store
from tickcast.storage.postgres import PostgresStore
from tickcast.storage.sqlite import SqliteStore, default_db_path

BACKENDS = ("sqlite", "postgresql")


@dataclass
class Backend:
    """How to open (again) the store under test and read what its database holds."""

    name: str
    location: str
    """The SQLite file or the PostgreSQL URL."""
    clock: ManualClock

    def open(self, plans: dict[str, Plan]) -> Store:
        """A new store on the same database."""
        if self.name == "sqlite":
            return SqliteStore(path=self.location, plans=plans, clock=self.clock)
        return PostgresStore(url=self.location, plans=plans, clock=self.clock)

    async def raw(self) -> bytes:
        """Every byte the database holds (files on disk, or every row of every table)."""
        if self.name == "sqlite":
            directory = Path(self.location).parent
            return b"".join(path.read_bytes() for path in directory.iterdir() if path.is_file())
        connection = await asyncpg.connect(self.location)
        try:
            rows = await connection.fetch(
                "SELECT string_agg(t::text, '|') AS dump FROM ("
                "SELECT u::text FROM users u UNION ALL SELECT k::text FROM api_keys k "
                "UNION ALL SELECT s::text FROM usage s) AS t"
            )
        finally:
            await connection.close()
        return (rows[0]["dump"] or "").encode()


@pytest.fixture
def plans() -> dict[str, Plan]:
    return load_plans()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return default_db_path(tmp_path)


CONTRACT_DATABASE = "contract"
_EMPTY_TABLES = (
    "DO $$ BEGIN IF to_regclass('api_keys') IS NOT NULL THEN "
    "TRUNCATE usage, api_keys, users; END IF; END $$"
)


@pytest.fixture(scope="session")
def contract_database(postgres_server: PostgresServer) -> str:
    """One database for the contract tests (emptied before each), cheaper than one per test."""
    postgres_server.psql(f"CREATE DATABASE {CONTRACT_DATABASE}")
    return postgres_server.url(CONTRACT_DATABASE)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, db_path: Path, clock: ManualClock) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", str(db_path), clock)
    url: str = request.getfixturevalue("contract_database")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(_EMPTY_TABLES)
    finally:
        await connection.close()
    return Backend("postgresql", url, clock)


@pytest.fixture
async def store(backend: Backend, plans: dict[str, Plan]) -> AsyncIterator[Store]:
    store = backend.open(plans)
    yield store
    await store.close()

"""History-store fixtures: the same contract runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from tests.postgres_server import PostgresServer

from tickcast.history.base import HistoryStore
from tickcast.history.postgres import PostgresHistory
from tickcast.history.sqlite import SqliteHistory

Opener = Callable[[], HistoryStore]


@pytest.fixture(params=("sqlite", "postgresql"))
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Makes a new store on the same database (to reopen it, or as a second node)."""
    if request.param == "sqlite":
        path = tmp_path / "history.sqlite3"
        return lambda: SqliteHistory(path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"history_{uuid.uuid4().hex[:12]}"
    server.psql(f"CREATE DATABASE {name}")
    url = server.url(name)
    return lambda: PostgresHistory(url)


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[HistoryStore]:
    store = opener()
    await store.open()
    yield store
    await store.close()

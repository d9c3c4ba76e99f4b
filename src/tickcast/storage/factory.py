"""Open the store a ``store`` setting names: SQLite (the default) or PostgreSQL.

Both are the one SQL store (:mod:`tickcast.storage.sql`); the backend modules are imported only
when chosen, so a SQLite deployment never loads asyncpg.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from tickcast.auth.plans import Plan
from tickcast.clock import Clock
from tickcast.errors import StorageError
from tickcast.features import require
from tickcast.storage.base import Store
from tickcast.storage.urls import sqlite_path, store_kind


def open_store(
    url: str | None, *, data_dir: str | Path, plans: Mapping[str, Plan], clock: Clock
) -> Store:
    """The store of ``url`` (ConfigError if unsupported).

    SQLite opens (and migrates) at once, creating the data directory if needed; PostgreSQL
    connects and migrates on its first call (or ``await store.open()``).
    """
    # alembic logs one INFO line per built-in plugin when it is imported
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if store_kind(url) == "postgresql":
        require("postgres", "the PostgreSQL store (--store postgresql://...)")
        from tickcast.storage.postgres import PostgresStore

        assert url is not None
        return PostgresStore(url=url, plans=plans, clock=clock)

    require("server", "the SQLite store")
    from tickcast.storage.sqlite import SqliteStore, default_db_path

    path = sqlite_path(url, Path(data_dir))
    if path is None:
        try:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create data directory {str(data_dir)!r}: {exc}") from None
        path = default_db_path(Path(data_dir))
    return SqliteStore(path=path, plans=plans, clock=clock)


async def open_and_migrate(store: Store) -> str:
    """Make sure ``store`` is connected and its schema is current; returns ``revision NNNN``."""
    opener = getattr(store, "open", None)
    if opener is not None:
        await opener()
    return f"revision {getattr(store, 'revision', None)}"

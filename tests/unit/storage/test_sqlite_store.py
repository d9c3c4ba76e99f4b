"""SqliteStore only: the file's schema version, WAL journal and sqlite errors.

The behaviour every store shares is in test_store_contract.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tickcast.auth.plans import Plan
from tickcast.clock import ManualClock
from tickcast.errors import StorageError
from tickcast.storage.sqlite import SCHEMA_VERSION, SqliteStore, default_db_path


async def test_store_schema_version_and_wal(db_path: Path, plans: dict[str, Plan]) -> None:
    """The schema version is recorded and the journal is WAL."""
    await SqliteStore(path=db_path, plans=plans, clock=ManualClock()).close()
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_store_refuses_newer_schema(db_path: Path, plans: dict[str, Plan]) -> None:
    """A database from a newer tickcast is a StorageError, not silently used."""
    db = sqlite3.connect(db_path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StorageError, match="newer"):
        SqliteStore(path=db_path, plans=plans, clock=ManualClock())


def test_store_wraps_sqlite_errors(tmp_path: Path, plans: dict[str, Plan]) -> None:
    """An unopenable database file raises StorageError with the sqlite error chained."""
    path = default_db_path(tmp_path / "missing-dir")
    with pytest.raises(StorageError) as info:
        SqliteStore(path=path, plans=plans, clock=ManualClock())
    assert isinstance(info.value.__cause__, sqlite3.Error)

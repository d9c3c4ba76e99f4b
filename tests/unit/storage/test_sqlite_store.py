"""SqliteStore only: the file's revision, WAL journal, sqlite errors, and files of older releases.

The behaviour every store shares is in test_store_contract.py.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tickcast.auth.keys import key_id
from tickcast.auth.metering import Usage
from tickcast.auth.plans import Plan
from tickcast.clock import ManualClock
from tickcast.errors import StorageError
from tickcast.storage.factory import open_store
from tickcast.storage.migrate import HEAD, SQLITE_FENCE, head_revision
from tickcast.storage.sqlite import SqliteStore, default_db_path

RELEASE_DIR = Path(__file__).parents[2] / "fixtures" / "storage" / "release-0d13d72"
"""A data directory written by the SQLite store of release 0d13d72, the last one before alembic
(tests/fixtures/storage/make_release_sqlite.py)."""


def pragma(path: Path, name: str) -> object:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        db.close()


def test_head_constant_is_alembic_head() -> None:
    """The quick check of an open (no alembic import) compares with the scripts' real head."""
    assert HEAD == head_revision()


async def test_store_revision_and_wal(db_path: Path, plans: dict[str, Plan]) -> None:
    """A new file is at alembic's head, fenced against pre-alembic releases, in WAL mode."""
    store = SqliteStore(path=db_path, plans=plans, clock=ManualClock())
    assert store.revision == head_revision()
    await store.close()
    assert pragma(db_path, "journal_mode") == "wal"
    assert pragma(db_path, "user_version") == SQLITE_FENCE
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]
    finally:
        db.close()


async def test_store_refuses_newer_schema(db_path: Path, plans: dict[str, Plan]) -> None:
    """A database from a newer tickcast is a StorageError, not silently used."""
    await SqliteStore(path=db_path, plans=plans, clock=ManualClock()).close()
    db = sqlite3.connect(db_path)
    db.execute("UPDATE alembic_version SET version_num = 'f00dcafe'")
    db.commit()
    db.close()
    with pytest.raises(StorageError, match="newer"):
        SqliteStore(path=db_path, plans=plans, clock=ManualClock())


def test_store_refuses_unknown_pre_alembic_version(db_path: Path, plans: dict[str, Plan]) -> None:
    """A file with a schema version no release wrote (and no alembic revision) is refused."""
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA user_version = 5")
    db.close()
    with pytest.raises(StorageError, match="newer"):
        SqliteStore(path=db_path, plans=plans, clock=ManualClock())


def test_store_concurrent_opens_migrate_once(db_path: Path, plans: dict[str, Plan]) -> None:
    """Several processes' stores opening a new file at once all succeed (BEGIN IMMEDIATE)."""

    def open_one(_: int) -> str | None:
        store = SqliteStore(path=db_path, plans=plans, clock=ManualClock())
        asyncio.run(store.close())
        return store.revision

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(open_one, range(4))) == {head_revision()}


def test_store_wraps_sqlite_errors(tmp_path: Path, plans: dict[str, Plan]) -> None:
    """An unopenable database file raises StorageError with the sqlite error chained."""
    path = default_db_path(tmp_path / "missing-dir")
    with pytest.raises(StorageError) as info:
        SqliteStore(path=path, plans=plans, clock=ManualClock())
    assert isinstance(info.value.__cause__, sqlite3.Error)


async def test_release_data_directory_upgrades_in_place(
    tmp_path: Path, plans: dict[str, Plan]
) -> None:
    """A data directory of the last pre-alembic release opens with every user, key, plan choice,
    override and usage total, keeps working, and is migrated once."""
    data_dir = tmp_path / "data"
    shutil.copytree(RELEASE_DIR, data_dir)
    keys = json.loads((data_dir / "keys.json").read_text())
    assert pragma(default_db_path(data_dir), "user_version") == 1
    store = open_store(None, data_dir=data_dir, plans=plans, clock=ManualClock())
    try:
        users = {user.name: user for user in await store.list_users()}
        assert [(u.name, u.plan, u.overrides) for u in users.values()] == [
            ("alice", "pro", {"max_connections": 7}),
            ("bob", "free", {}),
        ]
        assert users["bob"].created_ns - users["alice"].created_ns == 1_000_000_000
        records = await store.list_keys()
        assert [record.key_id for record in records] == [
            key_id(keys[name]) for name in ("alice_live", "alice_test", "bob_pro", "bob_revoked")
        ]
        assert [(r.user, r.plan, r.scopes, r.test, r.revoked) for r in records] == [
            ("alice", None, frozenset({"publish"}), False, False),
            ("alice", None, frozenset(), True, False),
            ("bob", "pro", frozenset(), False, False),
            ("bob", None, frozenset(), False, True),
        ]
        alice = await store.authenticate(keys["alice_live"])
        assert alice is not None and alice.user == "alice" and alice.can_publish
        assert alice.plan.name == "pro" and alice.plan.max_connections == 7
        test_key = await store.authenticate(keys["alice_test"])
        assert test_key is not None and test_key.test
        bob = await store.authenticate(keys["bob_pro"])
        assert bob is not None and bob.plan.name == "pro"
        assert await store.authenticate(keys["bob_revoked"]) is None
        assert await store.usage() == {
            key_id(keys["alice_live"]): Usage(connections=2, connection_seconds=1.5, messages=15),
            key_id(keys["bob_pro"]): Usage(bytes=1234, predictions=3),
        }
        await store.add_usage({key_id(keys["bob_pro"]): Usage(messages=1)})
        assert (await store.usage(key_id(keys["bob_pro"])))[key_id(keys["bob_pro"])].messages == 1
        new_key, _ = await store.create_key(user="bob")
        assert (await store.authenticate(new_key)) is not None
    finally:
        await store.close()
    assert pragma(default_db_path(data_dir), "user_version") == SQLITE_FENCE
    again = SqliteStore(path=default_db_path(data_dir), plans=plans, clock=ManualClock())
    assert again.revision == head_revision() and len(await again.list_keys()) == 5
    await again.close()
